"""Several servers, one switch (issue 17): the check-in any server takes in one request,
and the relays the servers send each other.

- :func:`signed_checkin`: a ``checkin/1`` the owner signed, sent to every server of the
  switch in one request each. No challenge: a check-in that is not newer than the highest
  one this server holds moves nothing and is refused with that counter (a replay, or a
  key file whose counter was lost: the CLI signs the next one).
- :func:`take_relay`: a peer's ``relay/1``, signed by its server key and carrying the
  highest check-in it holds. A newer one is taken as the owner's check-in; a peer that is
  behind is sent what this server holds (the answer to an ``AskPeers``).
- :func:`take_handoff`: a peer's ``handoff/1``, its own shares encrypted to this server,
  taken only while this server's own copy of the switch is releasing: each share is
  checked against its commitment as a custodian's is, and K of them publish here. A
  server whose copy is not releasing refuses (425, retried by the sender) and relays
  what it holds back, so one server's wrong clock or lost check-ins release nothing.

Both run the check-in through the owner's own path (:func:`owner.act`), so the rule of
:mod:`duress` holds here too: every key is tried, whichever signed, and a duress
check-in is answered as the real one while the machine triggers, silently, here and, by
relay, on every server of the switch.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.orm import Session

from afterword.crypto.checkin import CheckIn, is_newer, load_checkin
from afterword.crypto.relay import Handoff, load_handoff, load_relay
from afterword.crypto.servers import Server, ServerRoster
from afterword.crypto.shares import ShareEnvelope
from afterword.crypto.signing import Document
from afterword.engine.canaries import take_relayed_canary
from afterword.engine.challenges import stated_expiry
from afterword.engine.context import Context, load_switch
from afterword.engine.custodians import take_share
from afterword.engine.duress import owner_keys, signed_request
from afterword.engine.errors import Behind, Conflict, Forbidden, TooEarly
from afterword.engine.owner import act, answer, in_order, log_refused, seen_from
from afterword.engine.peers import (
    compare_heads,
    handoff_id,
    handoff_messages,
    highest_checkin,
    peers_of,
    relay_messages,
    roster_of,
)
from afterword.engine.views import status_view
from afterword.errors import AfterwordError, FormatError, SignatureError
from afterword.store import repository as repo
from afterword.switch.machine import Phase


class StaleCheckIn(Behind):
    """A check-in not newer than the highest one this server holds (409), answered with
    the owner-signed ``checkin`` that bears it (see :class:`Behind`)."""

    def __init__(self, highest: int, checkin: Document | None) -> None:
        super().__init__(
            f"this server already holds check-in {highest}; this one is not newer",
            f"sign check-in {highest + 1} or later (afterword checkin does this itself)",
            highest,
            checkin,
            "checkin",
        )


def signed_checkin(ctx: Context, switch_id: str, doc: object, client: str = "") -> dict[str, Any]:
    """The owner's signed check-in (``checkin/1``), in one request. Answered as every
    owner check-in is, with the counter this server now holds."""
    now = ctx.clock()
    try:
        with ctx.store.transaction() as s:
            row = load_switch(ctx, s, switch_id, lock=True, client=client)
            checkin, duress = owner_checkin(row, doc)
            if not is_newer(checkin, row.checkin_counter):
                raise StaleCheckIn(row.checkin_counter, highest_checkin(row))
            outcome = act(ctx, s, row, duress, {"action": "checkin"}, now, client, "signature")
            keep_highest(ctx, s, row, doc, checkin, now, duress=duress)
            seen_from(ctx, s, row, client, "checkin", outcome, now)
    except (Forbidden, StaleCheckIn, FormatError) as refused:  # forged, replayed, malformed
        log_refused(ctx, switch_id, "checkin", refused, now, client)
        raise
    return {**answer(ctx, switch_id, "checkin", duress, outcome), "counter": checkin.counter}


def take_relay(ctx: Context, switch_id: str, doc: object, client: str = "") -> dict[str, Any]:
    """A peer's relay. Its check-in, if newer, is the owner's check-in here too (so a
    server the owner could not reach hears of it); if this server holds a newer one than
    the peer, it relays that one back. Refused and logged: a relay from a server not on
    the roster, or signed by the wrong key, or carrying a check-in the owner did not sign."""
    now = ctx.clock()
    try:
        with ctx.store.transaction() as s:
            row = load_switch(ctx, s, switch_id, lock=True)
            roster = _roster(row)
            try:
                relay = load_relay(doc, switch_id, roster, ctx.keys.public_key)
            except SignatureError as exc:
                raise Forbidden(exc.message, exc.hint) from exc
            repo.see_peer(s, row.id, relay.sender.url, now, relay.at, relay.state, relay.held)
            compare_heads(ctx, s, row, relay, now)
            if relay.request is not None:
                take_request(ctx, s, row, relay.request, relay.sender, now)
            if relay.canary is not None:  # a protected person checked in at the sender
                take_relayed_canary(ctx, s, row, relay.canary, now)
            took = relay.checkin is not None and _take_relayed(
                ctx, s, row, relay.checkin, relay.sender, now
            )
            if row.checkin_counter > relay.counter:  # the peer is behind: what we hold
                repo.enqueue_all(
                    s, row.id, relay_messages(ctx, s, row, now, to=(relay.sender,)), now
                )
            held = row.checkin_counter
    except (Forbidden, FormatError) as refused:  # in the log, as any refused request
        log_refused(ctx, switch_id, "relay", refused, now, client)
        raise
    return {"switch": switch_id, "counter": held, "took": took}


class NotReleasing(TooEarly):
    """A handoff to a server whose own copy of the switch is not releasing (425)."""


def take_handoff(ctx: Context, switch_id: str, doc: object, client: str = "") -> dict[str, Any]:
    """A peer's own shares, handed over at release. Taken only while this server's copy
    of the switch (the truth, never an owner's decoy) is releasing; refused otherwise,
    with the check-in this server holds relayed back to the sender. Refused and logged: a
    handoff from a server not on the roster or forged, or carrying a share that does not
    open with this server's key or matches no custodian's commitment."""
    now = ctx.clock()
    waiting: Phase | None = None
    behind = 0
    withdrawn = False
    try:
        with ctx.store.transaction() as s:
            row = load_switch(ctx, s, switch_id, lock=True)
            try:
                handoff = load_handoff(doc, switch_id, _roster(row), ctx.keys.public_key)
            except SignatureError as exc:
                raise Forbidden(exc.message, exc.hint) from exc
            withdrawn = _withdrawn(s, row, handoff)
            repo.see_peer(s, row.id, handoff.sender.url, now, handoff.at, Phase.RELEASING.value)
            phase = repo.state_of(row).phase  # the truth's
            if withdrawn:
                pass  # refused below, after what this server learned of the peer is kept
            elif phase is Phase.RELEASED:  # a peer still releasing: here are ours, freely
                repo.enqueue_all(
                    s,
                    row.id,
                    handoff_messages(ctx, s, row, now, to=(handoff.sender,), released=True),
                    now,
                )
            elif handoff.counter < row.checkin_counter and not handoff.released:
                # a release that began before a check-in this server heard: the owner
                # spoke since, whatever this server's own state; the sender is told
                behind = row.checkin_counter
                repo.enqueue_all(
                    s, row.id, relay_messages(ctx, s, row, now, to=(handoff.sender,)), now
                )
            elif phase is Phase.RELEASING:
                for blob in handoff.envelopes:
                    label, _ = take_share(ctx, s, row, _opened(ctx, blob), now, client)
                    if label is None:
                        raise Forbidden("a handed-over share is none of this switch's shares")
                # the sender is releasing too, so it gets ours: the handoff under this
                # server's counter now (sent at once if it waits out a backoff, written
                # if a newer counter came since the first, whose peers refuse it for
                # good), or, if these shares completed K here, ours as a released one's
                published = repo.state_of(row).phase is Phase.RELEASED
                to = (handoff.sender,)
                repo.enqueue_all(
                    s, row.id, handoff_messages(ctx, s, row, now, to=to, released=published), now
                )
                repo.outbox_retry_now(s, handoff_id(row, handoff.sender), now)
            else:
                waiting = phase
                repo.enqueue_all(
                    s, row.id, relay_messages(ctx, s, row, now, to=(handoff.sender,)), now
                )
    except (Forbidden, FormatError) as refused:  # in the log, as any refused request
        log_refused(ctx, switch_id, "handoff", refused, now, client)
        raise
    if withdrawn:
        raise Conflict(
            "this handoff is from a release its sender has stopped since",
            "the sender said in a later relay that it is not releasing; a new release "
            "hands over anew",
        )
    if behind:  # after the commit: the relay back is on its way
        raise Conflict(
            f"this handoff is from a release that began before check-in {behind}",
            "the owner checked in since; the newer check-in was relayed to the sender",
        )
    if waiting is not None:  # after the commit: the relay back is on its way
        raise NotReleasing(
            f"switch {switch_id} is {waiting} on this server, not releasing",
            "the sender tries again later; this server's newest check-in was relayed to it",
        )
    return status_view(ctx, switch_id)


_HANDING_OVER = frozenset({Phase.RELEASING.value, Phase.RELEASED.value})


def _withdrawn(s: Session, row: repo.Switch, handoff: Handoff) -> bool:
    """Whether ``handoff`` is from a release its sender stopped since: a relay the sender
    signed later (by its own clock, ``heard_at``) said the switch was neither releasing
    nor released there. A stopped release withdraws the handoffs it had not sent
    (``repo.withdraw_handoffs``), but a copy already delivered (and refused: this server
    was not releasing then) stays signed and addressed here, and whoever kept it could
    play it when this server releases alone, short of K. A new release of the sender's
    signs new handoffs, later than the relay that said it stopped."""
    peer = repo.peer(s, row.id, handoff.sender.url)
    return peer is not None and peer.heard_at > handoff.at and peer.state not in _HANDING_OVER


def _opened(ctx: Context, blob: bytes) -> str:
    """The share words in a handed-over envelope, opened with this server's key."""
    try:
        return ShareEnvelope.from_json(json.loads(ctx.keys.decrypt(blob))).mnemonic
    except (AfterwordError, ValueError) as exc:
        raise Forbidden(
            "a handed-over share does not open with this server's key",
            "a peer encrypts its shares to the recipient the roster lists for this server",
        ) from exc


def _roster(row: repo.Switch) -> ServerRoster:
    roster = roster_of(row)
    if roster is None:
        raise Forbidden(
            f"switch {row.id} has no other servers on this one",
            "relays and handoffs are for switches armed on several servers",
        )
    return roster


def _take_relayed(
    ctx: Context, s: Session, row: repo.Switch, doc: Document, sender: Server, now: int
) -> bool:
    checkin, duress = owner_checkin(row, doc)
    method = f"signature, relayed by {sender.url}"
    if not is_newer(checkin, row.checkin_counter):
        if duress and checkin.counter > row.duress_counter:
            # a duress check-in a later real one outranked (it reached this server late):
            # the owner was coerced all the same, so it triggers, once, and goes on
            act(ctx, s, row, True, {"action": "checkin"}, now, "", method, relayed=True)
            repo.update_switch(s, row, duress_counter=checkin.counter)
            peers = tuple(p for p in peers_of(ctx, row) if p != sender)
            repo.enqueue_all(
                s, row.id, relay_messages(ctx, s, row, now, to=peers, checkin=doc), now
            )
            return True
        return False  # already here (by the owner, or another peer's relay)
    act(ctx, s, row, duress, {"action": "checkin"}, now, "", method, relayed=True)
    keep_highest(ctx, s, row, doc, checkin, now, skip=sender, duress=duress)
    return True


RELAY_GRACE = 7 * 86400
"""How long after its nonce expired a relayed owner request is still taken: long enough
for a peer that was down for days to get the owner's pause, short enough that a peer
cannot keep an old abort to play later."""

AS_A_LOOK = frozenset({"canary-add", "drill"})
"""Owner actions a peer takes as a look only: a drill, and a protected person whose links
the server the owner asked made (a duress one still triggers, as a duress look does). A
``canary-add`` whose links the owner made (their digests in it) is taken as it came."""


def take_request(
    ctx: Context, s: Session, row: repo.Switch, request: Document, sender: Server, now: int
) -> bool:
    """An owner's signed request another server took, acted on here as the owner's own
    (a pause, an abort, a release, new settings, a duress look that triggers), once: its
    nonce is spent here too. Refused (and logged): one the owner did not sign, or for
    another switch; ignored: one seen before, one numbered at or below the highest request
    acted on here (:func:`owner.in_order`: relayed requests that change the switch are
    taken in the order the owner signed them; a duress one is still taken as a duress
    look), or one too old."""
    duress = signed_request(row, request, "the relayed request")
    expiry = stated_expiry(request.get("nonce"))
    if expiry is None or now > expiry + RELAY_GRACE:
        return False
    action = request.get("action")
    owner_made = action == "canary-add" and request.get("links") is not None
    look = isinstance(action, str) and action in AS_A_LOOK and not owner_made
    try:
        ordered = in_order(s, row, request, look=look)
    except FormatError:  # numbered by no owner's CLI: the relay's check-in still counts
        return False
    if not ordered and not duress:
        return False  # older than a request acted on here since
    spent = hashlib.sha256(f"{row.id} {request.get('nonce')}".encode()).hexdigest()
    if not repo.spend_nonce(s, row.id, f"r:{spent[:60]}", expiry + RELAY_GRACE):
        return False  # taken before (from the owner's own server, or another peer)
    # a duress request outranked by a later real one (it reached this server late): the
    # owner was coerced all the same, so it is taken as the duress look it also is, which
    # triggers (as a duress check-in outranked by a later real one does)
    taken = {**request, "action": "status"} if look or not ordered else request
    method = f"signature, relayed by {sender.url}"
    act(ctx, s, row, duress, taken, now, "", method, relayed=True)
    peers = tuple(p for p in peers_of(ctx, row) if p != sender)
    repo.enqueue_all(s, row.id, relay_messages(ctx, s, row, now, to=peers, request=request), now)
    return True


def owner_checkin(row: repo.Switch, doc: object) -> tuple[CheckIn, bool]:
    """The check-in in ``doc``, signed by the switch's owner (False) or a duress key
    (True); a ``Forbidden`` if by neither. Every key is tried, whichever signed (the
    switch's duress keys, or a stand-in when it has none), so the work is the same."""
    try:
        checkin = load_checkin(doc, row.id, owner_keys(row))
    except SignatureError as exc:
        raise Forbidden(exc.message, exc.hint) from exc
    return checkin, checkin.signer != row.owner_key


def keep_highest(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    doc: object,
    checkin: CheckIn,
    now: int,
    skip: Server | None = None,
    *,
    duress: bool = False,
) -> None:
    """Keep ``checkin`` as the highest this server holds, and relay it to the switch's
    other servers (but ``skip``, the one it came from). Alike whoever signed it (a duress
    one is also the highest duress check-in: the same statement either way)."""
    repo.update_switch(
        s,
        row,
        checkin_counter=checkin.counter,
        checkin_doc=json.dumps(doc, sort_keys=True),
        duress_counter=checkin.counter if duress else row.duress_counter,
    )
    peers = tuple(p for p in peers_of(ctx, row) if p != skip)
    repo.enqueue_all(s, row.id, relay_messages(ctx, s, row, now, to=peers), now)
    if repo.state_of(row).phase is Phase.RELEASING:
        # still releasing (a duress trigger, or K shares: no check-in stops it): the
        # handoff it sent named the older counter, which its peers now refuse for good as
        # from a release the owner spoke after; so hand over again, under the new counter
        repo.enqueue_all(s, row.id, handoff_messages(ctx, s, row, now), now)
