"""The busiest thread of the watched tree: one loader thread pinned at a full core.

A process's CPU figure sums its threads, so a loader whose one thread runs flat out looks like
"100 % of a core" whether that is one thread at its limit or four threads at a quarter each.
Only per-thread CPU time tells them apart:
- /proc/PID/task/TID/stat  utime (field 14) and stime (field 15), clock ticks, of one thread
                           (proc(5)); the thread's name is field 2, in parentheses.
Threads are read once a second (THREAD_SECONDS), not every tick: a thread's share of a core is
only meaningful over many clock ticks (10 ms each), and a tree's threads can be many. A process
with one thread is not listed at all: its own utime + stime (already read every tick from
/proc/PID/stat) is its thread's. For a process with more, its task/ folder is listed once a
second and each thread's stat read by path (no descriptor is kept: a tree of many processes with
dozens of threads each would otherwise hold thousands, against the open-files limit). A thread
that ended is forgotten.

A thread or process seen for the first time that began since the last reading (its start time,
field 22 of its stat, clock ticks since boot, against CLOCK_BOOTTIME now) counts from its start:
its share is its CPU time over its life so far. A pipeline of short single-threaded tools (a
shell loop over files, each tool living a few seconds) would otherwise read as idle for each
tool's first second. One seen first that began long before (when memmap attaches) gives only a
baseline, so its share shows from the next second on: its whole life is not this second. Lives
shorter than MIN_LIFE_SECONDS give no share yet: utime and stime count whole clock ticks, so
over 20 ticks a share is within 5 %, over 5 within 20 %. A thread's share over a short life is
held to one core (the ticks are rounded). While such a young
one is there, the tree's busiest thread and process are unknown (NaN) for that reading, not the
largest of the others: the young one may be the busiest (the next tool of a loop, just begun,
beside its idle shell). A tree that starts processes many times a second (a shell script of
short commands) therefore often has no busiest-thread figure: unknown, rather than a guess.

The figure is the largest share over the tree's threads in the last second: percent of one core
(100 = a thread that never left the CPU). NaN until two readings a second apart exist.

The same readings give the busiest process (its own share of a core, from its utime + stime in
/proc/PID/stat, which counts all its threads) and how many of its threads were busy (at least
BUSY_THREAD_SHARE of a core in that second). Four Python threads under the GIL read as "one
process at 95 %, 4 busy threads, the busiest 25 %": several threads that together never use
more than one core, which no single thread shows.
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

from .procfs import CLK_TCK

THREAD_SECONDS = 1.0
BUSY_THREAD_SHARE = 10.0  # % of one core: a thread that ran this much of the second is busy
MIN_LIFE_SECONDS = 0.2    # a first sighting's share needs this much life (20 clock ticks)
ONE_CORE = 100.0
NAN = float("nan")


def boot_seconds() -> float:
    """Seconds since boot on the clock /proc's start times count on (CLOCK_BOOTTIME)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def thread_ticks(raw: bytes) -> Optional[Tuple[str, float, float]]:
    """(name, utime + stime in ticks, start time in ticks since boot) from a task's stat line;
    None when it is not one."""
    close = raw.rfind(b")")
    if close < 0:
        return None
    fields = raw[close + 2:].split()
    try:
        ticks = float(int(fields[11]) + int(fields[12]))
        start = float(int(fields[19]))
    except (IndexError, ValueError):
        return None
    name = raw[raw.find(b"(") + 1:close].decode("utf-8", "replace")
    return name, ticks, start


def _share(before: Optional[float], now: float, dt: float) -> float:
    """A thread's share of one core, %, from its ticks `dt` seconds apart; NaN without a
    baseline."""
    if before is None or not dt > 0:
        return NAN
    return max(now - before, 0.0) / CLK_TCK / dt * 100.0


def _young(start_ticks: Optional[float], boot_now: float) -> bool:
    """Whether a thread or process began less than MIN_LIFE_SECONDS ago."""
    return start_ticks is not None and boot_now - start_ticks / CLK_TCK < MIN_LIFE_SECONDS


def _first_share(ticks: float, start_ticks: Optional[float], boot_now: float, dt: float,
                 most: float = math.inf) -> float:
    """The share of a thread or process seen for the first time, over its life so far, when
    it began within the last `dt` seconds and has lived at least MIN_LIFE_SECONDS, at most
    `most`; NaN else."""
    if start_ticks is None or not dt > 0:
        return NAN
    life = boot_now - start_ticks / CLK_TCK
    if not MIN_LIFE_SECONDS <= life <= dt + 2.0 / CLK_TCK:  # 2 ticks: start is rounded down
        return NAN
    return min(max(ticks, 0.0) / CLK_TCK / life * 100.0, most)


def _since(before: Optional[float], now: float, start_ticks: Optional[float], boot_now: float,
           dt: float, most: float = math.inf) -> Tuple[float, bool]:
    """(the share of a core since the last reading, or over its life when seen for the first
    time; whether it is too young for a share)."""
    if before is not None:
        return _share(before, now, dt), False
    return _first_share(now, start_ticks, boot_now, dt, most), _young(start_ticks, boot_now)


