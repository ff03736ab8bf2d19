"""The process collector and `memmap record --pid` against real processes on the real /proc."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from conftest import memmap_cmd, memmap_env
from memmap_tui.collectors.process import ProcessCollector

from memmap_tui.collector import CollectorOptions, SourceEnded

HELD = 300 * 2**20
DATA_BYTES = 16 * 2**20

# Holds HELD bytes, then reads a file over and over for a while once told to go, then says
# how many bytes it read.
READER = r"""
import os, sys, time
go, data, truth = sys.argv[1:4]
while not os.path.exists(go):
    time.sleep(0.01)
hold = bytearray(%d)
for i in range(0, len(hold), 4096):
    hold[i] = 1
total, t = 0, time.time()
while time.time() - t < 2.5:
    with open(data, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            total += len(b)
    time.sleep(0.02)
open(truth, "w").write(str(total))
time.sleep(0.4)
""" % HELD


def wait_for(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """`memmap record --pid` of READER, from before it starts reading until it exits."""
    d = tmp_path_factory.mktemp("reader")
    (d / "data.bin").write_bytes(b"\x5a" * DATA_BYTES)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(d / "go"), str(d / "data.bin"),
                               str(d / "truth")])
    rec = subprocess.Popen([*memmap_cmd(), "record", "-o", str(d / "r.csv"), "--interval", "0.1",
                            "--pid", str(reader.pid)], env=memmap_env(), cwd=d,
                           stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (d / "r.csv").exists() and len((d / "r.csv").read_text().splitlines()) >= 2)
    (d / "go").touch()
    reader.wait(timeout=30)
    exited = time.monotonic()
    _, err = rec.communicate(timeout=15)
    return {"rows": list(csv.DictReader(open(d / "r.csv"))),
            "truth": int((d / "truth").read_text()), "code": rec.returncode, "stderr": err,
            "lag": time.monotonic() - exited}


def test_recorded_read_rate_integrates_to_the_bytes_read(recording: Dict[str, object]) -> None:
    rows: List[Dict[str, str]] = recording["rows"]  # type: ignore[assignment]
    total = 0.0
    for a, b in zip(rows, rows[1:]):
        if b["proc.read_bytes_per_second"] != "":
            total += float(b["proc.read_bytes_per_second"]) * (float(b["timestamp"]) -
                                                              float(a["timestamp"]))
    truth = recording["truth"]
    assert truth > 20 * DATA_BYTES  # type: ignore[operator]
    assert abs(total - truth) / truth <= 0.02  # type: ignore[operator]


def test_peak_rss_matches_the_memory_held(recording: Dict[str, object]) -> None:
    rows: List[Dict[str, str]] = recording["rows"]  # type: ignore[assignment]
    peak = max(float(r["proc.rss_bytes"]) for r in rows if r["proc.rss_bytes"])
    assert HELD <= peak <= HELD * 1.10


def test_record_stops_by_itself_when_the_process_exits(recording: Dict[str, object]) -> None:
    assert recording["code"] == 0
    assert recording["lag"] < 3.0  # type: ignore[operator]
    assert "exited; recording stopped" in recording["stderr"]  # type: ignore[operator]
    rows: List[Dict[str, str]] = recording["rows"]  # type: ignore[assignment]
    assert rows[-1]["proc.count"] == "0" and rows[-2]["proc.count"] == "1"


FORKED_WORKERS = r"""
import os, sys, time
shared = bytearray(64 * 2**20)
for i in range(0, len(shared), 4096):
    shared[i] = 1
for _ in range(3):
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
print("ready", flush=True)
time.sleep(30)
"""


def start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            text=True)


def test_forked_workers_sharing_memory_have_total_pss_below_total_rss() -> None:
    proc = start(FORKED_WORKERS)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        c = ProcessCollector(proc.pid)
        c.open()
        values = dict(zip([s.name for s in c.metrics()], c.collect()))
        c.close()
    finally:
        proc.kill()
        proc.wait()
    assert values["proc.count"] == 4
    assert values["proc.rss_bytes"] > 4 * 64 * 2**20
    assert values["proc.pss_bytes"] < values["proc.rss_bytes"] / 2  # shared pages split



# A parent holding 64 MiB it shares with one forked worker; the worker, told on stdin, writes
# every page (copy on write: its own minor faults; neither RSS moves, the parent's PSS doubles).
COW_WORKER = r"""
import os, sys, time
shared = bytearray(64 * 2**20)
for i in range(0, len(shared), 4096):
    shared[i] = 1
if os.fork() == 0:
    sys.stdin.read(1)
    for i in range(0, len(shared), 4096):
        shared[i] = 2
    print("written", flush=True)
    time.sleep(30)
    os._exit(0)
print("ready", flush=True)
time.sleep(30)
"""


@contextmanager
def watched(script: str) -> Iterator[Tuple[subprocess.Popen, ProcessCollector]]:
    """A Python `script` started with pipes on stdin and stdout, once it printed "ready", and
    a ProcessCollector opened on it; both ended afterwards."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    c = ProcessCollector(proc.pid)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        c.open()
        yield proc, c
    finally:
        c.close()
        proc.kill()
        proc.wait()


def tell(proc: subprocess.Popen, command: str, reply: str) -> None:
    """Write `command` to the script and wait for its `reply` line."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(command)
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == reply


def test_a_still_tree_is_not_reread_and_a_workers_copy_on_write_is() -> None:
    with watched(COW_WORKER) as (proc, c):
        names = [s.name for s in c.metrics()]
        pss = lambda values: dict(zip(names, values))["proc.pss_bytes"]  # noqa: E731
        values = c.collect()
        wait_for(lambda: c.collect()[names.index("proc.count")] == 2)
        time.sleep(1.5)  # credit for both first reads; then the tree is still
        values = c.collect()
        shared_pss, reads = pss(values), c.smaps_reads
        for _ in range(20):  # 2 s of still ticks, credit enough for several reads
            time.sleep(0.1)
            values = c.collect()
        assert c.smaps_reads == reads, "a still tree's smaps_rollup was read again"
        tell(proc, "x", "written")
        deadline = time.monotonic() + 10
        while pss(values) < shared_pss + 24 * 2**20:  # the parent's half of 64 MiB comes back
            assert time.monotonic() < deadline, f"PSS stayed {pss(values)} after the write"
            time.sleep(0.1)
            values = c.collect()


# The same, under a parent that ignores SIGCHLD: its children are reaped without their counters
# being folded into its own, so the tree's totals take an expected fold off the parent's next
# faults. Told "s", it starts a short child that touches 120 MiB and exits; told "w", it writes
# every page it shares with its long-lived worker.
UNFOLDED = r"""
import os, signal, sys, time
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
shared = bytearray(40 * 2**20)
for i in range(0, len(shared), 4096):
    shared[i] = 1
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "s" and os.fork() == 0:
        short = bytearray(120 * 2**20)
        for i in range(0, len(short), 4096):
            short[i] = 1
        time.sleep(1.0)
        os._exit(0)
    if line.strip() == "w":
        for i in range(0, len(shared), 4096):
            shared[i] = 2
    print("done", flush=True)
"""


def true_pss(pids: List[int]) -> float:
    """The PSS of `pids` summed from their smaps_rollup (the kernel's own figure), bytes."""
    total = 0.0
    for pid in set(pids):
        with open(f"/proc/{pid}/smaps_rollup") as f:
            total += sum(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
    return total


def test_a_copy_on_write_after_an_unfolded_child_is_still_seen_at_once() -> None:
    with watched(UNFOLDED) as (proc, c):
        names = [s.name for s in c.metrics()]
        at = {n: i for i, n in enumerate(names)}

        def tick_until(count: int) -> None:  # ticks 0.1 s apart, as `record` would take them
            deadline = time.monotonic() + 15
            while c.collect()[at["proc.count"]] != count:
                assert time.monotonic() < deadline, "timed out"
                time.sleep(0.1)

        tick_until(2)
        tell(proc, "s\n", "done")
        tick_until(3)
        tick_until(2)  # gone, and never folded
        tell(proc, "w\n", "done")  # within the tick the fold is expected in
        truth = true_pss([proc.pid, *c.members])
        deadline = time.monotonic() + 10  # well inside STILL_MAX_AGE (30 s)
        values = c.collect()
        while values[at["proc.pss_bytes"]] < truth - 8 * 2**20:
            assert time.monotonic() < deadline, (
                f"the parent's copy on write went unseen: PSS {values[at['proc.pss_bytes']]}, "
                f"truth {truth}")
            time.sleep(0.1)
            values = c.collect()


# Waves of forked children that each read DATA_BYTES, then linger (seen alive) or not
# (born and reaped between two ticks); the parent reaps them and writes what all read.
WAVES = r"""
import os, sys, time
go, data, truth, linger = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
while not os.path.exists(go):
    time.sleep(0.01)
total = 0
for wave in range(3):
    kids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            fd, n = os.open(data, os.O_RDONLY), 0
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                n += len(b)
            time.sleep(linger)
            os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.waitpid(pid, 0)
    total += 4 * os.path.getsize(data)
    time.sleep(0.4)
open(truth, "w").write(str(total))
time.sleep(0.3)
"""


def watch(tmp_path: Path, linger: float) -> Dict[str, List[float]]:
    """Run WAVES under the collector every 0.05 s; each metric's values over time."""
    (tmp_path / "data.bin").write_bytes(b"\x11" * DATA_BYTES)
    proc = subprocess.Popen([sys.executable, "-c", WAVES, str(tmp_path / "go"),
                             str(tmp_path / "data.bin"), str(tmp_path / "truth"), str(linger)])
    c = ProcessCollector(proc.pid)
    c.open()
    names = [s.name for s in c.metrics()]
    series: Dict[str, List[float]] = {n: [] for n in names}
    values = c.collect()
    (tmp_path / "go").touch()
    try:
        while True:
            for n, v in zip(names, values):
                series[n].append(v)
            time.sleep(0.05)
            try:
                values = c.collect()
            except SourceEnded as end:
                values = end.values  # type: ignore[assignment]
                break
    finally:
        c.close()
        proc.wait(timeout=30)
    for n, v in zip(names, values):
        series[n].append(v)
    series["truth"] = [float((tmp_path / "truth").read_text())]
    return series


def test_children_that_come_and_go_move_the_count_and_never_the_counters_back(
        tmp_path: Path) -> None:
    series = watch(tmp_path, linger=0.3)
    counts = series["proc.count"]
    assert max(counts) == 5 and 1 in counts[counts.index(5):]
    for name in ("proc.read_bytes", "proc.cpu_seconds", "proc.minor_faults"):
        values = series[name]
        assert all(b >= a for a, b in zip(values, values[1:])), name
    grown = series["proc.read_bytes"][-1] - series["proc.read_bytes"][0]
    assert abs(grown - series["truth"][0]) / series["truth"][0] <= 0.02


def test_children_born_and_reaped_between_ticks_are_still_counted(tmp_path: Path) -> None:
    series = watch(tmp_path, linger=0.0)
    grown = series["proc.read_bytes"][-1] - series["proc.read_bytes"][0]
    assert abs(grown - series["truth"][0]) / series["truth"][0] <= 0.02


def test_exit_status_is_known_when_memmap_is_the_parent() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3); exit(3)"])
    c = ProcessCollector(proc.pid)
    c.open()
    try:
        with pytest.raises(SourceEnded, match=f"process {proc.pid} exited with status 3"):
            for _ in range(100):
                c.collect()
                time.sleep(0.05)
        root = c.table()[0]
        assert root["exited"] and root["exit_status"] == 3
    finally:
        c.close()
        proc.wait()


def test_without_stop_when_gone_the_table_marks_the_process_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    c = ProcessCollector.from_options(CollectorOptions(pid=proc.pid, stop_when_gone=False))
    c.open()
    try:
        wait_for(lambda: c.collect()[0] == 0)
        assert c.table()[0]["exited"] and c.ended == f"process {proc.pid} exited with status 0"
        proc.wait()
        assert c.collect()[0] == 0  # goes on after the process is reaped
        assert c.table()[0]["state"] == "exited"
    finally:
        c.close()


def test_an_exited_workers_series_leave_the_prometheus_scrape() -> None:
    from prometheus_client import generate_latest

    from memmap_tui.sampler import Sampler
    from memmap_tui.sinks.prometheus import PrometheusSink

    proc = start(FORKED_WORKERS)
    sink = PrometheusSink()
    collector = ProcessCollector(proc.pid)
    sampler = Sampler([collector], 0.05, [sink])
    sink.states = sampler.states
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        sampler.open()
        sampler.sample()
        worker, name = collector.table()[1]["pid"], collector.table()[1]["name"]
        before = generate_latest(sink.registry).decode()
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: any(r["pid"] == worker and r["exited"] for r in collector.table())
                 if sampler.sample() else False)
        after = generate_latest(sink.registry).decode()
    finally:
        proc.kill()
        proc.wait()
        sampler.close()
    assert f'memmap_process_rss_bytes{{name="{name}",pid="{worker}"}}' in before
    assert f'pid="{worker}"' not in after
    assert f'memmap_process_rss_bytes{{name="{name}",pid="{proc.pid}"}}' in after
    assert "memmap_process_depth" not in before


def test_a_thread_id_is_watched_as_its_process() -> None:
    script = ("import threading, time\nt = threading.Thread(target=time.sleep, args=(30,))\n"
              "t.start()\nprint(t.native_id, flush=True)\nt.join()\n")
    proc = start(script)
    try:
        assert proc.stdout is not None
        tid = int(proc.stdout.readline())
        c = ProcessCollector(tid)
        c.open()
        assert c.pid == proc.pid and c.collect()[0] == 1
        c.close()
    finally:
        proc.kill()
        proc.wait()


LOW_LIMIT = r"""
import os, resource, signal, sys, time
from memmap_tui.collectors.process import ProcessCollector
resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))  # as `ulimit -n 100`
kids = []
for i in range(40):
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
c = ProcessCollector(os.getpid())
c.open()
for _ in range(3):
    values = dict(zip((s.name for s in c.metrics()), c.collect()))
    time.sleep(0.05)
print(values["proc.count"], values["proc.unread_memory_count"], values["proc.unread_io_count"])
print(" / ".join(c.notes()))
for pid in kids[-20:]:                      # half of them exit: those never opened are dropped
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
time.sleep(1.1)
for _ in range(3):
    values = dict(zip((s.name for s in c.metrics()), c.collect()))
    time.sleep(0.05)
print(values["proc.count"], values["proc.unread_memory_count"])
for pid in kids[:20]:
    os.kill(pid, signal.SIGKILL)
"""


def test_processes_that_cannot_be_opened_are_counted_and_said_not_dropped(
        tmp_path: Path) -> None:
    """Under a hard limit of 100 open files, a tree of 41 processes cannot have all its files
    open: those left are still counted (proc.count), marked unread (the sums are partial), and
    the notes say why and what to do; processes of them that exit are forgotten."""
    # run outside the checkout, so that the package imported is the installed one
    out = subprocess.run([sys.executable, "-c", LOW_LIMIT], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env=memmap_env())
    assert out.returncode == 0, out.stderr
    first, notes, last = out.stdout.splitlines()
    count, unread_memory, unread_io = (float(x) for x in first.split())
    assert count == 41 and unread_memory >= 1 and unread_io >= 1
    assert "could not be opened" in notes and "ulimit -n" in notes
    count, unread = (float(x) for x in last.split())
    assert count == 21 and unread <= unread_memory
