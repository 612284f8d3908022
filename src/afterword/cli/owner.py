"""The owner's commands on an armed switch: ``arm``, ``checkin``, ``status``, ``pause``,
``abort``, ``release-now``, ``disarm``, ``revoke``, ``duress``, ``drill`` and ``audit``.

Each signs a request with the owner key (or sends the check-in password) to the server;
separate from the offline bundle commands and from the custodians' and operator's.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from afterword.cli.common import (
    DURESS_PASSWORD_ENV,
    JsonOpt,
    OwnerKeyOpt,
    ServerOpt,
    ServersOpt,
    SwitchOpt,
    fail,
    format_time,
    passphrase,
    print_json,
    print_status,
    run_action,
    unlock,
)
from afterword.crypto.bundle import load_json
from afterword.crypto.keys import OwnerKey
from afterword.crypto.servers import SEVERAL_SERVERS_NO_PASSWORD
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration

CHECKIN_PASSWORD_ENV = "AFTERWORD_CHECKIN_PASSWORD"


def checkin_password_value(*, confirm: bool = False) -> str:
    if (value := os.environ.get(CHECKIN_PASSWORD_ENV)) is not None:
        return value
    if not sys.stdin.isatty():
        raise AfterwordError(
            "a check-in password is needed and there is no terminal to ask on",
            f"set {CHECKIN_PASSWORD_ENV} for scripts",
        )
    return str(typer.prompt("Check-in password", hide_input=True, confirmation_prompt=confirm))


def arm(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder made by seal.")],
    server: ServersOpt,
    owner_key: OwnerKeyOpt,
    interval: Annotated[str, typer.Option(help="Check-in interval, e.g. 7d.")],
    grace: Annotated[str, typer.Option(help="Grace after a missed check-in, e.g. 2d.")] = "0s",
    waiting: Annotated[str, typer.Option(help="Waiting period before release.")] = "0s",
    reminders: Annotated[str, typer.Option(help="Reminder offsets, e.g. 3d,1d,2h.")] = "",
    recipient: Annotated[
        list[str] | None, typer.Option(help="Who receives the release: mailto:... or https://...")
    ] = None,
    contact: Annotated[
        list[str] | None, typer.Option(help="Where your reminders go: mailto:... or https://...")
    ] = None,
    custodian_contact: Annotated[
        list[str] | None, typer.Option(help="LABEL=mailto:... to tell a custodian what to do.")
    ] = None,
    server_custodian: Annotated[
        list[str] | None,
        typer.Option(
            help="Custodian LABEL sealed for this server's key; its envelope is uploaded."
        ),
    ] = None,
    password: Annotated[
        bool,
        typer.Option(
            "--password",
            help="Also allow check-ins by password (AFTERWORD_CHECKIN_PASSWORD, or asked).",
        ),
    ] = False,
    totp: Annotated[bool, typer.Option(help="Require a TOTP code with the password.")] = False,
    duress_password: Annotated[
        bool,
        typer.Option(
            "--duress-password",
            help="Also set a duress password (AFTERWORD_DURESS_PASSWORD, or asked): it acts "
            "like the password but silently triggers the release.",
        ),
    ] = False,
    duress_delay: Annotated[
        str, typer.Option(help="How long after a duress action the release triggers.")
    ] = "0s",
    cooling_off: Annotated[
        str, typer.Option(help="How long disarming takes (custodians are told; they can vote).")
    ] = "7d",
    alert_custodians: Annotated[
        bool,
        typer.Option(help="Tell custodians too when a never-seen client checks in."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a sealed bundle with its server(s): the switch starts counting.

    With several --server, each is given the shares sealed for its recipient and the list
    of all of them, signed by you: any of them hears your check-ins for all."""

    def action() -> None:
        if len(server) > 1 and server_custodian:
            raise AfterwordError(
                "--server-custodian is for a switch on one server",
                "with several --server, each server holds the custodians sealed for its key",
            )
        if len(server) > 1 and (password or totp or duress_password):
            raise AfterwordError(*SEVERAL_SERVERS_NO_PASSWORD)
        owner = unlock(owner_key)
        policy = _arm_policy(interval, grace, waiting, reminders, cooling_off, duress_delay)
        contacts = _arm_contacts(contact, custodian_contact, recipient, alert_custodians)
        _check_sealed_by(bundle, owner)
        secret, forced = _arm_passwords(password or totp or duress_password, duress_password)
        fields = {
            "policy": policy,
            "contacts": contacts,
            "password": secret,
            "totp": totp,
            "duress_key": owner.duress_public_key,
            "duress_password": forced,
        }
        _arm_on(bundle, server, server_custodian or [], owner, fields, as_json)

    run_action(action)


