"""Custodians' shares, kept sealed to the server until a release needs them.

Its own module because a decoy's release counts shares it keeps none of: the same INSERT,
inserting nothing (``keep=False``).
"""

from __future__ import annotations

from typing import cast as typing_cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.models import ShareRow
from afterword.store.repository._tables import _connection, _nothing

_SHARES = typing_cast(Table, ShareRow.__table__)


_SHARE_COLUMNS = ("switch_id", "custodian", "sealed", "submitted_at")


_INSERT_SHARE = insert(_SHARES)


_NO_SHARE = _nothing(_SHARES, _SHARE_COLUMNS)


def add_share(
    session: Session, switch_id: str, custodian: str, sealed: bytes, now: int, *, keep: bool = True
) -> None:
    """Keep a custodian's share (sealed to the server). ``keep`` False: the same INSERT,
    inserting nothing (a decoy's release counts the server's shares, and keeps none)."""
    params = {"switch_id": switch_id, "custodian": custodian, "sealed": sealed,
              "submitted_at": now}  # fmt: skip
    if keep:
        sql.run(_connection(session), _INSERT_SHARE, params)
    else:
        sql.run(_connection(session), _NO_SHARE, {f"b_{k}": v for k, v in params.items()})
