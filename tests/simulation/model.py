"""The oracle: an independent, simple account of which release causes have held.

It is fed only what the simulated people did and what the service answered them (a real
check-in accepted, a vote accepted, a duress credential used, a canary silent since...),
never the switch's stored state. From that it says whether a trigger or release the
service performs is justified, and by when a release must have happened.

Where the people cannot know whether an action took effect (the "process" died during
the request), the action is *maybe*: it may justify a release (the lenient side for "no
false release") and it may delay the deadline (the lenient side for "no lost release").
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
    duress: list[int] = field(default_factory=list)  # duress credential used (maybe too)
    duress_certain: list[int] = field(default_factory=list)
    votes: set[str] = field(default_factory=set)
    vote_causes: list[int] = field(default_factory=list)  # the K-th distinct vote landed
    vote_causes_maybe: list[int] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    canaries: list[CanaryModel] = field(default_factory=list)
    disarms: list[int] = field(default_factory=list)  # real disarm accepted (or maybe)

    # --- feeding it -----------------------------------------------------------------------

    def vote(self, label: str, at: int, certain: bool) -> None:
        if label in self.revoked or label in self.votes:
            return
        self.votes.add(label)
        if len(self.votes) >= self.threshold:
            (self.vote_causes if certain else self.vote_causes_maybe).append(at)

    # --- what it concludes ----------------------------------------------------------------

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
        p = self.policy
        starts = [self.armed_at, *self.alive, *(self.alive_maybe if not lenient else [])]
        due = [s + p.interval for s in starts]
        for at, until in self.pauses:
            due.append(at + p.interval if lenient else max(until, self.pause_ended_seen))
            if not lenient:
                due[-1] += p.interval
        return max(due) + p.grace

    def causes(self) -> list[tuple[str, int]]:
        """Every (cause, instant the trigger became justified), leniently, after the last
        certain abort. The instant a *release* becomes justified is this plus the
        waiting period, except for a deliberate release."""
        p = self.policy
        cut = self.last_abort(lenient=True)
        out: list[tuple[str, int]] = [("missed", self.missed_from(lenient=True))]
        out += [("deliberate", t) for t in self.deliberate]
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
        wait = self.policy.waiting
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
