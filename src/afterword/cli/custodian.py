"""``afterword custodian ...``: what a custodian does with their share over HTTP.

A custodian holds no owner key: every command here proves itself with the share (or the
code derived from it on this machine), never with the owner's credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from afterword.cli.common import JsonOpt, ServerOpt, print_json, run_action
from afterword.errors import AfterwordError

custodian_app = typer.Typer(help="Commands for custodians.", no_args_is_help=True)


@custodian_app.command("submit")
def custodian_submit(
    share: Annotated[Path, typer.Argument(help="Your envelope (.age), card (.txt) or words file.")],
    server: ServerOpt,
    identity: Annotated[
        list[Path] | None, typer.Option("--identity", "-i", help="Your age key (for envelopes).")
    ] = None,
    switch: Annotated[
        str | None, typer.Option(help="The switch id (read from the envelope or card if absent).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit your share when a release is due; it is checked on arrival."""

    def action() -> None:
        from afterword.client import Client
        from afterword.crypto.bundle import read_identities, read_shares

        (parsed,) = read_shares([share], read_identities(identity or []))
        target = switch or parsed.switch
        if target is None:
            raise AfterwordError("the share does not say which switch it is for", "pass --switch")
        if switch and parsed.switch and switch != parsed.switch:
            raise AfterwordError(f"this share belongs to switch {parsed.switch}, not {switch}")
        with Client(server) as client:
            result = client.submit_share(target, parsed.mnemonic)
        if as_json:
            print_json(result)
        else:
            typer.echo(
                f"Share accepted for switch {result['switch']}: now {result['shares']} of "
                f"{result['threshold']}; state {result['state']}."
            )

    run_action(action)


def _custodian_code(share: Path, identity: list[Path] | None) -> tuple[str, str]:
    """(switch, code) from a custodian's envelope or card: derived on this machine."""
    from afterword.crypto.bundle import read_identities, read_shares

    (parsed,) = read_shares([share], read_identities(identity or []))
    code = parsed.credential()
    assert parsed.switch is not None
    return parsed.switch, code


CustodianShareArg = Annotated[
    Path, typer.Argument(help="Your envelope (.age) or card (.txt): the code comes from it.")
]
IdentityOpt = Annotated[
    list[Path] | None, typer.Option("--identity", "-i", help="Your age key (for envelopes).")
]


@custodian_app.command("status")
def custodian_status(
    share: CustodianShareArg,
    server: ServerOpt,
    identity: IdentityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """See the switch's true state (what the owner's screens show may be a decoy)."""
    _custodian_command(share, server, identity, "status", as_json)


@custodian_app.command("vote")
def custodian_vote(
    share: CustodianShareArg,
    server: ServerOpt,
    identity: IdentityOpt = None,
    withdraw: Annotated[bool, typer.Option(help="Withdraw your vote instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Vote that the owner is missing or coerced: K votes trigger the release."""
    _custodian_command(share, server, identity, "withdraw" if withdraw else "vote", as_json)


def _custodian_command(
    share: Path, server: str, identity: list[Path] | None, action: str, as_json: bool
) -> None:
    def run() -> None:
        from afterword.client import Client

        switch, code = _custodian_code(share, identity)
        with Client(server) as client:
            result = client.custodian(switch, code, action)
        if as_json:
            print_json(result)
            return
        done = {"vote": "Your vote is counted. ", "withdraw": "Your vote is withdrawn. "}
        typer.echo(
            f"{done.get(action, '')}Switch {result['switch']} is {result['state']}"
            f"{' (cause: ' + result['cause'] + ')' if result['cause'] else ''}; "
            f"votes {result['votes']} of {result['threshold']}; "
            f"shares {result['shares']} of {result['threshold']}."
        )

    run_action(run)
