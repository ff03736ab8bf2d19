"""One read for the whole tree (collectors/treeread.py) counts what every process reading itself
counts: the same totals, gauges and table rows, tick by tick, through state flips, exec, exits
folded into parents, zombies, new children and io that turns unreadable; on a fake /proc (where
the changes can be staged) and on a real tree of workers reading files and being reaped."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from array import array
from operator import lt
from pathlib import Path
from typing import Callable, List

import pytest
from fakeproc import FakeProc
from hypothesis import given
from hypothesis import strategies as st
from memmap_tui.collectors import treeread
from memmap_tui.collectors.process import ProcessCollector

from memmap_tui.collector import SourceEnded

ROW_KEYS = ("pid", "state", "name", "cmdline", "rss_bytes", "threads", "cpu_percent",
            "read_bytes_per_second", "io_delay_percent", "exited", "open_files")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def close(a: float, b: float) -> bool:
    return (a != a and b != b) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def same_values(a: List[float], b: List[float]) -> bool:
    return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))


def same_rows(a: list, b: list) -> bool:
    for x, y in zip(a, b):
        for key in ROW_KEYS:
            u, v = x.get(key), y.get(key)
            if isinstance(u, float) and isinstance(v, float) and close(u, v):
                continue
            if u != v:
                return False
    return len(a) == len(b)


def both(root: Path, pid: int, clock: Clock, rows: bool) -> List[ProcessCollector]:
    """The same tree watched twice: one read for the tree, and each process reading itself;
    `rows`: the process table asked for every tick too (as the TUI does)."""
    pair = [ProcessCollector(pid, proc_root=str(root), clock=clock, tree_reads=tree,
                             stop_when_gone=False) for tree in (True, False)]
    for c in pair:
        c.open()
        c.rows_too = rows  # type: ignore[attr-defined]
    return pair


def tick(pair: List[ProcessCollector], clock: Clock) -> None:
    clock.now += 0.1
    values = [list(c.collect()) for c in pair]
    assert same_values(*values), (values[0], values[1])
    if pair[0].rows_too:  # type: ignore[attr-defined]
        assert same_rows(pair[0].table(), pair[1].table())  # type: ignore[arg-type]


def stage(fake: FakeProc) -> List[Callable[[int], None]]:
    """What happens to the tree between ticks (k: the tick)."""
    def grow(k: int) -> None:
        fake.process(100, 1, name="train", utime=10 * k, rchar=4096 * k, delay_ticks=k)
        fake.process(101, 100, name="loader", utime=3 * k, rchar=100 * k, delay_ticks=2 * k,
                     state="D" if k % 3 == 0 else "S")
        fake.process(102, 100, name="worker", utime=k, rchar=7 * k, threads=4)
    return [grow]


@pytest.fixture(params=["c", "python"])
def row_loops(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The loops over the tree's row (column_sums, steady_rows): C where built, or the twins."""
    if request.param == "c" and treeread.column_sums is None:
        pytest.skip("C extension not built in this checkout")
    if request.param == "python":
        monkeypatch.setattr(treeread, "column_sums", None)
        monkeypatch.setattr(treeread, "_steady_rows", treeread._steady_rows_in_python)
    return str(request.param)


@pytest.mark.parametrize("rows", [True, False], ids=["with-rows", "record"])
@pytest.mark.parametrize("delayacct", [0, 1])
def test_the_tree_read_counts_what_each_process_reading_itself_counts(
        tmp_path: Path, delayacct: int, rows: bool, row_loops: str) -> None:
    fake = FakeProc(tmp_path / "proc", delayacct=delayacct)
    grow = stage(fake)[0]
    grow(0)
    clock = Clock()
    pair = both(fake.root, 100, clock, rows)
    for k in range(1, 8):                      # steady: counted from the tree's read
        grow(k)
        tick(pair, clock)
    assert pair[0].tree_ticks >= 3 and pair[1].tree_ticks == 0
    fake.process(102, 100, name="python3", utime=9, rchar=70)  # exec: a new name
    tick(pair, clock)
    for k in range(8, 12):
        grow(k)
        tick(pair, clock)
    fake.process(102, 1, start=7777)           # 102 exited (its PID now another's) ...
    fake.process(100, 1, name="train", utime=200, rchar=4096 * 12 + 500)  # ... folded into 100
    tick(pair, clock)
    fake.process(103, 101, name="child", utime=1, rchar=10)  # a child is born
    for k in range(13, 17):
        fake.process(100, 1, name="train", utime=200 + k, rchar=4096 * 12 + 500 + k)
        tick(pair, clock)
    fake.process(101, 100, name="loader", utime=50, rchar=1700, state="Z")  # a zombie
    for _ in range(3):
        tick(pair, clock)
    fake.write("103/io", "")                   # io unreadable from now on
    for k in range(17, 21):
        fake.process(103, 101, name="child", utime=k, io=False)
        tick(pair, clock)
    assert "io" in pair[0].unavailable
    before = pair[0].tree_ticks
    for k in range(21, 26):
        fake.process(100, 1, name="train", utime=200 + k, rchar=4096 * 12 + 500 + k)
        tick(pair, clock)
    assert pair[0].tree_ticks == before  # a zombie in the tree: each process reads itself
    for c in pair:
        c.close()


