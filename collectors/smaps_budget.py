"""When a process tree's smaps_rollup files are read: a CPU budget the members share.

Reading smaps_rollup (PSS, USS, anon/file, swap) costs kernel time that grows with the memory
mapped (~1 ms per 100 MiB, more for pages shared between forked workers: a 20 GiB process costs
~0.2 s a read), so it cannot be read every tick. Its reads share SMAPS_CPU_SHARE (0.3 %) of one
CPU, measured in CPU time (a busy machine does not make them look dearer), whatever the interval:

1. a new process, or one that exec'd (a new address space), is read at once;
2. then those whose RSS moved by RSS_SWING or more since their last read, the most moved first,
   on credit: the budget may be overdrawn by SMAPS_MAX_DEBT, repaid before anything else is
   read. A ramp, a freed buffer or a process's last moments are thus not shown with a PSS from
   before, and the average stays within the budget;
3. then the stalest first while the budget lasts, among the members whose memory may have
   changed since their last read; values are carried in between.
A lone small process is re-read every tick; a steady 300 MiB one about once a second; 16 forked
workers sharing 32 MiB each every ~10 s; a steady 20 GiB process every minute or so.

A still tree is not re-read (rule 3) until STILL_MAX_AGE: PSS, USS, anon/file and swap of the
tree's processes change only when pages are mapped, touched, shared, unshared, freed, reclaimed
or swapped, and within the tree each of those moves its RSS or its fault counters (a copy on
write in a worker is a minor fault of that worker, and changes its parent's PSS: so one
member's move makes every member's memory possibly stale). The collector says at each tick
whether the tree moved: a process came or went, or the tree's RSS or its minor or major faults
changed (collectors/process.py). What the tree cannot see (a process outside it mapping the
same file, so that the tree's PSS of those pages halves; KSM merging pages) shows once each
member is re-read: STILL_MAX_AGE after its last read at the soonest, later when one pass over
the tree costs more than STILL_MAX_AGE's worth of budget (13 processes sharing 1 GiB, 12 ms a
read: about 50 s). A free of a few pages may not move /proc/PID/stat's RSS at once (the kernel
counts RSS per CPU in batches), so such a small change can also wait until then. An idle
tree (a paused job, workers waiting on a queue) thus costs almost nothing; a busy one
(faulting every tick) spends the budget as before.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import List

from .member import Member

SMAPS_CPU_SHARE = 0.003  # smaps_rollup reads may use this share of one CPU, at any interval,
SMAPS_MAX_CREDIT = SMAPS_CPU_SHARE * 1.0  # saving up at most one second's worth for a burst
SMAPS_MAX_DEBT = 0.02  # CPU seconds the reads of swung members may borrow (~7 s of budget)
RSS_SWING = 1.1  # RSS moved by this factor since smaps_rollup was read: read it before others
STILL_MAX_AGE = 30.0  # seconds: a still tree's memory is re-read this often all the same


_memory_time = attrgetter("memory_time")


class MemoryBudget:
    """Decides, each tick, which members' smaps_rollup to read (see the module docstring)."""

    def __init__(self) -> None:
        self.credit = 0.0
        self.reads = 0  # how many smaps_rollup reads so far (PSS freshness, for the bench)
        self.moved_at = math.inf  # the last tick at which the tree moved (inf: not told yet)
        self._still_until = -math.inf  # while still, nothing is due before this

    def reset(self) -> None:
        self.credit = 0.0
        self.moved_at = math.inf
        self._still_until = -math.inf

    def refresh(self, alive: List[Member], now: float, elapsed: float,
                moved: bool = True) -> None:
        """Read what is due among `alive`; `elapsed`: seconds since the last call; `moved`:
        whether the tree's memory may have changed since the tick before (see the module
        docstring)."""
        if moved:
            self.moved_at = now
        credit = min(self.credit + SMAPS_CPU_SHARE * elapsed, SMAPS_MAX_CREDIT)
        if not moved and self._still_until > now:
            self.credit = credit  # still, and nothing too old: the tick's only work
            return
        for m in alive:
            if m.memory is None and m.wants_memory():
                credit -= self._read(m, now)
        # An RSS equal to the one at the last read has not swung (swing() is 1 then): only the
        # others are asked, which in a steady tree is none of them.
        swung = [(swing, m.pid, m) for m in alive
                 if m.rss_bytes != m.memory_rss and (swing := m.swing()) >= RSS_SWING]
        pending = False  # something due is left unread for want of credit
        for _, _, m in sorted(swung, reverse=True):
            if credit <= -SMAPS_MAX_DEBT:
                pending = True
                break
            if m.wants_memory():
                credit -= self._read(m, now)
        # read before the tree last moved, or too long ago to trust a still tree
        moved_at, old = self.moved_at, now - STILL_MAX_AGE
        stale = [m for m in alive if m.memory_time < moved_at or m.memory_time <= old]
        while stale:
            stalest = min(stale, key=_memory_time)
            if stalest.memory_time >= now:
                break
            if credit <= 0.0:
                pending = True
                break
            stale.remove(stalest)
            credit -= self._read(stalest, now)
        self.credit = credit
        # Until the oldest read is STILL_MAX_AGE old, a still tree has nothing due
        self._still_until = -math.inf if pending else (
            min((m.memory_time for m in alive), default=math.inf) + STILL_MAX_AGE)

    def _read(self, m: Member, now: float) -> float:
        self.reads += 1
        return m.refresh_memory(now)
