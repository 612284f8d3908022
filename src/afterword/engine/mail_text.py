"""What the switch says to whom: outbox messages for the machine's effects.

Ids are stable for the event they report (switch, what, when it began, who), so the same
event never becomes two different messages, and a delivery retry is the same message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from afterword.crypto.notice import describe_duration
from afterword.crypto.signing import fingerprint
from afterword.engine.contacts import Contacts
from afterword.store import repository as repo
from afterword.store.repository import Outgoing
from afterword.switch.machine import (
    Alert,
    Cause,
    Effect,
    NotifyCustodians,
    NotifyRecipients,
    Phase,
    RemindOwner,
    SwitchState,
    owner_view,
)
from afterword.switch.policy import Policy
from afterword.words import instant as when


def tag(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


CUSTODIAN_TEXT = {
    "triggered": (
        "Switch {switch} has triggered: {why}. Unless the owner stops it, the release begins "
        "at {release_at}. Nothing to do yet: you will be asked for your share then. If you "
        "know the owner is safe and free, tell them."
    ),
    "revoked": (
        "The owner of switch {switch} revoked a custodian: their votes no longer count. If "
        "you believe the owner is coerced, vote now."
    ),
    "submit": (
        "Switch {switch} is releasing. Please submit your share now: {submit}\n\n"
        "{missing} more share(s) are needed ({threshold} in all)."
    ),
    "aborted": (
        "The owner stopped the pending release of switch {switch}. Votes to release it that "
        "stood until now were cleared: if you still believe the owner is missing or coerced, "
        "vote again ({threshold} fresh votes trigger it again). Otherwise nothing to do."
    ),
    "canary-stopped": (
        "The pending release of switch {switch} was stopped: the protected person whose "
        "silence triggered it had checked in on time at another server of the switch, and "
        "this server heard of it late. Nothing to do."
    ),
    "disarming": (
        "The owner of switch {switch} is retiring it. After a cooling-off period (until "
        "{disarm_ends}) the server deletes its share and the dossier. If you believe the owner "
        "is coerced, vote now: {vote}"
    ),
    "disarm-cancelled": "Switch {switch} is no longer being retired: a check-in was missed.",
    "settings-pending": (
        "The owner of switch {switch} asked for settings that let it stay silent longer "
        "before a release: {settings}. They take effect at {settings_at}, after a cooling-off "
        "period; until then the settings in force stand. If you believe the owner is coerced "
        "(a long enough wait is as good as stopping the switch), vote now: {vote}"
    ),
    "settings-changed": (
        "The longer settings of switch {switch} are now in force, the cooling-off being over: "
        "{settings}."
    ),
    "settings-withdrawn": (
        "The owner of switch {switch} withdrew the longer settings pending; the settings in "
        "force are now: {settings}."
    ),
    "settings-cancelled": (
        "The longer settings pending on switch {switch} will not take effect: a check-in was "
        "missed."
    ),
    "disarmed": "Switch {switch} is retired: the server deleted its share and the dossier.",
    "released": "Switch {switch} has been released: {url}/r/{switch}",
}


WHY = {
    Cause.MISSED: "the owner missed their check-ins and the grace period has ended",
    Cause.DURESS: "the owner acted under duress (the owner's own screens do not show this)",
    Cause.VOTES: "enough custodians voted that the owner is missing or coerced",
    Cause.CANARY: "a person the owner protects fell silent or signalled duress",
    Cause.DELIBERATE: "the owner released it on purpose",
    Cause.OWNER: "the owner asked for the release, through the waiting period",
}
_STOLEN = (
    "If this was not you, your password or key is in someone else's hands: change it, and "
    "tell your custodians."
)
ALERT_TEXT = {
    "canary": (
        "Protected person {detail} on switch {switch}. They fell silent past their grace, "
        "or checked in under duress. Check on them."
    ),
    "new-client": (
        "Someone checked in to switch {switch} from a client this switch has never seen: "
        f"{{detail}}. {_STOLEN}"
    ),
    "new-network": (
        "Someone signed in to switch {switch} from a network this switch has never seen: "
        f"{{detail}}. {_STOLEN}"
    ),
    "peer-silent": (
        "Server {detail} of switch {switch} has not answered the switch's other servers for "
        "2 days or more. The switch goes on with the others, but one server fewer stands "
        "between you and a lost release: ask its operator, or arm the switch again with "
        "another server."
    ),
    "peer-forked": (
        "Server {detail} of switch {switch} signed two different histories of the "
        "switch's log: a later head of its log does not contain the one it signed before "
        "(it was rewritten, or restored from an old copy). Its other servers keep the head "
        "it signed first. Ask its operator what happened, and do not trust what that "
        "server shows of the switch."
    ),
    "peer-unproven": (
        "Server {detail} of switch {switch} has sent heads of the switch's log for 2 days "
        "or more without proving that they contain the head it signed before, as every "
        "server proves within an hour or two. It may have rewritten the switch's history, "
        "run an older version of afterword, or not hear from the other servers. Ask its "
        "operator, and do not trust what that server shows of the switch until it proves "
        "its log again."
    ),
}
PEER_ALERTS = ("peer-silent", "peer-forked", "peer-unproven")  # to the custodians too
ALERT_SUBJECT = {
    "new-network": "afterword: sign-in to switch {switch} from a new network",
    "peer-silent": "afterword: a server of switch {switch} is silent",
    "peer-forked": "afterword: a server of switch {switch} rewrote its log",
    "peer-unproven": "afterword: a server of switch {switch} does not prove its log",
}


def _alert(switch: str, alert: Alert, contacts: Contacts, now: int) -> list[Outgoing]:
    """Canary alarms and silent servers reach the owner and the custodians; new-client and
    new-network alerts the owner's channels, and the custodians if the owner asked for that."""
    to = list(contacts.owner)
    if alert.what in ("canary", *PEER_ALERTS) or contacts.alert_custodians:
        to += [address for _, address in sorted(contacts.custodians.items())]
    text = ALERT_TEXT.get(alert.what, "{detail}").format(switch=switch, detail=alert.detail)
    subject = ALERT_SUBJECT.get(alert.what, "afterword: {what} alert on switch {switch}")
    return [
        Outgoing(
            f"alert-{alert.what}-{switch}-{now}-{tag(alert.detail)}-{tag(address)}",
            address,
            subject.format(what=alert.what, switch=switch),
            text + "\n",
            {"switch": switch, "event": f"alert-{alert.what}"},
        )
        for address in dict.fromkeys(to)
    ]


