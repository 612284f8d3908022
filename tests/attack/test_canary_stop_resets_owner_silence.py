"""Attack: one hostile server keeps the owner's silence from ever releasing the switch.

The owner and a protected person (``mother``, set to trigger) both fall silent. The
hostile server C learned mother's normal link token from the one relay of her check-in it
was sent (sealed to C, which opens it with its own key). Each time her silence triggers
the honest servers A and B (cause canary, ``missed_by`` mother, no shares yet), C sends
them a fresh relay of that token marked ``in_time``: the machine's ``_stop_alarm`` sends
them back to armed *with a new check-in period for the owner* (``_rearm`` from now). Her
next miss triggers them again before the owner's own deadline, C stops it again, and so
on: the owner's silence is never counted. The documented limit (docs/federation.md item
7, threat-model Adversary 1) concedes only that a hostile server can hold *that person's*
alarm; here one server (N-K = 1 of 3, K = 2) holds the owner's own dead-man release
forever, a lost release. Without C's stop, A and B release for the owner's silence.
"""

from __future__ import annotations

import base64
from pathlib import Path

from afterword.crypto.canary_relay import (
    open_canary_checkin,
    seal_canary_checkin,
    sealed_file,
)
from afterword.crypto.keys import OwnerKey
from afterword.crypto.relay import sign_relay
from afterword.switch.policy import Policy
from tests.attack.helpers import add_mother, press_mail
from tests.engine.federation import T0, close, federation

HOUR = 3600
OWNER = Policy(interval=6 * HOUR, grace=600, waiting=1800)  # owner: every 6 hours
EVERY, GRACE = HOUR, 600  # mother: every hour


def test_a_hostile_server_resets_the_owners_silence_with_canary_stops(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner, policy=OWNER)
    try:
        a, b, c = (n.engine for n in fed.world.nodes)
        tokens = add_mother(fed, owner, EVERY, GRACE)
        learned: list[str] = []

        def taken(origin: str, to: str, kind: str, doc: dict, answer: dict) -> None:
            if to == fed.world.nodes[2].url and kind == "relays" and doc.get("canary"):
                sealed = base64.b64decode(doc["canary"])
                opened = open_canary_checkin(c.keys.decrypt(sealed_file(sealed)), fed.switch)
                learned.append(opened.token)  # C's operator reads the token it was sent

        fed.world.taken = taken
        fed.world.run(T0 + 300)
        a.canary_checkin(tokens["token"])  # mother checks in once, at A
        fed.world.run(T0 + 600)
        assert learned == [tokens["token"]]
        # from now on the owner and mother are both silent; C is hostile
        fed.world.dead.add(fed.world.nodes[2].url)  # C's worker sends nothing honest
        stops = 0
        while fed.world.now < T0 + 3 * 24 * HOUR:
            fed.world.run(fed.world.now + 60)
            for victim in (a, b):
                st = victim.status(fed.switch)
                if st["state"] == "triggered":
                    sealed = seal_canary_checkin(
                        victim.keys.age_recipient, fed.switch, learned[0], fed.world.now, True
                    )
                    victim.take_relay(
                        fed.switch,
                        sign_relay(
                            c.keys,
                            fed.switch,
                            0,
                            None,
                            canary=sealed,
                            to=victim.keys.public_key,
                            at=fed.world.now,
                        ),
                    )
                    stops += 1
        published = press_mail(fed)
        states = fed.states()[:2]
        assert published, (
            f"owner silent for 3 days (interval 6h): no release; A, B {states}, "
            f"{stops} canary stops by the hostile server"
        )
    finally:
        close(fed)