def test_a_recycled_root_ends_the_run_the_same_way(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc")
    fake.process(100, 1, name="train")
    clock = Clock()
    pair = [ProcessCollector(100, proc_root=str(fake.root), clock=clock, tree_reads=tree)
            for tree in (True, False)]
    for c in pair:
        c.open()
    for k in range(5):
        fake.process(100, 1, name="train", utime=k)
        clock.now += 0.1
        assert same_values(list(pair[0].collect()), list(pair[1].collect()))
    assert pair[0].tree_ticks > 0
    fake.process(100, 1, name="other", start=9999)
    clock.now += 0.1
    ended = []
    for c in pair:
        with pytest.raises(SourceEnded) as raised:
            c.collect()
        ended.append((raised.value.args, c.ended))
    assert "now names another process" in (ended[0][1] or "")
    assert ended[0][1] == ended[1][1]


TREE = r"""
import os, sys, time
path, workers = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)                # started: its counters hold still from here
sys.stdin.readline()                      # wait until both collectors have their baseline
kids = []
for i in range(workers):
    pid = os.fork()
    if pid == 0:
        for _ in range(5 * (i + 1)):
            with open(path, "rb") as f:
                f.read()
            time.sleep(0.05)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)                    # reaped: their io folds into this process
print("done", flush=True)
sys.stdin.readline()
"""


def test_a_real_tree_read_at_once_keeps_the_same_totals_across_reaped_workers(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * (256 << 10))
    proc = subprocess.Popen([sys.executable, "-c", TREE, str(data), "4"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    pair = [ProcessCollector(proc.pid, tree_reads=tree) for tree in (True, False)]
    try:
        assert proc.stdout.readline().strip() == "ready"
        for c in pair:
            c.open()
        for _ in range(5):
            for c in pair:
                c.collect()
            time.sleep(0.05)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        names = [s.name for s in pair[0].metrics()]
        counts = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            counts.append(pair[0].collect()[names.index("proc.count")])
            pair[1].collect()
            time.sleep(0.05)
            if counts[-1] == 1 and max(counts) == 5:
                break
        assert max(counts) == 5 and counts[-1] == 1
        assert proc.stdout.readline().strip() == "done"
        for _ in range(3):
            last = [list(c.collect()) for c in pair]
            time.sleep(0.05)
        assert pair[0].tree_ticks > 10
        for name in ("proc.read_bytes", "proc.read_calls", "proc.write_bytes"):
            tree_total, member_total = (v[names.index(name)] for v in last)
            assert tree_total == member_total, name
        assert last[0][names.index("proc.read_bytes")] >= 4 * 5 * 2.5 * (256 << 10) * 0.99
    finally:
        for c in pair:
            c.close()
        proc.stdin.close()
        proc.wait(timeout=10)


# --- the loops over the row: C and the twin -------------------------------------------------

needs_c = pytest.mark.skipif(treeread.column_sums is None,
                             reason="C extension not built in this checkout")
counts = st.one_of(st.integers(0, 2**40).map(float), st.just(math.nan))


def naive_sums(row: List[float], n: int, fields: int) -> List[float]:
    sums = []
    for f in range(fields):
        total = 0.0
        for v in row[f * n:(f + 1) * n]:
            total += v
        sums.append(total)
    return sums


@needs_c
@given(st.integers(1, 6), st.integers(0, 5), st.data())
def test_column_sums_add_each_field_in_order(n: int, fields: int, data: st.DataObject) -> None:
    row = data.draw(st.lists(st.floats(), min_size=n * fields, max_size=n * fields + 3))
    out = array("d", [7.0]) * fields
    treeread.column_sums(array("d", row), n, out)
    assert repr(list(out)) == repr(naive_sums(row, n, fields))


@needs_c
@given(st.integers(1, 6), st.integers(1, 5), st.data())
def test_column_sums_of_counts_are_what_sum_makes(n: int, fields: int,
                                                   data: st.DataObject) -> None:
    row = data.draw(st.lists(counts, min_size=n * fields, max_size=n * fields))
    out = array("d", [0.0]) * fields
    treeread.column_sums(array("d", row), n, out)
    assert repr(list(out)) == repr([sum(row[f * n:(f + 1) * n]) for f in range(fields)])


@needs_c
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0, 2.0, math.nan]),
                          st.sampled_from([0.0, 1.0, 2.0, math.nan])), max_size=10), st.data())
