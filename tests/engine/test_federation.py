"""A switch on three servers, in virtual time (issue 17): a check-in any one of them takes
reaches the others, a server the owner cannot reach stays armed while one peer heard the
owner (guarantee 3), a clock days ahead changes nothing while check-ins arrive (4), a
duress check-in anywhere triggers everywhere and is answered as the real one (5), and
forged or replayed relays and check-ins are refused and logged (7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.checkin import sign_checkin
from afterword.crypto.keys import KeyPair, OwnerKey
from afterword.crypto.relay import sign_relay
from afterword.delivery import Message
from afterword.engine import Engine, Forbidden
from afterword.engine.federation import StaleCheckIn
from tests.engine.federation import PEER_WAIT, POLICY, T0, Federation, answers, close, federation
from tests.owner_request import owner_request

HOUR = 3600


def test_a_check_in_one_server_took_reaches_the_others(fed: Federation, owner: OwnerKey) -> None:
    fed.world.now = T0 + 1800
    (answer,) = answers(fed, fed.checkin(owner, fed.world.now), [1])
    assert answer["state"] == "armed" and answer["counter"] == 1
    fed.world.run(T0 + 1860)
    deadlines = [n.engine.status(fed.switch)["deadline"] for n in fed.world.nodes]
    assert deadlines[1] == T0 + 1800 + POLICY.interval
    assert all(T0 + 1800 + POLICY.interval <= d <= T0 + 1860 + POLICY.interval for d in deadlines)
    relayed = [
        e["detail"]
        for e in fed.world.nodes[2].engine.audit_export(fed.switch)["entries"]
        if e["kind"] == "checked-in"
    ]
    assert relayed and "relayed by http://127.0.0.1:910" in relayed[0]


def test_a_server_cut_off_from_the_owner_and_one_peer_stays_armed(
    fed: Federation, owner: OwnerKey
) -> None:
    """Guarantee 3: the owner checks in to server B only; B and C cannot reach each
    other. C hears of every check-in through A, through many intervals."""
    fed.world.cut.add(fed.world.link(1, 2))
    for hour in range(1, 13):
        fed.world.run(T0 + hour * HOUR - 600)
        list(answers(fed, fed.checkin(owner, fed.world.now), [1]))
    fed.world.run(fed.world.now + POLICY.interval - 60)  # up to the next one's eve
    assert fed.states() == ["armed", "armed", "armed"]
    assert "overdue" not in fed.kinds(2) and "triggered" not in fed.kinds(2)


def test_a_relay_lost_for_good_is_made_up_by_asking_the_peers(
    fed: Federation, owner: OwnerKey
) -> None:
    """Relays to C vanish without a trace (C's peers think it got them). At its deadline
    C asks its peers before counting the owner silent, and their answer rearms it."""
    fed.world.swallow |= {(fed.world.nodes[0].url, fed.world.nodes[2].url)}
    fed.world.swallow |= {(fed.world.nodes[1].url, fed.world.nodes[2].url)}
    fed.world.now = T0 + 1800
    list(answers(fed, fed.checkin(owner, fed.world.now), [1]))
    fed.world.run(T0 + 2400)  # the relays to C go, and vanish
    assert fed.world.nodes[2].engine.status(fed.switch)["deadline"] == T0 + POLICY.interval
    fed.world.swallow.clear()
    fed.world.run(T0 + POLICY.interval + PEER_WAIT + 60)
    assert fed.states() == ["armed", "armed", "armed"]
    assert "asked-peers" in fed.kinds(2) and "overdue" not in fed.kinds(2)
    assert fed.world.nodes[2].engine.status(fed.switch)["deadline"] > T0 + POLICY.interval


def test_with_nobody_heard_a_server_asks_then_counts_the_silence(
    fed: Federation, owner: OwnerKey
) -> None:
    fed.world.run(T0 + POLICY.interval + POLICY.grace + 2 * PEER_WAIT + 120)
    assert fed.states() == ["triggered", "triggered", "triggered"]
    kinds = fed.kinds(0)
    assert kinds.index("asked-peers") < kinds.index("overdue") < kinds.index("triggered")


def test_a_server_whose_clock_runs_days_ahead_is_held_by_the_check_ins(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """Guarantee 4: C's clock is three days ahead. The owner checks in at A alone; the
    relayed check-ins count from C's own clock, so C never finds the owner silent."""
    fed = federation(tmp_path, owner, offsets={2: 3 * 24 * HOUR})
    try:
        for hour in range(1, 11):
            fed.world.run(T0 + hour * HOUR - 900)
            list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
        assert fed.states() == ["armed", "armed", "armed"]
        assert "overdue" not in fed.kinds(2)
    finally:
        close(fed)


def test_duress_at_one_server_triggers_all_and_answers_as_the_real_check_in(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """Guarantee 5: the same switch in two worlds; the owner checks in at server A, for
    real in one world, under duress in the other. A's answers are the same; every server
    of the duress world triggers, silently."""
    duress = Ed25519PrivateKey.generate()
    real = federation(tmp_path / "real", owner, duress=duress)
    forced = federation(tmp_path / "forced", owner, duress=duress)
    try:
        for world in (real, forced):
            world.world.now = T0 + 1800
        (said_real,) = answers(real, real.checkin(owner, T0 + 1800), [0])
        (said_forced,) = answers(forced, forced.checkin(owner, T0 + 1800, duress=True), [0])
        # the same bundle cannot be armed twice here (a switch's id is its own), so each
        # world has its own: the same answer, but for the id
        assert json.dumps(said_forced).replace(forced.switch, "ID") == json.dumps(
            said_real
        ).replace(real.switch, "ID")
        for world in (real, forced):
            world.world.run(T0 + 1900)
        assert real.states() == ["armed", "armed", "armed"]
        assert forced.states() == ["triggered", "triggered", "triggered"]
        causes = {n.engine.status(forced.switch)["cause"] for n in forced.world.nodes}
        assert causes == {"duress"}
        assert not any(
            "triggered" in m.subject.lower() for m in forced.world.mail if "owner" in m.to
        )
    finally:
        close(real)
        close(forced)


def test_a_replayed_check_in_is_refused_with_the_counter_and_logged(
    fed: Federation, owner: OwnerKey
) -> None:
    node = fed.world.nodes[0].engine
    doc = fed.checkin(owner, T0)
    node.signed_checkin(fed.switch, doc, client="10.1.2.3 cli")
    with pytest.raises(StaleCheckIn) as stale:
        node.signed_checkin(fed.switch, doc, client="10.9.9.9 eve")
    assert stale.value.highest == 1 and "sign check-in 2" in stale.value.hint
    assert "checkin-refused" in fed.kinds(0)
    older = fed.checkin(owner, T0, counter=1)
    with pytest.raises(StaleCheckIn):
        node.signed_checkin(fed.switch, older)


def test_forged_relays_and_check_ins_are_refused_and_logged(
    fed: Federation, owner: OwnerKey
) -> None:
    """Guarantee 7: a relay from a server not on the roster; one that names a peer's key
    but was signed by another; a peer's relay of a check-in the owner never signed; and a
    check-in signed by a stranger. Each refused, each in the log, nothing moved."""
    target = fed.world.nodes[0].engine
    stranger = KeyPair.generate()
    genuine = fed.checkin(owner, T0)
    forged_checkin = sign_checkin(Ed25519PrivateKey.generate(), fed.switch, T0, 5)
    peer = fed.world.nodes[1].engine.keys
    not_on_roster = sign_relay(stranger, fed.switch, 1, genuine, to=target.keys.public_key)
    wrong_key = {
        **sign_relay(stranger, fed.switch, 1, genuine, to=target.keys.public_key),
        "server_key": peer.public_key,
    }
    bad_owner = sign_relay(peer, fed.switch, 5, forged_checkin, to=target.keys.public_key)
    cases = [
        (not_on_roster, "not signed by a server on this switch's roster"),
        (wrong_key, "does not verify"),
        (bad_owner, "does not verify with this switch's owner key"),
    ]
    for doc, words in cases:
        with pytest.raises(Forbidden, match=words):
            target.take_relay(fed.switch, doc, client="10.6.6.6 mallory")
    with pytest.raises(Forbidden, match="does not verify"):
        target.signed_checkin(fed.switch, forged_checkin, client="10.6.6.6 mallory")
    kinds = fed.kinds(0)
    assert kinds.count("relay-refused") == 3 and kinds.count("checkin-refused") == 1
    assert target.status(fed.switch)["deadline"] == T0 + POLICY.interval  # nothing moved


def test_a_relay_to_a_switch_on_one_server_is_refused(
    fed: Federation, owner: OwnerKey, tmp_path: Path
) -> None:
    from afterword.crypto.bundle import Custodian, seal_bundle
    from afterword.engine import Contacts
    from tests.conftest import arm_bundle

    engine = fed.world.nodes[0].engine
    lone = seal_bundle(
        [tmp_path / "src" / "evidence.txt"],
        tmp_path / "lone",
        owner,
        [Custodian("server", engine.keys.age_recipient), Custodian("carol", "paper")],
        2,
    )
    arm_bundle(engine, lone.bundle, policy=POLICY, contacts=Contacts([], {}, []))
    relay = sign_relay(
        fed.world.nodes[1].engine.keys, lone.switch, 1, None, to=engine.keys.public_key
    )
    with pytest.raises(Forbidden, match="has no other servers"):
        engine.take_relay(lone.switch, relay)
    # and its owner's signed check-in, in one request, works as on any switch
    doc = sign_checkin(owner.signing, lone.switch, T0, 1)
    assert engine.signed_checkin(lone.switch, doc)["counter"] == 1
    assert json.loads(json.dumps(engine.status(lone.switch)))["state"] == "armed"


def releases(fed: Federation) -> list[Message]:
    return [m for m in fed.world.mail if m.to == "mailto:press@example.org"]


@pytest.mark.parametrize(("servers", "threshold"), [(3, 2), (5, 3)])
def test_with_n_minus_k_servers_gone_for_good_the_rest_release(
    tmp_path: Path, owner: OwnerKey, servers: int, threshold: int
) -> None:
    """Guarantee 1, in virtual time: N-K servers are gone from the start and never come
    back; no human custodian acts. The K left hand each other their shares and publish,
    and the press gets one message id however many of them sent it (guarantee 6)."""
    fed = federation(tmp_path, owner, servers=servers, threshold=threshold)
    try:
        fed.world.dead |= {n.url for n in fed.world.nodes[threshold:]}
        end = T0 + POLICY.interval + POLICY.grace + POLICY.waiting + 2 * PEER_WAIT + 600
        fed.world.run(end)
        alive = fed.states()[:threshold]
        assert alive == ["released"] * threshold
        sent = releases(fed)
        assert len(sent) >= 1 and len({m.id for m in sent}) == 1
    finally:
        close(fed)


def test_a_handoff_to_a_server_that_is_not_releasing_is_refused(
    fed: Federation, owner: OwnerKey
) -> None:
    """A server whose copy of the switch is releasing hands its share over; a peer whose
    own copy is armed refuses it and relays back what it holds: nothing is released."""
    from afterword.crypto.relay import sign_handoff
    from afterword.crypto.shares import ShareEnvelope
    from afterword.engine.federation import NotReleasing

    sender, target = fed.world.nodes[1].engine, fed.world.nodes[0].engine
    blob = (fed.sealed.bundle / "shares" / "s0.age").read_bytes()
    envelope = ShareEnvelope.from_json(json.loads(target.keys.decrypt(blob)))
    doc = sign_handoff(
        sender.keys,
        fed.switch,
        [envelope.encrypt(target.keys.age_recipient)],
        0,
        to=target.keys.public_key,
        at=T0,
    )
    with pytest.raises(NotReleasing, match="is armed on this server"):
        target.take_handoff(fed.switch, doc)
    assert target.status(fed.switch)["shares"] == 0
    forged = sign_handoff(
        KeyPair.generate(), fed.switch, [b"x"], 0, to=target.keys.public_key, at=T0
    )
    with pytest.raises(Forbidden, match="not signed by a server on this switch's roster"):
        target.take_handoff(fed.switch, forged)
    assert "handoff-refused" in fed.kinds(0)


def test_k_minus_1_servers_pooled_cannot_open_the_dossier(tmp_path: Path, owner: OwnerKey) -> None:
    """Guarantee 2: everything two of five servers (K = 3) hold, pooled: their keys,
    their databases, the dossier. Their shares do not rebuild the key."""
    import shamir_mnemonic

    from afterword.crypto.shares import ShareEnvelope
    from afterword.store.models import ServerEnvelopeRow, ShareRow

    fed = federation(tmp_path, owner, servers=5, threshold=3)
    try:
        fed.world.run(T0 + 1800)
        pooled: list[str] = []
        for node in fed.world.nodes[:2]:
            with node.engine.store.transaction() as s:
                for row in s.query(ServerEnvelopeRow).all():
                    opened = json.loads(node.engine.keys.decrypt(row.envelope))
                    pooled.append(ShareEnvelope.from_json(opened).mnemonic)
                assert s.query(ShareRow).count() == 0
        assert len(pooled) == 2
        with pytest.raises(shamir_mnemonic.MnemonicError):
            shamir_mnemonic.combine_mnemonics(pooled)
    finally:
        close(fed)


def test_a_server_whose_clock_jumps_days_ahead_releases_nothing_and_is_stopped(
    fed: Federation, owner: OwnerKey
) -> None:
    """Guarantee 4, the other half: C's clock jumps three days ahead after arming, so C
    counts the owner silent and begins releasing. Its peers, armed, refuse its share and
    relay back what they hold; nothing is published; the owner's next check-in, taken at
    A and relayed, stops C's release."""
    fed.world.now = T0 + 600
    list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
    fed.world.run(T0 + 900)
    clock = fed.world.nodes[2].engine.clock
    clock.offset = 3 * 24 * HOUR  # type: ignore[attr-defined]
    fed.world.run(T0 + 900 + 2 * PEER_WAIT + POLICY.grace + POLICY.waiting + 300)
    assert fed.states() == ["armed", "armed", "releasing"]
    assert fed.world.nodes[2].engine.status(fed.switch)["shares"] == 1
    assert releases(fed) == []
    assert fed.world.nodes[0].engine.status(fed.switch)["shares"] == 0  # refused C's
    list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
    fed.world.run(fed.world.now + 120)
    assert fed.states() == ["armed", "armed", "armed"]
    assert releases(fed) == []


def signed_status(key: Ed25519PrivateKey, engine: Engine, switch: str) -> dict[str, Any]:
    nonce = engine.challenge(switch)["nonce"]
    request = owner_request(key, switch, "status", nonce)
    return engine.owner_request(switch, request, client="10.1.2.3 cli")


def test_a_silent_server_is_reported_once_and_status_shows_every_servers_view(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """Slice 5: servers ask each other how they are; C is gone. After ``peer_silence``
    the owner and the custodians are told, once; the owner's status shows each peer's
    state and when it was last heard from."""
    fed = federation(tmp_path, owner, peer_every=600, peer_silence=2 * HOUR)
    try:
        fed.world.dead.add(fed.world.nodes[2].url)
        for hour in range(1, 5):
            fed.world.run(T0 + hour * HOUR - 600, step=60)
            list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
        _, b, c = (n.url for n in fed.world.nodes)
        silent = [m for m in fed.world.mail if "is silent" in m.subject]
        assert {m.to for m in silent} == {"mailto:owner@example.org"}
        assert len(silent) == 2 and all(c in m.text for m in silent)  # one from A, one from B
        assert fed.kinds(0).count("peer-silent") == fed.kinds(1).count("peer-silent") == 1
        peers = signed_status(owner.signing, fed.world.nodes[0].engine, fed.switch)["peers"]
        assert set(peers) == {b, c}
        assert peers[b]["state"] == "armed" and peers[b]["last_seen"] >= fed.world.now - 700
        assert peers[c] == {"state": None, "last_seen": None}
    finally:
        close(fed)


def test_under_duress_the_peers_look_as_they_would_for_real(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """After a duress check-in every server is triggered; the owner's status, asked with
    the duress key, shows the peers as the real world's status does: armed."""
    duress = Ed25519PrivateKey.generate()
    real = federation(tmp_path / "real", owner, duress=duress, peer_every=60)
    forced = federation(tmp_path / "forced", owner, duress=duress, peer_every=60)
    try:
        for world in (real, forced):
            world.world.now = T0 + 1800
        list(answers(real, real.checkin(owner, T0 + 1800), [0]))
        list(answers(forced, forced.checkin(owner, T0 + 1800, duress=True), [0]))
        for world in (real, forced):
            world.world.run(T0 + 2000)
        assert forced.states() == ["triggered"] * 3
        seen_real = signed_status(owner.signing, real.world.nodes[0].engine, real.switch)
        seen_forced = signed_status(duress, forced.world.nodes[0].engine, forced.switch)
        assert seen_forced["peers"] == seen_real["peers"]
        assert {p["state"] for p in seen_real["peers"].values()} == {"armed"}
    finally:
        close(real)
        close(forced)


def test_a_server_that_rolls_its_log_back_is_caught_by_its_peers(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """Slice 6: every relay carries the sender's signed checkpoint of its log for the
    switch; peers keep the last one. B's database is put back to a copy from an hour
    earlier (a restored old backup, or a rewrite): the next head B signs is of a shorter
    log, signed later, and A and C report it, once each, keeping the head B signed first."""
    import shutil

    from afterword.store import Store

    fed = federation(tmp_path, owner, peer_every=600)
    node, db = fed.world.nodes[1], tmp_path / "server1" / "a.db"

    def reopen(copy_from: Path | None, copy_to: Path | None) -> None:
        node.engine.store.close()  # (the WAL checkpointed: one file holds it all)
        if copy_from is not None and copy_to is not None:
            shutil.copyfile(copy_from, copy_to)
        store = Store(f"sqlite:///{db}")
        node.engine = Engine(store, node.engine.keys, node.engine.config, node.engine.clock)

    try:
        fed.world.run(T0 + 900, step=60)
        reopen(db, tmp_path / "old.db")
        for minute in range(20, 60, 10):
            fed.world.run(T0 + minute * 60, step=60)
            list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
        fed.world.run(T0 + 3600, step=60)
        assert not [m for m in fed.world.mail if "rewrote its log" in m.subject]
        reopen(tmp_path / "old.db", db)
        list(answers(fed, fed.checkin(owner, fed.world.now + 60), [1]))
        fed.world.run(T0 + 3600 + 1200, step=60)
        caught = [m for m in fed.world.mail if "rewrote its log" in m.subject]
        assert len(caught) == 2 and all(node.url in m.text for m in caught)
        assert "peer-forked" in fed.kinds(0) and "peer-forked" in fed.kinds(2)
        assert "peer-forked" not in fed.kinds(1)
    finally:
        close(fed)


def test_custodians_voting_at_one_server_trigger_every_server(
    fed: Federation, owner: OwnerKey
) -> None:
    """Votes travel as check-ins do: K custodians vote at server A alone; A passes each
    vote on to its peers, and every server triggers (cause: votes) and releases."""
    from afterword.crypto.shares import ShareEnvelope

    codes = []
    for i in (0, 1):
        blob = (fed.sealed.bundle / "shares" / f"s{i}.age").read_bytes()
        opened = json.loads(fed.world.nodes[i].engine.keys.decrypt(blob))
        codes.append(ShareEnvelope.from_json(opened).credential)
    a = fed.world.nodes[0].engine
    fed.world.now = T0 + 600
    a.custodian(fed.switch, codes[0], "vote", client="10.7.7.7 lawyer")
    fed.world.run(T0 + 700)
    assert fed.states() == ["armed", "armed", "armed"]  # one vote of two
    assert all(n.engine.status(fed.switch)["shares"] == 0 for n in fed.world.nodes)
    a.custodian(fed.switch, codes[1], "vote", client="10.7.7.8 editor")
    fed.world.run(T0 + 800)
    causes = [n.engine.status(fed.switch)["cause"] for n in fed.world.nodes]
    assert fed.states() == ["triggered"] * 3 and causes == ["votes"] * 3
    fed.world.run(T0 + 800 + POLICY.waiting + 300)
    assert fed.states() == ["released"] * 3
    assert len({m.id for m in releases(fed)}) == 1
