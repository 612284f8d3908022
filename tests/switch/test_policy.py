"""A policy as a client sends it: ``policy_from_wire`` reads the JSON object (decoded)
into a Policy, or refuses it with the words POST /switches answers (tests/web/test_api.py's
``test_arm_refuses_a_bad_policy`` pins them over HTTP), and durations as people write them
(``parse_duration``, ``parse_reminders``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afterword.errors import AfterwordError
from afterword.switch.policy import (
    DEFAULT_COOLING_OFF,
    DEFAULT_MAX_PAUSE,
    MAX_DURATION,
    MAX_REMINDERS,
    POLICY_HINT,
    Policy,
    parse_duration,
    parse_reminders,
    policy_from_wire,
    settings_from_wire,
)

POLICY: dict[str, Any] = {"interval": 3600, "grace": 600, "waiting": 600, "reminders": [1800]}


def test_a_policy_is_read_with_the_defaults_for_what_is_not_sent() -> None:
    assert policy_from_wire(POLICY) == Policy(3600, 600, 600, (1800,))
    assert policy_from_wire({"interval": 60}) == Policy(
        interval=60,
        grace=0,
        waiting=0,
        reminders=(),
        max_pause=DEFAULT_MAX_PAUSE,
        cooling_off=DEFAULT_COOLING_OFF,
        duress_delay=0,
    )
    every = {**POLICY, "cooling_off": 7200, "duress_delay": 300}
    assert policy_from_wire(every) == Policy(3600, 600, 600, (1800,), cooling_off=7200,
                                             duress_delay=300)  # fmt: skip


def test_reminders_keep_the_order_they_were_sent_in() -> None:
    """(As POST /switches always did: the machine reads them in any order.)"""
    assert policy_from_wire({"interval": 60, "reminders": [10, 30, 10]}).reminders == (10, 30, 10)


def _wire(**changes: Any) -> dict[str, Any]:
    return {**POLICY, **changes}


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ([3600], "the policy must be a JSON object", POLICY_HINT),
        ("3600", "the policy must be a JSON object", POLICY_HINT),
        (None, "the policy must be a JSON object", POLICY_HINT),
        ({**POLICY, "max_pause": 60}, "unknown policy field 'max_pause'", POLICY_HINT),
        ({"grace": 600}, "the policy has no interval", POLICY_HINT),
        (_wire(interval=0), "the check-in interval must be positive", ""),
        (_wire(interval=-3600), "the check-in interval must be positive", ""),
        (_wire(grace=-1), "grace must not be negative", ""),
        (_wire(waiting=-1), "waiting must not be negative", ""),
        (_wire(cooling_off=-1), "cooling_off must not be negative", ""),
        (_wire(duress_delay=-1), "duress_delay must not be negative", ""),
        (_wire(reminders=[0]), "reminder offsets must be positive durations before a deadline",
         ""),
        (_wire(interval="7d"), "policy.interval must be a whole number of seconds", POLICY_HINT),
        (_wire(interval=3600.5), "policy.interval must be a whole number of seconds",
         POLICY_HINT),
        (_wire(interval=True), "policy.interval must be a whole number of seconds", POLICY_HINT),
        (_wire(interval=None), "policy.interval must be a whole number of seconds", POLICY_HINT),
        (json.loads('{"interval": Infinity}'), "policy.interval must be a whole number of "
         "seconds", POLICY_HINT),
        (json.loads('{"interval": NaN}'), "policy.interval must be a whole number of seconds",
         POLICY_HINT),
        (_wire(grace=1.0), "policy.grace must be a whole number of seconds", POLICY_HINT),
        (_wire(waiting="1"), "policy.waiting must be a whole number of seconds", POLICY_HINT),
        (_wire(cooling_off=False), "policy.cooling_off must be a whole number of seconds",
         POLICY_HINT),
        (_wire(duress_delay=[1]), "policy.duress_delay must be a whole number of seconds",
         POLICY_HINT),
        (_wire(interval=10**30), f"policy.interval is longer than {MAX_DURATION} seconds "
         "(10 years)", "use a shorter duration"),
        (_wire(grace=2**63), f"policy.grace is longer than {MAX_DURATION} seconds (10 years)",
         "use a shorter duration"),
        (_wire(reminders=[MAX_DURATION + 1]), "policy.reminders is longer than "
         f"{MAX_DURATION} seconds (10 years)", "use a shorter duration"),
        (_wire(reminders="1800"), "policy.reminders must be a list of whole numbers of seconds "
         f"(at most {MAX_REMINDERS})", POLICY_HINT),
        (_wire(reminders=["soon"]), "policy.reminders must be a list of whole numbers of "
         f"seconds (at most {MAX_REMINDERS})", POLICY_HINT),
        (_wire(reminders=[True]), "policy.reminders must be a list of whole numbers of "
         f"seconds (at most {MAX_REMINDERS})", POLICY_HINT),
        (_wire(reminders=list(range(1, MAX_REMINDERS + 2))), "policy.reminders must be a list "
         f"of whole numbers of seconds (at most {MAX_REMINDERS})", POLICY_HINT),
    ],
)  # fmt: skip
def test_a_bad_policy_is_refused_with_what_is_wrong(value: object, message: str, hint: str) -> None:
    with pytest.raises(AfterwordError) as caught:
        policy_from_wire(value)
    assert (caught.value.message, caught.value.hint) == (message, hint)


def test_the_first_problem_found_is_the_one_told() -> None:
    """Unknown fields before a missing interval, the reminders' list before the values."""
    with pytest.raises(AfterwordError, match="unknown policy field 'every'"):
        policy_from_wire({"every": 1})
    with pytest.raises(AfterwordError, match=r"policy\.reminders must be a list"):
        policy_from_wire({"interval": "x", "reminders": "x"})
    with pytest.raises(AfterwordError, match=r"policy\.interval must be a whole number"):
        policy_from_wire({"interval": "x", "grace": "x"})


