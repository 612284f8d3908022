"""The engine's refusals, each one HTTP answer (the web layer maps them):

    AfterwordError (afterword.errors)
     +-- NotFound     no such switch (or release): 404
     +-- Forbidden    not authorized: bad signature, used or expired nonce: 403
     +-- Conflict     the switch's state does not allow this now: 409
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


class TooEarly(AfterwordError):
    """Not yet, but it may be soon (425): a server of a switch hands its shares to a peer
    whose own copy of the switch is not releasing yet. The sender tries again later."""


class TooLarge(AfterwordError):
    """An upload larger than the switch can take (413)."""


class Locked(AfterwordError):
    """Too many wrong guesses at a switch lately: this way in is closed for a while (429).
    A signed check-in is never locked out: a lockout cannot silence the real owner."""
