"""Line charts drawn in the terminal with plotext, as text (for `memmap report`).

plotext rewrote its whole API in 6.0 (a `figure` object that draws signals, where 5.x had
module-level `plot()`/`build()`); `line_chart` speaks to either, so the report works with
whichever the machine has. Long series are averaged down to two points per character column
before drawing: a chart 100 cells wide cannot show more (braille dots are two to a cell), and
plotext slows down with hundreds of thousands of points.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import plotext

Series = Tuple[str, Sequence[float], Sequence[float]]  # (label, x values, y values)
MARKERS = ("•", "x", "+", "o", "*", "#", "~", "=")  # one a series, told apart without colour


def downsample(xs: Sequence[float], ys: Sequence[float], points: int
               ) -> Tuple[List[float], List[float]]:
    """At most `points` (x, y) pairs: bucket means, NaN values left out."""
    pairs = [(x, y) for x, y in zip(xs, ys) if not (math.isnan(x) or math.isnan(y))]
    if len(pairs) <= points:
        return [x for x, _ in pairs], [y for _, y in pairs]
    size = len(pairs) / points
    out_x, out_y = [], []
    for b in range(points):
        bucket = pairs[int(b * size):int((b + 1) * size)]
        if bucket:
            out_x.append(sum(x for x, _ in bucket) / len(bucket))
            out_y.append(sum(y for _, y in bucket) / len(bucket))
    return out_x, out_y


def line_chart(title: str, series: Sequence[Series], width: int = 100, height: int = 14,
               xlabel: str = "seconds", color: bool = False) -> str:
    """The chart as text, its legend on the last line (ANSI colours only when `color`).

    Each series is drawn with its own marker character, so that the chart still reads in a
    file or a 16-colour terminal; '' when no series has a point.
    """
    drawn: List[Tuple[str, List[float], List[float], str]] = []
    for label, xs, ys in series:
        xs, ys = downsample(xs, ys, 2 * width)
        if xs:
            drawn.append((label, xs, ys, MARKERS[len(drawn) % len(MARKERS)]))
    if not drawn:
        return ""
    if hasattr(plotext, "figure") and hasattr(plotext.figure, "signal"):
        text = _plotext6(title, drawn, width, height, xlabel, color)
    else:
        text = _plotext5(title, drawn, width, height, xlabel, color)
    legend = "   ".join(f"{marker} {label}" for label, _, _, marker in drawn)
    return text + "\n" + " " * 4 + legend


def _plotext6(title: str, drawn: list, width: int, height: int, xlabel: str,
              color: bool) -> str:
    fig = plotext.figure
    fig.clear.all()
    fig.plot_size(width, height)
    for _, xs, ys, marker in drawn:
        fig.draw(fig.signal(xs, ys, marker=marker).lines(True))
    fig.title(title)
    fig.label(xlabel, axis=0)
    return str(fig.build().string(colorless=not color)).rstrip()


def _plotext5(title: str, drawn: list, width: int, height: int, xlabel: str,
              color: bool) -> str:
    plt = plotext
    plt.clear_figure()
    plt.plotsize(width, height)
    for _, xs, ys, marker in drawn:
        plt.plot(xs, ys, marker=marker)
    plt.title(title)
    plt.xlabel(xlabel)
    text = plt.build()
    return str(text if color else plt.uncolorize(text)).rstrip()
