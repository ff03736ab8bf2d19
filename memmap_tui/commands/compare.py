"""`memmap report A.csv B.csv`: two recordings side by side, for "what did my change do?".

Each recording is read into the same figures, found by role through the collectors' catalogues
(memmap_tui.catalog): the tree's and the host's throughput, the waiting share, the tree's CPU
and busiest thread, every memory peak, memory growth after start-up, and the cause with its
phases (memmap_tui.verdict, memmap_tui.phases). Each figure of B is given as a change in % of A.
What the reader had to make of either file (a cut last line, values read as not available) is
said as the single-file report says it, naming the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

from rich.console import Console
from rich.table import Table

from .. import roles as R
from ..catalog import schema_for_columns
from ..csvread import Recording
from ..figures import mean
from ..model import MetricSpec, Schema
from ..phases import phases_of_rows, whole_run
from ..sinks.aggregates import Growth
from ..units import fmt_bytes, fmt_percent, fmt_rate, fmt_seconds
from ..verdict import Verdict, diagnose, waiting_share
from .report import reading_notes

NAN = math.nan
# (role set, label prefix) of the flows compared, tree first
FLOWS: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    ((R.BYTES_READ, R.TREE), "read through calls"), ((R.STORAGE_READ, R.TREE), "read from storage"),
    ((R.BYTES_WRITTEN, R.TREE), "written through calls"),
    ((R.STORAGE_WRITTEN, R.TREE), "written to storage"))
CPU = (((R.CPU_CORES, R.TREE), "tree CPU (% of a core)"),
       ((R.THREAD_MAX, R.TREE), "busiest thread (% of a core)"),
       ((R.PROCESS_MAX, R.TREE), "busiest process (% of a core)"),
       ((R.CPU_BUSY, R.HOST), "all CPUs"))


@dataclass
class Digest:
    """One recording's figures: (label, value, how it is written) in a fixed order."""

    path: str
    duration: float
    figures: List[Tuple[str, float, Callable[[float], str]]] = field(default_factory=list)
    verdict: Optional[Verdict] = None
    phases: List[str] = field(default_factory=list)


def _values(rec: Recording, spec: Optional[MetricSpec]) -> Sequence[float]:
    return rec.column(spec.column) if spec is not None and spec.column else ()


def digest(rec: Recording) -> Digest:
    """The figures a comparison shows, for one recording."""
    schema = schema_for_columns(rec.metrics)
    window = rec.window()
    out = Digest(rec.path, rec.duration)
    add = out.figures.append
    for roles, label in FLOWS:
        add((label, mean(_values(rec, schema.first(*roles))), fmt_rate))
    for spec in schema.having(R.THROUGHPUT_FLOW):
        add((spec.shown_label, mean(_values(rec, spec)), fmt_rate))
    share, _ = waiting_share(window, schema)
    add(("waiting for data", share, fmt_percent))
    for roles, label in CPU:
        add((label, mean(_values(rec, schema.first(*roles))), fmt_percent))
    for spec in schema.having(R.MEMORY_PEAK):
        good = [v for v in _values(rec, spec) if not math.isnan(v)]
        add((f"peak {spec.shown_label}", max(good) if good else NAN, fmt_bytes))
    add(_growth(rec, schema))
    phases = phases_of_rows(schema, list(rec.rows()))
    out.verdict = whole_run(diagnose(window, schema), phases)
    out.phases = [f"{p.start:.0f}-{p.end:.0f} s {p.cause}" for p in phases]
    return out


def _growth(rec: Recording, schema: Schema) -> Tuple[str, float, Callable[[float], str]]:
    spec = schema.first(R.MEMORY_GROWTH)
    growth = Growth()
    for t, v in zip(rec.timestamps, _values(rec, spec)):
        if not math.isnan(v):
            growth.add(t, v)
    per_minute, _ = growth.per_minute()
    label = f"{spec.shown_label if spec else 'memory'} growth per minute"
    return label, per_minute, fmt_bytes


def change(before: float, after: float) -> str:
    """B as a change in % of A: '+12 %', '-40 %', '0 %'; '-' where A is 0 or unknown."""
    if math.isnan(before) or math.isnan(after) or before == 0:
        return "-"
    delta = 100.0 * (after - before) / abs(before)
    return f"{delta:+.0f} %" if abs(delta) >= 0.5 else "0 %"


def comparison_table(a: Digest, b: Digest) -> Table:
    """One row per figure that either recording has: A, B and the change."""
    table = Table(title="Side by side", title_justify="left")
    table.add_column("figure", overflow="fold")
    for heading in ("A", "B", "change"):
        table.add_column(heading, justify="right", no_wrap=True)
    table.add_row("duration", fmt_seconds(a.duration), fmt_seconds(b.duration),
                  change(a.duration, b.duration))
    others = {label: (value, fmt) for label, value, fmt in b.figures}
    seen = set()
    for label, value, fmt in a.figures:
        other, _ = others.get(label, (NAN, fmt))
        seen.add(label)
        if not (math.isnan(value) and math.isnan(other)):
            table.add_row(label, fmt(value), fmt(other), change(value, other))
    for label, value, fmt in b.figures:
        if label not in seen and not math.isnan(value):
            table.add_row(label, "-", fmt(value), "-")
    table.add_row("cause", a.verdict.cause if a.verdict else "-",
                  b.verdict.cause if b.verdict else "-", "")
    return table


def print_comparison(console: Console, first: Recording, second: Recording) -> None:
    a, b = digest(first), digest(second)
    console.print(f"A: {a.path}", soft_wrap=True)
    console.print(f"B: {b.path}", soft_wrap=True)
    for rec in (first, second):
        for note in reading_notes(rec):
            console.print(f"note: {rec.path}: {note}", style="yellow", soft_wrap=True)
    console.print(comparison_table(a, b))
    for name, d in (("A", a), ("B", b)):
        if d.verdict is not None:
            console.print(f"{name} verdict: {d.verdict.text}", soft_wrap=True)
        if len(d.phases) > 1:
            console.print(f"{name} phases: {'; '.join(d.phases)}", soft_wrap=True)
