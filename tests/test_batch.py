"""Batched sampling in C: the same rows as the per-tick Python path, on a drift-free schedule."""

from __future__ import annotations

import csv
import errno
import math
import os
import signal
import subprocess
import sys
import threading
import time
from array import array
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from memmap_tui.collectors.host import HostCollector
from memmap_tui.collectors.process import ProcessCollector
from test_derive import (
    BUSY,
    BUSY_OVER_TIME,
    GROUP_SCHEMA,
    JIFFY,
    OVER,
    SHARE_SCHEMA,
    STEP,
    TICK,
    TIME_SHARE_SCHEMA,
    TOTAL,
    group_specs,
    share_readings,
    stepping_disk,
    time_share_readings,
)
from test_derive import SCHEMA as DERIVE_SCHEMA

from memmap_tui import fieldread
from memmap_tui.collector import CollectorOptions
from memmap_tui.derive import TickDerive, derive, new_carry, plan_array
from memmap_tui.model import Reading, Schema, gauge
from memmap_tui.sampler import Sampler
from memmap_tui.sinks.csv import CsvSink, format_row

pytestmark = pytest.mark.skipif(fieldread.IMPLEMENTATION != "c",
                                reason="C extension not built in this checkout")

# derive()'s test schemas (every kind: gauge, rate, ratio, the busiest of a group, a share, the
# busiest share of a group, a share of time), plus a gauge
SCHEMA = Schema([*DERIVE_SCHEMA.specs, *GROUP_SCHEMA.specs, *SHARE_SCHEMA.specs,
                 *TIME_SHARE_SCHEMA.specs, gauge("t.x", "scaled_percent", "percent", "scaled")])

number = st.one_of(st.floats(min_value=-1e13, max_value=1e13), st.just(math.nan),
                   st.integers(min_value=0, max_value=10**12).map(float))


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b))


carry_value = st.one_of(st.floats(min_value=-1.0, max_value=3.0), st.just(math.nan),
                        st.just(math.inf))


@settings(max_examples=200)
@given(st.lists(st.tuples(st.floats(min_value=1e-4, max_value=10),
                          st.lists(number, min_size=len(SCHEMA.specs),
                                   max_size=len(SCHEMA.specs))), min_size=1, max_size=8),
       st.one_of(st.none(), st.lists(carry_value, min_size=len(SCHEMA.columns),
                                     max_size=len(SCHEMA.columns))))
def test_derive_rows_matches_derive(steps: list, carried: Any) -> None:
    """Value for value, and with a carry (any numbers in it) the same carry after."""
    readings, t = [], 100.0
    for dt, values in steps:
        t += dt
        readings.append(Reading(t, 1.7e9 + t, values))
    prev = None
    carry_c = None if carried is None else array("d", carried)
    carry_py = None if carried is None else array("d", carried)
    for reading, got in zip(readings, derive_in_c(SCHEMA, readings, stamped=True,
                                                  carry=carry_c)):
        frame = derive(SCHEMA, prev, reading, carry_py)
        assert got[0] == reading.timestamp
        assert same(got[1:], frame.values)
        prev = reading
    assert carry_c is None or same(list(carry_c), list(carry_py or []))


@settings(max_examples=200)
@given(st.lists(st.tuples(st.floats(min_value=-1, max_value=10),
                          st.lists(number, min_size=len(SCHEMA.specs),
                                   max_size=len(SCHEMA.specs))), min_size=1, max_size=8),
       st.integers(min_value=0, max_value=7))
def test_tick_derive_gives_derives_frames(steps: list, skip: int) -> None:
    """Frame for frame, the C path gives derive()'s frames: the first, times that stand still
    or go back, and a previous reading other than the last one it saw (its row is remade)."""
    tick_derive, prev, t = TickDerive(SCHEMA), None, 100.0
    carry = new_carry(SCHEMA)  # derive()'s, beside TickDerive's own
    for i, (dt, values) in enumerate(steps):
        t += dt
        reading = Reading(t, 1.7e9 + t, values)
        want, got = derive(SCHEMA, prev, reading, carry), tick_derive(prev, reading)
        assert (got.timestamp, got.reading) == (want.timestamp, want.reading)
        assert same(got.values, want.values)
        assert same([got.interval], [want.interval])
        assert same(list(tick_derive.carry), list(carry))
        if i != skip:
            prev = reading


def test_tick_derive_leaves_rows_that_are_not_floats_to_derive() -> None:
    tick_derive = TickDerive(SCHEMA)
    first = Reading(1.0, 1.7e9, [1.0] * len(SCHEMA.specs))
    tick_derive(None, first)
    odd = Reading(2.0, 1.7e9 + 1, [10**400] + [2.0] * (len(SCHEMA.specs) - 1))
    assert repr(tick_derive(first, odd).values) == repr(derive(SCHEMA, first, odd).values)
    short = Reading(3.0, 1.7e9 + 2, [1.0])
    with pytest.raises(IndexError):
        tick_derive(odd, short)


