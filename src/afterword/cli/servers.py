"""A switch on several servers, as the owner's commands see it (issue 17): the roster
``arm`` signs and sends to each server, the one-request check-in ``checkin`` sends to
every server, and the check-in counter kept beside the key file.

Separate from the commands (``cli/arm.py``, ``cli/owner.py``) because ``arm`` and
``checkin`` both need the servers' own descriptions and both answer per server: a switch
is as alive as the servers that took the request, and the owner is told which did not.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from afterword.client import Client, ServerError
from afterword.crypto.bundle import load_json
from afterword.crypto.checkin import MAX_COUNTER, load_checkin, sign_checkin
from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import proven_counter
from afterword.crypto.servers import Server, check_server_url, sign_roster
from afterword.errors import AfterwordError

COUNTERS_SUFFIX = ".checkins.json"
"""Beside the key file (``owner.age.checkins.json``): the last check-in counter signed per
switch. Not secret: it says how many check-ins there were, which every server knows."""


def describe(urls: list[str]) -> list[Server]:
    """Each server as it describes itself (``/.well-known/afterword``): its URL, its
    signing key and its age recipient, in the order given."""
    servers = []
    for url in urls:
        url = check_server_url(url)
        with Client(url) as client:
            known = client.well_known()
        servers.append(Server(url, str(known["server_key"]), str(known["recipient"])))
    return servers


def held_by(bundle: Path, server: Server) -> list[str]:
    """The custodians of ``bundle`` sealed for ``server``'s recipient: the shares it holds."""
    roster = load_json(bundle / "custodians.json", "custodians")
    return [c["label"] for c in roster["custodians"] if c.get("recipient") == server.recipient]


def arm_everywhere(
    bundle: Path, owner: OwnerKey, urls: list[str], arm: Callable[[Client, list[str], Any], Any]
) -> dict[str, Any]:
    """Arm ``bundle`` on every server of ``urls`` with one roster the owner signs: each
    server is given the shares sealed for its recipient. ``arm(client, labels, roster)``
    arms one. The answer is ``{"switch", "servers": {URL: STATE or "error: ..."}}``."""
    switch = str(load_json(bundle / "manifest.json", "manifest")["switch"])
    servers = describe(urls)
    roster = sign_roster(owner.signing, switch, servers)
    states: dict[str, str] = {}
    for server in servers:
        try:
            with Client(server.url) as client:
                status = arm(client, held_by(bundle, server), roster)
            states[server.url] = str(status["state"])
        except AfterwordError as exc:
            states[server.url] = f"error: {exc}"
    return {"switch": switch, "servers": states}


def checkin_everywhere(
    urls: list[str], owner: OwnerKey, keyfile: Path, switch: str
) -> dict[str, dict[str, Any]]:
    """Sign the next check-in and send it to every server, one request each. A server that
    holds a higher counter says so, and shows the check-in signed with this key file that
    bears it; the check-in is then signed again past it and sent once more (to every
    server: the highest one is the one that counts). The answer per URL: the server's
    status, or ``{"error": ...}``."""
    counter = take_counter(keyfile, switch)
    answers: dict[str, dict[str, Any]] = {}
    for _ in range(2):
        doc = sign_checkin(owner.signing, switch, int(time.time()), counter)
        highest = 0
        for url in urls:
            try:
                with Client(url) as client:
                    answers[url] = client.signed_checkin(switch, doc)
            except ServerError as exc:
                answers[url] = {"error": str(exc)}
                if exc.status == 409 and "counter" in exc.body:  # stale, not refused
                    highest = max(highest, _proven(exc.body, owner, switch, url, answers))
            except AfterwordError as exc:
                answers[url] = {"error": str(exc)}
        if highest < counter:
            break
        if highest >= MAX_COUNTER:
            raise AfterwordError(
                "a check-in bearing the last counter there is was signed with this key file",
                "arm the switch again with a new key file",
            )
        counter = take_counter(keyfile, switch, past=highest)
    return answers