HOW = {
    # what a custodian does, in the words for what they hold: a card's words and code are
    # typed on the custodian page; an envelope is opened with their own age key by the CLI
    ("submit", "paper"): "open {url}/s/{switch} and type the words from your card.",
    ("submit", "age"): (
        "run\n\n  afterword custodian submit YOUR-ENVELOPE.age --identity YOUR-KEY --server {url}"
    ),
    ("vote", "paper"): "open {url}/s/{switch} and enter the code on your card.",
    ("vote", "age"): (
        "`afterword custodian vote YOUR-ENVELOPE.age --identity YOUR-KEY --server {url}`."
    ),
}


def render(
    switch: str,
    state: SwitchState,
    effects: Sequence[Effect],
    contacts: Contacts,
    public_url: str,
    now: int = 0,
    notice: dict[str, Any] | None = None,
) -> list[Outgoing]:
    """The messages ``effects`` send; ``notice``: the switch's signed notice, which the
    release mail quotes (who sealed it, how many documents, on which conditions)."""
    out: list[Outgoing] = []
    for effect in effects:
        if isinstance(effect, RemindOwner):
            out += _remind(switch, owner_view(state), effect, contacts, public_url)
        elif isinstance(effect, NotifyCustodians):
            fields = {
                "switch": switch,
                "release_at": when(state.release_at),
                "disarm_ends": when(state.disarm_ends),
                "settings": _settings(state.settings_pending or state.policy),
                "settings_at": when(state.settings_at),
                "url": public_url,
                "threshold": state.threshold,
                "missing": max(state.threshold - len(state.shares), 1),
                "why": WHY[state.cause] if state.cause is not None else "",
            }
            texts = {
                kind: CUSTODIAN_TEXT[effect.what].format(
                    **fields,
                    submit=HOW["submit", kind].format(**fields),
                    vote=HOW["vote", kind].format(**fields),
                )
                for kind in ("paper", "age")
            }
            # one a phase, which its start names; settings change within one: their instant;
            # a revoke leaves the phase as it was: its count tells one revoke from the next
            # (the id is the outbox's idempotency key; a second revoke must not collide)
            stamp = now if effect.what.startswith("settings") else state.since
            what = f"revoked{len(state.revoked)}" if effect.what == "revoked" else effect.what
            for label, to in sorted(contacts.custodians.items()):
                text = texts["paper" if label in contacts.paper else "age"]
                out.append(
                    Outgoing(
                        f"custodians-{what}-{switch}-{stamp}-{label}",
                        to,
                        f"afterword: switch {switch} {effect.what}",
                        f"Dear {label},\n\n{text}\n",
                        {"switch": switch, "event": f"custodians-{effect.what}"},
                    )
                )
        elif isinstance(effect, Alert):
            out += _alert(switch, effect, contacts, now)
        elif isinstance(effect, NotifyRecipients):
            page = f"{public_url}/r/{switch}"
            subject, text = release_text(switch, notice or {}, page)
            for to in contacts.recipients:
                out.append(
                    Outgoing(
                        f"release-{switch}-{tag(to)}",
                        to,
                        subject,
                        text,
                        {"switch": switch, "event": "released", "url": page},
                    )
                )
    return out


