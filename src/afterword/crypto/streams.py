"""Stream plumbing for multi-GB dossiers: flat memory, both cores busy.

Sealing is a two-stage pipeline: ``DocumentReader`` reads and hashes documents on a
worker thread while the caller frames the tar stream, encrypts it and writes it. hashlib,
file reads, file writes and the AEAD all release the GIL, so the stages overlap on two
cores. Buffers come from a fixed pool, so memory stays flat whatever the input size.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from afterword.errors import IntegrityError

Progress = Callable[[int], None]

BLOCK = 1 << 20  # read size for documents
_DEPTH = 6  # buffers per pool: at most ~6 MiB in flight per stage


class _Pool:
    """A fixed set of reusable buffers: no allocation (and no page faults) per block."""

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(count):
            self._free.put(bytearray(size))

    def get(self, timeout: float | None = None) -> bytearray:
        """A free buffer; raises ``queue.Empty`` if none frees up within ``timeout``."""
        return self._free.get(timeout=timeout)

    def put(self, buf: bytearray) -> None:
        self._free.put(buf)


class CountingWriter:
    """Passes writes through to ``out`` and counts the bytes."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._out.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._out.flush()


@dataclass(frozen=True)
class DocumentStart:
    """A document begins: its size and mtime as read from the open file."""

    index: int
    size: int
    mtime: int


@dataclass(frozen=True)
class DocumentEnd:
    index: int
    sha256: bytes


class _Stopped(Exception):
    """The consumer went away; the reader thread ends quietly."""


class DocumentReader:
    """Reads and hashes documents on a worker thread, yielding events in order.

    Iterating yields ``DocumentStart``, then ``memoryview`` blocks of the content (valid
    only until the next item is requested), then ``DocumentEnd``, per document. Contents
    are packed into pooled 1 MiB buffers, many small documents to a buffer, and a whole
    buffer crosses between threads at once: per-document thread hand-offs would cost more
    than reading a small document. A file that changes size while it is read raises
    :class:`IntegrityError`.
    """

    def __init__(self, sources: Sequence[str]) -> None:
        self._sources = sources
        self._pool = _Pool(_DEPTH, BLOCK)
        self._queue: queue.Queue[_Batch | BaseException | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="afterword-read", daemon=True)
        self._thread.start()

    def _buffer(self) -> bytearray:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                return self._pool.get(timeout=0.1)
            except queue.Empty:
                continue

    def _run(self) -> None:
        batch = _Batch()
        try:
            for index, source in enumerate(self._sources):
                with open(source, "rb") as f:
                    info = os.fstat(f.fileno())
                    batch.events.append(DocumentStart(index, info.st_size, int(info.st_mtime)))
                    digest = hashlib.sha256()
                    remaining = info.st_size
                    while remaining:
                        if batch.buffer is not None and batch.fill == BLOCK:
                            self._queue.put(batch)
                            batch = _Batch()
                        if batch.buffer is None:
                            batch.buffer = self._buffer()
                        buffer, start = batch.buffer, batch.fill
                        view = memoryview(buffer)[start : start + min(BLOCK - start, remaining)]
                        n = f.readinto(view)
                        if not n:
                            break
                        digest.update(view[:n])
                        batch.events.append((start, n))
                        batch.fill += n
                        remaining -= n
                    if remaining or f.read(1):
                        raise IntegrityError(
                            f"{source} changed size while it was being sealed",
                            "close programs writing to it and seal again",
                        )
                    batch.events.append(DocumentEnd(index, digest.digest()))
            self._queue.put(batch)
            self._queue.put(None)
        except _Stopped:
            pass
        except BaseException as exc:
            if batch.buffer is not None:
                self._pool.put(batch.buffer)
            self._queue.put(exc)

    def __iter__(self) -> Iterator[DocumentStart | DocumentEnd | memoryview]:
        try:
            while (batch := self._queue.get()) is not None:
                if isinstance(batch, BaseException):
                    raise batch
                buffer = batch.buffer
                view = None if buffer is None else memoryview(buffer)
                for event in batch.events:
                    if isinstance(event, tuple):
                        assert view is not None
                        start, n = event
                        yield view[start : start + n]
                    else:
                        yield event
                if batch.buffer is not None:
                    self._pool.put(batch.buffer)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker (if still reading) and wait for it."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, _Batch) and item.buffer is not None:
                self._pool.put(item.buffer)
        self._thread.join()


@dataclass
class _Batch:
    """Events for the consumer, and the one pooled buffer their content blocks live in."""

    buffer: bytearray | None = None
    fill: int = 0
    events: list[DocumentStart | DocumentEnd | tuple[int, int]] = field(default_factory=list)
