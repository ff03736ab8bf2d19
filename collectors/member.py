"""One process of the watched tree: its readings, its share of the tree's totals, its table row.

The accounting that keeps the tree's counters honest lives here (see collectors/process.py for
why): each tick a member reports how much its counters grew, less what the kernel folded in from
children that were already counted (`expect_fold`). A fold that was expected but has not shown
yet (the child was reaped between reading the parent and reading the child) is carried one tick,
then dropped, so a fold that went elsewhere (a reparented orphan) cannot eat later growth.
"""

from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .procfs import IO_FIELDS, NO_MEMORY, PAGE_BYTES, Memory, ProcessGone, ProcFiles, Stat
from .threads import ProcessThreads

NAN = math.nan
COUNTERS = ("cpu_seconds", "read_bytes", "write_bytes", "disk_read_bytes", "disk_write_bytes",
            "major_faults", "minor_faults", "read_calls", "write_calls")
N = len(COUNTERS)
RATE_COLUMNS = ("cpu_percent", "read_bytes_per_second", "write_bytes_per_second",
                "disk_read_bytes_per_second", "disk_write_bytes_per_second",
                "major_faults_per_second", "minor_faults_per_second", "read_calls_per_second",
                "write_calls_per_second")
SLOW_REFRESH_SECONDS = 1.0  # open files and the command line
CMDLINE_CHARS = 200
_NO_IO = (NAN,) * IO_FIELDS


def measured_sum(values: Sequence[float]) -> float:
    """The sum of the values that were measured; NaN when none was."""
    measured = [v for v in values if v == v]
    return float(sum(measured)) if measured else NAN


def add_growth(deltas: Sequence[Sequence[float]], totals: List[float]) -> None:
    """Add the members' growth (one list per member, or one for the whole tree) to the tree's
    totals; a total stays NaN until measured."""
    if len(deltas) == 1:  # one process: no sums to make
        for k, grown in enumerate(deltas[0]):
            if grown == grown:
                totals[k] = grown if totals[k] != totals[k] else totals[k] + grown
        return
    for k, column in enumerate(zip(*deltas)):
        grown = sum(column)
        if grown != grown:
            measured = [d for d in column if d == d]
            if not measured:
                continue
            grown = sum(measured)
        totals[k] = grown if totals[k] != totals[k] else totals[k] + grown