def _arm_on(
    bundle: Path,
    servers: list[str],
    server_custodians: list[str],
    owner: OwnerKey,
    fields: dict[str, Any],
    as_json: bool,
) -> None:
    """Arm ``bundle`` on its one server (``server_custodians`` its shares), or on each of
    several with the roster of all (each server's shares: those sealed for it)."""
    from afterword.cli.servers import arm_everywhere
    from afterword.client import Client

    def arm_one(client: Client, labels: list[str], roster: Any) -> dict[str, Any]:
        status: dict[str, Any] = client.arm(
            bundle, server_custodians=labels, servers=roster, **fields
        )
        return status

    if len(servers) == 1:
        with Client(servers[0]) as client:
            status = arm_one(client, server_custodians, None)
        _print_armed(status, servers[0], as_json)
        return
    _print_per_server("Armed", arm_everywhere(bundle, owner, servers, arm_one), as_json)


def _print_per_server(
    done: str, result: dict[str, Any], as_json: bool, *, every: bool = False
) -> None:
    """What an action on every server of a switch did on each, the servers it failed on
    named; a failure if it failed on every one (``every``: on any one)."""
    states = result["servers"]
    failed = [url for url, state in states.items() if _failed(state)]
    if as_json:
        print_json(result)
    else:
        for url, state in states.items():
            if not _failed(state):
                shown = state if isinstance(state, str) else state.get("state")
                typer.echo(f"{done} switch {result['switch']} on {url}: {shown}")
    for url in failed:
        state = states[url]
        typer.echo(f"afterword: {url}: {_error_of(state)}", err=True)
    if failed and (every or len(failed) == len(states)):
        raise typer.Exit(1)


def _failed(state: object) -> bool:
    return (isinstance(state, str) and state.startswith("error: ")) or (
        isinstance(state, dict) and "error" in state
    )


def _error_of(state: object) -> str:
    if isinstance(state, dict):
        return str(state["error"])
    return str(state).removeprefix("error: ")


def _arm_policy(
    interval: str, grace: str, waiting: str, reminders: str, cooling_off: str, duress_delay: str
) -> dict[str, Any]:
    """The policy ``arm`` sends, from its duration options ("0"/"0s" for none)."""
    from afterword.switch.policy import parse_reminders

    return {
        "interval": parse_duration(interval),
        "grace": parse_duration(grace) if grace not in ("0", "0s") else 0,
        "waiting": parse_duration(waiting) if waiting not in ("0", "0s") else 0,
        "reminders": list(parse_reminders(reminders)),
        "cooling_off": parse_duration(cooling_off),
        "duress_delay": parse_duration(duress_delay) if duress_delay not in ("0", "0s") else 0,
    }


def _arm_contacts(
    contact: list[str] | None,
    custodian_contact: list[str] | None,
    recipient: list[str] | None,
    alert_custodians: bool,
) -> dict[str, Any]:
    """The contacts ``arm`` sends; ``--custodian-contact`` is LABEL=URI."""
    custodians: dict[str, str] = {}
    for item in custodian_contact or []:
        label, sep, uri = item.partition("=")
        if not sep:
            raise AfterwordError(f"{item!r} is not LABEL=URI", "e.g. lawyer=mailto:l@example.org")
        custodians[label.strip()] = uri.strip()
    return {
        "owner": contact or [],
        "custodians": custodians,
        "recipients": recipient or [],
        "alert_custodians": alert_custodians,
    }


def _check_sealed_by(bundle: Path, owner: OwnerKey) -> None:
    manifest = load_json(bundle / "manifest.json", "manifest")
    if manifest.get("owner_key") != owner.public_key:
        raise AfterwordError("this bundle was sealed with another owner key")


def _arm_passwords(want_password: bool, duress_password: bool) -> tuple[str | None, str | None]:
    """The check-in password (asked twice) and the duress password, where asked for."""
    secret = checkin_password_value(confirm=True) if want_password else None
    forced = (
        passphrase("Duress password", confirm=True, env=DURESS_PASSWORD_ENV)
        if duress_password
        else None
    )
    return secret, forced


def _print_armed(status: dict[str, Any], server: str, as_json: bool) -> None:
    if not as_json:
        typer.echo(f"Armed switch {status['switch']} on {server}.")
        if status.get("totp_uri"):
            typer.echo(f"Add this to your authenticator app now (shown once): {status['totp_uri']}")
    print_status(status, as_json)


def _owner_command(
    server: str | list[str],
    owner_key: Path,
    switch: str,
    action: str,
    as_json: bool,
    **extra: Any,
) -> None:
    """One signed owner action, on the switch's server, or on each of its servers: a
    pause, an abort or a disarm that reached only some of them leaves the others counting,
    so every server that did not take it is named, and the command fails."""
    servers = [server] if isinstance(server, str) else server

    def run() -> None:
        from afterword.client import Client

        owner = unlock(owner_key)
        answers: dict[str, Any] = {}
        for url in servers:
            try:
                with Client(url) as client:
                    answers[url] = client.owner(switch, owner, action, **extra)
            except AfterwordError as exc:
                if len(servers) == 1:
                    raise
                answers[url] = {"error": str(exc)}
        if len(servers) > 1:
            result = {"switch": switch, "servers": answers}
            _print_per_server(_DONE.get(action, action), result, as_json, every=True)
        elif action == "audit":
            print_json(answers[servers[0]])
        else:
            print_status(answers[servers[0]], as_json)

    run_action(run)


