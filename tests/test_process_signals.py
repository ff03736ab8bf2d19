"""The tree's signals that tell its bottlenecks apart, on real processes and the real /proc:
read calls and bytes per call (the small-file signature), the busiest thread (one pinned loader
thread against work spread over threads), and processes in uninterruptible sleep (D state)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
from conftest import memmap_cmd, memmap_env
from memmap_tui.collectors.process import ProcessCollector
from memmap_tui.collectors.threads import (
    ProcessThreads,
    busiest,
    busiest_process,
    thread_ticks,
)

CALLS = 3000

# Reads CALLS chunks of 4 KiB once `go` exists, then creates `done` (no read call) and sleeps.
CALLER = r"""
import os, sys, time
go, data, done = sys.argv[1:4]
while not os.path.exists(go):
    time.sleep(0.01)
fd = os.open(data, os.O_RDONLY)
for i in range(%d):
    os.pread(fd, 4096, (i %% 256) * 4096)
os.close(os.open(done, os.O_CREAT | os.O_WRONLY))
time.sleep(30)
""" % CALLS

# One thread spins, three sleep: the process uses one core's worth, all of it in one thread.
ONE_BUSY = r"""
import threading, time
for _ in range(3):
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
end = time.time() + 30
while time.time() < end:
    sum(range(1000))
"""

# Four threads of pure Python: the GIL lets one run at a time.
GIL_BOUND = r"""
import threading, time
def spin():
    end = time.time() + 30
    while time.time() < end:
        sum(range(1000))
for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
time.sleep(30)
"""

# Two processes, each spinning in its main thread.
TWO_BUSY = r"""
import os, time
os.fork()
end = time.time() + 30
while time.time() < end:
    sum(range(1000))
"""

VFORK = r"""
#include <unistd.h>
int main(void) {
    pid_t child = vfork();      /* the parent waits, in state D, until the child execs or exits */
    if (child == 0) {
        sleep(4);
        _exit(0);
    }
    return 0;
}
"""


def values(collector: ProcessCollector) -> Dict[str, float]:
    return dict(zip((s.name for s in collector.metrics()), collector.collect()))


def watch(pid: int, seconds: float, interval: float = 0.1) -> List[Dict[str, float]]:
    collector = ProcessCollector(pid)
    collector.open()
    rows = []
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            row = values(collector)
            row["time"] = time.monotonic()
            rows.append(row)
            time.sleep(interval)
    finally:
        collector.close()
    return rows


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def test_read_calls_count_every_read_call_of_the_tree(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"\1" * 4096 * 256)
    child = subprocess.Popen([sys.executable, "-c", CALLER, str(tmp_path / "go"),
                              str(tmp_path / "data"), str(tmp_path / "done")])
    collector = ProcessCollector(child.pid)
    try:
        time.sleep(0.5)  # past the interpreter's start-up reads
        collector.open()
        before = values(collector)["proc.read_calls"]
        (tmp_path / "go").touch()
        wait_for(tmp_path / "done")
        after = values(collector)
    finally:
        collector.close()
        child.kill()
        child.wait()
    assert after["proc.read_calls"] - before == CALLS
    assert after["proc.write_calls"] >= 0


def test_bytes_per_call_is_the_size_of_the_reads(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"\1" * 4096 * 256)
    child = subprocess.Popen([sys.executable, "-c", CALLER.replace("%d" % CALLS, "10**9"),
                              str(tmp_path / "go"), str(tmp_path / "data"),
                              str(tmp_path / "done")])
    (tmp_path / "go").touch()
    out = tmp_path / "r.csv"
    try:
        time.sleep(0.5)
        subprocess.run([*memmap_cmd(), "record", "-o", str(out), "--interval", "0.2",
                        "--pid", str(child.pid), "--duration", "2"], env=memmap_env(),
                       check=True, capture_output=True, timeout=60)
    finally:
        child.kill()
        child.wait()
    rows = list(csv.DictReader(out.open()))[1:]
    sizes = [float(r["proc.read_bytes_per_call"]) for r in rows if r["proc.read_bytes_per_call"]]
    calls = [float(r["proc.read_calls_per_second"]) for r in rows
             if r["proc.read_calls_per_second"]]
    assert sizes and all(abs(s - 4096) < 1 for s in sizes), sizes
    assert calls and min(calls) > 1000, calls


def watch_program(code: str, seconds: float, settle: float = 0.3) -> List[Dict[str, float]]:
    """Run a Python program, watch it once a second (threads and CPU over the same second),
    then end it and its children."""
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(settle)
        return watch(child.pid, seconds, interval=1.0)
    finally:
        subprocess.run(["pkill", "-P", str(child.pid)], check=False)
        child.kill()
        child.wait()


def test_one_busy_thread_among_sleepers_is_all_of_the_trees_cpu() -> None:
    """However busy the machine (the thread gets what the scheduler gives it), the busiest
    thread's share is the tree's CPU: the three other threads sleep."""
    rows = watch_program(ONE_BUSY, 4.5)
    last = rows[-1]
    tree, busiest = cpu_percent(rows[-2], last), last["proc.top_thread_cpu_percent"]
    assert last["proc.threads"] == 4
    assert busiest > 30 and abs(busiest - tree) < 10, (tree, busiest)
    assert rows[0]["proc.top_thread_cpu_percent"] != rows[0]["proc.top_thread_cpu_percent"]


def test_two_busy_processes_are_two_threads_worth_but_their_busiest_is_one() -> None:
    """Each of two spinning processes gets a share (however busy the machine): the busiest
    thread is the larger share, the tree's CPU is both."""
    rows = watch_program(TWO_BUSY, 4.5, settle=0.5)
    last = rows[-1]
    tree, busiest = cpu_percent(rows[-2], last), last["proc.top_thread_cpu_percent"]
    assert last["proc.count"] == 2
    assert tree / 2 - 5 <= busiest <= tree + 5, (tree, busiest)
    assert tree - busiest > 20, (tree, busiest)  # the other process's thread worked too