def test_steady_rows_is_its_python_twin(pairs: list, data: st.DataObject) -> None:
    now, before = (array("d", [p[k] for p in pairs]) for k in (0, 1))
    same = data.draw(st.integers(0, len(pairs)))
    grow_from = data.draw(st.integers(0, len(pairs)))
    want = (all(a == b for a, b in zip(now[:same], before[:same]))
            and not any(map(lt, now[grow_from:], before[grow_from:])))
    assert treeread.steady_rows(now, before, same, grow_from) is want
    assert treeread._steady_rows_in_python(now, before, same, grow_from) is want


@needs_c
@pytest.mark.parametrize("call, error", [
    (lambda: treeread.column_sums(array("d", [1.0]), 0, array("d", [0.0])), ValueError),
    (lambda: treeread.column_sums(array("d", [1.0]), 2, array("d", [0.0])), ValueError),
    (lambda: treeread.column_sums(array("d", [1.0]), 2**62, array("d", [0.0]) * 4), ValueError),
    (lambda: treeread.column_sums([1.0], 1, array("d", [0.0])), TypeError),
    (lambda: treeread.column_sums(array("d", [1.0]), 1, b"12345678"), TypeError),
    (lambda: treeread.column_sums(array("d", [1.0]), 1.0, array("d", [0.0])), TypeError),
    (lambda: treeread.column_sums(array("f", [1.0]), 1, array("d", [0.0])), ValueError),
    (lambda: treeread.steady_rows(array("d", [1.0]), array("d", [1.0, 2.0]), 0, 0), ValueError),
    (lambda: treeread.steady_rows(array("d", [1.0]), array("d", [1.0]), 2, 0), ValueError),
    (lambda: treeread.steady_rows(array("d", [1.0]), array("d", [1.0]), 0, -1), ValueError),
    (lambda: treeread.steady_rows(array("d", [1.0]), None, 0, 0), TypeError),
])
def test_the_row_loops_check_their_arguments(call: Callable[[], object], error: type) -> None:
    with pytest.raises(error):
        call()


# --- ticks read in a batch and replayed (memmap_tui/batch.py PartsBatch) ---------------------

class Batched:
    """Ticks a collector as a PartsBatch would: its batch_part read by the C reader under its
    guard (a schedule of one tick, due at once), then replayed; a tick the guard stops (or
    that has no part) is the collector's own collect(), as the sampler then reads it live."""

    def __init__(self, collector: ProcessCollector, clock: Clock) -> None:
        self.c, self.clock = collector, clock
        self.counts = {"replayed": 0, "stopped": 0, "live": 0}
        self._reader, self._key = None, None

    def tick(self) -> List[float]:
        part = self.c.batch_part(self.clock.now)
        if part is None:
            self.counts["live"] += 1
            return list(self.c.collect())
        fieldread = pytest.importorskip("memmap_tui._fieldread")
        if part.key != self._key:
            self._reader = fieldread.FieldReader(part.files, sorted(part.rules,
                                                                    key=lambda r: r[0]),
                                                 part.width)
            self._key = part.key
        assert self._reader is not None
        self._reader.guard(part.hold, part.names)
        rows, stamps = array("d", [math.nan]) * part.width, array("d", [0.0, 0.0])
        states = bytearray(len(part.files))
        done, _, _ = self._reader.read_schedule(rows, stamps, time.monotonic() - 1.0, 3600.0,
                                                0, 1, states)
        if done == 0:
            self.counts["stopped"] += 1
            return list(self.c.collect())
        self.counts["replayed"] += 1
        return list(part.replay(self.clock.now, memoryview(rows), bytes(states)))


