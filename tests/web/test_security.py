"""Security over HTTP against the real server, on SQLite and PostgreSQL: guessing is
locked out (and the lockout never blocks the owner's signed check-in), every endpoint checks
who is asking, oversized uploads are refused at the door, and nothing secret reaches the
server's disk or database in the clear.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from shamir_mnemonic.wordlist import WORD_INDEX_MAP, WORDLIST

from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import check_share_words, custodian_credential
from afterword.engine import Config, Engine, ServerKeys
from afterword.engine.lockout import LOCKOUT, LOCKOUT_WINDOW
from afterword.errors import ShareError
from afterword.store import Store
from afterword.store.models import AuditRow, Base, OutboxRow
from afterword.web.app import create_app
from tests.owner_request import owner_request
from tests.web.conftest import Api, Bundles, Clock, leaks, start_server

PASSWORD = "a long check-in password"


def armed(api: Api, **extra: str) -> str:
    response = api.arm(extra={"password": PASSWORD, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["switch"])


def signed(api: Api, switch: str, action: str, key: OwnerKey, **extra: Any) -> dict[str, Any]:
    nonce = api.http.post(f"/switches/{switch}/challenge").json()["nonce"]
    return owner_request(key, switch, action, nonce, **extra)


# --- guessing ---------------------------------------------------------------------------


def test_password_guessing_is_locked_out_but_the_signed_check_in_still_works(api: Api) -> None:
    switch = armed(api)
    url = f"/switches/{switch}/checkin"
    for _ in range(LOCKOUT["password"]):
        assert api.http.post(url, json={"password": "a wrong guess!"}).status_code == 403
    locked = api.http.post(url, json={"password": PASSWORD})  # even the right one, for now
    assert locked.status_code == 429, locked.text
    assert "try again in 15 minute(s)" in locked.json()["error"]
    assert "--owner-key" in locked.json()["hint"]
    act = api.http.post(f"/switches/{switch}/act", json={"password": PASSWORD, "action": "status"})
    assert act.status_code == 429
    # the attacker cannot silence the owner: the signed check-in is never locked
    owner = api.http.post(
        f"/switches/{switch}/owner", json=signed(api, switch, "checkin", api.bundles.owner)
    )
    assert owner.status_code == 200 and owner.json()["state"] == "armed"
    # every guess is in the owner's log; the lock lifts by itself
    kinds = [e["kind"] for e in api.engine.status(switch)["audit"]]
    assert kinds.count("checkin-refused") == LOCKOUT["password"]
    # guesses from one network do not lock the owner out of another
    elsewhere = api.engine.checkin_password(switch, PASSWORD, client="198.51.100.0/24 phone")
    assert elsewhere["state"] == "armed"
    api.clock.now += LOCKOUT_WINDOW + 1
    assert api.http.post(url, json={"password": PASSWORD}).status_code == 200


def test_share_and_custodian_code_guessing_is_locked_out(api: Api) -> None:
    switch = armed(api)
    wrong = api.bundles.other.mnemonics["carol"]  # a real share, of another switch
    url = f"/switches/{switch}/shares"
    for _ in range(LOCKOUT["share"]):
        assert api.http.post(url, json={"mnemonic": wrong}).status_code == 400
    assert api.http.post(url, json={"mnemonic": wrong}).status_code == 429
    code = custodian_credential(wrong, switch, "carol")
    url = f"/switches/{switch}/custodian"
    for _ in range(LOCKOUT["custodian"]):
        assert api.http.post(url, json={"code": code}).status_code == 403
    right = custodian_credential(api.bundles.main.mnemonics["carol"], switch, "carol")
    assert api.http.post(url, json={"code": right}).status_code == 429
    # whoever guesses from one network cannot keep the custodians elsewhere from voting
    # (nor, during a release, from submitting their shares)
    elsewhere = "198.51.100.0/24 lawyer"
    assert api.engine.custodian(switch, right, "vote", elsewhere)["voted"] is True
    with pytest.raises(ShareError, match="not one of this switch's shares"):
        api.engine.submit_share(switch, wrong, elsewhere)


# --- who may do what --------------------------------------------------------------------


def test_every_way_in_belongs_to_one_switch_and_one_role(api: Api) -> None:
    main = armed(api)
    other = api.arm(api.bundles.other, extra={"password": "another check-in password"})
    other_switch = other.json()["switch"]
    stranger = OwnerKey.generate()
    # another owner's key, a password of another switch, a custodian's code, a canary link
    request = signed(api, main, "status", stranger)
    assert api.http.post(f"/switches/{main}/owner", json=request).status_code == 403
    wrong_password = {"password": "another check-in password", "action": "status"}
    assert api.http.post(f"/switches/{main}/act", json=wrong_password).status_code == 403
    code = custodian_credential(api.bundles.main.mnemonics["alice"], main, "alice")
    as_owner = {"password": code, "action": "status"}
    assert api.http.post(f"/switches/{main}/act", json=as_owner).status_code == 403
    mine = {"code": code, "action": "vote"}
    assert api.http.post(f"/switches/{other_switch}/custodian", json=mine).status_code == 403
    canary = api.http.post(
        f"/switches/{main}/act",
        json={"password": PASSWORD, "action": "canary-add", "name": "mother", "interval": 3600},
    ).json()
    as_custodian = {"code": canary["token"], "action": "status"}
    assert api.http.post(f"/switches/{main}/custodian", json=as_custodian).status_code == 400
    assert api.http.post(f"/canary/{canary['token']}/checkin").status_code == 200
    # a signed request for one switch is no good on another, even from the same owner
    request = signed(api, main, "checkin", api.bundles.owner)
    assert api.http.post(f"/switches/{other_switch}/owner", json=request).status_code == 403


# --- uploads ----------------------------------------------------------------------------


@pytest.fixture
def small(store: Store, tmp_path: Path, server_keys: ServerKeys, bundles: Bundles) -> Iterator[Api]:
    """A server that takes dossiers of at most 64 KiB."""
    import httpx

    clock = Clock()
    data_dir = tmp_path / "small"
    config = Config(data_dir, "http://127.0.0.1:9", min_duration=1, max_upload=64 << 10)
    engine = Engine(store, server_keys, config, clock)
    server, thread, url = start_server(create_app(engine))
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield Api(url, http, engine, clock, data_dir, bundles)
    finally:
        server.should_exit = True
        thread.join(10)


def raw_post(url: str, path: str, headers: dict[str, str], body: bytes = b"") -> str:
    """A request as a client that lies about its size would send it; the status line."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode() + body)
        return sock.recv(4096).decode("latin-1").split("\r\n", 1)[0]


