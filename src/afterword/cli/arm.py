"""``arm``: a sealed bundle becomes a switch on its server(s).

What is checked before any server is reached: that the policy is the one the bundle's
notice promises the adversary (or that a different one is meant), that the owner's
reminders and the release go somewhere (or that nowhere is meant), and that the bundle
is the owner's. Separate from the owner's other commands (``cli/owner.py``), which act
on a switch once it is armed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from afterword.cli.common import (
    DURESS_PASSWORD_ENV,
    JsonOpt,
    OwnerKeyOpt,
    ServersOpt,
    passphrase,
    print_status,
    run_action,
    unlock,
)
from afterword.cli.owner import checkin_password_value, print_per_server
from afterword.crypto.bundle import load_json
from afterword.crypto.keys import OwnerKey
from afterword.crypto.notice import POLICY_FIELDS, describe_duration, load_notice
from afterword.crypto.servers import SEVERAL_SERVERS_NO_PASSWORD
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration, parse_reminders

IntervalOpt = Annotated[
    str | None,
    typer.Option(help="Check-in interval, e.g. 7d (default: the notice's)."),
]
GraceOpt = Annotated[
    str | None,
    typer.Option(help="Grace after a missed check-in, e.g. 2d (default: the notice's, or 0s)."),
]
WaitingOpt = Annotated[
    str | None,
    typer.Option(help="Waiting period before release (default: the notice's, or 0s)."),
]
DiffersOpt = Annotated[
    bool,
    typer.Option(
        "--differs-from-notice",
        help="Arm with a policy other than the one the notice promises, on purpose.",
    ),
]
NoContactOpt = Annotated[
    bool,
    typer.Option("--no-contact", help="Arm with no --contact, on purpose: no reminders."),
]
NoRecipientsOpt = Annotated[
    bool,
    typer.Option(
        "--no-recipients",
        help="Arm with no --recipient, on purpose: a release is only published on the server.",
    ),
]
UrisOpt = Annotated[
    list[str] | None, typer.Option(help="Who receives the release: mailto:... or https://...")
]
ContactOpt = Annotated[
    list[str] | None, typer.Option(help="Where your reminders go: mailto:... or https://...")
]
CustodianContactOpt = Annotated[
    list[str] | None, typer.Option(help="LABEL=mailto:... to tell a custodian what to do.")
]
ServerCustodianOpt = Annotated[
    list[str] | None,
    typer.Option(help="Custodian LABEL sealed for this server's key; its envelope is uploaded."),
]
PasswordOpt = Annotated[
    bool,
    typer.Option(
        "--password",
        help="Also allow check-ins by password (AFTERWORD_CHECKIN_PASSWORD, or asked).",
    ),
]
DuressPasswordOpt = Annotated[
    bool,
    typer.Option(
        "--duress-password",
        help="Also set a duress password (AFTERWORD_DURESS_PASSWORD, or asked): it acts "
        "like the password but silently triggers the release.",
    ),
]


def arm(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder made by seal.")],
    server: ServersOpt,
    owner_key: OwnerKeyOpt,
    interval: IntervalOpt = None,
    grace: GraceOpt = None,
    waiting: WaitingOpt = None,
    differs_from_notice: DiffersOpt = False,
    reminders: Annotated[str, typer.Option(help="Reminder offsets, e.g. 3d,1d,2h.")] = "",
    recipient: UrisOpt = None,
    no_recipients: NoRecipientsOpt = False,
    contact: ContactOpt = None,
    no_contact: NoContactOpt = False,
    custodian_contact: CustodianContactOpt = None,
    server_custodian: ServerCustodianOpt = None,
    password: PasswordOpt = False,
    totp: Annotated[bool, typer.Option(help="Require a TOTP code with the password.")] = False,
    duress_password: DuressPasswordOpt = False,
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

    The check-in policy is the one the bundle's notice promises, unless you give another
    (and --differs-from-notice). With several --server, each is given the shares sealed
    for its recipient and the list of all of them, signed by you: any of them hears your
    check-ins for all."""

    def action() -> None:
        if len(server) > 1 and server_custodian:
            raise AfterwordError(
                "--server-custodian is for a switch on one server",
                "with several --server, each server holds the custodians sealed for its key",
            )
        if len(server) > 1 and (password or totp or duress_password):
            raise AfterwordError(*SEVERAL_SERVERS_NO_PASSWORD)
        given = {"interval": interval, "grace": grace, "waiting": waiting}
        durations = policy_of_notice(bundle, given, differs_from_notice)
        _check_told(contact, no_contact, recipient, no_recipients)
        policy = {
            **durations,
            "reminders": list(parse_reminders(reminders)),
            "cooling_off": parse_duration(cooling_off),
            "duress_delay": _duration_or_zero(duress_delay),
        }
        contacts = _arm_contacts(contact, custodian_contact, recipient, alert_custodians)
        owner = unlock(owner_key)
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


