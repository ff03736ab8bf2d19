"""Laying pane rows out in a box and drawing them as styled segments (Rich), no Textual here.

A row is `label value note [bar] graph`. A pane with spare height gives each row a taller graph
(up to MAX_GRAPH_HEIGHT lines); one short of height packs its rows into side-by-side columns
when it is wide enough, else shows those that fit. Graphs are block characters; on the Linux
console (TERM=linux), whose font lacks the eighth blocks, half and full blocks only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Dict, List, Optional, Sequence, Tuple

from rich.segment import Segment
from rich.style import Style

from ..safetext import printable
from .view import BAD, LEVELS, WARN, RowView

MAX_GRAPH_HEIGHT = 3
MIN_GRAPH = 6
VALUE_WIDTH = 10
MAX_LABEL = 14
MAX_NOTE = 26
COLUMN_GAP = 3
UNICODE_GLYPHS = " ▁▂▃▄▅▆▇█"
LINUX_GLYPHS = "  ▄▄▄▄███"  # eighths 0..8 on a font with only half and full blocks


def console_glyphs(term: str = "") -> str:
    term = term or os.environ.get("TERM", "")
    return LINUX_GLYPHS if term == "linux" else UNICODE_GLYPHS


@dataclass(frozen=True)
class PaneLayout:
    """Where things go in a pane of `width` x `height` cells (its content box)."""

    width: int
    columns: int  # rows side by side
    per_column: int  # rows in each column
    row_height: int  # lines per row (taller graphs)
    shown: int  # rows that fit
    label: int
    note: int
    bar: int
    graph: int  # graph cells per row (0: no graph)
    cell: int  # width of one column of rows
    table_lines: int  # lines left under the rows for a table


def layout_rows(width: int, height: int, rows: Sequence[Tuple[str, int, bool]],
                table: bool = False) -> PaneLayout:
    """rows: (label, note width, has_bar) of each row. `table`: spare lines go to a table.

    Rows that do not fit one under the other go side by side in columns, dropping the notes
    if that is what it takes; rows that still do not fit are left out from the end.
    """
    n = len(rows)
    label = min(MAX_LABEL, max((len(r[0]) for r in rows), default=0))
    has_bar = any(r[2] for r in rows)
    room = max(height - 3, 1) if table else height  # a table keeps a header and two processes
    full_note = min(MAX_NOTE, max((r[1] for r in rows), default=0))
    best: Tuple[int, int, int] = (-1, 0, 1)  # (rows shown, note width, columns)
    for note in dict.fromkeys((full_note, 0)):
        fixed = label + VALUE_WIDTH + 2 + (note + 1 if note else 0)
        cell_min = fixed + (2 * MIN_GRAPH + 1 if has_bar else MIN_GRAPH)
        columns = 1
        if n > room > 0:
            fits = max(1, (width + COLUMN_GAP) // (cell_min + COLUMN_GAP))
            columns = min(-(-n // room), fits)
        shown = min(n, columns * max(room, 0))
        if shown > best[0]:
            best = (shown, note, columns)
        if shown == n:
            break
    shown, note, columns = best
    per_column = min(-(-n // columns), max(room, 0)) if n else 0
    row_height = 1
    if per_column and not table:
        row_height = max(1, min(MAX_GRAPH_HEIGHT, height // per_column))
    cell = (width - COLUMN_GAP * (columns - 1)) // columns
    spare = cell - (label + VALUE_WIDTH + 2 + (note + 1 if note else 0))
    bar = min(12, spare // 4) if has_bar and spare >= 2 * MIN_GRAPH else 0
    graph = spare - (bar + 1 if bar else 0)
    table_lines = max(height - per_column, 0) if table else 0
    return PaneLayout(width, columns, per_column, row_height, max(shown, 0), label, note, bar,
                      graph if graph >= MIN_GRAPH else 0, cell, table_lines)


# -- styles (named ANSI colours, so 16-colour terminals show them too) ---------------------
LABEL = Style()
VALUE = Style(bold=True)
NOTE = Style(dim=True)
EMPTY_BAR = Style(dim=True)
LEVEL_STYLES = {WARN: Style(color="yellow", bold=True), BAD: Style(color="red", bold=True)}
BAR_STYLES = {WARN: Style(color="yellow"), BAD: Style(color="red")}
OK_BAR = Style(color="green")
HEADER = Style(bold=True, underline=True)


def graph_text(levels: Sequence[int], line: int, height: int, glyphs: str) -> str:
    """Line `line` (0 = top) of a graph `height` lines tall from levels 0..LEVELS (-1 blank)."""
    return "".join(map(_glyph_table(line, height, glyphs).__getitem__, levels))


@lru_cache(maxsize=64)
def _glyph_table(line: int, height: int, glyphs: str) -> Tuple[str, ...]:
    """The character of every level 0..LEVELS on one line of a graph, then " " (level -1)."""
    base = 8 * (height - 1 - line)
    chars = []
    for level in range(LEVELS + 1):
        fill = int(level * 8 * height / LEVELS + 0.5) - base
        chars.append(glyphs[0 if fill <= 0 else 8 if fill >= 8 else fill])
    return (*chars, " ")


def row_head(view: RowView, lay: PaneLayout, glyphs: str) -> List[Segment]:
    """Line 0 of a row up to its graph: label, value, note and bar, `head_width(lay)` wide."""
    segs = [Segment(view.label[: lay.label].ljust(lay.label + 1), LABEL),
            Segment(view.value.rjust(VALUE_WIDTH)[:VALUE_WIDTH] + " ",
                    LEVEL_STYLES.get(view.level, VALUE))]
    if lay.note:
        segs.append(Segment(view.note[: lay.note].ljust(lay.note + 1), NOTE))
    if lay.bar:
        segs += _bar(view, lay.bar, glyphs)
        segs.append(Segment(" "))
    return segs


def head_width(lay: PaneLayout) -> int:
    """Cells of a row's line before its graph (a taller graph's lower lines are blank there)."""
    return lay.label + 2 + VALUE_WIDTH + (lay.note + 1 if lay.note else 0) + (
        lay.bar + 1 if lay.bar else 0)


def graph_lines(levels: Sequence[int], lay: PaneLayout, glyphs: str) -> Tuple[str, ...]:
    """Each line of a row's graph, top first, `lay.graph` cells wide (the newest on the right):
    graph_text's lines, made in one pass over the levels."""
    if not lay.graph:
        return ("",) * lay.row_height
    shown = tuple(levels[-lay.graph:])
    key = (shown, lay.graph, lay.row_height, glyphs)
    found = _GRAPHS.get(key)
    if found is None:
        if len(_GRAPHS) >= GRAPH_MEMO:
            _GRAPHS.clear()
        found = _GRAPHS[key] = _graph_lines(shown, lay.graph, lay.row_height, glyphs)
    return found


