"""`memmap record`: headless CSV recording with clean stops and a one-line summary."""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, List, Optional, TextIO

from ..model import Frame
from ..pipeline import build_sampler, log_to_stderr, open_sampler
from ..safetext import printable
from ..sampler import Sampler, Stats
from ..signals import held_signals, restore_signals, stop_on_signals
from ..sinks.csv import FLUSH_SECONDS, CsvSink, write_failure
from ..units import fmt_counted
from .output import PendingFile, check_output

# Where the sources allow, ticks run in C in batches of at most this long (memmap_tui.batch),
# and each batch is written as it ends: a row reaches the file within half a second of being
# sampled, at every interval, and SIGKILL loses at most that (the README's guarantee). Each batch
# costs ~0.2 ms of Python and a write(), so this is also the cheapest length that keeps it.
BATCH_SECONDS = FLUSH_SECONDS


def start_recording(args: Any, pending: PendingFile, sinks: List[Any],
                    signals: Optional[Dict[int, Any]] = None) -> Sampler:
    """Build and open the sampler, then put the recording in place of the target: the run has
    started. On any failure the target is untouched and the temporary file is removed.

    Given `signals` (a dict), the stop signals are routed to the run's stop in the same step as
    the file is put in place (the handlers they had go into the dict): a signal before it ends
    the start-up with the target untouched, one after it stops the run cleanly."""
    sampler: Optional[Sampler] = None
    try:
        sampler = build_sampler(args, sinks)
        open_sampler(sampler)
        with held_signals():
            pending.publish()
            if signals is not None:
                signals.update(stop_on_signals(sampler.stop))
        return sampler
    except BaseException:
        with held_signals():  # a signal now ends memmap after the clean-up, not inside it
            if sampler is not None:
                sampler.close()
            for sink in sinks:
                sink.close()
            pending.discard()
        raise


class Progress:
    """A progress bar on stderr, drawn at most 4 times a second, only on a terminal."""

    def __init__(self, duration: float, stream: TextIO, stats: Stats) -> None:
        self.duration, self.stream, self.stats = duration, stream, stats
        self.start = time.monotonic()
        self._drawn = 0.0

    def __call__(self, frame: Frame) -> None:
        now = time.monotonic()
        if now - self._drawn < 0.25:
            return
        self._drawn = now
        done = min((now - self.start) / self.duration, 1.0) if self.duration > 0 else 1.0
        bar = "#" * int(done * 30)
        self.stream.write(f"\r[{bar:<30}] {now - self.start:6.1f}/{self.duration:g} s "
                          f"{self.stats.ticks} rows")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()


def run_record(args: Any) -> int:
    log_to_stderr()
    target = check_output(args.output, args.force)
    pending: Optional[PendingFile] = None
    try:  # a stop signal from the temporary file's creation to start_recording removes it
        with held_signals():  # made whole, then named here, before a signal is let through
            pending = PendingFile(target)
        sink = CsvSink(args.output, fd=pending.fd)
    except BaseException:
        if pending is not None:
            pending.discard()
        raise
    previous: Dict[int, Any] = {}
    sampler = start_recording(args, pending, [sink], previous)
    sink.on_failure = lambda _error: sampler.stop()  # nothing left to record
    try:  # to the summary's last line a signal only stops the run (it has ended: nothing)
        return _record(args, sampler, sink)
    finally:
        restore_signals(previous)


def _record(args: Any, sampler: Any, sink: CsvSink) -> int:
    """Run the recording to its end, then say what it recorded; the exit status."""
    progress: Optional[Progress] = None
    try:
        if args.duration is not None and sys.stderr.isatty():
            progress = Progress(args.duration, sys.stderr, sampler.stats)
        sampler.batch_seconds = BATCH_SECONDS
        sampler.derive_in_c()  # the ticks that are not batched: only CSV text is made of them
        stats = sampler.run(args.duration, on_tick=progress)
    finally:
        try:  # closed (every row written)
            sampler.close()
        finally:
            if progress is not None:
                progress.finish()
    span = stats.last - stats.started if stats.ticks > 1 else 0.0
    hz = stats.achieved_hz()
    rate = f"{hz:.1f} Hz" if hz == hz else "-"
    if sampler.ended:
        print(f"memmap: {sampler.ended}; recording stopped", file=sys.stderr)
    if sink.failed is not None:
        print(f"memmap: {write_failure(sink)}", file=sys.stderr)
    print(f"memmap: recorded {fmt_counted(sink.rows, 'row')} over {span:.1f} s to "
          f"{printable(args.output)} ({rate}, {stats.missed} missed ticks)", file=sys.stderr)
    return 1 if sink.failed is not None else 0
