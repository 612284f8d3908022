"""The HTTP API against bad input: every refusal is a 4xx with ``{"error", "hint"}`` that
says what was wrong, never a 500, and a refused request leaves nothing behind (no switch
row, no file under the data directory). Real server (uvicorn on loopback), both databases.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest

from afterword import __version__
from afterword.crypto.keys import OwnerKey
from afterword.crypto.signing import REQUEST_KIND
from afterword.store.models import ShareRow
from tests.owner_request import owner_request
from tests.web.conftest import CONTACTS, POLICY, Api, leaks

RELEASE_PATHS = ("", "/key", "/statement.json", "/manifest.json", "/notice.json", "/dossier.age")


def refused(response: httpx.Response, status: int, *needles: str) -> dict[str, str]:
    """Assert the status and the error body; each needle must appear in error or hint."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "hint"}, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["hint"], str), body
    said = f"{body['error']} / {body['hint']}".lower()
    for needle in needles:
        assert needle.lower() in said, (needle, body)
    return dict(body)


def nothing_kept(api: Api, armed: tuple[str, ...] = ()) -> None:
    """No switch row but the ``armed`` ones, and no file but their dossiers."""
    assert api.switch_ids() == sorted(armed)
    assert api.files() == sorted(f"dossiers/{s}.age" for s in armed)


def resign(doc: dict[str, Any], key: OwnerKey, **changes: Any) -> bytes:
    body = {k: v for k, v in doc.items() if k not in ("signature", "owner_key")}
    return json.dumps(key.sign({**body, **changes})).encode()


def armed(api: Api) -> str:
    response = api.arm()
    assert response.status_code == 201, response.text
    switch = str(response.json()["switch"])
    assert switch == api.bundles.main.switch and response.json()["state"] == "armed"
    return switch


def signed(
    api: Api, switch: str, action: str, key: OwnerKey | None = None, **extra: Any
) -> dict[str, Any]:
    nonce = (
        extra.pop("nonce", None) or api.http.post(f"/switches/{switch}/challenge").json()["nonce"]
    )
    return owner_request(key or api.bundles.owner, switch, action, nonce, **extra)


# --- the log check every test here ends with -----------------------------------------


