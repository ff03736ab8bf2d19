"""Bounded running aggregates for the run summary: a quantile histogram and a memory series.

Both take a run of any length in memory that does not grow with it: the histogram keeps log-scale
bins 1 % wide (a few thousand at most), the series at most MAX_POINTS points (every other one is
dropped when it fills, and from then on only every other new one is kept).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

from .. import thresholds as T

NAN = math.nan
BIN_RATIO = 1.01
_LOG_BIN = math.log(BIN_RATIO)
MAX_POINTS = 2048


class Histogram:
    """Weighted quantiles of non-negative values in bins BIN_RATIO wide (bounded memory)."""

    def __init__(self) -> None:
        self.bins: Dict[int, float] = {}
        self.total = 0.0

    def add(self, value: float, weight: float) -> None:
        key = -1 if value < 1.0 else int(math.log(value) / _LOG_BIN)
        self.bins[key] = self.bins.get(key, 0.0) + weight
        self.total += weight

    def quantile(self, q: float) -> float:
        """The value at or below which `q` of the weight lies (a bin's middle); NaN if empty."""
        if self.total <= 0.0:
            return NAN
        need, seen = q * self.total, 0.0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen >= need - 1e-12:
                return 0.0 if key < 0 else BIN_RATIO ** (key + 0.5)
        return NAN


def slope(points: Sequence[Tuple[float, float]]) -> float:
    """Least-squares slope of y over t; NaN for fewer than two distinct times."""
    n = len(points)
    if n < 2:
        return NAN
    t0 = points[0][0]
    st = sum(t - t0 for t, _ in points)
    sy = sum(y for _, y in points)
    stt = sum((t - t0) ** 2 for t, _ in points)
    sty = sum((t - t0) * y for t, y in points)
    spread = n * stt - st * st
    return (n * sty - st * sy) / spread if spread > 0 else NAN


class Growth:
    """A memory figure over a run, for its growth after start-up (memmap_tui.thresholds:
    GROWTH_STARTUP of the run is left out, and a run under GROWTH_MIN_RUN is too short)."""

    def __init__(self) -> None:
        self.points: List[Tuple[float, float]] = []
        self._stride = 1
        self._seen = 0
        self.first: Optional[float] = None
        self.last: Optional[float] = None

    def add(self, t: float, value: float) -> None:
        if self.first is None:
            self.first = t
        self.last = t
        self._seen += 1
        if (self._seen - 1) % self._stride:
            return
        self.points.append((t, value))
        if len(self.points) >= MAX_POINTS:
            self.points = self.points[::2]
            self._stride *= 2

    @property
    def span(self) -> float:
        return self.last - self.first if self.first is not None and self.last is not None else 0.0

    def per_minute(self) -> Tuple[float, str]:
        """(bytes per minute after start-up, '' ) or (NaN, why there is no figure)."""
        if self.first is None:
            return NAN, "not measured"
        if self.span < T.GROWTH_MIN_RUN:
            return NAN, f"too short to tell ({self.span:.1f} s < {T.GROWTH_MIN_RUN:.0f} s)"
        start = self.first + self.span * T.GROWTH_STARTUP / 100.0
        return slope([p for p in self.points if p[0] >= start]) * 60.0, ""