def test_a_sampler_deriving_in_c_writes_the_same_csv(tmp_path: Path) -> None:
    texts = []
    for in_c in (False, True):
        ticks = iter(range(100, 200))
        sampler = Sampler([RowsCollector(SCHEMA)], 0.1,
                          [CsvSink(str(tmp_path / f"{in_c}.csv"))],
                          clock=lambda ticks=ticks: float(next(ticks)), wall=lambda: 1.7e9)
        sampler.open()
        if in_c:
            sampler.derive_in_c()
        for _ in range(6):
            sampler.sample()
        sampler.close()
        texts.append((tmp_path / f"{in_c}.csv").read_text())
    assert texts[0] == texts[1]
    assert texts[0].count("\n") == 7


def derive_in_c(schema: Schema, readings: list, stamped: bool = False,
                carry: Any = None) -> list:
    """derive_rows over `readings`, from no previous row (with `carry`, updated): each frame's
    values (after its timestamp when `stamped`)."""
    from memmap_tui._fieldread import derive_rows

    width, columns = len(schema.specs), len(schema.columns) + 1
    rows = array("d", [v for r in readings for v in r.values])
    stamps = array("d", [x for r in readings for x in (r.monotonic, r.timestamp)])
    out = array("d", [0.0]) * (len(readings) * columns)
    derive_rows(plan_array(schema), array("d", [math.nan]) * width, math.nan, rows, stamps,
                len(readings), out, carry)
    first = 0 if stamped else 1
    return [list(out[i * columns + first:(i + 1) * columns]) for i in range(len(readings))]


@pytest.mark.parametrize("busiest_core", [0, 2])
def test_derive_rows_holds_a_share_that_rounds_above_its_whole_at_scale(
        busiest_core: int) -> None:
    frames = derive_in_c(SHARE_SCHEMA, list(share_readings(busiest_core)))
    assert frames[1] == [100.0, 100.0]


def test_derive_rows_holds_a_share_of_time_above_the_interval_at_scale() -> None:
    first, second = derive_in_c(TIME_SHARE_SCHEMA, list(time_share_readings()))
    assert all(math.isnan(v) for v in first) and second == [100.0, BUSY_OVER_TIME]


def test_derive_rows_leaves_a_ratio_that_is_not_a_share_above_scale() -> None:
    not_shares = Schema([*DERIVE_SCHEMA.specs, *GROUP_SCHEMA.specs])

    def row(step: float) -> list:  # memory, bytes read, CPU busy and total, each core's
        return [1.0, 0.0, BUSY + step, TOTAL + step, *[BUSY + step] * 3, *[TOTAL + step] * 3, 0.0]
    readings = [Reading(0.0, 0.0, row(0.0)), Reading(STEP, STEP, row(STEP))]
    assert derive_in_c(not_shares, readings)[1][2:] == [OVER, OVER]


@settings(max_examples=200)
@given(st.lists(st.lists(st.tuples(st.floats(min_value=0, max_value=1e3),
                                   st.floats(min_value=0, max_value=1e3)),
                         min_size=3, max_size=3), min_size=2, max_size=8),
       st.lists(st.integers(min_value=0, max_value=2), max_size=4), st.booleans())
def test_derive_rows_matches_derive_for_the_busiest_of_growing_counters(
        steps: list, offline: list, share: bool) -> None:
    """Counters that grow like a CPU's, some cores offline (NaN) now and then; the busiest
    share too (the busiest CPU is one)."""
    schema = Schema(group_specs("t.cpu", share=share))
    readings, busy, total = [], [0.0] * 3, [0.0] * 3
    for i, step in enumerate(steps):
        for n, (b, idle) in enumerate(step):
            busy[n] += b
            total[n] += b + idle
        gone = offline[i] if i < len(offline) else -1
        values = [math.nan if n == gone else x for n, x in enumerate(busy)]
        values += [math.nan if n == gone else x for n, x in enumerate(total)]
        readings.append(Reading(float(i), 1.7e9 + i, [*values, 0.0]))
    prev = None
    for reading, frame in zip(readings, derive_in_c(schema, readings)):
        assert same(frame, derive(schema, prev, reading).values)
        prev = reading


@pytest.mark.parametrize("column", [
    [3, 0, 3, 1, 0],    # no pairs
    [3, 5, 0, 1, 3],    # numerators past the row (width 7)
    [3, 0, 5, 1, 3],    # denominators past the row
    [3, 0.5, 3, 1, 3],  # not a whole index
    [3, 0, 3, 1, 2.5],  # not a whole count
    [0, 0, -1, 1, 2],   # a count for a kind without pairs
    [2, 0, -1, 1, 1],   # a ratio without its denominator
    [4, 0, -1, 1, 1],   # a share without its denominator
    [4, 0, 3, 1, 2],    # a count for a share (one pair)
    [5, 0, 3, 1, 0],    # the busiest share of no pairs
    [5, 5, 0, 1, 3],    # numerators of shares past the row
    [6, 0, -1, 1, 2],   # a count for a share of time
    [6, 7, -1, 1, 1],   # a share of time past the row
    [7, 0, -1, 1, 1],   # no such kind
    [-1, 0, -1, 1, 1],  # nor this
])
def test_derive_rows_refuses_a_plan_outside_the_row(column: list) -> None:
    from memmap_tui._fieldread import derive_rows

    width = len(GROUP_SCHEMA.specs)
    with pytest.raises(ValueError, match="plan column 0"):
        derive_rows(array("d", column), array("d", [math.nan]) * width, math.nan,
                    array("d", [0.0]) * width, array("d", [1.0, 1.0]), 1, array("d", [0.0]) * 2)