def test_ticks_replayed_from_a_batch_count_what_each_process_reading_itself_counts(
        tmp_path: Path) -> None:
    """The same staged life as above (state flips, an exec, an exit folded into its parent, a
    birth, a zombie, io turning unreadable): a tick replayed from a batch's read counts what a
    live tick counts, and the guard hands the ticks that must be looked at to collect()."""
    if treeread.column_sums is None:
        pytest.skip("C extension not built in this checkout")
    fake = FakeProc(tmp_path / "proc", delayacct=1)
    grow = stage(fake)[0]
    grow(0)
    clock = Clock()
    live, batched = (ProcessCollector(100, proc_root=str(fake.root), clock=clock,
                                      stop_when_gone=False) for _ in range(2))
    for c in (live, batched):
        c.open()
    replay = Batched(batched, clock)

    def step() -> None:
        clock.now += 0.1
        want, got = list(live.collect()), replay.tick()
        assert same_values(want, got), (want, got)

    for k in range(1, 8):
        grow(k)                                  # the loader flips between S and D
        step()
    assert replay.counts["replayed"] >= 4
    replayed = replay.counts["replayed"]
    fake.process(102, 100, name="python3", utime=9, rchar=70)  # exec: a new name
    step()
    assert replay.counts["replayed"] == replayed and replay.counts["stopped"] == 1
    for k in range(8, 12):
        grow(k)
        step()
    fake.process(102, 1, start=7777)             # 102 exited (its PID now another's) ...
    fake.process(100, 1, name="train", utime=200, rchar=4096 * 12 + 500)  # ... folded into 100
    step()
    for k in range(12, 14):                      # steady again: replayed
        fake.process(100, 1, name="train", utime=200 + k, rchar=4096 * 12 + 500 + k)
        step()
    replayed = replay.counts["replayed"]
    fake.process(103, 101, name="child", utime=1, rchar=10)  # a birth moves the last PID
    step()
    assert replay.counts["replayed"] == replayed
    for k in range(14, 18):
        fake.process(100, 1, name="train", utime=200 + k, rchar=4096 * 12 + 500 + k)
        step()
    replayed = replay.counts["replayed"]
    fake.process(101, 100, name="loader", utime=50, rchar=1700, state="Z")  # a zombie
    step()
    assert replay.counts["replayed"] == replayed
    for _ in range(2):
        step()
    fake.write("103/io", "")                     # io unreadable from now on
    for k in range(18, 22):
        fake.process(103, 101, name="child", utime=k, io=False)
        step()
    assert replay.counts["stopped"] >= 2 and replay.counts["replayed"] >= 8, replay.counts
    for c in (live, batched):
        c.close()


PARENT = r"""
import os, signal, sys, time
kid = os.fork()
if kid == 0:
    time.sleep(600)
    os._exit(0)
print(kid, flush=True)
sys.stdin.readline()                      # then the worker is killed and reaped
os.kill(kid, signal.SIGKILL)
os.waitpid(kid, 0)
print("reaped", flush=True)
sys.stdin.readline()
"""


def test_a_batch_stops_at_a_process_that_was_reaped() -> None:
    """A real worker killed and reaped between ticks: its stat read fails (ESRCH) in the batch,
    and the guard stops the batch before that tick instead of raising; the live tick that
    follows finds out who left."""
    if treeread.column_sums is None:
        pytest.skip("C extension not built in this checkout")
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    clock = Clock()
    c = ProcessCollector(proc.pid, clock=clock, stop_when_gone=False)
    try:
        kid = int(proc.stdout.readline())
        c.open()
        replay = Batched(c, clock)
        for _ in range(4):
            clock.now += 0.1
            assert replay.tick()[0] == 2.0
        assert replay.counts["replayed"] >= 1
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "reaped"
        assert not Path(f"/proc/{kid}").exists()
        clock.now += 0.1
        replayed = replay.counts["replayed"]
        values = replay.tick()
        assert replay.counts["replayed"] == replayed and replay.counts["stopped"] == 1
        assert values[0] == 1.0  # the live tick's count: the worker is gone
    finally:
        c.close()
        proc.kill()
        proc.wait()