def release_text(switch: str, notice: dict[str, Any], page: str) -> tuple[str, str]:
    """The release mail's subject and text, for a recipient who has never heard of
    afterword: who sealed it (the owner key's fingerprint, as on the notice they may have
    been shown), what and how much, on which conditions (the notice's own words), where
    it is and how to check it. One link: the release page carries the files. Why it was
    released is the statement's to say, not the mail's: every server of a switch sends
    each recipient the same message (one Message-ID, one text, whichever server's
    arrives), and two servers may have released for different causes (one heard the
    duress check-in, one counted the owner's silence), so nothing here depends on the
    server that sends it: only the notice and the switch."""
    key = str(notice.get("owner_key", ""))
    owner = f"the owner of key {fingerprint(key)}" if key else "its owner"
    count = int(notice.get("count", 0))
    documents = f"{count} document{'s' if count != 1 else ''}"
    conditions = str(notice.get("conditions") or "").strip()
    said = (
        "The conditions, in the owner's words in the signed notice:\n\n"
        + "\n".join(f"  {line}" for line in conditions.splitlines())
        if conditions
        else "The signed notice gives no conditions in the owner's words."
    )
    policy = notice.get("policy")
    if policy:
        said += (
            f"\n\nThe notice promised a check-in every {describe_duration(policy['interval'])},"
            f" {describe_duration(policy.get('grace', 0))} of grace and"
            f" {describe_duration(policy.get('waiting', 0))} of waiting before a release."
        )
    text = (
        f"A sealed dossier of {documents}, sealed by {owner}, has been released to you "
        f"(switch {switch}).\n\n"
        "Why now: the release page's signed statement says why and when this server "
        "released it.\n\n"
        f"{said}\n\n"
        f"Get it, with the key to open it: {page}\n\n"
        "How to check it: download the five files from that page into one folder and run "
        "`afterword verify FOLDER --open OUT` (it checks every signature and every "
        "document against the signed manifest), or open it with stock tools: "
        "`age -d -i key dossier.age | tar x`. Compare the fingerprint above with the one on "
        "the notice you were shown.\n"
    )
    return f"Released to you: {documents} sealed by {owner}", text


def _settings(policy: Policy) -> str:
    return (
        f"a check-in every {describe_duration(policy.interval)}, then "
        f"{describe_duration(policy.grace)} of grace and a waiting period of "
        f"{describe_duration(policy.waiting)} before the release"
    )


def _remind(
    switch: str, state: SwitchState, effect: RemindOwner, contacts: Contacts, public_url: str
) -> list[Outgoing]:
    """A reminder to the owner, rendered against what the owner is shown (``state`` is
    the decoy after duress: the mail must read as the real action's would have)."""
    out: list[Outgoing] = []
    kind = "overdue" if effect.overdue else "due"
    subject = (
        f"afterword: check-in OVERDUE (was due {when(effect.deadline)})"
        if effect.overdue
        else f"afterword: check-in due by {when(effect.deadline)}"
    )
    body = (
        f"Your switch {switch} needs a check-in. Check in with:\n\n"
        f"  afterword checkin --server {public_url} --owner-key YOUR-KEY "
        f"--switch {switch}\n"
    )
    if contacts.password:
        body += f'\nor sign in at {public_url}/login and press "I\'m here".\n'
    if state.phase is Phase.TRIGGERED:
        subject = f"afterword: your switch TRIGGERED; release at {when(state.release_at)}"
        body += (
            f"\nIt triggered because the check-in due {when(effect.deadline)} never "
            f"came. A check-in or `afterword abort` before {when(state.release_at)} "
            "stops the release; your custodians have been told.\n"
        )
    elif effect.overdue:
        body += f"\nIf you do not, the switch triggers at {when(state.grace_ends)}.\n"
    latest = max(state.reminded, default=state.since)
    for to in contacts.owner:
        out.append(
            Outgoing(
                f"remind-{switch}-{effect.deadline}-{kind}-{latest}-{tag(to)}",
                to,
                subject,
                body,
                {
                    "switch": switch,
                    "event": f"reminder-{kind}",
                    "deadline": effect.deadline,
                },
            )
        )
    return out


