"""Who a switch tells: the owner, the custodians and the recipients, and the one codec of
their addresses, for what a client sends (``contacts_from_wire``) and what the switch's
row keeps (``contacts_of``).

Its own module because an address is checked once, here, whoever hands it in: the
arm request, the owner's new recipients, a drill.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from afterword.delivery.webhook import SECRET_HINT, parse_secret, redact
from afterword.errors import AfterwordError
from afterword.store import repository as repo

CONTACT_FIELDS = ("owner", "custodians", "recipients", "alert_custodians")
CONTACTS_HINT = (
    'send {"owner": [ADDRESS, ...], "custodians": {"LABEL": ADDRESS}, "recipients": [...]} '
    "where an ADDRESS is mailto:someone@example.org or https://example.org/hook"
)


@dataclass(frozen=True)
class Contacts:
    owner: Sequence[str]  # mailto:/https: for reminders
    custodians: dict[str, str]  # label -> mailto:/https:
    recipients: Sequence[str]  # who receives the release
    alert_custodians: bool = False  # custodians hear of check-ins from new clients too
    paper: frozenset[str] = frozenset()  # labels holding a paper card (mail fits the reader)
    password: bool = False  # the owner may check in by password: reminders link to /login


MAX_ADDRESS = 2048
ADDRESS_HINT = "an address is mailto:someone@example.org or https://example.org/hook"


def check_address(value: object, where: str) -> str:
    """A contact: mailto:someone@host or an http(s) URL, with no spaces or control bytes;
    a URL may end in ``#whsec_<base64>``, the secret its deliveries are signed with
    (checked here; an error shows the address with the secret hidden)."""
    text = value if isinstance(value, str) else ""
    if isinstance(value, str):
        value = redact(value)
    try:  # urlsplit and .hostname refuse a broken IPv6 host ("http://[") by raising
        parts = urlsplit(text) if text.isprintable() and " " not in text else None
        scheme = parts.scheme.lower() if parts else ""
        ok = (
            parts is not None
            and len(text) <= MAX_ADDRESS
            and (
                (scheme == "mailto" and "@" in parts.path.strip("@"))
                or (scheme in ("http", "https") and bool(parts.hostname))
            )
        )
    except ValueError:
        ok = False
    if not ok:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise AfterwordError(
            f"{where}: {shown} is not a mailto: or http(s):// address", ADDRESS_HINT
        )
    try:
        if parse_secret(text) is not None and scheme not in ("http", "https"):
            raise ValueError("only an http(s):// webhook can carry a #whsec_ secret")
    except ValueError as exc:
        raise AfterwordError(f"{where}: {value!r}: {exc}", SECRET_HINT) from None
    return text


def restore_hidden(addresses: list[object], known: Sequence[str]) -> list[object]:
    """``addresses`` the owner sent back, each shown form of a ``known`` one (its secret
    hidden, as the dashboard's form shows it) put back as the address it stands for, so
    saving the settings keeps a webhook's secret the owner never saw again."""
    by_shown = {redact(a): a for a in known}
    return [by_shown.get(a, a) if isinstance(a, str) else a for a in addresses]


def contacts_from_wire(c: object) -> Contacts:
    """The contacts a client sent (its JSON, decoded), each address checked, or an
    ``AfterwordError`` that says what is wrong and what to send."""
    if not isinstance(c, dict):
        raise AfterwordError("the contacts must be a JSON object", CONTACTS_HINT)
    for name in c:
        if name not in CONTACT_FIELDS:
            raise AfterwordError(f"unknown contacts field {name!r}", CONTACTS_HINT)
    lists: dict[str, list[str]] = {}
    for name in ("owner", "recipients"):
        value = c.get(name, [])
        if not isinstance(value, list):
            raise AfterwordError(f"contacts.{name} must be a list of addresses", CONTACTS_HINT)
        lists[name] = [check_address(x, f"contacts.{name}") for x in value]
    custodians = c.get("custodians", {})
    if not isinstance(custodians, dict) or not all(isinstance(v, str) for v in custodians.values()):
        raise AfterwordError(
            "contacts.custodians must be an object of LABEL: address", CONTACTS_HINT
        )
    alert_custodians = c.get("alert_custodians", False)
    if not isinstance(alert_custodians, bool):
        raise AfterwordError("contacts.alert_custodians must be true or false", CONTACTS_HINT)
    return Contacts(
        owner=lists["owner"],
        custodians={k: check_address(v, f"contacts.custodians.{k}") for k, v in custodians.items()},
        recipients=lists["recipients"],
        alert_custodians=alert_custodians,
    )


def contacts_of(row: repo.Switch, *, kinds: bool = False) -> Contacts:
    """Where the switch's messages go, as the owner set them at arming (or since);
    ``kinds``: with which custodians hold a paper card (their mail says so), read from
    the roster only for a custodian mail, not on every transition."""
    contacts = json.loads(row.contacts)
    roster = json.loads(row.custodians)["custodians"] if kinds else []
    return Contacts(
        contacts.get("owner", []),
        contacts.get("custodians", {}),
        contacts.get("recipients", []),
        bool(contacts.get("alert_custodians", False)),
        frozenset(str(c["label"]) for c in roster if c.get("kind") == "paper"),
        row.password_hash is not None,
    )


def contacts_to_json(contacts: Contacts) -> dict[str, Any]:
    """The contacts as the switch's row keeps them (read back by ``contacts_of``)."""
    return {
        "owner": list(contacts.owner),
        "custodians": dict(contacts.custodians),
        "recipients": list(contacts.recipients),
        "alert_custodians": contacts.alert_custodians,
    }
