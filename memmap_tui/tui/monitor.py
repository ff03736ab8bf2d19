"""The TUI's model, without Textual: what the source pushed, the graph history, the verdict,
and memmap's own CPU and memory. The app calls `update()` once per --refresh and draws from it.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from ..figures import count_weights
from ..verdict import Verdict, needed_columns, verdict
from .history import WINDOWS, History
from .panes import PaneSpec, build_panes, graphed_columns
from .source import FrameStore, Source

INTERVAL_STEPS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass(frozen=True)
class SelfUsage:
    """memmap's own cost: CPU percent of one core (all threads), resident bytes."""

    cpu_percent: float
    rss_bytes: float


class SelfMeter:
    """memmap's own CPU and RSS from /proc/self/stat and statm, kept open and re-read.

    The kernel counts CPU time in ticks (10 ms), so one second's share jumps between 0 and 1 %:
    the CPU figure is the mean over the last WINDOW seconds, recomputed (and /proc read) every
    EVERY seconds however often the screen asks. When the screen asks less often than WINDOW
    (a --refresh of 30 s), it is the mean since the previous call: the window starts at the
    newest reading at least WINDOW old.
    """

    WINDOW, EVERY = 10.0, 5.0

    def __init__(self, proc: str = "/proc/self",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._hz = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._clock = clock
        self._stat = os.open(f"{proc}/stat", os.O_RDONLY | os.O_CLOEXEC)
        self._statm = os.open(f"{proc}/statm", os.O_RDONLY | os.O_CLOEXEC)
        self._readings: Deque[Tuple[float, float]] = deque([(clock(), self._cpu())])
        self._usage = SelfUsage(float("nan"), self._rss())
        self._shown_at = self._readings[0][0]

    def _cpu(self) -> float:
        fields = os.pread(self._stat, 1024, 0).rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._hz  # utime + stime, seconds

    def _rss(self) -> float:
        return float(int(os.pread(self._statm, 256, 0).split()[1]) * self._page)

    def close(self) -> None:
        for fd in (self._stat, self._statm):
            os.close(fd)

    def __call__(self) -> SelfUsage:
        now = self._clock()
        if now - self._shown_at < self.EVERY:
            return self._usage
        readings = self._readings
        readings.append((now, self._cpu()))
        while len(readings) > 2 and now - readings[1][0] >= self.WINDOW:
            readings.popleft()
        (start, cpu0), (end, cpu1) = readings[0], readings[-1]
        cpu = 100.0 * (cpu1 - cpu0) / (end - start) if end > start else float("nan")
        self._usage = SelfUsage(cpu, self._rss())
        self._shown_at = now
        return self._usage


def next_interval(current: float, faster: bool) -> float:
    """The next step of INTERVAL_STEPS below (faster) or above the current interval."""
    if faster:
        smaller = [s for s in INTERVAL_STEPS if s < current - 1e-9]
        return smaller[-1] if smaller else current
    larger = [s for s in INTERVAL_STEPS if s > current + 1e-9]
    return larger[0] if larger else current


class Monitor:
    """Pulls new rows from a source's store into the graph history; holds what panes draw."""

    def __init__(self, source: Source, store: FrameStore,
                 self_meter: Optional[Callable[[], SelfUsage]] = None,
                 current_seconds: float = 1.0) -> None:
        self.source, self.store = source, store
        self.current_seconds = current_seconds  # values shown are means over this much
        self.panes: List[PaneSpec] = build_panes(store.schema, store.tables.keys())
        self._verdict_columns = needed_columns(store.schema)
        self.window_index = 0
        self.self_meter = self_meter or SelfMeter()
        self.usage = SelfUsage(float("nan"), float("nan"))
        self.verdict: Optional[Verdict] = None
        self._seen = 0
        self.history = self._new_history()
        self.updates = 0  # bumps whenever new rows arrived

    @property
    def window_label(self) -> str:
        return WINDOWS[self.window_index][1]

    @property
    def tables(self) -> Dict[str, List[Dict[str, Any]]]:
        return self.store.tables

    def _new_history(self) -> History:
        history = History(self.store.columns, graphed_columns(self.panes),
                          WINDOWS[self.window_index][0])
        history.current_seconds = self.current_seconds
        history.track_recent(self._verdict_columns, count_weights(self.store.schema))
        return history

    def next_window(self) -> str:
        """Switch the graphs to the next window and rebuild them from the ring."""
        self.window_index = (self.window_index + 1) % len(WINDOWS)
        self.rebuild()
        return self.window_label

    def rebuild(self) -> None:
        """Rebuild the graphs from what the ring holds now (a new window, a replay's seek)."""
        self.history = self._new_history()
        self._seen = max(self.store.pushed - len(self.store), 0)
        self._pull(full=True)
        if self._seen:
            self.verdict = verdict(self.history.recent_means(), self.store.schema)

    def update(self) -> bool:
        """Read the new rows, recompute the verdict (from the history's running means over its
        window: the diagnosis reads only means) and memmap's own usage; True if rows came."""
        self.usage = self.self_meter()
        fresh = self._pull()
        if fresh:
            self.verdict = verdict(self.history.recent_means(), self.store.schema)
            self.updates += 1
        return fresh

    def _pull(self, full: bool = False) -> bool:
        count, rows = self.store.since(self._seen)
        self._seen = count
        if full and rows:
            start = rows[-1][0] - self.history.window
            rows = [r for r in rows if r[0] >= start]
        self.history.feed(rows)
        return bool(rows)
