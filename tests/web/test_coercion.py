"""Coercion resistance end to end, over HTTP against the real server and a real SMTP
server, on SQLite and PostgreSQL: duress credentials, custodian votes, disarming with its
cooling-off, protected people (canaries) and new-client alerts.

The promise under test: a coerced owner gets exactly the answers the real credentials would
have got, while the custodians see the truth and the release goes ahead.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from typing import Any

import httpx
import pytest

from afterword.crypto.audit import verify_log
from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import custodian_credential
from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.store.models import ServerEnvelopeRow, SwitchRow
from tests.delivery.servers import SmtpServer, text_of
from tests.owner_request import owner_request
from tests.web.conftest import POLICY, Api, Bundle

PASSWORD, DURESS_PASSWORD = "the real check-in password", "the duress check-in password"
CONTACTS: dict[str, Any] = {
    "owner": ["mailto:owner@example.org"],
    "custodians": {"carol": "mailto:carol@example.org", "alice": "mailto:alice@example.org"},
    "recipients": ["mailto:press@example.org"],
}


@pytest.fixture(scope="module")
def duress_key() -> OwnerKey:
    return OwnerKey.generate()


def arm(api: Api, bundle: Bundle, duress_key: OwnerKey, **policy: Any) -> str:
    response = api.arm(
        bundle,
        policy=json.dumps({**POLICY, **policy}),
        contacts=json.dumps(CONTACTS),
        extra={
            "duress_key": duress_key.public_key,
            "password": PASSWORD,
            "duress_password": DURESS_PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["switch"])


def owner(api: Api, switch: str, action: str, key: OwnerKey, **extra: Any) -> httpx.Response:
    nonce = api.http.post(f"/switches/{switch}/challenge").json()["nonce"]
    signed = owner_request(key, switch, action, nonce, **extra)
    return api.http.post(f"/switches/{switch}/owner", json=signed)


def custodian(api: Api, bundle: Bundle, label: str, action: str = "status") -> httpx.Response:
    code = custodian_credential(bundle.mnemonics[label], bundle.switch, label)
    return api.http.post(
        f"/switches/{bundle.switch}/custodian", json={"code": code, "action": action}
    )


def seen_by_owner(response: httpx.Response, switch: str) -> tuple[int, dict[str, str], Any]:
    """Everything the owner's client receives, with what differs between the two switches
    compared only because they are two switches taken out: the switch id, and the log's
    hashes (which commit to the id); and the Date header."""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "date"}
    return response.status_code, headers, _without_ids(response.json(), switch)


def _without_ids(value: Any, switch: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_ids(v, switch) for k, v in value.items() if k not in ("prev", "hash")}
    if isinstance(value, list):
        return [_without_ids(v, switch) for v in value]
    return value.replace(switch, "SWITCH") if isinstance(value, str) else value


def comparable_log(status: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(e["at"], e["kind"], e["detail"]) for e in status["audit"]]


def deliver(api: Api, smtp: SmtpServer) -> None:
    api.engine.dispatch(Dispatcher(Mailer(MailConfig.from_url(smtp.url)), WebhookSender()))


def mail_to(smtp: SmtpServer, who: str, about: str) -> list[str]:
    return [
        text_of(m)
        for m in smtp.messages
        if m["To"] == f"{who}@example.org" and about in (m["Subject"] + text_of(m))
    ]


def tick_until(api: Api, until: int, smtp: SmtpServer) -> None:
    while api.clock.now < until:
        api.clock.now = min(until, api.clock.now + 60)
        api.engine.tick()
        deliver(api, smtp)


def assert_alike(times: dict[str, list[float]]) -> None:
    """The median of paired ratios duress/real is within 20% of 1."""
    ratios = [d / r for d, r in zip(times["duress"], times["real"], strict=True)]
    ratio = statistics.median(ratios)
    assert 1 / 1.2 < ratio < 1.2, (ratio, statistics.median(times["real"]))


# --- duress -----------------------------------------------------------------------------


def test_a_duress_check_in_looks_real_to_the_owner_and_releases_silently(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    real_switch = arm(api, api.bundles.main, duress_key)
    forced_switch = arm(api, api.bundles.other, duress_key)
    me = api.bundles.owner
    api.clock.now += 120
    for action in ("checkin", "status"):
        real = owner(api, real_switch, action, me)
        forced = owner(api, forced_switch, action, duress_key)
        assert real.status_code == 200, real.text
        assert seen_by_owner(forced, forced_switch) == seen_by_owner(real, real_switch)
    assert comparable_log(forced.json()) == comparable_log(real.json())
    assert forced.json()["state"] == "armed"

    # the truth: custodians see it, and are told
    truth = custodian(api, api.bundles.other, "carol").json()
    assert (truth["state"], truth["cause"]) == ("triggered", "duress")
    assert custodian(api, api.bundles.main, "carol").json()["state"] == "armed"
    deliver(api, smtp_server)
    told = mail_to(smtp_server, "carol", forced_switch)
    assert told and "duress" in told[0]
    assert not mail_to(smtp_server, "owner", forced_switch)  # no mail betrays it

    # the waiting period runs, the server submits its share, one custodian adds theirs
    tick_until(api, api.clock.now + POLICY["waiting"] + 120, smtp_server)
    words = api.bundles.other.mnemonics["carol"]
    shared = api.http.post(f"/switches/{forced_switch}/shares", json={"mnemonic": words})
    assert shared.json()["state"] == "released"
    deliver(api, smtp_server)
    assert len(mail_to(smtp_server, "press", forced_switch)) == 1
    assert api.http.get(f"/r/{forced_switch}/statement.json").json()["cause"] == "duress"
    # ...while the coerced owner's screen still reads "armed", with the decoy's deadline
    shown = owner(api, forced_switch, "status", duress_key).json()
    assert shown["state"] == "armed" and shown["deadline"] > api.clock.now - 3600
    assert "duress" not in [e["kind"] for e in shown["audit"]]
    # the exported log the coerced owner gets verifies like any other
    export = owner(api, forced_switch, "audit", duress_key).json()
    verify_log(export, server_key=api.engine.keys.public_key)
    # the real key sees the truth
    assert owner(api, forced_switch, "status", me).json()["state"] == "released"


def test_a_delayed_duress_trigger_fires_after_its_delay(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key, duress_delay=900)
    api.http.post(
        f"/switches/{switch}/act",
        json={"password": DURESS_PASSWORD, "action": "pause", "until": api.clock.now + 7200},
    )
    tick_until(api, api.clock.now + 840, smtp_server)
    assert custodian(api, api.bundles.main, "alice").json()["state"] == "armed"
    tick_until(api, api.clock.now + 120, smtp_server)
    truth = custodian(api, api.bundles.main, "alice").json()
    assert (truth["state"], truth["cause"]) == ("triggered", "duress")
    shown = api.http.post(
        f"/switches/{switch}/act", json={"password": DURESS_PASSWORD, "action": "status"}
    )
    assert shown.json()["state"] == "paused"  # what the real pause would show


def test_a_refused_action_is_refused_alike_under_duress(api: Api, duress_key: OwnerKey) -> None:
    real_switch = arm(api, api.bundles.main, duress_key)
    forced_switch = arm(api, api.bundles.other, duress_key)
    real = owner(api, real_switch, "abort", api.bundles.owner)
    forced = owner(api, forced_switch, "abort", duress_key)
    assert real.status_code == 409
    assert seen_by_owner(forced, forced_switch) == seen_by_owner(real, real_switch)
    assert custodian(api, api.bundles.other, "alice").json()["cause"] == "duress"


def test_a_duress_password_answers_like_the_real_one_in_body_and_time(
    api: Api, duress_key: OwnerKey
) -> None:
    """Method: the same request, alternating real and duress passwords on two switches in
    one run, 15 rounds after a warm-up; the median of the per-round ratios (duress / real
    round trip) must lie within 20% of 1. Pairing each duress request with the real one
    next to it cancels most of the load this shared machine is under. Both scrypt hashes
    are computed on every request, so the expected difference is the extra database writes
    of a trigger, well under that."""
    real_switch = arm(api, api.bundles.main, duress_key)
    forced_switch = arm(api, api.bundles.other, duress_key)
    times: dict[str, list[float]] = {"real": [], "duress": []}
    for round_ in range(16):
        api.clock.now += 60
        answers = {}
        for who, switch, password in (
            ("real", real_switch, PASSWORD),
            ("duress", forced_switch, DURESS_PASSWORD),
        ):
            started = time.perf_counter()
            answers[who] = api.http.post(
                f"/switches/{switch}/act", json={"password": password, "action": "checkin"}
            )
            if round_:
                times[who].append(time.perf_counter() - started)
        assert seen_by_owner(answers["duress"], forced_switch) == seen_by_owner(
            answers["real"], real_switch
        )
    assert_alike(times)
    assert custodian(api, api.bundles.other, "carol").json()["cause"] == "duress"
    assert custodian(api, api.bundles.main, "carol").json()["state"] == "armed"
    wrong = api.http.post(
        f"/switches/{real_switch}/act", json={"password": "not the password", "action": "status"}
    )
    assert wrong.status_code == 403
    kinds = [e["kind"] for e in api.engine.status(real_switch)["audit"]]
    assert kinds[-1] == "status-refused"


def test_a_duress_signature_answers_like_the_real_one_in_time(
    api: Api, duress_key: OwnerKey
) -> None:
    """Method as for the password: alternating signed check-ins (challenge + request) on
    two switches, 100 rounds after a warm-up, the median ratio within 20%. Both keys are always
    verified; what differs is the database work of a decoy (an owner-log row instead of
    an audit row) and, once, of the trigger."""
    real_switch = arm(api, api.bundles.main, duress_key)
    forced_switch = arm(api, api.bundles.other, duress_key)
    times: dict[str, list[float]] = {"real": [], "duress": []}
    for round_ in range(101):
        api.clock.now += 60
        for who, switch, key in (
            ("real", real_switch, api.bundles.owner),
            ("duress", forced_switch, duress_key),
        ):
            started = time.perf_counter()
            assert owner(api, switch, "checkin", key).status_code == 200
            if round_:
                times[who].append(time.perf_counter() - started)
    assert_alike(times)


def test_a_duress_key_set_under_duress_signs_as_duress_and_changes_nothing_real(
    api: Api, duress_key: OwnerKey
) -> None:
    """Item 5 of issue 15: a key the coercer sets as "duress key" must then be accepted, as
    the real owner's new duress key would be (a 403 showed the coercer it changed nothing).
    It signs as duress; the owner's own duress key stays as it was."""
    switch = arm(api, api.bundles.main, duress_key)
    other = OwnerKey.generate()
    answer = owner(api, switch, "set-duress", duress_key, duress_key=other.public_key)
    assert answer.status_code == 200
    assert owner(api, switch, "status", other).status_code == 200
    assert owner(api, switch, "status", other).json()["state"] == "armed"  # the decoy
    assert owner(api, switch, "status", duress_key).json()["state"] == "armed"
    # the truth, for the real key: triggered by duress, the owner's duress key unchanged
    truth = owner(api, switch, "status", api.bundles.owner).json()
    assert truth["state"] == "triggered" and truth["cause"] == "duress"
    with api.engine.store.transaction() as s:
        row = s.get(SwitchRow, switch)
        assert row is not None
        assert row.duress_key == duress_key.public_key
        assert row.decoy_duress_key == other.public_key