def address_digest(to: str) -> str:
    """A short stable tag of an address, for the ids of messages to it."""
    return hashlib.sha256(to.encode()).hexdigest()[:12]


def custodian_mail(
    row: repo.Switch,
    kind: str,
    subject: str,
    body: str,
    data: dict[str, Any],
    skip: Sequence[str] = (),
) -> list[repo.Outgoing]:
    """One message to each custodian of a switch with an address (but those in ``skip``,
    told otherwise), ids stable for this switch's audit position: a retried pass does
    not mail twice."""
    custodians = dict(json.loads(row.contacts).get("custodians", {}))
    return [
        repo.Outgoing(
            f"{kind}-{row.id}-{row.audit_seq}-{address_digest(to)}", to, subject, body, data
        )
        for to in custodians.values()
        if to and to not in skip
    ]


def drill_marked(messages: list[Outgoing], drill_of: str) -> list[Outgoing]:
    """A drill's mail says so, first thing: in the subject and at the top of the body."""
    return [
        dataclasses.replace(
            m,
            subject=f"[DRILL] {m.subject}",
            body=f"THIS IS A DRILL of switch {drill_of}: nothing real was released.\n\n{m.body}",
        )
        for m in messages
    ]


def breaker_mail(operator: Sequence[str], held: list[str], why: str, now: int) -> list[Outgoing]:
    """The breaker's summary to the operator: how many switches it held in a pass, and why
    (their custodians get :func:`held_mail`)."""
    return [
        Outgoing(
            f"breaker-{now}-{address_digest(to)}",
            to,
            "afterword: mass trigger held",
            f"{len(held)} switches would have triggered at {now}: {why}. "
            "They are held, and their custodians told. Check the clock, "
            "then: afterword operator release-held",
            {"held": held},
        )
        for to in operator
    ]


def held_mail(row: repo.Switch, why: str, now: int, public_url: str) -> list[Outgoing]:
    """Mail to a held switch's custodians: what happened, and that their share may
    still be needed (the operator has the summary of the whole pass)."""
    return custodian_mail(
        row,
        "held",
        f"afterword: switch {row.id} is held",
        f"Switch {row.id} would have triggered at {now}, but it is held: {why}, and a "
        "jumped clock must not release anything early. Nothing was released. The "
        "operator is asked to check the clock and let it go on "
        "(afterword operator release-held). Keep your share: it may still be needed. "
        f"The custodian page: {public_url}/s/{row.id}",
        {"switch": row.id, "held": now},
    )


def quarantine_mail(
    row: repo.Switch,
    phase: Phase,
    reason: str,
    what: str,
    now: int,
    public_url: str,
    operator: Sequence[str],
) -> list[Outgoing]:
    """A quarantined switch, told to the operator (with what to check and the command
    that lets it go on) and to its custodians (keep your share). ``reason``: the error's
    message; ``what``: its type. Ids stable for the audit position: a retried pass does
    not mail twice."""
    tail = (
        "Your share may still be needed: keep it, and ask the server's operator or the "
        f"owner. The custodian page: {public_url}/s/{row.id}"
    )
    subject = f"afterword: switch {row.id} is quarantined"
    body = (
        f"Switch {row.id} could not move on from {phase.value} at {now}: "
        f"{reason}.\nIt is taken out of the scheduler so that it delays no other "
        "switch; nothing was released. "
    )
    data = {"switch": row.id, "quarantined": now, "error": what}
    check = "Check its custodians.json and server shares against the bundle, then: "
    return [
        Outgoing(
            f"quarantine-{row.id}-{row.audit_seq}-{address_digest(to)}",
            to,
            subject,
            body + f"{check}afterword operator unquarantine {row.id}",
            data,
        )
        for to in operator
    ] + custodian_mail(row, "quarantine", subject, body + tail, data, operator)
