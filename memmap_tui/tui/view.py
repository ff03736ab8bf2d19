"""What each pane row says right now: texts, a bar, graph levels and a level (ok/warn/bad).

Pure functions from (pane spec, history) to comparable values: a pane widget redraws only the
lines whose view changed. Numbers go through memmap_tui.units, like everywhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..units import fmt_bytes, fmt_number, fmt_percent, fmt_rate, format_value
from .history import History
from .panes import BAR, PERCENT, RATE, PaneSpec, Row

LEVELS = 32  # graph resolution: 0..LEVELS, -1 = no data; the widget maps it to its height
RATE_FLOOR = 1e7  # a graph of bytes/s scales to at least 10 MB/s: a trickle stays low
OK, WARN, BAD = "ok", "warn", "bad"


@dataclass(frozen=True)
class RowView:
    label: str
    value: str
    note: str = ""
    bar: int = -1  # the current part of the full scale in percent, -1 for no bar
    levels: Tuple[int, ...] = ()
    level: str = OK


@dataclass(frozen=True)
class PaneView:
    rows: Tuple[RowView, ...] = ()
    table: Tuple[Tuple[str, ...], ...] = ()  # the process tree's lines, header first
    state: str = ""  # said beside the pane's title ("exited": the watched tree is gone)


EXITED = "exited"


class _SeriesMemo:
    """What was worked out from a graph's series, kept while History hands out the same list
    (it does until a bucket completes): a redraw then only formats the values."""

    LIMIT = 256

    def __init__(self) -> None:
        self._memo: Dict[Tuple[int, float], Tuple[Sequence[float], Any]] = {}

    def get(self, series: Sequence[float], key: float, make: Callable[[], Any]) -> Any:
        found = self._memo.get((id(series), key))
        if found is not None and found[0] is series:
            return found[1]
        if len(self._memo) >= self.LIMIT:
            self._memo.clear()
        value = make()
        self._memo[(id(series), key)] = (series, value)  # holding it keeps its id unique
        return value


_MEMO = _SeriesMemo()
_PEAK = -1.0  # the memo key of a series' peak (scales are positive)


class _ScrolledLevels:
    """Each graph's levels, kept with the series and the scale they came from: under the same
    scale, a series that scrolled by a few cells has only its new cells' levels worked out."""

    LIMIT = 256
    SCROLLS = (1, 2, 3)  # cells a graph may have moved on by between two redraws

    def __init__(self) -> None:
        self._kept: Dict[Tuple[str, int], Tuple[Sequence[float], float, Tuple[int, ...]]] = {}

    def get(self, column: str, series: Sequence[float], scale: float) -> Tuple[int, ...]:
        """Each value of `column`'s series as 0..LEVELS of `scale` (clamped), -1 for NaN."""
        key = (column, len(series))
        kept = self._kept.get(key)
        if kept is None or kept[1] != scale:
            levels = _levels_of(series, scale)
        elif kept[0] is series:
            return kept[2]
        else:
            levels = _scrolled(kept[0], kept[2], series, scale)
        if len(self._kept) >= self.LIMIT:
            self._kept.clear()
        self._kept[key] = (series, scale, levels)
        return levels


def _scrolled(old: Sequence[float], levels: Tuple[int, ...], series: Sequence[float],
              scale: float) -> Tuple[int, ...]:
    """The levels of `series` from those of `old` when it is `old` moved on by a few cells."""
    for k in _ScrolledLevels.SCROLLS:
        if len(series) > k and series[:-k] == old[k:]:
            return levels[k:] + _levels_of(series[-k:], scale)
    return _levels_of(series, scale)


_LEVELS = _ScrolledLevels()


def _levels_of(series: Sequence[float], scale: float) -> Tuple[int, ...]:
    if not scale > 0:
        return tuple([-1 if v != v else 0 for v in series])
    k = LEVELS / scale
    top = LEVELS + 0.5
    return tuple([-1 if v != v else 0 if v <= 0 else LEVELS if v * k >= top else int(v * k + 0.5)
                  for v in series])


def _peak(series: Sequence[float], current: float) -> float:
    peak = _MEMO.get(series, _PEAK, lambda: max([v for v in series if v == v], default=math.nan))
    if current == current and not current <= peak:  # also when the series has no value
        return current
    return float(peak)


def _level(row: Row, value: float, fraction: float) -> str:
    measure = fraction * 100 if row.kind == BAR else value
    if measure != measure:
        return OK
    if row.bad and measure >= row.bad:
        return BAD
    return WARN if row.warn and measure >= row.warn else OK


def _shown_value(row: Row, history: History, column: str) -> float:
    """A count's latest sample, anything else's mean over the redraw period."""
    if column in row.counts:
        return history.latest(column)
    return history.current(column)


def _text(row: Row, column: str, value: float) -> str:
    if column in row.counts:
        return fmt_number(round(value)) if value == value else fmt_number(value)
    return format_value(column, value)


class _RowMemo:
    """Each row's last view, kept with what it was made from (its values and the graph series
    History handed out): a redraw that reads the same gets the very same RowView back, so
    nothing is formatted again and a pane whose rows all came back is not redrawn at all (on
    a quiet machine most rows read the same every second: 0 B/s, 0.0 %)."""

    LIMIT = 256

    def __init__(self) -> None:
        self._kept: Dict[Tuple[Row, int], Tuple[Tuple[Any, ...], RowView]] = {}

    def get(self, row: Row, cells: int, inputs: Tuple[Any, ...],
            make: Callable[[], RowView]) -> RowView:
        key = (row, cells)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == inputs:  # the series compared first by identity
            return kept[1]
        if len(self._kept) >= self.LIMIT:
            self._kept.clear()
        view = make()
        self._kept[key] = (inputs, view)
        return view


