"""Attack (one hostile server, K = 2 of N = 3): it keeps an owner's signed release-now,
and plays it to the honest servers after the owner aborted: they released. Fixed: the
request's counter is below the abort's, which A and B acted on, so the copy is ignored
(``engine/owner.in_order``); and the CLI signs over no nonce that says it lives for
years (``client.CLOCK_SLACK``). What the attacker found, as it was:

Every owner request is signed over the nonce of the server it is sent to
(``client.owner``: ``POST /challenge`` there, then the signed request). The CLI sends
the owner's ``release`` to each server with that server's own nonce, so the copy the
hostile server C was sent is a request A and B have never spent. A peer takes a relayed
request (``federation.take_request``) once, until ``stated_expiry(nonce) +
RELAY_GRACE``, and in whatever order it comes: nothing orders it against the owner's
later abort. And ``stated_expiry`` reads the instant from the nonce without its MAC
(only its issuer can check that), so C can hand the owner a nonce that "expires" in ten
years: the owner's CLI signs whatever nonce a server gives it.

The owner asks for the release with its waiting period (at A, B and C), changes their
mind and aborts it (at A, B and C: all armed again). Days later C relays the release it
was sent to A and B: each takes it as the owner's release-now, triggers (cause owner: no
check-in stops it; only another abort, which the owner has no reason to send), and after
the waiting period they begin releasing, hand each other their shares, K = 2, and
publish. Both variants: C's nonce of the normal shape and life replayed 6 days later
(inside ``RELAY_GRACE``), and one C made to expire in ten years replayed 30 days later.
"""

from __future__ import annotations

import base64
import secrets
import struct
from pathlib import Path

import pytest

from afterword.crypto.encoding import b64encode, canonical_json
from afterword.crypto.keys import OwnerKey
from afterword.crypto.relay import sign_relay
from afterword.crypto.signing import REQUEST_KIND
from afterword.switch.policy import Policy
from tests.attack.helpers import everywhere, press_mail, signed
from tests.engine.federation import T0, close, federation
from tests.owner_request import next_counter

DAY = 86400
POLICY = Policy(interval=10 * DAY, grace=600, waiting=3600)


@pytest.mark.parametrize(
    "forged_expiry", [False], ids=["nonce-6-days"]
)  # 10 years: as bad, 100 s more
def test_an_aborted_release_now_kept_by_a_hostile_peer_releases_nothing(
    tmp_path: Path, owner: OwnerKey, forged_expiry: bool
) -> None:
    fed = federation(tmp_path, owner, policy=POLICY, peer_every=DAY)  # fewer asks: faster
    try:
        a, b, c = (n.engine for n in fed.world.nodes)
        fed.world.run(T0 + 600)
        # the owner's release-now, with the waiting period, to every server: A and B
        # take theirs; C is given the request signed over C's own nonce, and keeps it
        if forged_expiry:
            body = struct.pack(">Q", T0 + 10 * 365 * DAY) + secrets.token_bytes(28)
            nonce = base64.urlsafe_b64encode(body).decode()
        else:
            nonce = c.challenge(fed.switch)["nonce"]
        request = {"afterword": REQUEST_KIND, "switch": fed.switch, "action": "release",
                   "nonce": nonce, "counter": next_counter()}  # fmt: skip
        kept = {**request, "signature": b64encode(owner.signing.sign(canonical_json(request)))}
        fed.world.dead.add(fed.world.nodes[2].url)  # C's worker relays nothing honest
        for engine in (a, b):
            signed(owner.signing, engine, fed.switch, "release")
        fed.world.run(T0 + 1200)
        assert fed.states()[:2] == ["triggered", "triggered"]
        for engine in (a, b):  # the owner changes their mind, inside the waiting period
            signed(owner.signing, engine, fed.switch, "abort")
        fed.world.run(T0 + 1800)
        assert fed.states()[:2] == ["armed", "armed"]
        later = T0 + (30 if forged_expiry else 6) * DAY
        while fed.world.now < later:  # the owner goes on checking in, at A and B
            fed.world.run_events(min(later, fed.world.now + 2 * DAY))
            everywhere(fed, fed.checkin(owner, fed.world.now), [0, 1])
        for engine in (a, b):  # C plays the owner's release it kept
            engine.take_relay(
                fed.switch,
                sign_relay(c.keys, fed.switch, 0, None, "armed", at=fed.world.now,
                           request=kept, to=engine.keys.public_key),
            )  # fmt: skip
        fed.world.run(fed.world.now + 3 * 3600, step=60)
        published = press_mail(fed)
        assert not published, (
            f"the owner aborted the release-now {(later - T0) // DAY} days ago and checks in "
            f"every 2 days; C replayed its copy: A, B {fed.states()[:2]}, published"
        )
    finally:
        close(fed)


def test_old_settings_kept_by_a_hostile_peer_do_not_hold_a_silent_owners_release(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """What held: the same replay, aimed at a lost release. The owner once set a 30-day
    interval (C keeps its copy), went back to one day, checked in and fell silent; just
    before the honest servers' deadline C plays the old settings. Nothing orders them
    against the newer settings either, but a lengthening past ``max_pause`` only becomes
    pending for the cooling-off (custodians told) and the missed check-in drops it
    (``machine/settings.py``): the release comes on time. (Passes on a657f9a.)"""
    fed = federation(tmp_path, owner, policy=Policy(interval=DAY, grace=600, waiting=3600))
    try:
        a, b, c = (n.engine for n in fed.world.nodes)
        fed.world.run(T0 + 600)
        nonce = c.challenge(fed.switch)["nonce"]  # of the normal shape and life
        request = {"afterword": REQUEST_KIND, "switch": fed.switch, "action": "settings",
                   "nonce": nonce, "interval": 30 * DAY, "counter": next_counter()}  # fmt: skip
        kept = {**request, "signature": b64encode(owner.signing.sign(canonical_json(request)))}
        fed.world.dead.add(fed.world.nodes[2].url)  # C relays nothing honest
        for engine in (a, b):
            signed(owner.signing, engine, fed.switch, "settings", interval=30 * DAY)
        fed.world.run(T0 + 1200)
        for engine in (a, b):  # the owner goes back to one day
            signed(owner.signing, engine, fed.switch, "settings", interval=DAY)
        fed.world.run(T0 + 1800)
        everywhere(fed, fed.checkin(owner, fed.world.now), [0, 1])  # and falls silent
        silent_from = fed.world.now
        fed.world.run_events(silent_from + DAY - 3600)
        for engine in (a, b):  # C plays the old settings, just before the deadline
            engine.take_relay(
                fed.switch,
                sign_relay(c.keys, fed.switch, 0, None, "armed", at=fed.world.now,
                           request=kept, to=engine.keys.public_key),
            )  # fmt: skip
        fed.world.run_events(silent_from + 3 * DAY)
        published = press_mail(fed)
        assert published, (
            f"the owner (interval 1 day) has been silent 3 days; C replayed their old "
            f"30-day settings: A, B {fed.states()[:2]}, nothing published"
        )
    finally:
        close(fed)
