"""What one server of a switch tells its peers, signed by its server key: a relay of the
owner's check-in (``relay/1``), and at release its own shares (``handoff/1``).

A relay carries the highest check-in the sending server holds for the switch (a
``checkin/1`` as the owner signed it, or none yet) and its counter. It is how a check-in
the owner sent to one server reaches the others, and how a server asks its peers for
anything newer before it counts the owner silent: it relays what it has, and a peer that
holds a newer check-in relays that one back (docs/federation.md).

A relay that carries the sender's checkpoint (the hourly ask) also carries two small
fields that let each peer check the sender's log only ever grew (docs/federation.md,
section 6): ``held``, the size of the *receiver's* log whose checkpoint the sender holds
as its base, the newest one proved ("of your log I hold size m"; 0 before any), which the
receiver keeps per peer; and ``proof``, ``{"from": m, "hashes": [base64, ...]}``, the RFC
9162 consistency proof from the size ``m`` this receiver last said it holds to the
checkpoint carried (at most ``MAX_PROOF_HASHES`` hashes of 32 bytes; none while nothing
was said, or a size the log never reached). A relay of an older server carries neither
and still loads (``held`` and ``proof`` are then None); an older server refuses relays
with them, as it refuses any field it does not know.

The server's signature says who relayed; only a server on the switch's roster, and not
the receiver itself, is listened to. Each relay and handoff names its receiver (``to``,
its server key) and carries the sender's clock (``at``): a peer refuses one addressed to
another server, and takes one as a sign of the sender's life only if its ``at`` is newer
than any it took before, so a relay played again (by a hostile peer it was sent to, or by
anyone who kept a copy) cannot hide a server that fell silent. The owner's signature on
the check-in inside is what moves the switch, so a relay can carry nothing the owner did
not sign: a peer that lies can only withhold.

A handoff carries the sending server's share envelopes, each age-encrypted to the
receiving peer's recipient (from the roster), for a peer that is releasing too: any
server that gathers K shares, each checked against its commitment, publishes. The shares
are as secret at rest and on the wire as in the sender's own database.
"""

from __future__ import annotations

from dataclasses import dataclass

from afterword.crypto.encoding import b64decode, b64encode
from afterword.crypto.keys import KeyPair
from afterword.crypto.servers import Server, ServerRoster
from afterword.crypto.signing import SERVER_KEY, Document, sign_document, verify_document
from afterword.crypto.switch_id import check_switch_id
from afterword.errors import FormatError, SignatureError

RELAY_KIND = "relay/1"
HANDOFF_KIND = "handoff/1"
HANDOFF_FIELDS = frozenset(
    {"afterword", "switch", "envelopes", "counter", "released", "to", "at"}
    | {SERVER_KEY, "signature"}
)
MAX_ENVELOPES = 16  # a server holds a few shares of one switch at most
MAX_ENVELOPE = 64 * 1024
FIELDS = frozenset(
    {"afterword", "switch", "to", "counter", "checkin", "state", "checkpoint", "at"}
    | {"request", "canary", "held", "proof", SERVER_KEY, "signature"}
)
PROOF_FIELDS = frozenset({"from", "hashes"})
MAX_PROOF_HASHES = 128
"""A consistency proof has about two hashes per level of the tree at most: 128 covers any
log a checkpoint can name (2**63 entries), and a hostile peer cannot make one cost more."""
STATES = frozenset(
    {"armed", "overdue", "triggered", "releasing", "released", "paused", "disarming", "disarmed"}
)
MAX_COUNTER = 2**53 - 1
_HINT = "relays are sent by the servers of a switch to each other"


@dataclass(frozen=True)
class LogProof:
    """An RFC 9162 consistency proof a relay carries: that the sender's log of ``old``
    entries (the size its receiver said it holds) is a prefix of the checkpoint relayed."""

    old: int
    hashes: tuple[bytes, ...]


@dataclass(frozen=True)
class Relay:
    """A relay whose server signature verified: who sent it (a peer on the roster), the
    highest counter it holds and the check-in it holds (unchecked: the owner's signature
    on it is the receiver's to check against the switch's keys)."""

    sender: Server
    counter: int
    checkin: Document | None
    state: str | None = None  # the switch's state on the sender, as it says
    checkpoint: str | None = None  # its audit log's head for the switch (a signed note)
    at: int = 0  # the sender's clock when it signed (orders its checkpoints; 0: unsaid)
    request: Document | None = None  # an owner's signed request it took (a pause, ...)
    canary: bytes | None = None  # a protected person's check-in, sealed to the receiver
    held: int | None = None  # the size of the receiver's log it holds (None: it did not say)
    proof: LogProof | None = None  # that its checkpoint extends its log of that size


