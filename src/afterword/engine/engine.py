"""The engine's facade: one ``Engine`` whose methods are what web, cli and worker call.

Each public method is one transaction: lock the switch, ``decide``, carry out the effects
that are database writes (audit entries, outbox messages, server shares, the release
itself), commit. Mail and webhooks leave later, from the outbox (``dispatch``), so a crash
anywhere either loses nothing or repeats a message under the same id.

The work lives in the modules named for it (arming, owner, custodians, canaries,
scheduler, outbox, views, ...); this class holds their shared :class:`Context` and hands
each call on in one line, so callers keep one object and the modules stay small.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, BinaryIO

import afterword.engine.arming as arming
import afterword.engine.canaries as canaries
import afterword.engine.custodians as custodians
import afterword.engine.federation as federation
import afterword.engine.outbox as outbox
import afterword.engine.owner as owner
import afterword.engine.scheduler as scheduler
import afterword.engine.views as views
from afterword.crypto.signing import Document
from afterword.delivery import Sender
from afterword.engine.challenges import Challenges
from afterword.engine.contacts import Contacts
from afterword.engine.context import (
    Config,
    Context,
    OwnerSession,
    TickReport,
    now_seconds,
)
from afterword.engine.keys import ServerKeys
from afterword.store import Store
from afterword.store.models import ReleaseRow, SwitchRow
from afterword.switch.policy import Policy


class Engine:
    """The engine as web, cli and the worker see it: one object, each method one
    call into the module named in its section (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        keys: ServerKeys,
        config: Config,
        clock: Callable[[], int] = now_seconds,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """See :class:`Context` (``monotonic``: the clock the breaker checks against)."""
        self.ctx = Context(store, keys, config, clock, monotonic)

    # what callers read of the context
    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def keys(self) -> ServerKeys:
        return self.ctx.keys

    @property
    def config(self) -> Config:
        return self.ctx.config

    @config.setter
    def config(self, config: Config) -> None:
        self.ctx.config = config

    @property
    def clock(self) -> Callable[[], int]:
        return self.ctx.clock

    @property
    def monotonic(self) -> Callable[[], float]:
        return self.ctx.monotonic

    @property
    def challenges(self) -> Challenges:
        return self.ctx.challenges

    # --- arming (arming.py) -------------------------------------------------------------

    def dossier_path(self, switch_id: str) -> Path:
        return self.ctx.dossier_path(switch_id)

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
        servers: Document | None = None,
    ) -> dict[str, Any]:
        """See :func:`arming.arm`."""
        return arming.arm(
            self.ctx,
            manifest=manifest,
            notice=notice,
            custodians=custodians,
            dossier=dossier,
            policy=policy,
            contacts=contacts,
            server_envelopes=server_envelopes,
            password=password,
            totp=totp,
            duress_key=duress_key,
            duress_password=duress_password,
            client=client,
            drill_of=drill_of,
            servers=servers,
        )

    # --- owner requests (owner.py) ------------------------------------------------------

    def challenge(self, switch_id: str) -> dict[str, Any]:
        return owner.challenge(self.ctx, switch_id)

    def owner_request(self, switch_id: str, request: Document, client: str = "") -> dict[str, Any]:
        return owner.owner_request(self.ctx, switch_id, request, client)

    # --- several servers (federation.py) ---------------------------------------------------

    def signed_checkin(self, switch_id: str, doc: object, client: str = "") -> dict[str, Any]:
        return federation.signed_checkin(self.ctx, switch_id, doc, client)

    def take_relay(self, switch_id: str, doc: object, client: str = "") -> dict[str, Any]:
        return federation.take_relay(self.ctx, switch_id, doc, client)

    def take_handoff(self, switch_id: str, doc: object, client: str = "") -> dict[str, Any]:
        return federation.take_handoff(self.ctx, switch_id, doc, client)

    def password_action(
        self,
        switch_id: str,
        password: str,
        code: str | None,
        action: str,
        params: Document | None = None,
        client: str = "",
    ) -> dict[str, Any]:
        return owner.password_action(self.ctx, switch_id, password, code, action, params, client)

    def checkin_password(
        self, switch_id: str, password: str, code: str | None = None, client: str = ""
    ) -> dict[str, Any]:
        return owner.checkin_password(self.ctx, switch_id, password, code, client)

    def sign_in(
        self, switch_id: str, password: str, code: str | None = None, client: str = ""
    ) -> OwnerSession:
        return owner.sign_in(self.ctx, switch_id, password, code, client)

    def session_action(
        self, session: OwnerSession, action: str, params: Document | None = None, client: str = ""
    ) -> dict[str, Any]:
        return owner.session_action(self.ctx, session, action, params, client)

    def checkin_session(
        self, switch_id: str, client: str = "", session: OwnerSession | None = None
    ) -> dict[str, Any]:
        return owner.checkin_session(self.ctx, switch_id, client, session)

    # --- protected people (canaries.py) and custodians (custodians.py) ------------------

    def canary_page(self, token: str) -> dict[str, Any]:
        return canaries.canary_page(self.ctx, token)

    def canary_checkin(self, token: str, client: str = "") -> dict[str, Any]:
        return canaries.canary_checkin(self.ctx, token, client)

    def submit_share(self, switch_id: str, mnemonic: str, client: str = "") -> dict[str, Any]:
        return custodians.submit_share(self.ctx, switch_id, mnemonic, client)

    def custodian(
        self, switch_id: str, code: str, action: str = "status", client: str = ""
    ) -> dict[str, Any]:
        return custodians.custodian(self.ctx, switch_id, code, action, client)

    # --- the scheduler (scheduler.py) and the outbox (outbox.py) ------------------------

    def sweep(self) -> int:
        return scheduler.sweep(self.ctx)

    def tick(self) -> TickReport:
        return scheduler.tick(self.ctx)

    def unquarantine(self, switch_id: str) -> bool:
        return scheduler.unquarantine(self.ctx, switch_id)

    def release_held(self) -> int:
        return scheduler.release_held(self.ctx)

    def next_due(self, switches: bool = True, messages: bool = True) -> int | None:
        return scheduler.next_due(self.ctx, switches, messages)

    def dispatch(self, sender: Sender, limit: int = 50, pool: Executor | None = None) -> int:
        return outbox.dispatch(self.ctx, sender, limit, pool)

    # --- views (views.py; the owner's session views in owner.py) -----------------------

    def status(self, switch_id: str) -> dict[str, Any]:
        return views.status_view(self.ctx, switch_id)

    def public_status(self, switch_id: str) -> dict[str, Any]:
        return views.public_view(self.ctx, switch_id)

    def session_view(self, session: OwnerSession) -> dict[str, Any]:
        return owner.session_view(self.ctx, session)

    def dashboard_view(self, session: OwnerSession) -> dict[str, Any]:
        return owner.dashboard_view(self.ctx, session)

    def audit_export(self, switch_id: str, *, owner: bool = False) -> Document:
        return views.audit_export(self.ctx, switch_id, owner=owner)

    def release(self, switch_id: str) -> tuple[ReleaseRow, SwitchRow]:
        return views.published(self.ctx, switch_id)
