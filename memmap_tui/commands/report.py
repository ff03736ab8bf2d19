"""`memmap report FILE.csv`: what a recording says, on one screen.

- one line about the recording (samples, span, interval, when), and a note when its last line
  was cut by a killed recorder;
- the verdict over the whole recording (memmap_tui.verdict: the TUI's headline), the share of
  time spent waiting for data and memory at start, end and peak;
  what each column is for comes from the collectors' catalogues (memmap_tui.catalog), so the
  report asks for roles as the live modes do and never spells a column name;
- a table, one row per metric: mean, p50, p95 and max in human units (memmap_tui.units);
- plots over time of memory, throughput and waiting (memmap_tui/commands/charts.py).
The recording is read by memmap_tui.csvread, which refuses a file that is not one (exit 2).
Text from the file (column names) and the path are printed with Rich markup off and control
characters escaped (memmap_tui.safetext): a recording cannot style, retitle or clear the
terminal. Timestamps that go backwards (a clock set back while recording) are counted as no
time passing: spans and plots use forward time, and a note says how often it happened.
"""

from __future__ import annotations

import fnmatch
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

from rich.console import Console
from rich.table import Table

from .. import roles as R
from ..catalog import schema_for_columns
from ..collector import UsageError
from ..csvread import Recording, load_recording
from ..figures import count_weights, gpu_utilisation, weighted_mean
from ..model import Schema
from ..phases import phases_of_rows, whole_run
from ..safetext import printable
from ..units import (
    fmt_bytes,
    fmt_counted,
    fmt_duration,
    fmt_percent,
    fmt_seconds,
    format_value,
)
from ..verdict import BAD, WARN, diagnose, waiting_share
from .charts import line_chart

# (title, the metrics it draws: those with every role of one of these sets, value scaling)
CHARTS: Tuple[Tuple[str, Tuple[Tuple[str, ...], ...], str], ...] = (
    ("Memory", ((R.MEMORY_PEAK,), (R.RAM_USED,), (R.SWAP_USED,), (R.GPU_MEMORY,)), "bytes"),
    ("Throughput", ((R.THROUGHPUT_FLOW,), (R.BYTES_READ, R.TREE), (R.BYTES_WRITTEN, R.TREE),
                    (R.STORAGE_READ, R.TREE), (R.STORAGE_WRITTEN, R.TREE)), "rate"),
    ("Waiting for data", ((R.WAITING,),), "percent"),
)
_BYTES = ((2.0 ** 30, "GiB"), (2.0 ** 20, "MiB"), (2.0 ** 10, "KiB"), (1.0, "B"))
_RATES = ((1e9, "GB/s"), (1e6, "MB/s"), (1e3, "kB/s"), (1.0, "B/s"))


@dataclass(frozen=True)
class Summary:
    """One metric over the recording; every figure ignores NaN (not available) values."""

    column: str
    mean: float
    p50: float
    p95: float
    max: float


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of sorted values, interpolated linearly; NaN when empty."""
    if not ordered:
        return math.nan
    at = q * (len(ordered) - 1)
    low = int(math.floor(at))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def summarise(column: str, values: Sequence[float],
              counts: Optional[Sequence[float]] = None) -> Optional[Summary]:
    """mean, p50, p95, max of the values that exist; None when there are none. With `counts`
    (a ratio of two counts, such as seconds per request: each row's requests per second), the
    mean weighs each row by its count, so that it is the window's ratio (memmap_tui.figures:
    by the rate, as rows are evenly spaced; the CSV's wall-clock stamps are not, across a clock
    step or a suspend); the percentiles and the maximum stay those of the rows."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return None
    average = (weighted_mean(values, counts) if counts is not None
               else math.fsum(ordered) / len(ordered))
    return Summary(column, average, percentile(ordered, 0.5), percentile(ordered, 0.95),
                   ordered[-1])


def select_columns(available: Sequence[str], wanted: Optional[str]) -> List[str]:
    """The metric columns named by --columns (names or shell patterns), in recording order."""
    if not wanted:
        return list(available)
    patterns = [p.strip() for p in wanted.split(",") if p.strip()]
    if not patterns:
        raise UsageError(f"--columns '{wanted}' names no column")
    for p in patterns:
        if not any(fnmatch.fnmatchcase(c, p) for c in available):
            known = ", ".join(available[:6]) + (", ..." if len(available) > 6 else "")
            raise UsageError(f"--columns: no column matches '{p}' (the recording has {known})")
    return [c for c in available if any(fnmatch.fnmatchcase(c, p) for p in patterns)]


def describe(rec: Recording) -> str:
    """`run.csv: 30 samples over 2.9 s, every 0.10 s, 2025-01-01 12:00:00 to 12:00:03`."""
    stamps = rec.timestamps
    steps = sorted(b - a for a, b in zip(stamps, stamps[1:]) if b >= a)
    step = float(f"{percentile(steps, 0.5):.3g}") if steps else math.nan  # 0.000999 -> 1 ms
    # under 0.1 s, "0.0 s" would say nothing: 1 kHz reads "every 1.0 ms"
    every = f", every {fmt_duration(step) if step < 0.1 else fmt_seconds(step)}" if steps else ""
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamps[0]))
    end = time.strftime("%H:%M:%S", time.localtime(stamps[-1]))
    return (f"{printable(rec.path)}: {len(rec)} samples over {fmt_seconds(rec.duration)}"
            f"{every}, {start} to {end}")