def test_a_duress_password_set_under_duress_signs_in_like_the_real_owners_would(
    api: Api, duress_key: OwnerKey
) -> None:
    """Item 5: a duress password set under duress then fails to sign in (403), where the
    one the real owner sets works. Now it works, as duress, for both kinds of request."""
    real_switch = arm(api, api.bundles.main, duress_key)
    forced_switch = arm(api, api.bundles.other, duress_key)
    new = "a brand new duress password"
    answers = [
        owner(api, real_switch, "set-duress", api.bundles.owner, duress_password=new),
        owner(api, forced_switch, "set-duress", duress_key, duress_password=new),
    ]
    assert [a.status_code for a in answers] == [200, 200]
    signed_in = [
        api.http.post(f"/switches/{s}/act", json={"password": new, "action": "status"})
        for s in (real_switch, forced_switch)
    ]
    assert [a.status_code for a in signed_in] == [200, 200], signed_in[1].text
    assert signed_in[1].json()["state"] == signed_in[0].json()["state"] == "armed"
    # the coercer's own password still opens what it opened; the owner's is untouched
    for password in (PASSWORD, DURESS_PASSWORD):
        again = api.http.post(
            f"/switches/{forced_switch}/act", json={"password": password, "action": "status"}
        )
        assert again.status_code == 200
    assert custodian(api, api.bundles.other, "alice").json()["cause"] == "duress"


