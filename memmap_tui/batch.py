"""Batched sampling: whole batches of ticks run in C when the only source is a native reader.

At high rates (record at 1 kHz) or to cost next to nothing at 10 Hz, the per-tick Python work
dominates. When every collector hands over a C FieldReader (`Collector.native_reader()`), the
Sampler runs batches of ticks in `FieldReader.read_schedule` (drift-free, without the GIL),
derives them with `derive_rows` and hands sinks a block of rows (`write_batch`) or, for sinks
that only take frames, one Frame per row. The Python functions `derive()` and
`sinks.csv.format_row` are the reference these C twins are tested against.
"""

from __future__ import annotations

import math
import signal
import threading
from array import array
from typing import Any, Callable, Optional

from .derive import plan_array
from .model import NAN, Frame, Reading

MAX_BATCH = 4096


def native_reader_of(collectors: Any) -> Optional[Any]:
    """The one C reader behind the collectors, or None when batching cannot serve them."""
    if len(collectors) != 1 or collectors[0].slow:
        return None
    reader = collectors[0].native_reader()
    return reader if hasattr(reader, "read_schedule") else None


class NativeBatch:
    """Runs batches of ticks for a Sampler whose only collector has a C FieldReader."""

    def __init__(self, sampler: Any, reader: Any, batch_seconds: float) -> None:
        from ._fieldread import derive_rows, format_rows  # type: ignore[import-not-found]

        self.sampler, self.reader = sampler, reader
        self.derive_rows, self.format_rows = derive_rows, format_rows
        self.batch_seconds = batch_seconds
        self.width = len(sampler.schema.specs)
        self.columns = len(sampler.schema.columns) + 1  # the timestamp, then each column
        self.plan = plan_array(sampler.schema)
        self.previous = array("d", [NAN]) * self.width
        self.previous_time = self.previous_wall = NAN
        self._size(sampler.interval)

    def _size(self, interval: float) -> None:
        self.interval = interval
        self.count = max(1, min(int(self.batch_seconds / interval), MAX_BATCH))
        self.rows = array("d", [0.0]) * (self.count * self.width)
        self.stamps = array("d", [0.0]) * (self.count * 2)
        self.out = array("d", [0.0]) * (self.count * self.columns)

    def run(self, start: float, tick: int, limit: int,
            on_tick: Optional[Callable[[Frame], None]]) -> int:
        """One batch of at most `limit` ticks from `tick`; returns the next tick number."""
        if self.interval != self.sampler.interval:
            self._size(self.sampler.interval)
        done, tick, missed = self._read_schedule(start, tick, min(self.count, limit))
        stats = self.sampler.stats
        stats.missed += missed
        if done:
            self.derive_rows(self.plan, self.previous, self.previous_time, self.rows, self.stamps,
                             done, self.out)
            last = (done - 1) * self.width
            self.previous[:] = self.rows[last:last + self.width]
            self.previous_time = self.stamps[2 * done - 2]
            self.previous_wall = self.stamps[2 * done - 1]
            self._hand_over(done)
            stats.ticks += done
            stats.last = self.previous_time
            if on_tick is not None:
                on_tick(self._frame(done - 1))
        return int(tick)

    def _read_schedule(self, start: float, tick: int, count: int) -> Any:
        """One read_schedule; in the main thread, with the reader's pipe as Python's signal
        wakeup fd, so that a signal delivered to any thread ends the wait at once."""
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            previous = signal.set_wakeup_fd(self.reader.wake_fd(), warn_on_full_buffer=False)
        try:
            return self.reader.read_schedule(self.rows, self.stamps, start, self.interval, tick,
                                             count)
        finally:
            if in_main:
                signal.set_wakeup_fd(previous)

    def last_reading(self) -> Optional[Reading]:
        """The last raw reading (None before the first), for the per-tick path to go on from."""
        if self.previous_time != self.previous_time:
            return None
        return Reading(self.previous_time, self.previous_wall, self.previous.tolist())

    def _hand_over(self, done: int) -> None:
        """Give the block to every sink: pre-formatted CSV text where a sink takes it (made
        once), the derived rows themselves (timestamp, then the values) where it takes those,
        else one Frame per row."""
        text: Optional[str] = None
        for sink in self.sampler.sinks:
            write_batch = getattr(sink, "write_text_batch", None)
            write_rows = getattr(sink, "write_rows", None)
            if write_batch is not None:
                if text is None:
                    text = self.format_rows(self.out, done, self.columns)
                write_batch(text, done, self.previous_time)
            elif write_rows is not None:
                write_rows(memoryview(self.out)[:done * self.columns], self.columns)
            else:
                for i in range(done):
                    sink.write(self._frame(i))

    def _frame(self, i: int) -> Frame:
        """Row i of the block as a Frame, with its raw reading."""
        row = self.out[i * self.columns:(i + 1) * self.columns]
        raw = self.rows[i * self.width:(i + 1) * self.width].tolist()
        reading = Reading(self.stamps[2 * i], self.stamps[2 * i + 1], raw)
        return Frame(row[0], row[1:].tolist(), reading, self.interval)


def ticks_left(end: Optional[float], start: float, tick: int, interval: float) -> int:
    """How many ticks from `tick` fall due by `end` (a large number when there is no end)."""
    if end is None:
        return MAX_BATCH
    return max(0, int(math.floor((end - start) / interval)) - tick + 1)