GRAPH_MEMO = 512  # graphs kept: flat ones (idle, no data) repeat across rows and seconds
_GRAPHS: Dict[Tuple[Tuple[int, ...], int, int, str], Tuple[str, ...]] = {}


def _graph_lines(shown: Tuple[int, ...], width: int, height: int,
                 glyphs: str) -> Tuple[str, ...]:
    if not shown:
        return (" " * width,) * height
    columns = _glyph_columns(height, glyphs)
    return tuple("".join(line).rjust(width) for line in zip(*map(columns.__getitem__, shown)))


@lru_cache(maxsize=16)
def _glyph_columns(height: int, glyphs: str) -> Tuple[Tuple[str, ...], ...]:
    """Per level 0..LEVELS, then -1: its character on each line of a graph, top first."""
    return tuple(zip(*(_glyph_table(line, height, glyphs) for line in range(height))))


class RowParts:
    """One row of a pane as the segments of each of its lines, rebuilt from the parts that
    changed: the texts (line 0's label, value, note and bar) when they change, a graph line
    when its glyphs do (a graph's cells change only as it scrolls)."""

    __slots__ = ("view", "head", "graph", "lines")

    def __init__(self) -> None:
        self.view: Optional[RowView] = None
        self.head: List[Segment] = []
        self.graph: Tuple[str, ...] = ()
        self.lines: List[List[Segment]] = []

    def update(self, view: RowView, lay: PaneLayout, glyphs: str, style: Style) -> List[int]:
        """Take the row's new view; returns which of its lines (0: the texts') changed."""
        old, self.view = self.view, view
        if old is None:
            self.head, self.graph = row_head(view, lay, glyphs), graph_lines(view.levels, lay,
                                                                              glyphs)
            self.lines = [[] for _ in range(lay.row_height)]
            changed = list(range(lay.row_height))
        elif old is view or old == view:
            return []
        else:
            changed = self._graph_changes(old, view, lay, glyphs)
            if (old.label, old.value, old.note, old.bar, old.level) != (
                    view.label, view.value, view.note, view.bar, view.level):
                self.head = row_head(view, lay, glyphs)
                if 0 not in changed:
                    changed.insert(0, 0)
        blank = [Segment(" " * head_width(lay))]
        for line in changed:
            graph = [Segment(self.graph[line], style)] if lay.graph else []
            self.lines[line] = (self.head if line == 0 else blank) + graph
        return changed

    def _graph_changes(self, old: RowView, view: RowView, lay: PaneLayout,
                       glyphs: str) -> List[int]:
        if old.levels == view.levels:
            return []
        graph, self.graph = self.graph, graph_lines(view.levels, lay, glyphs)
        return [line for line, text in enumerate(self.graph) if text != graph[line]]


