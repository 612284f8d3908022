"""The engine: the one place events reach switches, for the web API and the worker alike.

Each public method is one transaction: lock the switch, ``decide``, carry out the effects
that are database writes (audit entries, outbox messages, server shares, the release
itself), commit. Mail and webhooks leave later, from the outbox (``dispatch``), so a crash
anywhere either loses nothing or repeats a message under the same id.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyotp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from afterword.crypto.audit import export_log
from afterword.crypto.bundle import CUSTODIANS_KIND, LABEL
from afterword.crypto.dossier import SWITCH_ID
from afterword.crypto.encoding import (
    age_identity_from_secret,
    age_recipient_of,
    b64decode,
    canonical_json,
)
from afterword.crypto.manifest import check_public_manifest
from afterword.crypto.release import release_statement_body
from afterword.crypto.shares import (
    ShareEnvelope,
    combine_shares,
    commitment,
    normalize_mnemonic,
)
from afterword.crypto.signing import (
    REQUEST_KIND,
    SERVER_KEY,
    Document,
    parse_public_key,
    sign_document,
    verify_document,
)
from afterword.crypto.verify import check_against_notice
from afterword.delivery import Message, PermanentError, Sender, TransientError
from afterword.engine.keys import ServerKeys
from afterword.engine.messages import Contacts, render
from afterword.engine.passwords import check_password, hash_password
from afterword.errors import AfterwordError, FormatError, ShareError
from afterword.store import Store
from afterword.store import repository as repo
from afterword.store.models import (
    OutboxRow,
    ReleaseRow,
    ServerEnvelopeRow,
    ShareRow,
    SwitchRow,
)
from afterword.switch.machine import (
    Abort,
    Audit,
    CheckIn,
    Effect,
    Event,
    Pause,
    Phase,
    PublishRelease,
    Rejected,
    ReleaseNow,
    Resume,
    ShareAccepted,
    SubmitServerShares,
    SwitchState,
    Tick,
    arm,
    decide,
)
from afterword.switch.policy import Policy

log = logging.getLogger("afterword.engine")

NONCE_TTL = 300
LEASE = 300  # seconds a claimed outbox row is left alone while it is being sent
MAX_BACKOFF = 6 * 3600


class NotFound(AfterwordError):
    """No such switch (or release)."""


class Forbidden(AfterwordError):
    """The request is not authorized (bad signature, used or expired nonce)."""


class Conflict(AfterwordError):
    """The switch's state does not allow this now."""


@dataclass(frozen=True)
class Config:
    data_dir: Path
    public_url: str = "http://127.0.0.1:8000"
    min_duration: int = 3600
    breaker_threshold: int = 100  # more triggers than this in one tick are held
    operator: Sequence[str] = ()  # where breaker alerts go
    batch: int = 500


@dataclass
class TickReport:
    processed: int = 0
    triggered: int = 0
    held: list[str] = field(default_factory=list)