@pytest.mark.parametrize("field", ["duress_password", "duress_key"])
def test_a_duress_credential_equal_to_the_one_in_use_is_refused_alike_under_duress(
    api: Api, duress_key: OwnerKey, field: str
) -> None:
    """Item 5: the real owner sending their own password (or key) as the duress one gets
    400 "must differ"; a coercer sending the one they were given got 200. Now both 400,
    with the same body. (The coercer's key shows the owner key as its own, as the
    keyfile does, so "the owner key" is the same public key for both.)"""
    real_switch = arm(api, api.bundles.main, duress_key)
    forced_switch = arm(api, api.bundles.other, duress_key)
    same = {
        "duress_password": (PASSWORD, DURESS_PASSWORD),
        "duress_key": (api.bundles.owner.public_key, api.bundles.owner.public_key),
    }[field]
    real = owner(api, real_switch, "set-duress", api.bundles.owner, **{field: same[0]})
    forced = owner(api, forced_switch, "set-duress", duress_key, **{field: same[1]})
    assert real.status_code == 400, real.text
    assert "must differ" in real.json()["error"]
    assert seen_by_owner(forced, forced_switch) == seen_by_owner(real, real_switch)


# --- custodians -------------------------------------------------------------------------


def test_k_custodian_votes_trigger_the_release_and_votes_can_be_withdrawn(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key)
    main = api.bundles.main
    assert custodian(api, main, "alice", "vote").json()["votes"] == 1
    assert custodian(api, main, "alice", "withdraw").json()["votes"] == 0
    assert custodian(api, main, "alice", "withdraw").status_code == 409
    custodian(api, main, "alice", "vote")
    result = custodian(api, main, "carol", "vote").json()
    assert (result["state"], result["cause"], result["votes"]) == ("triggered", "votes", 2)
    deliver(api, smtp_server)
    assert any("custodians voted" in m for m in mail_to(smtp_server, "carol", switch))


