"""The Sampler: owns the cadence, calls collectors, derives frames and hands them to sinks.

- Ticks are scheduled at t0 + k * interval on the monotonic clock, so they never drift; a tick
  that comes too late skips the missed slots (counted in `stats.missed`) instead of bunching up.
- A `slow` collector (a driver call that can hang) runs on its own thread and hands over only its
  latest values through a one-slot mailbox, so it can never delay the tick.
- A collector that raises is backed off exponentially (its values are NaN meanwhile) and shown as
  degraded; the others go on.
- Commands (pause, resume, set interval, stop) arrive through a queue: the only path upstream.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple

from .batch import NativeBatch, PartsBatch, native_reader_of, ticks_left
from .collector import BatchPart, Collector, SourceEnded
from .derive import TickDerive, derive, new_carry
from .model import NAN, Frame, MetricSpec, Reading, Schema
from .slow import FIRST_BACKOFF, SLOW_KEEP, Backoff, Mailbox
from .usage import MAX_INTERVAL, MIN_INTERVAL
from .wake import Wake

log = logging.getLogger("memmap_tui")

SHORT_WAIT = 0.02  # waits shorter than this sleep instead of waiting on the wake pipe


class Sink(Protocol):
    """Anything that takes frames: the ring, the CSV writer, the exporter, the run summary.

    A sink that never looks at `frame.reading.tables` (the per-process and per-GPU-process
    rows) may say so with a class attribute `uses_tables = False`: when no sink uses them, the
    collectors are not asked for their tables (a process tree's rows cost a little every tick).
    """

    def open(self, schema: Schema) -> None: ...

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


@dataclass
class SourceState:
    """How one collector is doing, for the TUI header and `memmap_collector_up`."""

    name: str
    width: int
    ok: bool = True
    message: str = ""
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def failures(self) -> int:
        return self.backoff.failures


@dataclass
class Stats:
    ticks: int = 0
    missed: int = 0
    started: float = NAN
    last: float = NAN

    def achieved_hz(self) -> float:
        span = self.last - self.started
        return (self.ticks - 1) / span if self.ticks > 1 and span > 0 else NAN


class SlowRunner(threading.Thread):
    """Calls a slow collector's collect() on its own cadence and posts results to a mailbox."""

    def __init__(self, collector: Collector, state: SourceState, interval: float,
                 clock: Callable[[], float]) -> None:
        super().__init__(name=f"memmap-{collector.name}", daemon=True)
        self.collector, self.state, self.interval, self.clock = collector, state, interval, clock
        # the latest results, and a few before them for a batch's replay (slow_part)
        self.mailbox: Mailbox[Tuple[float, Sequence[float], Any]] = Mailbox(keep=SLOW_KEEP)
        self.stopping = threading.Event()
        self._wake = Wake()  # ends the wait between calls at once on stop()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            wait = self.interval
            try:
                values = self.collector.collect()
                self.mailbox.put((self.clock(), values, self.collector.table()))
                _mark_ok(self.state)
            except Exception as exc:  # noqa: BLE001 - any source failure degrades it
                wait = _mark_failed(self.state, exc, self.interval, self.clock())
            if not self.stopping.is_set():
                self._wake.wait(wait)


def _mark_ok(state: SourceState) -> None:
    if not state.ok:
        log.info("collector %s recovered", state.name)
    state.ok, state.message = True, ""
    state.backoff.succeeded()


def _mark_failed(state: SourceState, exc: BaseException, interval: float, now: float) -> float:
    """Degrade the collector; returns the seconds until it is tried again (the backoff starts
    at the interval, but at least FIRST_BACKOFF)."""
    if state.ok:
        log.warning("collector %s degraded: %s", state.name, exc)
    state.ok, state.message = False, str(exc) or type(exc).__name__
    state.backoff.first = max(interval, FIRST_BACKOFF)
    return state.backoff.failed(now)


class Sampler:
    """collectors -> Reading -> derive() -> Frame -> sinks, at a drift-free cadence."""

    def __init__(self, collectors: Sequence[Collector], interval: float = 0.5,
                 sinks: Sequence[Sink] = (), clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
            raise ValueError(f"interval {interval} s is outside {MIN_INTERVAL}..{MAX_INTERVAL}")
        self.collectors = list(collectors)
        self.interval = interval
        self.sinks = list(sinks)
        self.clock, self.wall = clock, wall
        self.states: Dict[str, SourceState] = {}
        self.stats = Stats()
        self.paused = False
        self.ended: Optional[str] = None  # why the run ended by itself (a watched process exited)
        self.schema = Schema([])
        self._runners: Dict[str, SlowRunner] = {}
        self._prev: Optional[Reading] = None
        self.carry = new_carry(self.schema)  # derive()'s, for every path that derives a tick
        self._commands: queue.SimpleQueue[Tuple[str, Any]] = queue.SimpleQueue()
        self._wake = Wake()
        self._stop = threading.Event()
        self._opened = False
        self._tables = True  # whether any sink reads the collectors' tables (Sink.uses_tables)
        self._stale_after = max(3 * interval, 2.0)
        # > 0: run batches of up to this many seconds of ticks in C when the sources allow it
        # (memmap_tui.batch); frames then reach sinks up to this late.
        self.batch_seconds = 0.0
        self._native: Optional[NativeBatch] = None
        self._parts: Optional[PartsBatch] = None
        self._deriver: Optional[TickDerive] = None  # derive_in_c(): derive() in C per tick

    # -- life cycle --------------------------------------------------------------------------
    def open(self) -> Schema:
        """Open every collector and sink; fixes the schema. Raises if a collector cannot open."""
        specs: List[MetricSpec] = []
        for c in self.collectors:
            c.open()
            own = c.metrics()
            specs += own
            self.states[c.name] = SourceState(c.name, len(own))
        self.schema = Schema(specs)
        self.carry = new_carry(self.schema)
        for c in self.collectors:
            if c.slow:
                runner = SlowRunner(c, self.states[c.name], self.interval, self.clock)
                self._runners[c.name] = runner
                runner.start()
        for sink in self.sinks:
            sink.open(self.schema)
        self._tables = any(getattr(sink, "uses_tables", True) for sink in self.sinks)
        self._opened = True
        return self.schema

    def close(self) -> None:
        """Stop threads, close collectors and sinks (flushing them). Safe to call twice."""
        if self._parts is not None:
            self._parts.close()
        for runner in self._runners.values():
            runner.stop()
        for runner in self._runners.values():
            runner.join(timeout=2.0)
        self._runners = {}
        for c in self.collectors:
            try:
                c.close()
            except Exception as exc:  # noqa: BLE001 - closing must go on for the rest
                log.warning("closing %s: %s", c.name, exc)
        sinks, self.sinks = self.sinks, []
        errors = []
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
        if errors:
            raise errors[0]

    # -- commands (the only path upstream) ---------------------------------------------------
    def command(self, name: str, value: Any = None) -> None:
        """Queue 'pause', 'resume', 'toggle', ('interval', seconds) or 'stop'; thread-safe."""
        if name == "stop":
            self._stop.set()
        self._commands.put((name, value))
        self._wake.set()
        self._cancel_batch()

    def stop(self) -> None:
        """Ask run() to return after the tick in progress (safe from a signal handler)."""
        self._stop.set()
        self._wake.set()
        self._cancel_batch()

    def _cancel_batch(self) -> None:
        """End a batch of ticks running in C early, so commands and stop act within ~20 ms."""
        for batch in (self._native, self._parts):
            reader = batch.reader if batch is not None else None
            if reader is not None:
                reader.cancel()

    def _apply_commands(self) -> bool:
        """Apply queued commands; True when the schedule must restart from now."""
        restart = False
        while not self._commands.empty():
            try:
                name, value = self._commands.get_nowait()
            except queue.Empty:
                return restart
            if name in ("pause", "resume", "toggle"):
                self.paused = (not self.paused) if name == "toggle" else name == "pause"
                restart = True
            elif name == "interval":
                self.interval = min(max(float(value), MIN_INTERVAL), MAX_INTERVAL)
                self._stale_after = max(3 * self.interval, 2.0)
                for runner in self._runners.values():
                    runner.interval = self.interval
                restart = True
        return restart

    def derive_in_c(self) -> None:
        """From now on derive each tick with the C twin of derive() where it is built (after
        open()). Its frames hold floats where derive() passes a gauge's raw object through (an
        int stays an int): the same text in a CSV cell, so `record` asks for it."""
        self._deriver = TickDerive(self.schema, self.carry)

    # -- sampling ----------------------------------------------------------------------------
    def sample(self) -> Frame:
        """Take one reading now, derive the frame and hand it to every sink."""
        now = self.clock()
        values: List[float] = []
        tables: Dict[str, Any] = {}
        for c in self.collectors:
            state = self.states[c.name]
            part, table = self._collect_one(c, state, now)
            if len(part) != state.width:
                part = [NAN] * state.width
            values += part
            if table is not None:
                tables[c.name] = table
        return self.emit(now, self.wall(), values, tables)

    def emit(self, now: float, wall: float, values: List[float],
             tables: Dict[str, Any]) -> Frame:
        """Derive the frame of a tick read at `now` and hand it to every sink."""
        reading = Reading(now, wall, values, tables)
        deriver = self._deriver
        frame = (derive(self.schema, self._prev, reading, self.carry) if deriver is None
                 else deriver(self._prev, reading))
        self._prev = reading
        for sink in self.sinks:
            sink.write(frame)
        return frame

    def _collect_one(self, c: Collector, state: SourceState, now: float):
        runner = self._runners.get(c.name)
        if runner is not None:
            return self._taken(runner.mailbox.peek(), now, state.width)
        if not state.ok and not state.backoff.due(now):
            return [NAN] * state.width, None
        try:
            part = c.collect()
        except SourceEnded as exc:
            self.ended = str(exc)
            self.stop()
            if exc.values is not None:
                return exc.values, c.table() if self._tables else None
            return [NAN] * state.width, None
        except Exception as exc:  # noqa: BLE001 - a broken source degrades, the rest go on
            self.fail(state, exc, now)
            return [NAN] * state.width, None
        _mark_ok(state)
        return part, c.table() if self._tables else None

    def _taken(self, item: Optional[Tuple[float, Sequence[float], Any]], now: float,
               width: int) -> Tuple[Sequence[float], Any]:
        """(values, table) a tick at `now` takes from a slow collector's result `item` (None:
        none yet): NaN when there is none, or it is older than the ticks may show."""
        if item is None or now - item[0] > self._stale_after:
            return [NAN] * width, None
        return item[1], item[2]

    def slow_part(self, c: Collector) -> Optional[BatchPart]:
        """A slow collector's share of a batch (batch.PartsBatch): no files; each tick replays
        what the tick would have taken from its mailbox, the latest result posted by then (NaN
        when none, or one older than the live path allows)."""
        runner = self._runners.get(c.name)
        if runner is None:
            return None
        width = self.states[c.name].width
        recent: List[Tuple[float, Sequence[float], Any]] = []

        def replay(now: float, _values: Sequence[float], _states: bytes) -> Sequence[float]:
            if not recent:  # replayed after the batch: what was posted by its ticks is there
                recent[:] = runner.mailbox.recent()
            posted = (item for item in reversed(recent) if item[0] <= now)
            return self._taken(next(posted, None), now, width)[0]

        return BatchPart(("slow", c.name), [], [], 0, replay)

    def last_reading(self) -> Optional[Reading]:
        """The raw reading of the last tick (None before the first)."""
        return self._prev

    def follow(self, reading: Optional[Reading]) -> None:
        """The next tick comes after `reading` (the last of a batch): its rates start there."""
        self._prev = reading

    def fail(self, state: SourceState, exc: BaseException, now: float) -> None:
        """A collector raised: it is degraded and backed off (its values NaN meanwhile)."""
        _mark_failed(state, exc, self.interval, now)

    def _parts_batch(self) -> Optional[PartsBatch]:
        """Batches of replayed ticks (memmap_tui.batch.PartsBatch), where they may serve: a
        batch length is asked for, and no sink reads the tables."""
        if self.batch_seconds <= 0 or self._tables:
            return None
        try:
            return PartsBatch(self, self.batch_seconds)
        except ImportError:
            return None

    def _native_batch(self) -> Optional[NativeBatch]:
        if self.batch_seconds <= 0:
            return None
        reader = native_reader_of(self.collectors)
        if reader is None:
            return None
        try:
            return NativeBatch(self, reader, self.batch_seconds)
        except ImportError:
            return None

    def _native_again(self, failed_reader: Any) -> Optional[NativeBatch]:
        """After a live tick that followed a failed batch read: batches again when the
        collector read that tick with a new reader (it made one without the failed file)."""
        reader = native_reader_of(self.collectors)
        if reader is None or reader is failed_reader:
            return None
        native = self._native = self._native_batch()
        if native is not None and self._prev is not None:
            native.follow(self._prev)
        return native

    def _idle(self, remaining: float) -> None:
        """Wait for the next tick, a command or stop(). Short waits sleep (cheap at 1 kHz);
        long ones wait on the wake pipe (memmap_tui/wake.py) so that commands and stop() act
        at once."""
        if not self.paused and remaining < SHORT_WAIT:
            time.sleep(remaining)
            return
        if not self._stop.is_set() and self._commands.empty():
            self._wake.wait(None if self.paused else min(remaining, 0.25))

    def run(self, duration: Optional[float] = None,
            on_tick: Optional[Callable[[Frame], None]] = None) -> Stats:
        """Sample until stop() (or `duration` seconds); returns the tick statistics."""
        if not self._opened:
            self.open()
        t0 = self.clock()
        k = 0
        end = None if duration is None else t0 + duration + 1e-6
        self.stats.started = t0
        native = self._native = self._native_batch()
        parts = self._parts = self._parts_batch() if native is None else None
        try_parts = True  # a PartsBatch is tried once after each live tick (it may back off)
        failed_reader = None  # the native reader of a batch that a failed read ended
        while not self._stop.is_set():
            if self._apply_commands():
                t0, k = self.clock(), 0
            now = self.clock()
            due = t0 + k * self.interval
            if end is not None and due > end:
                break
            if native is not None and not self.paused:
                try:
                    k = native.run(t0, k, ticks_left(end, t0, k, self.interval), on_tick)
                    if not native.read_failed:
                        continue
                    log.warning("batched sampling paused: a read failed; that tick is read "
                                "live")
                    failed_reader = native.reader
                except OSError as exc:  # the per-tick path degrades and backs off properly
                    log.warning("batched sampling stopped: %s", exc)
                self._prev = native.last_reading()
                native = self._native = None
                continue  # the clock and the due tick afresh: the batch took time
            if parts is not None and try_parts and not self.paused:
                try_parts = False
                try:
                    batched = parts.run(t0, k, ticks_left(end, t0, k, self.interval), on_tick)
                except OSError as exc:  # the reader broke: tick by tick from now on
                    log.warning("batched sampling stopped: %s", exc)
                    batched, parts = None, None
                if batched is not None:
                    k, try_parts = batched, True
                    continue
            if now < due or self.paused:
                self._idle(due - now)
                continue
            try_parts = True
            frame = self.sample()
            if failed_reader is not None:
                native, failed_reader = self._native_again(failed_reader), None
            self.stats.ticks += 1
            self.stats.last = now
            if on_tick is not None:
                on_tick(frame)
            k += 1
            late = self.clock() - (t0 + k * self.interval)
            if late >= self.interval:  # whole slots went by: skip them rather than bunch up
                skipped = int(math.floor(late / self.interval))
                self.stats.missed += skipped
                k += skipped
        return self.stats
