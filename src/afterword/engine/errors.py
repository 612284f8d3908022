"""The engine's refusals, each one HTTP answer (the web layer maps them):

    AfterwordError (afterword.errors)
     +-- NotFound     no such switch (or release): 404
     +-- Forbidden    not authorized: bad signature, used or expired nonce: 403
     +-- Conflict     the switch's state does not allow this now: 409
     |    +-- Behind  a signed check-in or request with a counter behind the server's
     +-- TooEarly     not yet, but soon: a handoff to a peer not releasing yet: 425
     +-- TooLarge     an upload larger than the switch can take: 413
     +-- Locked       too many wrong guesses lately, or the arm quota: 429

Separate so the outer layers can map them without importing the engine's work.
"""

from __future__ import annotations

from afterword.errors import AfterwordError


class NotFound(AfterwordError):
    """No such switch (or release)."""


class Forbidden(AfterwordError):
    """The request is not authorized (bad signature, used or expired nonce)."""


class Conflict(AfterwordError):
    """The switch's state does not allow this now."""


class Behind(Conflict):
    """A signed owner message (a check-in, a request) whose counter is behind the highest
    this server holds (409): a replay, or the owner's counter fell behind (a key file moved
    to another machine). ``highest`` is the counter to sign past, and ``proof`` the
    owner-signed document that bears it, sent back under ``field``: the owner's CLI
    believes the counter only once it checked that signature (a server cannot make it up
    to lock the owner out of the others)."""

    def __init__(self, message: str, hint: str, highest: int, proof: object, field: str) -> None:
        super().__init__(message, hint)
        self.highest = highest
        self.proof = proof
        self.field = field


class TooEarly(AfterwordError):
    """Not yet, but it may be soon (425): a server of a switch hands its shares to a peer
    whose own copy of the switch is not releasing yet. The sender tries again later."""


class TooLarge(AfterwordError):
    """An upload larger than the switch can take (413)."""


class Locked(AfterwordError):
    """Too many wrong guesses at a switch lately: this way in is closed for a while (429).
    A signed check-in is never locked out: a lockout cannot silence the real owner."""
