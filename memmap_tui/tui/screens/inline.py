"""The inline screen (`memmap --inline`): one strip of at most 6 lines under the prompt."""

from __future__ import annotations

from typing import List, Set

from textual.app import ComposeResult
from textual.screen import Screen

from ..monitor import Monitor
from ..panes import CPU, PaneSpec
from ..view import pane_view
from ..widgets.status import Status
from ..widgets.strip import GRAPH_CELLS, MAX_LINES, InlineStrip, StripView

SPARED_FIRST = (CPU,)  # with more panes than lines, these give their line away first (the
# headline names a CPU-bound run anyway); then panes go from the end


def strip_panes(panes: List[PaneSpec], lines: int) -> List[PaneSpec]:
    """The panes that get a line of the strip, in pane order."""
    shown = list(panes)
    while len(shown) > lines:
        shown.remove(next((p for p in shown if p.key in SPARED_FIRST), shown[-1]))
    return shown


class InlineScreen(Screen):
    """The live strip; keys work as in the overview (the number keys choose the pane lines)."""

    DEFAULT_CSS = """
    InlineScreen { height: auto; max-height: 6; }
    """

    def __init__(self, monitor: Monitor, hidden: Set[str]) -> None:
        super().__init__(id="inline")
        self.monitor = monitor
        self.hidden = hidden

    def compose(self) -> ComposeResult:
        yield InlineStrip(getattr(self.app, "glyphs", ""), id="strip")

    def set_hidden(self, hidden: Set[str]) -> None:
        self.hidden = hidden
        self.show(self.monitor)

    def show(self, monitor: Monitor, status: Status | None = None, panes: bool = True) -> None:
        """Redraw the strip (`panes` is for the overview's sake: one line shows the usage)."""
        usage = ""
        if status is not None:
            usage = f"self {status.self_cpu} {status.self_rss}"
            usage += "  PAUSED" if status.paused else ""
        shown = strip_panes([p for p in monitor.panes if p.key not in self.hidden and p.rows],
                            MAX_LINES - 1)
        lines = tuple((p.key, f"{p.number} {p.title}",
                       pane_view(p, monitor.history, GRAPH_CELLS).rows) for p in shown)
        self.query_one(InlineStrip).view = StripView(monitor.verdict, usage, lines)