def test_four_threads_under_the_gil_are_one_process_at_one_core_over_four_busy_threads() -> None:
    """No thread is pinned, but the process's threads together hold about one core (what the
    scheduler gives it on a busy machine), and all four count as busy."""
    rows = watch_program(GIL_BOUND, 4.5)
    last = rows[-1]
    tree = cpu_percent(rows[-2], last)
    process, busy = last["proc.top_process_cpu_percent"], last["proc.top_process_busy_threads"]
    thread = last["proc.top_thread_cpu_percent"]
    assert abs(process - tree) < 10, (process, tree)
    assert process <= 110, process  # never two cores' worth: the GIL
    assert busy >= 3, busy          # each thread gets its turns (10 % of a core or more)
    assert thread < process - 20, (thread, process)


def test_one_busy_thread_is_a_process_with_one_busy_thread() -> None:
    rows = watch_program(ONE_BUSY, 3.5)
    last = rows[-1]
    assert last["proc.top_process_busy_threads"] == 1  # three sleepers are not busy
    assert abs(last["proc.top_process_cpu_percent"] - last["proc.top_thread_cpu_percent"]) < 3
    first = rows[0]["proc.top_process_cpu_percent"]
    assert first != first  # no figure before two readings a second apart


def cpu_percent(before: Dict[str, float], after: Dict[str, float]) -> float:
    """The tree's CPU between two readings, % of one core."""
    seconds = after["time"] - before["time"]
    return (after["proc.cpu_seconds"] - before["proc.cpu_seconds"]) / seconds * 100.0


def test_a_sleeper_has_no_busy_thread() -> None:
    child = subprocess.Popen(["sleep", "10"])
    try:
        rows = watch(child.pid, 2.5)
    finally:
        child.kill()
        child.wait()
    assert rows[-1]["proc.top_thread_cpu_percent"] < 5


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the vfork program")
def test_a_vfork_parent_waiting_in_the_kernel_is_counted_in_d_state(tmp_path: Path) -> None:
    (tmp_path / "vfork.c").write_text(VFORK)
    subprocess.run(["gcc", "-o", str(tmp_path / "vfork"), str(tmp_path / "vfork.c")],
                   check=True)
    parent = subprocess.Popen([str(tmp_path / "vfork")])
    try:
        time.sleep(0.5)
        rows = watch(parent.pid, 1.0)
    finally:
        parent.kill()
        parent.wait()
    assert max(r["proc.uninterruptible_count"] for r in rows) == 1  # the parent, not the child
    assert rows[-1]["proc.count"] == 2


def test_a_task_stat_line_gives_the_thread_name_and_its_ticks() -> None:
    line = b"4242 (data (loader) 1) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 99 1 1\n"
    assert thread_ticks(line) == ("data (loader) 1", 300.0, 99.0)
    assert thread_ticks(b"4242 (short) R 1 2") is None
    assert thread_ticks(b"no parenthesis") is None


def test_threads_of_a_process_that_vanished_read_as_unknown(tmp_path: Path) -> None:
    threads = ProcessThreads(str(tmp_path / "gone"))
    threads.read(1.0)
    assert threads.busiest != threads.busiest
    threads.close()


