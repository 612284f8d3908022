"""Stream plumbing for multi-GB dossiers: flat memory, two cores.

``BackgroundSink`` moves hashing and disk writes of ciphertext to a second thread
(hashlib and file writes release the GIL), so encryption on the main thread and I/O
overlap. Its queue is bounded, so memory stays flat whatever the input size.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO

Progress = Callable[[int], None]

BLOCK = 1 << 20  # read size for documents and coalescing size for ciphertext
_QUEUE_DEPTH = 8  # at most ~8 MiB in flight


class BackgroundSink:
    """A write-only binary sink that hashes (SHA-256) and writes on a worker thread."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0
        self._pending = bytearray()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="afterword-sink", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain so the producer never blocks forever
            try:
                self._hash.update(block)
                self._out.write(block)
            except BaseException as exc:  # reported to the producer on the next write/close
                self._error = exc

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._raise_pending_error()
        self._pending += data
        self.size += len(data)
        if len(self._pending) >= BLOCK:
            self._queue.put(bytes(self._pending))
            self._pending.clear()
        return len(data)

    def flush(self) -> None:
        """Nothing to do: data leaves on ``finish``; present for file-like callers."""

    def finish(self) -> str:
        """Write what is left, wait for the worker, return the SHA-256 hex of all bytes."""
        if self._pending:
            self._queue.put(bytes(self._pending))
            self._pending.clear()
        self._queue.put(None)
        self._thread.join()
        self._raise_pending_error()
        self._out.flush()
        return self._hash.hexdigest()

    def abandon(self) -> None:
        """Stop the worker after a failure; whatever was written is discarded by the caller."""
        self._pending.clear()
        self._queue.put(None)
        self._thread.join()


def sha256_file(path: str, progress: Progress | None = None) -> tuple[str, int]:
    """SHA-256 hex and size of a file, read in blocks (flat memory)."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    with open(path, "rb") as f:
        while n := f.readinto(buf):
            digest.update(view[:n])
            size += n
            if progress:
                progress(n)
    return digest.hexdigest(), size
