"""Where the TUI's frames come from: a live sampler, or a recording. No Textual import here.

Every source fills a `FrameStore` (a ring buffer of rows `timestamp, *columns`, the latest
per-entity tables, and a push counter) from its own thread; the TUI only reads the store at its
refresh rate. Sources:

- `LiveSource`: the Sampler (pipeline.build_sampler) runs on a thread and pushes each frame.
- `RecordingSource`: rows read from a CSV written by `memmap record`, either all at once (the
  snapshot tests, screenshots) or played back at the recorded pace (`memmap replay`).

The panes never know which one they are drawing.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..catalog import schema_for_columns
from ..model import Frame, Schema
from ..ring import RingBuffer

HISTORY_SECONDS = 3600.0  # the longest graph window
MIN_ROWS = 600
RING_BYTES_BUDGET = 16 * 1024 * 1024  # rows are float64: capacity x (columns + 1) x 8 bytes


def ring_capacity(interval: float, columns: int, seconds: float = HISTORY_SECONDS) -> int:
    """Rows needed to hold `seconds` of history at `interval`, capped by RING_BYTES_BUDGET."""
    wanted = int(math.ceil(seconds / max(interval, 1e-6))) + 1
    affordable = RING_BYTES_BUDGET // (8 * (columns + 1))
    return max(MIN_ROWS, min(wanted, affordable))


class FrameStore:
    """A ring of rows (timestamp first, then the schema's columns), filled by one writer thread.

    `schema` says what each column is for (the panes and the verdict ask it for roles). The lock
    makes a push and its counter one step, so a reader never sees half a row whatever the ring's
    implementation.
    """

    def __init__(self, schema: Schema, capacity: int) -> None:
        self.schema = schema
        self.columns: Tuple[str, ...] = tuple(schema.columns)
        self.ring = RingBuffer(len(self.columns) + 1, capacity)
        self.pushed = 0
        self.tables: Dict[str, List[Dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return int(self.ring.capacity)

    def push(self, timestamp: float, values: Sequence[float],
             tables: Optional[Dict[str, List[Dict[str, Any]]]] = None) -> None:
        row = [timestamp]
        row.extend(values)
        with self._lock:
            self.ring.push(row)
            self.pushed += 1
            if tables is not None:
                self.tables = tables

    def push_rows(self, rows: memoryview, width: int) -> None:
        """Push a block of float64 rows of `width` values each (timestamp, then the values),
        as the sampler's batches derive them: one lock, no object per row."""
        count = len(rows) // width
        with self._lock:
            for i in range(count):
                self.ring.push_buffer(rows[i * width:(i + 1) * width])
            self.pushed += count

    def since(self, seen: int) -> Tuple[int, List[Sequence[float]]]:
        """(push count now, the rows pushed after `seen` that the ring still holds)."""
        with self._lock:
            count = self.pushed
            new = min(count - seen, len(self.ring))
            rows = self.ring.latest(new) if new > 0 else []
        return count, rows

    def clear(self) -> None:
        """Forget the rows (a replay seeking); the push count goes on, so readers that
        remember it see only what comes next."""
        with self._lock:
            self.ring.clear()

    def latest(self, n: int) -> List[Sequence[float]]:
        with self._lock:
            return list(self.ring.latest(n))

    def __len__(self) -> int:
        return len(self.ring)


class StoreSink:
    """The Sampler's sink that fills a FrameStore (sized when the schema is known)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.store: Optional[FrameStore] = None

    def open(self, schema: Schema) -> None:
        capacity = ring_capacity(self.interval, len(schema.columns))
        self.store = FrameStore(schema, capacity)

    def write(self, frame: Frame) -> None:
        if self.store is not None:
            self.store.push(frame.timestamp, frame.values, frame.reading.tables)

    def write_rows(self, rows: memoryview, width: int) -> None:
        """A batch's derived rows at once (memmap_tui/batch.py); the same as one write() per
        row, for frames without tables, which batched frames never have."""
        if self.store is not None:
            self.store.push_rows(rows, width)

    def close(self) -> None:
        pass


class Source:
    """What the TUI needs from wherever frames come from."""

    label = ""
    store: FrameStore
    interval = 1.0
    paused = False
    ended: Optional[str] = None  # why the source stopped by itself, when it did

    def open(self) -> FrameStore:
        raise NotImplementedError

    def start(self) -> None:
        """Begin producing frames on a thread of the source's own."""

    def stop(self) -> None:
        """Stop producing and release everything; safe to call twice."""

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        return self.paused

    def set_interval(self, seconds: float) -> float:
        """Ask for a new sampling interval; returns the one in force."""
        return self.interval

    def problems(self) -> List[str]:
        """One short line per degraded part ("nvml: GPU lost"), for the header."""
        return []

    def gone(self) -> List[str]:
        """What the source watched that went for good while sampling goes on
        ("process 42 exited with status 0"), for the header."""
        return []


class LiveSource(Source):
    """The Sampler on its own thread, pushing frames into the store.

    `batch_seconds`: where the sources allow it the sampler runs that many seconds of ticks at
    a time in C (memmap_tui.batch), waking Python once a batch instead of once a tick; frames
    then reach the store up to that late, which a screen redrawn every second hides.
    """

    def __init__(self, args: Any, batch_seconds: float = 0.0) -> None:
        from ..pipeline import build_sampler

        self.label = "live"
        self.interval = float(args.interval)
        self._sink = StoreSink(self.interval)
        # A watched process that exits is marked, not the end: the host panes go on.
        self.sampler = build_sampler(args, [self._sink], stop_when_gone=False)
        self.sampler.batch_seconds = batch_seconds
        self._thread: Optional[threading.Thread] = None

    def open(self) -> FrameStore:
        self.sampler.open()
        assert self._sink.store is not None
        self.store = self._sink.store
        return self.store

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="memmap-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sampler.run()
        self.ended = self.sampler.ended

    def stop(self) -> None:
        self.sampler.stop()
        if self._thread is not None:
            self._thread.join(timeout=3.0)
            self._thread = None
        self.sampler.close()

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        self.sampler.command("pause" if self.paused else "resume")
        return self.paused

    def set_interval(self, seconds: float) -> float:
        self.interval = seconds
        self.sampler.command("interval", seconds)
        return seconds

    def problems(self) -> List[str]:
        return [f"{s.name}: {s.message}" for s in self.sampler.states.values() if not s.ok]

    def gone(self) -> List[str]:
        return [c.ended for c in self.sampler.collectors if c.ended]


class RecordingSource(Source):
    """Rows from a recording: pushed all at once, or played back at the recorded pace.

    `rows` are `timestamp, *columns` sequences; `tables` (optional) are shown as the latest
    per-entity tables, as a live process collector would give them. What each column is for
    comes from the collectors' catalogues (memmap_tui.catalog), as if they had recorded it here.
    """

    @classmethod
    def from_file(cls, path: str, **kwargs: Any) -> RecordingSource:
        """A recording written by `memmap record` (NotARecording, one line, when it is not)."""
        from ..csvread import load_recording

        recording = load_recording(path)
        rows = [tuple(row) for row in recording.rows()]
        return cls(recording.metrics, rows, label=os.path.basename(path), **kwargs)

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[float]], label: str = "",
                 play: bool = False, speed: float = 1.0,
                 tables: Optional[Dict[str, List[Dict[str, Any]]]] = None) -> None:
        self.columns, self.rows = list(columns), list(rows)
        self.schema = schema_for_columns(self.columns)
        self.label, self.play, self.speed = label, play, speed
        self.tables = tables
        self.interval = _typical_interval(self.rows)
        self._next = 0
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._resume.set()

    def open(self) -> FrameStore:
        self.store = FrameStore(self.schema, ring_capacity(self.interval, len(self.columns)))
        if not self.play:
            self._push_upto(len(self.rows))
        return self.store

    def _push_upto(self, end: int) -> None:
        for row in self.rows[self._next:end]:
            self.store.push(row[0], row[1:], self.tables)
        self._next = max(self._next, end)

    def start(self) -> None:
        if self.play and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="memmap-replay", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        if not self.rows:
            self.ended = "the recording is empty"
            return
        t0, start = self.rows[0][0], time.monotonic()
        while self._next < len(self.rows) and not self._stop.is_set():
            if not self._resume.is_set():
                paused_at = time.monotonic()
                self._resume.wait()
                start += time.monotonic() - paused_at  # a pause stretches the playback clock
            due = start + (self.rows[self._next][0] - t0) / self.speed
            if self._stop.wait(max(0.0, due - time.monotonic())):
                return
            self._push_upto(self._next + 1)
        self.ended = "end of the recording"

    def stop(self) -> None:
        self._stop.set()
        self._resume.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)
            self._thread = None

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        (self._resume.clear if self.paused else self._resume.set)()
        return self.paused


def _typical_interval(rows: Sequence[Sequence[float]]) -> float:
    """The median gap between timestamps (1 s when there are too few rows to say)."""
    gaps = sorted(b[0] - a[0] for a, b in zip(rows, rows[1:]) if b[0] > a[0])
    return gaps[len(gaps) // 2] if gaps else 1.0
