"""Tables. Times are integer seconds since the epoch, as in the switch machine."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from afterword.crypto.audit import GENESIS

DISARMED = "phase = 'disarmed'"
"""The predicate of the partial index on disarmed switches; a query that wants the index
says exactly this (a bound parameter in its place would not use it on SQLite)."""


class Base(DeclarativeBase):
    pass


class SwitchRow(Base):
    """One switch: its machine state (JSON), what the owner uploaded, and the scheduler key.

    The ORM mapping of the ``switches`` table, every column (the signed manifest and notice
    too); an object of it is tracked by its session, which writes what is set on it. The
    repository reads a switch as :class:`afterword.store.repository.Switch` instead: a
    plain record of the same columns but the two documents, that writes nothing. This
    class is for creating a row and for the rare reads that need the documents."""

    __tablename__ = "switches"
    # the disarmed ones, for the sweep every worker makes when it starts (migration 0005):
    # without it the sweep read the whole table, seconds on a large one, before the first tick
    # and what /metrics counts per state, read from the index alone (migration 0016)
    __table_args__ = (
        Index(
            "ix_switches_disarmed",
            "id",
            sqlite_where=text(DISARMED),
            postgresql_where=text(DISARMED),
        ),
        Index("ix_switches_phase", "phase", "held", "quarantined_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_key: Mapped[str] = mapped_column(String(80))
    phase: Mapped[str] = mapped_column(String(16))
    # the scheduler's index: the earliest instant this switch needs attention
    next_event_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    held: Mapped[bool] = mapped_column(Boolean, default=False)  # mass-trigger breaker
    # set when this switch's own transition failed in the scheduler (migration 0007): it is
    # no longer claimed as due, so it cannot hold back any other switch
    quarantined_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state: Mapped[str] = mapped_column(Text)
    manifest: Mapped[str] = mapped_column(Text)
    notice: Mapped[str] = mapped_column(Text)
    custodians: Mapped[str] = mapped_column(Text)
    contacts: Mapped[str] = mapped_column(Text, default="{}")  # owner, custodians, recipients
    dossier_sha256: Mapped[str] = mapped_column(String(64))
    dossier_size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # check-in by password (+ TOTP): a scrypt hash, never the password
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    # duress credentials: a second signing key and a second password; both are always
    # checked, so neither answer nor timing tells which one was used
    duress_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    duress_password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the duress credentials a coerced owner set (``set-duress`` under duress): kept apart
    # from the owner's own, so they change nothing real, and they act as duress too
    decoy_duress_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    decoy_duress_password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    # while a decoy stands: how many real log entries the owner is shown before its own
    decoy_cut: Mapped[int | None] = mapped_column(Integer, nullable=True)
    drill_of: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a drill's switch
    # the audit chain's tail (its last seq and hash), kept with the state it describes, so
    # extending the chain reads nothing more than the switch row the change locked anyway
    audit_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    audit_head: Mapped[str] = mapped_column(String(64), default=GENESIS, server_default=GENESIS)
    # federation (issue 17): the roster of the switch's servers as the owner signed it
    # (None: this server alone), and the highest signed check-in seen, with its counter
    servers: Mapped[str | None] = mapped_column(Text, nullable=True)
    checkin_counter: Mapped[int] = mapped_column(BigInteger, server_default="0")
    checkin_doc: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the highest duress check-in taken: one outranked by a later real one still counts
    duress_counter: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # the highest owner request acted on (its counter, and the request, the owner-signed
    # proof of it): relayed requests are taken in the owner's order (0017)
    request_counter: Mapped[int] = mapped_column(BigInteger, server_default="0")
    request_doc: Mapped[str | None] = mapped_column(Text, nullable=True)


class PeerRow(Base):
    """Another server of a switch watched by several (issue 17), as this server knows
    it: since when it is a peer, when a signed relay or handoff from it was last taken and
    the state it said the switch was in, when this server last asked it, whether its
    silence has been reported, the head of its audit log it last signed (proved), and
    what it holds of this server's log."""

    __tablename__ = "peers"

    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(512), primary_key=True)
    since: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_asked: Mapped[int] = mapped_column(BigInteger, index=True)
    alerted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # the last signed checkpoint of its audit log for the switch (a C2SP signed note), and
    # whether a later one contradicted it (a fork or a rollback: reported once)
    checkpoint: Mapped[str | None] = mapped_column(Text, nullable=True)
    checkpoint_at: Mapped[int] = mapped_column(BigInteger, server_default="0")  # its clock
    forked: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # its newest checkpoint proved to extend the one before (or the first held): where the
    # next proof must start (0014)
    proved: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the size of this server's log the peer says it holds (its relays' "held"): the
    # consistency proof to it starts there (0014)
    holds: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # since when its heads grew past the one held here with no proof that matched it, and
    # whether that was reported (after Config.peer_silence)
    unproven_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    unproven_alerted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # when the owner is shown it was last heard from: this server's hourly ask at which it
    # had been heard within two asks (0018). Never a message's own instant: under duress
    # the release's handoffs come at moments no real check-in brings anything
    shown_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # the check-in its relays said it held when its head was last taken as fresh (0018): a
    # head that did not grow while that counter did is frozen, and no sign of its heads
    head_counter: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # the sender's clock on the newest relay or handoff taken from it: only a newer one is
    # a sign of its life (0015), and this server's clock when it last took a head of its
    # log (NULL: none yet): a live peer that sends none is reported unproven too (0015)
    heard_at: Mapped[int] = mapped_column(BigInteger, server_default="0")
    head_seen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuditRow(Base):
    """One entry of a switch's hash-chained audit log (see afterword.crypto.audit)."""

    __tablename__ = "audit"
    __table_args__ = (UniqueConstraint("switch_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # looked up through the unique (switch_id, seq), which leads with switch_id; no foreign
    # key (migration 0005): its writer holds the switch's row locked, and a check per row
    # was a quarter of the database's work in a burst of triggers
    switch_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    prev: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class OutboxRow(Base):
    """A message to deliver, written in the same transaction as the change that caused it.

    ``id`` is stable (it becomes the Message-ID / Idempotency-Key), so a retry is the
    same message, and writing the same message twice is refused by the primary key.
    """

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    switch_id: Mapped[str] = mapped_column(String(64))  # no query by it, no foreign key (0005)
    to: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # null once delivered or given up: the dispatcher's index
    next_attempt_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)


class NonceRow(Base):
    """A spent check-in challenge, kept until well past its expiry so that a replay finds
    it (challenges are not stored when issued: see afterword.engine.challenges)."""

    __tablename__ = "nonces"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)


