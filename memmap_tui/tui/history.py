"""The graphs' history: per-column means over fixed time buckets, fed a few rows at a time.

Drawing an hour at 10 Hz from raw rows would mean 36000 values per graph per redraw; instead the
window is cut into BUCKETS buckets of `window / BUCKETS` seconds (aligned to the clock, so a
recording always draws the same), each new row is added to its bucket once, and a graph asks
for the bucket means resampled to its width. A bucket that no row fell into while samples came
no further apart than a few buckets takes the previous mean (a slow sampling interval is not a
gap); a longer silence (pause) stays empty. No Textual import here.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

WINDOWS: Tuple[Tuple[float, str], ...] = ((60.0, "1 min"), (600.0, "10 min"), (3600.0, "1 h"))
BUCKETS = 240
RECENT_SECONDS = 10.0  # the verdict's window
NAN = math.nan


class _Column:
    __slots__ = ("index", "minus", "means", "total", "count", "last_mean")

    def __init__(self, index: int, minus: int) -> None:
        self.index = index
        self.minus = minus  # the position of a column to subtract, or 0 for none
        self.means: Deque[float] = deque(maxlen=BUCKETS)
        self.total = 0.0
        self.count = 0
        self.last_mean = NAN


class History:
    """Bucket means of tracked series of rows `timestamp, *columns` over `window` seconds.

    `tracked`: {key: (column, minus)}: the series `column` (minus the column `minus`, when
    not empty) under the name `key`.
    """

    def __init__(self, columns: Sequence[str], tracked: Mapping[str, Tuple[str, str]],
                 window: float) -> None:
        self.columns = list(columns)
        self.position = {c: i + 1 for i, c in enumerate(self.columns)}  # 0 is the timestamp
        self.window = window
        self.bucket_seconds = window / BUCKETS
        self._tracked: Dict[str, _Column] = {
            key: _Column(self.position[c], self.position.get(minus, 0))
            for key, (c, minus) in tracked.items() if c in self.position}
        self._bucket: Optional[int] = None
        self._gap = 0.0  # seconds between the last two rows
        self.generation = 0  # bumps when a bucket completes
        self.recent: Deque[Sequence[float]] = deque()
        self.batch: List[Sequence[float]] = []
        self.last_time = NAN
        self._series_cache: Dict[Tuple[str, int], Tuple[int, List[float]]] = {}

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, rows: Sequence[Sequence[float]]) -> None:
        """Add new rows (oldest first). A clock stepped back adds to the current bucket."""
        if not rows:
            return
        self.batch = list(rows)
        for row in rows:
            self._add(row)
        self.recent.extend(rows)
        newest = rows[-1][0]
        while self.recent and self.recent[0][0] <= newest - RECENT_SECONDS:
            self.recent.popleft()

    def _add(self, row: Sequence[float]) -> None:
        t = row[0]
        bucket = int(t // self.bucket_seconds)
        if self._bucket is None:
            self._bucket = bucket
        elif bucket > self._bucket:
            self._close_buckets(bucket)
        if not math.isnan(self.last_time) and t > self.last_time:
            self._gap = t - self.last_time
        self.last_time = t
        for col in self._tracked.values():
            v = row[col.index] - row[col.minus] if col.minus else row[col.index]
            if v == v:
                col.total += v
                col.count += 1

    def _close_buckets(self, bucket: int) -> None:
        assert self._bucket is not None
        skipped = min(bucket - self._bucket - 1, BUCKETS)
        carry = skipped * self.bucket_seconds <= 3 * max(self._gap, self.bucket_seconds)
        for col in self._tracked.values():
            mean = col.total / col.count if col.count else (col.last_mean if carry else NAN)
            col.means.append(mean)
            fill = mean if carry else NAN
            col.means.extend([fill] * skipped)
            col.last_mean, col.total, col.count = mean, 0.0, 0
        self._bucket = bucket
        self.generation += 1

    # -- reading ------------------------------------------------------------------------------
    def current(self, column: str, minus: str = "") -> float:
        """Mean of `column` (less `minus`) over the rows of the last feed (one refresh)."""
        i = self.position.get(column)
        if i is None:
            return NAN
        j = self.position.get(minus, 0) if minus else 0
        values = [r[i] - r[j] for r in self.batch] if j else [r[i] for r in self.batch]
        good = [v for v in values if v == v]
        return sum(good) / len(good) if good else NAN

    def series(self, column: str, cells: int) -> List[float]:
        """The window as `cells` means, oldest first; NaN where nothing was seen."""
        col = self._tracked.get(column)
        if col is None or cells <= 0:
            return [NAN] * max(cells, 0)
        key = (column, cells)
        cached = self._series_cache.get(key)
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        means = list(col.means)
        result = resample([NAN] * (BUCKETS - len(means)) + means, cells)
        self._series_cache[key] = (self.generation, result)
        return result

    def recent_window(self, columns: Iterable[str]) -> Dict[str, List[float]]:
        """{column: values over the last RECENT_SECONDS} for the verdict."""
        out = {}
        for c in columns:
            i = self.position.get(c)
            if i is not None:
                out[c] = [r[i] for r in self.recent]
        return out


def resample(values: Sequence[float], cells: int) -> List[float]:
    """Means of `values` cut into `cells` equal spans (NaN ignored; NaN for an empty span)."""
    n = len(values)
    if cells >= n:
        # more cells than values: each value covers one or more cells
        return [values[min(n - 1, (j * n) // cells)] for j in range(cells)] if n else []
    out = []
    for j in range(cells):
        span = [v for v in values[(j * n) // cells:((j + 1) * n) // cells] if v == v]
        out.append(sum(span) / len(span) if span else NAN)
    return out
