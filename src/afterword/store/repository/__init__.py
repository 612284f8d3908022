"""Reading and writing switches, their audit log and their outbox, inside a transaction.

The rule that makes releases exactly-once: a switch's new state, its audit entries and
the messages it causes are written in the *same* transaction (a transactional outbox).
Either all of it happened or none of it did; a crash in between leaves nothing to undo.

One module a table or subject, each re-exported here, so ``from afterword.store import
repository as repo; repo.record_many(...)`` reads the same wherever it is written:

- ``switches``: a switch's row, read as a plain ``Switch`` record, created and updated;
- ``transitions``: a decided change stored (state, audit entries, messages) together;
- ``audit``: the hash-chained audit log, chained and read;
- ``outbox``: messages put in it (``Outgoing``), leased, settled;
- ``schedule``: what the worker asks: due and held switches, the next instant of work;
- ``clients``: what owners' requests leave: spent nonces, known clients and networks;
- ``owner_log``: the owner's own log while a decoy stands;
- ``shares``: custodians' shares, kept sealed to the server;
- ``canaries``: a protected person's link;
- ``peers``: the other servers of a switch watched by several, as this server heard them;
- ``stats``: the aggregate counts ``/metrics`` shows (never anything of one switch);
- ``_tables``: the tables as Core handles, and the ways rows reach them (executemany, COPY,
  an INSERT that inserts nothing) that the statements of an owner action depend on.
"""

from __future__ import annotations

from afterword.store.repository.audit import audit_entries, last_seq
from afterword.store.repository.canaries import canary_link
from afterword.store.repository.clients import (
    add_client,
    client_known,
    purge_nonces,
    see_network,
    spend_nonce,
)
from afterword.store.repository.outbox import (
    Outgoing,
    enqueue,
    enqueue_all,
    lease_outbox,
    outbox_delivered,
    outbox_given_up,
    outbox_retry,
    outbox_retry_now,
    withdraw_handoffs,
)
from afterword.store.repository.owner_log import (
    DECOY_ENDED,
    DecoyEnded,
    owner_log,
    write_owner_log,
)
from afterword.store.repository.peers import (
    add_peers,
    asked,
    due_to_ask,
    keep_checkpoint,
    mark_alerted,
    mark_unproven,
    peer,
    peers,
    see_peer,
    show_seen,
)
from afterword.store.repository.schedule import (
    claim_due,
    count_due,
    disarmed_ids,
    held_switches,
    next_due,
    set_held,
)
from afterword.store.repository.shares import add_share
from afterword.store.repository.stats import Stats, stats
from afterword.store.repository.switches import (
    Switch,
    create_switch,
    documents,
    get_switch,
    state_of,
    update_switch,
)
from afterword.store.repository.transitions import Transition, record, record_many

__all__ = [
    "DECOY_ENDED",
    "DecoyEnded",
    "Outgoing",
    "Stats",
    "Switch",
    "Transition",
    "add_client",
    "add_peers",
    "add_share",
    "asked",
    "audit_entries",
    "canary_link",
    "claim_due",
    "client_known",
    "count_due",
    "create_switch",
    "disarmed_ids",
    "documents",
    "due_to_ask",
    "enqueue",
    "enqueue_all",
    "get_switch",
    "held_switches",
    "keep_checkpoint",
    "last_seq",
    "lease_outbox",
    "mark_alerted",
    "mark_unproven",
    "next_due",
    "outbox_delivered",
    "outbox_given_up",
    "outbox_retry",
    "outbox_retry_now",
    "owner_log",
    "peer",
    "peers",
    "purge_nonces",
    "record",
    "record_many",
    "see_network",
    "see_peer",
    "set_held",
    "show_seen",
    "spend_nonce",
    "state_of",
    "stats",
    "update_switch",
    "withdraw_handoffs",
    "write_owner_log",
]
