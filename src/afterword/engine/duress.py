"""The rule "a duress action looks exactly like a real one".

Every owner credential comes in two kinds: the real one and the duress one (a second
signing key, a second password). Both are always checked, so the work done does not
depend on which one matched (``check_passwords``, ``authorize``, ``NOBODY``); a duress
action gets exactly the answer the real one would have got, while the machine triggers
the release silently (``Duress``). What a duress action writes goes to the decoy's own
columns (``set_duress``) and logs (``record_aside``, ``keep_owner_log``), padded so the
statements are the same whichever credential was used. The decoy's state itself is the
machine's (``switch/machine/duress.py``); this module holds what the engine does for the rule.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyotp
from sqlalchemy.orm import Session

from afterword.crypto.encoding import b64decode, canonical_json
from afterword.crypto.keys import KeyPair
from afterword.crypto.servers import SEVERAL_SERVERS_NO_PASSWORD
from afterword.crypto.signing import REQUEST_KIND, Document, parse_public_key
from afterword.engine.context import Context
from afterword.engine.errors import Conflict, Forbidden
from afterword.engine.passwords import check_password, hash_password
from afterword.errors import FormatError
from afterword.store import repository as repo
from afterword.switch.machine import (
    Audit,
    Effect,
    OwnerLog,
    Phase,
    RefuseOther,
    SwitchState,
    owner_view,
)


def check_passwords(
    ctx: Context, row: repo.Switch, password: str, code: str | None, now: int
) -> bool | None:
    """None if neither password matches; else whether it was a duress one. All three
    hashes are always computed, and the TOTP code checked, whatever matched."""
    real = check_password(password, row.password_hash)
    duress = check_password(password, row.duress_password_hash)
    # the one a coerced owner set (see set_duress): duress as well
    duress = check_password(password, row.decoy_duress_password_hash) or duress
    if row.totp_secret is not None:
        good_code = code is not None and pyotp.TOTP(row.totp_secret).verify(
            code, for_time=now, valid_window=1
        )
        real, duress = real and good_code, duress and good_code
    if real:
        return False
    return True if duress else None


def authorize(ctx: Context, s: Session, row: repo.Switch, request: Document, now: int) -> bool:
    """Check a signed request and spend its nonce; True if the duress key signed it."""
    duress = signed_request(row, request)
    nonce = request.get("nonce")
    expires_at = ctx.challenges.expiry(row.id, nonce, now)
    if expires_at is None or not repo.spend_nonce(s, row.id, str(nonce), expires_at):
        raise Forbidden("the nonce is unknown, used or expired", "ask for a new challenge")
    return duress


def owner_keys(row: repo.Switch) -> tuple[str, str, str]:
    """The keys an owner signs with: the real one, the duress one and the one a coerced
    owner set (see set_duress), a stand-in for each the switch lacks, so that checking
    all three is the same work whichever exist and whichever signed."""
    return (row.owner_key, row.duress_key or NOBODY, row.decoy_duress_key or NOBODY)


def signed_request(row: repo.Switch, request: Document, what: str = "the request") -> bool:
    """Check a signed owner request (``request/1``) for this switch against every key in
    :func:`owner_keys` (all three, always); True if a duress key signed it. ``what``
    names it in the refusals (``Forbidden``). Its nonce is the caller's to check."""
    body = {k: v for k, v in request.items() if k != "signature"}
    if body.get("afterword") != REQUEST_KIND or body.get("switch") != row.id:
        raise Forbidden(f"{what} is not for this switch")
    message = canonical_json(body)
    try:
        raw = b64decode(str(request.get("signature")), what="the signature")
    except Exception:
        raw = b""
    real, duress, decoy = (verifies(key, raw, message) for key in owner_keys(row))
    if not (real or duress or decoy):
        raise Forbidden(f"{what}'s signature does not verify with the owner key")
    return (duress or decoy) and not real


def set_duress(
    ctx: Context, s: Session, row: repo.Switch, action: object, request: Document, duress: bool
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
        repo.update_switch(s, row, **{f"{prefix}duress_key": check_duress_key(key, row.owner_key)})
    if password is not None:
        if row.servers is not None:  # as at arm: each server would know it
            raise FormatError(*SEVERAL_SERVERS_NO_PASSWORD)
        if not isinstance(password, str):
            raise FormatError("duress_password must be text")
        known = row.duress_password_hash if duress else row.password_hash
        if check_password(password, known):
            raise FormatError(
                "the duress password must differ from the real password",
                "choose another duress password",
            )
        repo.update_switch(s, row, **{f"{prefix}duress_password_hash": hash_password(password)})


def record_aside(
    ctx: Context,
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
    # the switch's next owner action clears it (see keep_owner_log)
    repo.write_owner_log(s, row.id, [(now, entry.kind, entry.detail)], clear=False)


def keep_owner_log(
    ctx: Context,
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
    ended = None
    if new.decoy is None:
        shown = [(e.kind, e.detail) for e in effects if isinstance(e, Audit)] if pad else []
        if row.decoy_cut is not None:  # a real action ended the decoy: what it showed
            # is kept, closed here
            ended = repo.DecoyEnded(now, row.decoy_cut, row.audit_seq)
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
    repo.write_owner_log(s, row.id, entries, clear=clear, pad=pad, ended=ended)


def refused_other(effects: list[Effect]) -> Conflict | None:
    """The refusal owed to a custodian or protected person whose event only the owner's
    decoy took (see ``machine.RefuseOther``), if any."""
    return next((Conflict(e.message) for e in effects if isinstance(e, RefuseOther)), None)


def decoy_enters_releasing(row: repo.Switch, decoy: SwitchState) -> bool:
    """Whether the decoy just began releasing (from what the owner was shown before)."""
    return decoy.phase is Phase.RELEASING and owner_view(repo.state_of(row)).phase is not (
        Phase.RELEASING
    )


NOBODY = KeyPair.generate().public_key
"""Checked against when a switch has no duress key, so the work done never shows it."""


def verifies(public_key: str, signature: bytes, message: bytes) -> bool:
    try:
        parse_public_key(public_key).verify(signature, message)
    except Exception:
        return False
    return True


def check_duress_key(value: object, owner_key: str) -> str:
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
