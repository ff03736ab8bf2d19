"""The header line (source, cadence, graph window, pause, memmap's own CPU and memory) and the
verdict line (the bottleneck headline). Both are one line, set through reactive attributes, and
drawn as plain segments (no markup pass): they change every few seconds at most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip

from ...verdict import BAD, WARN, Verdict
from .cached import CachedLines

Pieces = List[Tuple[str, Optional[Style]]]
BOLD = Style(bold=True)
PAUSED = Style(bold=True, reverse=True)
PROBLEM = Style(color="yellow")
DIM = Style(dim=True)


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
    phase: str = ""  # a replay's phase under the cursor ("phase 2/4 storage"), "" for none


def usage_texts(cpu_percent: float, rss_bytes: float) -> Tuple[str, str]:
    """memmap's own CPU and RSS as shown: RSS to the MiB, so the header does not flicker."""
    cpu = "-" if cpu_percent != cpu_percent else f"{cpu_percent:.1f} %"
    rss = "-" if rss_bytes != rss_bytes else f"{round(rss_bytes / 2**20)} MiB"
    return cpu, rss


def _width(pieces: Pieces) -> int:
    return sum(len(text) for text, _ in pieces)


class OneLine(CachedLines):
    """A one-line widget drawn from one cached strip, rebuilt only when its text changes."""

    DEFAULT_CSS = """
    OneLine { height: 1; }
    """

    _base: Optional[Style] = None  # its colours, kept until the size or the theme changes

    def pieces(self, width: int) -> Pieces:
        raise NotImplementedError

    def _rebuild(self, resized: bool = False) -> None:
        if resized or self._base is None:
            self._base = self.rich_style
        width, base = self.size.width, self._base
        segments = [Segment(text, base + style if style else base)
                    for text, style in self.pieces(width)]
        self._lines = [Strip(segments).crop_extend(0, width, base)]
        if resized:
            self.refresh()
        else:
            self.repaint_lines([0])

    def on_resize(self) -> None:
        self._rebuild(resized=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._base is not None and self.is_mounted:  # a theme change: new colours
            self._rebuild(resized=True)


class StatusBar(OneLine):
    """`memmap  live · sample 0.5 s · redraw 1 s · graphs 1 min ...  self: CPU 0.4 % RSS 41 MiB`."""

    DEFAULT_CSS = """
    StatusBar { background: $panel; color: $text; }
    """

    status: reactive[Status] = reactive(Status, repaint=False)

    def watch_status(self) -> None:
        self._rebuild()

    def pieces(self, width: int) -> Pieces:
        """The long form if it fits, else the short one, else the short one without the
        cadence and graph window (a pause, a replay's position and phase matter more)."""
        s = self.status
        long_right: Pieces = [(f"self: CPU {s.self_cpu} RSS {s.self_rss} ", None)]
        short_right: Pieces = [(f"self {s.self_cpu} {s.self_rss} ", None)]
        for left, right in ((self._left(short=False), long_right),
                            (self._left(short=True), short_right),
                            (self._left(short=True, settings=False), short_right)):
            if _width(left) + _width(right) + 1 <= width:
                break
        gap = width - _width(left) - _width(right)
        return [*left, (" " * gap, None), *right] if gap >= 1 else left

    def _left(self, short: bool, settings: bool = True) -> Pieces:
        s = self.status
        out: Pieces = [(" memmap ", BOLD), (f" {s.source}", None)]
        if s.paused:
            out.append(("  PAUSED ", PAUSED))
        if s.phase:
            out.append((f" · {s.phase}", BOLD))
        if s.interval == s.interval and settings:
            out.append((f" · {s.interval:g} s / {s.refresh:g} s" if short else
                        f" · sample {s.interval:g} s · redraw {s.refresh:g} s", None))
        if s.window and settings:
            out.append((f" · {s.window}" if short else f" · graphs {s.window}", None))
        for problem in s.problems[:1 if short else 2]:
            out.append((f"  {problem}", PROBLEM))
        return out


VERDICT_STYLES = {BAD: Style(color="red", bold=True), WARN: Style(color="yellow", bold=True)}


def _said(verdict: Optional[Verdict]) -> Optional[Tuple[str, str]]:
    """What the verdict line shows of a verdict."""
    return None if verdict is None else (verdict.level, verdict.text)
OK_MARK = Style(color="green")


class VerdictLine(OneLine):
    """The headline of memmap_tui.verdict over the last 10 s."""

    verdict: reactive[Optional[Verdict]] = reactive(None, repaint=False)

    def watch_verdict(self, old: Optional[Verdict], new: Optional[Verdict]) -> None:
        if _said(old) != _said(new):  # not when only the numbers behind the words moved
            self._rebuild()

    def pieces(self, width: int) -> Pieces:
        v = self.verdict
        if v is None:
            return [(" waiting for the first samples...", DIM)]
        mark = "!!" if v.level == BAD else "! " if v.level == WARN else "ok"
        style = VERDICT_STYLES.get(v.level)
        return [(" ", None), (f"{mark} ", style or OK_MARK), (v.text, style or BOLD)]
