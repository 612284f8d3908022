"""Protected people on a switch on three servers, in virtual time (docs/federation.md, item
7): the owner makes their links, every server knows them by the same digests, a check-in
at one server is relayed to the others and holds them, the duress link at one triggers
all, a forged or replayed relay moves nothing and is logged, and a server that did not
hear an in-time check-in (a link cut) begins its release alone, publishes nothing and is
stopped once the relay arrives."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from typing import Any

import pytest
from sqlalchemy import select

from afterword.crypto.canary_relay import seal_canary_checkin
from afterword.crypto.encoding import canonical_json
from afterword.crypto.keys import KeyPair, OwnerKey
from afterword.crypto.relay import sign_relay
from afterword.delivery import Message
from afterword.engine import Conflict, Engine, Forbidden
from afterword.errors import AfterwordError
from afterword.store.models import CanaryTokenRow, OutboxRow
from tests.engine.federation import POLICY, T0, Federation, answers
from tests.engine.test_federation import HOUR
from tests.owner_request import owner_request

EVERY = 2 * HOUR  # the protected person checks in every two hours
GRACE = 600


def signed(owner: OwnerKey, engine: Engine, switch: str, action: str, **extra: Any) -> Any:
    """A signed owner request, as the CLI sends it (``client.owner``)."""
    nonce = engine.challenge(switch)["nonce"]
    request = owner_request(owner, switch, action, nonce, **extra)
    return engine.owner_request(switch, request, client="10.1.2.3 cli")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_mother(
    fed: Federation, owner: OwnerKey, at: list[int], on_miss: str = "trigger"
) -> dict[str, str]:
    """``mother`` added with links the owner made, sent to the servers ``at`` (the others
    hear of her from their relays); returns the two tokens."""
    tokens = {"token": secrets.token_hex(16), "duress_token": secrets.token_hex(16)}
    links = {key: digest(token) for key, token in tokens.items()}
    for i in at:
        engine = fed.world.nodes[i].engine
        said = signed(
            owner, engine, fed.switch, "canary-add", name="mother", interval=EVERY,
            grace=GRACE, on_miss=on_miss, links=links,
        )  # fmt: skip
        assert "token" not in said and "url" not in said  # the server never knew them
    return tokens


def digests_on(fed: Federation, i: int) -> set[tuple[str, str, bool]]:
    with fed.world.nodes[i].engine.store.transaction() as s:
        rows = s.execute(select(CanaryTokenRow)).scalars().all()
        return {(r.digest, r.name, r.duress) for r in rows if r.switch_id == fed.switch}


def canary_of(fed: Federation, i: int) -> dict[str, Any]:
    status = fed.world.nodes[i].engine.status(fed.switch)
    (mother,) = [c for c in status["canaries"] if c["name"] == "mother"]
    return dict(mother)


def owner_checks_in(fed: Federation, owner: OwnerKey) -> None:
    """The owner checks in at A (refused once the switch triggered: that is not theirs
    to stop by a check-in)."""
    with contextlib.suppress(Conflict):
        list(answers(fed, fed.checkin(owner, fed.world.now), [0]))


def pending_handoffs(fed: Federation, i: int) -> list[str]:
    """The handoffs server ``i`` still means to deliver (not delivered, not given up)."""
    with fed.world.nodes[i].engine.store.transaction() as s:
        query = select(OutboxRow.id).where(
            OutboxRow.id.like("handoff-%"),
            OutboxRow.delivered_at.is_(None),
            OutboxRow.next_attempt_at.is_not(None),
        )
        return list(s.execute(query).scalars())


def releases(fed: Federation) -> list[Message]:
    return [m for m in fed.world.mail if m.to == "mailto:press@example.org"]


def test_a_protected_person_is_known_on_every_server_with_the_same_digests(
    fed: Federation, owner: OwnerKey
) -> None:
    tokens = add_mother(fed, owner, [0])
    fed.world.run(T0 + 120)  # the relayed canary-add is taken as it came, not as a look
    expected = {(digest(tokens["token"]), "mother", False)}
    expected |= {(digest(tokens["duress_token"]), "mother", True)}
    assert [digests_on(fed, i) for i in range(3)] == [expected] * 3
    assert all(canary_of(fed, i)["next_due"] >= T0 + EVERY for i in range(3))
    # the CLI sends it to each server too: one that took it from a relay answers alike
    add_again = dict(tokens)
    links = {key: digest(token) for key, token in add_again.items()}
    said = signed(
        owner, fed.world.nodes[1].engine, fed.switch, "canary-add", name="mother",
        interval=EVERY, grace=GRACE, on_miss="trigger", links=links,
    )  # fmt: skip
    assert said["state"] == "armed"
    assert digests_on(fed, 1) == expected


def test_links_are_refused_when_malformed_and_the_owner_must_make_them(
    fed: Federation, owner: OwnerKey
) -> None:
    engine = fed.world.nodes[0].engine
    same = digest("a" * 32)
    cases = [
        ({"token": "ab" * 32}, "must be two digests"),
        ({"token": "AB" * 32, "duress_token": same}, "64 lowercase hexadecimal"),
        ({"token": same, "duress_token": same}, "must differ"),
        ("not an object", "must be two digests"),
    ]
    for links, words in cases:
        with pytest.raises(AfterwordError, match=words):
            signed(
                owner, engine, fed.switch, "canary-add", name="mother", interval=EVERY,
                links=links,
            )  # fmt: skip
    with pytest.raises(AfterwordError, match="the owner makes a protected person's links"):
        signed(owner, engine, fed.switch, "canary-add", name="mother", interval=EVERY)
    assert fed.world.nodes[0].engine.status(fed.switch)["canaries"] == []


def test_a_check_in_at_one_server_holds_the_others_through_many_intervals(
    fed: Federation, owner: OwnerKey
) -> None:
    tokens = add_mother(fed, owner, [0, 1, 2])
    for hour in range(1, 9):  # four of her intervals; the owner checks in hourly too
        fed.world.run(T0 + hour * HOUR - 600)
        list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
        if hour % 2:
            fed.world.nodes[0].engine.canary_checkin(tokens["token"], client="10.9.9.9 phone")
    fed.world.run(fed.world.now + 1800)
    assert fed.states() == ["armed", "armed", "armed"]
    for i in (1, 2):
        kinds = fed.kinds(i)
        assert kinds.count("canary-checkin") == 4 and "canary" not in kinds
        assert canary_of(fed, i)["next_due"] > fed.world.now


def test_the_duress_link_at_one_server_triggers_all_and_the_release_completes(
    fed: Federation, owner: OwnerKey
) -> None:
    tokens = add_mother(fed, owner, [0, 1, 2])
    fed.world.now = T0 + 1200
    real = fed.world.nodes[0].engine.canary_checkin(tokens["token"], client="10.9.9.9 phone")
    fed.world.now = T0 + 1300
    forced = fed.world.nodes[0].engine.canary_checkin(tokens["duress_token"], client="10.9.9.9")
    assert set(forced) == set(real) and forced["name"] == "mother"
    fed.world.run(T0 + 1400)
    assert fed.states() == ["triggered"] * 3
    fed.world.run(T0 + 1400 + POLICY.waiting + 300)
    assert fed.states() == ["released"] * 3
    sent = releases(fed)
    assert sent and len({m.id for m in sent}) == 1


def test_the_two_links_relays_look_alike(fed: Federation, owner: OwnerKey) -> None:
    """The relay of a check-in by the normal link and by the duress link: the same
    fields, the same size."""
    tokens = add_mother(fed, owner, [0, 1, 2])
    sizes: dict[str, set[int]] = {}
    shapes: dict[str, set[tuple[str, ...]]] = {}
    fed.world.taken = lambda origin, to, kind, doc, answer: (
        sizes.setdefault(kind, set()).add(len(canonical_json(doc))) if "canary" in doc else None,
        shapes.setdefault(kind, set()).add(tuple(sorted(doc))) if "canary" in doc else None,
    )
    for key in ("token", "duress_token"):
        fed.world.nodes[0].engine.canary_checkin(tokens[key], client="10.9.9.9 phone")
        fed.world.run(fed.world.now + 60)
    assert len(sizes["relays"]) == 1 and len(shapes["relays"]) == 1


def test_forged_and_replayed_canary_relays_move_nothing_and_are_logged(
    fed: Federation, owner: OwnerKey
) -> None:
    tokens = add_mother(fed, owner, [0, 1, 2])
    target = fed.world.nodes[0].engine
    peer = fed.world.nodes[1].engine.keys
    stranger = KeyPair.generate()
    fed.world.now = T0 + 1800
    before = canary_of(fed, 0)["next_due"]

    def relay(keys: KeyPair, token: str, recipient: str = target.keys.age_recipient) -> Any:
        sealed = seal_canary_checkin(recipient, fed.switch, token, fed.world.now, True)
        return sign_relay(keys, fed.switch, 0, None, canary=sealed, to=target.keys.public_key)

    cases = [
        (relay(peer, secrets.token_hex(16)), "none of this switch's links"),
        (relay(stranger, tokens["token"]), "not signed by a server on this switch's roster"),
        (relay(peer, tokens["duress_token"], peer.age_recipient), "does not open"),
    ]
    for doc, words in cases:
        with pytest.raises(Forbidden, match=words):
            target.take_relay(fed.switch, doc, client="10.6.6.6 mallory")
    assert canary_of(fed, 0)["next_due"] == before and fed.states()[0] == "armed"
    genuine = relay(peer, tokens["token"])
    assert target.take_relay(fed.switch, genuine)["switch"] == fed.switch
    moved = canary_of(fed, 0)["next_due"]
    assert moved == T0 + 1800 + EVERY
    fed.world.now += 600
    with pytest.raises(Forbidden, match="relayed here before"):
        target.take_relay(fed.switch, genuine, client="10.6.6.6 mallory")
    assert canary_of(fed, 0)["next_due"] == moved
    assert fed.kinds(0).count("relay-refused") == 4


def test_a_server_cut_off_alarms_alone_publishes_nothing_and_is_stopped_once_healed(
    fed: Federation, owner: OwnerKey
) -> None:
    """A cannot reach B while the protected person checks in at A (in time). B raises
    her alarm alone and begins releasing; A and C refuse its share; nothing is
    published. Once the link heals, A's relay of her check-in stops B's release."""
    tokens = add_mother(fed, owner, [0, 1, 2])
    fed.world.cut.add(fed.world.link(0, 1))
    fed.world.now = T0 + EVERY - 1200
    fed.world.nodes[0].engine.canary_checkin(tokens["token"], client="10.9.9.9 phone")
    end = T0 + EVERY + GRACE + POLICY.waiting + 900
    for at in range(T0 + 1800, end, 1800):  # the owner checks in, at A, reaching B via C
        fed.world.run(at)
        list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
    fed.world.run(end)
    assert fed.states() == ["armed", "releasing", "armed"]
    assert fed.world.nodes[1].engine.status(fed.switch)["cause"] == "canary"
    assert releases(fed) == []
    assert fed.world.nodes[0].engine.status(fed.switch)["shares"] == 0  # refused B's
    handoffs = pending_handoffs(fed, 1)
    fed.world.cut.clear()
    for _ in range(4):  # the relay's backoff, then its delivery; both check in at A
        fed.world.run(fed.world.now + 1800)
        list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
        fed.world.nodes[0].engine.canary_checkin(tokens["token"], client="10.9.9.9 phone")
    assert fed.states() == ["armed", "armed", "armed"]
    assert "canary-stopped" in fed.kinds(1)
    assert releases(fed) == []
    assert handoffs and pending_handoffs(fed, 1) == []  # withdrawn once it was stopped


def test_a_real_miss_releases_on_every_server_once(fed: Federation, owner: OwnerKey) -> None:
    """She checks in once at A, then falls silent: every server raises her alarm, and the
    release is published once (one message id), however many servers sent it."""
    tokens = add_mother(fed, owner, [0, 1, 2])
    fed.world.now = T0 + 600
    fed.world.nodes[0].engine.canary_checkin(tokens["token"], client="10.9.9.9 phone")
    end = T0 + 600 + EVERY + GRACE + POLICY.waiting + 900
    for at in range(T0 + 1800, end, 1800):  # the owner is well: only she is silent
        fed.world.run(at)
        owner_checks_in(fed, owner)
    fed.world.run(end)
    assert fed.states() == ["released"] * 3
    sent = releases(fed)
    assert len({m.id for m in sent}) == 1
    for i in range(3):
        audit = fed.world.nodes[i].engine.audit_export(fed.switch)["entries"]
        triggers = [e["detail"] for e in audit if e["kind"] == "triggered"]
        assert len(triggers) == 1 and "protected person mother: missed" in triggers[0]
        assert "canary-stopped" not in fed.kinds(i)