def test_a_process_share_counts_threads_seen_for_the_first_time(tmp_path: Path) -> None:
    """A thread that started within the second has no share of its own yet; the process's
    share comes from its own utime + stime, which counts it (task stat lines as proc(5))."""
    base = tmp_path / "4242"

    def task(tid: int, ticks: int) -> None:
        (base / "task" / str(tid)).mkdir(parents=True, exist_ok=True)
        line = f"{tid} (loader) R 1 2 3 4 5 6 7 8 9 10 {ticks} 0 0 0 20 0 2 0 99 1 1\n"
        (base / "task" / str(tid) / "stat").write_text(line)

    hz = os.sysconf("SC_CLK_TCK")
    task(4242, 0)
    threads = ProcessThreads(str(base))
    threads.read(1.0, 0.0)
    task(4242, hz // 2)   # half a core over the second
    task(4243, hz // 2)   # a new thread: half a core too, but no baseline yet
    threads.read(1.0, 1.0)  # the process's own utime + stime: one second over the second
    assert threads.busiest == pytest.approx(50.0)
    assert threads.busy == 1.0  # only the thread with a baseline is known to be busy
    assert threads.total == pytest.approx(100.0)
    threads.close()


def _task(base: Path, tid: int, ticks: int, start: int) -> None:
    """A task stat line as proc(5) lays it out: utime field 14, starttime field 22."""
    (base / "task" / str(tid)).mkdir(parents=True, exist_ok=True)
    line = f"{tid} (tool) R 1 2 3 4 5 6 7 8 9 10 {ticks} 0 0 0 20 0 1 0 {start} 1 1\n"
    (base / "task" / str(tid) / "stat").write_text(line)


def test_a_thread_that_began_within_the_second_counts_from_its_start(tmp_path: Path) -> None:
    """A short tool in a shell loop is new at every reading: its share is its CPU time over its
    life so far when it began since the last reading, not unknown for its first second."""
    hz = os.sysconf("SC_CLK_TCK")
    boot = 1000.0  # seconds since boot, now
    base = tmp_path / "4242"
    _task(base, 4242, 0, int((boot - 30) * hz))    # the shell: began long ago, idle
    _task(base, 4250, hz // 2, int((boot - 0.5) * hz))  # began 0.5 s ago, ran all of it
    _task(base, 4251, 1, int((boot - 0.1) * hz))  # 100 ms old: too short to tell
    threads = ProcessThreads(str(base), start_ticks=(boot - 30) * hz, boot_clock=lambda: boot)
    threads.read(1.0, 0.5)
    assert threads.busiest == pytest.approx(100.0, abs=5)
    assert threads.busy == 1.0  # the shell has only a baseline, the 100 ms thread no share
    assert threads.total != threads.total  # the process began long before: a baseline only
    # the 100 ms thread may be the busiest: the tree's figures are unknown for this reading
    assert threads.young
    assert busiest([threads])[0] != busiest([threads])[0]
    assert busiest_process([threads])[0] != busiest_process([threads])[0]
    threads.close()


def test_without_a_young_thread_the_trees_busiest_is_the_largest_share(tmp_path: Path) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    boot = 1000.0
    base = tmp_path / "4242"
    _task(base, 4242, 0, int((boot - 30) * hz))
    _task(base, 4250, hz // 4, int((boot - 0.5) * hz))  # half busy over its 0.5 s
    threads = ProcessThreads(str(base), start_ticks=(boot - 30) * hz, boot_clock=lambda: boot)
    threads.read(1.0, 0.25)
    assert not threads.young
    assert busiest([threads])[0] == pytest.approx(50.0, abs=3)


def test_a_thread_seen_first_that_began_long_ago_has_only_a_baseline(tmp_path: Path) -> None:
    """Attaching to a process that has run for an hour: its threads' lifetime averages are not
    this second's shares."""
    hz = os.sysconf("SC_CLK_TCK")
    base = tmp_path / "4242"
    _task(base, 4242, 3600 * hz, int(10.0 * hz))
    threads = ProcessThreads(str(base), start_ticks=10.0 * hz, boot_clock=lambda: 3610.0)
    threads.read(1.0, 3600.0)
    assert threads.busiest != threads.busiest and threads.total != threads.total


def test_a_one_thread_process_that_began_within_the_second_counts_from_its_start() -> None:
    hz = os.sysconf("SC_CLK_TCK")
    threads = ProcessThreads("/nonexistent", start_ticks=(500.0 - 0.8) * hz,
                             boot_clock=lambda: 500.0)
    threads.single("sha256sum", 0.4, 1.0)  # 0.4 s of CPU over its 0.8 s of life
    assert threads.busiest == pytest.approx(50.0, abs=3)
    assert threads.total == pytest.approx(50.0, abs=3)
    assert threads.busiest_name == "sha256sum"


def test_a_loop_of_short_busy_tools_keeps_its_busiest_thread_at_a_core(tmp_path: Path) -> None:
    """A shell loop starting a busy single-threaded tool every 1.3 s (a real process each
    time): the busiest thread reads near a full core for the whole run, not idle for each
    tool's first second."""
    loop = "for i in 1 2 3 4 5; do timeout 1.3 sh -c 'while :; do :; done'; done"
    proc = subprocess.Popen(["sh", "-c", loop])
    try:
        rows = watch(proc.pid, 5.5)
    finally:
        proc.kill()
        proc.wait()
    shares = [r["proc.top_thread_cpu_percent"] for r in rows[8:]]  # after the first second
    shares = [s for s in shares if s == s]
    assert shares and sum(shares) / len(shares) > 85, shares
    # a reading in a tool's first 0.2 s gives no figure (NaN, left out above), never a guess
    assert sum(1 for s in shares if s > 80) >= 0.85 * len(shares), shares
    assert max(shares) <= 102.0  # one core, give or take a 10 ms tick over the second
