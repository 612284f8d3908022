"""Held (the withdrawn-handoff rule, ``federation._withdrawn``, against honest clock skew):
A runs a web node whose clock is 150 s ahead of its worker's (several processes on
PostgreSQL, as the design allows). The owner's release-now reaches A, and A's relay of it
reaches B and C five minutes late, so their waiting periods end after A's. Just before
A's ends, the owner looks at A's status: the web node relays the look with ``at`` = its
fast clock and the state ``triggered``. A's worker begins releasing and signs its handoffs
at its own (slower) instant, *before* that relay: B and C (not releasing yet) answer 425,
then the late relay lands, and the retried handoffs are refused (409, for good) as from a
withdrawn release. The release still completes: B and C release too, their handoffs reach A, which
publishes and hands over as released (a new id, a fresh ``at``). The rule costs a delay,
not the release, as long as some receiver of the refused handoffs releases on its own. A
lone release (A the only one released by a relayed request its peers missed) would be
stuck: see the report; not shown here."""

from __future__ import annotations

from pathlib import Path

import pytest

import afterword.engine.federation as federation_module
from afterword.crypto.keys import OwnerKey
from afterword.switch.policy import Policy
from tests.attack.helpers import press_mail, signed
from tests.engine.federation import T0, close, federation

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR)


def test_a_skewed_web_node_before_the_release_does_not_lose_it(
    tmp_path: Path, owner: OwnerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    withdrawn: list[bool] = []
    real_rule = federation_module._withdrawn

    def rule(*args, **kwargs):  # type: ignore[no-untyped-def]
        said = real_rule(*args, **kwargs)
        withdrawn.append(said)
        return said

    monkeypatch.setattr(federation_module, "_withdrawn", rule)
    fed = federation(tmp_path, owner, policy=POLICY)
    try:
        a = fed.world.nodes[0].engine
        fed.world.run(T0 + 600)
        fed.world.cut = {fed.world.link(0, 1), fed.world.link(0, 2)}
        signed(owner.signing, a, fed.switch, "release")  # at A; relayed 5 min late
        fed.world.run(T0 + 900)
        fed.world.cut = set()
        fed.world.run(T0 + 600 + HOUR - 40)  # 40 s before the waiting period ends
        a.ctx.clock.offset = 150  # the web node's clock
        signed(owner.signing, a, fed.switch, "status")  # relayed, at = its clock
        a.ctx.clock.offset = 0  # the worker's clock
        fed.world.run(T0 + 12 * HOUR)
        assert any(withdrawn), "the skew did not make any handoff look withdrawn"
        published = press_mail(fed)
        assert published and fed.states() == ["released"] * 3, (fed.states(), fed.kinds(1))
    finally:
        close(fed)
