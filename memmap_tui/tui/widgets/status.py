"""The header line (source, cadence, graph window, pause, memmap's own CPU and memory) and the
verdict line (the bottleneck headline). Both are one line, set through reactive attributes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ...units import fmt_bytes
from ...verdict import BAD, WARN, Verdict


@dataclass(frozen=True)
class Status:
    source: str = "live"
    interval: float = math.nan
    refresh: float = math.nan
    window: str = ""
    paused: bool = False
    self_cpu: str = "-"  # already formatted: the header redraws only when the text changes
    self_rss: str = "-"
    problems: Tuple[str, ...] = ()


def usage_texts(cpu_percent: float, rss_bytes: float) -> Tuple[str, str]:
    cpu = "-" if cpu_percent != cpu_percent else f"{cpu_percent:.1f} %"
    return cpu, fmt_bytes(rss_bytes)


class OneLine(Widget):
    """A one-line widget drawn from one cached strip, rebuilt only when its text changes."""

    DEFAULT_CSS = """
    OneLine { height: 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._strip = Strip.blank(0)

    def line(self) -> Text:
        raise NotImplementedError

    def _rebuild(self) -> None:
        width = self.size.width
        segments = list(self.line().render(self.app.console))
        self._strip = Strip(segments).adjust_cell_length(width)
        self.refresh()

    def on_resize(self) -> None:
        self._rebuild()

    def render_line(self, y: int) -> Strip:
        return self._strip if y == 0 else Strip.blank(self.size.width)


class StatusBar(OneLine):
    """`memmap  live · sample 0.5 s · redraw 1 s · graphs 1 min ...  memmap 0.4 % CPU 41 MiB`."""

    DEFAULT_CSS = """
    StatusBar { background: $panel; color: $text; }
    """

    status: reactive[Status] = reactive(Status, repaint=False)

    def watch_status(self) -> None:
        self._rebuild()

    def line(self) -> Text:
        s, width = self.status, self.size.width
        right = Text(f"memmap {s.self_cpu} CPU {s.self_rss} ")
        left = self._left(short=False)
        if left.cell_len + right.cell_len + 1 > width:
            left = self._left(short=True)
            right = Text(f"self {s.self_cpu} {s.self_rss} ")
        gap = width - left.cell_len - right.cell_len
        if gap >= 1:
            left.append(" " * gap)
            left.append_text(right)
        left.truncate(max(width, 1))
        return left

    def _left(self, short: bool) -> Text:
        s = self.status
        left = Text.assemble((" memmap ", "bold"), f" {s.source}")
        if s.interval == s.interval:
            left.append(f" · {s.interval:g} s / {s.refresh:g} s" if short else
                        f" · sample {s.interval:g} s · redraw {s.refresh:g} s")
        if s.window:
            left.append(f" · {s.window}" if short else f" · graphs {s.window}")
        if s.paused:
            left.append("  PAUSED ", Style(bold=True, reverse=True))
        for problem in s.problems[:1 if short else 2]:
            left.append(f"  {problem}", Style(color="yellow"))
        return left


VERDICT_STYLES = {BAD: Style(color="red", bold=True), WARN: Style(color="yellow", bold=True)}


class VerdictLine(OneLine):
    """The headline of memmap_tui.verdict over the last 10 s."""

    verdict: reactive[Optional[Verdict]] = reactive(None, repaint=False)

    def watch_verdict(self) -> None:
        self._rebuild()

    def line(self) -> Text:
        v = self.verdict
        if v is None:
            return Text(" waiting for the first samples...", style="dim")
        mark = "!!" if v.level == BAD else "! " if v.level == WARN else "ok"
        return Text.assemble(" ", (f"{mark} ", VERDICT_STYLES.get(v.level, Style(color="green"))),
                             (v.text, VERDICT_STYLES.get(v.level, Style(bold=True))))
