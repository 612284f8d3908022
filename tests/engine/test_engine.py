"""The engine against real databases (SQLite and PostgreSQL) and a real SMTP server:
arm a sealed bundle, check in, fall silent, release with one human share, open it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.crypto.release import verify_release_folder
from afterword.crypto.signing import fingerprint
from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.engine import Config, Conflict, Contacts, Engine, Forbidden, ServerKeys
from afterword.engine import apply as apply_module
from afterword.errors import FormatError, ShareError
from afterword.store import Store
from afterword.store.models import ClientRow, NonceRow, OutboxRow, ShareRow
from afterword.switch.policy import Policy
from tests.conftest import AgeKey, arm_bundle, require_tool, write_corpus
from tests.delivery.servers import SmtpServer, WebhookServer, text_of
from tests.owner_request import owner_request

T0 = 1_800_000_000
POLICY = Policy(interval=3600, grace=600, waiting=600, reminders=(1800,))


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def card_words(bundle: Path, label: str) -> str:
    text = (bundle / "shares" / f"{label}.txt").read_text()
    return text.split("-----BEGIN AFTERWORD SHARE-----")[1].split("-----END")[0]


def signed(
    owner: OwnerKey, engine: Engine, switch: str, action: str, **extra: Any
) -> dict[str, Any]:
    nonce = engine.challenge(switch)["nonce"]
    return owner_request(owner, switch, action, nonce, **extra)


@pytest.fixture
def setup(
    store: Store, tmp_path: Path, owner: OwnerKey, make_age_key: Callable[[str], AgeKey]
) -> tuple[Engine, Clock, SealResult, dict[str, bytes]]:
    clock = Clock()
    keys = ServerKeys.load_or_create(tmp_path / "server")
    engine = Engine(
        store, keys, Config(tmp_path / "server", "http://127.0.0.1:9", min_duration=1), clock
    )
    corpus = write_corpus(tmp_path / "src")
    alice = make_age_key("alice")
    sealed = seal_bundle(
        [tmp_path / "src" / "evidence"],
        tmp_path / "bundle",
        owner,
        [
            Custodian("server", keys.age_recipient),
            Custodian("alice", alice.recipient),
            Custodian("carol", "paper"),
        ],
        2,
    )
    return engine, clock, sealed, corpus


def arm_it(
    engine: Engine,
    sealed: SealResult,
    smtp: SmtpServer,
    hook: WebhookServer,
    policy: Policy = POLICY,
) -> str:
    status = arm_bundle(
        engine,
        sealed.bundle,
        policy=policy,
        contacts=Contacts(
            owner=["mailto:owner@example.org"],
            custodians={"carol": "mailto:carol@example.org"},
            recipients=["mailto:press@example.org", hook.url + "/release"],
        ),
    )
    assert status["state"] == "armed"
    return sealed.switch


def run_until(engine: Engine, clock: Clock, until: int, sender: Dispatcher) -> None:
    """The worker, in virtual time: tick whenever something is due, deliver the outbox."""
    while clock.now < until:
        engine.tick()
        engine.dispatch(sender)
        clock.now = min(until, clock.now + 60)


def test_whole_lifecycle_releases_exactly_once(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]],
    owner: OwnerKey,
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
    tmp_path: Path,
) -> None:
    engine, clock, sealed, corpus = setup
    sender = Dispatcher(Mailer(MailConfig.from_url(smtp_server.url)), WebhookSender())
    switch = arm_it(engine, sealed, smtp_server, webhook_server)

    # checking in every 50 minutes keeps it armed for a day
    for _ in range(28):
        run_until(engine, clock, clock.now + 50 * 60, sender)
        assert engine.owner_request(switch, signed(owner, engine, switch, "checkin"))["state"] == (
            "armed"
        )
    reminders = [m for m in smtp_server.messages if m["To"] == "owner@example.org"]
    assert reminders  # a reminder 30 min before each deadline
    assert "/login" not in text_of(reminders[0])  # no password: the command alone
    assert not [m for m in smtp_server.messages if m["To"] == "press@example.org"]

    # silence: overdue at +60 min, triggered at +70, releasing at +80 (server share in)
    silent = clock.now
    run_until(engine, clock, silent + 80 * 60 + 120, sender)
    status = engine.status(switch)
    assert (status["state"], status["shares"], status["cause"]) == ("releasing", 1, "missed")
    kinds = [e["kind"] for e in status["audit"]]
    assert kinds[-5:] == ["overdue", "reminded", "triggered", "releasing", "share"]
    told = [m for m in smtp_server.messages if m["To"] == "carol@example.org"]
    assert any("submit your share" in text_of(m) for m in told)

    with pytest.raises(ShareError, match="not one of this switch's shares"):
        other = OwnerKey.generate()
        extra = seal_bundle(
            [tmp_path / "src" / "evidence" / "ledger.csv"], tmp_path / "other", other,
            [Custodian("x", "paper"), Custodian("y", "paper")], 2,
        )  # fmt: skip
        engine.submit_share(switch, card_words(extra.bundle, "x"))

    status = engine.submit_share(switch, card_words(sealed.bundle, "carol"))
    assert status["state"] == "released"
    with pytest.raises(Conflict):
        engine.owner_request(switch, signed(owner, engine, switch, "abort"))

    for _ in range(3):  # more dispatch passes: no second message to anyone
        engine.dispatch(sender)
    press = [m for m in smtp_server.messages if m["To"] == "press@example.org"]
    assert len(press) == 1
    assert f"http://127.0.0.1:9/r/{switch}" in text_of(press[0])
    # issue 19, point 5: who sealed it, how much, on which conditions, how to check
    notice = json.loads((sealed.bundle / "notice.json").read_text())
    owner_fp = fingerprint(notice["owner_key"])
    count = notice["count"]
    assert (
        press[0]["Subject"]
        == f"Released to you: {count} documents sealed by the owner of key {owner_fp}"
    )
    text = " ".join(text_of(press[0]).split())
    assert f"A sealed dossier of {count} documents, sealed by the owner of key {owner_fp}" in text
    assert "signed statement says why" in text  # the same text from every server
    assert "no conditions in the owner's words" in text and "afterword verify FOLDER" in text
    assert text.count("http://") == 1  # one link: the release page
    hooks = [r for r in webhook_server.requests if r.headers.get("Idempotency-Key")]
    assert len(hooks) == 1 and hooks[0].body["data"]["event"] == "released"

    # the published release verifies offline and opens with stock age + tar
    release, row = engine.release(switch)
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "key").write_text(release.identity + "\n")
    (folder / "statement.json").write_text(release.statement)
    (folder / "manifest.json").write_text(row.manifest)
    (folder / "notice.json").write_text(row.notice)
    (folder / "dossier.age").write_bytes(engine.dossier_path(switch).read_bytes())
    said = verify_release_folder(folder, server_key=engine.keys.public_key)
    assert any("carol" in line for line in said)
    out = tmp_path / "opened"
    out.mkdir()
    age = require_tool("age")
    subprocess.run(
        f"{age} -d -i {folder / 'key'} {folder / 'dossier.age'} | tar -x -C {out}",
        shell=True,
        check=True,
    )
    for rel, data in corpus.items():
        assert (out / "documents" / rel).read_bytes() == data


def test_signed_requests_are_replay_proof(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]],
    owner: OwnerKey,
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
) -> None:
    engine, clock, sealed, _ = setup
    switch = arm_it(engine, sealed, smtp_server, webhook_server)
    request = signed(owner, engine, switch, "checkin")
    engine.owner_request(switch, request)
    with pytest.raises(Forbidden, match="used or expired"):
        engine.owner_request(switch, request)
    stale = signed(owner, engine, switch, "checkin")
    clock.now += 301
    with pytest.raises(Forbidden, match="used or expired"):
        engine.owner_request(switch, stale)
    forged = signed(OwnerKey.generate(), engine, switch, "release")
    with pytest.raises(Forbidden, match="signature"):
        engine.owner_request(switch, forged)
    status = engine.status(switch)
    assert status["state"] == "armed"
    refusals = [e for e in status["audit"] if e["kind"].endswith("-refused")]  # all logged
    assert [e["kind"] for e in refusals] == ["checkin-refused"] * 2 + ["release-refused"]
    assert "signature" in refusals[-1]["detail"]
    with pytest.raises(Conflict, match="already armed"):
        arm_it(engine, sealed, smtp_server, webhook_server)


def test_arm_refuses_mismatched_uploads(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]],
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
    tmp_path: Path,
) -> None:
    import io

    engine, _, sealed, _ = setup
    b = sealed.bundle
    args: dict[str, Any] = {
        "manifest": json.loads((b / "manifest.json").read_text()),
        "notice": json.loads((b / "notice.json").read_text()),
        "custodians": json.loads((b / "custodians.json").read_text()),
        "policy": POLICY,
        "contacts": Contacts([], {}, []),
        "server_envelopes": {},
    }
    data = (b / "dossier.age").read_bytes()
    with pytest.raises(FormatError, match="not the one the manifest describes"):
        engine.arm(dossier=io.BytesIO(data[:-10]), **args)
    with pytest.raises(FormatError, match="does not open with this server's key"):
        engine.arm(
            dossier=io.BytesIO(data),
            **{**args, "server_envelopes": {"alice": (b / "shares" / "alice.age").read_bytes()}},
        )
    assert not list((tmp_path / "server" / "dossiers").iterdir())


def test_breaker_holds_a_mass_trigger(store: Store, tmp_path: Path, owner: OwnerKey) -> None:
    clock = Clock()
    keys = ServerKeys.load_or_create(tmp_path / "server")
    engine = Engine(
        store,
        keys,
        Config(tmp_path / "server", min_duration=1, breaker_threshold=2, operator=["mailto:op@x"]),
        clock,
    )
    doc = tmp_path / "d.txt"
    doc.write_text("x")
    for i in range(4):
        sealed = seal_bundle(
            [doc], tmp_path / f"b{i}", owner, [Custodian("a", "paper"), Custodian("b", "paper")], 2
        )
        with open(sealed.bundle / "dossier.age", "rb") as f:
            engine.arm(
                manifest=json.loads((sealed.bundle / "manifest.json").read_text()),
                notice=json.loads((sealed.bundle / "notice.json").read_text()),
                custodians=json.loads((sealed.bundle / "custodians.json").read_text()),
                dossier=f,
                policy=Policy(interval=60, grace=0, waiting=60),
                contacts=Contacts([], {}, []),
                server_envelopes={},
            )
    clock.now += 10 * 365 * 86400  # the clock jumps ten years
    report = engine.tick()
    assert len(report.held) == 4 and report.triggered == 0
    assert engine.tick().processed == 0  # held switches stay out of the scheduler
    assert engine.release_held() == 4
    for switch in report.held:
        status = engine.status(switch)
        assert status["state"] == "triggered" and not status["held"]
        kinds = [e["kind"] for e in status["audit"]]
        assert kinds[-4:] == ["held", "unheld", "overdue", "triggered"]


def test_a_password_owner_is_reminded_where_to_sign_in(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]], smtp_server: SmtpServer
) -> None:
    """Issue 19, point 5: an owner who checks in by password is reminded with the sign-in
    page, beside the command (a key-only owner gets the command alone: the lifecycle
    test)."""
    engine, clock, sealed, _ = setup
    sender = Dispatcher(Mailer(MailConfig.from_url(smtp_server.url)), WebhookSender())
    arm_bundle(
        engine, sealed.bundle, policy=POLICY, password="correct horse battery",
        contacts=Contacts(["mailto:pw@example.org"], {}, []),
    )  # fmt: skip
    run_until(engine, clock, T0 + 1900, sender)  # the reminder 30 min before the deadline
    [reminder] = [m for m in smtp_server.messages if m["To"] == "pw@example.org"]
    text = text_of(reminder)
    assert "http://127.0.0.1:9/login" in text and "afterword checkin --server" in text


def test_password_and_totp_checkin(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]],
) -> None:
    import io

    import pyotp

    engine, clock, sealed, _ = setup
    b = sealed.bundle
    status = engine.arm(
        manifest=json.loads((b / "manifest.json").read_text()),
        notice=json.loads((b / "notice.json").read_text()),
        custodians=json.loads((b / "custodians.json").read_text()),
        dossier=io.BytesIO((b / "dossier.age").read_bytes()),
        policy=POLICY,
        contacts=Contacts([], {}, []),
        server_envelopes={},
        password="correct horse battery",
        totp=True,
    )
    switch = status["switch"]
    totp = pyotp.parse_uri(status["totp_uri"])
    assert "totp_uri" not in engine.status(switch)  # shown once, at arming
    clock.now += 1000
    with pytest.raises(Forbidden, match="wrong password or code"):
        engine.checkin_password(switch, "correct horse battery", "000000", "phone")
    with pytest.raises(Forbidden):
        engine.checkin_password(switch, "wrong horse battery", totp.at(clock.now), "phone")
    status = engine.checkin_password(switch, "correct horse battery", totp.at(clock.now), "phone")
    assert status["deadline"] == clock.now + POLICY.interval
    kinds = [(e["kind"], e["detail"]) for e in engine.status(switch)["audit"]]
    # a refusal names the caller by network and a digest of the rest, never its own text
    assert [kind for kind, _ in kinds[1:3]] == ["checkin-refused"] * 2
    assert all(d.startswith("wrong password; unknown agent ") for _, d in kinds[1:3]), kinds
    assert "phone" not in kinds[1][1]
    assert kinds[3][0] == "checked-in" and "password+totp phone" in kinds[3][1]
    with pytest.raises(FormatError, match="TOTP needs a check-in password"):
        engine.arm(
            manifest={}, notice={}, custodians={}, dossier=io.BytesIO(b""), policy=POLICY,
            contacts=Contacts([], {}, []), server_envelopes={}, totp=True,
        )  # fmt: skip


def test_each_custodian_is_told_what_to_do_with_what_they_hold(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]], smtp_server: SmtpServer
) -> None:
    """Issue 19, point 4: the paper card's holder is sent to the custodian page (their
    words, their code), the envelope's holder is given the command; and the mail counts
    the shares still missing, not the threshold."""
    engine, clock, sealed, _ = setup
    sender = Dispatcher(Mailer(MailConfig.from_url(smtp_server.url)), WebhookSender())
    custodians = {"carol": "mailto:carol@example.org", "alice": "mailto:alice@example.org"}
    arm_bundle(
        engine, sealed.bundle, policy=POLICY,
        contacts=Contacts(owner=[], custodians=custodians, recipients=[]),
    )  # fmt: skip
    run_until(engine, clock, T0 + 80 * 60 + 120, sender)  # silent: releasing, server share in
    assert engine.status(sealed.switch)["shares"] == 1

    def told(who: str) -> str:
        [mail] = [
            m for m in smtp_server.messages if m["To"] == who and m["Subject"].endswith(" submit")
        ]
        return str(text_of(mail))

    page = f"http://127.0.0.1:9/s/{sealed.switch}"
    carol, alice = told("carol@example.org"), told("alice@example.org")
    assert page in carol and "words from your card" in carol
    assert "afterword custodian" not in carol
    assert "afterword custodian submit YOUR-ENVELOPE.age --identity YOUR-KEY" in alice
    assert page not in alice and "card" not in alice
    for text in (carol, alice):
        assert "1 more share(s) are needed (2 in all)" in text, text


def test_a_release_refused_after_writing_leaves_nothing_but_a_spent_nonce(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]],
    owner: OwnerKey,
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A release that fails after it has stored the server's share (here: a refusal
    planted after the original work) is undone, and its nonce stays spent."""
    engine, _, sealed, _ = setup
    switch = arm_it(engine, sealed, smtp_server, webhook_server)
    before = engine.status(switch)
    original = apply_module.submit_server_shares

    def refuse_after_writing(*args: Any) -> Any:
        original(*args)  # stores the server's share in the session
        raise ShareError("planted refusal")

    monkeypatch.setattr(apply_module, "submit_server_shares", refuse_after_writing)
    request = signed(owner, engine, switch, "release", skip_waiting=True)
    with pytest.raises(ShareError, match="planted"):
        engine.owner_request(switch, request)
    monkeypatch.undo()
    after = engine.status(switch)
    assert after["state"] == "armed" and after["audit"] == before["audit"]
    with engine.store.transaction() as s:
        assert s.query(ShareRow).filter_by(switch_id=switch).count() == 0
        assert s.query(OutboxRow).filter_by(switch_id=switch).count() == 0
    with pytest.raises(Forbidden, match="used or expired"):
        engine.owner_request(switch, request)


