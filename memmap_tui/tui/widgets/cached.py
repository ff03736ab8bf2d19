"""Widgets drawn from their own cached strips, repainted a few lines at a time.

A monitor redraws every second, and much of what Textual does per widget refresh (a per-line
border, padding and style pass) costs more than drawing the few lines that changed. A
`CachedLines` widget keeps every line of its box as a Strip, hands them to the compositor as
they are (`render_lines`, no styles pass), and repaints just the changed lines.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Tuple

from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget


class CachedLines(Widget):
    """Holds `self._lines` (one Strip per line, top to bottom, all as wide as the widget) and
    draws nothing else."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: List[Strip] = []

    def render_lines(self, crop: Region) -> List[Strip]:
        """The cached lines within `crop` (widget coordinates)."""
        lines = self._lines
        x, y, width, height = crop
        if not x and not y and height == len(lines) and lines and lines[0].cell_length == width:
            return list(lines)  # the whole widget (its lines are all as wide): the compositor
            # asks for that on every update, whatever it repaints
        out = []
        for y in range(crop.y, crop.y + crop.height):
            line = lines[y] if y < len(lines) else Strip.blank(crop.right)
            out.append(line if crop.x == 0 and crop.width == line.cell_length
                       else line.crop_extend(crop.x, crop.right, None))
        return out

    def repaint_lines(self, lines: Iterable[int]) -> None:
        """Repaint these lines (widget coordinates) on the next screen update."""
        regions = line_regions(lines, self.size.width)
        if regions:
            self.refresh(*regions)


def line_regions(lines: Iterable[int], width: int) -> List[Region]:
    """One region per run of consecutive lines."""
    regions: List[Region] = []
    for y in sorted(lines):
        last = regions[-1] if regions else None
        if last is not None and last.y + last.height == y:
            regions[-1] = Region(0, last.y, width, last.height + 1)
        elif last is None or y >= last.y + last.height:
            regions.append(Region(0, y, width, 1))
    return regions


class Backdrop(Widget):
    """A container its children cover whole (the overview's columns, the screen): drawn as
    blank lines of its background, kept until its size or colours change. Textual's own
    drawing of a container runs a style pass over each of its lines whenever the screen
    updates anywhere across it, though none of it shows."""

    _backdrop: Optional[Strip] = None

    def render_lines(self, crop: Region) -> List[Strip]:
        blank = self._backdrop
        if blank is None or blank.cell_length != crop.width:
            blank = self._backdrop = Strip.blank(crop.width, self.rich_style)
        return [blank] * crop.height

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._backdrop = None  # new colours


class KeptLines(Widget):
    """A widget whose own lines, as Textual draws them, are kept until it is refreshed, resized
    or restyled: for a widget whose look seldom changes but that the compositor asks for on
    every update. Mixed in after the widget's class, so that CSS still knows it by that name."""

    _kept: Optional[Tuple[Region, Size, List[Strip]]] = None

    def render_lines(self, crop: Region) -> List[Strip]:
        kept = self._kept
        if kept is None or kept[0] != crop or kept[1] != self.size:
            kept = self._kept = (crop, self.size, super().render_lines(crop))
        return kept[2]

    def refresh(self, *regions: Region, **kwargs: Any) -> Any:
        self._kept = None
        return super().refresh(*regions, **kwargs)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._kept = None
