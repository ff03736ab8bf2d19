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
then those whose RSS swung, then the stalest (in a still tree, whose RSS and faults do not move,
only every STILL_MAX_AGE); values are carried in between. RSS, CPU, I/O and
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

import functools
import logging
import math
import os
import time
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from memmap_tui.collector import (
    Availability,
    BatchDrift,
    BatchPart,
    Collector,
    CollectorError,
    CollectorOptions,
    SourceEnded,
)
from memmap_tui.fieldread import AFTER_PAREN, free_descriptors
from memmap_tui.model import MetricSpec
from memmap_tui.units import fmt_exit

from .delayacct import DELAYACCT_HINT, DelayAccounting
from .member import COUNTERS, Member, add_growth, measured_sum
from .process_metrics import process_specs
from .procfs import (
    NO_MEMORY,
    NoDescriptors,
    ProcessGone,
    ProcFiles,
    exit_status,
    read_text,
    stat_ppid_start,
    thread_group,
)
from .proctree import NewProcesses
from .smaps_budget import MemoryBudget
from .threads import THREAD_SECONDS, busiest, busiest_process
from .treeread import TreeRead, TreeTicks

log = logging.getLogger("memmap_tui.process")

NAN = math.nan
EXITED_ROW_SECONDS = 10.0
UNOPENED_RETRY_SECONDS = 1.0  # processes that could not be opened are tried again this often
FD_RESERVE = 8  # descriptors kept free for finding processes, listing fds, reading threads
FDS_PER_PROCESS = 3  # stat, io, smaps_rollup (the tree's one read gives way when short)
LAST_PID_TOKEN = 4  # /proc/loadavg: "0.20 0.18 0.12 1/80 11206": the last PID handed out
# live processes, RSS bytes, threads, in D state, and their page faults as /proc reads them
# (minor and major, reaped children's included; not the tree's fold-corrected totals)
Tally = Tuple[int, float, float, int, float]
DELAY_OFF = (f"I/O delay is not measured: delay accounting is off (enable it with: "
             f"{DELAYACCT_HINT})")