def test_the_log_check_would_catch_a_leak(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    carol = api.bundles.main.mnemonics["carol"]
    words = carol.split()
    assert leaks(f"got share: {carol}", api.bundles.mnemonics())
    assert leaks("x " + " ".join(words[10:14]).upper() + " y", api.bundles.mnemonics())
    assert leaks(f"identity {api.engine.keys.age_identity}", [])
    assert not leaks(" ".join(words[10:13]) + " and " + words[13], api.bundles.mnemonics())
    # and what the server thread logs does reach it (asyncio, at the server's start)
    seen = [*caplog.get_records("setup"), *caplog.records]
    assert any(r.threadName == "afterword-test-server" for r in seen)


# --- discovery ---------------------------------------------------------------------------


def test_well_known_names_the_server(api: Api) -> None:
    response = api.http.get("/.well-known/afterword")
    assert response.status_code == 200
    body = response.json()
    assert body["recipient"].startswith("age1")
    assert body["recipient"] == api.engine.keys.age_recipient
    assert body["server_key"].startswith("ed25519:")
    assert body["server_key"] == api.engine.keys.public_key
    assert body["version"] == __version__
    assert "SECRET" not in response.text.upper()


def test_unknown_routes_and_methods_answer_in_the_error_format(api: Api) -> None:
    refused(api.http.get("/nowhere"), 404, "/nowhere")
    # owner actions are POST only: a mail scanner opening a link must not act
    refused(api.http.get("/switches/abc/owner"), 405, "post")
    refused(api.http.get("/switches"), 405, "post")


# --- arming ------------------------------------------------------------------------------


def test_arm_accepts_a_whole_bundle(api: Api) -> None:
    switch = armed(api)
    nothing_kept(api, (switch,))
    kept = api.data_dir / "dossiers" / f"{switch}.age"
    assert kept.read_bytes() == api.bundles.main.part("dossier")


@pytest.mark.parametrize("part", ["manifest", "notice", "custodians", "dossier", "policy"])
def test_arm_names_a_missing_part(api: Api, part: str) -> None:
    refused(api.arm(omit=(part,)), 422, f"no {part} part", "multipart")
    nothing_kept(api)


def test_arm_refuses_documents_that_do_not_belong(api: Api) -> None:
    main, other = api.bundles.main, api.bundles.other
    manifest = main.doc("manifest")
    tampered = json.dumps({**manifest, "created": "2001-01-01T00:00:00Z"}).encode()
    stranger = OwnerKey.generate()
    dossier = main.part("dossier")
    cases: list[tuple[dict[str, bytes], str]] = [
        ({"manifest": b"{not json"}, "manifest.json is not valid JSON"),
        ({"manifest": b"\xff\xfe\x00"}, "manifest.json is not valid JSON"),
        ({"manifest": b"[1, 2]"}, "not an afterword file"),
        ({"manifest": main.part("notice")}, "expected an afterword manifest"),
        ({"manifest": tampered}, "manifest's signature does not verify"),
        ({"manifest": resign(manifest, stranger)}, "not by the expected key"),
        ({"notice": b"null"}, "not an afterword file"),
        ({"notice": other.part("notice")}, "dossier id differs from the notice's"),
        ({"custodians": other.part("custodians")}, "custodians.json belongs to another switch"),
        ({"custodians": b"{}"}, "not an afterword file"),
        ({"dossier": dossier[:-10]}, "not the one the manifest describes"),
        ({"dossier": dossier[:100]}, "not the one the manifest describes"),
        ({"dossier": b""}, "not the one the manifest describes"),
        ({"dossier": other.part("dossier")}, "not the one the manifest describes"),
    ]
    for replace, message in cases:
        refused(api.arm(replace=replace), 400, message)
        nothing_kept(api)


def test_arm_refuses_a_bad_policy(api: Api) -> None:
    def policy(**changes: Any) -> str:
        return json.dumps({**POLICY, **changes})

    cases: list[tuple[str, str]] = [
        ("every week", "the policy field is not valid json"),
        ("[3600]", "the policy must be a json object"),
        ('"3600"', "the policy must be a json object"),
        (json.dumps({"grace": 600}), "the policy has no interval"),
        (policy(interval=0), "interval must be positive"),
        (policy(interval=-3600), "interval must be positive"),
        (policy(grace=-1), "grace must not be negative"),
        (policy(waiting=-1), "waiting must not be negative"),
        (policy(reminders=[0]), "reminder offsets must be positive"),
        (policy(interval="7d"), "interval must be a whole number of seconds"),
        (policy(interval=3600.5), "interval must be a whole number of seconds"),
        (policy(interval=True), "interval must be a whole number of seconds"),
        (policy(interval=None), "interval must be a whole number of seconds"),
        ('{"interval": Infinity}', "interval must be a whole number of seconds"),
        ('{"interval": NaN}', "interval must be a whole number of seconds"),
        (policy(interval=10**30), "interval is longer than"),
        (policy(grace=2**63), "grace is longer than"),
        (policy(reminders="1800"), "reminders must be a list"),
        (policy(reminders=["soon"]), "reminders must be a list of whole numbers"),
    ]
    for text, message in cases:
        refused(api.arm(policy=text), 400, message)
        nothing_kept(api)
    # the server's own minimum (min_duration=1 in the fixture; raise it for this case)
    api.engine.config = dataclasses.replace(api.engine.config, min_duration=3600)
    refused(
        api.arm(policy=policy(interval=60)), 400, "interval 60s is shorter than", "minimum of 3600s"
    )
    refused(api.arm(policy=policy(grace=59)), 400, "grace 59s is shorter than")
    nothing_kept(api)


def test_arm_refuses_bad_contacts(api: Api) -> None:
    def contacts(**changes: Any) -> str:
        return json.dumps({**CONTACTS, **changes})

    cases: list[tuple[str, str]] = [
        ("mailto:me", "the contacts field is not valid json"),
        ('["mailto:a@example.org"]', "the contacts must be a json object"),
        (contacts(owner="mailto:a@example.org"), "contacts.owner must be a list"),
        (contacts(recipients=[1]), "contacts.recipients: 1 is not a mailto:"),
        (contacts(recipients="mailto:a@example.org"), "contacts.recipients must be a list"),
        (contacts(owner=["mailto:a@example.org\r\nBcc: x@example.org"]), "is not a mailto:"),
        (contacts(owner=["mailto:nobody"]), "'mailto:nobody' is not a mailto:"),
        (contacts(custodians=["carol"]), "contacts.custodians must be an object"),
        (contacts(custodians={"carol": 5}), "contacts.custodians must be an object"),
        (contacts(recipients=["press@example.org"]), "'press@example.org' is not a mailto:"),
        (contacts(owner=["ftp://example.org"]), "'ftp://example.org' is not a mailto:"),
        (contacts(recipients=["https://"]), "'https://' is not a mailto:"),
        (contacts(surprise=[]), "unknown contacts field 'surprise'"),
        (contacts(custodians={"dave": "mailto:d@example.org"}), "no custodian is labelled 'dave'"),
    ]
    for text, message in cases:
        refused(api.arm(contacts=text), 400, message)
        nothing_kept(api)


def test_arm_refuses_envelopes_it_cannot_hold(api: Api) -> None:
    main, other = api.bundles.main, api.bundles.other
    cases: list[tuple[list[tuple[str, bytes]], str]] = [
        # alice's envelope is sealed to alice, not to this server
        ([("alice.age", main.envelope("alice"))], "does not open with this server's key"),
        ([("server.age", b"not age at all")], "does not open with this server's key"),
        ([("server.age", other.envelope("server"))], "is not server's share of this switch"),
        ([("carol.age", main.envelope("server"))], "is not carol's share of this switch"),
        ([("dave.age", main.envelope("server"))], "no custodian is labelled 'dave'"),
        ([("../server.age", main.envelope("server"))], "not named after a custodian label"),
        ([("x" * 200 + ".age", main.envelope("server"))], "not named after a custodian label"),
    ]
    for envelopes, message in cases:
        refused(api.arm(envelopes=envelopes), 400, message)
        nothing_kept(api)
    # without a file name, multipart makes it a text field, not a file
    refused(api.arm(envelopes=[("", main.envelope("server"))]), 422, "envelopes part is not a file")
    nothing_kept(api)


def test_arm_refuses_the_same_bundle_twice(api: Api) -> None:
    switch = armed(api)
    refused(api.arm(), 409, f"switch {switch} is already armed")
    # a second attempt with a damaged dossier must not touch the first one's file either
    refused(api.arm(replace={"dossier": b"garbage"}), 400, "not the one the manifest")
    nothing_kept(api, (switch,))
    assert (api.data_dir / "dossiers" / f"{switch}.age").read_bytes() == (
        api.bundles.main.part("dossier")
    )


@pytest.mark.parametrize("switch_id", ["../escape", "a/b", "x" * 65, "", "caf\u00e9", "a\x00b"])
def test_arm_refuses_a_switch_id_unsafe_as_a_file_name(api: Api, switch_id: str) -> None:
    """Anyone can sign a bundle with a key of their own: the switch id must not steer
    where the dossier is written (nor overflow the database column)."""
    main, key = api.bundles.main, OwnerKey.generate()
    forged = {
        "manifest": resign(main.doc("manifest"), key, switch=switch_id),
        "notice": resign(main.doc("notice"), key, switch=switch_id),
        "custodians": resign(main.doc("custodians"), key, switch=switch_id),
    }
    refused(api.arm(replace=forged, envelopes=[]), 400, "switch id")
    nothing_kept(api)
    assert not list(api.data_dir.parent.glob("*.age")) and not list(api.data_dir.glob("*.age"))


def test_a_squatter_cannot_arm_the_id_a_notice_names(api: Api) -> None:
    """Issue 15, item 15: whoever sees the victim's notice learns its switch id. Signing
    the bundle's documents with their own key (here even with the victim's own dossier and
    the server's envelope, the strongest squatter) does not let them arm that id first."""
    main, squatter = api.bundles.main, OwnerKey.generate()
    victim = main.switch
    squatted = {
        name: resign(main.doc(name), squatter) for name in ("manifest", "notice", "custodians")
    }
    body = refused(api.arm(replace=squatted), 400, f"the manifest names switch {victim}")
    assert "arm the bundle that afterword sealed with your own key" in body["hint"]
    nothing_kept(api)
    # the owner's own manifest beside a notice naming another dossier: the server would
    # publish a notice that verify refuses
    other = api.bundles.other.doc("notice")["dossier_recipient"]
    moved = resign(main.doc("notice"), api.bundles.owner, dossier_recipient=other)
    refused(api.arm(replace={"notice": moved}), 400, "notice names another dossier recipient")
    nothing_kept(api)
    # the victim still arms their switch, under the id the notice named
    assert armed(api) == victim
    nothing_kept(api, (victim,))


# --- owner requests ----------------------------------------------------------------------


def test_owner_requests_for_an_unknown_switch(api: Api) -> None:
    # a challenge is a MAC, not a lookup: the signed request is what finds no switch
    nonce = api.http.post("/switches/nosuchswitch/challenge").json()["nonce"]
    body = {"afterword": REQUEST_KIND, "switch": "nosuchswitch", "action": "checkin"}
    body["nonce"] = nonce
    refused(api.http.post("/switches/nosuchswitch/owner", json=body), 404, "no switch nosuchswitch")
    # ids that can never name a switch are refused before any lookup
    for bad in ("%00", "a%00b", "x" * 300, "%C3%A9"):
        refused(api.http.post(f"/switches/{bad}/challenge"), 404, "no switch")
        refused(api.http.post(f"/switches/{bad}/owner", json=body), 404, "no switch")


def test_owner_requests_are_checked(api: Api) -> None:
    switch = armed(api)
    url = f"/switches/{switch}/owner"
    post = api.http.post

    refused(post(url, content=b"checkin please"), 400, "not json")
    refused(post(url, content=b""), 400, "not json")
    refused(post(url, content=b"\xff\xfe"), 400, "not json")
    refused(post(url, content=b"[" * 60_000), 400, "not json")
    refused(post(url, content=b" " * 70_000), 413, "larger than")
    refused(post(url, json=[signed(api, switch, "checkin")]), 400, "must be a json object")
    refused(post(url, json="checkin"), 400, "must be a json object")

    wrong_kind = signed(api, switch, "checkin")
    wrong_kind["afterword"] = "notice/1"
    refused(post(url, json=wrong_kind), 403, "not for this switch")
    other_switch = {**signed(api, switch, "checkin"), "switch": api.bundles.other.switch}
    refused(post(url, json=other_switch), 403, "not for this switch")
    stranger = OwnerKey.generate()
    refused(post(url, json=signed(api, switch, "release", key=stranger)), 403, "signature")
    unsigned = signed(api, switch, "checkin")
    del unsigned["signature"]
    refused(post(url, json=unsigned), 403, "signature")
    altered = {**signed(api, switch, "pause", until=api.clock.now + 60), "until": 2**40}
    refused(post(url, json=altered), 403, "signature")
    # a key no signature can cover (a lone surrogate): rfc8785 raised UnicodeEncodeError, a 500
    surrogate = json.dumps(signed(api, switch, "checkin"))[:-1] + ', "\\ud800": 1}'
    refused(post(url, content=surrogate.encode()), 400, "signatures cannot cover")

    request = signed(api, switch, "checkin")
    assert post(url, json=request).status_code == 200
    refused(post(url, json=request), 403, "used or expired", "new challenge")  # replayed
    stale = signed(api, switch, "checkin")
    api.clock.now += 301  # the engine's clock: the nonce lived 300 s
    refused(post(url, json=stale), 403, "used or expired")
    forged_nonce = {**signed(api, switch, "checkin"), "nonce": "0" * 32}
    refused(post(url, json=forged_nonce), 403, "signature")

    refused(post(url, json=signed(api, switch, "explode")), 400, "unknown action 'explode'", "use")
    refused(post(url, json=signed(api, switch, 7)), 400, "unknown action 7")
    now = api.clock.now
    refused(post(url, json=signed(api, switch, "pause", until=now + 31 * 86400)), 409, "at most")
    refused(post(url, json=signed(api, switch, "pause", until=now - 1)), 409, "in the future")
    refused(post(url, json=signed(api, switch, "abort")), 409, "only a pending release")
    refused(post(url, json=signed(api, switch, "resume")), 409, "not paused")
    for until in ("tomorrow", 1.5e9, None, [now + 60]):
        refused(post(url, json=signed(api, switch, "pause", until=until)), 400, "'until'")
    refused(post(url, json=signed(api, switch, "pause")), 400, "'until'")

    status = post(url, json=signed(api, switch, "status")).json()
    assert status["state"] == "armed"
    kinds = [e["kind"] for e in status["audit"]]
    assert "paused" not in kinds and "aborted" not in kinds and kinds.count("checked-in") == 1


# --- custodians' shares ------------------------------------------------------------------


def test_shares_are_checked_on_arrival(api: Api) -> None:
    switch = armed(api)
    url = f"/switches/{switch}/shares"
    post = api.http.post
    main, other = api.bundles.main, api.bundles.other
    carol = main.mnemonics["carol"]
    words = carol.split()
    mistyped = " ".join([*words[:5], "zebra" if words[5] != "zebra" else "acid", *words[6:]])

    for body in (b"academic acid", b"", b"[", b"\xff"):
        refused(post(url, content=body), 400, '{"mnemonic"')
    for bad_json in ({}, {"words": carol}, [carol], carol, 12):
        refused(post(url, json=bad_json), 400, '{"mnemonic"')
    refused(post(url, json={"mnemonic": "1234 5678"}), 400, "no share words found")
    refused(post(url, json={"mnemonic": "hello world"}), 400, "damaged or mistyped")
    refused(post(url, json={"mnemonic": mistyped}), 400, "damaged or mistyped", "compare every")
    refused(post(url, json={"mnemonic": " ".join(words[:-1])}), 400, "damaged or mistyped")
    refused(post(url, json={"mnemonic": "acid " * 10_000}), 400, "damaged or mistyped")
    refused(post(url, json={"mnemonic": "acid " * 20_000}), 413, "larger than")
    refused(post(url, json={"mnemonic": {"words": carol}}), 400, '{"mnemonic"')
    refused(post(url, content=b"[" * 50_000), 400, '{"mnemonic"')
    refused(
        post(url, json={"mnemonic": other.mnemonics["carol"]}),
        400,
        "not one of this switch's shares",
    )
    refused(post(url, json={"mnemonic": carol}), 409, "only once a release is due")
    refused(post("/switches/nosuchswitch/shares", json={"mnemonic": carol}), 404, "no switch")

    with api.engine.store.transaction() as s:
        assert s.query(ShareRow).count() == 0
    assert api.engine.status(switch)["state"] == "armed"


# --- the public release ------------------------------------------------------------------


def test_release_endpoints_say_what_is_missing(api: Api) -> None:
    for path in RELEASE_PATHS:
        refused(api.http.get(f"/r/nosuchswitch{path}"), 404, "no switch nosuchswitch")
        refused(api.http.get(f"/r/a%00b{path}"), 404, "no switch")
    switch = armed(api)
    for path in RELEASE_PATHS:
        refused(api.http.get(f"/r/{switch}{path}"), 404, f"switch {switch} has not been released")

    # and once released (the owner releases; the server's share + carol's make two)
    url = f"/switches/{switch}/owner"
    assert (
        api.http.post(url, json=signed(api, switch, "release", skip_waiting=True)).json()["state"]
        == "releasing"
    )
    refused(
        api.http.post(f"/switches/{switch}/shares", json={"mnemonic": "hello"}),
        400,
        "damaged or mistyped",
    )
    carol = {"mnemonic": api.bundles.main.mnemonics["carol"]}
    assert api.http.post(f"/switches/{switch}/shares", json=carol).json()["state"] == "released"
    for path in RELEASE_PATHS:
        assert api.http.get(f"/r/{switch}{path}").status_code == 200, path
    assert api.http.get(f"/r/{switch}/dossier.age").content == api.bundles.main.part("dossier")
    refused(api.http.post(url, json=signed(api, switch, "abort")), 409, "released")


def test_password_checkin_over_http(api: Api) -> None:
    """Check-in by password (no TOTP) through the API: refused attempts are logged."""
    response = api.arm(extra={"password": "a long check-in password"})
    assert response.status_code == 201, response.text
    switch = response.json()["switch"]
    url = f"/switches/{switch}/checkin"
    refused(api.http.post(url, json={"password": "wrong password!"}), 403, "wrong password")
    refused(api.http.post(url, json={"password": 5}), 400, "as text")
    api.clock.now += 60
    ok = api.http.post(url, json={"password": "a long check-in password"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["deadline"] == api.clock.now + POLICY["interval"]
    kinds = [e["kind"] for e in api.engine.status(switch)["audit"]]
    assert kinds[-2:] == ["checkin-refused", "checked-in"]
    refused(api.http.post("/switches/nope/checkin", json={"password": "x" * 10}), 404, "no switch")
