"""The inline screen (`memmap --inline`): one strip of at most 6 lines under the prompt."""

from __future__ import annotations

from typing import Set

from textual.app import ComposeResult
from textual.screen import Screen

from ..monitor import Monitor
from ..view import pane_view
from ..widgets.status import Status
from ..widgets.strip import GRAPH_CELLS, InlineStrip, StripView


class InlineScreen(Screen):
    """The live strip; keys work as in the overview (1-5 choose the pane lines)."""

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
        lines = tuple((p.key, f"{p.number} {p.title}",
                       pane_view(p, monitor.history, GRAPH_CELLS).rows)
                      for p in monitor.panes if p.key not in self.hidden and p.rows)
        self.query_one(InlineStrip).view = StripView(monitor.verdict, usage, lines[:5])