class ShareRow(Base):
    """A share submitted by a custodian (or the server's own), age-encrypted at rest."""

    __tablename__ = "shares"

    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), primary_key=True)
    custodian: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    submitted_at: Mapped[int] = mapped_column(BigInteger)


class ServerEnvelopeRow(Base):
    """A share envelope sealed for the server: stays age-encrypted until a release."""

    __tablename__ = "server_envelopes"

    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), primary_key=True)
    custodian: Mapped[str] = mapped_column(String(64), primary_key=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)


class ReleaseRow(Base):
    """A published release: the dossier key (public from now on) and the signed statement."""

    __tablename__ = "releases"

    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), primary_key=True)
    identity: Mapped[str] = mapped_column(Text)
    statement: Mapped[str] = mapped_column(Text)
    published_at: Mapped[int] = mapped_column(BigInteger)


class CanaryTokenRow(Base):
    """A protected person's check-in link: only its SHA-256 is kept. Each canary has two,
    the normal one and the duress one, which look and answer exactly alike."""

    __tablename__ = "canary_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    duress: Mapped[bool] = mapped_column(Boolean, default=False)


class ClientRow(Base):
    """A client (network + user agent, hashed) that has checked in to a switch before."""

    __tablename__ = "clients"

    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[int] = mapped_column(BigInteger)


class NetworkRow(Base):
    """A network (the caller's IPv4 /24 or IPv6 /48, as the server computed it from the
    connection, never text the caller sent) an owner has authenticated from: a sign-in
    from one not here is logged and mailed to the owner (a stolen credential in use)."""

    __tablename__ = "networks"

    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), primary_key=True)
    network: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_seen: Mapped[int] = mapped_column(BigInteger)


class OwnerLogRow(Base):
    """While a decoy stands in for the truth (after duress), the entries the owner is shown
    after the real log's first ``switches.decoy_cut`` entries. Not part of the real log."""

    __tablename__ = "owner_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    switch_id: Mapped[str] = mapped_column(ForeignKey("switches.id"), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    # a ``decoy-ended`` row's: the real log's seq where that decoy began and where it ended
    # (typed, so what an owner under duress is shown never depends on parsing text)
    began: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ended: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ArmRow(Base):
    """A switch armed over the network, from one network (the caller's /24 or /48, set by
    the server): what the arming quota counts (issue 15, item 21). Typed columns, kept
    for the quota's window only."""

    __tablename__ = "arms"
    __table_args__ = (Index("ix_arms_lookup", "network", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    network: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)


class RefusalRow(Base):
    """A wrong guess at one door of a switch (password, share, custodian code, signed
    request), from one network: what lockouts count. Typed columns, written by the server
    (the network is the caller's /24 or /48, never text the caller sent), so nothing a
    caller writes (a User-Agent, say) can count against anyone else. Kept for the lockout
    window only; the audit log keeps the owner's record of each refusal."""

    __tablename__ = "refusals"
    __table_args__ = (Index("ix_refusals_lookup", "switch_id", "door", "network", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    switch_id: Mapped[str] = mapped_column(String(64))
    door: Mapped[str] = mapped_column(String(16))
    network: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger, index=True)
