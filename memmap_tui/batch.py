"""Batched sampling: batches of ticks read in C, so that Python does not wake for each tick.

At high rates (record at 1 kHz) or to cost next to nothing at 10 Hz, the per-tick Python work
dominates: at 10 Hz a tick's Python runs on cold caches, at about three times its cost in a
loop. Two ways, the first that applies:

- NativeBatch: when the only collector hands over a C FieldReader (`Collector.native_reader()`),
  the Sampler runs batches of ticks in `FieldReader.read_schedule` (drift-free, without the GIL),
  derives them with `derive_rows` and hands sinks a block of rows (`write_batch`) or, for sinks
  that only take frames, one Frame per row. The Python functions `derive()` and
  `sinks.csv.format_row` are the reference these C twins are tested against. When the only
  sink is a file that C may write (`direct_writer()`: `record`'s CSV) and nobody waits for each
  tick, read_schedule writes the rows itself through a RowWriter, `batch_seconds` of them at a
  time, and a batch runs DIRECT_BATCH_SECONDS: Python wakes ten times less, and no row waits
  longer for its file than before.
- PartsBatch: when every collector offers a BatchPart (`Collector.batch_part()`: its files and
  rules, what must hold still, how to replay a tick) and no sink reads the collectors' tables,
  one guarded FieldReader made of all the parts reads a batch of ticks, and each tick is then
  replayed by every collector (the same counting as collect(), from the batch's read), derived
  and written as a tick of its own. A part's guard ends the batch before a tick that its
  collector must see at once (a process born, exited or exec'd, a read failed): that tick is
  read live. `record --pid` of a still process tree thus costs about its reads.
"""

from __future__ import annotations

import errno
import logging
import math
import signal
import threading
import time
from array import array
from typing import Any, Callable, List, Optional, Sequence, Tuple

from .collector import BatchDrift, BatchPart, SourceEnded
from .derive import plan_array
from .fieldread import free_descriptors
from .model import NAN, Frame, Reading
from .slow import SLOW_KEEP

log = logging.getLogger("memmap_tui")

