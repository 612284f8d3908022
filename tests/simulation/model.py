"""The oracle: an independent, simple account of which release causes have held.

It is fed only what the simulated people did and what the service answered them (a real
check-in accepted, a vote accepted, a duress credential used, a canary silent since...),
never the switch's stored state. From that it says whether a trigger or release the
service performs is justified, and by when a release must have happened.

Where the people cannot know whether an action took effect (the "process" died during
the request), the action is *maybe*: it may justify a release (the lenient side for "no
false release") and it may delay the deadline (the lenient side for "no lost release").

Votes: a certain abort spends the votes standing then (the machine clears them, and the
custodians are told to vote again); the K-th distinct vote after it is a new cause. A late
check-in that stops a missed release clears them too, but the people cannot tell from
its answer whether it stopped one, so the model keeps those votes standing: the lenient
side, it justifies at least every trigger the service may make.

Settings: one asked for at once is in force from then; one the answer calls pending
may be in force from the end of its cooling-off (or was dropped: a miss, a trigger); one
whose request's fate is unknown may be in force from then. Each check-in period counts
the interval of the settings that may be in force when it starts (the shortest for "no
false release", the longest for "no lost release"); grace and waiting, the shortest and
the longest of all settings that may ever have been in force.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from afterword.switch.policy import Policy


@dataclass
class CanaryModel:
    name: str
    interval: int
    grace: int
    trigger: bool
    last: int  # added, or last check-in through the normal link (certain)
    last_maybe: int  # the same, counting check-ins that may not have landed
    added_at: int
    certain: bool = True  # False: the request that added them may not have landed
    checkins: list[int] = field(default_factory=list)  # landed (either link)
    checkins_maybe: list[int] = field(default_factory=list)
    duress_at: list[int] = field(default_factory=list)  # duress link used (or maybe)
    duress_certain: list[int] = field(default_factory=list)

    def silences(self, lenient: bool) -> list[int]:
        """Instants a silence of interval + grace ran out (the alarm is due). Lenient: only
        check-ins known to have landed break a silence; strict: any that may have."""
        times = sorted({self.added_at, *self.checkins, *([] if lenient else self.checkins_maybe)})
        out = []
        for before, after in zip(times, [*times[1:], None], strict=True):
            alarm = before + self.interval + self.grace
            if after is None or after > alarm:
                out.append(alarm)
        return out


@dataclass
class SwitchModel:
    policy: Policy
    threshold: int
    armed_at: int
    server_share: bool  # the server holds a share (submitted by itself on release)
    humans_with_share: set[str]  # custodians who still hold a share they will submit
    # liveness: instants from which the next check-in is due one interval later
    alive: list[int] = field(default_factory=list)  # certain
    alive_maybe: list[int] = field(default_factory=list)  # might have landed
    pauses: list[tuple[int, int]] = field(default_factory=list)  # (at, until) certain
    pause_ended_seen: int = 0  # first observation of a pause's end (upper bound)
    aborts: list[int] = field(default_factory=list)  # certain real aborts
    aborts_maybe: list[int] = field(default_factory=list)
    deliberate: list[int] = field(default_factory=list)  # certain or maybe, both justify
    asked: list[int] = field(default_factory=list)  # releases asked for, through the wait
    duress: list[int] = field(default_factory=list)  # duress credential used (maybe too)
    duress_certain: list[int] = field(default_factory=list)
    votes: set[str] = field(default_factory=set)
    vote_causes: list[int] = field(default_factory=list)  # the K-th distinct vote landed
    vote_causes_maybe: list[int] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    canaries: list[CanaryModel] = field(default_factory=list)
    disarms: list[int] = field(default_factory=list)  # real disarm accepted (or maybe)
    # real settings asked for: (at, policy, how), how "now" (in force at once), "pending"
    # (the answer said so: in force, if at all, from the end of the cooling-off) or "maybe"
    settings: list[tuple[int, Policy, str]] = field(default_factory=list)

    # --- feeding it -----------------------------------------------------------------------

    def vote(self, label: str, at: int, certain: bool) -> None:
        if label in self.revoked or label in self.votes:
            return
        self.votes.add(label)
        if len(self.votes) >= self.threshold:
            (self.vote_causes if certain else self.vote_causes_maybe).append(at)

    def abort(self, at: int, certain: bool) -> None:
        """A real abort: certain, it spends the causes and the votes standing before it."""
        (self.aborts if certain else self.aborts_maybe).append(at)
        (self.alive if certain else self.alive_maybe).append(at)
        if certain:
            self.votes.clear()

    def change_settings(self, at: int, policy: Policy, how: str) -> None:
        self.settings.append((at, policy, how))

    # --- what it concludes ----------------------------------------------------------------

    def policies_at(self, t: int) -> list[Policy]:
        """The settings that may be in force at ``t``."""
        cooling = self.policy.cooling_off
        timeline = sorted(
            (at + (cooling if how == "pending" else 0), policy, how)
            for at, policy, how in self.settings
        )
        candidates = [self.policy]
        for effective, policy, how in timeline:
            if effective > t:
                break
            if how == "now":  # in force for certain (a pending one withdrawn or replaced)
                candidates = [policy]
            else:
                candidates.append(policy)
        return candidates

    def every_policy(self) -> list[Policy]:
        return [self.policy, *(policy for _, policy, _ in self.settings)]

    def told_spans(self, t: int) -> tuple[int, int]:
        """The longest interval + grace + waiting, and waiting, the custodians may have
        been told of by ``t``: the armed settings, or pending ones (or maybe ones) whose
        cooling-off is over. Settings in force at once must stay within max_pause of them."""
        told = [self.policy] + [  # (a request of unknown fate may have been a pending one)
            p for at, p, how in self.settings if how != "now" and at + p.cooling_off <= t
        ]
        return max(p.interval + p.grace + p.waiting for p in told), max(p.waiting for p in told)

    def grace(self, lenient: bool) -> int:
        graces = [p.grace for p in self.every_policy()]
        return min(graces) if lenient else max(graces)

    def waiting(self, lenient: bool) -> int:
        waits = [p.waiting for p in self.every_policy()]
        return min(waits) if lenient else max(waits)

    def interval_at(self, t: int, lenient: bool) -> int:
        intervals = [p.interval for p in self.policies_at(t)]
        return min(intervals) if lenient else max(intervals)

    def last_abort(self, lenient: bool) -> int:
        """Causes before the owner's last real abort are spent. Lenient: only certain ones
        count (an abort that may not have landed spends nothing)."""
        aborts = self.aborts if lenient else self.aborts + self.aborts_maybe
        return max(aborts, default=-1)

    def missed_from(self, lenient: bool) -> int:
        """The earliest instant the owner can be past deadline + grace. Lenient (for "no
        false release"): only check-ins known to have landed; strict (for the deadline by
        which a release is owed): every check-in that may have landed, and pauses ending
        when they were seen to end."""
        return self.next_due(lenient) + self.grace(lenient)

    def next_due(self, lenient: bool) -> int:
        """The next check-in due, at the earliest (lenient) or the latest it can be."""
        starts = [self.armed_at, *self.alive, *(self.alive_maybe if not lenient else [])]
        due = [s + self.interval_at(s, lenient) for s in starts]
        intervals = [p.interval for p in self.every_policy()]
        for at, until in self.pauses:  # the pause's end may meet any later settings
            if lenient:
                due.append(at + min(intervals))
            else:
                due.append(max(until, self.pause_ended_seen) + max(intervals))
        return max(due)

    def causes(self) -> list[tuple[str, int]]:
        """Every (cause, instant the trigger became justified), leniently, after the last
        certain abort. The instant a *release* becomes justified is this plus the
        waiting period, except for a deliberate release."""
        p = self.policy
        cut = self.last_abort(lenient=True)
        out: list[tuple[str, int]] = [("missed", self.missed_from(lenient=True))]
        out += [("deliberate", t) for t in self.deliberate]
        out += [("owner", t) for t in self.asked]
        out += [("duress", t + p.duress_delay) for t in self.duress]
        out += [("votes", t) for t in self.vote_causes + self.vote_causes_maybe]
        for c in self.canaries:
            if c.trigger:
                out += [("canary", t) for t in c.silences(lenient=True)]
                out += [("canary", t) for t in c.duress_at]
        return [(kind, t) for kind, t in out if kind == "missed" or t >= cut]

    def justified_trigger(self, at: int) -> list[str]:
        return sorted({k for k, t in self.causes() if t <= at})

    def justified_release(self, at: int) -> list[str]:
        wait = self.waiting(lenient=True)
        return sorted({k for k, t in self.causes() if t + (0 if k == "deliberate" else wait) <= at})

    def shares_available(self) -> int:
        return int(self.server_share) + len(self.humans_with_share)

    def cause_events_between(self, start: int, end: int) -> list[str]:
        """Certain trigger events in [start, end]: a disarm cannot complete across one."""
        out = [f"duress@{t}" for t in self.duress_certain if start <= t <= end]
        out += [f"votes@{t}" for t in self.vote_causes if start <= t <= end]
        for c in self.canaries:
            if c.trigger and c.certain:
                out += [f"canary-duress@{t}" for t in c.duress_certain if start <= t <= end]
                out += [f"canary-silent@{t}" for t in c.silences(False) if start <= t <= end]
        return out
