"""``/healthz``: 200 with the database answering and this process's worker passing, 503
with a one-line reason otherwise (a database that does not answer, a worker stopped or
stalled); a web node with no worker says so and answers for its database alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from afterword.delivery import Dispatcher, WebhookSender
from afterword.engine import Config, Engine, ServerKeys
from afterword.engine.context import Heartbeat
from afterword.store import Store
from afterword.web.app import create_app
from afterword.web.ops import metrics_app
from afterword.worker.loop import run
from tests.delivery.servers import refusing_port
from tests.web.conftest import Api, start_server


def healthz(client: httpx.Client) -> tuple[int, str]:
    answer = client.get("/healthz")
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.endswith("\n") and answer.text.count("\n") == 1  # one line
    return answer.status_code, answer.text


def test_a_web_node_without_a_worker_answers_for_its_database(api: Api) -> None:
    status, text = healthz(api.http)
    assert status == 200, text
    assert text.startswith("ok: database answered in ")
    assert "no worker runs in this process" in text


def test_the_worker_passing_then_stopped_then_stalled(api: Api) -> None:
    stop = threading.Event()
    sender = Dispatcher(None, WebhookSender())
    worker = threading.Thread(target=run, args=(api.engine, sender, stop, 0.05), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while (api.engine.ctx.heartbeat is None or api.engine.ctx.heartbeat.last is None) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.01)
        status, text = healthz(api.http)
        assert status == 200, text
        assert "the worker's last pass ended" in text
    finally:
        stop.set()
        worker.join(10)
        sender.close()
    status, text = healthz(api.http)
    assert status == 503
    assert text.startswith("the worker of this process has stopped")
    # a worker whose last pass ended two minutes ago (a pass stuck on the database, say)
    stalled = Heartbeat()
    stalled.last = time.monotonic() - 120
    api.engine.ctx.heartbeat = stalled
    status, text = healthz(api.http)
    assert status == 503
    assert text.startswith("the worker's last pass ended 120 s ago, more than 60 s")


@pytest.fixture
def unreachable(tmp_path: Path, server_keys: ServerKeys) -> Iterator[Engine]:
    """An engine whose PostgreSQL does not answer (nothing listens on its port)."""
    with refusing_port() as port:
        store = Store(f"postgresql+psycopg://afterword@127.0.0.1:{port}/afterword")
        yield Engine(store, server_keys, Config(tmp_path / "data"))


def test_a_database_that_does_not_answer(unreachable: Engine) -> None:
    for app in (create_app(unreachable), metrics_app(unreachable)):
        server, thread, url = start_server(app)
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                status, text = healthz(client)
                assert status == 503
                assert text.startswith("the database does not answer (OperationalError)")
                assert "AFTERWORD_DATABASE_URL" in text
                assert "127.0.0.1" not in text  # (nor anything else of the URL)
                if app.title == "afterword metrics":  # the scrape still succeeds
                    scraped = client.get("/metrics")
                    assert scraped.status_code == 200
                    samples = {
                        s.name: s.value
                        for f in text_string_to_metric_families(scraped.text)
                        for s in f.samples
                    }
                    assert samples["afterword_database_up"] == 0
                    assert "afterword_switches" not in samples
        finally:
            server.should_exit = True
            thread.join(10)
