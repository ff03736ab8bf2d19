"""Sampler: drift-free cadence, slow sources behind a mailbox, backoff, commands."""

from __future__ import annotations

import math
import threading
import time
from typing import List, Sequence

import pytest

from memmap_tui.collector import Availability, Collector, SourceEnded
from memmap_tui.model import Frame, MetricSpec, Schema, counter, gauge
from memmap_tui.sampler import Sampler
from memmap_tui.slow import Backoff, backoff_seconds


class Steady(Collector):
    """A gauge and a counter that grows by 10 per call."""

    name = "steady"

    def __init__(self) -> None:
        self.calls = 0

    def probe(self) -> Availability:
        return Availability(True)

    def metrics(self) -> List[MetricSpec]:
        return [gauge("s", "value_count", "count", "v"),
                counter("s", "events", "count", "e", column="events_per_second")]

    def collect(self) -> Sequence[float]:
        self.calls += 1
        return [float(self.calls), 10.0 * self.calls]


class Sleepy(Collector):
    """A driver call that hangs for `delay` seconds."""

    name = "sleepy"
    slow = True

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def probe(self) -> Availability:
        return Availability(True)

    def metrics(self) -> List[MetricSpec]:
        return [gauge("z", "value_count", "count", "v")]

    def collect(self) -> Sequence[float]:
        time.sleep(self.delay)
        return [42.0]


class Flaky(Collector):
    """Raises while `broken` is set."""

    name = "flaky"

    def __init__(self) -> None:
        self.broken = True
        self.calls = 0

    def probe(self) -> Availability:
        return Availability(True)

    def metrics(self) -> List[MetricSpec]:
        return [gauge("f", "value_count", "count", "v")]

    def collect(self) -> Sequence[float]:
        self.calls += 1
        if self.broken:
            raise OSError("device went away")
        return [7.0]


class Recorder:
    def __init__(self) -> None:
        self.frames: List[Frame] = []
        self.schema: Schema | None = None
        self.closed = False

    def open(self, schema: Schema) -> None:
        self.schema = schema

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed = True


def test_ticks_do_not_drift() -> None:
    sink = Recorder()
    sampler = Sampler([Steady()], interval=0.02, sinks=[sink])
    sampler.run(duration=1.0)
    sampler.close()
    stamps = [f.reading.monotonic for f in sink.frames]
    assert 48 <= len(stamps) <= 52
    # drift-free: the k-th tick stays near t0 + k*interval, however many ticks went before
    worst = max(abs((t - stamps[0]) - k * 0.02) for k, t in enumerate(stamps))
    assert worst < 0.015


def test_frames_carry_rates_from_counters() -> None:
    sink = Recorder()
    sampler = Sampler([Steady()], interval=0.05, sinks=[sink])
    sampler.run(duration=0.2)
    sampler.close()
    assert math.isnan(sink.frames[0].values[1])
    rate = sink.frames[2].values[1]
    assert rate == pytest.approx(10.0 / 0.05, rel=0.3)


def test_slow_collector_never_delays_the_tick() -> None:
    sink = Recorder()
    sampler = Sampler([Steady(), Sleepy(0.5)], interval=0.02, sinks=[sink])
    start = time.monotonic()
    sampler.run(duration=0.3)
    took = time.monotonic() - start
    sampler.close()
    assert took < 0.45
    assert len(sink.frames) >= 12
    assert all(math.isnan(f.values[2]) for f in sink.frames)  # nothing handed over yet


def test_slow_collector_hands_over_its_latest_value() -> None:
    sink = Recorder()
    sampler = Sampler([Sleepy(0.01)], interval=0.02, sinks=[sink])
    sampler.run(duration=0.3)
    sampler.close()
    assert sink.frames[-1].values[0] == 42.0


def test_close_ends_a_slow_collector_thread_waiting_for_its_next_call() -> None:
    sampler = Sampler([Sleepy(0.0)], interval=30.0, sinks=[Recorder()])
    sampler.open()
    runner = sampler._runners["sleepy"]
    time.sleep(0.2)  # it called once and now waits 30 s for the next call
    start = time.monotonic()
    sampler.close()
    assert not runner.is_alive() and time.monotonic() - start < 1.5


def test_failing_collector_backs_off_and_others_go_on() -> None:
    flaky, steady = Flaky(), Steady()
    sink = Recorder()
    sampler = Sampler([flaky, steady], interval=0.01, sinks=[sink])
    sampler.run(duration=0.3)
    assert not sampler.states["flaky"].ok
    assert "device went away" in sampler.states["flaky"].message
    assert flaky.calls <= 2  # backed off for >= 0.5 s after the first failure
    assert steady.calls >= 25
    assert math.isnan(sink.frames[-1].values[0]) and sink.frames[-1].values[1] > 0
    flaky.broken = False
    sampler.states["flaky"].backoff.retry_at = 0.0  # the backoff has run out
    sampler.sample()
    assert sampler.states["flaky"].ok and sink.frames[-1].values[0] == 7.0
    sampler.close()


def test_backoff_doubles_up_to_a_minute() -> None:
    backoff = Backoff(first=0.5)
    assert [backoff.failed(10.0) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert not backoff.due(11.9) and backoff.due(12.0)
    assert backoff_seconds(3, 2.0) == 8.0
    assert backoff_seconds(30, 0.1) == 60.0
    backoff.succeeded()
    assert backoff.due(0.0) and backoff.failed(0.0) == 0.5


def test_pause_and_resume_commands() -> None:
    sink = Recorder()
    sampler = Sampler([Steady()], interval=0.01, sinks=[sink])
    thread = threading.Thread(target=sampler.run)
    thread.start()
    time.sleep(0.1)
    sampler.command("pause")
    time.sleep(0.05)
    paused_at = len(sink.frames)
    time.sleep(0.2)
    assert len(sink.frames) == paused_at
    sampler.command("resume")
    time.sleep(0.1)
    sampler.command("stop")
    thread.join(2)
    sampler.close()
    assert len(sink.frames) > paused_at and not thread.is_alive()


def test_interval_command_changes_cadence() -> None:
    sink = Recorder()
    sampler = Sampler([Steady()], interval=0.01, sinks=[sink])
    thread = threading.Thread(target=sampler.run)
    thread.start()
    time.sleep(0.1)
    sampler.command("interval", 0.1)
    time.sleep(0.05)
    before = len(sink.frames)
    time.sleep(0.5)
    sampler.stop()
    thread.join(2)
    sampler.close()
    assert 3 <= len(sink.frames) - before <= 7
    assert sampler.interval == 0.1


class Ending(Steady):
    name = "ending"

    def collect(self) -> Sequence[float]:
        if self.calls >= 3:
            raise SourceEnded("process 42 exited")
        return super().collect()


def test_a_source_that_ends_stops_the_run() -> None:
    sink = Recorder()
    sampler = Sampler([Ending()], interval=0.01, sinks=[sink])
    sampler.run(duration=5)
    sampler.close()
    assert sampler.ended == "process 42 exited"
    assert len(sink.frames) == 4 and sink.closed


def test_bad_interval_is_refused() -> None:
    with pytest.raises(ValueError):
        Sampler([Steady()], interval=0)