def _duration_or_zero(text: str) -> int:
    """A duration option where "0"/"0s" means none."""
    return 0 if text.strip() in ("0", "0s") else parse_duration(text)


_SAID = {
    "interval": "check-ins every {}",
    "grace": "{} of grace",
    "waiting": "a waiting period of {}",
}


def policy_of_notice(bundle: Path, given: dict[str, str | None], differs: bool) -> dict[str, int]:
    """The interval, grace and waiting period to arm with: each as given, else as the
    bundle's notice promises (the adversary was shown it). One given that differs from
    the notice's is refused unless ``differs`` says it is meant."""
    notice = load_notice(load_json(bundle / "notice.json", "notice"))
    promised: dict[str, int] | None = notice.get("policy") or None
    chosen = {
        k: parse_duration(v) if k == "interval" else _duration_or_zero(v)
        for k, v in given.items()
        if v is not None
    }
    if promised is None:
        if "interval" not in chosen:
            raise AfterwordError(
                "the bundle's notice promises no check-in policy, and no --interval was given",
                "pass --interval (e.g. 7d), and --grace and --waiting if you want them",
            )
        return {"grace": 0, "waiting": 0, **chosen}
    policy = {k: int(promised.get(k, 0)) for k in POLICY_FIELDS} | chosen
    differing = [k for k in POLICY_FIELDS if k in chosen and chosen[k] != promised.get(k, 0)]
    if differing and not differs:
        said = ", ".join(
            _SAID[k].format(describe_duration(int(promised.get(k, 0)))) for k in differing
        )
        options = ", ".join(f"--{k} {given[k]}" for k in differing)
        verb = "differs" if len(differing) == 1 else "differ"
        raise AfterwordError(
            f"the notice promises {said}; {options} {verb}",
            "leave the option out to arm as the notice says, or pass --differs-from-notice "
            "if the switch is meant to run otherwise than the adversary was told",
        )
    return policy


def _check_told(
    contact: list[str] | None,
    no_contact: bool,
    recipient: list[str] | None,
    no_recipients: bool,
) -> None:
    """A switch with nowhere to send reminders, or no one to release to, only on purpose."""
    if contact and no_contact:
        raise AfterwordError("--contact and --no-contact contradict each other", "pass one")
    if recipient and no_recipients:
        raise AfterwordError("--recipient and --no-recipients contradict each other", "pass one")
    if not contact and not no_contact:
        raise AfterwordError(
            "no --contact: your reminders would go nowhere, and a missed check-in would "
            "trigger without a warning to you",
            "add --contact mailto:you@example.org (or https://...), or pass --no-contact "
            "if no reminders are meant",
        )
    if not recipient and not no_recipients:
        raise AfterwordError(
            "no --recipient: a release would be sent to no one, only published on the "
            "server's /r/SWITCH-ID page",
            "add --recipient mailto:desk@example.org (or https://...), or pass "
            "--no-recipients if the release page alone is meant",
        )


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
    print_per_server("Armed", arm_everywhere(bundle, owner, servers, arm_one), as_json)


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