def signing_keys(owner: OwnerKey) -> list[str]:
    """The keys this key file signs with: the owner's, and its duress key if it has one. A
    proof a server shows (a check-in, a request) counts only if one of them signed it."""
    return [owner.public_key, *([owner.duress_public_key] if owner.duress_public_key else [])]


def _proven(
    body: dict[str, Any], owner: OwnerKey, switch: str, url: str, answers: dict[str, Any]
) -> int:
    """The counter a server says it holds, if it shows a check-in signed with this key
    file (the owner's key or its duress key) that bears it; 0 otherwise, and that server
    is named as one that did not take the check-in. A server cannot make up a counter to
    lock the owner out of the others."""
    try:
        shown = load_checkin(body.get("checkin"), switch, signing_keys(owner))
    except AfterwordError:
        answers[url] = {"error": f"{url} refused the check-in, and showed none it holds"}
        return 0
    return shown.counter


class Signer:
    """The owner's unlocked key file, signing requests (``request/1``) for ``switch``: each
    one numbered anew from the key file's counters (the ones check-ins use), taken and
    saved before anything is sent (:func:`take_counter`), so no two requests share a
    number: the servers order the requests that change the switch by it, and two that
    shared one would pass for copies of each other. A server that acted on a higher one
    since (another machine signed it) shows that request; once its signature checks, the
    request is signed past it and sent to that server again. A number it does not prove
    is not believed."""

    def __init__(self, owner: OwnerKey, keyfile: Path, switch: str) -> None:
        self.owner = owner
        self.keyfile = keyfile
        self.switch = switch
        self.counter = 0  # the last number signed

    def request(self, client: Client, action: str, **extra: Any) -> dict[str, Any]:
        """``action`` at ``client``'s server, signed; its answer."""
        self.counter = take_counter(self.keyfile, self.switch)
        try:
            return client.owner(self.switch, self.owner, action, self.counter, **extra)
        except ServerError as exc:
            if exc.status != 409 or "request" not in exc.body:
                raise
            try:
                shown = proven_counter(exc.body["request"], self.switch, signing_keys(self.owner))
            except AfterwordError:
                raise AfterwordError(
                    f"{client.server} says it acted on a later request, and shows none "
                    "this key file signed",
                    "nothing was done there; tell its operator, and check the switch's "
                    "other servers",
                ) from None
            if shown < self.counter or shown >= MAX_COUNTER:
                raise
            self.counter = take_counter(self.keyfile, self.switch, past=shown)
            return client.owner(self.switch, self.owner, action, self.counter, **extra)


def take_counter(keyfile: Path, switch: str, past: int = 0) -> int:
    """The next number for ``switch`` (past ``past`` too), saved before it is used, under a
    lock of the counters file: two commands at once (a monitor's ``status`` beside the
    owner's ``abort``) never take the same one."""
    lock = counters_path(keyfile).with_suffix(".lock")
    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        counter = max(next_counter(keyfile, switch), past + 1)
        save_counter(keyfile, switch, counter)
    return counter


def counters_path(keyfile: Path) -> Path:
    return keyfile.with_name(keyfile.name + COUNTERS_SUFFIX)


def next_counter(keyfile: Path, switch: str) -> int:
    """One past the last counter signed for ``switch`` with this key file (1 at first)."""
    return int(_counters(keyfile).get(switch, 0)) + 1


def save_counter(keyfile: Path, switch: str, counter: int) -> None:
    """Remember ``counter`` as signed, before it is sent (written whole, then renamed: a
    crash leaves the old file or the new one)."""
    path = counters_path(keyfile)
    counters = {**_counters(keyfile), switch: counter}
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(counters, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _counters(keyfile: Path) -> dict[str, int]:
    path = counters_path(keyfile)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AfterwordError(
            f"cannot read the check-in counters in {path}",
            "delete the file: the servers tell the next check-in which counter to sign past",
        ) from exc
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}
