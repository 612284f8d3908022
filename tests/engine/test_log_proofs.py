"""Slice 6 (docs/federation.md, "Keeping each other honest"): the relay that carries a
server's signed checkpoint of its log also carries an RFC 9162 consistency proof from the
size of that log its peer holds. A server that rewrites an old entry and appends one more
is caught by the proof that fails; a server that never proves is reported after
``peer_silence``; and an honest log, over many asks on a network that drops, delays,
duplicates and reorders, never raises an alarm."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from afterword.crypto.audit import entry_hash
from afterword.crypto.checkpoint import parse_checkpoint, parse_note
from afterword.crypto.encoding import b64encode
from afterword.crypto.keys import OwnerKey
from afterword.crypto.signing import SERVER_KEY, sign_document
from afterword.errors import FormatError
from afterword.store import repository as repo
from afterword.store.models import AuditRow, SwitchRow
from tests.engine.federation import T0, Federation, Network, answers, close, federation

HOUR = 3600
ALARMS = ("peer-forked", "peer-unproven")


def _head(fed: Federation, at: int, of: int, base: bool = False) -> str:
    """Server ``of``'s signed checkpoint of its log that server ``at`` holds: the newest
    taken, or (``base``) the newest proved, which the next proof must start from."""
    with fed.world.nodes[at].engine.store.transaction() as s:
        peer = next(p for p in repo.peers(s, fed.switch) if p.url == fed.world.nodes[of].url)
    note = peer.proved if base else peer.checkpoint
    assert note, "no head held"
    return str(note)


def _head_size(fed: Federation, at: int, of: int, base: bool = False) -> int:
    return parse_checkpoint(parse_note(_head(fed, at, of, base))[0]).size


def _log_size(fed: Federation, i: int) -> int:
    return len(fed.world.nodes[i].engine.audit_export(fed.switch)["entries"])


def _rewrite(fed: Federation, i: int, seq: int) -> None:
    """Server ``i``'s operator rewrites entry ``seq`` of the switch's log and chains every
    later entry again, so the log checks on its own (it holds the key that signs it)."""
    with fed.world.nodes[i].engine.store.transaction() as s:
        rows = s.scalars(
            select(AuditRow).where(AuditRow.switch_id == fed.switch).order_by(AuditRow.seq)
        ).all()
        prev = rows[seq - 2].hash if seq > 1 else rows[0].prev
        for row in rows[seq - 1 :]:
            if row.seq == seq:
                row.detail = row.detail + " (as it never was)"
            entry = {"switch": fed.switch, "seq": row.seq, "at": row.at, "kind": row.kind}
            row.prev, row.hash = prev, entry_hash(prev, {**entry, "detail": row.detail})
            prev = row.hash
        s.execute(update(SwitchRow).where(SwitchRow.id == fed.switch).values(audit_head=prev))


def _resigned(fed: Federation, i: int, doc: dict[str, Any]) -> dict[str, Any]:
    keys = fed.world.nodes[i].engine.keys
    body = {k: v for k, v in doc.items() if k not in (SERVER_KEY, "signature")}
    return sign_document(body, keys.signing, key_field=SERVER_KEY)


def _checkins(fed: Federation, owner: OwnerKey, at: int, until: int, every: int = 1200) -> None:
    while fed.world.now + every <= until:
        fed.world.run(fed.world.now + every, step=60)
        list(answers(fed, fed.checkin(owner, fed.world.now), [at]))


def test_a_server_that_rewrites_an_old_entry_and_appends_one_is_caught(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """B's operator rewrites entry 2 of the switch's log, then the owner checks in there:
    B's log is larger than the head its peers hold, so only a proof can say whether it
    extends it. B's next relays prove from the size each peer holds, from its rewritten
    log: the proof fails, A and C report it once each and keep the head B signed first."""
    fed = federation(tmp_path, owner, peer_every=600)
    try:
        _checkins(fed, owner, 1, T0 + HOUR)
        held = _head_size(fed, 0, 1)
        assert held >= 4 and _head_size(fed, 2, 1) >= 4
        _rewrite(fed, 1, seq=2)
        list(answers(fed, fed.checkin(owner, fed.world.now), [1]))  # one entry more
        assert _log_size(fed, 1) > held
        fed.world.run(fed.world.now + 2 * HOUR, step=60)
        caught = [m for m in fed.world.mail if "rewrote its log" in m.subject]
        assert len(caught) == 2 and all(fed.world.nodes[1].url in m.text for m in caught)
        assert fed.kinds(0).count("peer-forked") == fed.kinds(2).count("peer-forked") == 1
        assert "peer-forked" not in fed.kinds(1)
        assert _head_size(fed, 0, 1) == _head_size(fed, 0, 1, base=True) == held  # evidence
    finally:
        close(fed)


def test_a_server_that_never_proves_its_log_is_reported_once_then_trusted_again(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """B sends its checkpoints without proofs (as a server from before proofs does, or one
    hiding a rewrite). Its relays still load and its check-ins still travel (compat), but its peers
    keep the head they hold as the base; after ``peer_silence`` of growth B never proved,
    each reports it once. Once B proves again, its heads are taken again."""
    fed = federation(tmp_path, owner, peer_every=600, peer_silence=3 * HOUR)
    b = fed.world.nodes[1].url

    def strip(origin: str, kind: str, doc: Any) -> Any:
        if origin != b or kind != "relays" or "proof" not in doc:
            return doc
        return _resigned(fed, 1, {k: v for k, v in doc.items() if k != "proof"})

    try:
        fed.world.run(T0 + 1200, step=60)
        base = _head_size(fed, 0, 1, base=True)
        fed.world.alter = strip
        _checkins(fed, owner, 1, T0 + 3 * HOUR)
        assert not [k for i in (0, 2) for k in fed.kinds(i) if k in ALARMS]
        assert _head_size(fed, 0, 1, base=True) == base  # grown, unproven: not the base
        assert _head_size(fed, 0, 1) > base  # (though the newest head taken)
        deadlines = [n.engine.status(fed.switch)["deadline"] for n in fed.world.nodes]
        assert min(deadlines) > T0 + 3 * HOUR  # B's relays still carry the check-ins
        _checkins(fed, owner, 1, T0 + 6 * HOUR)
        unproven = [m for m in fed.world.mail if "does not prove its log" in m.subject]
        assert len(unproven) == 2 and all(b in m.text for m in unproven)
        assert fed.kinds(0).count("peer-unproven") == fed.kinds(2).count("peer-unproven") == 1
        assert not [k for i in range(3) for k in fed.kinds(i) if k == "peer-forked"]
        assert "peer-unproven" not in fed.kinds(1)  # A and C prove to B as ever
        fed.world.alter, lifted = None, _log_size(fed, 1)
        fed.world.run(fed.world.now + HOUR, step=60)
        assert all(_head_size(fed, i, 1, base=True) >= lifted for i in (0, 2))
    finally:
        close(fed)


def test_a_forged_proof_is_a_fork_and_a_garbage_one_is_refused(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """B signs proofs whose hashes it made up: a well-formed proof from the size a peer
    holds that fails is a fork, reported once, and the head held is kept. A relay whose
    proof is not even a proof is refused as malformed and logged, and changes nothing."""
    fed = federation(tmp_path, owner, peer_every=600)
    b, rng = fed.world.nodes[1].url, random.Random(5)

    def forge(origin: str, kind: str, doc: Any) -> Any:
        proof = doc.get("proof") if origin == b and kind == "relays" else None
        if not proof or not proof["hashes"]:
            return doc
        made_up = [b64encode(rng.randbytes(32)) for _ in proof["hashes"]]
        return _resigned(fed, 1, {**doc, "proof": {**proof, "hashes": made_up}})

    try:
        _checkins(fed, owner, 0, T0 + HOUR)
        a = fed.world.nodes[0].engine
        body = {"afterword": "relay/1", "switch": fed.switch, "counter": 0, "checkin": None}
        body |= {"checkpoint": _head(fed, 0, 1), "at": fed.world.now, "proof": {"from": "x"}}
        body["to"] = a.keys.public_key
        garbage = _resigned(fed, 1, body)
        held = _head_size(fed, 0, 1, base=True)
        with pytest.raises(FormatError, match="proof must be"):
            a.take_relay(fed.switch, garbage, client="127.0.0.9 peer")
        assert "relay-refused" in fed.kinds(0) and _head_size(fed, 0, 1, base=True) == held
        fed.world.alter = forge
        _checkins(fed, owner, 0, T0 + 3 * HOUR)
        assert fed.kinds(0).count("peer-forked") == fed.kinds(2).count("peer-forked") == 1
        forked = [m for m in fed.world.mail if "rewrote its log" in m.subject]
        assert len(forked) == 2 and _head_size(fed, 0, 1, base=True) < _log_size(fed, 1)
        assert "peer-forked" not in fed.kinds(1)
    finally:
        close(fed)


def test_an_honest_log_on_a_faulty_network_never_raises_an_alarm(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """Every server's log grows (check-ins at random servers) over many asks, while the
    network drops, delays past the next ask, duplicates and so reorders the relays: proofs
    arrive from sizes a peer no longer holds, late and twice. No alarm, ever; the heads
    advance by proof (the relays carry proofs that match, and each peer's base keeps up)."""
    fed = federation(tmp_path, owner, peer_every=600, peer_silence=2 * HOUR)
    rng = random.Random(int(os.environ.get("AFTERWORD_PROOF_SEED", "11")))
    fed.world.network = Network(
        rng, drop=0.2, delay=0.25, duplicate=0.25, ack_lost=0.1, max_delay=1500
    )
    proofs: list[int] = []

    def taken(origin: str, to: str, kind: str, doc: Any, answer: dict[str, Any]) -> None:
        if kind == "relays" and doc.get("proof") and doc["proof"]["from"] > 0:
            proofs.append(doc["proof"]["from"])

    fed.world.taken = taken
    try:
        for _ in range(24):
            fed.world.run(fed.world.now + rng.randint(300, 1200), step=90)
            at = rng.randrange(3)
            list(answers(fed, fed.checkin(owner, fed.world.now), [at]))
        struck = fed.world.network.struck
        assert all(struck[f"net-{k}"] > 5 for k in ("drop", "delay", "duplicate", "ack_lost"))
        sizes = [_log_size(fed, i) for i in range(3)]
        fed.world.network = Network()
        fed.world.run(fed.world.now + 1800, step=90)
        for i in range(3):
            assert not [k for k in fed.kinds(i) if k in ALARMS], fed.kinds(i)
            for j in set(range(3)) - {i}:
                assert _head_size(fed, i, j, base=True) >= sizes[j]
        assert not [m for m in fed.world.mail if "log" in m.subject]
        assert len(proofs) > 50
    finally:
        close(fed)