class ProcessCollector(Collector):
    """The watched process tree (see the module docstring)."""

    name = "process"
    needs_pid = True

    def __init__(self, pid: Optional[int], proc_root: str = "/proc",
                 clock=time.monotonic, reader_class: Any = None,  # type: ignore[no-untyped-def]
                 stop_when_gone: bool = True, tree_reads: bool = True,
                 launched: bool = False) -> None:
        self.pid, self.proc_root, self.clock = pid, proc_root, clock
        self.launched = launched  # memmap started it: the whole tree counts from zero
        self.tree_reads = tree_reads  # False: every process reads itself (for comparison)
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
        self._delayacct = DelayAccounting(proc_root)
        self._finder: Optional[NewProcesses] = None
        self._told: set = set()
        # processes of the tree whose files could not be opened (memmap out of descriptors):
        # pid -> (ppid, start ticks, born while watched); adopted once descriptors free up
        self._unopened: Dict[int, Tuple[int, int, bool]] = {}
        self._unopened_due = 0.0
        self._fd_tick = -1.0  # the tick of _descriptors_left()'s count
        self._fds_free: Optional[int] = None
        self._now = self._opened = 0.0
        self._root_recycled = False
        self._threads_at = -math.inf  # when threads were last read
        self._busiest = NAN
        self._top_process: Tuple[float, float] = (NAN, NAN)
        self._ticks = TreeTicks(reader_class)  # one read for the tree (collectors/treeread.py)
        self._in_d = 0
        self._sums: Optional[Tuple[float, ...]] = None  # _member_sums(), while it holds
        self._sums_key = -1
        self._memory_key: Optional[Tuple[float, ...]] = None  # _moved()'s tally, the tick before
        self._part: Optional[BatchPart] = None  # batch_part()'s, while its tree and names hold

    @property
    def smaps_reads(self) -> int:
        """How many smaps_rollup reads so far (PSS freshness, for the bench)."""
        return self._budget.reads

    @classmethod
    def from_options(cls, options: CollectorOptions) -> ProcessCollector:
        return cls(options.pid, options.proc_root, stop_when_gone=options.stop_when_gone,
                   launched=options.launched)

    def probe(self) -> Availability:
        if self.pid is None:
            return Availability(False, "needs --pid")
        if read_text(os.path.join(self.proc_root, str(self.pid), "stat")) is None:
            return Availability(False, f"no such process: {self.pid}")
        return Availability(True, f"watches process {self.pid} and its descendants")

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return process_specs()

    def metrics(self) -> List[MetricSpec]:
        return process_specs()

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
        except NoDescriptors:
            raise CollectorError(f"process {root}: cannot open its files: memmap has no file "
                                 f"descriptors left (raise the limit: ulimit -n)") from None
        self._unopened.clear()
        self.members = {root: Member(root, start.ppid, start.start_ticks, files, 0,
                                     self.launched)}
        self._exited.clear()
        self._totals = [NAN] * len(COUNTERS)
        self._delay_totals = [NAN, NAN]
        self._delay_was_on = False
        self.ended = None
        self._root_recycled = False
        self._threads_at, self._busiest = -math.inf, NAN
        self._top_process = (NAN, NAN)
        self._memory_key = None
        self._delayacct.open()
        self._finder = NewProcesses(self.proc_root, self.members.__contains__,
                                    self._adopt_new if self.launched else self._adopt_old)
        self._now = self._opened = self.clock()
        self._finder.full_scan(self._now)
        self._finder.found = self._adopt_new

    def close(self) -> None:
        self._ticks.close()
        for m in self.members.values():
            m.close()
        self.members = {}
        if self._finder is not None:
            self._finder.close()
            self._finder = None
        self._delayacct.close()

    def _delay_accounting(self, now: float) -> bool:
        """Whether delay accounting is on (collectors/delayacct.py); why not, when it is off."""
        on = self._delayacct.on(now)
        if on:
            self.unavailable.pop("io_delay", None)
        elif "io_delay" not in self.unavailable:  # said once, not formatted every tick
            self._tell("io_delay", DELAY_OFF)
        return on

    def _tell(self, group: str, message: str, reason: str = "") -> None:
        """Keep why a group of metrics is empty in `unavailable`; log it once per reason."""
        self.unavailable[group] = message
        if (group, reason or message) not in self._told:
            self._told.add((group, reason or message))
            log.warning("process %s: %s", self.pid, message)

    # -- finding processes -------------------------------------------------------------------
    def _adopt(self, pid: int, ppid: int, start: int, born_here: bool) -> None:
        if not self._descriptors_left():
            self._unopened[pid] = (ppid, start, born_here)  # there, but cannot be read now
            return
        try:
            files = ProcFiles(self.proc_root, pid, self.reader_class)
        except ProcessGone:
            return
        except NoDescriptors:
            self._unopened[pid] = (ppid, start, born_here)  # there, but cannot be read now
            return
        self._unopened.pop(pid, None)
        parent = self.members.get(ppid)
        depth = parent.depth + 1 if parent is not None else 1
        self.members[pid] = Member(pid, ppid, start, files, depth, born_here)
        self._ticks.changed = True

    def _descriptors_left(self) -> bool:
        """Whether a process may be opened and still FD_RESERVE descriptors stay free (to find
        new processes, list open files and read threads). Counted once a tick, then estimated:
        a process takes up to FDS_PER_PROCESS."""
        if self._fd_tick != self._now or self._fds_free is None:
            self._fd_tick, self._fds_free = self._now, free_descriptors()
        if self._fds_free is None:
            return True  # not countable here: try, and NoDescriptors says when it fails
        self._fds_free -= FDS_PER_PROCESS
        return self._fds_free >= FD_RESERVE

    def _retry_unopened(self, now: float) -> None:
        """Once a second: adopt the processes that could not be opened, if descriptors freed
        up; forget those that exited (or whose PID now names another process)."""
        if now < self._unopened_due:
            return
        self._unopened_due = now + UNOPENED_RETRY_SECONDS
        for pid, (ppid, start, born_here) in list(self._unopened.items()):
            found = stat_ppid_start(self.proc_root, pid)
            if found is None:  # unreadable: exited, or still no descriptor to read it with
                if not os.path.exists(os.path.join(self.proc_root, str(pid))):
                    del self._unopened[pid]
            elif found[1] != start:
                del self._unopened[pid]  # exited: its PID names another process now
            else:
                self._adopt(pid, ppid, start, born_here)
        if not self._unopened:
            self.unavailable.pop("open", None)
            return
        self._tell("open", f"{len(self._unopened)} processes of the tree could not be opened: "
                           f"memmap has no file descriptors left (raise the limit: ulimit -n); "
                           f"their CPU, memory and I/O are left out until they can be",
                   "no descriptors")

    def _adopt_old(self, pid: int, ppid: int, start: int) -> None:
        self._adopt(pid, ppid, start, born_here=False)  # existed before: baseline, no history

    def _adopt_new(self, pid: int, ppid: int, start: int) -> None:
        self._adopt(pid, ppid, start, born_here=True)   # born while watched: count from zero

    # -- sampling ----------------------------------------------------------------------------
    def collect(self) -> Sequence[float]:
        if self._finder is None:
            raise CollectorError("process: collect() before open()")
        now = self.clock()
        ticks = self._ticks
        ticks.start()
        self._finder.poll(now)
        if self._unopened:
            self._retry_unopened(now)
        tree = ticks.tree_for_tick(self.members) if self.tree_reads else None
        return self._count(now, tree, tree.read(now) if tree is not None else False)

    def batch_part(self, now: float) -> Optional[BatchPart]:
        """The coming ticks in a batch, while the tree holds still (the last tick was counted
        from its one read): its stat and io files and /proc/loadavg, whose last PID must not
        move (else a process may have been born: the tick is ours, to look), and each
        process's name (an exec or an exit ends the batch too). Until the busiest thread is
        due again (the last tick's replay reads the threads, a millisecond or two after that
        tick's read), or the finder's full scan (the next tick is then live). A replayed tick
        counts as collect() would, from the batch's read; the open files (once a second per
        process) are counted when the batch is replayed, within half a second of the tick they
        are stamped with."""
        finder, tree = self._finder, self._ticks.batchable()
        if finder is None or tree is None or self.ended is not None or self._unopened or \
                now >= finder.next_full:
            return None
        last_pid = finder.batch_hold()
        if last_pid is None:
            return None
        key = ("process", id(self), self._ticks.built)
        cached = self._part
        if cached is None or cached.key != key or cached.names is None or any(
                name is not None and head[:-1] != name
                for head, name in zip(tree.heads, cached.names)):
            files = list(tree.files)
            files.append((os.path.join(self.proc_root, "loadavg"), AFTER_PAREN))
            cached = self._part = BatchPart(
                key, files, list(tree.rules) + [(len(tree.files), "", LAST_PID_TOKEN, tree.width,
                                                 1.0)],
                tree.width + 1, functools.partial(self._replay, tree),
                names=[h[:-1] if h else None for h in tree.heads] + [None])
        cached.hold = [(tree.width, float(last_pid))]
        cached.until = min(self._threads_at + THREAD_SECONDS, finder.next_full)
        return cached

    def _replay(self, tree: TreeRead, now: float, values: Sequence[float],
                states: bytes) -> Sequence[float]:
        """One tick of a batch (see batch_part): as collect(), from the batch's read."""
        if self._ticks.tree is not tree:
            raise BatchDrift("process: the tree's reader changed during a batch")
        self._ticks.start()
        tree.take(now, values[:tree.width], states)
        return self._count(now, tree, True)

    def _count(self, now: float, tree: Optional[TreeRead], read: bool) -> List[float]:
        """Count the tick read at `now` (from the tree's read, when `read`)."""
        ticks = self._ticks
        on = self._delay_accounting(now)
        if tree is not None and read and ticks.steady(tree, on == self._delay_was_on):
            alive, tally = self._tree_tick(tree, on)
        else:
            ticks.before_member_tick(tree if read else None, self._delay_was_on)
            alive, tally = self._member_tick(tree if read else None, now, on)
            ticks.after_member_tick(alive)
        self._budget.refresh(alive, now, now - self._now, self._moved(tally))
        self._read_threads(alive, now)
        self._now = now
        values = self._values(alive, tally)
        self._check_root(values)
        return values

    @property
    def tree_ticks(self) -> int:
        """Ticks counted from the tree's one read alone (collectors/treeread.py)."""
        return self._ticks.counted

    def _tree_tick(self, tree: TreeRead, on: bool) -> Tuple[List[Member], Tally]:
        """Count the tick from the tree's read: sums of slices, no member touched but for its
        RSS and its once-a-second open files."""
        add_growth([tree.growth()], self._totals)
        if on:
            add_growth([list(tree.delay_growth())], self._delay_totals)
        now = tree.time
        for m in tree.members:
            if now >= m.slow_due:
                m.refresh_slow(now)
                self._sums = None
        if tree.heads != tree.last_heads:
            self._in_d = sum(1 for state in tree.states() if state == b"D")
        self._ticks.counted_alone()
        rss, threads = tree.rss_and_threads()
        return tree.members, (tree.n, rss, threads, self._in_d, tree.faults())

    def _member_tick(self, tree: Optional[TreeRead], now: float,
                     on: bool) -> Tuple[List[Member], Tally]:
        """Each member reads (or takes its row of the tree's read) and accounts itself, folds
        of vanished children included."""
        index = tree.index if tree is not None else {}
        self._sums = None
        alive: List[Member] = []
        gone: List[Member] = []
        for m in self.members.values():
            i = index.get(m)
            fine = m.read(now) if tree is None or i is None else m.read(now, *tree.member_row(i))
            (alive if fine else gone).append(m)
        for m in reversed(gone):            # children first: their folds climb to the parent
            parent = self.members.get(m.ppid)
            if parent is not None:
                parent.expect_fold(m)
        add_growth([m.account(now) for m in alive], self._totals)
        self._add_delay(alive, on)
        for m in gone:
            self._forget(m, now)
        live = [m for m in alive if not m.zombie]
        self._in_d = sum(1 for m in live if m.state_letter() == b"D")
        threads = sum(m.stat.threads for m in live if m.stat is not None)
        faults = sum(m.stat.major_faults + m.stat.minor_faults for m in live
                     if m.stat is not None)
        return alive, (len(live), sum(m.rss_bytes for m in live), threads, self._in_d,
                       float(faults))

    def _moved(self, tally: Tally) -> bool:
        """Whether the tree's memory may have changed since the tick before: a process came
        or went, or the tree's RSS or its processes' page faults changed (a NaN, unmeasured,
        counts as moved). The faults are the processes' own counters, not the tree's totals:
        a fold expected from a child the kernel never folds (a parent that ignores SIGCHLD)
        is taken off the totals and would hide the parent's new faults. The PSS budget
        re-reads a still tree's smaps_rollup only rarely (collectors/smaps_budget.py)."""
        key = (tally[0], tally[1], tally[4])
        last, self._memory_key = self._memory_key, key
        return self._ticks.changed or last is None or any(a != b for a, b in zip(key, last))

    def _add_delay(self, alive: List[Member], on: bool) -> None:
        if on:
            pairs = [m.account_delay() for m in alive]
            add_growth(pairs, self._delay_totals)  # type: ignore[arg-type]
        elif self._delay_was_on:
            for m in alive:
                m.delay = m.delay_percent = NAN  # a fresh baseline when it is turned on again
        self._delay_was_on = on

    def _read_threads(self, alive: List[Member], now: float) -> None:
        """Once a second: the busiest thread's share of a core (collectors/threads.py)."""
        if now - self._threads_at < THREAD_SECONDS:
            return
        # the first reading's window starts at open(): what began before is only a baseline
        since = self._threads_at if self._threads_at > -math.inf else self._opened
        dt, self._threads_at = now - since, now
        ahead = self._ticks.ahead()
        if ahead is not None:
            counts = ahead.threads_and_own_cpu()
        else:
            counts = [(m.stat.threads, m.stat.own_cpu_seconds) if m.stat else (0, NAN)
                      for m in alive]
        for m, (threads, own_cpu_seconds) in zip(alive, counts):
            m.read_threads(dt, threads, own_cpu_seconds)
        self._busiest = busiest([m.threads for m in alive])[0]
        self._top_process = busiest_process([m.threads for m in alive])

    def _forget(self, m: Member, now: float) -> None:
        self._ticks.changed = True
        if m.pid == self.pid:
            self._root_recycled = m.recycled
        m.close()
        del self.members[m.pid]
        m.exited, m.memory = True, NO_MEMORY
        self._exited.append((now, m.row()))

    def _values(self, alive: List[Member], tally: Tally) -> List[float]:
        count, rss, threads, in_d, _ = tally
        unopened = float(len(self._unopened))  # there, but not read: counted as unread
        cpu, read, write, disk_read, disk_write, major, minor, read_calls, write_calls = (
            self._totals)
        delay, seconds = self._delay_totals
        pss, uss, anon, file, swap, files, unread_memory, unread_io = self._member_sums(alive,
                                                                                       count)
        return [
            float(count) + unopened, cpu, rss, pss, read, write, disk_read, disk_write, major,
            delay, seconds, uss, anon, file, swap, minor, threads, files,
            unread_memory + unopened, unread_io + unopened, read_calls, write_calls, NAN, NAN,
            float(in_d), self._busiest, *self._top_process,
        ]

    def _member_sums(self, alive: List[Member], count: int) -> Tuple[float, ...]:
        """PSS, USS, anon, file-backed, swap, open files, and how many processes' memory and
        io are unread, over the live members (the unreadable ones noted). Kept while the tree
        counts alone and nothing they hold changed (no smaps_rollup read, no fd count)."""
        if self._sums is not None and self._sums_key == self._budget.reads:
            return self._sums
        self._note_unavailable(alive)
        live = [m for m in alive if not m.zombie] if count != len(alive) else alive
        memories = [m.memory for m in live if m.memory is not None]
        pss, uss, anon, file, swap = ([measured_sum(c) for c in zip(*memories)] if memories
                                      else (NAN,) * 5)
        files = [m.open_files for m in live if m.open_files is not None]
        unread_io = sum(1 for m in live if "io" in m.files.unavailable)
        self._sums = (pss, uss, anon, file, swap, float(sum(files)) if files else NAN,
                      float(len(live) - len(memories)), float(unread_io))
        self._sums_key = self._budget.reads
        return self._sums

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
            status = (exit_status(self.proc_root, root.pid)
                      if root is not None and root.pid == self.pid else None)
            if root is not None:
                root.exit_status = status
            self.ended = f"process {self.pid} {fmt_exit(status)}"
            if self._root_recycled:
                self.ended += f" (PID {self.pid} now names another process)"
        if self.stop_when_gone:
            raise SourceEnded(self.ended, values)

    # -- the process pane --------------------------------------------------------------------
    def table(self) -> Optional[List[Dict[str, Any]]]:
        """One row per process: the live ones in tree order, then those that exited lately."""
        self._ticks.catch_up(self._delay_was_on)
        rows = [m.row() for m in self.members.values()]
        while self._exited and self._now - self._exited[0][0] > EXITED_ROW_SECONDS:
            self._exited.popleft()
        rows += [row for _, row in self._exited]
        return rows
