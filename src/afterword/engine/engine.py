"""The engine: the one place events reach switches, for the web API and the worker alike.

Each public method is one transaction: lock the switch, ``decide``, carry out the effects
that are database writes (audit entries, outbox messages, server shares, the release
itself), commit. Mail and webhooks leave later, from the outbox (``dispatch``), so a crash
anywhere either loses nothing or repeats a message under the same id.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import ipaddress
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyotp
import shamir_mnemonic
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from afterword.crypto.audit import GENESIS, entry_hash, export_log
from afterword.crypto.bundle import CUSTODIANS_KIND, LABEL, Custodian, seal_bundle
from afterword.crypto.dossier import SWITCH_ID, check_switch_binding
from afterword.crypto.encoding import (
    age_identity_from_secret,
    age_recipient_of,
    b64decode,
    canonical_json,
)
from afterword.crypto.keys import KeyPair, OwnerKey
from afterword.crypto.manifest import check_public_manifest
from afterword.crypto.notice import check_against_notice
from afterword.crypto.release import release_statement_body
from afterword.crypto.shares import (
    ShareEnvelope,
    combine_shares,
    commitment,
    credential_digest,
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
from afterword.delivery import Message, PermanentError, Sender, TransientError
from afterword.engine.challenges import NONCE_TTL, SPENT_KEPT, Challenges
from afterword.engine.keys import ServerKeys
from afterword.engine.messages import Contacts, check_address, render
from afterword.engine.passwords import check_password, hash_password
from afterword.errors import AfterwordError, FormatError, ShareError
from afterword.store import Store, sql
from afterword.store import repository as repo
from afterword.store.models import (
    ArmRow,
    AuditRow,
    CanaryTokenRow,
    RefusalRow,
    ReleaseRow,
    ServerEnvelopeRow,
    ShareRow,
    SwitchRow,
)
from afterword.switch.codec import policy_to_json
from afterword.switch.machine import (
    Abort,
    AddCanary,
    Alert,
    Audit,
    Canary,
    CanaryCheckIn,
    ChangePolicy,
    CheckIn,
    DeleteServerCopies,
    Disarm,
    Duress,
    Effect,
    Event,
    OwnerAction,
    OwnerLog,
    Pause,
    Phase,
    PublishRelease,
    RefuseOther,
    RefuseOwner,
    Rejected,
    ReleaseNow,
    Resume,
    Revoke,
    ShareAccepted,
    Status,
    SubmitServerShares,
    SwitchState,
    Tick,
    Vote,
    WithdrawVote,
    arm,
    decide,
    owner_view,
)
from afterword.switch.policy import MAX_DURATION, Policy

log = logging.getLogger("afterword.engine")

LOCKOUT_WINDOW = 900  # seconds over which wrong guesses at one switch are counted
# wrong guesses (forged signed requests: "request") from one network that lock a door
LOCKOUT = {"password": 10, "share": 20, "custodian": 20, "request": 20}
WRONG_PASSWORD = "wrong password"
JUMP_KEPT = 86400  # seconds a clock jump's span is held against (see Engine._clock_check)
ARM_QUOTA = 10  # switches one network may arm in ARM_WINDOW
ARM_WINDOW = 3600
LEASE = 300  # seconds a claimed outbox row is left alone while it is being sent
MAX_BACKOFF = 6 * 3600
# a failed message is tried again after 30 s, doubling with each attempt up to MAX_BACKOFF
# (by its attempts so far: 1, 2, ...; every attempt past the last waits MAX_BACKOFF too)
_BACKOFF = tuple(min(MAX_BACKOFF, 30 * 2**attempts) for attempts in range(11))


_LOCK_QUERY: Any = select(func.count(), func.min(RefusalRow.at)).where(
    RefusalRow.switch_id == bindparam("switch_id"),
    RefusalRow.door == bindparam("door"),
    RefusalRow.network == bindparam("network"),
    RefusalRow.at > bindparam("since"),
)
"""Wrong guesses at one door of a switch, from one network, lately: their number and the
first one's time. On typed columns only (see ``RefusalRow``): never on the audit log's
text, which holds what callers sent. Built once: building it per request cost more than
running it."""


_ARM_QUERY: Any = select(func.count(), func.min(ArmRow.at)).where(
    ArmRow.network == bindparam("network"), ArmRow.at > bindparam("since")
)
"""Switches armed from one network lately: their number and the first one's time."""


class NotFound(AfterwordError):
    """No such switch (or release)."""


class Forbidden(AfterwordError):
    """The request is not authorized (bad signature, used or expired nonce)."""


class Conflict(AfterwordError):
    """The switch's state does not allow this now."""


class TooLarge(AfterwordError):
    """An upload larger than the switch can take (413)."""


class Locked(AfterwordError):
    """Too many wrong guesses at a switch lately: this way in is closed for a while (429).
    A signed check-in is never locked out: a lockout cannot silence the real owner."""


@dataclass(frozen=True)
class Config:
    data_dir: Path
    public_url: str = "http://127.0.0.1:8000"
    min_duration: int = 3600
    # a worker's first pass has no earlier reading of the monotonic clock to tell a clock
    # jump by: there, more triggers than this in the pass are held (see ``Engine.tick``)
    breaker_threshold: int = 100
    # how far the wall clock may run ahead of the monotonic clock between two passes
    # before the breaker calls it a jump and holds what the jump made due
    clock_slack: int = 60
    max_upload: int = 8 << 30  # the largest dossier a switch may upload (bytes)
    operator: Sequence[str] = ()  # where breaker alerts go
    batch: int = 500
    arm_quota: int = ARM_QUOTA  # switches one network may arm in ARM_WINDOW; 0: no quota


OWNER_ACTIONS = (
    "checkin",
    "pause",
    "resume",
    "abort",
    "release",
    "disarm",
    "revoke",
    "canary-add",
    "set-duress",
    "settings",
    "drill",
    "status",
    "audit",
)
"""What an owner may ask, signed or by password. Each is answered alike for the real
and the duress credential."""


@dataclass(frozen=True)
class OwnerSession:
    """A signed-in web session: which switch, and (known to the server alone) whether the
    duress password opened it."""

    switch: str
    duress: bool


@dataclass
class _Outcome:
    view: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    refused: AfterwordError | None = None
    new_client: bool = False  # the action sent its own new-client alert (see _seen_from)


@dataclass
class TickReport:
    processed: int = 0
    triggered: int = 0
    held: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # failed on their own; taken out


def now_seconds() -> int:
    return int(time.time())


