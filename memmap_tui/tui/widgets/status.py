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


class StatusBar(Widget):
    """`memmap  live · every 0.5 s · redraw 1 s · graphs 1 min ...  self 0.4 % CPU 41 MiB`."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; }
    """

    status: reactive[Status] = reactive(Status)

    def render(self) -> Text:
        s = self.status
        left = Text.assemble((" memmap ", "bold"), f" {s.source}")
        if s.interval == s.interval:
            left.append(f" · sample {s.interval:g} s · redraw {s.refresh:g} s")
        if s.window:
            left.append(f" · graphs {s.window}")
        if s.paused:
            left.append("  PAUSED ", Style(bold=True, reverse=True))
        for problem in s.problems[:2]:
            left.append(f"  {problem}", Style(color="yellow"))
        right = Text(f"memmap {s.self_cpu} CPU {s.self_rss} ")
        gap = self.size.width - left.cell_len - right.cell_len
        if gap >= 1:
            left.append(" " * gap)
            left.append_text(right)
        left.truncate(max(self.size.width, 1))
        return left


VERDICT_STYLES = {BAD: Style(color="red", bold=True), WARN: Style(color="yellow", bold=True)}


class VerdictLine(Widget):
    """The headline of memmap_tui.verdict over the last 10 s."""

    DEFAULT_CSS = """
    VerdictLine { height: 1; padding: 0 1; }
    """

    verdict: reactive[Optional[Verdict]] = reactive(None)

    def render(self) -> Text:
        v = self.verdict
        if v is None:
            return Text("waiting for the first samples...", style="dim")
        mark = "!!" if v.level == BAD else "! " if v.level == WARN else "ok"
        return Text.assemble((f"{mark} ", VERDICT_STYLES.get(v.level, Style(color="green"))),
                             (v.text, VERDICT_STYLES.get(v.level, Style(bold=True))))
