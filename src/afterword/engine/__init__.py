"""Applying events to switches: what the web API and the worker share.

Sits between the outer layers (web, cli, worker) and store/delivery/switch/crypto.
"""

from afterword.engine.engine import (
    Config,
    Conflict,
    Engine,
    Forbidden,
    Locked,
    NotFound,
    TickReport,
    TooLarge,
)
from afterword.engine.keys import ServerKeys
from afterword.engine.messages import Contacts

__all__ = [
    "Config",
    "Conflict",
    "Contacts",
    "Engine",
    "Forbidden",
    "Locked",
    "NotFound",
    "ServerKeys",
    "TickReport",
    "TooLarge",
]
