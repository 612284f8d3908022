"""Errors a user can act on.

Every error afterword raises on purpose is an :class:`AfterwordError`: its message names
what went wrong, and ``hint`` says what to do about it. The CLI prints both on one line
and exits non-zero; anything else escaping is a bug.
"""

from __future__ import annotations


class AfterwordError(Exception):
    """Base class: a failure with a message for the user and a hint on what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class FormatError(AfterwordError):
    """A file is not what it claims to be (wrong type, malformed, unsupported version)."""


class SignatureError(AfterwordError):
    """A signature does not verify, or was made by a key other than the expected one."""


class IntegrityError(AfterwordError):
    """Content does not match its commitment (a document, a dossier, a proof)."""


class ShareError(AfterwordError):
    """Key shares are missing, corrupted, of another switch, or too few."""


class KeyFileError(AfterwordError):
    """An owner keyfile or an age identity cannot be read or unlocked."""