class ProcessThreads:
    """The threads of one process: their CPU ticks at the last reading, and the busiest share."""

    def __init__(self, base: str, start_ticks: Optional[float] = None,
                 boot_clock: Callable[[], float] = boot_seconds) -> None:
        """`base`: the process's /proc folder; `start_ticks`: its start time (stat field 22)."""
        self.task = os.path.join(base, "task")
        self._start = start_ticks
        self._boot_clock = boot_clock
        self._ticks: Dict[int, float] = {}
        self.busiest = NAN     # percent of one core over the last interval
        self.busiest_name = ""
        self.total = NAN       # the process's own share of a core (all its threads together)
        self.busy = NAN        # how many of its threads were busy (BUSY_THREAD_SHARE)
        self.young = False     # a thread too young for a share was seen at the last reading
        self._own: Optional[float] = None  # the process's own ticks at the last reading

    def forget(self) -> None:
        """Nothing to show (a zombie, a process without a stat yet)."""
        self.busiest = self.total = self.busy = NAN
        self._own = None
        self.young = False

    def close(self) -> None:
        self._ticks.clear()

    def single(self, name: str, own_seconds: float, dt: float) -> None:
        """A process with one thread: its own CPU seconds are its thread's."""
        now, boot_now = own_seconds * CLK_TCK, self._boot_clock()
        share, self.young = _since(self._ticks.get(0), now, self._start, boot_now, dt, ONE_CORE)
        self.busiest = share
        self.busiest_name = name if share == share else ""
        self.busy = float(share >= BUSY_THREAD_SHARE) if share == share else NAN
        self._ticks = {0: now}
        self._own_share(own_seconds, dt, boot_now)

    def _own_share(self, own_seconds: float, dt: float, boot_now: float) -> None:
        """The process's share of a core from its own utime + stime (/proc/PID/stat counts
        every thread, those that started or ended within the second too): exact where the sum
        of the threads' shares would miss a thread seen for the first time."""
        now = own_seconds * CLK_TCK if own_seconds == own_seconds else None
        self.total = _since(self._own, now, self._start, boot_now, dt)[0] if now is not None \
            else NAN
        self._own = now

    def read(self, dt: float, own_seconds: float = NAN) -> None:
        """List the threads and read each one's ticks; the busiest share over `dt` seconds;
        `own_seconds`: the process's utime + stime now (its stat), for its own share."""
        try:
            tids = [int(t) for t in os.listdir(self.task) if t.isdigit()]
        except OSError:
            self.forget()  # gone, or its tasks cannot be listed (another user's, hidepid)
            return
        ticks: Dict[int, float] = {}
        best, best_name = NAN, ""
        shares: List[float] = []
        boot_now = self._boot_clock()
        self.young = False
        for tid in tids:
            read = self._read_one(tid)
            if read is None:
                continue
            name, now, start = read
            ticks[tid] = now
            share, young = _since(self._ticks.get(tid), now, start, boot_now, dt, ONE_CORE)
            self.young = self.young or young
            if share == share:
                shares.append(share)
                if not share <= best:
                    best, best_name = share, name
        self._ticks = ticks
        self.busiest, self.busiest_name = best, best_name
        self._own_share(own_seconds, dt, boot_now)
        self.busy = float(sum(1 for share in shares if share >= BUSY_THREAD_SHARE)) if shares \
            else NAN

    def _read_one(self, tid: int) -> Optional[Tuple[str, float, float]]:
        try:
            fd = os.open(os.path.join(self.task, str(tid), "stat"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None  # the thread ended between the listing and the read
        try:
            return thread_ticks(os.pread(fd, 1024, 0))
        except OSError:
            return None
        finally:
            os.close(fd)


def _largest(threads: List[ProcessThreads],
             figure: Callable[[ProcessThreads], float]) -> Optional[ProcessThreads]:
    """The process with the largest `figure`; None when none has one yet, or when a thread is
    too young for one (it may be the largest)."""
    if any(t.young for t in threads):
        return None
    best: Optional[ProcessThreads] = None
    for t in threads:
        value = figure(t)
        if value == value and (best is None or value > figure(best)):
            best = t
    return best


def busiest_process(threads: List[ProcessThreads]) -> Tuple[float, float]:
    """(the largest process total over `threads`, % of one core; how many of its threads were
    busy); NaN, NaN when there is none (_largest)."""
    t = _largest(threads, lambda t: t.total)
    return (t.total, t.busy) if t is not None else (NAN, NAN)


def busiest(threads: List[ProcessThreads]) -> Tuple[float, str]:
    """(the largest share of a core over the processes' threads, that thread's name); NaN, ""
    when there is none (_largest)."""
    t = _largest(threads, lambda t: t.busiest)
    return (t.busiest, t.busiest_name) if t is not None else (NAN, "")
