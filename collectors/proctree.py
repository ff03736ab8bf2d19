"""Finding the descendants of a process, cheaply, as they come.

`/proc/PID/task/*/children` would list children directly, but it needs CONFIG_PROC_CHILDREN,
which many kernels (this project's CI machine's among them) lack, and it would cost a read per
thread per tick. Instead:
- at start, one scan of /proc/*/stat (ppid) finds the descendants that already exist;
- after that, a new process can only have a new PID, and the last PID the kernel handed out is
  the last field of /proc/loadavg. Each tick reads that one small file; only when it moved are
  the new PIDs (the range since the last look) probed, by path, for a parent in the tree. A PID
  not there yet (fork still in progress) is probed again on the next tick. Threads get PIDs
  too: a candidate whose status says Tgid != PID is a thread and is skipped.
- a full scan still runs every FULL_SCAN_SECONDS as a safety net, and whenever the PID range
  wrapped around or too many PIDs went by to probe one by one.
Without a readable /proc/loadavg, the full scan runs every tick (at most once a second).
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, List, Optional, Set

from .procfs import numeric_entries, stat_ppid_start, thread_group

FULL_SCAN_SECONDS = 30.0
MAX_PROBES = 64


def last_pid(loadavg: bytes) -> Optional[int]:
    """The last field of /proc/loadavg: the most recently allocated PID."""
    try:
        return int(loadavg.split()[-1])
    except (IndexError, ValueError):
        return None


class NewProcesses:
    """Reports PIDs that joined the tree: children of members, found as cheaply as possible.

    `is_member(pid)` says whether a PID is in the tree now; `found(pid, ppid, start_ticks)`
    is called for each new descendant, parents before their children.
    """

    def __init__(self, proc_root: str, is_member: Callable[[int], bool],
                 found: Callable[[int, int, int], None]) -> None:
        self.proc_root = proc_root
        self.is_member, self.found = is_member, found
        self._fd: Optional[int] = None
        self._last: Optional[int] = None
        self._retry: Set[int] = set()
        self._next_full = 0.0
        try:
            self._fd = os.open(os.path.join(proc_root, "loadavg"), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _cursor(self) -> Optional[int]:
        if self._fd is None:
            return None
        try:
            return last_pid(os.pread(self._fd, 256, 0))
        except OSError:
            return None

    def full_scan(self, now: float) -> None:
        """Scan every process in /proc for a parent in the tree (repeat until nothing new)."""
        self._last = self._cursor()
        self._next_full = now + (FULL_SCAN_SECONDS if self._last is not None else 1.0)
        self._retry.clear()
        pids = sorted(p for p in numeric_entries(self.proc_root) if not self.is_member(p))
        while pids:
            rest = self._probe(pids, check_thread=False)
            if len(rest) == len(pids):
                break
            pids = rest

    @property
    def next_full(self) -> float:
        """When the next full scan is due (monotonic seconds)."""
        return self._next_full

    def batch_hold(self) -> Optional[int]:
        """The last PID seen, when no PID waits to be probed again: ticks may be batched while
        the kernel hands out no new one (None: the next tick must poll)."""
        return self._last if self._fd is not None and not self._retry else None

    def poll(self, now: float) -> None:
        """Per tick: find the processes born since the last call."""
        if now >= self._next_full:
            self.full_scan(now)
            return
        cursor = self._cursor()
        if cursor is None or cursor == self._last and not self._retry:
            return
        last = self._last if self._last is not None else cursor
        if cursor < last or cursor - last > MAX_PROBES:  # wrapped, or a burst of new PIDs
            self.full_scan(now)
            return
        fresh = set(range(last + 1, cursor + 1))
        retried, self._retry = self._retry, set()
        self._last = cursor
        self._probe(sorted(fresh | retried), check_thread=True, may_retry=fresh)

    def _probe(self, pids: Iterable[int], check_thread: bool,
               may_retry: Set[int] = frozenset()) -> List[int]:  # type: ignore[assignment]
        """Add the PIDs whose parent is a member; returns those whose parent is not."""
        rest = []
        for pid in pids:
            if self.is_member(pid):
                continue
            info = stat_ppid_start(self.proc_root, pid)
            if info is None:
                if pid in may_retry:
                    self._retry.add(pid)  # not attached yet (fork in progress): once more
                continue
            ppid, start = info
            if not self.is_member(ppid):
                rest.append(pid)
            elif not check_thread or thread_group(self.proc_root, pid) == pid:
                self.found(pid, ppid, start)
        return rest
