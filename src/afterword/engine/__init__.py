"""Applying events to switches: what the web API and the worker share.

Sits between the outer layers (web, cli, worker) and store/delivery/switch/crypto. The
facade is :class:`Engine` (``engine.py``); docs/architecture.md names the module of each
rule.
"""

from afterword.engine.contacts import Contacts
from afterword.engine.context import ARM_QUOTA, Config, OwnerSession, TickReport
from afterword.engine.engine import Engine
from afterword.engine.errors import (
    Behind,
    Conflict,
    Forbidden,
    Locked,
    NotFound,
    TooEarly,
    TooLarge,
)
from afterword.engine.keys import ServerKeys

__all__ = [
    "ARM_QUOTA",
    "Behind",
    "Config",
    "Conflict",
    "Contacts",
    "Engine",
    "Forbidden",
    "Locked",
    "NotFound",
    "OwnerSession",
    "ServerKeys",
    "TickReport",
    "TooEarly",
    "TooLarge",
]
