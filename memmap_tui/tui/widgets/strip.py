"""The inline strip (`memmap --inline`): at most 6 lines under the shell prompt.

Line 1 is the verdict with memmap's own cost; then one line per shown pane: its title and as
many `label value graph` entries as fit the width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ...verdict import Verdict
from ..render import LEVEL_STYLES, NOTE, VALUE, console_glyphs, graph_text
from ..view import RowView
from .pane import GRAPH_STYLES
from .status import VERDICT_STYLES

MAX_LINES = 6
GRAPH_CELLS = 8
TITLE_WIDTH = 13


@dataclass(frozen=True)
class StripView:
    verdict: Optional[Verdict] = None
    usage: str = ""
    panes: Tuple[Tuple[str, str, Tuple[RowView, ...]], ...] = ()  # (key, title, rows)


class InlineStrip(Widget):
    DEFAULT_CSS = """
    InlineStrip { height: auto; max-height: 6; }
    """

    view: reactive[StripView] = reactive(StripView)

    def __init__(self, glyphs: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.glyphs = glyphs or console_glyphs()

    def watch_view(self, old: StripView, new: StripView) -> None:
        if len(old.panes) != len(new.panes):
            self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return min(MAX_LINES, 1 + len(self.view.panes))

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if y == 0:
            segs = self._headline()
        elif y - 1 < len(self.view.panes):
            segs = self._pane_line(*self.view.panes[y - 1], width)
        else:
            segs = []
        return Strip(segs).adjust_cell_length(width)

    def _headline(self) -> List[Segment]:
        v = self.view.verdict
        text = v.text if v is not None else "waiting for the first samples..."
        style = VERDICT_STYLES.get(v.level, Style(bold=True)) if v else NOTE
        return [Segment("memmap ", Style(bold=True, reverse=True)), Segment(" "),
                Segment(text, style), Segment(f"  {self.view.usage}", NOTE)]

    def _pane_line(self, key: str, title: str, rows: Tuple[RowView, ...],
                   width: int) -> List[Segment]:
        segs = [Segment(title[:TITLE_WIDTH].ljust(TITLE_WIDTH), Style(bold=True))]
        used = TITLE_WIDTH
        for row in rows:
            value = row.value.strip()
            entry = len(row.label) + 1 + len(value) + 1 + GRAPH_CELLS + 2
            if used + entry > width:
                break
            segs += [Segment(row.label + " "),
                     Segment(value, LEVEL_STYLES.get(row.level, VALUE)), Segment(" "),
                     Segment(graph_text(row.levels[-GRAPH_CELLS:], 0, 1, self.glyphs)
                             .rjust(GRAPH_CELLS), GRAPH_STYLES.get(key, Style())),
                     Segment("  ")]
            used += entry
        return segs
