"""A pane: a box of metric rows (label, value, bar, graph) and, for the process pane, a table.

Set `view` (a PaneView) and the pane redraws only the lines whose rows changed. It draws its
own box from cached strips (widgets/cached.py): no child widgets, no layout pass and no
per-line border pass per update, so a redraw costs only the lines that changed. The box's
colours come from the component classes in DEFAULT_CSS; `compact` (set by the screen on short
terminals) draws a title rule instead.
"""

from __future__ import annotations

from typing import List, Optional, Set, Tuple

from rich.segment import Segment
from rich.style import Style
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip

from ..panes import BAR, PaneSpec
from ..render import (
    PaneLayout,
    RowParts,
    box_bottom,
    box_content_size,
    box_side,
    box_top,
    console_glyphs,
    layout_rows,
    pane_line,
    rows_height,
    table_lines,
)
from ..view import PaneView
from .cached import CachedLines

GRAPH_STYLES = {"memory": Style(color="magenta"), "throughput": Style(color="cyan"),
                "waiting": Style(color="yellow"), "cpu": Style(color="red"),
                "gpu": Style(color="green"), "process": Style(color="blue")}


class Pane(CachedLines):
    """One pane of the overview, titled `<number> <title>` in its box."""

    COMPONENT_CLASSES = {"pane--rule", "pane--title", "pane--subtitle"}
    DEFAULT_CSS = """
    Pane { height: 1fr; }
    Pane > .pane--rule { color: $primary; }
    Pane > .pane--title { color: $text; text-style: bold; }
    Pane > .pane--subtitle { color: $text-muted; }
    """

    compact: reactive[bool] = reactive(False, repaint=False)

    class Relayout(Message):
        """The pane's size changed: its graphs want a view of another width."""

        def __init__(self, pane: Pane) -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, spec: PaneSpec, glyphs: str = "") -> None:
        super().__init__(id=f"pane-{spec.key}", classes="pane")
        self.spec = spec
        self.title = f"{spec.number} {spec.title}"
        self.glyphs = glyphs or console_glyphs()
        self.graph_style = GRAPH_STYLES.get(spec.key, Style())
        self._layout: Optional[PaneLayout] = None
        self._drawn = PaneView()  # what the content strips show
        self._content: List[Strip] = []  # content lines, top to bottom
        self._parts: List[RowParts] = []  # each shown row's lines, as segments
        self._repaints: Set[int] = set()  # lines redrawn, for the screen to repaint
        self._table_top = 0
        self._view = PaneView()
        self._rule = Style()
        self._width = self._height = 0
        self._top = self._blank = Strip.blank(0)
        self._bottom: Optional[Strip] = None

    # -- what the screen reads to build the view ------------------------------------------
    @property
    def graph_cells(self) -> int:
        return self._layout.graph if self._layout else 0

    @property
    def table_lines(self) -> int:
        return self._layout.table_lines if self._layout else 0

    def natural_height(self) -> int:
        """Lines this pane would like: its rows, a few table lines, and the box; compact, its
        rows two to a line, a title rule and a table header with two processes."""
        rows = len(self.spec.rows)
        if self.compact:
            return -(-rows // 2) + (3 if self.spec.table else 0) + 1
        return rows + (8 if self.spec.table else 0) + 2

    def least_height(self) -> int:
        """Lines it keeps however short the screen: its title, a line of rows, and the box's
        bottom rule unless compact (a pane that shows no row at all would only take room)."""
        return 2 if self.compact else 3

    # -- layout -----------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._relayout()

    def watch_compact(self) -> None:
        if self.is_mounted:
            self._relayout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._layout is not None and self.is_mounted:  # a theme change: new colours
            self._relayout()

    def _relayout(self) -> None:
        self._width, self._height = self.size.width, self.size.height
        self._rule = self.get_component_rich_style("pane--rule")
        self._blank = self._side([])
        width, height = box_content_size(self._width, self._height, self.compact)
        shapes = [(r.label, r.note_width, r.kind == BAR) for r in self.spec.rows]
        self._layout = layout_rows(width, height, shapes, bool(self.spec.table))
        self._drawn, self._content, self._parts = PaneView(), [], []
        self._redraw(self.view, everything=True)
        self.post_message(self.Relayout(self))

    # -- drawing ----------------------------------------------------------------------------
    @property
    def view(self) -> PaneView:
        """What the pane shows; setting it redraws the lines whose rows changed. A plain
        attribute, not a reactive: Textual's reactive compares the old and new view whole
        and dispatches a watcher, every second for every pane, to do what _redraw does
        row by row anyway."""
        return self._view

    @view.setter
    def view(self, view: PaneView) -> None:
        if view is not self._view:
            self._view = view
            self._redraw(view)

    def _redraw(self, view: PaneView, everything: bool = False) -> None:
        """Rebuild the lines whose rows changed; repaint just those lines."""
        if self._layout is None:
            return
        retitle = view.state != self._drawn.state
        content, dirty = self._row_lines(view, everything)
        top = len(content)
        if everything or view.table != self._drawn.table or top != self._table_top:
            content += [self._side(segs) for segs in table_lines(view.table, self._layout.width)]
            dirty += range(top, max(len(content), len(self._content)))
        else:
            content += self._content[top:]
        self._content, self._drawn, self._table_top = content, view, top
        if everything or retitle:
            self._frame(len(self.spec.rows) - self._layout.shown)
        self._assemble()
        if everything:
            self.refresh()
        else:  # the screen repaints them, with the other panes' (take_repaints)
            self._repaints.update(y + 1 for y in dirty)
            if retitle:
                self._repaints.add(0)

    def take_repaints(self) -> List[int]:
        """The lines (widget coordinates) redrawn since the last call, not yet repainted."""
        lines, self._repaints = sorted(self._repaints), set()
        return lines

    def _row_lines(self, view: PaneView, everything: bool) -> Tuple[List[Strip], List[int]]:
        """The rows' content lines, rebuilt from the parts of the rows that changed (the
        others' lines are kept); and the numbers of the lines that were rebuilt."""
        lay = self._layout
        assert lay is not None
        rows = view.rows[: lay.shown]
        if everything or len(self._parts) != len(rows):
            self._parts, self._content = [RowParts() for _ in rows], []
        dirty: Set[int] = set()
        for i, (parts, row) in enumerate(zip(self._parts, rows)):
            top = (i % lay.per_column) * lay.row_height if lay.per_column else 0
            dirty.update(top + line for line in parts.update(row, lay, self.glyphs,
                                                                  self.graph_style))
        height = rows_height(lay, len(rows))
        content = self._content[:height]
        content += [self._blank] * (height - len(content))
        for y in sorted(dirty):
            content[y] = self._side(pane_line(self._parts, lay, y))
        return content, sorted(dirty)

    def _side(self, segs: List[Segment]) -> Strip:
        width = self._width
        line, length = box_side(segs, width, self._rule, self.compact)
        strip = Strip(line, length)
        return strip if length == width else strip.adjust_cell_length(width)

    def _frame(self, hidden: int) -> None:
        """The box's title rule and bottom rule (none when compact)."""
        width = self._width
        title = self.get_component_rich_style("pane--title")
        subtitle = self.get_component_rich_style("pane--subtitle")
        more = f"+{hidden} more" if hidden > 0 else ""
        state = self._drawn.state
        top = box_top(width, f"{self.title} · {state}" if state else self.title, self._rule,
                      title, self.compact,
                      more if self.compact else "", subtitle)
        self._top = Strip(top).adjust_cell_length(width)
        self._bottom = None
        if not self.compact:
            self._bottom = Strip(box_bottom(width, more, self._rule, subtitle))
            self._bottom = self._bottom.adjust_cell_length(width)

    def _assemble(self) -> None:
        """Every line of the box: title rule, content, blank sides, bottom rule."""
        height = self._height
        inner = max(height - (1 if self.compact else 2), 0)
        lines = [self._top, *self._content[:inner]]
        if len(lines) < inner + 1:
            lines += [self._blank] * (inner + 1 - len(lines))
        if self._bottom is not None and height >= 2:
            lines.append(self._bottom)
        self._lines = lines[:height]