def now_seconds() -> int:
    return int(time.time())


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a tick holds its batch: every object a tick makes
    stays alive until it ends, so the collections its allocations set off (a fifth of its
    CPU time, measured) found nothing to free. Reference counting still frees as usual, and
    the collector runs again afterwards; if it was off already, it stays off."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Engine:
    def __init__(
        self,
        store: Store,
        keys: ServerKeys,
        config: Config,
        clock: Callable[[], int] = now_seconds,
    ) -> None:
        self.store = store
        self.keys = keys
        self.config = config
        self.clock = clock
        (config.data_dir / "dossiers").mkdir(parents=True, exist_ok=True)

    # --- arming -------------------------------------------------------------------------

    def dossier_path(self, switch_id: str) -> Path:
        return self.config.data_dir / "dossiers" / f"{switch_id}.age"

    def arm(
        self,
        *,
        manifest: Document,
        notice: Document,
        custodians: Document,
        dossier: BinaryIO,
        policy: Policy,
        contacts: Contacts,
        server_envelopes: dict[str, bytes],
        password: str | None = None,
        totp: bool = False,
    ) -> dict[str, Any]:
        """Register a sealed bundle as a switch. Everything is checked before anything
        is kept: signatures, that the files belong together, the dossier's size and header."""
        if totp and password is None:
            raise FormatError("TOTP needs a check-in password", "set a password too")
        manifest = verify_document(manifest, "manifest")
        check_public_manifest(manifest)
        owner = manifest["owner_key"]
        switch_id = _check_switch_id(manifest.get("switch"))
        dossier_info = _check_dossier_info(manifest.get("dossier"))
        notice = verify_document(notice, "notice", expected_key=owner)
        check_against_notice(manifest, notice, "count", subject="the manifest")
        roster = verify_document(custodians, CUSTODIANS_KIND.split("/")[0], expected_key=owner)
        if roster.get("switch") != switch_id:
            raise FormatError("custodians.json belongs to another switch")
        threshold, labels = _check_roster(roster)
        policy.check_minimum(self.config.min_duration)
        for label in contacts.custodians:
            if label not in labels:
                raise FormatError(f"no custodian is labelled {label!r} in custodians.json")
        for label, blob in server_envelopes.items():
            self._check_server_envelope(switch_id, label, blob, labels)
        path = self.dossier_path(switch_id)
        # a name of its own per upload: two arms of one bundle never touch each other's file
        partial = path.with_name(f".{switch_id}.{secrets.token_hex(8)}.partial")
        try:
            sha, size, header_ok = _receive(dossier, partial, dossier_info)
            if size != dossier_info["size"] or not header_ok:
                raise FormatError(
                    "the uploaded dossier is not the one the manifest describes",
                    "upload dossier.age from the same bundle",
                )
            password_hash = hash_password(password) if password is not None else None
            totp_secret = pyotp.random_base32() if totp else None
            now = self.clock()
            state, effects = arm(policy, threshold, now)
            try:
                with self.store.transaction() as s:
                    if repo.get_switch(s, switch_id) is not None:
                        raise Conflict(f"switch {switch_id} is already armed on this server")
                    row = repo.create_switch(
                        s,
                        switch_id=switch_id,
                        owner_key=owner,
                        state=state,
                        effects=effects,
                        now=now,
                        manifest=json.dumps(manifest),
                        notice=json.dumps(notice),
                        custodians=json.dumps(roster),
                        contacts={
                            "owner": list(contacts.owner),
                            "custodians": dict(contacts.custodians),
                            "recipients": list(contacts.recipients),
                        },
                        dossier_sha256=sha,
                        dossier_size=size,
                    )  # flushed: a concurrent arm of the same switch fails here, before the rename
                    row.password_hash, row.totp_secret = password_hash, totp_secret
                    for label, blob in server_envelopes.items():
                        s.add(
                            ServerEnvelopeRow(switch_id=switch_id, custodian=label, envelope=blob)
                        )
                    s.flush()
                    partial.rename(path)  # in place before the switch exists for anyone else
            except IntegrityError as exc:  # armed meanwhile, by another request
                raise Conflict(f"switch {switch_id} is already armed on this server") from exc
        finally:
            partial.unlink(missing_ok=True)
        status = self.status(switch_id)
        if totp_secret is not None:  # shown once, for the owner's authenticator app
            status["totp_uri"] = pyotp.TOTP(totp_secret).provisioning_uri(
                name=switch_id, issuer_name="afterword"
            )
        return status

    def _check_server_envelope(
        self, switch_id: str, label: str, blob: bytes, labels: dict[str, Any]
    ) -> None:
        if label not in labels:
            raise FormatError(f"no custodian is labelled {label!r} in custodians.json")
        try:
            envelope = ShareEnvelope.from_json(json.loads(self.keys.decrypt(blob)))
        except Exception as exc:
            raise FormatError(
                f"the envelope for {label!r} does not open with this server's key",
                "seal it for the recipient at /.well-known/afterword",
            ) from exc
        if (
            envelope.switch != switch_id
            or commitment(envelope.mnemonic) != labels[label]["commitment"]
        ):
            raise FormatError(f"the envelope for {label!r} is not {label}'s share of this switch")

    # --- owner requests -----------------------------------------------------------------

    def challenge(self, switch_id: str) -> dict[str, Any]:
        now = self.clock()
        nonce = secrets.token_hex(16)
        with self.store.transaction() as s:
            if not repo.add_nonce(s, switch_id, nonce, now + NONCE_TTL):
                raise NotFound(f"no switch {switch_id} on this server")
        return {"switch": switch_id, "nonce": nonce, "expires_at": now + NONCE_TTL}

    def owner_request(self, switch_id: str, request: Document, client: str = "") -> dict[str, Any]:
        """A signed owner action: checkin, pause (until), resume, abort, release, status, audit.

        One transaction: the nonce is spent in it, and a request refused by the switch's
        state (409, 400) still spends its nonce and can never be replayed later, when the
        state would allow it. Refusals come before the action writes anything (the request
        is read, the machine decides), except in a release, which can be refused after
        writing (the server's shares do not rebuild the key): that runs in a savepoint, so
        its writes are undone and the spent nonce is kept.
        """
        action = request.get("action")
        now = self.clock()
        refused: AfterwordError | None = None
        view: dict[str, Any] = {}
        with self.store.transaction() as s:
            row = self._row(s, switch_id, lock=True, documents=False)
            self._authorize(s, row, request, now)
            try:
                event = _owner_event(action, request, client)
                if event is None:  # read-only, but signed like any other owner request
                    state = repo.state_of(row)
                else:
                    new, effects = self._decide(row, event, now)
                    if any(isinstance(e, SubmitServerShares | PublishRelease) for e in effects):
                        with s.begin_nested():
                            state = self._carry_out(s, row, new, effects, now)
                    else:
                        state = self._carry_out(s, row, new, effects, now)
                view = self._view(s, row, state, detail=action == "status")
            except AfterwordError as exc:
                refused = exc
        if refused is not None:
            raise refused
        if action == "audit":
            return self.audit_export(switch_id)
        return view

    def checkin_password(
        self, switch_id: str, password: str, code: str | None = None, client: str = ""
    ) -> dict[str, Any]:
        """Check in with the switch's password (and TOTP code, if it has one)."""
        now = self.clock()
        with self.store.transaction() as s:
            row = self._row(s, switch_id, lock=True)
            ok = check_password(password, row.password_hash)  # always does the full work
            if row.totp_secret is not None:
                ok = (
                    ok
                    and code is not None
                    and pyotp.TOTP(row.totp_secret).verify(code, for_time=now, valid_window=1)
                )
            if ok:
                method = "password+totp" if row.totp_secret else "password"
                view = self._view(s, row, self._apply(s, row, CheckIn(method, client), now),
                                  detail=False)  # fmt: skip
            else:  # logged, and committed: a stolen password in use is visible
                repo.record(
                    s, row, repo.state_of(row), [Audit("checkin-refused", client[:80])], now
                )
        if not ok:
            raise Forbidden("wrong password or code", "check-in refused; it was logged")
        return view

    def _authorize(self, s: Session, row: SwitchRow, request: Document, now: int) -> None:
        signature = request.get("signature")
        body = {k: v for k, v in request.items() if k != "signature"}
        if body.get("afterword") != REQUEST_KIND or body.get("switch") != row.id:
            raise Forbidden("the request is not for this switch")
        try:
            parse_public_key(row.owner_key).verify(
                b64decode(str(signature), what="the signature"), canonical_json(body)
            )
        except Exception as exc:
            raise Forbidden("the request's signature does not verify with the owner key") from exc
        text = body.get("nonce")
        if not isinstance(text, str) or not _NONCE.fullmatch(text):
            raise Forbidden("the nonce is malformed", "ask for a new challenge")
        if not repo.spend_nonce(s, row.id, text, now):
            raise Forbidden("the nonce is unknown, used or expired", "ask for a new challenge")

    # --- custodians ---------------------------------------------------------------------

    def submit_share(self, switch_id: str, mnemonic: str) -> dict[str, Any]:
        """A custodian's share: checked against its commitment before anything is kept."""
        words = normalize_mnemonic(mnemonic)
        digest = commitment(words)
        now = self.clock()
        with self.store.transaction() as s:
            row = self._row(s, switch_id, lock=True)
            roster = json.loads(row.custodians)
            label = next(
                (c["label"] for c in roster["custodians"] if c["commitment"] == digest), None
            )
            if label is None:  # counted in the log (committed), the share itself not kept
                repo.record(s, row, repo.state_of(row), [Audit("share-refused", "no match")], now)
            else:
                self._store_share(s, switch_id, label, words, now)
                self._apply(s, row, ShareAccepted(label), now)
        if label is None:
            raise ShareError(
                "this share is not one of this switch's shares",
                "check that it is your share for this switch",
            )
        return self.status(switch_id)

    def _store_share(self, s: Session, switch_id: str, label: str, words: str, now: int) -> None:
        if s.get(ShareRow, (switch_id, label)) is None:
            sealed = self.keys.encrypt(words.encode())
            s.add(ShareRow(switch_id=switch_id, custodian=label, sealed=sealed, submitted_at=now))

    # --- the machine, and effects that are database writes ------------------------------

    def _apply(self, s: Session, row: SwitchRow, event: Event, now: int) -> SwitchState:
        new, effects = self._decide(row, event, now)
        return self._carry_out(s, row, new, effects, now)

    def _decide(self, row: SwitchRow, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
        """The machine's decision for this switch (nothing written yet); a refusal is a 409."""
        try:
            return decide(repo.state_of(row), event, now)
        except Rejected as exc:
            raise Conflict(str(exc)) from exc

    def _carry_out(
        self, s: Session, row: SwitchRow, new: SwitchState, effects: list[Effect], now: int
    ) -> SwitchState:
        """Store a decided transition with the effects that are database writes."""
        transition = self._transition(s, row, new, effects, now)
        repo.record_many(s, [transition], now)
        return transition.state

    def _transition(
        self, s: Session, row: SwitchRow, new: SwitchState, effects: list[Effect], now: int
    ) -> repo.Transition:
        """Carry out the effects that need this switch's own rows (the server's shares, the
        release) and render its messages: what is left to store is a ``Transition``."""
        effects = list(effects)
        for effect in list(effects):
            if isinstance(effect, SubmitServerShares):
                new, more = self._submit_server_shares(s, row.id, new, now)
                effects += more
        if any(isinstance(e, PublishRelease) for e in effects):
            self._publish(s, row, new, now)
        contacts = json.loads(row.contacts)
        messages = render(
            row.id,
            new,
            effects,
            Contacts(
                contacts.get("owner", []),
                contacts.get("custodians", {}),
                contacts.get("recipients", []),
            ),
            self.config.public_url,
        )
        return repo.Transition(row, new, effects, messages)

    def _submit_server_shares(
        self, s: Session, switch_id: str, state: SwitchState, now: int
    ) -> tuple[SwitchState, list[Effect]]:
        effects: list[Effect] = []
        envelopes = s.query(ServerEnvelopeRow).filter_by(switch_id=switch_id).all()
        for row in envelopes:
            envelope = ShareEnvelope.from_json(json.loads(self.keys.decrypt(row.envelope)))
            self._store_share(s, switch_id, row.custodian, envelope.mnemonic, now)
            state, more = decide(state, ShareAccepted(row.custodian), now)
            effects += more
        return state, effects

    def _publish(self, s: Session, row: SwitchRow, state: SwitchState, now: int) -> None:
        """Rebuild the key, check it opens this dossier, sign the statement, publish."""
        if s.get(ReleaseRow, row.id) is not None:
            return
        shares = s.query(ShareRow).filter_by(switch_id=row.id).all()
        words = [self.keys.decrypt(r.sealed).decode() for r in shares]
        identity = age_identity_from_secret(combine_shares(words))
        manifest = json.loads(row.manifest)
        triggered_at = state.since if state.cause else now
        body = release_statement_body(
            switch=row.id,
            cause=str(state.cause),
            triggered_at=min(triggered_at, now),
            released_at=now,
            custodians=sorted(state.shares),
            manifest=manifest,
            dossier_recipient=age_recipient_of(identity),
            server_url=self.config.public_url,
        )
        statement = sign_document(body, self.keys.signing, key_field=SERVER_KEY)
        s.add(
            ReleaseRow(
                switch_id=row.id,
                identity=identity,
                statement=json.dumps(statement),
                published_at=now,
            )
        )
        # the shares did their job; the key is public now, the words need not stay
        for r in shares:
            s.delete(r)

    # --- the scheduler ------------------------------------------------------------------

    def tick(self) -> TickReport:
        """One scheduler pass over due switches, with the mass-trigger breaker."""
        now = self.clock()
        report = TickReport()
        with _gc_paused(), self.store.transaction() as s:
            rows = repo.claim_due(s, now, self.config.batch)
            # each switch is decided once: the breaker counts those decisions, and the
            # ones it does not hold are stored as they are
            planned = []
            for row in rows:
                old = repo.state_of(row)
                planned.append((row, old, *decide(old, Tick(), now)))
            would_trigger = [
                row
                for row, old, new, _ in planned
                if new.phase in (Phase.TRIGGERED, Phase.RELEASING) and old.phase is not new.phase
            ]
            hold = len(would_trigger) > self.config.breaker_threshold
            held_ids = {row.id for row in would_trigger} if hold else set()
            transitions = []
            for row, old, new, effects in planned:
                if row.id in held_ids:
                    row.held = True
                    why = f"{len(would_trigger)} switches would trigger at once"
                    transitions.append(repo.Transition(row, old, [Audit("held", why)]))
                    continue
                transition = self._transition(s, row, new, effects, now)
                transitions.append(transition)
                report.processed += 1
                report.triggered += transition.state.phase is Phase.TRIGGERED
            # the whole batch in a few statements, in this one transaction
            repo.record_many(s, transitions, now)
            if hold:
                report.held = sorted(held_ids)
                log.error(
                    "breaker: %d switches would trigger at once; held for the operator",
                    len(held_ids),
                )
                for to in self.config.operator:
                    repo.enqueue(
                        s,
                        rows[0].id,
                        repo.Outgoing(
                            f"breaker-{now}-{hashlib.sha256(to.encode()).hexdigest()[:12]}",
                            to,
                            "afterword: mass trigger held",
                            f"{len(held_ids)} switches would have triggered at {now}. They are "
                            "held. Check the clock, then: afterword operator release-held",
                            {"held": report.held},
                        ),
                        now,
                    )
        return report

    def release_held(self) -> int:
        """The operator confirms the clock is right: held switches move on now, past the
        breaker (which would otherwise hold the same crowd again on the next tick)."""
        now = self.clock()
        with self.store.transaction() as s:
            rows = s.query(SwitchRow).filter_by(held=True).with_for_update().all()
            for row in rows:
                row.held = False
                repo.record(s, row, repo.state_of(row), [Audit("unheld", "by the operator")], now)
                self._apply(s, row, Tick(), now)
            return len(rows)

    # --- the outbox ---------------------------------------------------------------------

    def dispatch(self, sender: Sender, limit: int = 50) -> int:
        """Send due outbox messages; lease them first so no send happens inside a lock."""
        now = self.clock()
        with self.store.transaction() as s:
            rows = repo.claim_outbox(s, now, limit)
            leased = [(r.id, _message(r)) for r in rows]
            for r in rows:
                r.attempts += 1
                r.next_attempt_at = now + LEASE
        sent = 0
        for message_id, message in leased:
            error: Exception | None = None
            try:
                sender.send(message)
            except (TransientError, PermanentError) as exc:
                error = exc
            except Exception as exc:  # a bug in a sender: retry later, like a transient error
                log.exception("sending message %s failed unexpectedly", message_id)
                error = TransientError(
                    f"unexpected {exc.__class__.__name__}", message_id=message_id
                )
            with self.store.transaction() as s:
                done = s.get(OutboxRow, message_id)
                assert done is not None
                if error is None:
                    done.delivered_at, done.next_attempt_at = self.clock(), None
                    done.last_error = None
                    sent += 1
                elif isinstance(error, PermanentError):
                    done.next_attempt_at, done.last_error = None, f"permanent: {error}"
                    log.error("gave up on message %s: %s", message_id, error)
                else:
                    delay = min(MAX_BACKOFF, 30 * 2 ** min(done.attempts, 20))
                    done.next_attempt_at, done.last_error = self.clock() + delay, str(error)
        return sent

    # --- views --------------------------------------------------------------------------

    def _row(
        self, s: Session, switch_id: str, *, lock: bool = False, documents: bool = True
    ) -> SwitchRow:
        row = repo.get_switch(s, switch_id, lock=lock, documents=documents)
        if row is None:
            raise NotFound(f"no switch {switch_id} on this server")
        return row

    def status(self, switch_id: str) -> dict[str, Any]:
        """The full view: state, times, shares, last check-ins and the audit log."""
        with self.store.transaction() as s:
            row = self._row(s, switch_id)
            return self._view(s, row, repo.state_of(row), detail=True)

    def _view(
        self, s: Session, row: SwitchRow, state: SwitchState, *, detail: bool
    ) -> dict[str, Any]:
        """What a switch looks like to its owner; ``detail`` adds the log (one more read)."""
        view: dict[str, Any] = {
            "switch": row.id,
            "state": state.phase.value,
            "deadline": state.deadline if state.phase in (Phase.ARMED, Phase.OVERDUE) else None,
            "grace_ends": state.grace_ends if state.phase is Phase.OVERDUE else None,
            "release_at": state.release_at if state.phase is Phase.TRIGGERED else None,
            "paused_until": state.paused_until if state.phase is Phase.PAUSED else None,
            "cause": state.cause.value if state.cause else None,
            "threshold": state.threshold,
            "shares": len(state.shares),
            "held": row.held,
            "next_event_at": state.next_event_at,
        }
        if detail:
            audit = repo.audit_entries(s, row.id)
            view["last_checkins"] = [e for e in audit if e["kind"] == "checked-in"][-5:]
            view["audit"] = audit
        return view

    def audit_export(self, switch_id: str) -> Document:
        with self.store.transaction() as s:
            self._row(s, switch_id)
            entries = repo.audit_entries(s, switch_id)
        return export_log(switch_id, entries, self.keys.signing)

    def release(self, switch_id: str) -> tuple[ReleaseRow, SwitchRow]:
        with self.store.transaction() as s:
            row = self._row(s, switch_id)
            release = s.get(ReleaseRow, switch_id)
            if release is None:
                raise NotFound(f"switch {switch_id} has not been released")
            return release, row


def _owner_event(action: object, request: Document, client: str) -> Event | None:
    """The machine event a signed owner request asks for; None for the read-only ones."""
    if action == "checkin":
        return CheckIn("signature", client)
    if action == "pause":
        until = request.get("until")
        if not isinstance(until, int) or isinstance(until, bool):
            raise FormatError("a pause needs 'until' (unix seconds)")
        return Pause(until)
    if action == "resume":
        return Resume()
    if action == "abort":
        return Abort()
    if action == "release":
        return ReleaseNow()
    if action in ("status", "audit"):
        return None
    raise FormatError(
        f"unknown action {action!r}", "use checkin, pause, resume, abort, release, status or audit"
    )


_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32}")


