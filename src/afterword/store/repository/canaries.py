"""A protected person's check-in link, found by its digest.

Its own module because the canary tokens are their own table, read by one door only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.repository._tables import _CANARY_TOKENS, _connection

_CANARY_LINK = select(
    _CANARY_TOKENS.c.switch_id, _CANARY_TOKENS.c.name, _CANARY_TOKENS.c.duress
).where(_CANARY_TOKENS.c.digest == bindparam("digest"))


def canary_link(session: Session | Connection, digest: str) -> Any:
    """A protected person's link by its digest: ``switch_id``, ``name``, ``duress``."""
    return sql.run(_connection(session), _CANARY_LINK, {"digest": digest}).one_or_none()
