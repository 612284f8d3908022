"""What the attack tests share."""

from __future__ import annotations

from typing import Any

from afterword.engine import Engine
from afterword.errors import AfterwordError
from tests.engine.federation import Federation, answers
from tests.owner_request import owner_request


def everywhere(fed: Federation, doc: dict, to: list[int] | None = None) -> list[Any]:
    """The CLI's check-in: to every server, each answer on its own (a refusal is kept)."""
    said: list[Any] = []
    for i in range(len(fed.world.nodes)) if to is None else to:
        try:
            said += list(answers(fed, doc, [i]))
        except AfterwordError as exc:
            said.append(exc)
    return said


def signed(
    key: Any, engine: Engine, switch: str, action: str, counter: int | None = None, **extra: Any
) -> dict:
    """A signed owner request (``key``: the owner's signing key, or the duress key),
    numbered next, or ``counter``."""
    nonce = engine.challenge(switch)["nonce"]
    request = owner_request(key, switch, action, nonce, counter=counter, **extra)
    return engine.owner_request(switch, request, client="10.1.2.3 cli")


def press_mail(fed: Federation) -> list[Any]:
    """What the recipients of the test switches' release (``press@example.org``) got."""
    return [m for m in fed.world.mail if m.to == "mailto:press@example.org"]


def release_asked_everywhere(fed: Federation, owner: Any, start: int) -> None:
    """At ``start`` + 600 s the owner asks every server for the release, with its waiting
    period; 300 s later every server is triggered."""
    fed.world.run(start + 600)
    for node in fed.world.nodes:
        signed(owner.signing, node.engine, fed.switch, "release")
    fed.world.run(start + 900)
    assert fed.states() == ["triggered"] * len(fed.world.nodes)


def add_mother(fed: Federation, owner: Any, interval: int, grace: int) -> dict[str, str]:
    """A protected person, "mother", added at every server of the switch with the same
    two links (the owner's CLI does this), whose silence triggers; her tokens."""
    import hashlib
    import secrets

    tokens = {"token": secrets.token_hex(16), "duress_token": secrets.token_hex(16)}
    links = {k: hashlib.sha256(t.encode()).hexdigest() for k, t in tokens.items()}
    for node in fed.world.nodes:
        signed(
            owner.signing, node.engine, fed.switch, "canary-add", name="mother",
            interval=interval, grace=grace, on_miss="trigger", links=links,
        )  # fmt: skip
    return tokens
