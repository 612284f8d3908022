"""``afterword canary ...``: protected people and their check-ins.

The owner adds a protected person; the person checks in with a token, not a key. Separate
from the owner's own switch commands because a canary has its own deadline and links.
"""

from __future__ import annotations

from typing import Annotated

import typer

from afterword.cli.common import (
    JsonOpt,
    OwnerKeyOpt,
    ServerOpt,
    SwitchOpt,
    format_time,
    print_json,
    run_action,
    unlock,
)
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration

canary_app = typer.Typer(help="Protected people and their check-ins.", no_args_is_help=True)


@canary_app.command("add")
def canary_add(
    server: ServerOpt,
    owner_key: OwnerKeyOpt,
    switch: SwitchOpt,
    name: Annotated[str, typer.Option(help="Who (letters, digits, . - _).")],
    interval: Annotated[str, typer.Option(help="How often they check in, e.g. 3d.")],
    grace: Annotated[str, typer.Option(help="Grace after a missed check-in.")] = "0s",
    on_miss: Annotated[
        str, typer.Option(help="trigger (the release) or alert (owner and custodians).")
    ] = "alert",
    as_json: JsonOpt = False,
) -> None:
    """Add a protected person: prints their check-in link and their duress link."""

    def run() -> None:
        from afterword.client import Client

        if on_miss not in ("trigger", "alert"):
            raise AfterwordError("--on-miss must be trigger or alert")
        owner = unlock(owner_key)
        extra = {
            "name": name,
            "interval": parse_duration(interval),
            "grace": parse_duration(grace) if grace not in ("0", "0s") else 0,
            "on_miss": on_miss,
        }
        with Client(server) as client:
            result = client.owner(switch, owner, "canary-add", **extra)
        if as_json:
            print_json(result)
            return
        typer.echo(f"Added {name}. Give them both links, and keep them secret:")
        typer.echo(f"  check-in link: {result['url']}")
        typer.echo(f"  duress link:   {result['duress_url']} (looks the same; raises the alarm)")

    run_action(run)


@canary_app.command("checkin")
def canary_checkin(
    server: ServerOpt,
    token: Annotated[str, typer.Option(help="The token from your check-in link.")],
    as_json: JsonOpt = False,
) -> None:
    """Check in as a protected person."""

    def run() -> None:
        from afterword.client import Client

        with Client(server) as client:
            result = client.canary_checkin(token.rsplit("/", 1)[-1])
        if as_json:
            print_json(result)
        else:
            typer.echo(
                f"Thank you, {result['name']}. Next check-in due {format_time(result['next_due'])}."
            )

    run_action(run)