def test_bad_custodian_codes_and_revoked_custodians_are_refused_and_logged(
    api: Api, duress_key: OwnerKey
) -> None:
    switch = arm(api, api.bundles.main, duress_key)
    url = f"/switches/{switch}/custodian"
    wrong = custodian_credential(api.bundles.other.mnemonics["carol"], switch, "carol")
    assert api.http.post(url, json={"code": wrong, "action": "vote"}).status_code == 403
    assert api.http.post(url, json={"code": "not a code", "action": "vote"}).status_code == 400
    revoked = owner(api, switch, "revoke", api.bundles.owner, custodian="carol")
    assert revoked.json()["revoked"] == ["carol"]
    refusal = custodian(api, api.bundles.main, "carol", "vote")
    assert refusal.status_code == 403 and "revoked" in refusal.json()["error"]
    kinds = [e["kind"] for e in api.engine.status(switch)["audit"]]
    assert kinds.count("custodian-vote-refused") == 2 and "revoked" in kinds
    # a canary link or a custodian code is no owner credential
    assert (
        api.http.post(
            f"/switches/{switch}/act", json={"password": wrong, "action": "checkin"}
        ).status_code
        == 403
    )


# --- disarming --------------------------------------------------------------------------


def test_disarming_completes_only_after_cooling_off_and_deletes_the_servers_copies(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key, cooling_off=1800)
    assert owner(api, switch, "disarm", api.bundles.owner).json()["state"] == "disarming"
    deliver(api, smtp_server)
    assert any("retiring" in m for m in mail_to(smtp_server, "carol", switch))
    tick_until(api, api.clock.now + 1200, smtp_server)
    assert owner(api, switch, "checkin", api.bundles.owner).json()["state"] == "disarming"
    assert api.engine.dossier_path(switch).exists()
    tick_until(api, api.clock.now + 700, smtp_server)
    assert custodian(api, api.bundles.main, "carol").json()["state"] == "disarmed"
    assert not api.engine.dossier_path(switch).exists()
    with api.engine.store.transaction() as s:
        assert s.query(ServerEnvelopeRow).filter_by(switch_id=switch).count() == 0
    kinds = [e["kind"] for e in api.engine.status(switch)["audit"]]
    assert kinds[-1] == "disarmed"


