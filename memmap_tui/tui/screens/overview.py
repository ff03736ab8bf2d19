"""The overview: header, verdict, the panes, and the footer with the keys.

At WIDE columns and more the panes stand in two columns (memory, waiting and GPU on the left;
throughput, CPU and the process tree on the right); below that, in one column in pane order.
Each pane's share of the height follows how many lines it would like, and each keeps at least
its title and one line of rows; a hidden pane (number keys), or a pane whose collector is
absent, gives its room to the rest. Below MIN_SIZE a message replaces everything.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Set

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..monitor import Monitor
from ..panes import CPU, GPU, MEMORY, PROCESS, THROUGHPUT, WAITING, PaneSpec
from ..view import pane_view
from ..widgets.cached import Backdrop, KeptLines, line_regions
from ..widgets.pane import Pane
from ..widgets.status import Status, StatusBar, VerdictLine

WIDE = 120
COMPACT_HEIGHT = 32
MIN_SIZE = (60, 15)
_LEFT, _RIGHT = (MEMORY, WAITING, GPU), (THROUGHPUT, CPU, PROCESS)


class Columns(Horizontal, Backdrop):
    """The pane area: columns side by side, covered whole by them."""


class Column(Vertical, Backdrop):
    """One column of panes, covered whole by them (their heights are shares of it)."""


class KeysFooter(Footer, KeptLines):
    """The footer (its keys are widgets of their own), its line kept between its repaints:
    the screen's top-level widgets are drawn again on every update of any part of the screen."""


def arrange(panes: Sequence[PaneSpec], wide: bool) -> List[List[PaneSpec]]:
    """Columns of panes: two when wide (and both sides have panes), else one in pane order."""
    if not wide:
        return [list(panes)]
    columns = [[p for p in panes if p.key in _LEFT], [p for p in panes if p.key in _RIGHT]]
    columns = [c for c in columns if c]
    return columns or [[]]


def _set_compact(pane: Pane, compact: bool) -> None:
    """Compact or boxed, and the share of the column's height that goes with it."""
    pane.compact = compact
    pane.styles.height = f"{pane.natural_height()}fr"
    pane.styles.min_height = pane.least_height()


class OverviewScreen(Screen, Backdrop):
    """Every pane at once. The app calls `show()` once per refresh."""

    def __init__(self, monitor: Monitor, hidden: Set[str]) -> None:
        super().__init__(id="overview")
        self.monitor = monitor
        self.hidden = hidden
        self._wide = False
        self._panes: Optional[List[Pane]] = None
        self._status, self._verdict = StatusBar(id="status"), VerdictLine(id="verdict")
        self._area = Columns()

    def compose(self) -> ComposeResult:
        yield self._status
        yield self._verdict
        yield self._pane_area(self.app.size.width >= WIDE)
        yield Static(id="too-small")
        yield KeysFooter(compact=True)

    def _pane_area(self, wide: bool) -> Columns:
        """The panes in one column, or two when `wide`."""
        self._wide = wide
        columns = []
        for column in arrange(self.monitor.panes, wide):
            panes = []
            for spec in column:
                pane = Pane(spec, getattr(self.app, "glyphs", ""))
                pane.display = spec.key not in self.hidden
                _set_compact(pane, self.app.size.height < COMPACT_HEIGHT)
                panes.append(pane)
            columns.append(Column(*panes, classes="column"))
        self._area = Columns(*columns, id="panes")
        return self._area

    def on_mount(self) -> None:
        self._fit(self.app.size.width, self.app.size.height)

    async def on_resize(self, event: events.Resize) -> None:
        width, height = event.size.width, event.size.height
        if (width >= WIDE) != self._wide:  # one column <-> two: new panes, placed anew
            await self.query_one("#panes").remove()
            await self.mount(self._pane_area(width >= WIDE), before="#too-small")
            self._panes = None
        self._fit(width, height)

    def _fit(self, width: int, height: int) -> None:
        small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        self.set_class(small, "-too-small")
        for pane in self.panes():
            _set_compact(pane, height < COMPACT_HEIGHT)
        if small:
            self.query_one("#too-small", Static).update(
                f"memmap needs at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (this is {width}x{height})")
        self._show_columns()

    # -- the app's attributes coming down ---------------------------------------------------
    def panes(self) -> List[Pane]:
        if self._panes is None:  # cached: a DOM query per refresh costs more than drawing
            self._panes = list(self.query(Pane))
        return self._panes

    def set_hidden(self, hidden: Set[str]) -> None:
        self.hidden = hidden
        for pane in self.panes():
            pane.display = pane.spec.key not in hidden
        self._show_columns()
        self.show(self.monitor)

    def _show_columns(self) -> None:
        for column in self.query(".column"):
            column.display = any(p.spec.key not in self.hidden for p in column.query(Pane))

    def show(self, monitor: Monitor, status: Status | None = None, panes: bool = True) -> None:
        """Draw the monitor's current state (only what changed gets repainted).

        `panes=False`: no new rows came (paused, ended), so only the header can have changed.
        """
        if status is not None:
            self._status.status = status
        if not panes:
            return
        self._verdict.verdict = monitor.verdict
        shown = [pane for pane in self.panes() if pane.display]
        for pane in shown:
            self._draw(pane)
        self._repaint(shown)

    def _draw(self, pane: Pane) -> None:
        pane.view = pane_view(pane.spec, self.monitor.history, pane.graph_cells,
                              self.monitor.tables, pane.table_lines)

    def _repaint(self, panes: List[Pane]) -> None:
        """Repaint the lines the panes redrew, all in one refresh of the pane area: each
        widget's own refresh is a pass through Textual's refresh and idle machinery, which costs
        more than drawing a line."""
        repaints = [(pane, lines) for pane in panes for lines in [pane.take_repaints()] if lines]
        if not repaints:  # most seconds of a quiet machine for some panes: no geometry lookups
            return
        origin = self._area.region.offset
        regions = []
        for pane, lines in repaints:
            region = pane.region
            offset = region.offset - origin
            regions += [r.translate(offset) for r in line_regions(lines, region.width)]
        self._area.refresh(*regions)

    def on_pane_relayout(self, message: Pane.Relayout) -> None:
        self._draw(message.pane)
        self._repaint([message.pane])