class Member:
    """A process in the tree. `born_here`: it appeared while watched, so it counts from zero."""

    __slots__ = ("pid", "ppid", "start_ticks", "files", "depth", "born_here", "name", "cmdline",
                 "state", "_raw_name", "recycled", "exited", "zombie", "exit_status", "stat",
                 "now", "last", "last_time", "deltas", "dt", "delay", "delay_percent",
                 "pending", "carry", "memory", "memory_time", "memory_rss", "memory_cost",
                 "open_files", "slow_due", "threads", "rss_bytes", "cmdline_stale")

    def __init__(self, pid: int, ppid: int, start_ticks: int, files: ProcFiles, depth: int,
                 born_here: bool) -> None:
        self.pid, self.ppid, self.start_ticks, self.files = pid, ppid, start_ticks, files
        self.depth, self.born_here = depth, born_here
        self.name, self.cmdline, self.state = "", "", "?"
        self._raw_name = b""
        self.recycled = self.exited = self.zombie = False
        self.exit_status: Optional[int] = None
        self.stat: Optional[Stat] = None
        self.rss_bytes = 0.0  # of the last tick (the tree reader keeps it fresh, stat or not)
        self.now: List[float] = []
        self.last: Optional[List[float]] = None
        self.last_time = 0.0
        self.deltas: List[float] = [NAN] * N
        self.dt = NAN
        self.delay = NAN
        self.delay_percent = NAN
        self.pending: Optional[List[float]] = None  # folds expected this tick
        self.carry: Optional[List[float]] = None    # folds expected last tick, not seen yet
        self.memory: Optional[Memory] = NO_MEMORY if files.no_memory_map else None
        self.memory_time = -math.inf if self.wants_memory() else math.inf  # stalest first
        self.memory_rss = 0.0   # RSS when memory was last read
        self.memory_cost = 0.0  # seconds that read took
        self.open_files: Optional[int] = None
        self.slow_due = 0.0
        self.cmdline_stale = True  # read when a row is asked for (the TUI), not by `record`
        self.threads = ProcessThreads(files.base, start_ticks)

    # -- reading -----------------------------------------------------------------------------
    def read(self, now: float, values: Optional[List[float]] = None, head: bytes = b"") -> bool:
        """Read this tick's values, or take them (`values`, `head`: this process's row and
        stat head as read by the tree reader, collectors/treeread.py); False when the process
        is gone or its PID was recycled."""
        try:
            st, io = self.files.sample() if values is None else self.files.take(values, head)
        except ProcessGone:
            return False
        if st.start_ticks != self.start_ticks:
            self.recycled = True
            return False
        if io is None:
            io = _NO_IO
        self.stat, self.ppid, self.rss_bytes = st, st.ppid, st.rss_bytes
        self.zombie = st.state in (b"Z", b"X")
        self.now = [st.cpu_seconds, io[0], io[1], io[2], io[3], st.major_faults,
                    st.minor_faults, io[4], io[5]]
        if st.name != self._raw_name:  # new, or exec'd: refresh the command line now
            if self._raw_name and self.memory is not None and self.wants_memory():
                self.memory = None  # exec'd: a new address space, read at once (process.py)
            self._raw_name, self.name = st.name, st.name.decode("utf-8", "replace")
            self.slow_due = 0.0
        if self.zombie:
            self.memory, self.memory_time = NO_MEMORY, math.inf
        self.refresh_slow(now)
        return True

    def refresh_slow(self, now: float) -> None:
        """Once a second: the open files; the command line is due again (row() reads it)."""
        if now >= self.slow_due:
            self.slow_due = now + SLOW_REFRESH_SECONDS
            self.open_files = None if self.zombie else self.files.open_files()
            self.cmdline_stale = True

    def read_threads(self, dt: float, threads: int, own_cpu_seconds: float) -> None:
        """Its threads' CPU over the last `dt` seconds (collectors/threads.py); `threads` and
        `own_cpu_seconds` (utime + stime) from this tick's stat."""
        if self.stat is None or self.zombie:
            self.threads.forget()
        elif threads == 1:
            self.threads.single(self.name, own_cpu_seconds, dt)
        else:
            self.threads.read(dt, own_cpu_seconds)

    def swing(self) -> float:
        """How far RSS moved since memory was last read, as a factor >= 1 (1.5: grown by half
        or shrunk by a third); 1 before the first read."""
        if self.stat is None or self.memory is None or self.memory_time == -math.inf:
            return 1.0
        moved = max(self.rss_bytes, PAGE_BYTES) / max(self.memory_rss, PAGE_BYTES)
        return moved if moved >= 1.0 else 1.0 / moved

    def wants_memory(self) -> bool:
        """Whether smaps_rollup can be read: not a zombie, not denied."""
        return not self.zombie and self.files.has_memory()

    def refresh_memory(self, now: float) -> float:
        """Read smaps_rollup now; returns what it cost in CPU seconds (the kernel walks the
        address space on this thread: CPU time, not wall time, which a busy machine inflates)."""
        started = time.thread_time()
        memory = self.files.memory()
        self.memory_time = now if self.wants_memory() else math.inf
        self.memory_rss = self.rss_bytes
        self.memory_cost = time.thread_time() - started
        if memory is not None or "smaps_rollup" in self.files.unavailable:
            self.memory = memory
        return self.memory_cost

    def state_letter(self) -> bytes:
        """The state letter of the last stat read (b"R", b"S", b"D", ...); b"" before one."""
        return self.stat.state if self.stat is not None else b""

    def close(self) -> None:
        self.files.close()
        self.threads.close()

    # -- accounting --------------------------------------------------------------------------
    def expect_fold(self, child: Member) -> None:
        """`child` vanished: the kernel folds its final counters into ours; what was already
        counted for it (and for its own vanished children) must not count again."""
        if child.last is None:
            return
        pending = self.pending if self.pending is not None else [0.0] * N
        for k in range(N):
            counted = child.last[k]
            if counted == counted:
                pending[k] += (counted + (child.pending[k] if child.pending else 0.0)
                               + (child.carry[k] if child.carry else 0.0))
        self.pending = pending

    def account(self, now: float) -> List[float]:
        """Growth of each counter since the last tick, fold-corrected; NaN where unknown."""
        new = self.now
        if self.last is None:
            self.last = [0.0] * N if self.born_here else list(new)
            self.last_time = now
        last = self.last
        deltas = [a - b for a, b in zip(new, last)]
        if self.pending is not None or self.carry is not None or not min(deltas) >= 0.0:
            self._correct(deltas)
        if new[1] != new[1]:  # io unreadable now: keep what was counted, for expect_fold
            new = [n if n == n else b for n, b in zip(new, last)]
        self.last, self.deltas = new, deltas
        self.dt, self.last_time = now - self.last_time, now
        return deltas

    def settle(self, now: float, before: Optional[List[float]], before_delay: float, dt: float,
               delay_on: bool) -> None:
        """After read() of values the tree reader already counted (collectors/treeread.py):
        take them as counted, as account() and account_delay() would have left them; rates
        over the `dt` seconds since `before` (its counters then, `before_delay` its I/O wait;
        None: the rates stay as they were). No folds may be pending (the tree reader's
        steady ticks have none)."""
        new = self.now
        if new[1] != new[1] and self.last is not None:  # io unreadable: keep what was counted
            new = [n if n == n else b for n, b in zip(new, self.last)]
        if before is not None:
            self.deltas = [a - b for a, b in zip(self.now, before)]
            self.dt = dt
        self.last, self.last_time = new, now
        if not delay_on or self.stat is None:
            return
        self.delay = value = self.stat.io_delay_seconds
        if before is not None:
            grown = max(value - before_delay, 0.0)
            self.delay_percent = grown / dt * 100.0 if dt > 0 and grown == grown else NAN

    def _correct(self, deltas: List[float]) -> None:
        """The slow path: take expected folds off; never go negative (NaN stays NaN: a counter
        that becomes readable later starts from its value then)."""
        pending = self.pending or [0.0] * N
        carry = self.carry or [0.0] * N
        left = [0.0] * N
        for k in range(N):
            delta = deltas[k]
            if delta != delta:
                continue
            expected = pending[k] + carry[k]
            taken = min(delta, expected) if expected > 0.0 else 0.0
            left[k] = min(expected - taken, pending[k])
            deltas[k] = max(delta - taken, 0.0)
        self.pending = None
        self.carry = left if any(left) else None

    def account_delay(self) -> Tuple[float, float]:
        """(growth of the main thread's I/O wait, seconds alive) since the last tick, with
        delay accounting on."""
        value = self.stat.io_delay_seconds if self.stat is not None else NAN
        before, self.delay = self.delay, value
        self.delay_percent = NAN
        if value != value:
            return NAN, NAN
        if before != before:  # the baseline: nothing grown yet
            return 0.0, 0.0
        grown = max(value - before, 0.0)
        if self.zombie or not self.dt > 0:
            return grown, 0.0
        self.delay_percent = grown / self.dt * 100.0
        return grown, self.dt

    # -- the table row -----------------------------------------------------------------------
    def row(self) -> Dict[str, Any]:
        """This process for the process pane (rates per second over the last tick)."""
        st = self.stat
        memory = self.memory or _NO_MEMORY_ROW
        gone = self.exited or self.zombie or st is None
        if self.cmdline_stale and not self.exited:
            self.cmdline = self.files.cmdline(self.name)[:CMDLINE_CHARS]
            self.cmdline_stale = False
        row: Dict[str, Any] = {
            "pid": self.pid, "ppid": self.ppid, "depth": self.depth, "name": self.name,
            "cmdline": self.cmdline or f"[{self.name}]",
            "state": "exited" if self.exited else st.state.decode() if st else "?",
            "rss_bytes": 0.0 if gone else st.rss_bytes,  # type: ignore[union-attr]
            "pss_bytes": memory[0], "uss_bytes": memory[1], "anon_bytes": memory[2],
            "file_bytes": memory[3], "swap_bytes": memory[4],
            "io_delay_percent": self.delay_percent,
            "threads": 0 if gone else st.threads,  # type: ignore[union-attr]
            "open_files": None if gone else self.open_files,
            "gpu_memory_bytes": NAN,
            "exited": self.exited or self.zombie,
            "exit_status": self.exit_status if self.exited or self.zombie else None,
            "unavailable": dict(self.files.unavailable) if self.files.unavailable else {},
        }
        dt = self.dt
        if gone:
            row.update(zip(RATE_COLUMNS, _ZERO_RATES))
        elif dt > 0:
            row.update(zip(RATE_COLUMNS, [d / dt for d in self.deltas]))
            row["cpu_percent"] *= 100.0
        else:
            row.update(zip(RATE_COLUMNS, _NAN_RATES))
        return row


_NO_MEMORY_ROW = (NAN,) * 5
_ZERO_RATES = (0.0,) * N
_NAN_RATES = (NAN,) * N