def test_a_vote_during_cooling_off_turns_disarming_into_a_release(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key, cooling_off=1800)
    owner(api, switch, "disarm", api.bundles.owner)
    custodian(api, api.bundles.main, "alice", "vote")
    assert custodian(api, api.bundles.main, "carol", "vote").json()["state"] == "triggered"
    tick_until(api, api.clock.now + 1900, smtp_server)  # past cooling-off and waiting
    assert api.engine.dossier_path(switch).exists()
    words = api.bundles.main.mnemonics["carol"]
    shared = api.http.post(f"/switches/{switch}/shares", json={"mnemonic": words})
    assert shared.json()["state"] == "released"


# --- protected people -------------------------------------------------------------------


def test_a_silent_canary_set_to_trigger_triggers(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key)
    added = owner(
        api,
        switch,
        "canary-add",
        api.bundles.owner,
        name="mother",
        interval=1200,
        grace=300,
        on_miss="trigger",
    ).json()
    assert re.fullmatch(r"[0-9a-f]{32}", added["token"]) and added["url"].endswith(added["token"])
    api.clock.now += 600
    checked = api.http.post(f"/canary/{added['token']}/checkin").json()
    assert checked == {
        "name": "mother",
        "checked_in_at": api.clock.now,
        "next_due": api.clock.now + 1200,
    }
    for _ in range(3):  # the owner keeps checking in; the protected person falls silent
        tick_until(api, api.clock.now + 600, smtp_server)
        owner(api, switch, "checkin", api.bundles.owner)
    tick_until(api, api.clock.now + 300, smtp_server)
    truth = custodian(api, api.bundles.main, "carol").json()
    assert truth["cause"] == "canary" and truth["state"] in ("triggered", "releasing")
    assert mail_to(smtp_server, "owner", "mother: missed")


def test_a_canarys_duress_link_answers_alike_and_raises_the_alarm(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key)
    added = owner(
        api, switch, "canary-add", api.bundles.owner, name="son", interval=3600, on_miss="alert"
    ).json()
    normal = api.http.post(f"/canary/{added['token']}/checkin")
    forced = api.http.post(f"/canary/{added['duress_token']}/checkin")
    assert seen_by_owner(forced, switch) == seen_by_owner(normal, switch)
    deliver(api, smtp_server)
    for who in ("owner", "carol", "alice"):
        assert mail_to(smtp_server, who, "son: duress"), who
    assert custodian(api, api.bundles.main, "carol").json()["state"] == "armed"  # alert only
    # a canary's link is no owner credential, and a made-up link is refused
    url = f"/switches/{switch}/act"
    assert (
        api.http.post(url, json={"password": added["token"], "action": "checkin"}).status_code
        == 403
    )
    assert api.http.post(f"/canary/{'0' * 32}/checkin").status_code == 404
    assert api.http.post("/canary/../checkin").status_code == 404


# --- new clients ------------------------------------------------------------------------


