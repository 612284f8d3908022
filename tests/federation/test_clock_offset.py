"""``AFTERWORD_TEST_CLOCK_OFFSET``: the engine's wall clock moved by a constant, the
breaker still checking it against the boot clock, and a bad value refused by name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from afterword.engine.context import boot_seconds, now_seconds
from afterword.errors import AfterwordError
from afterword.server import Settings, build_engine, parse_offset

DAY = 86400


@pytest.mark.parametrize(
    ("text", "seconds"), [("0", 0), ("259200", 3 * DAY), ("+60", 60), ("-3600", -3600)]
)
def test_whole_seconds_of_either_sign(text: str, seconds: int) -> None:
    assert parse_offset(text) == seconds


@pytest.mark.parametrize("text", ["3d", "1.5", "ten", "--1", "1e3", " - 5"])
def test_a_bad_value_names_the_variable(text: str) -> None:
    with pytest.raises(AfterwordError, match="AFTERWORD_TEST_CLOCK_OFFSET"):
        parse_offset(text)


def test_unset_or_empty_is_no_offset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AFTERWORD_TEST_CLOCK_OFFSET", raising=False)
    assert Settings.load(data_dir=tmp_path).clock_offset == 0
    monkeypatch.setenv("AFTERWORD_TEST_CLOCK_OFFSET", "")
    settings = Settings.load(data_dir=tmp_path)
    assert settings.clock_offset == 0
    engine = build_engine(settings)
    try:
        assert engine.clock is now_seconds and engine.ctx.monotonic is boot_seconds
    finally:
        engine.store.close()


def test_the_engine_runs_ahead_and_the_breaker_keeps_the_boot_clock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AFTERWORD_TEST_CLOCK_OFFSET", str(-3 * DAY))
    engine = build_engine(Settings.load(data_dir=tmp_path))
    try:
        assert abs(engine.clock() - (time.time() - 3 * DAY)) <= 1
        # not the offset clock itself: that would make a real jump of the machine's clock
        # invisible to the breaker (a constant offset, compared with the boot clock over
        # a pass, is none)
        assert engine.ctx.monotonic is boot_seconds
        engine.tick()
        engine.tick()
        assert engine.ctx.jumps == []
        # the machine's clock jumps a day under the offset: the breaker sees it
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + DAY)
        engine.tick()
        assert len(engine.ctx.jumps) == 1
        start, end = engine.ctx.jumps[0]
        assert end - start >= DAY - 60
    finally:
        engine.store.close()


def test_a_bad_value_stops_the_server_from_loading(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AFTERWORD_TEST_CLOCK_OFFSET", "3 days")
    with pytest.raises(AfterwordError, match="AFTERWORD_TEST_CLOCK_OFFSET"):
        Settings.load(data_dir=tmp_path)