def sign_relay(
    keys: KeyPair,
    switch: str,
    counter: int,
    checkin: Document | None,
    state: str | None = None,
    checkpoint: str | None = None,
    at: int = 0,
    request: Document | None = None,
    canary: bytes | None = None,
    *,
    held: int | None = None,
    proof: LogProof | None = None,
    to: str,
) -> Document:
    """A relay of ``checkin`` (the highest one held, counter ``counter``; None and 0 before
    any) for ``switch``, signed by this server's key; ``state``: the switch's state here
    (how the peers know this server is well, and how it sees the switch); ``checkpoint``:
    the head of this server's audit log for the switch, a signed C2SP checkpoint, which
    its peers keep and compare (a server that rewrites the switch's history is caught), and
    ``at``, this server's clock, which orders its checkpoints for them; ``request``: an
    owner's signed request this server took (a pause, an abort, ...), passed on as it came
    (its owner signature is what a peer acts on); ``canary``: a protected person's
    check-in this server took, sealed to the receiver (``crypto/canary_relay.py``);
    ``held``: the size of the receiver's log whose checkpoint this server holds; ``proof``
    (with a checkpoint only): that the checkpoint extends this server's log of the size
    the receiver said it holds. ``to``: the receiver's server key, and ``at``: this
    server's clock, so that a relay played again, to another peer or later, cannot pass
    for this server being alive (its receiver takes each ``at`` once)."""
    check_switch_id(switch)
    _check_counter(counter)
    _check_counter(at)
    body: Document = {
        "afterword": RELAY_KIND,
        "switch": switch,
        "to": to,
        "counter": counter,
        "checkin": checkin,
        "at": at,
    }
    if state is not None:
        body["state"] = _checked_state(state)
    if checkpoint is not None:
        body["checkpoint"] = _checked_note(checkpoint)
    if request is not None:
        body["request"] = request
    if canary is not None:
        body["canary"] = b64encode(canary)
    if held is not None:
        _check_counter(held)
        body["held"] = held
    if proof is not None:
        body["proof"] = {"from": proof.old, "hashes": [b64encode(h) for h in proof.hashes]}
        _checked_proof(body["proof"], checkpoint)
    return sign_document(body, keys.signing, key_field=SERVER_KEY)


def load_relay(doc: object, switch: str, roster: ServerRoster, own_key: str) -> Relay:
    """The relay in ``doc`` for ``switch``, from a peer on ``roster`` (never from the
    server whose key is ``own_key``), or a ``FormatError``/``SignatureError`` saying why
    not: a stranger's relay, a forged or altered one, one for another switch."""
    sender = _peer(doc, "relay", FIELDS, roster, own_key)
    assert isinstance(doc, dict)
    if doc.get("switch") != switch:
        raise FormatError(f"the relay is for switch {doc.get('switch')!r}, not {switch}", _HINT)
    counter, checkin = doc.get("counter"), doc.get("checkin")
    _check_counter(counter)
    assert isinstance(counter, int)
    if checkin is not None and not isinstance(checkin, dict):
        raise FormatError("the relay's check-in must be a JSON object or null", _HINT)
    state, note = doc.get("state"), doc.get("checkpoint")
    return Relay(
        sender,
        counter,
        checkin,
        None if state is None else _checked_state(state),
        None if note is None else _checked_note(note),
        _checked_at(doc.get("at")),
        _checked_request(doc.get("request")),
        _checked_canary(doc.get("canary")),
        held=None if doc.get("held") is None else _checked_at(doc.get("held"), "a relay's held"),
        proof=_checked_proof(doc.get("proof"), note),
    )


def _checked_canary(sealed: object) -> bytes | None:
    if sealed is None:
        return None
    if not isinstance(sealed, str) or len(sealed) > MAX_ENVELOPE:
        raise FormatError("a relay's canary must be base64 text of an age file", _HINT)
    return b64decode(sealed, what="a relay's canary")


def _checked_proof(proof: object, checkpoint: object) -> LogProof | None:
    """A relay's consistency proof, its shape checked (whether it proves anything is the
    receiver's to check, against the checkpoint it holds)."""
    if proof is None:
        return None
    if checkpoint is None:
        raise FormatError("a relay's proof comes only with a checkpoint", _HINT)
    if not isinstance(proof, dict) or set(proof) != PROOF_FIELDS:
        raise FormatError('a relay\'s proof must be {"from": SIZE, "hashes": [...]}', _HINT)
    old, listed = proof["from"], proof["hashes"]
    _check_counter(old)
    assert isinstance(old, int)
    if not isinstance(listed, list) or len(listed) > MAX_PROOF_HASHES:
        raise FormatError(f"a relay's proof is a list of at most {MAX_PROOF_HASHES} hashes", _HINT)
    hashes = []
    for item in listed:
        raw = b64decode(item, what="a proof's hash") if isinstance(item, str) else b""
        if len(raw) != 32:
            raise FormatError("each hash of a relay's proof is base64 of 32 bytes", _HINT)
        hashes.append(raw)
    return LogProof(old, tuple(hashes))