def boot_seconds() -> float:
    """A clock nobody outside the machine can move: seconds since boot, suspend included
    (``CLOCK_BOOTTIME``, so a laptop's sleep is not a jump), else the monotonic clock."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


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
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """``monotonic``: the clock the breaker checks ``clock`` against (issue 15, item
        2). By default the boot clock when ``clock`` is the wall clock; an engine given
        a clock of its own and no ``monotonic`` takes ``clock`` as its own reference, so
        it sees no jump (a virtual clock moves as time does)."""
        self.store = store
        self.keys = keys
        self.config = config
        self.clock = clock
        if monotonic is None:
            monotonic = boot_seconds if clock is now_seconds else clock
        self.monotonic = monotonic
        self._last_pass: tuple[int, float] | None = None  # (wall, monotonic) of the last
        # wall-clock spans a forward jump skipped: (from, to], kept until the operator
        # answers (release_held), so the jump's crowd is held over however many passes
        self._jumps: list[tuple[int, int]] = []
        self.challenges = Challenges(keys)
        self._swept = False
        self._purge_at = 0
        # the server's own folder, its key and the dossiers: for the server's user alone
        (config.data_dir / "dossiers").mkdir(parents=True, mode=0o700, exist_ok=True)
        config.data_dir.chmod(0o700)
        (config.data_dir / "dossiers").chmod(0o700)

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
        duress_key: str | None = None,
        duress_password: str | None = None,
        client: str = "",
        drill_of: str | None = None,
    ) -> dict[str, Any]:
        """Register a sealed bundle as a switch. Everything is checked before anything
        is kept: signatures, that the files belong together, the dossier's size and header.

        ``duress_key`` / ``duress_password``: the owner's duress credentials (the keyfile
        names a duress key whether or not it has a duress slot). ``client`` is remembered
        as a known client: check-ins from elsewhere are announced. An arm from a known
        network (the web's) counts against that network's quota (``Config.arm_quota``).
        """
        network = _network(client)  # arms from a known network count against its quota
        quota = self.config.arm_quota if network != "unknown" else 0
        if quota:
            with self.store.connection() as c:  # before any work: a refused arm costs little
                _check_arm_quota(c, network, quota, self.clock())
        if totp and password is None:
            raise FormatError("TOTP needs a check-in password", "set a password too")
        if duress_password is not None and (password is None or duress_password == password):
            raise FormatError(
                "a duress password needs a check-in password, and must differ from it",
                "set both, different",
            )
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
        if duress_key is not None:
            duress_key = _duress_key(duress_key, owner)
        for label in contacts.custodians:
            if label not in labels:
                raise FormatError(f"no custodian is labelled {label!r} in custodians.json")
        held_words = [
            self._check_server_envelope(switch_id, label, blob, labels)
            for label, blob in server_envelopes.items()
        ]
        _check_server_shares(held_words, threshold, dossier_info["recipient"])
        _check_bound_switch(switch_id, owner, dossier_info["recipient"], notice)
        path = self.dossier_path(switch_id)
        # a name of its own per upload: two arms of one bundle never touch each other's file
        partial = path.with_name(f".{switch_id}.{secrets.token_hex(8)}.partial")
        try:
            if dossier_info["size"] > self.config.max_upload:
                raise TooLarge(
                    f"the dossier is {dossier_info['size']} bytes; this server takes at most "
                    f"{self.config.max_upload}",
                    "ask the operator, or use a server with room for it",
                )
            sha, size, header_ok = _receive(dossier, partial, dossier_info)
            if size != dossier_info["size"] or not header_ok:
                raise FormatError(
                    "the uploaded dossier is not the one the manifest describes",
                    "upload dossier.age from the same bundle",
                )
            password_hash = hash_password(password) if password is not None else None
            duress_hash = hash_password(duress_password) if duress_password else None
            totp_secret = pyotp.random_base32() if totp else None
            now = self.clock()
            state, effects = arm(policy, threshold, now)
            try:
                with self.store.transaction() as s:
                    if repo.get_switch(s, switch_id) is not None:
                        raise Conflict(f"switch {switch_id} is already armed on this server")
                    if quota:  # counted where the switch is made: no concurrent arm slips by
                        _check_arm_quota(s.connection(), network, quota, now)
                        s.add(ArmRow(network=network, at=now))
                    repo.create_switch(
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
                            "alert_custodians": contacts.alert_custodians,
                        },
                        dossier_sha256=sha,
                        dossier_size=size,
                        password_hash=password_hash,
                        totp_secret=totp_secret,
                        duress_key=duress_key,
                        duress_password_hash=duress_hash,
                        drill_of=drill_of,
                    )  # flushed: a concurrent arm of the same switch fails here, before the rename
                    self._new_client(s, switch_id, client, now)
                    repo.see_network(s, switch_id, _network(client), now)
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
    ) -> str:
        """The share the server is to hold for ``label``, checked against the roster;
        returns its mnemonic."""
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
        return envelope.mnemonic

    # --- owner requests -----------------------------------------------------------------
    #
    # Every owner credential comes in two kinds: the real one and the duress one (a second
    # signing key, a second password). Both are always checked, so the work done does not
    # depend on which one matched; a duress action gets exactly the answer the real one
    # would have got, while the machine triggers the release silently (``Duress``).

    def challenge(self, switch_id: str) -> dict[str, Any]:
        """A nonce for one signed owner request. A computation, with no database (see
        :mod:`afterword.engine.challenges`), so the web layer answers it without a thread
        hand-off; whether the switch exists is said when the signed request arrives."""
        expires_at = self.clock() + NONCE_TTL
        nonce = self.challenges.issue(switch_id, expires_at)
        return {"switch": switch_id, "nonce": nonce, "expires_at": expires_at}

    def owner_request(self, switch_id: str, request: Document, client: str = "") -> dict[str, Any]:
        """A signed owner action (see :data:`OWNER_ACTIONS`).

        One transaction: the nonce is spent in it, and the action runs in a savepoint inside
        it, so a request refused by the switch's state (409, 400) still spends its nonce
        and can never be replayed later, when the state would allow it.
        """
        now = self.clock()
        try:
            with self.store.transaction() as s:
                row = self._row(s, switch_id, lock=True, client=client)
                duress = self._authorize(s, row, request, now)
                outcome = self._act(s, row, duress, request, now, client, "signature")
                self._seen_from(s, row, client, request.get("action"), outcome, now)
        except Forbidden as refused:  # a forged or replayed request shows in the log
            # at most LOCKOUT["request"] per network in the window; past that, refused
            # unlogged (a valid signature is checked first, so the owner is never locked
            # out). The entry holds no text the caller wrote: a known action or "request",
            # the engine's own reason, the network and a digest of the user agent
            with self.store.transaction() as s:
                row = self._row(s, switch_id, lock=True)
                self._check_lock(s, row.id, "request", now, client)
                kind = _action_kind(request.get("action"))
                detail = f"{refused.message}; {_who(client)}"
                self._wrong_guess(s, row, Audit(f"{kind}-refused", detail), "request", now, client)
            raise
        return self._answer(switch_id, request.get("action"), duress, outcome)

    def password_action(
        self,
        switch_id: str,
        password: str,
        code: str | None,
        action: str,
        params: Document | None = None,
        client: str = "",
    ) -> dict[str, Any]:
        """An owner action authorized by the switch's password (+ TOTP code), for phones
        and browsers. A wrong password is refused and logged (a stolen one shows)."""
        duress, outcome = self._password_act(switch_id, password, code, action, params, client)
        return self._answer(switch_id, action, duress, outcome)

    def _password_act(
        self,
        switch_id: str,
        password: str,
        code: str | None,
        action: str,
        params: Document | None,
        client: str,
    ) -> tuple[bool, _Outcome]:
        now = self.clock()
        outcome: _Outcome | None = None
        with self.store.transaction() as s:
            row = self._row(s, switch_id, lock=True, client=client)
            self._check_lock(s, row.id, "password", now, client)
            duress = self._check_password(row, password, code, now)
            if duress is None:  # logged, and committed
                detail = f"{WRONG_PASSWORD}; {_who(client)}"
                kind = _action_kind(action)
                self._wrong_guess(s, row, Audit(f"{kind}-refused", detail), "password", now, client)
            else:
                method = "password+totp" if row.totp_secret else "password"
                request = {**(params or {}), "action": action}
                outcome = self._act(s, row, duress, request, now, client, method)
                self._seen_from(s, row, client, action, outcome, now)
        if outcome is None or duress is None:
            raise Forbidden(
                "wrong password or code", f"{_action_kind(action)} refused; it was logged"
            )
        return duress, outcome

    def checkin_password(
        self, switch_id: str, password: str, code: str | None = None, client: str = ""
    ) -> dict[str, Any]:
        """Check in with the switch's password (and TOTP code, if it has one)."""
        return self.password_action(switch_id, password, code, "checkin", client=client)

    def sign_in(
        self, switch_id: str, password: str, code: str | None = None, client: str = ""
    ) -> OwnerSession:
        """Check the switch's password (and TOTP code) for a web session, without checking
        in. Logged either way, so a stolen password in use is visible to the owner. The
        session remembers whether the duress password opened it; nothing else does."""
        duress, outcome = self._password_act(switch_id, password, code, "sign-in", None, client)
        self._answer(switch_id, "sign-in", duress, outcome)  # raises a refusal
        return OwnerSession(switch_id, duress)

    def session_action(
        self, session: OwnerSession, action: str, params: Document | None = None, client: str = ""
    ) -> dict[str, Any]:
        """An owner action in a signed-in web session (see :meth:`sign_in`)."""
        now = self.clock()
        with self.store.transaction() as s:
            row = self._row(s, session.switch, lock=True, client=client)
            request = {**(params or {}), "action": action}
            outcome = self._act(s, row, session.duress, request, now, client, "web session")
        return self._answer(session.switch, action, session.duress, outcome)

    def checkin_session(
        self, switch_id: str, client: str = "", session: OwnerSession | None = None
    ) -> dict[str, Any]:
        """Check in for an owner the web layer signed in with :meth:`sign_in`."""
        return self.session_action(
            session or OwnerSession(switch_id, False), "checkin", client=client
        )

    def _check_lock(
        self, s: Session, switch_id: str, door: str, now: int, client: str = ""
    ) -> None:
        """Refuse at once if this door of the switch saw too many wrong guesses lately.
        The guesses are the refusals in the switch's own audit log, so every web node
        and worker agrees, and a restart forgets nothing.

        Guesses are counted per network (the client's /24 or /48): someone guessing from
        elsewhere cannot lock out the people who belong, which would keep a password-only
        owner from checking in until the switch fired, custodians from voting, or a
        release from collecting its shares."""
        params = {
            "switch_id": switch_id,
            "door": door,
            "network": _network(client),
            "since": now - LOCKOUT_WINDOW,
        }
        count, first = sql.run(s.connection(), _LOCK_QUERY, params).one()
        if count >= LOCKOUT[door]:
            minutes = max(1, (int(first) + LOCKOUT_WINDOW - now + 59) // 60)
            what = {
                "password": (
                    "wrong passwords",
                    "check in with your key meanwhile: afterword "
                    "checkin --owner-key KEY (a lockout never blocks it)",
                ),
                "share": (
                    "shares that did not match",
                    "check that you have the share for this switch, then try again",
                ),
                "custodian": (
                    "wrong custodian codes",
                    "copy the code from your card, or use afterword custodian with your envelope",
                ),
                "request": (
                    "signed requests that did not verify",
                    "sign with the owner key over a fresh challenge (afterword checkin does)",
                ),
            }[door]
            raise Locked(
                f"too many {what[0]} for this switch lately; try again in {minutes} minute(s)",
                what[1],
            )

    def _check_password(
        self, row: repo.Switch, password: str, code: str | None, now: int
    ) -> bool | None:
        """None if neither password matches; else whether it was a duress one. All three
        hashes are always computed, and the TOTP code checked, whatever matched."""
        real = check_password(password, row.password_hash)
        duress = check_password(password, row.duress_password_hash)
        # the one a coerced owner set (see _set_duress): duress as well
        duress = check_password(password, row.decoy_duress_password_hash) or duress
        if row.totp_secret is not None:
            good_code = code is not None and pyotp.TOTP(row.totp_secret).verify(
                code, for_time=now, valid_window=1
            )
            real, duress = real and good_code, duress and good_code
        if real:
            return False
        return True if duress else None

    def _authorize(self, s: Session, row: repo.Switch, request: Document, now: int) -> bool:
        """Check a signed request and spend its nonce; True if the duress key signed it."""
        signature = request.get("signature")
        body = {k: v for k, v in request.items() if k != "signature"}
        if body.get("afterword") != REQUEST_KIND or body.get("switch") != row.id:
            raise Forbidden("the request is not for this switch")
        message = canonical_json(body)
        try:
            raw = b64decode(str(signature), what="the signature")
        except Exception:
            raw = b""
        real = _verifies(row.owner_key, raw, message)
        duress = _verifies(row.duress_key or _NOBODY, raw, message)  # always all three
        # the one a coerced owner set (see _set_duress): duress as well
        duress = _verifies(row.decoy_duress_key or _NOBODY, raw, message) or duress
        if not (real or duress):
            raise Forbidden("the request's signature does not verify with the owner key")
        nonce = body.get("nonce")
        expires_at = self.challenges.expiry(row.id, nonce, now)
        if expires_at is None or not repo.spend_nonce(s, row.id, str(nonce), expires_at):
            raise Forbidden("the nonce is unknown, used or expired", "ask for a new challenge")
        return duress and not real

    def _act(
        self,
        s: Session,
        row: repo.Switch,
        duress: bool,
        request: Document,
        now: int,
        client: str,
        method: str,
    ) -> _Outcome:
        """Run one owner action; under duress, as ``Duress(action)``. A refusal (an
        ``AfterwordError``) undoes what the action wrote, never the spent nonce: the action
        runs in a savepoint, except the ones in :data:`_LEAN_ACTIONS`, which write nothing
        before the last point where they can be refused."""
        action = request.get("action")
        outcome = _Outcome()
        lean = isinstance(action, str) and action in _LEAN_ACTIONS
        try:
            with nullcontext() if lean else s.begin_nested():
                event = self._owner_event(s, row, action, request, now, client, method)
                self._set_duress(s, row, action, request, duress)
                # a real look too is decided and stored (the machine changes nothing for
                # it): the work is the duress look's, which triggers (issue 15, item 10)
                owned = Duress(event) if duress else event
                state, effects = self._apply(s, row, owned, now, guarded=lean, pad=True)
                outcome.new_client = any(
                    isinstance(e, Alert) and e.what == "new-client" for e in effects
                )
                refusal = [e.message for e in effects if isinstance(e, RefuseOwner)]
                if refusal:  # stored all the same: the duress trigger stands
                    outcome.refused = Conflict(refusal[0])
                    return outcome
                if isinstance(event, CheckIn) and event.new_client:  # once it is taken
                    repo.add_client(s, row.id, _client_digest(client), now)
                if isinstance(event, AddCanary):
                    outcome.extra = self._canary_links(s, row.id, event.name)
                if action == "settings" and "recipients" in request:
                    self._change_recipients(s, row, request["recipients"], duress, now)
                shown = owner_view(state) if duress else state
                outcome.view = self._view(s, row, shown, detail=action == "status", owner=duress)
        except AfterwordError as exc:
            outcome.refused = exc
            outcome.new_client = False  # undone with the action
        return outcome

    def _seen_from(
        self, s: Session, row: repo.Switch, client: str, action: object, outcome: _Outcome, now: int
    ) -> None:
        """The owner authenticated (a password or a signature; what the action did after is
        another matter): from a network this switch has never seen, that goes in the log
        and, unless the action's own new-client alert already told them, to the owner's
        channels. Alike for the duress credentials: the real ones would do the same."""
        network = _network(client)
        if not repo.see_network(s, row.id, network, now):
            return
        detail = f"{network}, {_action_kind(action)}"
        alert = [] if outcome.new_client else [Alert("new-network", detail)]
        messages = render(
            row.id, repo.state_of(row), alert, _contacts(row), self.config.public_url, now
        )
        self._record_aside(s, row, Audit("new-network", detail), now, messages)

    def _answer(
        self, switch_id: str, action: object, duress: bool, outcome: _Outcome
    ) -> dict[str, Any]:
        if outcome.refused is not None:
            raise outcome.refused
        if action == "audit":
            return self.audit_export(switch_id, owner=duress)
        if action == "drill":
            return {**outcome.view, "drill": self._drill(switch_id)}
        return {**outcome.view, **outcome.extra}

    def _owner_event(
        self,
        s: Session,
        row: repo.Switch,
        action: object,
        request: Document,
        now: int,
        client: str,
        method: str,
    ) -> OwnerAction:
        """The machine event an owner action stands for (None: a real look, no event)."""
        if action == "checkin":
            # remembered once the check-in is taken (see _act)
            return CheckIn(method, client, new_client=not self._knows_client(s, row, client))
        if action == "pause":
            until = request.get("until")
            if not isinstance(until, int) or isinstance(until, bool):
                raise FormatError("a pause needs 'until' (unix seconds)")
            return Pause(until)
        if action == "revoke":
            label = request.get("custodian")
            if not isinstance(label, str) or label not in _labels(row):
                raise FormatError("revoke needs 'custodian': the label of one of its custodians")
            return Revoke(label)
        if action == "canary-add":
            return _canary_event(request)
        if action == "settings":
            return self._settings_event(row, request)
        simple: dict[object, OwnerAction] = {
            "resume": Resume(),
            "abort": Abort(),
            "release": ReleaseNow(),
            "disarm": Disarm(),
            "status": Status(),
            "audit": Status(),
            "sign-in": Status(),
            "set-duress": Status(),
            "drill": Status(),  # the switch itself is untouched: the drill is another one
        }
        if isinstance(action, str) and action in simple:
            return simple[action]
        raise FormatError(f"unknown action {action!r}", f"use one of: {', '.join(OWNER_ACTIONS)}")

    def _set_duress(
        self, s: Session, row: repo.Switch, action: object, request: Document, duress: bool
    ) -> None:
        """The duress credentials themselves. A duress request to change them is checked,
        answered and does the work exactly as the real one (the coercer's "real" password
        is the duress one, so a duress password equal to it must differ alike), but what it
        sets goes to the decoy's own columns: it never changes the owner's duress
        credentials, and signs in and signs as duress, as the coercer expects it to."""
        if action != "set-duress":
            return
        key, password = request.get("duress_key"), request.get("duress_password")
        prefix = "decoy_" if duress else ""
        if key is not None:
            repo.update_switch(s, row, **{f"{prefix}duress_key": _duress_key(key, row.owner_key)})
        if password is not None:
            if not isinstance(password, str):
                raise FormatError("duress_password must be text")
            known = row.duress_password_hash if duress else row.password_hash
            if check_password(password, known):
                raise FormatError(
                    "the duress password must differ from the real password",
                    "choose another duress password",
                )
            repo.update_switch(s, row, **{f"{prefix}duress_password_hash": hash_password(password)})

    def _settings_event(self, row: repo.Switch, request: Document) -> ChangePolicy:
        """New check-in settings; what is not sent stays as the owner sees it now."""
        shown = owner_view(repo.state_of(row)).policy
        values: dict[str, Any] = {}
        for name in ("interval", "grace", "waiting"):
            value = request.get(name, getattr(shown, name))
            if not _is_count(value) or value > MAX_DURATION:
                raise FormatError(f"{name} must be a whole number of seconds (up to 10 years)")
            values[name] = value
        reminders = request.get("reminders", list(shown.reminders))
        if not isinstance(reminders, list) or len(reminders) > 32:
            raise FormatError("reminders must be a list of seconds (at most 32)")
        for value in reminders:
            if not _is_count(value) or not 0 < value <= MAX_DURATION:
                raise FormatError("each reminder must be a positive whole number of seconds")
        replace_policy = dataclasses.replace(shown, **values, reminders=tuple(reminders))
        replace_policy.check_minimum(self.config.min_duration)
        return ChangePolicy(**values, reminders=tuple(reminders))

    def _change_recipients(
        self, s: Session, row: repo.Switch, value: object, duress: bool, now: int
    ) -> None:
        """Who receives the release. Under duress only the owner's view changes (the
        real recipients still get the release), and only the owner's log says so."""
        if not isinstance(value, list) or len(value) > 64:
            raise FormatError("recipients must be a list of addresses")
        recipients = [check_address(v, "recipients") for v in value]
        contacts = json.loads(row.contacts)
        contacts["decoy_recipients" if duress else "recipients"] = recipients
        repo.update_switch(s, row, contacts=json.dumps(contacts))
        detail = f"{len(recipients)} recipient(s)"
        entry: Effect = OwnerLog("recipients", detail) if duress else Audit("recipients", detail)
        self._carry_out(s, row, repo.state_of(row), [entry], now, pad=True)

    def _new_client(self, s: Session, switch_id: str, client: str, now: int) -> bool:
        """Remember a client (hashed); True if this switch has never seen it before."""
        if repo.client_known(s, switch_id, _client_digest(client)):
            return False
        repo.add_client(s, switch_id, _client_digest(client), now)
        return True

    def _knows_client(self, s: Session, row: repo.Switch, client: str) -> bool:
        """Whether the switch has seen this client: as the row was loaded for it (one
        statement less on every check-in), or asked now."""
        if row.client_known is not None:
            return row.client_known
        return repo.client_known(s, row.id, _client_digest(client))

    # --- drills -------------------------------------------------------------------------

    def _drill(self, switch_id: str) -> dict[str, Any]:
        """Rehearse the whole release path without touching the switch: a made-up dossier
        is sealed here with the switch's own custodian labels and threshold (every share
        held by the server), armed as a switch of its own marked as this one's drill, and
        released at once: trigger, custodian notices, shares, statement, release page,
        recipient mail. Every message goes to the owner's own addresses, marked DRILL."""
        with self.store.transaction() as s:
            row = self._row(s, switch_id)
            labels, threshold = _labels(row), json.loads(row.custodians)["threshold"]
            owner_addresses = list(json.loads(row.contacts).get("owner", []))
        if not owner_addresses:
            raise Conflict(
                "a drill sends everything to your own address, and this switch has none",
                "arm with --contact mailto:YOU (a drill never writes to anyone else)",
            )
        with tempfile.TemporaryDirectory(prefix="afterword-drill-") as scratch:
            folder = Path(scratch)
            (folder / "DRILL.txt").write_text(
                f"This is a drill of switch {switch_id}. Nothing real was released.\n"
            )
            sealed = seal_bundle(
                [folder / "DRILL.txt"],
                folder / "bundle",
                OwnerKey.generate(),
                [Custodian(label, self.keys.age_recipient) for label in labels],
                threshold,
                conditions=f"DRILL of switch {switch_id}",
            )
            shares = sealed.bundle / "shares"
            mine = owner_addresses[0]
            with open(sealed.bundle / "dossier.age", "rb") as dossier:
                self.arm(
                    manifest=sealed.manifest,
                    notice=sealed.notice,
                    custodians=json.loads((sealed.bundle / "custodians.json").read_text()),
                    dossier=dossier,
                    policy=Policy(
                        interval=self.config.min_duration, cooling_off=self.config.min_duration
                    ),
                    contacts=Contacts(owner_addresses, dict.fromkeys(labels, mine), [mine]),
                    server_envelopes={
                        label: (shares / f"{label}.age").read_bytes() for label in labels
                    },
                    drill_of=switch_id,
                )
        now = self.clock()
        with self.store.transaction() as s:
            drill = self._row(s, sealed.switch, lock=True)
            state, _ = self._apply(s, drill, ReleaseNow(), now)
        url = f"{self.config.public_url}/r/{sealed.switch}"
        return {"switch": sealed.switch, "state": state.phase.value, "url": url, "to": mine}

    # --- protected people ---------------------------------------------------------------

    def _canary_links(self, s: Session, switch_id: str, name: str) -> dict[str, Any]:
        """Two links for a new protected person: the normal one and the duress one."""
        links: dict[str, Any] = {"canary": name}
        for duress, key in ((False, "token"), (True, "duress_token")):
            token = secrets.token_hex(16)
            digest = hashlib.sha256(token.encode()).hexdigest()
            s.add(CanaryTokenRow(digest=digest, switch_id=switch_id, name=name, duress=duress))
            links[key] = token
            links[key.replace("token", "url")] = f"{self.config.public_url}/canary/{token}"
        return links

    def _canary_token(self, s: Session, token: str) -> Any:
        """The link's row (``switch_id``, ``name``, ``duress``), read as a plain row."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        row = repo.canary_link(s, digest) if _TOKEN.fullmatch(token) else None
        if row is None:
            raise NotFound(
                "this check-in link is not valid",
                "ask the person who gave it to you for their current link",
            )
        return row

    def canary_page(self, token: str) -> dict[str, Any]:
        """What a protected person's page shows: their name and when they are next due.
        The duress link shows exactly the same."""
        with self.store.transaction() as s:
            link = self._canary_token(s, token)
            canary = _find_canary(repo.state_of(self._row(s, link.switch_id)), link.name)
            return {"name": link.name, "next_due": canary.deadline}

    def canary_checkin(self, token: str, client: str = "") -> dict[str, Any]:
        """A protected person checks in. The duress link answers exactly alike, and raises
        the alarm (alert or trigger, as the owner chose for this person)."""
        now = self.clock()
        with self.store.transaction() as s:
            link = self._canary_token(s, token)
            row = self._row(s, link.switch_id, lock=True)
            state, effects = self._apply(s, row, CanaryCheckIn(link.name, link.duress), now)
            refused = _refused_other(effects)
        if refused is not None:  # the truth refused it, the owner's decoy took it
            raise refused
        canary = _find_canary(state, link.name)
        return {"name": link.name, "checked_in_at": now, "next_due": canary.deadline}

    # --- custodians ---------------------------------------------------------------------

    def submit_share(self, switch_id: str, mnemonic: str, client: str = "") -> dict[str, Any]:
        """A custodian's share: checked against its commitment before anything is kept."""
        words = normalize_mnemonic(mnemonic)
        digest = commitment(words)
        now = self.clock()
        refused: AfterwordError | None = None
        with self.store.transaction() as s:
            row = self._row(s, switch_id, lock=True)
            self._check_lock(s, row.id, "share", now, client)
            roster = json.loads(row.custodians)
            label = next(
                (c["label"] for c in roster["custodians"] if c["commitment"] == digest), None
            )
            if label is None:  # counted in the log (committed), the share itself not kept
                refusal = Audit("share-refused", f"no match; {_who(client)}")
                self._wrong_guess(s, row, refusal, "share", now, client)
            else:
                event = ShareAccepted(label)
                # kept if the truth takes it; one only the owner's decoy takes (a duress
                # release-now: the truth is only triggered) is counted there, not kept
                kept = not _refuses(dataclasses.replace(repo.state_of(row), decoy=None), event, now)
                self._store_share(s, switch_id, label, words, now, keep=kept)
                refused = _refused_other(self._apply(s, row, event, now)[1])
        if label is None:
            raise ShareError(
                "this share is not one of this switch's shares",
                "check that it is your share for this switch",
            )
        if refused is not None:  # the custodian sees the truth: it refused their share
            raise refused
        return self.status(switch_id)

    def custodian(
        self, switch_id: str, code: str, action: str = "status", client: str = ""
    ) -> dict[str, Any]:
        """A custodian, by the code derived from their share: ``status`` (the switch's true
        state, never the decoy), ``vote`` (the owner is missing or coerced; K votes
        trigger the release) or ``withdraw`` (their vote, before K is reached).

        A code that is not this switch's, or a revoked custodian's, is refused and logged.
        """
        if action not in ("status", "vote", "withdraw"):
            raise FormatError(
                f"unknown custodian action {action!r}", "use status, vote or withdraw"
            )
        digest = credential_digest(code)
        now = self.clock()
        refused: AfterwordError | None = None
        with self.store.transaction() as s:
            row = self._row(s, switch_id, lock=True)
            self._check_lock(s, row.id, "custodian", now, client)
            roster = json.loads(row.custodians)["custodians"]
            label = next((c["label"] for c in roster if c.get("credential") == digest), None)
            state = repo.state_of(row)
            if label is None or label in state.revoked:
                refused = Forbidden(
                    "this custodian code is not valid for this switch"
                    if label is None
                    else f"custodian {label} was revoked by the owner",
                    "use the code from your own card or envelope for this switch",
                )
                why = "unknown code" if label is None else f"{label} (revoked)"
                refusal = Audit(f"custodian-{action}-refused", f"{why}; {_who(client)}")
                self._wrong_guess(s, row, refusal, "custodian", now, client)
            else:
                decoy_revoked = row.decoy_cut is not None and label in owner_view(state).revoked
                if decoy_revoked:
                    # revoked in the owner's decoy only (a revoke under duress never binds
                    # the truth): the owner's log shows the refusal the real revoke causes
                    why = f"{label} (revoked); {_who(client)}"
                    kind = f"custodian-{action}-refused"
                    repo.write_owner_log(s, row.id, [(now, kind, why)], clear=False)
                if action != "status":
                    event = Vote(label) if action == "vote" else WithdrawVote(label)
                    shown = owner_view(state)
                    try:
                        with s.begin_nested():
                            state, effects = self._apply(s, row, event, now)
                        if (refused := _refused_other(effects)) is not None:
                            # the truth refused it, the decoy took it (the truth is
                            # releasing, say): the refusal goes in the real log only, the
                            # owner's log shows what the decoy took, as the real world's
                            detail = f"{label}; {client}"[:200]
                            refusal = Audit(f"custodian-{action}-refused", detail)
                            repo.record(s, row, repo.state_of(row), [refusal], now)
                        elif (
                            row.decoy_cut is not None
                            and label not in shown.revoked  # (said above)
                            and _refuses(shown, event, now)
                        ):
                            # the truth took it, the decoy would not (it is releasing, say):
                            # the owner's log shows the refusal the real world logs
                            why = f"{label}; {_who(client)}"
                            kind = f"custodian-{action}-refused"
                            repo.write_owner_log(s, row.id, [(now, kind, why)], clear=False)
                    except AfterwordError as exc:
                        refused = exc
                        detail = f"{label}; {_who(client)}"
                        refusal = Audit(f"custodian-{action}-refused", detail)
                        if decoy_revoked:  # the owner's log has its refusal (said above)
                            repo.record(s, row, repo.state_of(row), [refusal], now)
                        else:
                            self._record_aside(s, row, refusal, now)
        if refused is not None:
            raise refused
        assert label is not None
        return _custodian_view(row.id, label, state)

    def _wrong_guess(
        self, s: Session, row: repo.Switch, refusal: Audit, door: str, now: int, client: str
    ) -> None:
        """A wrong guess at ``door`` (a wrong password, a forged request, a share or code
        that does not match): logged as :meth:`_record_aside` logs, and counted against the
        caller's network on the typed ``refusals`` rows :meth:`_check_lock` reads."""
        self._record_aside(s, row, refusal, now)
        s.add(RefusalRow(switch_id=row.id, door=door, network=_network(client), at=now))

    def _record_aside(
        self,
        s: Session,
        row: repo.Switch,
        entry: Audit,
        now: int,
        messages: Sequence[repo.Outgoing] = (),
    ) -> None:
        """An entry the machine does not decide (a refusal, a new network) goes into the
        real log and, while a decoy stands, into the log the owner is shown as well: the
        real world's log would hold it, so the decoy's must too."""
        repo.record(s, row, repo.state_of(row), [entry], now, messages)
        # written whether or not a decoy stands, so a refusal costs the same either way (a
        # coercer can time a wrong password): without a decoy the entry is never read, and
        # the switch's next owner action clears it (see _keep_owner_log)
        repo.write_owner_log(s, row.id, [(now, entry.kind, entry.detail)], clear=False)

    def _store_share(
        self, s: Session, switch_id: str, label: str, words: str, now: int, *, keep: bool = True
    ) -> None:
        """Keep a share, sealed to the server, unless it has it. ``keep``: False for a
        decoy's, which does the same work and keeps nothing (see ``repo.add_share``)."""
        if s.get(ShareRow, (switch_id, label)) is None:
            sealed = self.keys.encrypt(words.encode())
            repo.add_share(s, switch_id, label, sealed, now, keep=keep)

    # --- the machine, and effects that are database writes ------------------------------

    def _apply(
        self,
        s: Session,
        row: repo.Switch,
        event: Event,
        now: int,
        *,
        guarded: bool = False,
        pad: bool = False,
    ) -> tuple[SwitchState, list[Effect]]:
        """Decide an event and store it. ``guarded``: the caller has no savepoint, so one
        is opened here if the effects can still be refused after writing (a server
        envelope or share that does not open). ``pad``: an owner action's, stored in the
        same statements whatever it writes (see ``repo.record_many``)."""
        try:
            new, effects = decide(repo.state_of(row), event, now)
        except Rejected as exc:
            if not pad:
                raise Conflict(str(exc)) from exc
            # refused, and stored unchanged in the statements of a duress action's refusal,
            # which is stored (its trigger stands) and then answered alike
            new, effects = repo.state_of(row), [RefuseOwner(str(exc))]
        risky = guarded and any(isinstance(e, SubmitServerShares | PublishRelease) for e in effects)
        with s.begin_nested() if risky else nullcontext():
            return self._carry_out(s, row, new, effects, now, pad=pad), effects

    def _carry_out(
        self,
        s: Session,
        row: repo.Switch,
        new: SwitchState,
        effects: list[Effect],
        now: int,
        *,
        pad: bool = False,
    ) -> SwitchState:
        """Store a decided transition with the effects that are database writes."""
        transition = self._transition(s, row, new, effects, now, pad=pad)
        repo.record_many(s, [transition], now, pad=pad)
        return transition.state

    def _transition(
        self,
        s: Session,
        row: repo.Switch,
        new: SwitchState,
        effects: list[Effect],
        now: int,
        *,
        pad: bool = False,
    ) -> repo.Transition:
        """Carry out the effects that need this switch's own rows (the server's shares, the
        release, deleting copies, the owner's decoy log) and render its messages: what is
        left to store is a ``Transition``."""
        effects = list(effects)
        for effect in list(effects):
            if isinstance(effect, SubmitServerShares):
                new, more = self._submit_server_shares(s, row.id, new, now)
                effects += more
        if new.decoy is not None and _decoy_enters_releasing(row, new.decoy):
            # the decoy counts the server's own shares as the real release does, with the
            # same work (read, open, seal again), but keeps none of them: its entries are
            # the owner's
            decoy, more = self._submit_server_shares(s, row.id, new.decoy, now, keep=False)
            new = dataclasses.replace(new, decoy=decoy)
            effects += [OwnerLog(e.kind, e.detail) for e in more if isinstance(e, Audit)]
        if any(isinstance(e, PublishRelease) for e in effects):
            self._publish(s, row, new, now)
        if any(isinstance(e, DeleteServerCopies) for e in effects):
            self._delete_server_copies(s, row.id)
        self._keep_owner_log(s, row, new, effects, now, pad=pad)
        messages = render(row.id, new, effects, _contacts(row), self.config.public_url, now)
        if row.drill_of is not None:  # a drill's mail says so, first thing
            messages = [
                dataclasses.replace(
                    m,
                    subject=f"[DRILL] {m.subject}",
                    body=f"THIS IS A DRILL of switch {row.drill_of}: nothing real was released."
                    f"\n\n{m.body}",
                )
                for m in messages
            ]
        return repo.Transition(row, new, effects, messages)

    def _keep_owner_log(
        self,
        s: Session,
        row: repo.Switch,
        new: SwitchState,
        effects: list[Effect],
        now: int,
        *,
        pad: bool = False,
    ) -> None:
        """While a decoy stands, the owner is shown the real log up to where the decoy
        began (``decoy_cut``, written with the state), then the decoy's own entries (kept
        apart; the real log has the truth).

        ``pad``: an owner action's. Its work must not tell a duress action from a real one
        (issue 15, item 10), so every owner action writes the owner's log alike: the same
        DELETE (told by a parameter whether to delete) and an INSERT of the entries the
        owner is shown, the decoy's under duress, the real ones otherwise. Without a
        decoy those are never read; the next owner action clears them."""
        had = row.decoy_cut is not None
        if new.decoy is None:
            shown = [(e.kind, e.detail) for e in effects if isinstance(e, Audit)] if pad else []
            if had:  # a real action ended the decoy: what it showed is kept, closed here
                shown.insert(0, (repo.DECOY_ENDED, f"{row.decoy_cut} {row.audit_seq}"))
                row.decoy_cut = None
                contacts = json.loads(row.contacts)
                if contacts.pop("decoy_recipients", None) is not None:
                    repo.update_switch(s, row, contacts=json.dumps(contacts))
        else:
            shown = [(e.kind, e.detail) for e in effects if isinstance(e, OwnerLog)]
            if not had:  # a decoy begins here, after the log as it stands
                row.decoy_cut = row.audit_seq
        clear = not had and (pad or new.decoy is not None)
        entries = [(now, kind, detail) for kind, detail in shown]
        repo.write_owner_log(s, row.id, entries, clear=clear, pad=pad)

    def _delete_server_copies(self, s: Session, switch_id: str) -> None:
        """Disarmed: the server's shares and the dossier go, irreversibly. The file goes
        only once the transaction that disarmed the switch has committed."""
        s.execute(delete(ServerEnvelopeRow).where(ServerEnvelopeRow.switch_id == switch_id))
        s.execute(delete(ShareRow).where(ShareRow.switch_id == switch_id))
        path = self.dossier_path(switch_id)
        self.store.after_commit(s, lambda: path.unlink(missing_ok=True))

    def _submit_server_shares(
        self, s: Session, switch_id: str, state: SwitchState, now: int, *, keep: bool = True
    ) -> tuple[SwitchState, list[Effect]]:
        """The server's own shares, accepted into ``state``; ``keep``: stored (not for a
        decoy, whose release is shown, never real)."""
        effects: list[Effect] = []
        envelopes = s.query(ServerEnvelopeRow).filter_by(switch_id=switch_id).all()
        for row in envelopes:
            envelope = ShareEnvelope.from_json(json.loads(self.keys.decrypt(row.envelope)))
            self._store_share(s, switch_id, row.custodian, envelope.mnemonic, now, keep=keep)
            try:
                state, more = decide(state, ShareAccepted(row.custodian), now)
            except Rejected:
                if keep:
                    raise
                continue  # a decoy's release that is over
            effects += more
        return state, effects

    def _publish(self, s: Session, row: repo.Switch, state: SwitchState, now: int) -> None:
        """Rebuild the key, check it opens this dossier, sign the statement, publish."""
        if s.get(ReleaseRow, row.id) is not None:
            return
        shares = s.query(ShareRow).filter_by(switch_id=row.id).all()
        words = [self.keys.decrypt(r.sealed).decode() for r in shares]
        identity = age_identity_from_secret(combine_shares(words))
        manifest = json.loads(repo.documents(s, row.id)[0])
        dossier_recipient = age_recipient_of(identity)
        if dossier_recipient != manifest["dossier"]["recipient"]:
            raise ShareError(
                "the shares rebuild a key that does not open this dossier",
                "the switch was armed with shares of another secret",
            )
        triggered_at = state.triggered_at or self._triggered_at(s, row.id, now)
        body = release_statement_body(
            switch=row.id,
            cause="drill" if row.drill_of else str(state.cause),
            triggered_at=min(triggered_at, now),
            released_at=now,
            custodians=sorted(state.shares),
            manifest=manifest,
            dossier_recipient=dossier_recipient,
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

    def _triggered_at(self, s: Session, switch_id: str, now: int) -> int:
        """When a state stored before it kept ``triggered_at`` triggered: the time of the
        last ``triggered`` entry of its audit log (a typed column), else ``now``."""
        at = s.scalar(
            select(func.max(AuditRow.at)).where(
                AuditRow.switch_id == switch_id, AuditRow.kind == "triggered"
            )
        )
        return int(at) if at is not None else now

    # --- the scheduler ------------------------------------------------------------------

    def sweep(self) -> int:
        """Delete the dossiers of disarmed switches that are still on disk: a process
        killed between a disarm's commit and the unlink leaves one behind. Every worker
        does this once, on its first pass. Returns how many it deleted."""
        with self.store.connection() as c:
            paths = [self.dossier_path(switch_id) for switch_id in repo.disarmed_ids(c)]
        left = [path for path in paths if path.exists()]
        for path in left:
            path.unlink(missing_ok=True)
            log.info("deleted the dossier %s of a disarmed switch", path.name)
        self._swept = True
        return len(left)

    def tick(self) -> TickReport:
        """One scheduler pass over due switches, with the mass-trigger breaker.

        The breaker keys on what no outsider can manufacture (issue 15, item 2): a jump of
        this server's own wall clock, seen against the boot clock between two passes. A
        switch is held when the jump is what makes it trigger: it triggers at the jumped
        time but not at the time the boot clock says it is. A crowd of switches armed to
        fall due in one minute is no jump, and holds nobody. Only a worker's first pass,
        which has no earlier reading to compare with, falls back to counting: more
        triggers than ``breaker_threshold`` in that pass are held, as a jump while no
        worker ran would make them. Held switches are told to their custodians and the
        operator."""
        if not self._swept:
            self.sweep()
        now = self.clock()
        first = self._clock_check(now)
        if now >= self._purge_at:  # spent challenges, long expired (see SPENT_KEPT)
            with self.store.transaction() as s:
                repo.purge_nonces(s, now - SPENT_KEPT)
                s.execute(delete(RefusalRow).where(RefusalRow.at <= now - LOCKOUT_WINDOW))
                s.execute(delete(ArmRow).where(ArmRow.at <= now - ARM_WINDOW))
            self._purge_at = now + NONCE_TTL
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
                (row, old) for row, old, new, _ in planned if _triggers(old, new.phase)
            ]
            if first and len(would_trigger) > self.config.breaker_threshold:
                why = (
                    f"{len(would_trigger)} switches would trigger in the first pass of a "
                    "worker, which cannot tell a clock jump while no worker ran"
                )
                held_ids = {row.id for row, _ in would_trigger}
            else:
                why = "the server's wall clock jumped forward"
                held_ids = {row.id for row, old in would_trigger if self._jump_made(old, now)}
            held_rows = [row for row in rows if row.id in held_ids]
            repo.set_held(s, held_rows, True)
            transitions = []
            for row, old, new, effects in planned:
                if row.id in held_ids:
                    transitions.append(
                        repo.Transition(
                            row, old, [Audit("held", why)], self._held_notices(row, why, now)
                        )
                    )
                    continue
                transition = self._isolated_transition(s, row, old, new, effects, now)
                transitions.append(transition)
                if row.quarantined_at is not None:  # its own failure, nobody else's
                    report.quarantined.append(row.id)
                    continue
                report.processed += 1
                report.triggered += transition.state.phase is Phase.TRIGGERED
            # the whole batch in a few statements, in this one transaction
            repo.record_many(s, transitions, now)
            if held_ids:
                report.held = sorted(held_ids)
                log.error("breaker: %d switches held for the operator: %s", len(held_ids), why)
                for to in self.config.operator:
                    repo.enqueue(
                        s,
                        held_rows[0].id,
                        repo.Outgoing(
                            f"breaker-{now}-{_digest(to)}",
                            to,
                            "afterword: mass trigger held",
                            f"{len(held_ids)} switches would have triggered at {now}: {why}. "
                            "They are held, and their custodians told. Check the clock, "
                            "then: afterword operator release-held",
                            {"held": report.held},
                        ),
                        now,
                    )
        return report

    def _clock_check(self, now: int) -> bool:
        """Read the boot clock beside the wall clock's ``now``; remember a forward jump
        between the last pass and this one. True on this engine's first pass."""
        mono = self.monotonic()
        last, self._last_pass = self._last_pass, (now, mono)
        if last is None:
            return True
        expected = last[0] + int(mono - last[1])  # where the wall clock should be
        if now - expected > self.config.clock_slack:
            log.error("the wall clock jumped %d s forward since the last pass", now - expected)
            self._jumps.append((expected, now))
        # a jump's crowd is due at once: a day on, every pass has long claimed it (and the
        # operator running release-held in a process of its own clears nothing here)
        self._jumps = [(start, end) for start, end in self._jumps if end > now - JUMP_KEPT]
        return False

    def _jump_made(self, old: SwitchState, now: int) -> bool:
        """Whether a jump is what makes this switch trigger: it would at the far end of a
        jump (or now, if sooner), and would not at its near end."""
        return any(
            start < now
            and not _triggers(old, decide(old, Tick(), start)[0].phase)
            and _triggers(old, decide(old, Tick(), min(now, end))[0].phase)
            for start, end in self._jumps
        )

    def _held_notices(self, row: repo.Switch, why: str, now: int) -> list[repo.Outgoing]:
        """Mail to a held switch's custodians: what happened, and that their share may
        still be needed (the operator has the summary of the whole pass)."""
        return _custodian_mail(
            row,
            "held",
            f"afterword: switch {row.id} is held",
            f"Switch {row.id} would have triggered at {now}, but it is held: {why}, and a "
            "jumped clock must not release anything early. Nothing was released. The "
            "operator is asked to check the clock and let it go on "
            "(afterword operator release-held). Keep your share: it may still be needed. "
            f"The custodian page: {self.config.public_url}/s/{row.id}",
            {"switch": row.id, "held": now},
        )

    def _isolated_transition(
        self,
        s: Session,
        row: repo.Switch,
        old: SwitchState,
        new: SwitchState,
        effects: list[Effect],
        now: int,
    ) -> repo.Transition:
        """A switch's transition in the tick, so that its failure stays its own (issue 15,
        item 1). The effects that read what the owner uploaded (the server's envelopes,
        the shares, combining them into the key) run in a savepoint: if they raise, that
        switch's writes are undone and it is quarantined, and the rest of the batch
        commits as usual. Errors of the database itself are not the switch's fault: they
        fail the pass, which is retried (the outbox is dispatched all the same)."""
        if not any(isinstance(e, SubmitServerShares | PublishRelease) for e in effects):
            return self._transition(s, row, new, effects, now)
        try:
            with s.begin_nested():
                return self._transition(s, row, new, effects, now)
        except DBAPIError:
            raise
        except Exception as exc:
            log.error("switch %s failed to move on and is quarantined", row.id, exc_info=True)
            return self._quarantine(s, row, old, exc, now)

    def _quarantine(
        self, s: Session, row: repo.Switch, old: SwitchState, exc: Exception, now: int
    ) -> repo.Transition:
        """Take a switch whose own transition fails out of the scheduler (the typed
        ``quarantined_at``; its state stays as it was), and tell the operator and its
        custodians. Stable message ids: a retried pass does not mail twice."""
        repo.update_switch(s, row, quarantined_at=now)
        what = type(exc).__name__
        reason = str(exc.message) if isinstance(exc, AfterwordError) else what
        tail = (
            "Your share may still be needed: keep it, and ask the server's operator or the "
            f"owner. The custodian page: {self.config.public_url}/s/{row.id}"
        )
        subject = f"afterword: switch {row.id} is quarantined"
        body = (
            f"Switch {row.id} could not move on from {old.phase.value} at {now}: "
            f"{reason}.\nIt is taken out of the scheduler so that it delays no other "
            "switch; nothing was released. "
        )
        data = {"switch": row.id, "quarantined": now, "error": what}
        operator = "Check its custodians.json and server shares against the bundle, then: "
        messages = [
            repo.Outgoing(
                f"quarantine-{row.id}-{row.audit_seq}-{_digest(to)}",
                to,
                subject,
                body + f"{operator}afterword operator unquarantine {row.id}",
                data,
            )
            for to in self.config.operator
        ] + _custodian_mail(row, "quarantine", subject, body + tail, data, self.config.operator)
        return repo.Transition(row, old, [Audit("quarantined", reason)], messages)

    def unquarantine(self, switch_id: str) -> bool:
        """The operator has looked at a quarantined switch: it is scheduled again (and, if
        it fails again, quarantined again). False if it was not quarantined."""
        now = self.clock()
        with self.store.transaction() as s:
            row = repo.get_switch(s, switch_id, lock=True)
            if row is None:
                raise NotFound(
                    f"no switch {switch_id} on this server",
                    "copy the switch id from the quarantine mail, and check the data "
                    "directory or database is this server's",
                )
            if row.quarantined_at is None:
                return False
            repo.update_switch(s, row, quarantined_at=None)
            undone = [Audit("unquarantined", "by the operator")]
            repo.record(s, row, repo.state_of(row), undone, now)
            return True

    def release_held(self) -> int:
        """The operator confirms the clock is right: held switches move on now, past the
        breaker (which would otherwise hold the same crowd again on the next tick).

        Each switch moves on as in the tick, isolated: one whose release raises (a hostile
        switch held in the same crowd) is quarantined alone, and the others still move on;
        before, its error rolled the whole transaction back, every switch stayed held, and
        the operator could never release an honest victim held with it."""
        now = self.clock()
        with self.store.transaction() as s:
            rows = repo.held_switches(s)
            repo.set_held(s, rows, False)
            self._jumps.clear()  # the clock is confirmed: what it skipped is time that passed
            for row in rows:
                old = repo.state_of(row)
                repo.record(s, row, old, [Audit("unheld", "by the operator")], now)
                new, effects = decide(old, Tick(), now)
                transition = self._isolated_transition(s, row, old, new, effects, now)
                repo.record_many(s, [transition], now)
            return len(rows)

    def next_due(self, switches: bool = True, messages: bool = True) -> int | None:
        """When the worker next has work (the engine's clock, whole seconds), if ever: a
        switch to tick or a message to send, or only the one asked for."""
        with self.store.connection() as c:
            return repo.next_due(c, switches, messages)

    # --- the outbox ---------------------------------------------------------------------

    def dispatch(self, sender: Sender, limit: int = 50, pool: Executor | None = None) -> int:
        """Send due outbox messages; lease them first so no send happens inside a lock.

        The lease and each message's outcome are transactions of their own, on one
        connection kept for the pass (none is open while a message is sent): taking a
        connection from the pool and giving it back cost as much as a transaction.

        The leased messages are sent taking the switches in turn (each switch's first
        message, then each one's second, ...), so one switch with many recipients does not
        put the others' mail behind all of its own. With a ``pool`` of N threads they are
        sent N at a time (outcomes still written here, in order): if every send ends within
        D (the webhook deadline; the mailer's timeouts), a pass ends within
        ceil(limit / N) * D, and a message of a switch among the first N in the pass's
        turn order is on its way at once, whatever the other switches' recipients do.
        Without a pool they are sent one by one on this thread (tests, the simulation)."""
        now = self.clock()
        sent = 0
        with self.store.connect() as c:  # rows, not objects: Core alone
            with c.begin():
                rows = repo.lease_outbox(c, now, limit, now + LEASE)
                leased = [(r.id, _message(r)) for r in _in_turn(rows)]

            def attempt(item: tuple[str, Message]) -> Exception | None:
                message_id, message = item
                try:
                    sender.send(message)
                except (TransientError, PermanentError) as exc:
                    return exc
                except Exception as exc:  # a bug in a sender: retry later, like a transient
                    log.exception("sending message %s failed unexpectedly", message_id)
                    return TransientError(
                        f"unexpected {exc.__class__.__name__}", message_id=message_id
                    )
                return None

            outcomes = map(attempt, leased) if pool is None else pool.map(attempt, leased)
            for (message_id, _), error in zip(leased, outcomes, strict=True):
                with c.begin():
                    if error is None:
                        repo.outbox_delivered(c, message_id, self.clock())
                        sent += 1
                    elif isinstance(error, PermanentError):
                        repo.outbox_given_up(c, message_id, f"permanent: {error}")
                        log.error("gave up on message %s: %s", message_id, error)
                    else:
                        repo.outbox_retry(c, message_id, self.clock(), str(error), _BACKOFF)
        return sent

    # --- views --------------------------------------------------------------------------

    def _row(
        self,
        s: Session | Connection,
        switch_id: str,
        *,
        lock: bool = False,
        client: str | None = None,
    ) -> repo.Switch:
        """The switch (but its manifest and notice); ``client``: an owner action's, asked
        about in the same statement (see :meth:`_knows_client`)."""
        digest = None if client is None else _client_digest(client)
        row = repo.get_switch(s, switch_id, lock=lock, client=digest)
        if row is None:
            raise NotFound(f"no switch {switch_id} on this server")
        return row

    def status(self, switch_id: str) -> dict[str, Any]:
        """The full view: state, times, shares, last check-ins and the audit log."""
        with self.store.connection() as c:  # reads only: rows, no ORM
            row = self._row(c, switch_id)
            return self._view(c, row, repo.state_of(row), detail=True)

    def public_status(self, switch_id: str) -> dict[str, Any]:
        """What anyone may see without a credential (the public custodian page): what the
        owner is shown, the decoy after duress. Only a custodian's code shows the truth
        (see :meth:`custodian`), so a coercer reading the public page learns nothing the
        owner's own screens do not say."""
        with self.store.connection() as c:  # reads only: rows, no ORM
            row = self._row(c, switch_id)
            return self._view(c, row, owner_view(repo.state_of(row)), detail=False, owner=True)

    def session_view(self, session: OwnerSession) -> dict[str, Any]:
        """The full view for a signed-in web session: the decoy's, if duress opened it."""
        if session.duress:
            return self.session_action(session, "status")
        return self.status(session.switch)

    def _view(
        self,
        s: Session | Connection,
        row: Any,
        state: SwitchState,
        *,
        detail: bool,
        owner: bool = False,
    ) -> dict[str, Any]:
        """What a switch looks like to its owner; ``detail`` adds the log (one more read).

        ``owner``: the view is for a duress credential, so the log is the one the owner is
        shown (see :meth:`_owner_entries`); ``state`` is then already the owner's view.
        """
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
            "canaries": [_canary_view(c) for c in state.canaries],
            "revoked": sorted(state.revoked),
            "recipients": _recipients(row, owner),
            "policy": _policy_view(state.policy),
            # longer settings waiting out their cooling-off (the custodians were told)
            "settings_pending": _policy_view(state.settings_pending)
            if state.settings_pending is not None
            else None,
            "settings_at": state.settings_at or None,
        }
        if detail:
            audit = self._owner_entries(s, row, owner)
            view["last_checkins"] = [e for e in audit if e["kind"] == "checked-in"][-5:]
            view["audit"] = audit
        return view

    def _owner_entries(
        self, s: Session | Connection, row: Any, owner: bool
    ) -> list[dict[str, Any]]:
        """The audit log as its reader may see it. The truth, except for a duress
        credential while a decoy stands: then the real entries up to where the decoy began,
        followed by the decoy's own, chained on as the real ones would have been.

        Both are read and chained for every reader (the truth's chain is checked so), so
        that a duress look costs what a real one does (issue 15, item 10)."""
        decoy = owner and row.decoy_cut is not None
        # under duress, only the entries shown: the real log grows by a duress mark at
        # every duress action (a look too), which the real world's log does not
        entries = repo.audit_entries(s, row.id, upto=row.decoy_cut if decoy else None)
        logged = repo.owner_log(s, row.id)
        if decoy:
            # the real entries, but where a decoy stood: there what it showed (an earlier
            # decoy a real action ended, closed by a DECOY_ENDED row, then this one), all
            # chained as the real world's log would be
            kept, start, episode = [], 0, []
            for r in [*logged, None]:
                if r is not None and r.kind != repo.DECOY_ENDED:
                    episode.append((r.at, r.kind, r.detail))
                    continue
                cut, end = (row.decoy_cut, 0) if r is None else map(int, r.detail.split())
                kept += [
                    (e["at"], e["kind"], e["detail"])
                    for e in entries
                    if start < e["seq"] <= cut and e["kind"] != "duress"
                ]
                kept, start, episode = kept + episode, end, []
        else:
            kept = [(e["at"], e["kind"], e["detail"]) for e in entries]
        shown = _chained(row.id, kept)
        if not decoy and shown != entries:  # the stored chain does not hold: show it as it is
            log.error("the audit log of switch %s does not chain as it was written", row.id)
            return entries
        return shown

    def audit_export(self, switch_id: str, *, owner: bool = False) -> Document:
        with self.store.connection() as c:  # reads only: rows, no ORM
            entries = self._owner_entries(c, self._row(c, switch_id), owner)
        return export_log(switch_id, entries, self.keys.signing)

    def release(self, switch_id: str) -> tuple[ReleaseRow, SwitchRow]:
        """A published release, with its switch's row (the manifest and notice with it)."""
        with self.store.transaction() as s:
            row = s.get(SwitchRow, switch_id)
            if row is None:
                raise NotFound(f"no switch {switch_id} on this server")
            release = s.get(ReleaseRow, switch_id)
            if release is None:
                raise NotFound(f"switch {switch_id} has not been released")
            return release, row


def _refuses(state: SwitchState, event: Event, now: int) -> bool:
    """Whether the machine refuses ``event`` in ``state`` (it is pure: nothing is kept)."""
    try:
        decide(state, event, now)
    except Rejected:
        return True
    return False


def _refused_other(effects: list[Effect]) -> Conflict | None:
    """The refusal owed to a custodian or protected person whose event only the owner's
    decoy took (see ``machine.RefuseOther``), if any."""
    return next((Conflict(e.message) for e in effects if isinstance(e, RefuseOther)), None)


def _decoy_enters_releasing(row: repo.Switch, decoy: SwitchState) -> bool:
    """Whether the decoy just began releasing (from what the owner was shown before)."""
    return decoy.phase is Phase.RELEASING and owner_view(repo.state_of(row)).phase is not (
        Phase.RELEASING
    )


def _chained(switch_id: str, kept: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    """Log entries (``at``, ``kind``, ``detail``) numbered and hash-chained from the start."""
    shown: list[dict[str, Any]] = []
    prev = GENESIS
    for seq, (at, kind, detail) in enumerate(kept, start=1):
        entry = {"switch": switch_id, "seq": seq, "at": at, "kind": kind, "detail": detail}
        digest = entry_hash(prev, entry)
        shown.append({**entry, "prev": prev, "hash": digest})
        prev = digest
    return shown


_HEX64 = re.compile(r"[0-9a-f]{64}")
_LEAN_ACTIONS = frozenset({"checkin", "status", "audit", "sign-in"})
"""Owner actions that write nothing before their last refusal point (the machine's
decision), so they need no savepoint: two statements less on every check-in, and
SQLAlchemy's nested-transaction work."""
_TOKEN = re.compile(r"[0-9a-f]{32}")  # a canary's link token


def _check_switch_id(value: object) -> str:
    """Switch ids name files and URLs: letters, digits, dash and underscore only."""
    if not isinstance(value, str) or not SWITCH_ID.fullmatch(value):
        raise FormatError(
            "the manifest's switch id is not usable (1-64 letters, digits, - or _)",
            "seal the bundle again with afterword",
        )
    return value


def _check_bound_switch(switch_id: str, owner: str, recipient: str, notice: Document) -> None:
    """Arm an id only for the key it is derived from: the notice shown to the adversary
    names the id, and whoever saw it must not be able to arm it first with a key of theirs
    (the owner could then never arm it). The notice must name the same binding, or the
    server would publish a notice that ``afterword verify`` refuses."""
    hint = (
        "a switch id is derived from the owner key and the dossier: arm the bundle that "
        "afterword sealed with your own key, as it is (seal it again if an older afterword "
        "made it)"
    )
    check_switch_binding(switch_id, owner, recipient, what="the manifest", hint=hint)
    if notice.get("dossier_recipient") != recipient:
        raise FormatError(
            "the notice names another dossier recipient than the manifest",
            "upload the notice and the manifest of the same bundle",
        )


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


def _check_arm_quota(c: Connection, network: str, quota: int, now: int) -> None:
    """Refuse an arm (429) once the caller's network armed ``quota`` switches in the last
    ARM_WINDOW: a crowd of throwaway switches costs many networks, not one script."""
    params = {"network": network, "since": now - ARM_WINDOW}
    count, first = sql.run(c, _ARM_QUERY, params).one()
    if count >= quota:
        minutes = max(1, (int(first) + ARM_WINDOW - now + 59) // 60)
        raise Locked(
            f"{count} switches were armed from your network in the last "
            f"{ARM_WINDOW // 60} minutes, the most this server takes; try again in "
            f"{minutes} minute(s)",
            "wait, or ask the operator (AFTERWORD_ARM_QUOTA sets the quota)",
        )


def _digest(to: str) -> str:
    """A short stable tag of an address, for the ids of messages to it."""
    return hashlib.sha256(to.encode()).hexdigest()[:12]


def _triggers(old: SwitchState, new: Phase) -> bool:
    """Whether a decision moves a switch into triggered or releasing: what the breaker
    may hold."""
    return new in (Phase.TRIGGERED, Phase.RELEASING) and old.phase is not new


def _custodian_mail(
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
        repo.Outgoing(f"{kind}-{row.id}-{row.audit_seq}-{_digest(to)}", to, subject, body, data)
        for to in custodians.values()
        if to and to not in skip
    ]


def _check_server_shares(mnemonics: list[str], threshold: int, recipient: str) -> None:
    """What arming can check of the shares the server is to hold (issue 15, item 1): each
    is a one-group SLIP-39 share whose member threshold is the roster's, all of one
    secret; if the server holds enough of them, they rebuild the key of this dossier. A
    switch that passes cannot fail at release for any of these reasons."""
    fix = "seal the bundle again with afterword, and arm it as it came out"
    params = set()
    for words in mnemonics:
        try:
            share = shamir_mnemonic.Share.from_mnemonic(normalize_mnemonic(words))
        except (shamir_mnemonic.MnemonicError, ValueError, ShareError) as exc:
            raise FormatError("a share for the server is not a SLIP-39 share", fix) from exc
        if share.group_count != 1 or share.group_threshold != 1:
            raise FormatError("a share for the server is not of a single SLIP-39 group", fix)
        if share.member_threshold != threshold:
            raise FormatError(
                f"custodians.json says {threshold} shares release the dossier, but the "
                f"server's shares need {share.member_threshold}",
                fix,
            )
        params.add((share.identifier, share.extendable, share.iteration_exponent))
    if len(params) > 1:
        raise FormatError("the server's shares are not shares of one secret", fix)
    if len(set(mnemonics)) < threshold:
        return
    try:
        rebuilt = age_recipient_of(age_identity_from_secret(combine_shares(mnemonics)))
    except ShareError as exc:
        raise FormatError(f"the server's shares do not combine: {exc.message}", fix) from exc
    if rebuilt != recipient:
        raise FormatError("the server's shares rebuild a key that does not open this dossier", fix)


def _in_turn(rows: Sequence[Any]) -> list[Any]:
    """``rows`` with their switches taking turns: every switch's first row (in the order
    the switches first appear), then every switch's second, and so on."""
    by_switch: dict[str, list[Any]] = {}
    for row in rows:
        by_switch.setdefault(row.switch_id, []).append(row)
    queues = list(by_switch.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def _message(row: Any) -> Message:
    """The message an outbox row (its id, to, subject, body and data) holds."""
    return Message(row.id, row.to, row.subject, row.body, json.loads(row.data))


def _receive(source: BinaryIO, target: Path, dossier: dict[str, Any]) -> tuple[str, int, bool]:
    """Stream an upload to disk, hashing it; check its header against the manifest's."""
    digest = hashlib.sha256()
    size = 0
    header_size = int(dossier["header_size"])
    head = b""
    target.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    limit = int(dossier["size"])
    # 0600 from the start: the dossier is sealed, but who may read it is still the server's
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        for chunk in _chunks(source):
            if size + len(chunk) > limit:  # more than the manifest says: stop writing now
                return digest.hexdigest(), size + len(chunk), False
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


_NOBODY = KeyPair.generate().public_key
"""Checked against when a switch has no duress key, so the work done never shows it."""


def _contacts(row: repo.Switch) -> Contacts:
    """Where the switch's messages go, as the owner set them at arming (or since)."""
    contacts = json.loads(row.contacts)
    return Contacts(
        contacts.get("owner", []),
        contacts.get("custodians", {}),
        contacts.get("recipients", []),
        bool(contacts.get("alert_custodians", False)),
    )


def _network(client: str) -> str:
    """The caller's network (an IPv4 /24 or IPv6 /48), as the web layer put it first in
    ``client``; anything else (no address, or text in its place) is "unknown"."""
    first = client.split(" ", 1)[0]
    try:
        return str(ipaddress.ip_network(first, strict=True))
    except ValueError:
        return "unknown"


def _action_kind(action: object) -> str:
    """An owner action as the log names it: a known one, or "request" (never text the
    caller made up: the log is the owner's, and outsiders may knock)."""
    known = (*OWNER_ACTIONS, "sign-in")
    return action if isinstance(action, str) and action in known else "request"


def _who(client: str) -> str:
    """A caller as a refusal's log entry names them: the network, and a digest of the rest
    (the user agent, which is the caller's own text and so never logged as such)."""
    network = _network(client)
    rest = client.removeprefix(network).strip() if network != "unknown" else client
    return f"{network} agent {_client_digest(rest)[:12]}" if rest else network


def _client_digest(client: str) -> str:
    return hashlib.sha256(client.encode()).hexdigest()


def _verifies(public_key: str, signature: bytes, message: bytes) -> bool:
    try:
        parse_public_key(public_key).verify(signature, message)
    except Exception:
        return False
    return True


def _duress_key(value: object, owner_key: str) -> str:
    """A duress public key as the owner's keyfile names it; never the owner key itself."""
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        parse_public_key(value)
    except Exception as exc:
        raise FormatError(
            "the duress key is not an Ed25519 public key", "send the one your keyfile names"
        ) from exc
    if value == owner_key:
        raise FormatError("the duress key must differ from the owner key")
    return value


def _recipients(row: Any, owner: bool) -> list[str]:
    """Who receives the release, as the reader may see it (a decoy's list under duress)."""
    contacts = json.loads(row.contacts)
    shown = contacts.get("decoy_recipients") if owner else None
    return list(shown if shown is not None else contacts.get("recipients", []))


def _labels(row: repo.Switch) -> list[str]:
    return [str(c["label"]) for c in json.loads(row.custodians)["custodians"]]


def _canary_event(request: Document) -> AddCanary:
    name, on_miss = request.get("name"), request.get("on_miss", "alert")
    interval, grace = request.get("interval"), request.get("grace", 0)
    hint = (
        'send {"name": NAME, "interval": SECONDS, "grace": SECONDS, "on_miss": '
        '"trigger" or "alert"}'
    )
    if not isinstance(name, str) or not LABEL.fullmatch(name):
        raise FormatError("a protected person needs a name (letters, digits, . - _)", hint)
    if not _is_count(interval) or not _is_count(grace) or not interval:
        raise FormatError("a protected person needs a positive interval and a grace", hint)
    if interval > MAX_DURATION or grace > MAX_DURATION:  # type: ignore[operator]
        raise FormatError("that interval or grace is longer than 10 years", hint)
    if on_miss not in ("trigger", "alert"):
        raise FormatError("on_miss must be 'trigger' or 'alert'", hint)
    assert isinstance(interval, int) and isinstance(grace, int)
    return AddCanary(name, interval, grace, trigger=on_miss == "trigger")


def _find_canary(state: SwitchState, name: str) -> Canary:
    for canary in state.canaries:
        if canary.name == name:
            return canary
    raise NotFound("this check-in link no longer belongs to anyone on the switch")


def _canary_view(canary: Canary) -> dict[str, Any]:
    return {
        "name": canary.name,
        "interval": canary.interval,
        "grace": canary.grace,
        "on_miss": "trigger" if canary.trigger else "alert",
        "next_due": canary.deadline,
        "last_checkin": canary.last_checkin or None,
        "missed": canary.missed,
    }


def _policy_view(policy: Policy) -> dict[str, Any]:
    """The settings the owner can change (the stored form, less the server's own)."""
    stored = policy_to_json(policy)
    return {name: stored[name] for name in ("interval", "grace", "waiting", "reminders")}


def _custodian_view(switch_id: str, label: str, state: SwitchState) -> dict[str, Any]:
    """What a custodian sees: the truth (after duress too), and what they can do."""
    return {
        "switch": switch_id,
        "custodian": label,
        "state": state.phase.value,
        "cause": state.cause.value if state.cause else None,
        "deadline": state.deadline if state.phase in (Phase.ARMED, Phase.OVERDUE) else None,
        "release_at": state.release_at if state.phase is Phase.TRIGGERED else None,
        "disarm_ends": state.disarm_ends if state.phase is Phase.DISARMING else None,
        "settings_at": state.settings_at or None,  # longer settings pending until then
        "threshold": state.threshold,
        "votes": len(state.votes),
        "voted": label in state.votes,
        "shares": len(state.shares),
        "submitted": label in state.shares,
        "last_checkin": state.last_checkin or None,
    }
