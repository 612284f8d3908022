"""The worker processes: a spawned process per worker, each with its own ``Store`` and an
``Engine`` that stamps every switch a tick moved with the time the tick committed.

A module of its own because ``multiprocessing`` (spawn) imports it in every worker.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Any


def make_timed_engine(store: Any, keys: Any, config: Any, counter: Any, failures: Any) -> Any:
    """An Engine that remembers which switches each tick moved and when it committed."""
    from sqlalchemy import event

    from afterword.engine import Engine

    executed = [0]  # statements sent to the database by this process

    def count(*_: Any) -> None:
        executed[0] += 1

    event.listen(store.engine, "before_cursor_execute", count)

    class TimedEngine(Engine):
        def __init__(self) -> None:
            super().__init__(store, keys, config)
            self.moved: list[str] = []
            self.done: list[tuple[str, float]] = []
            self.busy = 0.0  # seconds inside ticks that moved something
            self.ticks = 0
            self.max_triggered = 0
            self.statements = 0  # inside ticks that moved switches

        def tick(self) -> Any:
            self.moved = []
            before = executed[0]
            started = time.perf_counter()
            try:
                report = super().tick()  # returns after its transaction committed
            except Exception:
                with failures.get_lock():
                    failures.value += 1
                raise
            wall = time.time()
            self.ticks += 1
            if len(self.moved) != report.processed:
                raise RuntimeError(
                    f"the tick moved {report.processed} switches but {len(self.moved)} went "
                    "through engine/scheduler.py's build_transition: the benchmark's hook "
                    "no longer sees them"
                )
            if report.processed:
                self.busy += time.perf_counter() - started
                self.statements += executed[0] - before
                self.done += [(sid, wall) for sid in self.moved]
                self.max_triggered = max(self.max_triggered, report.triggered)
                with counter.get_lock():
                    counter.value += report.processed
            return report

    timed = TimedEngine()
    # every switch a tick moves goes through the scheduler's build_transition (the held
    # ones do not): this process's engine counts them there
    import afterword.engine.scheduler as scheduler_module

    build = scheduler_module.build_transition

    def counted(ctx: Any, s: Any, row: Any, *args: Any) -> Any:
        timed.moved.append(row.id)
        return build(ctx, s, row, *args)

    scheduler_module.build_transition = counted  # type: ignore[assignment]
    return timed


class NullSender:
    """Drops every message: the outbox still does all its database work."""

    def send(self, message: Any) -> None:
        return None


def worker_main(spec: dict[str, Any], counter: Any, failures: Any, stop: Any, out: Any) -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    from afterword.engine import Config, ServerKeys
    from afterword.store import Store

    index = spec["index"]
    try:
        store = Store(spec["url"])
        keys = ServerKeys.load_or_create(Path(spec["data_dir"]))
        config = Config(
            data_dir=Path(spec["data_dir"]),
            batch=spec["batch"],
            breaker_threshold=spec["breaker"],
        )
        engine = make_timed_engine(store, keys, config, counter, failures)
        engine.tick()  # connect and warm up; nothing is due yet
        engine.ticks = 0
        profile = None
        if spec["profile"]:
            import cProfile

            profile = cProfile.Profile()
        out.put(("ready", index, None))
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        wall0 = time.perf_counter()
        errors = 0
        if profile is not None:
            profile.enable()
        if spec["loop"] == "shipped":
            from afterword.worker.loop import run

            run(engine, NullSender(), stop, interval=spec["interval"])
        else:
            while not stop.is_set():
                try:
                    report = engine.tick()
                except Exception as exc:  # as the shipped loop does: log, go on
                    errors += 1
                    if errors <= 3:
                        logging.getLogger("bench").warning("tick failed: %s", exc)
                    report = None
                if report is None or report.processed + len(report.held) < spec["batch"]:
                    stop.wait(spec["poll"])
        if profile is not None:
            profile.disable()
            import io
            import pstats

            text = io.StringIO()
            order = os.environ.get("SORT", "cumulative")  # or tottime
            pstats.Stats(profile, stream=text).sort_stats(order).print_stats(60)
            Path(spec["profile"]).write_text(text.getvalue())
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        stats = {
            "cpu": (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime),
            "wall": time.perf_counter() - wall0,
            "busy": engine.busy,
            "ticks": engine.ticks,
            "max_triggered": engine.max_triggered,
            "statements": engine.statements,
            "errors": errors,
        }
        store.close()
        out.put(("done", index, {"moved": engine.done, "stats": stats}))
    except BaseException as exc:
        import traceback

        out.put(("failed", index, traceback.format_exc()))
        raise SystemExit(1) from exc