def _bar(view: RowView, width: int, glyphs: str) -> List[Segment]:
    if view.bar < 0:
        return [Segment(" " * width)]
    filled = int(view.bar * width / 100 + 0.5)
    full = glyphs[8]
    empty = "░" if glyphs is UNICODE_GLYPHS else "-"
    return [Segment(full * filled, BAR_STYLES.get(view.level, OK_BAR)),
            Segment(empty * (width - filled), EMPTY_BAR)]


def rows_height(lay: PaneLayout, rows: int) -> int:
    """Lines the first `rows` rows take (the table starts below them)."""
    return min(lay.per_column, rows) * lay.row_height


def rows_on_line(lay: PaneLayout, y: int, rows: int) -> List[Tuple[int, int]]:
    """(row index, line within the row) of each column's row on line y."""
    index, line = divmod(y, lay.row_height)
    out = []
    for c in range(lay.columns):
        i = c * lay.per_column + index
        if i < rows and index < lay.per_column:
            out.append((i, line))
    return out


def pane_line(rows: Sequence[RowParts], lay: PaneLayout, y: int) -> List[Segment]:
    """The segments of content line y (y < rows_height), columns of rows side by side."""
    segs: List[Segment] = []
    for i, line in rows_on_line(lay, y, len(rows)):
        if segs:  # a column of rows after the first
            gap = (i // lay.per_column) * (lay.cell + COLUMN_GAP) - _length(segs)
            if gap > 0:
                segs.append(Segment(" " * gap))
        segs += rows[i].lines[line]
    return segs


def _length(segs: Sequence[Segment]) -> int:
    return sum(map(len, map(_TEXT, segs)))


_TEXT = attrgetter("text")


# The process table: column widths, and which columns go first when the pane is narrow.
TABLE_WIDTHS = (7, 0, 8, 10, 10, 10, 10, 8, 10)
TABLE_DROP_ORDER = (4, 6, 8, 7, 3)  # PSS, write/s, GPU mem, I/O wait, RSS
MIN_NAME = 16


def table_columns(table: Sequence[Sequence[str]], width: int) -> List[int]:
    """The columns that fit `width`: a column nobody has a value for goes first."""
    keep = list(range(len(TABLE_WIDTHS)))
    empty = [i for i in keep[2:] if all(cells[i] == "-" for cells in table[1:])]
    for drop in [*empty, *TABLE_DROP_ORDER]:
        if sum(TABLE_WIDTHS[i] + 1 for i in keep) + MIN_NAME <= width:
            break
        if drop in keep:
            keep.remove(drop)
    return keep


def table_lines(table: Sequence[Sequence[str]], width: int) -> List[List[Segment]]:
    """The table's lines in `width` columns; every cell with its control characters as
    visible escapes (a process sets its own name: ESC, BEL, CR would reach the terminal)."""
    if not table:
        return []
    keep = table_columns(table, width)
    name_width = max(8, width - sum(TABLE_WIDTHS[i] + 1 for i in keep if i != 1) - 1)
    out = []
    for n, cells in enumerate(table):
        parts = []
        for i in keep:
            w = name_width if i == 1 else TABLE_WIDTHS[i]
            cell = printable(cells[i])
            text = cell[:w].ljust(w) if i <= 1 else cell[:w].rjust(w)
            parts.append(text)
        out.append([Segment(" ".join(parts), HEADER if n == 0 else LABEL)])
    return out


# -- the pane's box (drawn here rather than by CSS borders: a repaint then costs only the
#    lines that changed, with no per-line border and filter pass) ----------------------------
BOX = {"tl": "┌", "tr": "┐", "bl": "└", "br": "┘", "h": "─", "v": "│"}
BOX_PAD = 1  # spaces between the side rule and the content


def box_content_size(width: int, height: int, compact: bool) -> Tuple[int, int]:
    """The content box inside a pane of width x height: a full box, or just a top rule."""
    if compact:
        return max(width, 0), max(height - 1, 0)
    return max(width - 2 - 2 * BOX_PAD, 0), max(height - 2, 0)


def box_top(width: int, title: str, rule: Style, title_style: Style, compact: bool,
            more: str = "", more_style: Style = NOTE) -> List[Segment]:
    """`┌─ 1 Memory ───┐` (compact: `── 1 Memory ───── +3 more ──`)."""
    h = BOX["h"]
    left, right = (h, h) if compact else (BOX["tl"], BOX["tr"])
    title = title[: max(width - 6, 0)]
    fill = max(width - len(title) - 5, 0)
    if not title:
        return [Segment(left + h * max(width - 2, 0) + right, rule)]
    if more and fill >= len(more) + 4:
        return [Segment(left + h + " ", rule), Segment(title, title_style),
                Segment(" " + h * (fill - len(more) - 3) + " ", rule), Segment(more, more_style),
                Segment(" " + h * 2 + right, rule)]
    return [Segment(left + h + " ", rule), Segment(title, title_style),
            Segment(" " + h * fill + right, rule)]


def box_side(content: List[Segment], width: int, rule: Style,
             compact: bool) -> Tuple[List[Segment], int]:
    """One content line between the side rules, padded to the content width; and its cells
    (every glyph drawn in a pane is one cell wide)."""
    inner = box_content_size(width, 3, compact)[0]
    length = _length(content)
    body = content + [Segment(" " * (inner - length))] if length < inner else content
    length = max(length, inner)
    if compact:
        return body, length
    space = " " * BOX_PAD
    return [Segment(BOX["v"] + space, rule), *body, Segment(space + BOX["v"], rule)], (
        length + 2 + 2 * BOX_PAD)


def box_bottom(width: int, subtitle: str, rule: Style, note_style: Style) -> List[Segment]:
    """`└──── +3 more ─┘`."""
    h = BOX["h"]
    if not subtitle or width < len(subtitle) + 6:
        return [Segment(BOX["bl"] + h * max(width - 2, 0) + BOX["br"], rule)]
    fill = width - len(subtitle) - 5
    return [Segment(BOX["bl"] + h * fill + " ", rule), Segment(subtitle, note_style),
            Segment(" " + h + BOX["br"], rule)]