MAX_BATCH = 4096
MAX_BACKOFF = 64  # live ticks between tries, at most, after batches that a guard ended at once
REPLAY_SHARE = 0.5  # a batch's Python work (its replay) may take this share of one interval
FIRST_REPLAY_COST = 200e-6  # seconds a tick, assumed until a batch has been timed
FD_HEADROOM = 256  # descriptors left free after a batch reader opens (new processes need some)
# A batch's length when its rows are written in C as they come (RowWriter): Python's wake-up
# per batch, on cold caches, costs about as much as the batch's reads at 10 Hz.
DIRECT_BATCH_SECONDS = 5.0


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
        self.carry = sampler.carry  # derive()'s, shared with the sampler's live ticks
        # a read that fails ends a batch before its tick instead of raising (the rows before it
        # are delivered): the sampler reads that tick live, where the collector decides what
        # the failure means (the host reads its disks from /proc/diskstats once one is gone)
        if reader is not None:  # a PartsBatch guards the reader it makes itself
            reader.guard((), None)
        self.read_failed = False
        self._size(sampler.interval)

    def _size(self, interval: float) -> None:
        self.interval = interval
        self.count = max(1, min(int(self.batch_seconds / interval), MAX_BATCH))
        self.writer = self._direct_writer()
        longest = self.count
        if self.writer is not None:
            longest = max(self.count, min(int(DIRECT_BATCH_SECONDS / interval), MAX_BATCH))
        self.direct_count = longest
        self.rows = array("d", [0.0]) * (longest * self.width)
        self.stamps = array("d", [0.0]) * (longest * 2)
        self.out = array("d", [0.0]) * (longest * self.columns)

    def _direct_writer(self) -> Any:
        """A RowWriter of the only sink's file, `count` rows a write, when it offers one."""
        sinks = self.sampler.sinks
        if self.reader is None or len(sinks) != 1:
            return None
        make = getattr(sinks[0], "direct_writer", None)
        return make(self.plan, self.width, self.count) if make is not None else None

    def run(self, start: float, tick: int, limit: int,
            on_tick: Optional[Callable[[Frame], None]]) -> int:
        """One batch of at most `limit` ticks from `tick`; returns the next tick number."""
        if self.interval != self.sampler.interval:
            self._size(self.sampler.interval)
        writer = self.writer
        count = self.count
        if writer is not None:
            self.sampler.sinks[0].flush()  # rows of live ticks before this batch's
            writer.follow(self.previous, self.previous_time, self.carry)
            if on_tick is None:  # nobody waits for each tick: a long batch
                count = self.direct_count
        before = writer.rows if writer is not None else 0
        try:
            done, tick, missed = self._read_schedule(start, tick, min(count, limit), writer,
                                                     tick + limit)
        except OSError as exc:  # the writer's file took no more (a read's failure is raised)
            sink = self.sampler.sinks[0]
            if writer is None or exc.filename != getattr(sink, "path", None):
                raise
            self.deliver(int(writer.rows - before), None, written=True)  # those are in it
            sink.fail(exc)
            self.writer = None  # the sink drops rows from now on
            return tick
        self.read_failed = bool(self.reader.stopped())
        self.sampler.stats.missed += missed
        self.deliver(done, on_tick, written=writer is not None)
        return int(tick)

    def deliver(self, done: int, on_tick: Optional[Callable[[Frame], None]],
                written: bool = False) -> None:
        """Derive the first `done` rows of the block (raw values; their stamps in `stamps`)
        and hand them to the sinks, each a tick of its own (`written`: the only sink's file has
        them already, written by the batch)."""
        if not done:
            return
        stats = self.sampler.stats
        if not written or on_tick is not None:  # the writer derived them for its file
            self.derive_rows(self.plan, self.previous, self.previous_time, self.rows,
                             self.stamps, done, self.out, self.carry)
        else:  # the rows are the writer's alone: so is the carry after them
            self.writer.carried(self.carry)
        last = (done - 1) * self.width
        self.previous[:] = self.rows[last:last + self.width]
        self.previous_time = self.stamps[2 * done - 2]
        self.previous_wall = self.stamps[2 * done - 1]
        if not written:
            self._hand_over(done)
        stats.ticks += done
        stats.last = self.previous_time
        if on_tick is not None:
            on_tick(self._frame(done - 1))

    def follow(self, reading: Reading) -> None:
        """The next block comes after `reading` (a tick read live): its rates start there."""
        self.previous[:] = array("d", reading.values)
        self.previous_time, self.previous_wall = reading.monotonic, reading.timestamp

    def _read_schedule(self, start: float, tick: int, count: int, writer: Any = None,
                       end: Optional[int] = None) -> Any:
        """`end`: the first slot not to read (the run's end), however many the batch skips."""
        return read_schedule(self.reader, self.rows, self.stamps, start, self.interval, tick,
                             count, None, writer, end)

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


def read_schedule(reader: Any, rows: Any, stamps: Any, start: float, interval: float, tick: int,
                  count: int, *states: Any) -> Any:
    """One read_schedule; in the main thread, with the reader's pipe as Python's signal wakeup
    fd, so that a signal delivered to any thread ends the wait at once."""
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        previous = signal.set_wakeup_fd(reader.wake_fd(), warn_on_full_buffer=False)
    try:
        return reader.read_schedule(rows, stamps, start, interval, tick, count, *states)
    finally:
        if in_main:
            signal.set_wakeup_fd(previous)


# a part's place in the batch's row and files: (first slot, first file, the part)
Placed = Tuple[int, int, BatchPart]


