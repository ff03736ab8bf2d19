"""Process collector: one process and all its descendants, followed as they come and go.

Sources, per process (see collectors/procfs.py; descriptors kept open, re-read with pread):
- /proc/PID/stat          CPU seconds, major/minor faults, threads, RSS, start time,
                          delayacct_blkio_ticks (field 42: the main thread's I/O wait)
- /proc/PID/io            rchar/wchar: bytes through read()/write() calls (page cache hits too);
                          read_bytes/write_bytes: bytes from/to storage (write_bytes as dirtied,
                          cancelled_write_bytes not taken off, so the counter never goes back);
                          syscr/syscw: read()/write() calls, so bytes per call = rchar / syscr
                          over the interval (many small calls: the small-file signature)
- /proc/PID/task/*/stat   each thread's CPU, once a second (collectors/threads.py): the busiest
                          thread's share of a core tells one pinned loader thread from a tree
                          that spreads its work
- /proc/PID/smaps_rollup  PSS, USS (private pages), anonymous vs file-backed, swap
- /proc/PID/fd            open files (listed once a second)
stat, io and smaps_rollup are parsed by the native field reader (C, or its Python twin).
Columns (`proc.*`) are the tree's totals: memory gauges summed over live processes (RSS counts
shared pages once per process; PSS splits them, so a parent with forked workers is not counted
twice), counters kept here as cumulative totals so derive() makes the rates. cpu_percent is like
top's (100 % = one CPU busy); io_delay_percent is the share of time the processes' main threads
waited for block I/O, averaged over the live processes; uninterruptible_count is how many of the
tree's processes were in state D (waiting in the kernel, mostly for I/O) at the tick.

Honest totals across exits (checked on Linux 6.x): when a parent reaps a child, the kernel folds
the child's final io counters into the parent's /proc/PID/io (and its CPU and faults into
cutime/cstime and cmajflt/cminflt). Each process's counters here include those reaped-children
parts, and when a child vanishes, what was already counted for it is taken off its parent's next
delta: what remains is exactly the child's last moments, which would otherwise be lost, and a
child born and reaped between two ticks is still counted. The totals never go backwards.

smaps_rollup (PSS, USS, anon/file, swap) costs kernel time that grows with the memory mapped,
so its reads share a CPU budget (collectors/smaps_budget.py): new and exec'd processes at once,
then those whose RSS swung, then the stalest; values are carried in between. RSS, CPU, I/O and
faults (from stat and io) are fresh every tick. A sum over processes memmap could not read
(another user's, without ptrace access) leaves them out, and `proc.unread_memory_count` /
`proc.unread_io_count` (role PARTIAL) say how many: 0 means the sums are whole.

GPU memory per process is not read here (NVML gives it per GPU): memmap_tui/tables.py joins the
nvml collector's rows with this collector's pids in the same Reading's tables, so data keeps
flowing one way.

Lifecycle: a recycled PID is told apart by its start time and never followed. When the watched
process exits (or is a zombie), collect() raises SourceEnded with the last values, so `record`
writes its last row and stops; with `stop_when_gone=False` (CollectorOptions; the TUI) it goes on,
`ended` says how the process ended, and the table
marks the process exited, with its exit status when memmap is its parent.
Known gaps: I/O delay needs delay accounting (kernel.task_delayacct=1 on Linux >= 5.14); io and
smaps_rollup of another user's process need ptrace access and are then reported unavailable.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from memmap_tui import roles as R
from memmap_tui.collector import (
    Availability,
    Collector,
    CollectorError,
    CollectorOptions,
    SourceEnded,
)
from memmap_tui.model import MetricSpec, counter, gauge, ratio_gauge
from memmap_tui.units import fmt_exit

from .member import COUNTERS, Member
from .procfs import NO_MEMORY, ProcessGone, ProcFiles, read_text, thread_group
from .proctree import NewProcesses
from .smaps_budget import MemoryBudget
from .threads import THREAD_SECONDS, busiest

log = logging.getLogger("memmap_tui.process")

NAN = math.nan
EXITED_ROW_SECONDS = 10.0
DELAYACCT_HINT = "sysctl -w kernel.task_delayacct=1"
SYSCTL_SECONDS = 1.0  # how often kernel.task_delayacct is looked at


def _specs() -> List[MetricSpec]:
    p, tree = "proc", R.TREE
    return [
        gauge(p, "count", "count", "Live processes in the watched tree.",
              label="processes", roles=(R.PROCESSES, tree)),
        counter(p, "cpu_seconds", "seconds", "CPU time of the tree (100 % = one CPU).",
                column="cpu_percent", scale=100.0, label="tree CPU", pane=R.PROCESS,
                roles=(R.CPU_CORES, tree), notes=(("proc.count", "processes: {}"),), rank=1),
        gauge(p, "rss_bytes", "bytes", "Resident memory summed over the tree's processes.",
              label="tree RSS", pane=R.PROCESS, roles=(R.MEMORY_PEAK, R.MEMORY_GROWTH, tree),
              key="rss", total=R.RAM_TOTAL, notes=(("proc.pss_bytes", "PSS {}"),), rank=2),
        gauge(p, "pss_bytes", "bytes", "Proportional set size: shared pages split, not repeated.",
              label="tree PSS", roles=(R.MEMORY_PEAK, tree), key="pss"),
        counter(p, "read_bytes", "bytes", "Bytes read through read() calls (rchar).",
                column="read_bytes_per_second", label="proc read", pane=R.THROUGHPUT,
                roles=(R.BYTES_READ, tree), rank=40),
        counter(p, "write_bytes", "bytes", "Bytes written through write() calls (wchar).",
                column="write_bytes_per_second", label="proc write", pane=R.THROUGHPUT,
                roles=(R.BYTES_WRITTEN, tree), rank=41),
        counter(p, "disk_read_bytes", "bytes", "Bytes the tree caused to be read from storage.",
                column="disk_read_bytes_per_second", label="proc disk rd", pane=R.THROUGHPUT,
                roles=(R.STORAGE_READ, tree), rank=42),
        counter(p, "disk_write_bytes", "bytes", "Bytes the tree dirtied for storage.",
                column="disk_write_bytes_per_second", label="proc disk wr", pane=R.THROUGHPUT,
                roles=(R.STORAGE_WRITTEN, tree), rank=43),
        counter(p, "major_faults", "count", "Page faults that had to read from storage.",
                column="major_faults_per_second", label="major faults", pane=R.PROCESS,
                roles=(R.MAJOR_FAULTS, tree), rank=3),
        counter(p, "io_delay_seconds", "seconds", "Main threads' time waiting for block I/O.",
                column="io_delay_percent", per="process_seconds", scale=100.0,
                label="proc I/O delay", pane=R.WAITING_PANE, roles=(R.WAITING, tree),
                key="io_delay_percent", rank=15),
        counter(p, "process_seconds", "seconds", "Live process time (io delay denominator).",
                column=None),
        gauge(p, "uss_bytes", "bytes", "Unique set size: pages private to each process.",
              label="tree USS", roles=(tree,)),
        gauge(p, "anon_bytes", "bytes", "Anonymous memory (PSS share where the kernel says).",
              label="tree anon", roles=(tree,)),
        gauge(p, "file_bytes", "bytes", "File-backed and shared memory, e.g. mmapped data sets.",
              label="tree file-backed", roles=(tree,)),
        gauge(p, "swap_bytes", "bytes", "The tree's memory swapped out.",
              label="tree swapped", roles=(tree,)),
        counter(p, "minor_faults", "count", "Page faults served from memory.",
                column="minor_faults_per_second", label="minor faults", roles=(tree,)),
        gauge(p, "threads", "count", "Threads in the tree.", label="threads", roles=(tree,)),
        gauge(p, "open_files", "count", "Open file descriptors in the tree.",
              label="open files", roles=(tree,)),
        gauge(p, "unread_memory_count", "count",
              "Live processes of the tree whose memory map memmap could not read (ptrace "
              "denied): the PSS, USS, anon, file-backed and swap sums leave them out. 0: whole.",
              label="memory unread", roles=(R.PARTIAL, tree)),
        gauge(p, "unread_io_count", "count",
              "Live processes of the tree whose I/O counters memmap could not read (ptrace "
              "denied): the read/write byte rates leave them out. 0: whole.",
              label="I/O unread", roles=(R.PARTIAL, tree)),
        counter(p, "read_calls", "count", "read() calls of the tree (syscr).",
                column="read_calls_per_second", label="read calls", pane=R.PROCESS,
                roles=(R.READ_CALLS, tree), notes=(("proc.read_bytes_per_call", "of {}"),),
                rank=4),
        counter(p, "write_calls", "count", "write() calls of the tree (syscw).",
                column="write_calls_per_second", label="write calls",
                roles=(R.WRITE_CALLS, tree)),
        ratio_gauge(p, "read_bytes_per_call", "bytes",
                    "Bytes per read() call over the interval (rchar / syscr): small calls at a "
                    "high rate are the small-file signature.",
                    ratios=[("proc.read_bytes", "proc.read_calls")], label="bytes per read",
                    roles=(R.READ_CALL_SIZE, tree)),
        ratio_gauge(p, "write_bytes_per_call", "bytes",
                    "Bytes per write() call over the interval (wchar / syscw).",
                    ratios=[("proc.write_bytes", "proc.write_calls")], label="bytes per write",
                    roles=(R.WRITE_CALL_SIZE, tree)),
        gauge(p, "uninterruptible_count", "count",
              "Live processes of the tree in uninterruptible sleep (state D: waiting in the "
              "kernel, mostly for I/O) at the tick.",
              label="in D state", roles=(R.UNINTERRUPTIBLE, tree)),
        gauge(p, "top_thread_cpu_percent", "percent",
              "CPU of the tree's busiest thread over the last second, % of one core (100: a "
              "thread that never left the CPU; one loader thread at its limit).",
              label="busiest thread", pane=R.CPU, roles=(R.THREAD_MAX, tree),
              key="busiest_thread_percent", rank=5),
    ]


def _measured_sum(values: Sequence[float]) -> float:
    """The sum of the values that were measured; NaN when none was."""
    measured = [v for v in values if v == v]
    return float(sum(measured)) if measured else NAN


class ProcessCollector(Collector):
    """The watched process tree (see the module docstring)."""

    name = "process"
    needs_pid = True

    def __init__(self, pid: Optional[int], proc_root: str = "/proc",
                 clock=time.monotonic, reader_class: Any = None,  # type: ignore[no-untyped-def]
                 stop_when_gone: bool = True) -> None:
        self.pid, self.proc_root, self.clock = pid, proc_root, clock
        self.reader_class = reader_class  # the field reader: None = the C one when built
        self.stop_when_gone = stop_when_gone  # False (the TUI): go on, mark the process exited
        self.members: Dict[int, Member] = {}
        self.unavailable: Dict[str, str] = {}   # metric group -> why it is empty
        self.ended: Optional[str] = None
        self._budget = MemoryBudget()
        self._exited: Deque[Tuple[float, Dict[str, Any]]] = deque()
        self._totals = [NAN] * len(COUNTERS)
        self._delay_totals = [NAN, NAN]  # main threads' I/O wait, live process seconds
        self._delay_was_on = False
        self._delay_due = -math.inf
        self._finder: Optional[NewProcesses] = None
        self._delayacct_fd: Optional[int] = None
        self._told: set = set()
        self._now = 0.0
        self._root_recycled = False
        self._threads_at = -math.inf  # when threads were last read
        self._busiest = NAN

    @property
    def smaps_reads(self) -> int:
        """How many smaps_rollup reads so far (PSS freshness, for the bench)."""
        return self._budget.reads

    @classmethod
    def from_options(cls, options: CollectorOptions) -> ProcessCollector:
        return cls(options.pid, options.proc_root, stop_when_gone=options.stop_when_gone)

    def probe(self) -> Availability:
        if self.pid is None:
            return Availability(False, "needs --pid")
        if read_text(os.path.join(self.proc_root, str(self.pid), "stat")) is None:
            return Availability(False, f"no such process: {self.pid}")
        return Availability(True, f"watches process {self.pid} and its descendants")

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return _specs()

    def metrics(self) -> List[MetricSpec]:
        return _specs()

    def notes(self) -> List[str]:
        return list(self.unavailable.values())

    # -- life cycle --------------------------------------------------------------------------
    def open(self) -> None:
        self.close()
        if self.pid is None:
            raise CollectorError("process: needs --pid")
        root = thread_group(self.proc_root, self.pid)
        if root != self.pid:
            log.warning("%d is a thread of process %d: watching the process", self.pid, root)
            self.pid = root
        try:
            files = ProcFiles(self.proc_root, root, self.reader_class)
            start = files.stat()
        except ProcessGone:
            raise CollectorError(f"no such process: {root}") from None
        self.members = {root: Member(root, start.ppid, start.start_ticks, files, 0, False)}
        self._exited.clear()
        self._totals = [NAN] * len(COUNTERS)
        self._delay_totals = [NAN, NAN]
        self._delay_was_on = False
        self._delay_due = -math.inf
        self.ended = None
        self._root_recycled = False
        self._threads_at, self._busiest = -math.inf, NAN
        self._open_delayacct()
        self._finder = NewProcesses(self.proc_root, self.members.__contains__, self._adopt_old)
        self._now = self.clock()
        self._finder.full_scan(self._now)
        self._finder.found = self._adopt_new

    def close(self) -> None:
        for m in self.members.values():
            m.close()
        self.members = {}
        if self._finder is not None:
            self._finder.close()
            self._finder = None
        if self._delayacct_fd is not None:
            os.close(self._delayacct_fd)
            self._delayacct_fd = None

    def _open_delayacct(self) -> None:
        path = os.path.join(self.proc_root, "sys", "kernel", "task_delayacct")
        try:
            self._delayacct_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._delayacct_fd = None  # before Linux 5.14: on unless booted with nodelayacct

    def _delay_accounting(self, now: float) -> bool:
        """Whether delay accounting is on (the sysctl is looked at once a second)."""
        if self._delayacct_fd is None:
            return True
        if now < self._delay_due:
            return self._delay_was_on
        self._delay_due = now + SYSCTL_SECONDS
        try:
            on = os.pread(self._delayacct_fd, 16, 0).strip() != b"0"
        except OSError:
            on = False
        if on:
            self.unavailable.pop("io_delay", None)
        else:
            self._tell("io_delay", f"I/O delay is not measured: delay accounting is off "
                                   f"(enable it with: {DELAYACCT_HINT})")
        return on

    def _tell(self, group: str, message: str, reason: str = "") -> None:
        """Keep why a group of metrics is empty in `unavailable`; log it once per reason."""
        self.unavailable[group] = message
        if (group, reason or message) not in self._told:
            self._told.add((group, reason or message))
            log.warning("process %s: %s", self.pid, message)

    # -- finding processes -------------------------------------------------------------------
    def _adopt(self, pid: int, ppid: int, start: int, born_here: bool) -> None:
        try:
            files = ProcFiles(self.proc_root, pid, self.reader_class)
        except ProcessGone:
            return
        parent = self.members.get(ppid)
        depth = parent.depth + 1 if parent is not None else 1
        self.members[pid] = Member(pid, ppid, start, files, depth, born_here)

    def _adopt_old(self, pid: int, ppid: int, start: int) -> None:
        self._adopt(pid, ppid, start, born_here=False)  # existed before: baseline, no history

    def _adopt_new(self, pid: int, ppid: int, start: int) -> None:
        self._adopt(pid, ppid, start, born_here=True)   # born while watched: count from zero

    # -- sampling ----------------------------------------------------------------------------
    def collect(self) -> Sequence[float]:
        if self._finder is None:
            raise CollectorError("process: collect() before open()")
        now = self.clock()
        self._finder.poll(now)
        alive: List[Member] = []
        gone: List[Member] = []
        for m in self.members.values():
            (alive if m.read(now) else gone).append(m)
        for m in reversed(gone):            # children first: their folds climb to the parent
            parent = self.members.get(m.ppid)
            if parent is not None:
                parent.expect_fold(m)
        self._add([m.account(now) for m in alive], self._totals)
        self._add_delay(alive, now)
        self._budget.refresh(alive, now, now - self._now)
        self._read_threads(alive, now)
        for m in gone:
            self._forget(m, now)
        self._now = now
        self._note_unavailable(alive)
        values = self._values(alive)
        self._check_root(values)
        return values

    @staticmethod
    def _add(deltas: List[List[float]], totals: List[float]) -> None:
        """Add the members' growth to the tree's totals; a total stays NaN until measured."""
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

    def _add_delay(self, alive: List[Member], now: float) -> None:
        on = self._delay_accounting(now)
        if on:
            pairs = [m.account_delay() for m in alive]
            self._add(pairs, self._delay_totals)  # type: ignore[arg-type]
        elif self._delay_was_on:
            for m in alive:
                m.delay = m.delay_percent = NAN  # a fresh baseline when it is turned on again
        self._delay_was_on = on

    def _read_threads(self, alive: List[Member], now: float) -> None:
        """Once a second: the busiest thread's share of a core (collectors/threads.py)."""
        if now - self._threads_at < THREAD_SECONDS:
            return
        dt, self._threads_at = now - self._threads_at, now
        for m in alive:
            m.read_threads(dt)
        self._busiest = busiest([m.threads for m in alive])[0]

    def _forget(self, m: Member, now: float) -> None:
        if m.pid == self.pid:
            self._root_recycled = m.recycled
        m.close()
        del self.members[m.pid]
        m.exited, m.memory = True, NO_MEMORY
        self._exited.append((now, m.row()))

    def _values(self, alive: List[Member]) -> List[float]:
        live = [m for m in alive if not m.zombie]
        cpu, read, write, disk_read, disk_write, major, minor, read_calls, write_calls = (
            self._totals)
        delay, seconds = self._delay_totals
        memories = [m.memory for m in live if m.memory is not None]
        pss, uss, anon, file, swap = ([_measured_sum(c) for c in zip(*memories)] if memories
                                      else (NAN,) * 5)
        files = [m.open_files for m in live if m.open_files is not None]
        rss = threads = 0.0
        for m in live:
            rss += m.stat.rss_bytes  # type: ignore[union-attr]
            threads += m.stat.threads  # type: ignore[union-attr]
        unread_io = sum(1 for m in live if "io" in m.files.unavailable)
        in_d = sum(1 for m in live if m.state_letter() == b"D")
        return [
            float(len(live)), cpu, rss, pss, read, write, disk_read, disk_write, major, delay,
            seconds, uss, anon, file, swap, minor, threads,
            float(sum(files)) if files else NAN,
            float(len(live) - len(memories)), float(unread_io),
            read_calls, write_calls, NAN, NAN, float(in_d), self._busiest,
        ]

    def _note_unavailable(self, alive: List[Member]) -> None:
        if not self.unavailable.keys() - {"io_delay"} and not any(
                m.files.unavailable for m in alive):
            return
        for group in ("io", "smaps_rollup", "fd"):
            denied = [m for m in alive if group in m.files.unavailable and not m.zombie]
            if denied:
                reason = denied[0].files.unavailable[group]
                self._tell(group, f"{group} unreadable for {len(denied)} of {len(alive)} "
                                  f"processes: {reason}", reason)
            else:
                self.unavailable.pop(group, None)

    def _check_root(self, values: List[float]) -> None:
        root = self.members.get(self.pid)  # type: ignore[arg-type]
        if root is not None and not root.zombie:
            return
        if self.ended is None:
            status = self._root_status(root)
            if root is not None:
                root.exit_status = status
            self.ended = f"process {self.pid} {fmt_exit(status)}"
            if self._root_recycled:
                self.ended += f" (PID {self.pid} now names another process)"
        if self.stop_when_gone:
            raise SourceEnded(self.ended, values)

    def _root_status(self, m: Optional[Member]) -> Optional[int]:
        """The exit status of the watched process when memmap is its parent (not reaped)."""
        if m is None or m.pid != self.pid or self.proc_root != "/proc":
            return None
        try:
            info = os.waitid(os.P_PID, m.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except (ChildProcessError, OSError):
            return None
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    # -- the process pane --------------------------------------------------------------------
    def table(self) -> Optional[List[Dict[str, Any]]]:
        """One row per process: the live ones in tree order, then those that exited lately."""
        rows = [m.row() for m in self.members.values()]
        while self._exited and self._now - self._exited[0][0] > EXITED_ROW_SECONDS:
            self._exited.popleft()
        rows += [row for _, row in self._exited]
        return rows
