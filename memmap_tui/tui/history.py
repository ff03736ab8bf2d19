"""The graphs' history: per-column means over fixed time buckets, fed a few rows at a time.

Drawing an hour at 10 Hz from raw rows would mean 36000 values per graph per redraw; instead the
window is cut into BUCKETS buckets of `window / BUCKETS` seconds (aligned to the clock, so a
recording always draws the same), each new row is added to its bucket once, and a graph asks
for the means of clock-aligned cells of buckets, as many cells as it is wide. A bucket that no
row fell into while samples came no further apart than a few buckets takes the previous mean
(a slow sampling interval is not a gap); a longer silence (pause) stays empty. No Textual here.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import islice
from typing import Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..thresholds import RECENT_WINDOW
from .recent import RecentMeans

WINDOWS: Tuple[Tuple[float, str], ...] = ((60.0, "1 min"), (600.0, "10 min"), (3600.0, "1 h"))
BUCKETS = 120  # at most this many graph cells show distinct values
RECENT_SECONDS = RECENT_WINDOW  # the verdict's window (memmap_tui.thresholds)
NAN = math.nan


class _Column:
    """One series: per completed bucket the sum and count of its values (count 0: no data)."""

    __slots__ = ("index", "sums", "counts", "total", "count", "last_mean")

    def __init__(self, index: int) -> None:
        self.index = index
        self.sums: Deque[float] = deque([0.0] * BUCKETS, maxlen=BUCKETS)
        self.counts: Deque[int] = deque([0] * BUCKETS, maxlen=BUCKETS)
        self.total = 0.0
        self.count = 0
        self.last_mean = NAN


class History:
    """Bucket means of the `tracked` columns of rows `timestamp, *columns` over `window` s."""

    def __init__(self, columns: Sequence[str], tracked: Iterable[str], window: float) -> None:
        self.columns = list(columns)
        self.position = {c: i + 1 for i, c in enumerate(self.columns)}  # 0 is the timestamp
        self.window = window
        self.bucket_seconds = window / BUCKETS
        self._tracked: Dict[str, _Column] = {
            c: _Column(self.position[c]) for c in dict.fromkeys(tracked) if c in self.position}
        self._bucket: Optional[int] = None
        self._gap = 0.0  # seconds between the last two rows
        self.recent: Deque[Sequence[float]] = deque()
        self.current_seconds = 1.0  # what "now" means for the values shown: one redraw period
        self._newest: Optional[List[Sequence[float]]] = None
        self.last_time = NAN
        self._scrolls: Dict[Tuple[str, int], _Scroll] = {}
        self._current: Dict[str, float] = {}
        self._recent: Optional[RecentMeans] = None

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, rows: Sequence[Sequence[float]]) -> None:
        """Add new rows (oldest first). A clock stepped back adds to the current bucket."""
        if not rows:
            return
        self._current, self._newest = {}, None
        for row in rows:
            self._add(row)
        self.recent.extend(rows)
        newest = rows[-1][0]
        while self.recent and self.recent[0][0] <= newest - RECENT_SECONDS:
            self.recent.popleft()
        if self._recent is not None:
            self._recent.add(rows)

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
            v = row[col.index]
            if v == v:
                col.total += v
                col.count += 1

    def _close_buckets(self, bucket: int) -> None:
        assert self._bucket is not None
        skipped = min(bucket - self._bucket - 1, BUCKETS)
        carry = skipped * self.bucket_seconds <= 3 * max(self._gap, self.bucket_seconds)
        for col in self._tracked.values():
            if col.count:
                col.sums.append(col.total)
                col.counts.append(col.count)
                col.last_mean = col.total / col.count
            else:
                self._fill(col, 1, carry)
            if skipped:
                self._fill(col, skipped, carry)
            col.total, col.count = 0.0, 0
        self._bucket = bucket

    @staticmethod
    def _fill(col: _Column, buckets: int, carry: bool) -> None:
        """Buckets no row fell into: the previous mean (weight 1) when carried, else empty."""
        if carry and col.last_mean == col.last_mean:
            col.sums.extend([col.last_mean] * buckets)
            col.counts.extend([1] * buckets)
        else:
            col.sums.extend([0.0] * buckets)
            col.counts.extend([0] * buckets)

    # -- reading ------------------------------------------------------------------------------
    def current(self, column: str) -> float:
        """Mean of `column` over the newest `current_seconds` (one redraw period) of rows."""
        value = self._current.get(column)
        if value is None:
            i = self.position.get(column)
            good = [r[i] for r in self._current_rows() if r[i] == r[i]] if i is not None else []
            value = self._current[column] = sum(good) / len(good) if good else NAN
        return value

    def latest(self, column: str) -> float:
        """The newest value of `column` within the newest `current_seconds` (NaN if none): what
        a count shows, since a mean of counts is a fraction."""
        i = self.position.get(column)
        if i is None:
            return NAN
        return next((r[i] for r in reversed(self._current_rows()) if r[i] == r[i]), NAN)

    def _current_rows(self) -> List[Sequence[float]]:
        if self._newest is None:
            recent = self.recent
            cutoff = recent[-1][0] - self.current_seconds if recent else 0.0
            n = 1
            while n < len(recent) and recent[-n - 1][0] > cutoff:
                n += 1
            self._newest = list(islice(recent, max(len(recent) - n, 0), None))
        return self._newest

    def series(self, column: str, cells: int) -> List[float]:
        """The window as `cells` means, oldest first; NaN where nothing was seen.

        Cells are aligned to the clock like buckets (cell g holds buckets g*B/cells up to
        (g+1)*B/cells), so a complete cell never changes: the graph scrolls, each call appending
        only the cells completed since the last one, instead of shimmering. The newest cell shows
        once it is complete (the value beside the graph is always current). Until a cell
        completes the same list comes back, so what was worked out from it (levels, peak) holds.
        """
        col = self._tracked.get(column)
        if col is None or cells <= 0 or self._bucket is None:
            return [NAN] * max(cells, 0)
        shown = min(cells, BUCKETS)
        last = _last_complete_cell(self._bucket, shown)
        scroll = self._scrolls.get((column, cells))
        if scroll is not None and scroll.last == last:
            return scroll.values
        if scroll is None or not 0 < last - scroll.last < shown:
            scroll = self._scrolls[(column, cells)] = _Scroll(shown, last - shown)
        oldest = self._bucket - len(col.sums)  # the bucket id of col.sums[0]
        scroll.means.extend([_cell_mean(col, g, shown, oldest)
                             for g in range(scroll.last + 1, last + 1)])
        scroll.last = last
        scroll.values = [NAN] * (cells - shown) + list(scroll.means)
        return scroll.values

    def recent_means(self) -> Dict[str, List[float]]:
        """{column: [its mean over the last RECENT_SECONDS]} ([] when it had no value there) of
        the columns given to `track_recent`: the verdict reads only means."""
        return self._recent.means() if self._recent is not None else {}

    def track_recent(self, columns: Iterable[str],
                     weights: Optional[Mapping[str, str]] = None) -> None:
        """Keep running means of these columns over the last RECENT_SECONDS (the verdict's);
        `weights`: {column: the column that weighs it} (a ratio by its count)."""
        positions = [(c, self.position[c]) for c in dict.fromkeys(columns) if c in self.position]
        by = {c: self.position[w] for c, w in (weights or {}).items() if w in self.position}
        self._recent = RecentMeans(positions, RECENT_SECONDS, by)
        self._recent.add(list(self.recent))

    def recent_window(self, columns: Iterable[str]) -> Dict[str, List[float]]:
        """{column: values over the last RECENT_SECONDS} for the verdict."""
        out = {}
        for c in columns:
            i = self.position.get(c)
            if i is not None:
                out[c] = [r[i] for r in self.recent]
        return out


class _Scroll:
    """One graph's complete cells, `shown` of them, the newest being cell id `last`."""

    __slots__ = ("means", "last", "values")

    def __init__(self, shown: int, last: int) -> None:
        self.means: Deque[float] = deque([NAN] * shown, maxlen=shown)
        self.last = last
        self.values: List[float] = []


def _cell_mean(col: _Column, cell: int, cells: int, oldest: int) -> float:
    """The mean of the buckets of clock-aligned cell `cell` (NaN if none had a value);
    `oldest` is the bucket id of col.sums[0]."""
    a, b = max(_edge(cell, cells) - oldest, 0), _edge(cell + 1, cells) - oldest
    c = sum(islice(col.counts, a, b))
    return sum(islice(col.sums, a, b)) / c if c else NAN


def _last_complete_cell(done: int, cells: int) -> int:
    """The newest cell whose buckets all come before bucket id `done` (the open one)."""
    last = (done * cells) // BUCKETS
    while ((last + 1) * BUCKETS) // cells > done:  # the next cell's first bucket is not done
        last -= 1
    return last


def _edge(cell: int, cells: int) -> int:
    """The first bucket id of a clock-aligned cell, with `cells` cells to BUCKETS buckets."""
    return (cell * BUCKETS) // cells
