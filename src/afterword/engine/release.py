"""Performing a release: the server's shares, rebuilding the key, the signed
statement.

``publish`` rebuilds the dossier's key from the shares, checks it opens this dossier,
signs the release statement and keeps it; the statement's format is
``crypto/release.py``. Also the server's own share rows and deleting the server's copies
on a disarm. Separate because this is the act the whole service exists for.
"""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from afterword.crypto.encoding import age_identity_from_secret, age_recipient_of
from afterword.crypto.release import release_statement_body
from afterword.crypto.shares import combine_shares
from afterword.crypto.signing import SERVER_KEY, sign_document
from afterword.engine.context import Context
from afterword.errors import ShareError
from afterword.store import repository as repo
from afterword.store.models import AuditRow, ReleaseRow, ServerEnvelopeRow, ShareRow
from afterword.switch.machine import SwitchState


def store_share(
    ctx: Context, s: Session, switch_id: str, label: str, words: str, now: int, *, keep: bool = True
) -> None:
    """Keep a share, sealed to the server, unless it has it. ``keep``: False for a
    decoy's, which does the same work and keeps nothing (see ``repo.add_share``)."""
    if s.get(ShareRow, (switch_id, label)) is None:
        sealed = ctx.keys.encrypt(words.encode())
        repo.add_share(s, switch_id, label, sealed, now, keep=keep)


def delete_server_copies(ctx: Context, s: Session, switch_id: str) -> None:
    """Disarmed: the server's shares and the dossier go, irreversibly. The file goes
    only once the transaction that disarmed the switch has committed."""
    s.execute(delete(ServerEnvelopeRow).where(ServerEnvelopeRow.switch_id == switch_id))
    s.execute(delete(ShareRow).where(ShareRow.switch_id == switch_id))
    path = ctx.dossier_path(switch_id)
    ctx.store.after_commit(s, lambda: path.unlink(missing_ok=True))


def publish(ctx: Context, s: Session, row: repo.Switch, state: SwitchState, now: int) -> None:
    """Rebuild the key, check it opens this dossier, sign the statement, publish."""
    if s.get(ReleaseRow, row.id) is not None:
        return
    shares = s.query(ShareRow).filter_by(switch_id=row.id).all()
    words = [ctx.keys.decrypt(r.sealed).decode() for r in shares]
    identity = age_identity_from_secret(combine_shares(words))
    manifest = json.loads(repo.documents(s, row.id)[0])
    dossier_recipient = age_recipient_of(identity)
    if dossier_recipient != manifest["dossier"]["recipient"]:
        raise ShareError(
            "the shares rebuild a key that does not open this dossier",
            "the switch was armed with shares of another secret",
        )
    triggered_at = state.triggered_at or first_triggered_at(ctx, s, row.id, now)
    body = release_statement_body(
        switch=row.id,
        cause="drill" if row.drill_of else str(state.cause),
        triggered_at=min(triggered_at, now),
        released_at=now,
        custodians=sorted(state.shares),
        manifest=manifest,
        dossier_recipient=dossier_recipient,
        server_url=ctx.config.public_url,
    )
    statement = sign_document(body, ctx.keys.signing, key_field=SERVER_KEY)
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


def first_triggered_at(ctx: Context, s: Session, switch_id: str, now: int) -> int:
    """When a state stored before it kept ``triggered_at`` triggered: the time of the
    last ``triggered`` entry of its audit log (a typed column), else ``now``."""
    at = s.scalar(
        select(func.max(AuditRow.at)).where(
            AuditRow.switch_id == switch_id, AuditRow.kind == "triggered"
        )
    )
    return int(at) if at is not None else now