_ROWS = _RowMemo()


def row_view(row: Row, history: History, cells: int) -> RowView:
    """The view of one row with a graph of `cells` cells."""
    value = _shown_value(row, history, row.column)
    total = history.current(row.total) if row.total else math.nan
    series = history.series(row.column, cells) if cells > 0 else []
    notes = tuple([_shown_value(row, history, c) for c, _ in row.notes])
    return _ROWS.get(row, cells, (series, value, total, notes),
                     lambda: _row_view(row, value, total, series, notes))


def _row_view(row: Row, value: float, total: float, series: Sequence[float],
              notes: Tuple[float, ...]) -> RowView:
    fraction = value / total if total > 0 and value == value else math.nan
    note = " ".join(template.format(_text(row, c, v))
                    for (c, template), v in zip(row.notes, notes))
    bar = -1
    if row.kind == BAR:
        scale = total
        bar = int(round(min(max(fraction, 0.0), 1.0) * 100)) if fraction == fraction else -1
        note = " ".join(filter(None, [f"of {fmt_bytes(total)}" if total == total else "", note]))
        text = fmt_bytes(value)
    elif row.kind == PERCENT:
        scale, text = 100.0, fmt_percent(value)
    elif row.kind == RATE:
        scale = total if total > 0 else max(_peak(series, value), RATE_FLOOR)
        text = fmt_rate(value)
        if row.total and fraction == fraction:
            note = f"{fraction * 100:.0f} % of link"
    else:
        scale, text = _peak(series, value), _text(row, row.column, value)
    return RowView(row.label, text, note, bar, _LEVELS.get(row.column, series, scale),
                   _level(row, value, fraction))


def pane_view(spec: PaneSpec, history: History, cells: int,
              tables: Optional[Dict[str, List[Dict[str, Any]]]] = None,
              table_rows: int = 0) -> PaneView:
    """Every row of a pane, and up to `table_rows` lines of its table; a process pane whose
    tree has no live process left says it exited."""
    rows = tuple(row_view(r, history, cells) for r in spec.rows)
    table: Tuple[Tuple[str, ...], ...] = ()
    if spec.table and tables is not None and table_rows > 0:
        table = process_lines(tables.get(spec.table) or [], tables.get("nvml") or [],
                              table_rows)
    state = EXITED if spec.alive and history.latest(spec.alive) == 0 else ""
    return PaneView(rows, table, state)


# -- the process tree -----------------------------------------------------------------------
PROCESS_HEADER = ("PID", "process", "CPU", "RSS", "PSS", "read/s", "write/s", "I/O wait",
                  "GPU mem")


def _cell(row: Dict[str, Any], key: str, fmt) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    try:
        return fmt(float(value))
    except (TypeError, ValueError):
        return "-"


def tree_order(rows: Sequence[Dict[str, Any]]) -> List[Tuple[int, Dict[str, Any]]]:
    """(depth, row) in tree order: each process followed by its children, by pid."""
    by_pid = {r.get("pid"): r for r in rows}
    children: Dict[Any, List[Dict[str, Any]]] = {}
    roots = []
    for r in sorted(rows, key=lambda r: (r.get("pid") is None, r.get("pid") or 0)):
        parent = r.get("ppid")
        if parent in by_pid and parent != r.get("pid"):
            children.setdefault(parent, []).append(r)
        else:
            roots.append(r)
    out: List[Tuple[int, Dict[str, Any]]] = []
    stack = [(0, r) for r in reversed(roots)]
    seen = set()
    while stack:
        depth, r = stack.pop()
        if id(r) in seen:
            continue
        seen.add(id(r))
        out.append((depth, r))
        stack.extend((depth + 1, c) for c in reversed(children.get(r.get("pid"), [])))
    return out


def process_lines(rows: Sequence[Dict[str, Any]], gpu_rows: Sequence[Dict[str, Any]],
                  limit: int) -> Tuple[Tuple[str, ...], ...]:
    """The header and up to `limit - 1` processes as text cells (missing keys show `-`).

    GPU memory comes from the row itself when it has it, else from NVML's per-process rows.
    """
    gpu_memory: Dict[Any, float] = {}
    for g in gpu_rows:
        used = g.get("used_gpu_memory_bytes")
        if used is not None and used == used:
            gpu_memory[g.get("pid")] = gpu_memory.get(g.get("pid"), 0.0) + float(used)
    lines = [PROCESS_HEADER]
    for depth, r in tree_order(rows)[: max(limit - 1, 0)]:
        name = str(r.get("name") or r.get("cmdline") or "?")
        if r.get("exited"):
            name += " (exited)"
        own_gpu = r.get("gpu_memory_bytes")
        gpu = own_gpu if own_gpu is not None and own_gpu == own_gpu else gpu_memory.get(
            r.get("pid"))
        lines.append((
            str(r.get("pid", "?")),
            ("  " * depth + ("└ " if depth else "")) + name,
            _cell(r, "cpu_percent", fmt_percent),
            _cell(r, "rss_bytes", fmt_bytes),
            _cell(r, "pss_bytes", fmt_bytes),
            _cell(r, "read_bytes_per_second", fmt_rate),
            _cell(r, "write_bytes_per_second", fmt_rate),
            _cell(r, "io_delay_percent", fmt_percent),
            fmt_bytes(gpu) if gpu is not None else "-",
        ))
    return tuple(lines)
