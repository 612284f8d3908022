"""``afterword canary ...``: protected people and their check-ins.

The owner adds a protected person; the person checks in with a token, not a key. Separate
from the owner's own switch commands because a canary has its own deadline and links.

On a switch on several servers (``--server`` more than once) this command makes the two
tokens itself and sends each server only their SHA-256 digests: no server knows the
duress link before it is used (docs/federation.md, item 7). It prints one link per server.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Annotated, Any

import typer

from afterword.cli.common import (
    JsonOpt,
    OwnerKeyOpt,
    ServerOpt,
    ServersOpt,
    SwitchOpt,
    format_time,
    print_json,
    run_action,
    unlock,
)
from afterword.errors import AfterwordError
from afterword.switch.policy import parse_duration

if TYPE_CHECKING:
    from afterword.cli.servers import Signer

canary_app = typer.Typer(help="Protected people and their check-ins.", no_args_is_help=True)


@canary_app.command("add")
def canary_add(
    server: ServersOpt,
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
        from afterword.cli.servers import Signer

        signer = Signer(unlock(owner_key), owner_key, switch)
        extra = {
            "name": name,
            "interval": parse_duration(interval),
            "grace": parse_duration(grace) if grace not in ("0", "0s") else 0,
            "on_miss": on_miss,
        }
        if len(server) > 1:
            _add_everywhere(server, signer, extra, as_json)
            return
        with Client(server[0]) as client:
            result = signer.request(client, "canary-add", **extra)
        if as_json:
            print_json(result)
            return
        typer.echo(f"Added {name}. Give them both links, and keep them secret:")
        typer.echo(f"  check-in link: {result['url']}")
        typer.echo(f"  duress link:   {result['duress_url']} (looks the same; raises the alarm)")

    run_action(run)


def _add_everywhere(
    servers: list[str], signer: Signer, extra: dict[str, Any], as_json: bool
) -> None:
    """The protected person on every server, with two tokens made here: each server gets
    the same digests, and the person one link per server (any of them works; each is
    relayed to the others). A server that failed is named; it hears of the person from
    the others' relays. A failure if no server took it."""
    from afterword.client import Client

    tokens = {"token": secrets.token_hex(16), "duress_token": secrets.token_hex(16)}
    links = {key: hashlib.sha256(token.encode()).hexdigest() for key, token in tokens.items()}
    answers: dict[str, dict[str, str]] = {}
    for url in servers:
        base = url.rstrip("/")
        shown = {"url": f"{base}/canary/{tokens['token']}"}
        shown["duress_url"] = f"{base}/canary/{tokens['duress_token']}"
        try:
            with Client(url) as client:
                signer.request(client, "canary-add", **extra, links=links)
        except AfterwordError as exc:
            shown["error"] = str(exc)
        answers[url] = shown
    failed = [url for url, shown in answers.items() if "error" in shown]
    if as_json:
        print_json({"canary": extra["name"], **tokens, "servers": answers})
    else:
        typer.echo(f"Added {extra['name']}. Give them these links, and keep them secret:")
        for url, shown in answers.items():
            typer.echo(f"  {url}")
            typer.echo(f"    check-in link: {shown['url']}")
            typer.echo(f"    duress link:   {shown['duress_url']} (looks the same; alarms)")
    for url in failed:
        typer.echo(f"afterword: {url}: {answers[url]['error']}", err=True)
    if len(failed) == len(answers):
        raise typer.Exit(1)


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