def _check_switch_id(value: object) -> str:
    """Switch ids name files and URLs: letters, digits, dash and underscore only."""
    if not isinstance(value, str) or not SWITCH_ID.fullmatch(value):
        raise FormatError(
            "the manifest's switch id is not usable (1-64 letters, digits, - or _)",
            "seal the bundle again with afterword",
        )
    return value


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_dossier_info(value: object) -> dict[str, Any]:
    """The manifest's description of its dossier, every field present and well-formed."""
    if (
        not isinstance(value, dict)
        or not _is_count(value.get("size"))
        or not _is_count(value.get("header_size"))
        or not isinstance(value.get("header_sha256"), str)
        or not _HEX64.fullmatch(value["header_sha256"])
        or not isinstance(value.get("recipient"), str)
    ):
        raise FormatError(
            "the manifest does not describe its dossier (size, header, recipient)",
            "seal the bundle again with afterword",
        )
    return value


def _check_roster(roster: Document) -> tuple[int, dict[str, dict[str, Any]]]:
    """custodians.json: a threshold that can be met, and well-formed, unique custodians."""
    entries = roster.get("custodians")
    if not isinstance(entries, list) or not entries:
        raise FormatError("custodians.json lists no custodians")
    labels: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("label"), str)
            or not LABEL.fullmatch(entry["label"])
            or not isinstance(entry.get("commitment"), str)
            or not _HEX64.fullmatch(entry["commitment"])
        ):
            raise FormatError(
                "custodians.json has a custodian without a usable label or commitment",
                "labels are letters, digits, dot, dash and underscore (up to 64)",
            )
        if entry["label"] in labels:
            raise FormatError(f"custodians.json lists {entry['label']!r} twice")
        labels[entry["label"]] = entry
    threshold = roster.get("threshold")
    if not _is_count(threshold) or not 1 <= threshold <= len(labels):  # type: ignore[operator]
        raise FormatError(
            "custodians.json has an impossible threshold",
            f"it must be a whole number from 1 to {len(labels)}",
        )
    assert isinstance(threshold, int)
    return threshold, labels


def _message(row: OutboxRow) -> Message:
    return Message(row.id, row.to, row.subject, row.body, json.loads(row.data))


def _receive(source: BinaryIO, target: Path, dossier: dict[str, Any]) -> tuple[str, int, bool]:
    """Stream an upload to disk, hashing it; check its header against the manifest's."""
    digest = hashlib.sha256()
    size = 0
    header_size = int(dossier["header_size"])
    head = b""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in _chunks(source):
            if len(head) < header_size:
                head += chunk[: header_size - len(head)]
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    header_ok = hashlib.sha256(head).hexdigest() == dossier["header_sha256"]
    return digest.hexdigest(), size, header_ok


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(1 << 20):
        yield chunk
