"""The owner's commands on an armed switch: ``checkin``, ``status``, ``pause``, ``abort``,
``release-now``, ``disarm``, ``revoke``, ``duress``, ``drill`` and ``audit`` (``arm``, which
makes the switch, is ``cli/arm.py``).

Each signs a request with the owner key (or sends the check-in password) to the server;
separate from the offline bundle commands and from the custodians' and operator's.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from afterword.crypto.switch_id import normalize_switch_id
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration

if TYPE_CHECKING:
    from afterword.cli.servers import Signer

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


def print_per_server(
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
        from afterword.cli.servers import Signer
        from afterword.client import Client

        signer = Signer(unlock(owner_key), owner_key, switch)
        answers: dict[str, Any] = {}
        for url in servers:
            try:
                with Client(url) as client:
                    answers[url] = signer.request(client, action, **extra)
            except AfterwordError as exc:
                if len(servers) == 1:
                    raise
                answers[url] = {"error": str(exc)}
        if len(servers) > 1:
            if action not in ("status", "audit"):
                _taken_from_peers(answers, signer)
            result = {"switch": switch, "servers": answers}
            print_per_server(_DONE.get(action, action), result, as_json, every=True)
        elif action == "audit":
            print_json(answers[servers[0]])
        else:
            print_status(answers[servers[0]], as_json)

    run_action(run)


def _taken_from_peers(answers: dict[str, Any], signer: Signer) -> None:
    """The servers that refused the action but are now where the others took it: each
    server relays the owner's request to its peers, so a peer may have acted on the copy
    before the CLI's own request reached it (and then refuses that one, "already"). Their
    answer becomes their status; a server elsewhere stays a failure. A release that one
    server finished (``released``, with the shares its peers handed over) is where the
    others, still ``releasing``, took it."""
    from afterword.client import Client

    def where(state: object) -> object:
        return "releasing" if state == "released" else state

    reached = {where(a["state"]) for a in answers.values() if "state" in a}
    for url, answer in answers.items():
        if len(reached) != 1 or "error" not in answer:
            continue
        try:
            with Client(url) as client:
                status = signer.request(client, "status")
        except AfterwordError:
            continue
        if where(status.get("state")) in reached:
            answers[url] = status


_DONE = {
    "status": "Status of",
    "pause": "Paused",
    "abort": "Aborted",
    "release": "Releasing",
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
            print_per_server("Checked in", {"switch": switch, "servers": answers}, as_json)

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
    server: ServersOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask to type the switch id (for scripts).")
    ] = False,
    skip_waiting: Annotated[
        bool,
        typer.Option(
            "--skip-waiting",
            help="Release at once: no waiting period, no abort. Without it, the waiting "
            "period runs (custodians are told) and `afterword abort` still stops it.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Release the dossier on purpose: after the waiting period (abortable), or at once
    with --skip-waiting. Asks you to type the switch id first, unless --yes."""
    if not yes:
        _confirm_release(switch, skip_waiting)
    extra = {"skip_waiting": True} if skip_waiting else {}
    _owner_command(server, owner_key, switch, "release", as_json, **extra)


def _confirm_release(switch: str, skip_waiting: bool) -> None:
    """The owner types the switch id, having been told what follows; else nothing is sent."""
    if not sys.stdin.isatty():
        raise fail(
            "release-now asks you to type the switch id, and there is no terminal to ask on; "
            "pass --yes to release without asking"
        )
    if skip_waiting:
        typer.echo(
            f"This publishes switch {switch} NOW to its recipients and the release page, "
            "with no waiting period: nothing can stop it afterwards."
        )
    else:
        typer.echo(
            f"This starts the release of switch {switch}: your custodians are told, and once "
            "the waiting period is over it is published. Until then `afterword abort` stops it."
        )
    typed = str(typer.prompt("Type the switch id to confirm", default="", show_default=False))
    if normalize_switch_id(typed.strip()) != normalize_switch_id(switch):
        raise fail("that is not this switch's id; nothing was released (run it again to retry)")


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
        from afterword.cli.servers import Signer
        from afterword.client import Client

        signer = Signer(unlock(owner_key), owner_key, switch)
        extra: dict[str, Any] = {"duress_key": signer.owner.duress_public_key}
        if password:
            extra["duress_password"] = passphrase(
                "Duress password", confirm=True, env=DURESS_PASSWORD_ENV
            )
        with Client(server) as client:
            status = signer.request(client, "set-duress", **extra)
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
        from afterword.cli.servers import Signer
        from afterword.client import Client

        signer = Signer(unlock(owner_key), owner_key, switch)
        with Client(server) as client:
            result = signer.request(client, "drill")
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
