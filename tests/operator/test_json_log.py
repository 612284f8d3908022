"""``afterword serve --log-format json``, run as a process: every line it writes is one
JSON object (time, level, logger, message), through a real run (start, migrations, an
arm, a refused password, a reminder signed to a webhook, mail, a scrape, a stop), and
no line holds the password or the webhook's secret. The same process serves ``/healthz``
on its public port and ``/metrics`` on ``--metrics-address`` only."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook

from tests.delivery.servers import SmtpServer, WebhookServer
from tests.e2e.serve import Server, free_port
from tests.web.conftest import PARTS, Bundles

PASSWORD = "a password that must never be logged"
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def arm(url: str, bundles: Bundles, hook: str) -> str:
    bundle = bundles.main
    files = [(n, (n, bundle.part(n), "application/octet-stream")) for n in PARTS]
    contacts = {"owner": [f"{hook}#{SECRET}"], "recipients": ["mailto:press@example.org"]}
    policy = {"interval": 4, "grace": 2, "waiting": 2, "reminders": [3]}
    data = {"policy": json.dumps(policy), "contacts": json.dumps(contacts), "password": PASSWORD}
    answer = httpx.post(f"{url}/switches", files=files, data=data, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["switch"])


def test_json_log_lines_through_a_real_run(
    tmp_path: Path, bundles: Bundles, webhook_server: WebhookServer
) -> None:
    metrics_port = free_port()
    with SmtpServer() as smtp:
        server = Server(
            tmp_path / "data",
            None,
            smtp.url,
            args=["--log-format", "json", "--metrics-address", f"127.0.0.1:{metrics_port}"],
        )
        server.start()
        try:
            switch = arm(server.url, bundles, webhook_server.url)
            wrong = httpx.post(
                f"{server.url}/switches/{switch}/act",
                json={"password": PASSWORD + " not", "action": "status"},
            )
            assert wrong.status_code == 403, wrong.text
            # the reminder, 1 s after arming, goes out signed
            ((headers, body),) = webhook_server.wait_for(1, timeout=20)
            assert Webhook(SECRET).verify(webhook_server.raw[0], dict(headers)) == body
            health = httpx.get(f"{server.url}/healthz")
            assert health.status_code == 200 and health.text.startswith("ok: "), health.text
            assert "worker's last pass ended" in health.text
            assert httpx.get(f"{server.url}/metrics").status_code == 404
            scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
            names = {f.name for f in text_string_to_metric_families(scraped.text)}
            assert {
                "afterword_switches",
                "afterword_deliveries",
                "afterword_refused_requests",
            } <= names
            assert switch not in scraped.text
        finally:
            server.stop()
    lines = server.log().splitlines()
    entries = [json.loads(line) for line in lines]  # every line, or this fails
    assert len(entries) > 5
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        assert entry["time"].endswith("Z")
    messages = [e["message"] for e in entries]
    assert any(m.startswith("afterword serving on http://127.0.0.1:") for m in messages)
    assert any(m.startswith("metrics on http://127.0.0.1:") for m in messages)
    assert any(
        m.startswith("webhook ") and " delivered to http://127.0.0.1:" in m for m in messages
    )
    assert any(e["logger"] == "afterword.worker" for e in entries)
    text = server.log()
    assert PASSWORD not in text
    assert SECRET[6:] not in text and "whsec" not in text


def test_a_bad_metrics_address_or_log_format_is_one_line_that_says_what_to_give(
    tmp_path: Path,
) -> None:
    import subprocess

    from tests.e2e.serve import AFTERWORD

    for option, said, hint in (
        (
            ["--metrics-address", "9100"],
            "--metrics-address '9100' is not HOST:PORT",
            "127.0.0.1:9100",
        ),
        (
            ["--log-format", "xml"],
            "--log-format 'xml' is not one afterword knows",
            "--log-format json",
        ),
    ):
        done = subprocess.run(
            [AFTERWORD, "serve", "--data-dir", str(tmp_path / "data"), *option],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        assert said in done.stderr and hint in done.stderr, done.stderr
        assert not (tmp_path / "data").exists()  # refused before anything was made
