"""Attack (no attacker needed; an outsider who delays one relay makes it certain): a LOST
release. The owner's release-now reaches one server, A; the owner then looks at the
switch's status at B and C. The look is signed with the next counter, and B and C take it
directly (the direct path takes any counter not behind). When A's relay of the release-now
(an older counter) arrives at B and C, ``owner.in_order`` ignores it as "older than one
taken since": yet nothing the owner signed after it contradicts it (a status look changes
nothing). B and C never trigger, A begins releasing alone, its handoffs are answered 425
for ever, K = 2 is never reached, and nobody is told the release is stuck.

Steps:
1. ``afterword release --server A`` (B and C unreachable from where the owner is, or the
   owner typed one server): A triggers, and relays the request (counter n) to B and C
   through its outbox.
2. Before A's outbox delivers (seconds; or an outsider delays A->B and A->C), the owner
   runs ``afterword status --server B --server C`` (counter n+1): B and C keep n+1 as the
   highest request acted on, and relay the look to each other and to A.
3. A's relay of the release (counter n) reaches B and C: ignored (n < n+1).
4. A's waiting period ends, it releases its own share and hands over; B and C are armed
   and answer 425. Nothing is ever published.

Fix suggested: order only what the ordering is for. A relayed request should be ignored
only if a later request *that supersedes it* was taken (an abort, resume, disarm, settings
after a release/pause; i.e. the highest *state-changing* request, not a look); a look
(status, audit, drill, canary-add as a look) must not move ``request_counter`` for the
relayed path, or keep two counters: the highest request taken (to refuse replays at the
direct path and dedupe) and the highest *state-changing* one (what a relayed release,
pause or abort must be past). Better still, order the relayed action against the highest
request of the kind that would undo it (a release-now is stale only after a later abort).

Fixed: looks are never ordered (``engine/owner.LOOKS``): the status moves no number.
"""

from __future__ import annotations

from pathlib import Path

from afterword.crypto.keys import OwnerKey
from afterword.switch.policy import Policy
from tests.attack.helpers import press_mail, signed
from tests.engine.federation import T0, close, federation

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR)


def test_a_status_look_after_a_release_now_does_not_lose_it(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner, policy=POLICY)
    try:
        a, b, c = (n.engine for n in fed.world.nodes)
        fed.world.run(T0 + 600)
        signed(owner.signing, a, fed.switch, "release")  # counter n, at A only
        # the owner looks at the other two before A's outbox delivered (no run between)
        signed(owner.signing, b, fed.switch, "status")  # counter n+1
        signed(owner.signing, c, fed.switch, "status")  # the same command's next server
        fed.world.run(T0 + 8 * HOUR)
        published = press_mail(fed)
        assert published, (
            f"the owner asked for the release and never took it back, yet nothing was "
            f"published: states {fed.states()}; B's log: {fed.kinds(1)}"
        )
    finally:
        close(fed)
