"""The HTTP status for each kind of error the engine raises: one table for the JSON API
and the pages alike."""

from __future__ import annotations

from afterword.engine import Conflict, Forbidden, Locked, NotFound, TooLarge
from afterword.errors import AfterwordError

STATUSES: tuple[tuple[type[AfterwordError], int], ...] = (
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (TooLarge, 413),
    (Locked, 429),
)


def status_of(exc: AfterwordError) -> int:
    """404, 403, 409, 413 or 429 by the error's kind; 400 for anything else wrong with
    the request."""
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status
    return 400