def test_a_check_in_from_a_new_client_is_announced(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key)
    url = f"/switches/{switch}/checkin"
    api.http.post(url, json={"password": PASSWORD})  # the same client that armed: quiet
    deliver(api, smtp_server)
    assert not mail_to(smtp_server, "owner", "new-client")
    api.http.post(url, json={"password": PASSWORD}, headers={"User-Agent": "stolen-phone/1"})
    api.http.post(url, json={"password": PASSWORD}, headers={"User-Agent": "stolen-phone/1"})
    deliver(api, smtp_server)
    alerts = mail_to(smtp_server, "owner", "new-client")
    assert len(alerts) == 1 and "stolen-phone/1" in alerts[0]
    assert not mail_to(smtp_server, "carol", "new-client")  # the owner did not ask for that


# --- drills -----------------------------------------------------------------------------


def test_a_drill_runs_the_whole_path_and_writes_only_to_the_owner(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    switch = arm(api, api.bundles.main, duress_key)
    before = api.engine.status(switch)
    result = owner(api, switch, "drill", api.bundles.owner).json()
    drill = result["drill"]
    assert drill["state"] == "released" and drill["switch"] != switch
    assert result["state"] == "armed"
    after = api.engine.status(switch)
    assert (after["state"], after["deadline"], after["audit"]) == (
        before["state"],
        before["deadline"],
        before["audit"],
    )
    for _ in range(2):
        deliver(api, smtp_server)
    assert {m["To"] for m in smtp_server.messages} == {"owner@example.org"}
    subjects = [m["Subject"] for m in smtp_server.messages]
    assert subjects and all(s.startswith("[DRILL]") for s in subjects)
    assert any("release" in s for s in subjects) and any("submit" in s for s in subjects)
    statement = api.http.get(f"/r/{drill['switch']}/statement.json").json()
    assert statement["cause"] == "drill"
    key = api.http.get(f"/r/{drill['switch']}/key")
    assert key.status_code == 200 and "AGE-SECRET-KEY" in key.text  # a made-up key, public
    assert api.http.get(f"/r/{switch}/key").status_code == 404  # the real one: nothing
    page = api.http.get(f"/r/{drill['switch']}", headers={"Accept": "text/html"}).text
    assert "DRILL" in page and "Nothing real was" in page


# --- settings ---------------------------------------------------------------------------


def test_settings_change_for_real_and_only_seem_to_under_duress(
    api: Api, duress_key: OwnerKey
) -> None:
    real_switch = arm(api, api.bundles.main, duress_key)
    forced_switch = arm(api, api.bundles.other, duress_key)
    change = {"interval": 7200, "reminders": [600], "recipients": ["mailto:friend@example.org"]}
    answers = {
        who: api.http.post(
            f"/switches/{switch}/act", json={"password": password, "action": "settings", **change}
        )
        for who, switch, password in (
            ("real", real_switch, PASSWORD),
            ("duress", forced_switch, DURESS_PASSWORD),
        )
    }
    assert answers["real"].status_code == 200, answers["real"].text
    assert answers["real"].json()["policy"]["interval"] == 7200
    assert answers["real"].json()["recipients"] == ["mailto:friend@example.org"]
    assert seen_by_owner(answers["duress"], forced_switch) == seen_by_owner(
        answers["real"], real_switch
    )
    # the truth: the real switch changed, the coerced one did not
    assert api.engine.status(real_switch)["policy"]["interval"] == 7200
    truth = api.engine.status(forced_switch)
    assert truth["policy"]["interval"] == POLICY["interval"]
    assert truth["recipients"] == CONTACTS["recipients"]
    # a real check-in now counts the new interval
    checked = api.http.post(f"/switches/{real_switch}/checkin", json={"password": PASSWORD})
    assert checked.json()["deadline"] == api.clock.now + 7200
    refused = api.http.post(
        f"/switches/{real_switch}/act",
        json={"password": PASSWORD, "action": "settings", "interval": 0},
    )
    assert refused.status_code == 400 and "interval" in refused.json()["error"]
