"""Which panes the TUI shows and which rows they hold, from what the metrics say they are for.

Each metric's spec names its pane, label, rank, full scale and notes (memmap_tui.roles); this
module only groups and orders them, so a new collector's metrics appear in their pane without a
change here. A pane with no metric does not exist: the GPU and process panes appear only where
their collectors run and give their room away otherwise. How red a row turns comes from its
roles, through one table (LEVELS) tied to the diagnosis's thresholds.
Pure data, no Textual import: the widgets turn these specs into lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Set, Tuple

from .. import roles as R
from ..model import MetricSpec, Schema
from ..verdict import MEMORY_FULL_THRESHOLD, MEMORY_SOME_THRESHOLD, WAIT_THRESHOLD

# How a row's graph is scaled: BAR: part of `total` (memory); RATE: bytes/s, of `total` (a link's
# capacity) when given, else of the window's peak; PERCENT: 0..100; VALUE: of the window's peak.
BAR, RATE, PERCENT, VALUE = "bar", "rate", "percent", "value"
NOTE_WIDTH = 8  # one note column as units.format_value writes it: "71 °C", "1980 MHz"


@dataclass(frozen=True)
class Row:
    label: str
    column: str
    kind: str
    total: str = ""  # the column that is the full scale (memory total, link capacity)
    notes: Tuple[Tuple[str, str], ...] = ()  # (column, "PSS {}"): more values after the value
    warn: float = 0.0  # from this percent (of the full scale, for BAR) the row is a warning
    bad: float = 0.0  # ... and from this one it is bad (0: never)

    @property
    def note_width(self) -> int:
        """The most cells the row's note can take ("of 1023.99 GiB", "100 % of link", ...)."""
        if self.kind == BAR:
            return len("of 1023.99 GiB") + sum(len(t) - 1 + NOTE_WIDTH for _, t in self.notes)
        if self.kind == RATE and self.total:
            return len("100 % of link")
        return sum(len(t) - 2 + NOTE_WIDTH + 1 for _, t in self.notes) - 1 if self.notes else 0


@dataclass(frozen=True)
class PaneSpec:
    key: str
    number: int
    title: str
    rows: Tuple[Row, ...]
    table: str = ""  # the Reading.tables entry this pane lists (the process tree)


MEMORY, THROUGHPUT, WAITING, GPU, PROCESS = R.MEMORY, R.THROUGHPUT, R.WAITING_PANE, R.GPU, R.PROCESS
PANE_TITLES = {MEMORY: "Memory", THROUGHPUT: "Throughput", WAITING: "Waiting",
               GPU: "GPU", PROCESS: "Process"}
PANE_ORDER = (MEMORY, THROUGHPUT, WAITING, GPU, PROCESS)
WAIT_WARN = 5.0
# (warn, bad) of a row by its roles: percent of its full scale for a bar, else of its value.
# The waiting and stall rows turn red where the diagnosis would speak of them.
LEVELS: Tuple[Tuple[str, float, float], ...] = (
    (R.WAITING, WAIT_WARN, WAIT_THRESHOLD),
    (R.WAITING_FULL, WAIT_WARN, WAIT_THRESHOLD),
    (R.MEMORY_STALL, 5.0, MEMORY_SOME_THRESHOLD),
    (R.MEMORY_STALL_FULL, 1.0, MEMORY_FULL_THRESHOLD),
    (R.RAM_USED, 80.0, 90.0),
    (R.SWAP_USED, 50.0, 80.0),
    (R.GPU_MEMORY, 90.0, 97.0),
)


def levels(spec: MetricSpec) -> Tuple[float, float]:
    """(warn, bad) for a metric's row: from the first of its roles in LEVELS; (0, 0): never."""
    return next(((warn, bad) for role, warn, bad in LEVELS if role in spec.roles), (0.0, 0.0))


def graph_kind(spec: MetricSpec, column: str, total: str) -> str:
    """How a column's row is drawn, by its unit (the column names its unit last); a percent
    of one core goes past 100 with two busy cores, so it is scaled to its peak like a value."""
    if column.endswith("bytes_per_second"):
        return RATE
    if (column.endswith("_percent") or column.endswith(".percent")) and not spec.has(R.CPU_CORES):
        return PERCENT
    if column.endswith("bytes") and total:
        return BAR
    return VALUE


def _full_scale(spec: MetricSpec, schema: Schema, cols: Set[str]) -> str:
    """The column that is the row's full scale: the one named, or the first with that role."""
    if spec.total in cols:
        return spec.total
    if spec.total in R.ROLES:
        found = schema.first(spec.total)
        return found.column or "" if found else ""
    return ""


def _shown(spec: MetricSpec, schema: Schema) -> bool:
    """A metric with a pane, unless it stands in for a role another metric has."""
    if not spec.pane:
        return False
    if spec.instead_of:
        return not any(o is not spec and spec.instead_of in o.roles and not o.instead_of
                       for o in schema.column_specs)
    return True


def _row(spec: MetricSpec, schema: Schema, cols: Set[str]) -> Row:
    column = spec.column or spec.name
    total = _full_scale(spec, schema, cols)
    notes = tuple(n for n in spec.notes if n[0] in cols)
    warn, bad = levels(spec)
    return Row(spec.shown_label, column, graph_kind(spec, column, total), total, notes, warn, bad)


def build_panes(schema: Schema, tables: Iterable[str] = ()) -> List[PaneSpec]:
    """The panes these metrics feed, in order; a pane with no metric is left out.

    `tables`: names of per-entity tables the source gives ("process"), which also make the
    process pane appear.
    """
    cols = set(schema.columns)
    by_pane: Dict[str, List[MetricSpec]] = {}
    for spec in schema.column_specs:
        if _shown(spec, schema):
            by_pane.setdefault(spec.pane, []).append(spec)
    panes = []
    for number, key in enumerate(PANE_ORDER, start=1):
        specs = sorted(by_pane.get(key, []), key=lambda s: s.rank)  # stable: schema order
        rows = tuple(_row(s, schema, cols) for s in specs)
        table = "process" if key == PROCESS and ("process" in tables or rows) else ""
        if rows or table:
            panes.append(PaneSpec(key, number, PANE_TITLES[key], rows, table))
    return panes


def graphed_columns(panes: Iterable[PaneSpec]) -> List[str]:
    """Every column a row draws a graph of, once each."""
    return list(dict.fromkeys(r.column for p in panes for r in p.rows))


def find_pane(panes: Iterable[PaneSpec], key: str) -> Optional[PaneSpec]:
    return next((p for p in panes if p.key == key), None)