def test_oversized_uploads_are_refused_at_the_door(small: Api) -> None:
    # the manifest says the dossier is bigger than this server takes: refused, nothing kept
    response = small.arm()
    assert response.status_code == 413, response.text
    assert "at most 65536" in response.json()["error"]
    assert small.switch_ids() == [] and small.files() == []
    # a body announced larger than any request: refused before a byte of it is read
    status = raw_post(
        small.url,
        "/switches",
        {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(1 << 40)},
    )
    assert " 413 " in status
    status = raw_post(
        small.url,
        "/switches/x/owner",
        {"Content-Type": "application/json", "Content-Length": str(200 << 20)},
    )
    assert " 413 " in status

    # a body that never says its size (chunked) is cut off once it passes the limit
    def endless() -> Iterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="dossier"; filename="d"\r\n\r\n'
        for _ in range(64):
            yield b"\0" * (1 << 16)

    response = small.http.post(
        "/switches",
        content=endless(),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    assert small.files() == []


# --- nothing secret in the clear --------------------------------------------------------


def everything_stored(api: Api) -> str:
    """Every value of every table, and every byte of every file the server wrote."""
    parts: list[str] = []
    with api.engine.store.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                parts += [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row]
    for path in api.data_dir.rglob("*"):
        if path.is_file() and path.name != "server-key.json":
            parts.append(path.read_bytes().decode("latin-1"))
    url = api.engine.store.url
    if url.startswith("sqlite:///"):  # the database file itself, and its write-ahead log
        for path in Path(url.removeprefix("sqlite:///")).parent.glob("*.db*"):
            parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_no_share_key_or_document_is_ever_stored_in_the_clear(api: Api) -> None:
    switch = armed(api)
    corpus = api.bundles.main.path.parent / "src" / "evidence"
    samples = [p.read_bytes()[:48] for p in corpus.rglob("*") if p.is_file() and p.stat().st_size]
    for _ in range(200):  # silence until the release is due
        api.clock.now += 60
        api.engine.tick()
    assert api.engine.status(switch)["state"] == "releasing"  # the server's share is in
    stored = everything_stored(api)
    secrets = api.bundles.mnemonics()
    assert not leaks(stored, secrets), leaks(stored, secrets)
    assert not re.search(r"AGE-SECRET-KEY-1", stored, re.IGNORECASE)
    for sample in samples:
        assert sample.decode("latin-1") not in stored
    # released: the dossier key is public now; still no share words, no document
    words = api.bundles.main.mnemonics["carol"]
    assert api.http.post(f"/switches/{switch}/shares", json={"mnemonic": words}).status_code == 200
    stored = everything_stored(api)
    assert leaks(stored, secrets) == ["an age secret key"]  # the published one, below
    published = api.http.get(f"/r/{switch}/key").text.strip()
    assert set(re.findall(r"AGE-SECRET-KEY-1[0-9A-Z]+", stored, re.IGNORECASE)) == {published}
    for sample in samples:
        assert sample.decode("latin-1") not in stored
    assert json.loads(api.http.get(f"/r/{switch}/statement.json").text)["cause"] == "missed"


# --- nothing of a submitted share in a log, the audit log, mail or an answer -------------

SERVER_VOCABULARY = {  # words the server says on its own: seeing one proves nothing
    word
    for path in Path(create_app.__code__.co_filename).parents[1].rglob("*")
    if path.suffix in (".py", ".html", ".txt")
    for word in re.findall(r"[a-z]+", path.read_text().lower())
}


def drop_third_letter(word: str) -> str:
    return word[:2] + word[3:]


def everything_said(api: Api, caplog: pytest.LogCaptureFixture, answers: list[str]) -> str:
    """Every log record (tracebacks included), audit row, message in the outbox, and answer."""
    with api.engine.store.transaction() as s:
        audit = [f"{r.kind} {r.detail}" for r in s.query(AuditRow).all()]
        outbox = [
            f"{r.to} {r.subject} {r.body} {r.data} {r.last_error}" for r in s.query(OutboxRow)
        ]
    logged = [caplog.handler.format(r) for r in caplog.records]
    return "\n".join([*logged, *audit, *outbox, *answers])


def test_no_word_of_a_submitted_share_leaves_the_parser(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A share of another switch, one with a misspelled word, one with a wrong checksum and
    malformed bodies, over the API and the custodian page: no single word of any of them
    (nor the misspelling) reaches a log at DEBUG (uvicorn's too), the audit log, the mail,
    or an API answer. Errors name a position, never a word."""
    switch = armed(api)
    release = signed(api, switch, "release", api.bundles.owner, skip_waiting=True)
    assert api.http.post(f"/switches/{switch}/owner", json=release).status_code == 200
    for logger in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "afterword"):
        caplog.set_level(logging.DEBUG, logger=logger or None)
    url = f"/switches/{switch}/shares"
    answers = [api.http.post(url, json={"mnemonic": "hello world"}).text]
    baseline = set(re.findall(r"[a-z]+", everything_said(api, caplog, answers).lower()))

    other = api.bundles.other.mnemonics["carol"]  # (a) valid, of another switch
    words = api.bundles.main.mnemonics["carol"].split()  # this switch's own
    at = next(
        i
        for i, w in enumerate(words)
        if i >= 4 and len(w) >= 5 and drop_third_letter(w) not in WORD_INDEX_MAP
    )
    typo = drop_third_letter(words[at])  # (b) one letter dropped: no SLIP-39 word
    misspelled = " ".join([*words[:at], typo, *words[at + 1 :]])
    wrong = words[20] if words[20] != words[21] else WORDLIST[WORD_INDEX_MAP[words[20]] ^ 1]
    wrong_sum = " ".join([*words[:21], wrong, *words[22:]])  # (c) a valid word, wrong one
    assert check_share_words(wrong_sum).title.startswith("The words do not add up")
    bodies: list[dict[str, Any]] = [
        {"json": {"mnemonic": other}},
        {"json": {"mnemonic": misspelled}},
        {"json": {"mnemonic": wrong_sum}},
        {"content": other.encode()},  # (d) malformed: not JSON, not an object, half JSON
        {"content": ('{"mnemonic": "' + misspelled).encode()},
        {"json": {"mnemonic": other.split()}},
        {"json": [other]},
        {"data": {"mnemonic": other}},
    ]
    for body in bodies:
        response = api.http.post(url, **body)
        assert response.status_code == 400, response.text
        answers.append(response.text)
    # the custodian's page: its answer shows the words back to the one who typed them,
    # but nothing of them may reach a log, the audit log or the mail
    page = api.http.get(f"/s/{switch}", headers={"accept": "text/html"})
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None, page.text
    for text in (other, misspelled, wrong_sum):
        form = {"csrf": token.group(1), "words": text}
        response = api.http.post(f"/s/{switch}/share", data=form, headers={"accept": "text/html"})
        assert response.status_code == 400, response.text
    api.engine.tick()  # whatever the refusals set off is rendered into the outbox

    said = everything_said(api, caplog, answers)
    assert "share-refused" in said and "HTTP/1.1" in said  # the audit and access logs
    secret = {w for w in (*other.split(), *words, typo) if len(w) >= 4} - baseline
    secret -= SERVER_VOCABULARY
    assert len(secret) > 20 and set(words[:4]) & secret  # there is something to find
    found = sorted(w for w in secret if re.search(rf"\b{w}\b", said, re.IGNORECASE))
    assert not found, found
    assert f"word {at + 1} " in answers[2]  # the position of the misspelling, not the word
