"""What owners' requests leave behind: spent challenge nonces (a replay finds its own),
the clients a switch has seen and the networks the owner signed in from.

Apart from the switch's row because each is its own table, written in one statement that
tells whether the value was new.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.repository._tables import _CLIENTS, _NETWORKS, _NONCES, _connection

_SPEND_NONCE = {
    name: dialect.insert(_NONCES)
    .values(
        nonce=bindparam("b_nonce", type_=String()),
        switch_id=bindparam("b_switch_id", type_=String()),
        expires_at=bindparam("b_expires_at", type_=BigInteger()),
    )
    .on_conflict_do_nothing(index_elements=["nonce"])
    .returning(_NONCES.c.nonce)  # (an INSERT's rowcount is not reliable on every driver)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


_CLIENT_KNOWN = select(_CLIENTS.c.digest).where(
    _CLIENTS.c.switch_id == bindparam("b_switch_id"), _CLIENTS.c.digest == bindparam("b_digest")
)


_ADD_CLIENT = insert(_CLIENTS).values(
    switch_id=bindparam("b_switch_id", type_=String()),
    digest=bindparam("b_digest", type_=String()),
    first_seen=bindparam("b_now", type_=BigInteger()),
)


_SEE_NETWORK = {
    name: dialect.insert(_NETWORKS)
    .values(
        switch_id=bindparam("b_switch_id", type_=String()),
        network=bindparam("b_network", type_=String()),
        first_seen=bindparam("b_now", type_=BigInteger()),
    )
    .on_conflict_do_nothing(index_elements=["switch_id", "network"])
    .returning(_NETWORKS.c.network)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


_PURGE_NONCES = delete(_NONCES).where(_NONCES.c.expires_at < bindparam("b_now"))


def spend_nonce(session: Session, switch_id: str, nonce: str, expires_at: int) -> bool:
    """Record a check-in challenge as used, in one statement; False if it was used before.

    Challenges are not stored when they are issued (they carry the server's MAC, see
    :mod:`afterword.engine.challenges`), only when spent, until they expire: a replay finds
    its nonce here. A concurrent request quoting the same nonce waits for this transaction
    and then finds it."""
    params = {"b_nonce": nonce, "b_switch_id": switch_id, "b_expires_at": expires_at}
    statement = _SPEND_NONCE[session.get_bind().dialect.name]
    return sql.run(_connection(session), statement, params).first() is not None


def client_known(session: Session, switch_id: str, digest: str) -> bool:
    """Whether the switch has seen this client (its digest) before."""
    params = {"b_switch_id": switch_id, "b_digest": digest}
    return sql.run(_connection(session), _CLIENT_KNOWN, params).first() is not None


def add_client(session: Session, switch_id: str, digest: str, now: int) -> None:
    params = {"b_switch_id": switch_id, "b_digest": digest, "b_now": now}
    sql.run(_connection(session), _ADD_CLIENT, params)


def see_network(session: Session, switch_id: str, network: str, now: int) -> bool:
    """Remember that the owner authenticated from ``network``, in one statement; True if
    the switch had never seen it (two concurrent first sign-ins: one of them is first)."""
    params = {"b_switch_id": switch_id, "b_network": network, "b_now": now}
    statement = _SEE_NETWORK[session.get_bind().dialect.name]
    return sql.run(_connection(session), statement, params).first() is not None


def purge_nonces(session: Session, now: int) -> int:
    """Forget spent challenges that have expired (they can no longer be replayed)."""
    return sql.run(_connection(session), _PURGE_NONCES, {"b_now": now}).rowcount