def test_derive_rows_refuses_a_plan_of_four_numbers_a_column() -> None:
    from memmap_tui._fieldread import derive_rows

    with pytest.raises(ValueError, match="5 floats per column"):
        derive_rows(array("d", [0, 0, -1, 1]), array("d", [0.0]), math.nan, array("d", [0.0]),
                    array("d", [1.0, 1.0]), 1, array("d", [0.0]) * 2)


@settings(max_examples=200)
@given(st.floats(min_value=1e9, max_value=2e9), st.lists(number, min_size=1, max_size=12))
def test_format_rows_matches_format_row(timestamp: float, values: list) -> None:
    from memmap_tui._fieldread import format_rows

    row = array("d", [timestamp, *values])
    assert format_rows(row, 1, len(row)) == format_row(timestamp, values)


def test_read_schedule_keeps_to_the_schedule(data_dir: Path) -> None:
    host = HostCollector(str(data_dir / "proc_a"), str(data_dir / "sys_a"))
    host.open()
    reader, width = host.native_reader(), len(host.metrics())
    rows, stamps = array("d", [0.0]) * (width * 20), array("d", [0.0]) * 40
    start = time.monotonic() + 0.01
    done, tick, missed = reader.read_schedule(rows, stamps, start, 0.005, 0, 20)
    host.close()
    assert done + missed == 20 and tick == 20
    for i in range(done):
        assert stamps[2 * i] >= start + 0.005 * i
    assert stamps[2 * (done - 1)] - start < 0.005 * 20 + 0.01
    assert list(rows[:width]) == list(fake_host_row(data_dir))


def fake_host_row(data_dir: Path) -> list:
    host = HostCollector(str(data_dir / "proc_a"), str(data_dir / "sys_a"))
    host.open()
    row = list(host.collect())
    host.close()
    return row


def test_a_signal_handler_that_cancels_ends_the_batch_early(data_dir: Path) -> None:
    host = HostCollector(str(data_dir / "proc_a"), str(data_dir / "sys_a"))
    host.open()
    reader, width = host.native_reader(), len(host.metrics())
    rows, stamps = array("d", [0.0]) * (width * 100), array("d", [0.0]) * 200
    seen = []

    def handler(*_: object) -> None:
        seen.append(1)
        reader.cancel()

    previous = signal.signal(signal.SIGUSR1, handler)
    # As NativeBatch does: a signal that lands on another thread, or between two waits, still
    # wakes the batch through the reader's pipe.
    previous_fd = signal.set_wakeup_fd(reader.wake_fd(), warn_on_full_buffer=False)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        started = time.monotonic()
        done, _, _ = reader.read_schedule(rows, stamps, started, 0.05, 0, 100)
        took = time.monotonic() - started
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGUSR1, previous)
        host.close()
    assert seen and took < 1.0 and 1 <= done < 100


def test_cancel_from_another_thread_ends_the_batch(data_dir: Path) -> None:
    host = HostCollector(str(data_dir / "proc_a"), str(data_dir / "sys_a"))
    host.open()
    reader, width = host.native_reader(), len(host.metrics())
    rows, stamps = array("d", [0.0]) * (width * 100), array("d", [0.0]) * 200
    threading.Timer(0.1, reader.cancel).start()
    started = time.monotonic()
    done, _, _ = reader.read_schedule(rows, stamps, started, 0.05, 0, 100)
    host.close()
    assert time.monotonic() - started < 1.0 and 1 <= done < 100


def test_sampler_stop_from_another_thread_ends_a_batched_run() -> None:
    sampler = Sampler([HostCollector()], interval=0.1)
    sampler.batch_seconds = 5.0
    threading.Timer(0.3, sampler.stop).start()
    started = time.monotonic()
    sampler.run()
    sampler.close()
    assert time.monotonic() - started < 1.5 and sampler.stats.ticks >= 2


