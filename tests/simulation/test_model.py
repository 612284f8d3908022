"""The oracle itself: what it justifies, and when it says a release is owed."""

from __future__ import annotations

from afterword.switch.policy import Policy
from tests.simulation.model import CanaryModel, SwitchModel

H = 3600
POLICY = Policy(interval=10 * H, grace=2 * H, waiting=5 * H, duress_delay=H)


def model(**kw: object) -> SwitchModel:
    return SwitchModel(POLICY, 2, 0, True, {"alice"}, **kw)  # type: ignore[arg-type]


def test_a_silent_owner_justifies_a_trigger_after_deadline_and_grace_only() -> None:
    m = model(alive=[4 * H])
    assert m.justified_trigger(16 * H - 1) == []
    assert m.justified_trigger(16 * H) == ["missed"]
    assert m.justified_release(21 * H - 1) == []
    assert m.justified_release(21 * H) == ["missed"]


def test_a_check_in_that_may_not_have_landed_delays_what_is_owed_not_what_is_allowed() -> None:
    m = model(alive=[4 * H], alive_maybe=[9 * H])
    assert m.missed_from(lenient=True) == 16 * H  # a release from here is no false one
    assert m.missed_from(lenient=False) == 21 * H  # and none is owed before this


def test_an_abort_spends_the_causes_before_it() -> None:
    m = model(duress=[H], aborts=[3 * H])
    assert m.justified_trigger(3 * H) == []
    m.duress.append(5 * H)
    assert m.justified_trigger(6 * H - 1) == []
    assert m.justified_trigger(6 * H) == ["duress"]  # after its delay
    m.deliberate.append(7 * H)
    assert m.justified_release(7 * H) == ["deliberate"]  # no waiting period


def test_the_kth_distinct_vote_is_a_cause_and_revoked_votes_count_for_nothing() -> None:
    m = model(revoked={"carol"})
    m.vote("alice", H, certain=True)
    m.vote("alice", 2 * H, certain=True)
    m.vote("carol", 3 * H, certain=True)
    assert m.vote_causes == []
    m.vote("bob", 4 * H, certain=True)
    assert m.vote_causes == [4 * H]
    assert m.cause_events_between(0, 5 * H) == [f"votes@{4 * H}"]


def test_a_protected_person_silent_once_is_a_cause_even_after_checking_in_again() -> None:
    c = CanaryModel("kin", 10 * H, H, True, 25 * H, 25 * H, 0, checkins=[5 * H, 25 * H])
    assert c.silences(lenient=True) == [16 * H, 36 * H]  # 5h + 10h + 1h: the gap to 25h
    m = model(alive=[10 * H], canaries=[c])
    assert m.justified_trigger(16 * H - 1) == []
    assert m.justified_trigger(16 * H) == ["canary"]


def test_a_certain_abort_spends_the_votes_standing_and_k_fresh_ones_are_a_cause() -> None:
    m = model()
    m.vote("alice", H, certain=True)
    m.abort(2 * H, certain=True)
    m.vote("bob", 3 * H, certain=True)
    assert m.vote_causes == []  # alice's vote was spent by the abort
    m.vote("alice", 4 * H, certain=True)
    assert m.vote_causes == [4 * H]
    maybe = model()
    maybe.vote("alice", H, certain=True)
    maybe.abort(2 * H, certain=False)  # may not have landed: alice's vote may still stand
    maybe.vote("bob", 3 * H, certain=True)
    assert maybe.vote_causes == [3 * H]


def test_settings_count_from_when_they_may_be_in_force() -> None:
    longer = Policy(interval=100 * H, grace=2 * H, waiting=5 * H, duress_delay=H)
    shorter = Policy(interval=2 * H, grace=H, waiting=H, duress_delay=H)
    m = model(alive=[4 * H, 30 * H])
    m.change_settings(3 * H, longer, "pending")  # in force, if at all, from 3h + 7 days
    assert m.missed_from(lenient=True) == 30 * H + 10 * H + 2 * H
    assert m.missed_from(lenient=False) == 30 * H + 10 * H + 2 * H
    m.alive.append(POLICY.cooling_off + 4 * H)  # a check-in once it may be in force
    assert m.next_due(lenient=True) == POLICY.cooling_off + 14 * H
    assert m.next_due(lenient=False) == POLICY.cooling_off + 104 * H
    m.change_settings(POLICY.cooling_off + 5 * H, shorter, "now")  # certain: only this
    m.alive.append(POLICY.cooling_off + 6 * H)
    assert m.next_due(lenient=False) == POLICY.cooling_off + 104 * H  # the earlier one stands
    assert m.interval_at(POLICY.cooling_off + 6 * H, lenient=False) == 2 * H
    assert (m.grace(lenient=True), m.grace(lenient=False)) == (H, 2 * H)
    assert m.told_spans(POLICY.cooling_off + 3 * H) == (107 * H, 5 * H)
    assert m.told_spans(POLICY.cooling_off + 2 * H) == (17 * H, 5 * H)
