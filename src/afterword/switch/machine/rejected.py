"""The machine's one refusal: :class:`Rejected`, raised by any rule for an event the state
does not allow (and then nothing changed).

Its own module because every rule module raises it: defined beside the dispatcher or in
``__init__`` it would make each of them import what imports them.
"""

from __future__ import annotations


class Rejected(Exception):
    """The event is not allowed in the current state; nothing changed.

    The message is for the person who sent it (an owner, a custodian).
    """