def reading_notes(rec: Recording) -> List[str]:
    """What the reader had to make of the file: a cut last line, a clock set back, values that
    were no measurement. Without the 'note: ' each is printed after, so that a comparison of
    two files can say which file a note is about."""
    notes = []
    if rec.cut:
        notes.append("the last line was cut short (was the recorder killed?); it is left out")
    if rec.backward:
        notes.append(f"the timestamps go back {fmt_counted(rec.backward, 'time')} (by up to "
                     f"{fmt_seconds(rec.most_back)}: a clock set back?); spans and plots count "
                     "such a step as no time")
    if rec.dropped:
        notes.append(f"{fmt_counted(rec.dropped, 'value')} infinite or "
                     "beyond 1e30 read as not available")
    return notes


def headline_lines(rec: Recording, schema: Schema) -> List[Tuple[str, str]]:
    """(style, text) lines: the verdict, its phases, waiting, GPUs and memory over the whole
    recording."""
    window = rec.window()
    phases = phases_of_rows(schema, list(rec.rows()))
    found = whole_run(diagnose(window, schema), phases)
    style = {BAD: "bold red", WARN: "bold yellow"}.get(found.level, "bold green")
    lines = [(style, f"Verdict: {found.text}")]
    if len(phases) > 1:
        lines.append(("", "Phases: " + "; ".join(
            f"{p.start:.1f}-{p.end:.1f} s {p.verdict.text}" for p in phases)))
    share, source = waiting_share(window, schema)
    if source is None or math.isnan(share):
        lines.append(("", "Waiting for data: not measured in this recording"))
    else:
        lines.append(("", f"Waiting for data: {fmt_percent(share)} of the time "
                          f"({source.shown_label}, {source.column})"))
    for name, util in gpu_utilisation(window, schema):
        lines.append(("", f"{name}: busy {fmt_percent(util)} on average"))
    for spec in schema.having(R.MEMORY_PEAK):
        good = [v for v in window.get(spec.column or "", ()) if not math.isnan(v)]
        if good:
            lines.append(("", f"Memory {spec.shown_label}: {fmt_bytes(good[0])} at start, "
                              f"{fmt_bytes(good[-1])} at end, peak {fmt_bytes(max(good))}"))
    return lines


def metrics_table(rec: Recording, columns: Sequence[str], schema: Schema
                  ) -> Tuple[Table, int]:
    """The per-metric table, and how many chosen columns had no value at all (left out). A
    ratio of two counts is averaged over the counts (figures.count_weights)."""
    table = Table(title="Per metric, over the whole recording", title_justify="left")
    table.add_column("metric", overflow="fold")
    for heading in ("mean", "p50", "p95", "max"):
        table.add_column(heading, justify="right", no_wrap=True)
    empty = 0
    weights = count_weights(schema)
    for column in columns:
        base = weights.get(column)
        s = summarise(column, rec.column(column), rec.column(base) if base else None)
        if s is None:
            empty += 1
            continue
        table.add_row(column, *(format_value(column, v) for v in (s.mean, s.p50, s.p95, s.max)))
    return table, empty


def _scale(kind: str, peak: float) -> Tuple[float, str]:
    if kind == "percent":
        return 1.0, "%"
    for divisor, unit in _BYTES if kind == "bytes" else _RATES:
        if peak >= divisor:
            return divisor, unit
    return 1.0, "B" if kind == "bytes" else "B/s"


def charts(rec: Recording, schema: Schema, columns: Sequence[str], width: int, color: bool
           ) -> List[str]:
    """Memory, throughput and waiting over time, each in the unit its peak suits."""
    minutes = rec.duration > 600
    xs = [t / (60.0 if minutes else 1.0) for t in rec.elapsed()]
    wanted = set(columns)
    out = []
    for title, role_sets, kind in CHARTS:
        chosen = [s for s in schema.column_specs
                  if s.column in wanted and any(s.has(*roles) for roles in role_sets)]
        peak = max((v for s in chosen for v in rec.column(s.column or "") if not math.isnan(v)),
                   default=0.0)
        divisor, unit = _scale(kind, peak)
        series = [(s.shown_label, xs, [v / divisor for v in rec.column(s.column or "")])
                  for s in chosen]
        text = line_chart(f"{title} ({unit})", series, width=width, height=14,
                          xlabel="minutes" if minutes else "seconds", color=color)
        if text:
            out.append(text)
    return out


def _load(path: str) -> Recording:
    rec = load_recording(path)
    if not len(rec):
        raise UsageError(f"{path} is a memmap recording, but it holds no samples yet")
    return rec


def run_report(args: Any) -> int:
    rec = _load(args.file)
    other = _load(args.other) if getattr(args, "other", None) else None
    columns = select_columns(rec.metrics, args.columns)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    width = shutil.get_terminal_size((120, 24)).columns  # a file or pipe gets 120 columns
    # markup off: column names and paths come from the file and the user, never styling
    console = Console(highlight=False, markup=False, no_color=not color, width=width)
    if other is not None:
        from .compare import print_comparison

        print_comparison(console, rec, other)
        return 0
    console.print(describe(rec), soft_wrap=True)
    for note in reading_notes(rec):
        console.print(f"note: {note}", style="yellow", soft_wrap=True)
    schema = schema_for_columns(rec.metrics)
    for style, text in headline_lines(rec, schema):
        console.print(text, style=style or None, soft_wrap=True)
    table, empty = metrics_table(rec, columns, schema)
    console.print(table)
    if empty:
        console.print(f"({fmt_counted(empty, 'column')} without any value left out)")
    for chart in charts(rec, schema, columns, max(40, min(width, 120)), color):
        sys.stdout.write("\n" + chart + "\n")
    sys.stdout.flush()
    return 0