def test_batched_record_writes_the_same_columns_as_per_tick(tmp_path: Path) -> None:
    texts = []
    for batch in (0.0, 0.2):
        host = HostCollector()
        sink = CsvSink(str(tmp_path / f"r{batch}.csv"))
        sampler = Sampler([host], interval=0.01, sinks=[sink])
        sampler.batch_seconds = batch
        stats = sampler.run(duration=0.5)
        sampler.close()
        rows = list(csv.reader(open(tmp_path / f"r{batch}.csv")))
        assert 45 <= stats.ticks + stats.missed <= 52 and len(rows) - 1 == stats.ticks
        assert all(len(r) == len(rows[0]) for r in rows)
        texts.append(rows)
    assert texts[0][0] == texts[1][0]
    stamps = [float(r[0]) for r in texts[1][1:]]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    rate = next(i for i, name in enumerate(texts[1][0])  # a rate read every tick
                if name.endswith("_per_second"))
    assert texts[1][1][rate] == "" and texts[1][2][rate] != ""  # the first row has no rates yet


def test_hints_follow_a_line_that_moved(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("a 1\nb 2\n")
    plan = fieldread.RowPlan()
    f = plan.file(str(path))
    plan.add(f, "b", 1, plan.slot())
    reader, row = plan.reader(), plan.new_row()
    reader.read(row)
    path.write_text("b 5\na 1\nzz 3\n")
    reader.read(row)
    assert row[0] == 5.0


class RowsCollector:
    """A collector giving fixed rows of SCHEMA's width: odd values, counters that go back."""

    name, slow = "rows", False

    def __init__(self, schema: Schema) -> None:
        self.width, self.calls = len(schema.specs), 0
        self.specs = schema.specs

    def open(self) -> None:
        self.calls = 0

    def close(self) -> None:
        pass

    def metrics(self) -> list:
        return list(self.specs)

    def collect(self) -> list:
        self.calls += 1
        odd = [math.nan, -0.0, 1e300, 7, 2.5 * self.calls, 1e12 + 1, -3.0, 0.1 * self.calls]
        return [odd[(k + self.calls) % len(odd)] for k in range(self.width)]

    def table(self) -> None:
        return None

    def native_reader(self) -> None:
        return None


def test_a_batch_fills_the_tuis_ring_with_the_rows_its_frames_carry() -> None:
    """The TUI's sink takes a batch's derived rows at once (StoreSink.write_rows); the ring
    holds what a sink taking one Frame per row gets: the same timestamps and values."""
    from memmap_tui.tui.source import StoreSink

    class Frames:
        def __init__(self) -> None:
            self.rows: list = []

        def open(self, schema: Schema) -> None:
            pass

        def write(self, frame: Any) -> None:
            self.rows.append([frame.timestamp, *frame.values])

        def close(self) -> None:
            pass

    frames, store = Frames(), StoreSink(0.01)
    sampler = Sampler([HostCollector()], interval=0.01, sinks=[frames, store])
    sampler.batch_seconds = 0.2
    stats = sampler.run(duration=0.5)
    sampler.close()
    assert store.store is not None and stats.ticks >= 20
    assert store.store.pushed == len(frames.rows) == stats.ticks
    ring = [list(row) for row in store.store.latest(stats.ticks)]
    assert len(ring) == len(frames.rows)
    assert all(same(a, b) for a, b in zip(ring, frames.rows))


# --- several collectors: ticks read in a batch and replayed (PartsBatch) --------------------

TREE = r"""
import os, sys, time
path = sys.argv[1]
print("ready", flush=True)
time.sleep(1.0)                           # still: ticks are batched
kid = os.fork()                           # a birth: a batch stops, the live tick finds it
if kid == 0:
    for _ in range(20):
        with open(path, "rb") as f:
            f.read()
        time.sleep(0.02)
    os._exit(0)
os.waitpid(kid, 0)                        # reaped: its reads fold into this process
time.sleep(1.0)
"""


@pytest.mark.parametrize("batch", [0.0, 0.5], ids=["tick-by-tick", "batched"])
def test_a_process_tree_recorded_in_batches_counts_every_byte(tmp_path: Path,
                                                               batch: float) -> None:
    """record --pid of a real tree, its ticks read in batches by one guarded C reader and
    replayed (or each read live, for comparison): batches run while the tree holds still, a
    child born mid-run is found (its 20 reads of 1 MiB are in the tree's total), the run ends
    with the tree, and every tick is a row."""
    data = tmp_path / "data"
    data.write_bytes(b"x" * (1 << 20))
    proc = subprocess.Popen([sys.executable, "-c", TREE, str(data)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    out = tmp_path / "p.csv"
    collectors = [HostCollector(), ProcessCollector.from_options(CollectorOptions(pid=proc.pid))]
    sampler = Sampler(collectors, interval=0.05, sinks=[CsvSink(str(out))])
    sampler.batch_seconds = batch
    sampler.open()
    sampler.derive_in_c()  # as record does
    try:
        stats = sampler.run(duration=10)
    finally:
        sampler.close()
        proc.wait()
    parts = sampler._parts
    if batch:
        assert parts is not None and parts.batches >= 3 and parts.stopped >= 1, (
            parts.batches, parts.stopped)
    assert sampler.ended is not None and "exited" in sampler.ended
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == stats.ticks and stats.ticks >= 30
    read = sum(float(r["proc.read_bytes_per_second"] or 0) *
               (float(b["timestamp"]) - float(a["timestamp"]))
               for a, b, r in zip(rows, rows[1:], rows[1:]))
    assert read >= 20 * (1 << 20) * 0.97, read  # the child's 20 MiB, counted across the exit
    stamps = [float(r["timestamp"]) for r in rows]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


def test_a_batch_is_no_longer_than_its_replay_can_take_in_half_an_interval() -> None:
    """At 1 kHz a batch of half a second would be replayed for tens of milliseconds while ticks
    fall due: the measured cost of a replayed tick caps the batch at REPLAY_SHARE of an
    interval's worth of replays."""
    from memmap_tui import batch

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        collectors = [HostCollector(),
                      ProcessCollector.from_options(CollectorOptions(pid=child.pid))]
        sampler = Sampler(collectors, interval=0.002, sinks=[])
        sampler.batch_seconds = 0.5
        sampler.open()
        for _ in range(3):
            sampler.sample()  # the tree is read alone from the second tick on
        parts = batch.PartsBatch(sampler, 0.5)
        parts._cost = 0.001  # a replayed tick measured at 1 ms: half of 2 ms holds one
        next_tick = parts.run(time.monotonic(), 0, 100, None)
        assert next_tick is not None and sampler.stats.ticks <= 1
        if sampler.stats.ticks:  # not stopped by a PID handed out elsewhere meanwhile
            assert parts._cost > 0 and parts._cost != 0.001  # measured again
        parts._cost = 0.0001
        assert parts.run(time.monotonic(), 0, 100, None) is not None
        # ten now fit in half an interval (fewer only if a guard stopped the batch)
        assert sampler.stats.ticks - 1 == 10 or parts.stopped, sampler.stats
        parts.close()
        sampler.close()
    finally:
        child.kill()
        child.wait()


def test_a_batch_reader_is_made_only_with_descriptors_to_spare() -> None:
    from memmap_tui import batch

    assert batch.room_for(0)
    assert not batch.room_for(10**9)


def test_watching_a_tree_raises_the_soft_limit_on_open_files(tmp_path: Path) -> None:
    """A tree is read through descriptors kept open: the soft limit is raised toward the hard
    one (no privilege needed), never above it."""
    code = ("import resource; from memmap_tui.pipeline import raise_open_files_limit as r; "
            "s, h = resource.getrlimit(resource.RLIMIT_NOFILE); n = r(); "
            "print(s, n, resource.getrlimit(resource.RLIMIT_NOFILE)[0], h)")
    out = subprocess.run(["bash", "-c", f"ulimit -Sn 200 && exec {sys.executable} -c '{code}'"],
                         capture_output=True, text=True, check=True,
                         cwd=tmp_path).stdout.split()  # the installed package, not the tree
    before, returned, after, hard = (int(x) for x in out)
    assert before == 200 and returned == after
    assert after == (min(hard, 1 << 16) if hard >= 0 else 1 << 16) and after > before


class Clocked(HostCollector.__mro__[1]):  # type: ignore[misc]  # the Collector base
    """A slow collector whose value is the monotonic time of its own collect()."""

    name = "clocked"
    slow = True

    def probe(self) -> Any:
        from memmap_tui.collector import Availability
        return Availability(True)

    def metrics(self) -> list:
        return [gauge("z", "posted_seconds", "seconds", "when the slow collector ran")]

    def collect(self) -> list:
        return [time.monotonic()]


def test_a_slow_collector_is_batched_with_what_each_tick_would_have_taken(
        tmp_path: Path) -> None:
    """A slow collector (NVML, tegrastats) runs on its own thread; batched, each tick replays
    the latest result its mailbox held at that tick, as a live tick would have taken it: never
    one posted after the tick, never one older than the live path allows."""
    class Frames:
        uses_tables = False

        def __init__(self) -> None:
            self.seen: list = []

        def open(self, schema: Schema) -> None:
            self.column = schema.columns.index("z.posted_seconds")

        def write(self, frame: Any) -> None:
            self.seen.append((frame.reading.monotonic, frame.values[self.column]))

        def close(self) -> None:
            pass

    frames = Frames()
    sampler = Sampler([HostCollector(), Clocked()], interval=0.05, sinks=[frames])
    sampler.batch_seconds = 0.5
    stats = sampler.run(duration=2.0)
    sampler.close()
    assert sampler._parts is not None and sampler._parts.batches >= 2
    assert len(frames.seen) == stats.ticks
    posted = [(tick, p) for tick, p in frames.seen if p == p]
    assert len(posted) >= len(frames.seen) - 3  # the first ticks may come before a result
    assert all(p <= tick <= p + max(3 * 0.05, 2.0) for tick, p in posted)
    assert all(b[1] >= a[1] for a, b in zip(posted, posted[1:]))  # never an older result
    assert len({p for _, p in posted}) >= len(posted) // 2  # fresh, not one held all along


# --- RowWriter: a batch that writes its own rows (record's CSV) -----------------------------

def _real_host() -> tuple:
    """The real host's reader, its width and derive plan, and the schema's column count."""
    host = HostCollector()
    host.open()
    schema = Schema(host.metrics())
    return host, host.native_reader(), len(schema.specs), plan_array(schema), len(schema.columns)


def _reference_text(plan: Any, width: int, columns: int, rows: Any, stamps: Any,
                    done: int) -> str:
    """What derive_rows then format_rows make of the first `done` rows, from no row before (a
    carry from nothing carried, as a writer's)."""
    from memmap_tui._fieldread import derive_rows, format_rows
    out = array("d", [0.0]) * (done * (columns + 1))
    derive_rows(plan, array("d", [math.nan]) * width, math.nan, rows, stamps, done, out,
                array("d", [0.0]) * columns)
    return format_rows(out, done, columns + 1)


def _open_new(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)


def _writing_host(tmp_path: Path, every: int, count: int) -> SimpleNamespace:
    """The real host's reader, a RowWriter of `every` rows to a new w.csv, and buffers for a
    batch of `count` ticks."""
    from memmap_tui._fieldread import RowWriter
    host, reader, width, plan, columns = _real_host()
    path = tmp_path / "w.csv"
    fd = _open_new(path)
    return SimpleNamespace(host=host, reader=reader, width=width, plan=plan, columns=columns,
                           path=path, fd=fd, writer=RowWriter(fd, plan, width, every, str(path)),
                           rows=array("d", [0.0]) * (width * count),
                           stamps=array("d", [0.0]) * (2 * count))


def _written_as_derived(w: SimpleNamespace, done: int) -> bool:
    """The file holds what derive_rows then format_rows make of the first `done` rows."""
    os.close(w.fd)
    w.host.close()
    return w.path.read_text() == _reference_text(w.plan, w.width, w.columns, w.rows, w.stamps,
                                                 done)


def test_a_batch_writes_its_rows_every_few_ticks_while_it_runs(tmp_path: Path) -> None:
    w = _writing_host(tmp_path, 4, 12)
    result: list = []
    batch = threading.Thread(target=lambda: result.append(w.reader.read_schedule(
        w.rows, w.stamps, time.monotonic(), 0.05, 0, 12, None, w.writer)))
    batch.start()
    seen = set()
    while batch.is_alive():  # the file, as a reader (or SIGKILL) would find it meanwhile
        seen.add(w.path.read_text().count("\n"))
        time.sleep(0.005)
    batch.join()
    done = result[0][0]
    assert done + result[0][2] == 12 and w.writer.rows == done
    assert {4, 8} & seen, f"rows in the file while the batch ran: {sorted(seen)}"
    assert all(n % 4 == 0 for n in seen)  # whole groups of `every` rows, never a part of one
    assert _written_as_derived(w, done)


def test_a_cancelled_batch_writes_every_row_it_read(tmp_path: Path) -> None:
    w = _writing_host(tmp_path, 100, 100)
    threading.Timer(0.25, w.reader.cancel).start()
    done, _, _ = w.reader.read_schedule(w.rows, w.stamps, time.monotonic(), 0.05, 0, 100, None,
                                        w.writer)
    assert 2 <= done < 100 and w.writer.rows == done
    assert _written_as_derived(w, done)


def test_a_failed_read_still_writes_the_rows_read_before_it(tmp_path: Path) -> None:
    from memmap_tui._fieldread import FieldReader, RowWriter
    child = subprocess.Popen(["sleep", "30"])
    reader = FieldReader([(f"/proc/{child.pid}/stat", -1)], [(0, "", 17, 0, 1.0)], 1)
    plan = array("d", [0, 0, -1, 1, 1])  # a gauge: its thread count (field 20, token 17)
    path = tmp_path / "w.csv"
    fd = _open_new(path)
    writer = RowWriter(fd, plan, 1, 50, str(path))
    rows, stamps = array("d", [0.0]) * 50, array("d", [0.0]) * 100

    def end() -> None:
        child.kill()
        child.wait()  # reaped: its stat reads fail (ESRCH)

    threading.Timer(0.2, end).start()
    with pytest.raises(OSError) as raised:
        reader.read_schedule(rows, stamps, time.monotonic(), 0.02, 0, 50, None, writer)
    os.close(fd)
    reader.close()
    lines = path.read_text().splitlines()
    assert raised.value.filename == f"/proc/{child.pid}/stat"
    assert 3 <= len(lines) < 50 and writer.rows == len(lines)
    # sleep has one thread; a read between the kill and the reap sees the zombie's 0
    assert all(line.endswith(",1") for line in lines[:-1]), lines
    assert lines[-1].endswith((",1", ",0")), lines


def test_a_failed_write_ends_the_batch_and_names_the_file() -> None:
    from memmap_tui._fieldread import RowWriter
    host, reader, width, plan, _ = _real_host()
    fd = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    writer = RowWriter(fd, plan, width, 2, "out.csv")
    rows, stamps = array("d", [0.0]) * (width * 100), array("d", [0.0]) * 200
    started = time.monotonic()
    with pytest.raises(OSError) as raised:
        reader.read_schedule(rows, stamps, started, 0.01, 0, 100, None, writer)
    took = time.monotonic() - started
    os.close(fd)
    host.close()
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == "out.csv"
    assert took < 0.5 and writer.rows == 0  # at the first write, not after the whole batch


def test_a_writer_in_a_running_batch_refuses_every_other_use(tmp_path: Path) -> None:
    from memmap_tui._fieldread import RowWriter
    host, reader, width, plan, _ = _real_host()
    other, other_reader, _, _, _ = _real_host()
    fd = _open_new(tmp_path / "w.csv")
    writer = RowWriter(fd, plan, width, 5, "w.csv")
    rows, stamps = array("d", [0.0]) * (width * 100), array("d", [0.0]) * 200
    batch = threading.Thread(target=reader.read_schedule,
                             args=(rows, stamps, time.monotonic(), 0.05, 0, 100, None, writer))
    batch.start()
    time.sleep(0.1)
    try:
        for call in (lambda: writer.follow(array("d", [0.0]) * width, 0.0),
                     lambda: writer.write(rows, stamps, 1),
                     lambda: writer.carried(array("d", [0.0]) * (len(plan) // 5)),
                     lambda: writer.__init__(fd, plan, width, 5, "w.csv"),
                     lambda: other_reader.read_schedule(rows[:width], stamps[:2], 0.0, 1.0, 0, 1,
                                                        None, writer)):
            with pytest.raises(RuntimeError, match="busy"):
                call()
    finally:
        reader.cancel()
        batch.join()
        os.close(fd)
        host.close()
        other.close()
    writer.follow(array("d", [0.0]) * width, 0.0)  # free again once the batch is over


def _time_share_writer(tmp_path: Path) -> Any:
    from memmap_tui._fieldread import RowWriter
    fd = _open_new(tmp_path / "t.csv")
    writer = RowWriter(fd, plan_array(TIME_SHARE_SCHEMA), 2, 8, "t.csv")
    return fd, writer


def test_a_writer_carries_a_share_of_time_across_its_writes_and_hands_it_over(
        tmp_path: Path) -> None:
    """A disk busy all along, its io_ticks a 4 ms step every other 2 ms interval: the writer's
    rows are derive()'s with a carry, across writes of `every` rows; carried() gives the carry
    after them, and follow() takes one (none: nothing carried)."""
    fd, writer = _time_share_writer(tmp_path)
    readings = stepping_disk(20)
    rows = array("d", [v for r in readings for v in r.values])
    stamps = array("d", [x for r in readings for x in (r.monotonic, r.timestamp)])
    writer.write(rows, stamps, len(readings))
    os.close(fd)
    carry, prev, want = new_carry(TIME_SHARE_SCHEMA), None, []
    for r in readings:
        want.append(format_row(r.timestamp, derive(TIME_SHARE_SCHEMA, prev, r, carry).values))
        prev = r
    assert (tmp_path / "t.csv").read_text() == "".join(want)
    got = array("d", [9.0, 9.0])
    writer.carried(got)
    assert list(got) == list(carry) and got[0] == pytest.approx(JIFFY - TICK)
    for given_carry, share in ((array("d", [0.001, 0.0]), 100.0), (None, 50.0)):
        (tmp_path / str(share)).mkdir()
        fd, writer = _time_share_writer(tmp_path / str(share))
        writer.follow(array("d", [1.0, 0.0]), 10.0, *([given_carry] if given_carry else []))
        writer.write(array("d", [1.001, 0.0]), array("d", [10.002, 0.0]), 1)
        os.close(fd)
        assert (tmp_path / str(share) / "t.csv").read_text() == format_row(0.0, [share, 0.0])


def test_a_failed_write_leaves_the_writers_carry_as_of_its_last_row_written() -> None:
    """A row at 200 % busy that /dev/full refuses: the file has not got it, nor its excess;
    each retry starts from the same carry (it grew by the excess each time before)."""
    from memmap_tui._fieldread import RowWriter
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        writer = RowWriter(fd, plan_array(TIME_SHARE_SCHEMA), 2, 8, "full.csv")
        writer.follow(array("d", [1.0, 0.0]), 10.0, array("d", [0.003, 0.0]))
        for _ in range(3):
            with pytest.raises(OSError):
                writer.write(array("d", [1.02, 0.0]), array("d", [10.01, 0.0]), 1)
            got = array("d", [9.0, 9.0])
            writer.carried(got)
            assert list(got) == [0.003, 0.0] and writer.rows == 0
    finally:
        os.close(fd)


@pytest.mark.parametrize("size", [0, 1, 3])
def test_a_writer_takes_and_gives_a_carry_of_one_number_a_column_only(tmp_path: Path,
                                                                       size: int) -> None:
    fd, writer = _time_share_writer(tmp_path)
    try:
        with pytest.raises(ValueError, match="2 values"):
            writer.carried(array("d", [0.0]) * size)
        with pytest.raises(ValueError, match="2 values"):
            writer.follow(array("d", [0.0, 0.0]), 0.0, array("d", [0.0]) * size)
        with pytest.raises(TypeError):
            writer.carried(bytes(16))  # not writable
    finally:
        os.close(fd)


def test_record_hands_its_rows_to_c_and_counts_them(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A sampler whose only sink is a CSV file: batches of several flush periods, written in C
    each period; the file, the sink's count and the ticks agree."""
    import memmap_tui.batch as batch_module
    batches = []
    native_run = batch_module.NativeBatch.run

    def counted(self: Any, *args: Any) -> int:
        batches.append(args)
        return native_run(self, *args)

    monkeypatch.setattr(batch_module, "DIRECT_BATCH_SECONDS", 0.5)
    monkeypatch.setattr(batch_module.NativeBatch, "run", counted)
    path = tmp_path / "r.csv"
    sink = CsvSink(str(path))
    sampler = Sampler([HostCollector()], interval=0.02, sinks=[sink])
    sampler.batch_seconds = 0.1
    stats = sampler.run(duration=1.0)
    sampler.close()
    rows = list(csv.reader(open(path)))[1:]
    assert sampler._native is not None and sampler._native.writer is not None
    assert len(rows) == sink.rows == stats.ticks and 45 <= stats.ticks + stats.missed <= 52
    assert len(batches) <= 3  # batches of DIRECT_BATCH_SECONDS, not one a flush period


def test_a_batch_reads_no_slot_from_its_end_on_however_late_it_is(data_dir: Path) -> None:
    """A batch that starts a second late skips the slots that went by, but not past `end`:
    a run of a set duration ends on time after a stall (SIGSTOP, a paused VM)."""
    host = HostCollector(str(data_dir / "proc_a"), str(data_dir / "sys_a"))
    host.open()
    reader, width = host.native_reader(), len(host.metrics())
    rows, stamps = array("d", [0.0]) * (width * 50), array("d", [0.0]) * 100
    late = time.monotonic() - 1.0
    assert reader.read_schedule(rows, stamps, late, 0.01, 0, 50, None, None, 20) == (1, 20, 19)
    done, tick, missed = reader.read_schedule(rows, stamps, late, 0.01, 0, 3)  # no end: 3 rows
    for end in (-1, 2**53 + 1, 1.0, "2"):
        with pytest.raises((ValueError, TypeError)):
            reader.read_schedule(rows, stamps, late, 0.01, 5, 3, None, None, end)
    host.close()
    assert done == 3 and tick > 100 and missed > 90


def test_a_stopped_recording_of_a_set_duration_still_ends_on_time(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    proc = subprocess.Popen([sys.executable, "-m", "memmap_tui", "record", "-o", str(out),
                             "--interval", "0.01", "--duration", "3"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while (not out.exists() or out.read_text().count("\n") < 3) and time.monotonic() < deadline:
        time.sleep(0.02)
    first = float(out.read_text().splitlines()[1].split(",")[0])
    time.sleep(0.5)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(2.0)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=20)
    lines = out.read_text().splitlines()
    last = float(lines[-1].split(",")[0])
    assert proc.returncode == 0, err
    assert last - first <= 3.0 + 0.05, f"rows until {last - first:.2f} s of a 3 s recording"
    assert f"recorded {len(lines) - 1} rows" in err


def test_rows_read_after_a_stall_reach_the_file_without_waiting_for_a_full_group(
        tmp_path: Path) -> None:
    """`every` rows a write, or sooner when slots went by: after a stall the rows already read
    are as old as a full group, so they are written at the next tick."""
    out = tmp_path / "w.csv"
    child = subprocess.Popen([sys.executable, "-c", f"""
import os, time
from array import array
from memmap_tui.collectors.host import HostCollector
from memmap_tui.derive import plan_array
from memmap_tui.model import Schema
from memmap_tui._fieldread import RowWriter
host = HostCollector(); host.open()
schema = Schema(host.metrics()); width = len(schema.specs)
fd = os.open({str(out)!r}, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
writer = RowWriter(fd, plan_array(schema), width, 50, "w.csv")
rows, stamps = array("d", [0.0]) * (width * 300), array("d", [0.0]) * 600
host.native_reader().read_schedule(rows, stamps, time.monotonic(), 0.01, 0, 300, None, writer)
"""], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.1)  # about 10 rows read, none written: a group is 50
        child.send_signal(signal.SIGSTOP)
        time.sleep(0.6)
        assert out.read_text() == ""
        child.send_signal(signal.SIGCONT)
        time.sleep(0.15)
        written = out.read_text().count("\n")
    finally:
        child.kill()
        child.wait()
    assert 5 <= written < 50, f"{written} rows in the file 0.15 s after the stall"