def test_a_checkin_refused_by_the_switch_spends_its_nonce_and_remembers_nothing(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]],
    owner: OwnerKey,
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
) -> None:
    """A check-in runs without a savepoint (it writes nothing before the machine can
    refuse it): a refused one still spends its nonce, writes no entry of its own, and a
    new client it came from is not remembered. (The signature did verify: the network it
    came from, never seen, is logged as such; item 20 of issue 15.)"""
    engine, _, sealed, _ = setup
    switch = arm_it(engine, sealed, smtp_server, webhook_server)
    engine.owner_request(switch, signed(owner, engine, switch, "release", skip_waiting=True))

    def clients() -> int:
        with engine.store.transaction() as s:
            return s.query(ClientRow).filter_by(switch_id=switch).count()

    before, known = engine.status(switch)["audit"], clients()
    request = signed(owner, engine, switch, "checkin")
    with pytest.raises(Conflict, match="can no longer stop it"):
        engine.owner_request(switch, request, client="198.51.100.0/24 stranger")
    after = engine.status(switch)["audit"]
    assert after[:-1] == before
    assert (after[-1]["kind"], after[-1]["detail"]) == ("new-network", "198.51.100.0/24, checkin")
    assert clients() == known
    with pytest.raises(Forbidden, match="used or expired"):
        engine.owner_request(switch, request, client="198.51.100.0/24 stranger")


def test_spent_challenges_are_forgotten_an_hour_after_they_expire(
    setup: tuple[Engine, Clock, SealResult, dict[str, bytes]],
    owner: OwnerKey,
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
) -> None:
    """Issuing a challenge stores nothing; spending one stores it until an hour past its
    expiry (a clock set back an hour must not make it quotable again); the worker's tick
    forgets it then."""
    engine, clock, sealed, _ = setup
    switch = arm_it(engine, sealed, smtp_server, webhook_server)

    def stored() -> int:
        with engine.store.transaction() as s:
            return s.query(NonceRow).count()

    for _ in range(3):
        engine.challenge(switch)
    assert stored() == 0
    request = signed(owner, engine, switch, "checkin")
    engine.owner_request(switch, request)
    assert stored() == 1
    clock.now += 300 + 3600  # expired an hour ago, to the second: still kept
    engine.tick()
    assert stored() == 1
    clock.now += 301  # the tick purges at most every 5 minutes
    engine.tick()
    assert stored() == 0
