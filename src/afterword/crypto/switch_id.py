"""Switch ids: what one may look like, how it is derived, and the one check of a value.

A switch id names files, URL paths and database keys, and it is bound to its owner
(issue 15, item 15): derived from the owner's public signing key and the dossier's age
recipient, so whoever saw a notice cannot arm its id first with a key of their own. Its
own module because every layer reads ids (the web from URLs and forms, the engine from a
manifest, crypto from notices and releases) and each must hold them to the same shape:
``SWITCH_ID`` and ``check_switch_id`` are that shape, checked once, here.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import TypeGuard

from afterword.crypto.encoding import canonical_json
from afterword.errors import FormatError, SignatureError

SWITCH_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a switch id may look like: it names files and URL paths."""

SWITCH_ID_KIND = "switch-id/1"
"""The domain tag hashed into every switch id, so the hash means nothing else."""


def switch_id_for(owner_key: str, dossier_recipient: str) -> str:
    """The switch id bound to an owner key and a dossier: 160 bits of SHA-256 over the
    RFC 8785 canonical JSON ``{"afterword": "switch-id/1", "owner_key": ...,
    "dossier_recipient": ...}``, base32 lowercase (32 letters and digits, no padding).

    Whoever sees a notice learns its id, but cannot arm that id first with a key of their
    own: the server arms an id only for the key (and dossier) it is derived from. The
    dossier key is fresh for every seal, so one owner's switches still differ.
    """
    body = {
        "afterword": SWITCH_ID_KIND,
        "owner_key": owner_key,
        "dossier_recipient": dossier_recipient,
    }
    digest = hashlib.sha256(canonical_json(body)).digest()[:20]
    return base64.b32encode(digest).decode("ascii").lower()


def check_switch_binding(
    switch: object, owner_key: object, dossier_recipient: object, *, what: str, hint: str
) -> None:
    """Refuse ``what`` (e.g. "the notice") unless its switch id is the one derived from its
    owner key and dossier recipient; ``hint`` says what the reader should do instead."""
    if not isinstance(owner_key, str) or not isinstance(dossier_recipient, str):
        raise FormatError(
            f"{what} does not name its owner key and dossier recipient, so its switch id "
            "cannot be checked against them",
            hint,
        )
    expected = switch_id_for(owner_key, dossier_recipient)
    if switch != expected:
        raise SignatureError(
            f"{what} names switch {switch}, but the switch of its owner key and dossier is "
            f"{expected}: the id belongs to someone else's notice, or was made by an "
            "afterword older than switch ids bound to their owner",
            hint,
        )


def is_switch_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` can name a switch at all (a string of ``SWITCH_ID``'s shape): a
    value that cannot is not looked up, nor put in a file name or a URL."""
    return isinstance(value, str) and SWITCH_ID.fullmatch(value) is not None


def normalize_switch_id(value: str) -> str:
    """A switch id as afterword writes it, whatever the case it was typed in: ids are
    base32 lowercase (:func:`switch_id_for`), and a person copying one from a card or a
    screen may not keep the case. A value of another shape is returned unchanged (the
    check that refuses it comes after)."""
    return value.lower() if is_switch_id(value) else value


def check_switch_id(
    value: object,
    what: str = "the switch id",
    hint: str = "use the switch id `afterword seal` printed",
) -> str:
    """``value`` if it can name a switch; else a ``FormatError`` that says what an id is.

    ``what`` names the value for the message ("the manifest's switch id"), ``hint`` says
    what to do instead."""
    if not is_switch_id(value):
        raise FormatError(
            f"{what} is not one afterword makes (1 to 64 letters, digits, - or _)", hint
        )
    return value
