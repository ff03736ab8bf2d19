"""A pane: a bordered box of metric rows (label, value, bar, graph) and, for the process pane,
a table. Set `view` (a PaneView); the pane redraws only the lines whose text changed.

Drawn through Textual's line API from cached strips: no child widgets, no layout pass per
update, so a redraw costs only the lines that changed.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from rich.style import Style
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ..panes import BAR, PaneSpec
from ..render import PaneLayout, console_glyphs, layout_rows, pane_lines
from ..view import PaneView

GRAPH_STYLES = {"memory": Style(color="magenta"), "throughput": Style(color="cyan"),
                "waiting": Style(color="yellow"), "gpu": Style(color="green"),
                "process": Style(color="blue")}


class Pane(Widget):
    """One pane of the overview, titled `<number> <title>` in its border."""

    DEFAULT_CSS = """
    Pane {
        height: 1fr;
        border: solid $primary;
        border-title-color: $text;
        border-title-style: bold;
        border-subtitle-color: $text-muted;
        padding: 0 1;
    }
    """

    view: reactive[PaneView] = reactive(PaneView, repaint=False)

    class Relayout(Message):
        """The pane's size changed: its graphs want a view of another width."""

        def __init__(self, pane: Pane) -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, spec: PaneSpec) -> None:
        super().__init__(id=f"pane-{spec.key}", classes="pane")
        self.spec = spec
        self.border_title = f"{spec.number} {spec.title}"
        self.glyphs = console_glyphs()
        self.graph_style = GRAPH_STYLES.get(spec.key, Style())
        self._layout: Optional[PaneLayout] = None
        self._lines: List[Tuple[Tuple[str, Optional[Style]], ...]] = []
        self._strips: List[Strip] = []

    # -- what the screen reads to build the view ------------------------------------------
    @property
    def graph_cells(self) -> int:
        return self._layout.graph if self._layout else 0

    @property
    def table_lines(self) -> int:
        return self._layout.table_lines if self._layout else 0

    def natural_height(self) -> int:
        """Lines this pane would like: its rows, a few table lines, and the border."""
        return len(self.spec.rows) + (8 if self.spec.table else 0) + 2

    # -- drawing ----------------------------------------------------------------------------
    def on_resize(self) -> None:
        size = self.content_size
        shapes = [(r.label, r.note_width, r.kind == BAR) for r in self.spec.rows]
        self._layout = layout_rows(size.width, size.height, shapes, bool(self.spec.table))
        self._lines, self._strips = [], []
        self._redraw(self.view, everything=True)
        hidden = len(self.spec.rows) - self._layout.shown
        self.border_subtitle = f"+{hidden} more" if hidden > 0 else ""
        self.post_message(self.Relayout(self))

    def watch_view(self, view: PaneView) -> None:
        self._redraw(view)

    def _redraw(self, view: PaneView, everything: bool = False) -> None:
        if self._layout is None:
            return
        width = self.content_size.width
        lines = pane_lines(view, self._layout, self.glyphs, self.graph_style)
        keys = [tuple((s.text, s.style) for s in segs) for segs in lines]
        old = self._lines
        strips = self._strips
        for y, key in enumerate(keys):
            if y < len(old) and old[y] == key and not everything:
                continue
            strip = Strip(lines[y]).adjust_cell_length(width)
            if y < len(strips):
                strips[y] = strip
            else:
                strips.append(strip)
            if not everything:
                self.refresh(Region(0, y, width, 1))
        if len(strips) > len(keys):
            del strips[len(keys):]
            self.refresh()
        self._lines = keys
        if everything:
            self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.content_size.width)
