"""Fuzz the API's body parsing: JSON bodies (streamed, with a size limit), JSON file
uploads, the policy and contacts form fields of ``POST /switches``, contact addresses,
switch ids from URLs and password check-in bodies, as ``afterword.web.api`` (with
``switch/policy.py``'s and ``engine/contacts.py``'s codecs) reads them before the engine
sees anything."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from fastapi import UploadFile
from starlette.requests import Request

from afterword.engine.contacts import check_address
from afterword.switch import policy
from afterword.web import api
from afterword.web.rendering import check_id
from fuzz.common import FDP, expect_refusal, json_value, mutated, run

POLICY = {"interval": 3600, "grace": 600, "waiting": 600, "reminders": [1800], "duress_delay": 0}
CONTACTS = {
    "owner": ["mailto:owner@example.org"],
    "custodians": {"carol": "mailto:carol@example.org"},
    "recipients": ["mailto:press@example.org", "https://hooks.example.org/release"],
    "alert_custodians": False,
}


def request_with(chunks: list[bytes]) -> Request:
    """A request whose body arrives in ``chunks``, as uvicorn hands it to the app."""
    pending = list(chunks) or [b""]

    async def receive() -> dict[str, Any]:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    return Request(scope, receive)


def text_field(fdp: FDP, base: dict[str, Any]) -> str:
    """A form field: raw text, or a real policy/contacts object mutated."""
    if fdp.ConsumeBool():
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 400))
    return json.dumps(mutated(fdp, base))


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    mode = fdp.ConsumeIntInRange(0, 7)
    if mode == 0:
        text = text_field(fdp, POLICY)
        expect_refusal(lambda: api._policy(text))
    elif mode == 1:
        text = text_field(fdp, CONTACTS)
        expect_refusal(lambda: api._contacts(text))
    elif mode == 2:
        value = (
            json_value(fdp)
            if fdp.ConsumeBool()
            else fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 200))
        )
        expect_refusal(lambda: check_address(value, "contacts.owner"))
    elif mode == 3:
        switch = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 80))
        expect_refusal(lambda: check_id(switch))
    elif mode == 4:
        size = fdp.ConsumeIntInRange(1, 70_000)
        body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 2000))
        if fdp.ConsumeBool():  # past the size limit, in pieces
            body = body * (size // max(len(body), 1) + 1) if body else b" " * size
        cut = fdp.ConsumeIntInRange(1, 4096)
        chunks = [body[i : i + cut] for i in range(0, len(body), cut)]
        expect_refusal(lambda: asyncio.run(api._json_body(request_with(chunks), "hint")))
    elif mode == 5:
        blob = fdp.ConsumeBytes(fdp.remaining_bytes())
        upload = UploadFile(io.BytesIO(blob), filename="manifest.json")
        expect_refusal(lambda: asyncio.run(api._json_file(upload, "manifest.json")))
    elif mode == 6:
        value = json_value(fdp)
        expect_refusal(lambda: policy._seconds(value, "policy.interval"))
    else:  # a password check-in's body, once it parsed as JSON
        body = (
            json_value(fdp) if fdp.ConsumeBool() else mutated(fdp, {"password": "x", "code": None})
        )
        expect_refusal(lambda: api._password_body(body, "hint"))


if __name__ == "__main__":
    run(one_input)
