"""The sampler's wait between ticks (memmap_tui/wake.py): ended early by set() from another
thread or a signal handler, never losing a set() that came first, never blocking a setter."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from typing import List, Sequence

from memmap_tui.collector import Availability, Collector
from memmap_tui.model import Frame, MetricSpec, Schema, gauge
from memmap_tui.sampler import Sampler
from memmap_tui.wake import Wake


def test_a_wait_nobody_ends_times_out() -> None:
    wake = Wake()
    t = time.monotonic()
    assert wake.wait(0.05) is False
    assert 0.04 <= time.monotonic() - t < 1.0


def test_a_set_before_the_wait_is_not_lost_and_is_used_once() -> None:
    wake = Wake()
    wake.set()
    wake.set()
    t = time.monotonic()
    assert wake.wait(5.0) is True
    assert time.monotonic() - t < 0.5
    assert wake.wait(0.02) is False  # both sets were one wake, and it is spent


def test_another_thread_ends_the_wait_at_once() -> None:
    wake = Wake()
    timer = threading.Timer(0.05, wake.set)
    timer.start()
    t = time.monotonic()
    assert wake.wait(10.0) is True
    assert time.monotonic() - t < 2.0
    timer.join()


def test_a_wait_without_timeout_ends_on_set() -> None:
    wake = Wake()
    threading.Timer(0.05, wake.set).start()
    assert wake.wait(None) is True


def test_setting_never_blocks_even_when_nobody_waits() -> None:
    wake = Wake()
    for _ in range(200_000):  # far more than a pipe holds (64 KiB on Linux)
        wake.set()
    assert wake.wait(0) is True
    assert wake.wait(0) is False  # the whole pipe was emptied


def test_a_signal_handler_ends_the_wait() -> None:
    wake = Wake()
    previous = signal.signal(signal.SIGUSR1, lambda *_: wake.set())
    try:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        t = time.monotonic()
        assert wake.wait(10.0) is True
        assert time.monotonic() - t < 2.0
    finally:
        signal.signal(signal.SIGUSR1, previous)


def _identity(fd: int):
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def test_its_descriptors_are_closed_with_it_and_not_inherited() -> None:
    wake = Wake()
    fds = (wake._read_fd, wake._write_fd)
    pipes = [_identity(fd) for fd in fds]
    assert all(pipes)
    assert not any(os.get_inheritable(fd) for fd in fds)
    del wake
    gc.collect()
    assert all(_identity(fd) != pipe for fd, pipe in zip(fds, pipes))


class Counting(Collector):
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def probe(self) -> Availability:
        return Availability(True)

    def metrics(self) -> List[MetricSpec]:
        return [gauge("c", "value_count", "count", "v")]

    def collect(self) -> Sequence[float]:
        self.calls += 1
        return [float(self.calls)]


class Frames:
    def __init__(self) -> None:
        self.frames: List[Frame] = []

    def open(self, schema: Schema) -> None:
        pass

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        pass


def test_stop_ends_a_long_wait_between_ticks_at_once() -> None:
    sink = Frames()
    sampler = Sampler([Counting()], interval=10.0, sinks=[sink])
    thread = threading.Thread(target=sampler.run)
    thread.start()
    time.sleep(0.2)  # the first tick is taken; the sampler waits for the next, 10 s away
    t = time.monotonic()
    sampler.stop()
    thread.join(5)
    sampler.close()
    assert not thread.is_alive() and time.monotonic() - t < 1.0
    assert len(sink.frames) == 1
