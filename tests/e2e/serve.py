"""``afterword serve`` as a real process, for the tests that need one (or several).

The end-to-end tests (tests/e2e) start one; the federation harness (tests/federation)
starts several, each behind a TCP proxy. Both need the same things: a free port, its own
data directory and log, SIGKILL and a restart on the same data, and a wait until it
answers ``/.well-known/afterword``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

AFTERWORD = str(Path(sys.executable).parent / "afterword")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``afterword serve`` in a subprocess, killable and restartable on the same data.

    ``url`` is where the process itself listens. ``public_url`` (default: ``url``) is
    ``AFTERWORD_PUBLIC_URL``, the address the server names in what it sends (a proxy's, in
    the federation tests); ``env`` adds or overrides environment variables, ``args`` adds
    options (``--log-format json``). The log of every
    start goes to ``serve.log`` beside the data directory.
    """

    def __init__(
        self,
        data_dir: Path,
        db: str | None,
        smtp_url: str,
        *,
        public_url: str | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.args = list(args)  # more options of ``afterword serve``
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.db = db
        self.env = {
            **os.environ,
            "AFTERWORD_MIN_DURATION": "1s",
            "AFTERWORD_SMTP_URL": smtp_url,
            "AFTERWORD_PUBLIC_URL": public_url or self.url,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "serve.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def launch(self) -> None:
        """Start the process and return at once (``wait_ready`` waits for it): a cluster
        launches all its servers first, then waits, so they start side by side."""
        if self.running():
            raise AssertionError(f"afterword serve on port {self.port} is already running")
        args = [AFTERWORD, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.db:
            args += ["--db", self.db]
        args += self.args
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=log)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until the process answers ``/.well-known/afterword`` on its own port. A process
        that exits or never answers is killed and the test fails with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                break
            try:
                httpx.get(self.url + "/.well-known/afterword", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("afterword serve did not start: " + self.log())

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 10 s; nothing if not running."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")