def _checked_request(request: object) -> Document | None:
    if request is not None and not isinstance(request, dict):
        raise FormatError("a relay's request must be a JSON object or null", _HINT)
    return request


def _checked_at(at: object, what: str = "a relay's clock (at)") -> int:
    _check_counter(at, what)
    assert isinstance(at, int)
    return at


def _checked_note(note: object) -> str:
    if not isinstance(note, str) or len(note) > MAX_ENVELOPE:
        raise FormatError("a relay's checkpoint must be a signed note (text)", _HINT)
    return note


def _checked_state(state: object) -> str:
    if state not in STATES:
        raise FormatError(f"a relay's state must be one of {', '.join(sorted(STATES))}", _HINT)
    return str(state)


@dataclass(frozen=True)
class Handoff:
    """A handoff whose server signature verified: from which peer, and its share
    envelopes (age files to the receiver's recipient, still sealed)."""

    sender: Server
    envelopes: tuple[bytes, ...]
    counter: int  # the highest check-in the sender held when its release began
    released: bool = False  # the sender has published: its shares are no secret any more
    at: int = 0  # the sender's clock when it signed


def sign_handoff(
    keys: KeyPair,
    switch: str,
    envelopes: list[bytes],
    counter: int,
    released: bool = False,
    *,
    to: str,
    at: int,
) -> Document:
    """This server's share envelopes for ``switch``, already encrypted to the peer, for a
    release that began after check-in ``counter`` (the highest it held then): a peer that
    holds a newer one knows the owner spoke since, and refuses it. ``released``: this
    server has published the release already (its key is public), so the handoff helps a
    peer that began releasing later to finish, whatever it heard since. ``to`` and
    ``at``: as for :func:`sign_relay`."""
    check_switch_id(switch)
    _check_counter(counter)
    _check_counter(at)
    body: Document = {
        "afterword": HANDOFF_KIND,
        "switch": switch,
        "to": to,
        "at": at,
        "envelopes": [b64encode(e) for e in envelopes],
        "counter": counter,
        **({"released": True} if released else {}),
    }
    return sign_document(body, keys.signing, key_field=SERVER_KEY)


def load_handoff(doc: object, switch: str, roster: ServerRoster, own_key: str) -> Handoff:
    """The handoff in ``doc`` for ``switch``, from a peer on ``roster``; refused as
    :func:`load_relay` refuses (a stranger, a forgery, another switch), and when it
    carries no envelope or more than a server could hold."""
    sender = _peer(doc, "handoff", HANDOFF_FIELDS, roster, own_key)
    assert isinstance(doc, dict)
    if doc.get("switch") != switch:
        raise FormatError(f"the handoff is for switch {doc.get('switch')!r}, not {switch}", _HINT)
    listed = doc.get("envelopes")
    if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_ENVELOPES:
        raise FormatError(f"a handoff carries 1 to {MAX_ENVELOPES} share envelopes", _HINT)
    envelopes = []
    for item in listed:
        if not isinstance(item, str) or len(item) > MAX_ENVELOPE:
            raise FormatError("a handoff's envelope must be base64 text of an age file", _HINT)
        envelopes.append(b64decode(item, what="a handoff's envelope"))
    counter = doc.get("counter")
    _check_counter(counter)
    assert isinstance(counter, int)
    released = doc.get("released") is True
    return Handoff(sender, tuple(envelopes), counter, released, _checked_at(doc.get("at")))


def _peer(
    doc: object, kind: str, fields: frozenset[str], roster: ServerRoster, own_key: str
) -> Server:
    """The peer on ``roster`` (never this server) that signed ``doc``, a ``kind``."""
    if not isinstance(doc, dict):
        raise FormatError(f"a {kind} must be a JSON object", _HINT)
    unknown = sorted(str(k) for k in doc if k not in fields)
    if unknown:
        raise FormatError(f"the {kind} has unknown fields: {', '.join(unknown)}", _HINT)
    sender = doc.get(SERVER_KEY)
    peers = {server.key: server for server in roster.peers_of(own_key)}
    if sender not in peers:
        raise SignatureError(
            f"the {kind} is not signed by a server on this switch's roster",
            "only the servers the owner listed may speak for a switch",
        )
    verify_document(doc, kind, expected_key=str(sender), key_field=SERVER_KEY)
    if doc.get("to") != own_key:  # genuine, but sent to another server: played again
        raise SignatureError(
            f"the {kind} is addressed to another server of the switch, not to this one",
            "a server takes only what its peers sent to it; this one was played again",
        )
    return peers[str(sender)]


def _check_counter(value: object, what: str = "a relay's counter") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
        raise FormatError(f"{what} must be a whole number from 0 to {MAX_COUNTER}", _HINT)
