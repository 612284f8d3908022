"""Random input at every POST route: whatever arrives, the answer is below 500, every
refusal has the ``{"error", "hint"}`` body, and no file or row is left without the other.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shamir_mnemonic.constants import CUSTOMIZATION_STRING_EXTENDABLE, CUSTOMIZATION_STRING_ORIG
from shamir_mnemonic.rs1024 import create_checksum
from shamir_mnemonic.wordlist import WORDLIST

from afterword.crypto.encoding import b64encode, canonical_json
from afterword.crypto.signing import REQUEST_KIND
from tests.owner_request import next_counter
from tests.web.conftest import CONTACTS, PARTS, POLICY, Api

EXAMPLES = int(os.environ.get("AFTERWORD_FUZZ_EXAMPLES", "100"))  # more for a long hunt
FIELDS = [
    "afterword",
    "switch",
    "action",
    "nonce",
    "signature",
    "until",
    "mnemonic",
    "interval",
    "grace",
    "waiting",
    "reminders",
    "owner",
    "custodians",
    "recipients",
]
ACTIONS = ["checkin", "pause", "resume", "abort", "release", "status", "audit"]

keys = st.sampled_from(FIELDS) | st.text(max_size=8)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: Python's json reads them
    | st.text(max_size=30)
    | st.sampled_from(["mailto:a@example.org", "https://example.org/x", "carol", "server"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=15,
)
json_objects = st.dictionaries(keys, json_values, max_size=6)
# JSON that RFC 8785 can sign: finite numbers, integers within 2**53
signable = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def share_words(draw: st.DrawFn) -> str:
    """Words from the SLIP-39 list: random, or with a valid checksum (so parsing goes on)."""
    length = draw(st.sampled_from([20, 33, draw(st.integers(1, 40))]))
    indices = draw(st.lists(st.integers(0, 1023), min_size=length, max_size=length))
    if draw(st.booleans()) and length > 3:
        custom = draw(st.sampled_from([CUSTOMIZATION_STRING_ORIG, CUSTOMIZATION_STRING_EXTENDABLE]))
        indices = indices[:-3] + create_checksum(indices[:-3], custom)
    return " ".join(WORDLIST[i] for i in indices)


def switch_id(api: Api, data: st.DataObject) -> str:
    which = data.draw(st.sampled_from(["main", "main", "main", "other", "random"]), label="id")
    if which == "random":
        return data.draw(st.text(max_size=20), label="random id")
    return api.bundles.main.switch if which == "main" else api.bundles.other.switch


def check(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "hint"} and body["error"], (what, body)


def post_random_json(api: Api, data: st.DataObject, path: str) -> httpx.Response:
    kind = data.draw(st.sampled_from(["json", "object", "bytes", "form"]), label="body kind")
    if kind == "json":
        body = json.dumps(data.draw(json_values, label="json")).encode()
        return api.http.post(path, content=body, headers={"content-type": "application/json"})
    if kind == "object":
        return api.http.post(path, content=json.dumps(data.draw(json_objects, label="object")))
    if kind == "bytes":
        return api.http.post(path, content=data.draw(st.binary(max_size=300), label="bytes"))
    form = data.draw(st.dictionaries(keys, st.text(max_size=40), max_size=5), label="form")
    return api.http.post(path, data=form)


def post_signed(api: Api, data: st.DataObject, switch: str) -> httpx.Response:
    """A request the owner really signed, with a fresh nonce: random action and fields."""
    nonce = api.http.post(f"/switches/{switch}/challenge").json()["nonce"]
    extra = data.draw(st.dictionaries(keys, signable, max_size=3), label="extra")
    extra.pop("signature", None)  # the signature is over everything else
    body: dict[str, Any] = {**extra, "afterword": REQUEST_KIND, "switch": switch, "nonce": nonce}
    if data.draw(st.booleans(), label="numbered"):  # else none, or one drawn in extra
        body["counter"] = next_counter()
    body["action"] = data.draw(st.sampled_from(ACTIONS) | signable, label="action")
    if data.draw(st.booleans(), label="with until"):
        until = st.integers(api.clock.now - 10, api.clock.now + 40 * 86400) | signable
        body["until"] = data.draw(until, label="until")
    signed = {**body, "signature": b64encode(api.bundles.owner.signing.sign(canonical_json(body)))}
    return api.http.post(f"/switches/{switch}/owner", json=signed)


def post_arm(api: Api, data: st.DataObject) -> httpx.Response:
    """Real bundle parts (of either bundle) or random bytes, random policy and contacts."""
    bundle = data.draw(st.sampled_from([api.bundles.main, api.bundles.other]), label="bundle")
    files: list[tuple[str, tuple[str, bytes, str]]] = []
    for name in PARTS:
        choice = data.draw(st.sampled_from(["real", "real", "random", "absent"]), label=name)
        if choice == "absent":
            continue
        blob = bundle.part(name) if choice == "real" else data.draw(st.binary(max_size=200))
        files.append((name, (name, blob, "application/octet-stream")))
    if data.draw(st.booleans(), label="envelope"):
        label = data.draw(st.sampled_from(["server", "alice", "carol"]) | st.text(max_size=10))
        blob = bundle.envelope("server") if data.draw(st.booleans()) else b"age?"
        files.append(("envelopes", (f"{label}.age", blob, "application/octet-stream")))
    fields: dict[str, str] = {}
    for name, usual in (("policy", POLICY), ("contacts", CONTACTS)):
        how = data.draw(st.sampled_from(["usual", "changed", "random", "text"]), label=name)
        if how == "text":
            fields[name] = data.draw(st.text(max_size=40), label=f"{name} text")
        elif how == "random":
            fields[name] = json.dumps(data.draw(json_values, label=f"{name} json"))
        else:  # the usual value, or the usual value with some fields replaced
            changes = {} if how == "usual" else data.draw(json_objects, label=f"{name} changes")
            fields[name] = json.dumps({**usual, **changes})
    for name, value in data.draw(st.dictionaries(keys, st.text(max_size=20), max_size=2)).items():
        fields.setdefault(name, value)
    return api.http.post("/switches", files=files or None, data=fields)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_input_makes_a_500(api: Api, data: st.DataObject) -> None:
    main = api.bundles.main.switch
    if main not in api.switch_ids():
        assert api.arm().status_code == 201
    route = data.draw(
        st.sampled_from(["arm", "challenge", "owner", "signed", "shares", "words"]), label="route"
    )
    switch = switch_id(api, data)
    segment = quote(switch, safe="")
    if route == "arm":
        response = post_arm(api, data)
    elif route == "signed":
        response = post_signed(api, data, main)
    elif route == "words":
        mnemonic = data.draw(share_words(), label="words")
        response = api.http.post(f"/switches/{segment}/shares", json={"mnemonic": mnemonic})
    elif route == "challenge":
        response = api.http.post(f"/switches/{segment}/challenge")
    else:
        response = post_random_json(api, data, f"/switches/{segment}/{route}")
    check(response, route)

    # every switch row has its dossier, and there is no other file (no .partial left)
    ids = api.switch_ids()
    assert set(ids) <= {main, api.bundles.other.switch}
    assert api.files() == sorted(f"dossiers/{s}.age" for s in ids)