@given(
    st.dictionaries(
        st.sampled_from(["interval", "grace", "waiting", "cooling_off", "duress_delay"]),
        st.integers(min_value=1, max_value=MAX_DURATION),
    ).map(lambda d: {"interval": 1, **d})
)
def test_whole_seconds_up_to_ten_years_are_read_as_they_were_sent(wire: dict[str, int]) -> None:
    policy = policy_from_wire(wire)
    for name, value in wire.items():
        assert getattr(policy, name) == value


def test_durations_as_people_write_them() -> None:
    assert parse_duration("1d12h") == 36 * 3600
    assert parse_duration(" 2W ") == 14 * 86400
    assert parse_reminders("1d,3d,1d, ,2h") == (3 * 86400, 86400, 7200)
    with pytest.raises(AfterwordError, match="cannot read the duration"):
        parse_duration("7 days")
    with pytest.raises(AfterwordError, match="out of range"):
        parse_duration("11000d")


SHOWN = Policy(interval=3600, grace=600, waiting=600, reminders=(1800,))


def test_a_settings_change_keeps_what_it_does_not_send() -> None:
    assert settings_from_wire({"interval": 7200}, SHOWN) == Policy(
        interval=7200, grace=600, waiting=600, reminders=(1800,)
    )
    assert settings_from_wire({"reminders": []}, SHOWN).reminders == ()
    assert settings_from_wire({}, SHOWN) == SHOWN


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"interval": "1h"}, "interval must be a whole number of seconds (up to 10 years)"),
        ({"grace": True}, "grace must be a whole number of seconds (up to 10 years)"),
        ({"waiting": MAX_DURATION + 1}, "waiting must be a whole number of seconds"),
        ({"reminders": 60}, f"reminders must be a list of seconds (at most {MAX_REMINDERS})"),
        ({"reminders": [60] * 33}, "reminders must be a list of seconds (at most 32)"),
        ({"reminders": [0]}, "each reminder must be a positive whole number of seconds"),
    ],
)
def test_a_bad_settings_change_says_what_is_wrong(request_: dict[str, Any], message: str) -> None:
    with pytest.raises(AfterwordError) as refused:
        settings_from_wire(request_, SHOWN)
    assert message in refused.value.message