class PartsBatch:
    """Batches of ticks for collectors that offer BatchParts (see the module docstring).

    The reader is made of the parts' files and rules (slots and files one part after another)
    and kept while the parts' keys stay the same. A batch runs until the earliest part's
    `until` (that tick included), at most `batch_seconds`, and no longer than its replay can
    take in REPLAY_SHARE of one interval (the time it took a tick is measured: at 1 kHz a
    batch is a few ticks, so that none is missed while Python replays). Its ticks are replayed
    into a block of raw rows, which NativeBatch.deliver derives and hands to the sinks in one
    go. Batches that a guard ended at once (a machine where new PIDs come every tick) back off:
    the next tries wait 1, 2, 4 ... MAX_BACKOFF live ticks, so such a machine costs no double
    reads. The reader opens its own descriptors (two per process of a tree): it is made only
    when FD_HEADROOM descriptors stay free under the soft limit after it, so that it never
    takes from new processes the descriptors they need.
    """

    def __init__(self, sampler: Any, batch_seconds: float) -> None:
        from ._fieldread import FieldReader  # type: ignore[import-not-found]

        self.sampler, self.batch_seconds = sampler, batch_seconds
        self.reader_class = FieldReader
        self.reader: Any = None
        self.block = NativeBatch(sampler, None, batch_seconds)  # derives and hands over
        self.batches = self.stopped = 0  # batches run, and those a guard ended early
        self._keys: Tuple[Any, ...] = ()
        self._guard: Tuple[Any, ...] = ()
        self._placed: List[Placed] = []
        self._width = self._file_count = 0
        self._backoff = self._wait = 0
        self._cost = FIRST_REPLAY_COST  # seconds of Python work a replayed tick, measured

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.reader, self._keys, self._guard = None, (), ()

    def run(self, start: float, tick: int, limit: int,
            on_tick: Optional[Callable[[Frame], None]]) -> Optional[int]:
        """A batch of at most `limit` ticks from `tick`; the next tick number, or None when the
        next tick must be read live (a collector cannot batch now, or a backoff)."""
        if self._wait > 0:
            self._wait -= 1
            return None
        sampler, block = self.sampler, self.block
        previous = sampler.last_reading()
        parts = self._parts(sampler.clock()) if previous is not None else None
        if parts is None:
            return None
        if block.interval != sampler.interval:
            block._size(sampler.interval)
        interval = sampler.interval
        until = min(p.until for p in parts)
        # the ticks due before `until`, and the first due at or after it, which ends the batch
        before_until = (math.ceil((until - start) / interval) - tick + 1 if until < math.inf
                        else limit)
        fits = max(1, int(REPLAY_SHARE * interval / self._cost))
        count = min(limit, before_until, block.count, fits, SLOW_KEEP // 2)
        if count < 1 or not self._ready(parts):
            return None
        rows = array("d", [NAN]) * (count * self._width)
        states = bytearray(count * self._file_count)
        # no slot past the run's end or `until` is read, however many a stall skips
        done, next_tick, missed = read_schedule(self.reader, rows, block.stamps, start, interval,
                                                tick, count, states, None,
                                                tick + min(limit, before_until))
        self.batches += 1
        sampler.stats.missed += missed
        stopped = self.reader.stopped()
        if stopped:
            self.stopped += 1
        # a tick that broke a guard is read live next; batches that end at once back off
        self._backoff = min(max(1, 2 * self._backoff), MAX_BACKOFF) if stopped and done < 2 else 0
        self._wait = max(self._backoff, 1) if stopped else 0
        began = time.perf_counter()
        replayed = self._replay(done, rows, states)
        if sampler.ended is None:
            sampler.stats.missed += done - replayed  # read, but a part could not replay them
        block.follow(previous)
        block.deliver(replayed, on_tick)
        if replayed:
            sampler.follow(block.last_reading())
            self._cost = 0.5 * self._cost + 0.5 * (time.perf_counter() - began) / replayed
        return int(next_tick)

    def _parts(self, now: float) -> Optional[List[BatchPart]]:
        parts: List[BatchPart] = []
        sampler = self.sampler
        for c in sampler.collectors:
            if c.slow:  # on its own thread: each tick takes its mailbox's result of the time
                part = sampler.slow_part(c)
            else:
                part = c.batch_part(now) if sampler.states[c.name].ok else None
            if part is None:
                return None
            parts.append(part)
        return parts

    def _ready(self, parts: List[BatchPart]) -> bool:
        """The reader for these parts (made anew when their keys changed), guarded by them."""
        keys = tuple(p.key for p in parts)
        if keys != self._keys or self.reader is None:
            self.close()
            files: List[Tuple[Any, ...]] = []
            rules: List[Tuple[int, str, int, int, float]] = []
            placed: List[Placed] = []
            width = 0
            for p in parts:
                placed.append((width, len(files), p))
                rules += [(f + len(files), key, token, slot + width, coef)
                          for f, key, token, slot, coef in p.rules]
                files += p.files
                width += p.width
            try:
                if not room_for(len(files)):
                    raise OSError(errno.EMFILE, "fewer than FD_HEADROOM descriptors would be "
                                                "left free")
                self.reader = self.reader_class(files, sorted(rules, key=lambda r: r[0]),
                                                max(width, 1))
            except OSError as exc:  # a file went away, or too many open: tick by tick
                log.debug("batched ticks not possible now: %s", exc)
                self._backoff = self._wait = MAX_BACKOFF
                return False
            self._keys, self._placed = keys, placed
            self._width, self._file_count = max(width, 1), len(files)
        self._placed = [(slot, file, p) for (slot, file, _), p in zip(self._placed, parts)]
        guard = tuple((tuple(p.hold), tuple(p.names or ())) for p in parts)
        if guard != self._guard:
            hold: List[Tuple[int, float]] = []
            names: List[Optional[bytes]] = []
            for slot, _, p in self._placed:
                hold += [(slot + s, v) for s, v in p.hold]
                names += list(p.names) if p.names is not None else [None] * len(p.files)
            self.reader.guard(hold, names)
            self._guard = guard
        return True

    def _replay(self, done: int, rows: Any, states: bytearray) -> int:
        """Each part's replay of the first `done` ticks, into the block's raw rows; returns how
        many ticks were replayed (fewer when a part could not go on: BatchDrift, or the run
        ended)."""
        sampler, block = self.sampler, self.block
        width, files, stamps = self._width, self._file_count, block.stamps
        view = memoryview(rows)
        out: List[float] = []
        pairs = list(zip(self._placed, sampler.collectors))
        replayed = 0
        for i in range(done):
            now = stamps[2 * i]
            row = view[i * width:(i + 1) * width]
            tick_states = bytes(states[i * files:(i + 1) * files])
            for (slot, file, p), c in pairs:
                state = sampler.states[c.name]
                try:
                    part: Sequence[float] = p.replay(now, row[slot:slot + p.width],
                                                     tick_states[file:file + len(p.files)])
                except BatchDrift as exc:
                    log.debug("batch ends: %s", exc)
                    break
                except SourceEnded as exc:
                    sampler.ended = str(exc)
                    sampler.stop()
                    part = exc.values if exc.values is not None else [NAN] * state.width
                except Exception as exc:  # noqa: BLE001 - as a live tick: the collector degrades
                    sampler.fail(state, exc, now)
                    part = [NAN] * state.width
                out += part if len(part) == state.width else [NAN] * state.width
            else:
                replayed += 1
                if sampler.ended is None:
                    continue
            break
        block.rows[:replayed * block.width] = array("d", out[:replayed * block.width])
        return replayed


def room_for(files: int) -> bool:
    """Whether `files` more descriptors leave FD_HEADROOM free under the soft limit."""
    free = free_descriptors()
    return free is None or free - files >= FD_HEADROOM
