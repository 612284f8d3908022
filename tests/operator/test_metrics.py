"""``/metrics`` on its own listener: read with prometheus-client's own parser, its numbers
follow real work (switches armed, one falling due, a worker pass, mail delivered to a real
SMTP server, refused requests), and it never names a switch, an address or a peer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.store.models import PeerRow
from afterword.web.ops import metrics_app
from afterword.worker.loop import timed_tick
from tests.delivery.servers import SmtpServer
from tests.web.conftest import CONTACTS, T0, Api, served

SECRET = "whsec_" + "c2VjcmV0LWZvci1tZXRyaWNzLXRlc3Qtb25seS0xMjM0"  # 33 bytes
WATCHED = {
    **CONTACTS,
    "recipients": ["mailto:press@example.org", f"https://hooks.example.org/release#{SECRET}"],
}


@pytest.fixture
def metrics(api: Api) -> Iterator[httpx.Client]:
    """A client of the metrics listener, a server of its own beside the public app."""
    with served(metrics_app(api.engine)) as client:
        yield client


def scrape(
    client: httpx.Client,
) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    """Every sample of ``/metrics`` by (name, labels), and the text itself."""
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    return samples, answer.text


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_real_work_and_name_nobody(api: Api, metrics: httpx.Client) -> None:
    before, _ = scrape(metrics)
    assert value(before, "afterword_database_up") == 1
    assert value(before, "afterword_switches", state="armed") == 0

    # two switches armed, the second 1000 s after the first
    contacts = json.dumps(WATCHED)
    assert api.arm(api.bundles.main, contacts=contacts).status_code == 201
    api.clock.now = T0 + 1000
    assert api.arm(api.bundles.other, contacts=contacts).status_code == 201
    # refused: a request missing its dossier (422) and a page that is not there (404)
    assert api.arm(api.bundles.main, omit=("dossier",)).status_code == 422
    assert api.http.get("/no-such-page").status_code == 404
    # a peer of the first switch, never heard from in three days (federation)
    with api.engine.store.transaction() as s:
        s.add(
            PeerRow(
                switch_id=api.bundles.main.switch,
                url="https://peer.example.net",
                since=T0 - 3 * 86400,
                last_asked=T0,
            )
        )

    # the first switch's reminder (1800 s in) fell due 200 s ago; the second's has not
    api.clock.now = T0 + 2000
    due, _ = scrape(metrics)
    assert value(due, "afterword_switches", state="armed") == 2
    assert value(due, "afterword_switches_due") == 1
    assert value(due, "afterword_switches_due_oldest_age_seconds") == 200
    assert value(due, "afterword_outbox_depth") == 0
    assert value(due, "afterword_peers_unreachable") == 1
    assert value(due, "afterword_switches_held") == 0
    for kind in ("invalid", "not_found"):
        assert value(due, "afterword_refused_requests_total", kind=kind) == (
            value(before, "afterword_refused_requests_total", kind=kind) + 1
        )

    # a worker's pass: the due switch's reminder is written to the outbox...
    timed_tick(api.engine)
    api.clock.now += 30
    ticked, _ = scrape(metrics)
    assert value(ticked, "afterword_switches_due") == 0
    assert value(ticked, "afterword_outbox_depth") >= 1
    assert value(ticked, "afterword_outbox_oldest_age_seconds") == 30
    # ... and sent, to a real SMTP server
    with SmtpServer() as smtp:
        sender = Dispatcher(Mailer(MailConfig.from_url(smtp.url)), WebhookSender())
        try:
            while api.engine.dispatch(sender):
                pass
        finally:
            sender.close()
        mails = len(smtp.messages)
    assert mails == value(ticked, "afterword_outbox_depth")
    after, text = scrape(metrics)
    assert value(after, "afterword_switches", state="armed") == 2
    assert value(after, "afterword_switches_due") == 0
    assert value(after, "afterword_switches_due_oldest_age_seconds") == 0
    assert value(after, "afterword_outbox_depth") == 0
    assert value(after, "afterword_tick_duration_seconds_count") >= (
        value(due, "afterword_tick_duration_seconds_count") + 1
    )
    assert value(after, "afterword_tick_lag_seconds_sum") >= (
        value(due, "afterword_tick_lag_seconds_sum") + 200
    )
    delivered = value(after, "afterword_deliveries_total", outcome="delivered", channel="mail")
    assert (
        delivered
        == value(before, "afterword_deliveries_total", outcome="delivered", channel="mail") + mails
    )

    # nothing of a person or a switch: no switch id, no address, no peer, no secret
    lowered = text.lower()
    for switch in (api.bundles.main.switch, api.bundles.other.switch):
        assert switch.lower() not in lowered
        assert switch.lower()[:12] not in lowered
    for word in ("example.org", "example.net", "mailto", "press@", "hooks", "whsec", SECRET[6:]):
        assert word.lower() not in lowered, word


def test_metrics_are_not_on_the_public_app(api: Api) -> None:
    """The public listener has no /metrics: only --metrics-address serves it."""
    answer = api.http.get("/metrics")
    assert answer.status_code == 404
    assert "afterword_" not in answer.text
