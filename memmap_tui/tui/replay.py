"""`memmap replay FILE.csv`: the TUI's panes driven by a recording, with pause, seek and speed.

The panes are the live monitor's, fed by a `ReplaySource` instead of the sampler: it plays the
recorded rows at their recorded pace times the speed (1x, 10x, 60x), and a seek refills the
store with the history before the new position, so graphs show what was on screen then.
Keys: space or p pause, left/right seek 10 s, Home/End jump to the start/end, s or +/- speed.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

from textual.binding import Binding

from ..units import fmt_seconds
from .app import MemmapApp, require_terminal
from .source import FrameStore, RecordingSource

SPEEDS = (1.0, 10.0, 60.0)
SEEK_SECONDS = 10.0


class ReplaySource(RecordingSource):
    """Plays a recording into the store; seek, speed and pause act at once."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[float]], label: str = "",
                 speed: float = 1.0,
                 tables: Optional[Dict[str, List[Dict[str, Any]]]] = None) -> None:
        super().__init__(columns, rows, label=label, play=True, speed=speed, tables=tables)
        self.name = label
        self._times = [row[0] for row in self.rows]
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._anchor_wall = 0.0
        self._anchor_at = self._times[0] if self._times else 0.0

    # -- where we are ---------------------------------------------------------------------------
    @property
    def position(self) -> float:
        """Seconds into the recording of the last row shown."""
        if not self._times:
            return 0.0
        return self._times[max(self._next - 1, 0)] - self._times[0]

    @property
    def duration(self) -> float:
        return self._times[-1] - self._times[0] if self._times else 0.0

    @property  # type: ignore[override]
    def label(self) -> str:
        return (f"replay {self.name} {self.speed:g}x "
                f"{fmt_seconds(self.position)}/{fmt_seconds(self.duration)}")

    @label.setter
    def label(self, value: str) -> None:
        pass  # set by RecordingSource.__init__; the replay's label is computed

    # -- playback -------------------------------------------------------------------------------
    def open(self) -> FrameStore:
        self.store = FrameStore(self.schema, self._capacity())
        return self.store

    def _capacity(self) -> int:
        from .source import ring_capacity

        return ring_capacity(self.interval, len(self.columns))

    def _anchor(self) -> None:
        """Restart the playback clock at the next row (after a seek, a speed change, a pause)."""
        self._anchor_wall = time.monotonic()
        if self._next < len(self._times):
            self._anchor_at = self._times[self._next]

    def _run(self) -> None:
        with self._lock:
            self._anchor()
        while not self._stop.is_set():
            wait = self._step()
            self._wake.wait(wait)
            self._wake.clear()

    def _step(self) -> Optional[float]:
        """Push every row that is due; returns how long to wait (None: until woken)."""
        with self._lock:
            if self.paused:
                return None
            while self._next < len(self._times):
                due = self._anchor_wall + (self._times[self._next] - self._anchor_at) / self.speed
                wait = due - time.monotonic()
                if wait > 0:
                    return wait
                self._push_upto(self._next + 1)
            self.ended = "end of the recording" if self._times else "the recording is empty"
            return None

    def toggle_pause(self) -> bool:
        with self._lock:
            self.paused = not self.paused
            self._anchor()
        self._wake.set()
        return self.paused

    def set_speed(self, speed: float) -> float:
        with self._lock:
            self.speed = speed
            self._anchor()
        self._wake.set()
        return self.speed

    def next_speed(self, step: int = 1) -> float:
        """1x -> 10x -> 60x (and back with step -1), staying at the ends."""
        at = SPEEDS.index(self.speed) if self.speed in SPEEDS else 0
        return self.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, at + step))])

    def seek_to(self, seconds: float) -> float:
        """Show the recording as it stood `seconds` in; returns the new position."""
        if not self._times:
            return 0.0
        target = self._times[0] + max(0.0, min(seconds, self.duration))
        index = bisect.bisect_right(self._times, target)
        with self._lock:
            self.store.clear()
            self._next = max(index - self.store.capacity, 0)
            self._push_upto(max(index, 1))
            self.ended = None
            self._anchor()
        self._wake.set()
        return self.position

    def seek(self, delta: float) -> float:
        return self.seek_to(self.position + delta)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        super().stop()


class ReplayApp(MemmapApp):
    """The monitor's screens over a ReplaySource, with seek and speed keys."""

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("p,space", "pause", "Pause", key_display="p"),
        Binding("left", "seek(-1)", "-10 s", key_display="←"),
        Binding("right", "seek(1)", "+10 s", key_display="→"),
        Binding("home", "jump(0)", "Start"),
        Binding("end", "jump(1)", "End"),
        Binding("s", "speed(1)", "Speed"),
        Binding("plus", "speed(1)", "Faster", show=False),
        Binding("minus", "speed(-1)", "Slower", show=False),
        *[b for b in MemmapApp.BINDINGS
          if isinstance(b, Binding) and b.action.startswith(("toggle_pane", "window", "help"))],
    ]

    source: ReplaySource

    def _moved(self) -> None:
        self.monitor.rebuild()
        self.main.show(self.monitor, self.status())

    def action_seek(self, direction: int) -> None:
        self.source.seek(direction * SEEK_SECONDS)
        self._moved()

    def action_jump(self, end: int) -> None:
        self.source.seek_to(self.source.duration if end else 0.0)
        self._moved()

    def action_speed(self, step: int) -> None:
        speed = self.source.next_speed(step)
        self.notify(f"playing at {speed:g}x", timeout=2)
        self.main.show(self.monitor, self.status())

    def _ended(self) -> tuple:
        ended = self.source.ended
        return (f"{ended}: Home replays it",) if ended else ()


def run_replay(args: Any) -> int:
    """`memmap replay FILE.csv`: read the recording before taking the screen."""
    from ..csvread import load_recording
    from ..pipeline import log_to_file

    recording = load_recording(args.file)
    require_terminal("replay", "'memmap report FILE.csv'")
    _, problem = log_to_file()
    rows = [tuple(row) for row in recording.rows()]
    if recording.backward:  # a clock set back: play on forward time (a step back is no time)
        first = rows[0][0]
        rows = [(first + at, *row[1:]) for at, row in zip(recording.elapsed(), rows)]
    source = ReplaySource(recording.metrics, rows, label=os.path.basename(args.file),
                          speed=args.speed)
    source.open()
    app = ReplayApp(source, refresh=args.refresh)
    app.log_problem = problem
    try:
        app.run(mouse=False)
    finally:
        source.stop()
    return app.return_code or 0