_DONE = {
    "status": "Status of",
    "pause": "Paused",
    "abort": "Aborted",
    "release": "Released",
    "disarm": "Disarming",
    "revoke": "Revoked on",
}


def checkin(
    server: ServersOpt,
    switch: SwitchOpt,
    owner_key: Annotated[
        Path | None, typer.Option("--owner-key", help="Owner keyfile (signed check-in).")
    ] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Check in with the password instead of the key.")
    ] = False,
    code: Annotated[str | None, typer.Option(help="TOTP code, with --password.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check in: you are well; the deadline moves one interval ahead.

    Signed with the key file, the check-in is one request to each --server: it counts if
    one of them took it (they tell each other)."""
    if not password:
        if owner_key is None:
            raise fail("pass --owner-key KEYFILE (or --password)")
        key = owner_key

        def signed() -> None:
            from afterword.cli.servers import checkin_everywhere

            answers = checkin_everywhere(server, unlock(key), key, switch)
            if len(server) == 1:
                answer = answers[server[0]]
                if "error" in answer:
                    raise AfterwordError(str(answer["error"]))
                print_status(answer, as_json)
                return
            _print_per_server("Checked in", {"switch": switch, "servers": answers}, as_json)

        run_action(signed)
        return
    if len(server) > 1:
        raise fail("a password check-in goes to one --server")

    def action() -> None:
        from afterword.client import Client

        with Client(server[0]) as client:
            result = client.checkin_password(switch, checkin_password_value(), code)
        if as_json:
            print_json(result)
        else:
            typer.echo(
                f"Checked in: switch {result['switch']} {result['state']}, "
                f"next check-in due {format_time(result['deadline'])}."
            )

    run_action(action)


def status(
    server: ServersOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Show the switch's state, deadline, last check-ins and audit log."""
    _owner_command(server, owner_key, switch, "status", as_json)


def pause(
    server: ServersOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    length: Annotated[str, typer.Option("--for", help="How long, e.g. 10d (bounded).")],
    as_json: JsonOpt = False,
) -> None:
    """Pause check-ins for a while (at most the server's bound)."""
    until = int(time.time()) + parse_duration(length)
    _owner_command(server, owner_key, switch, "pause", as_json, until=until)


def abort(
    server: ServersOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Stop a pending release during the waiting period."""
    _owner_command(server, owner_key, switch, "abort", as_json)


def release_now(
    server: ServersOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Release the dossier now, on purpose."""
    _owner_command(server, owner_key, switch, "release", as_json)


def disarm(
    server: ServersOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Retire the switch: after a cooling-off period (custodians are told and may vote;
    check-ins are still due) the server deletes its share and the dossier for good."""
    _owner_command(server, owner_key, switch, "disarm", as_json)


def revoke(
    server: ServersOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    custodian: Annotated[str, typer.Option(help="The custodian's label.")],
    as_json: JsonOpt = False,
) -> None:
    """Take a custodian's right to vote and to see the switch (their share still counts)."""
    _owner_command(server, owner_key, switch, "revoke", as_json, custodian=custodian)


def duress(
    server: ServerOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    password: Annotated[
        bool,
        typer.Option(
            "--password", help="Also set a duress password (AFTERWORD_DURESS_PASSWORD, or asked)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Tell the server your keyfile's duress key (after `keygen --duress`), and optionally a
    duress password. Unlock with the real passphrase: with the duress one, this changes
    nothing (and says the same)."""

    def run() -> None:
        from afterword.client import Client

        owner = unlock(owner_key)
        extra: dict[str, Any] = {"duress_key": owner.duress_public_key}
        if password:
            extra["duress_password"] = passphrase(
                "Duress password", confirm=True, env=DURESS_PASSWORD_ENV
            )
        with Client(server) as client:
            status = client.owner(switch, owner, "set-duress", **extra)
        if not as_json:
            typer.echo("Duress credentials updated.")
        print_status(status, as_json)

    run_action(run)


def drill(
    server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt, as_json: JsonOpt = False
) -> None:
    """Rehearse a release: a made-up dossier goes the whole way (trigger, custodian notices,
    shares, release page marked DRILL, recipient mail), every message to your own address.
    Your switch and its recipients are untouched."""

    def run() -> None:
        from afterword.client import Client

        owner = unlock(owner_key)
        with Client(server) as client:
            result = client.owner(switch, owner, "drill")
        if as_json:
            print_json(result)
            return
        done = result["drill"]
        typer.echo(f"Drill {done['switch']}: {done['state']}. Release page: {done['url']}")
        typer.echo(f"Every message went to {done['to']} only, marked [DRILL].")

    run_action(run)


def audit_cmd(server: ServerOpt, owner_key: OwnerKeyOpt, switch: SwitchOpt) -> None:
    """Print the switch's signed audit log (check it with: afterword verify FILE)."""
    _owner_command(server, owner_key, switch, "audit", True)
