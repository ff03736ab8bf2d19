"""Means over the last few seconds of rows, for the verdict, kept up as rows come. No Textual.

The diagnosis reads only the means of its columns over its window (memmap_tui.verdict's
Figures), so the TUI keeps those means instead of handing it every value of the window again
each refresh. Rows are summed once, in blocks of at most BLOCK rows; a refresh adds its new
block and drops the blocks that left the window, and the one block that the window's edge cuts
is summed again from the rows it keeps. A mean is the sum of the blocks' sums: nothing is ever
subtracted, so no running total drifts, and a window of zeros means exactly zero.

A column given a weight (the position of another column: a ratio's denominator count, see
memmap_tui.figures.count_weights) is the mean of its values weighted by that column's.
"""

from __future__ import annotations

from collections import deque
from typing import Deque, Dict, List, Mapping, Optional, Sequence, Tuple

BLOCK = 16  # rows summed together at most (a refresh at 10 Hz and 1 s brings 10)
Rows = Sequence[Sequence[float]]


class _Block:
    """Some consecutive rows and, per column followed, the sum and count of its values."""

    __slots__ = ("rows", "sums", "counts")

    def __init__(self, rows: Rows, positions: Sequence[int], weights: Sequence[int]) -> None:
        self.rows = rows
        self.sums: List[float] = []
        self.counts: List[float] = []
        columns = list(zip(*rows))
        for i, by in zip(positions, weights):
            values: Sequence[float] = columns[i]
            if by >= 0:  # weighted by another column (a ratio by its count)
                pairs = [(v, w) for v, w in zip(values, columns[by]) if v == v and w > 0.0]
                self.sums.append(sum(v * w for v, w in pairs))
                self.counts.append(sum(w for _, w in pairs))
                continue
            total = sum(values)
            if total != total:  # a NaN (no value) among them, or infinities that cancel
                values = [v for v in values if v == v]
                total = sum(values)
            self.sums.append(total)
            self.counts.append(len(values))


class RecentMeans:
    """Means of some columns over the rows of the last `seconds` (rows `timestamp, *values`).

    `columns`: (name, position in the row) of each column followed; `weights`: {name: the
    position of the column that weighs it}, for the columns weighted by another.
    """

    def __init__(self, columns: Sequence[Tuple[str, int]], seconds: float,
                 weights: Optional[Mapping[str, int]] = None) -> None:
        self.names = [name for name, _ in columns]
        self.positions = [position for _, position in columns]
        self.weights = [(weights or {}).get(name, -1) for name in self.names]
        self.seconds = seconds
        self._blocks: Deque[_Block] = deque()

    def add(self, rows: Rows) -> None:
        """Add new rows (oldest first) and forget those older than the window."""
        if not rows:
            return
        for start in range(0, len(rows), BLOCK):
            self._blocks.append(_Block(rows[start:start + BLOCK], self.positions, self.weights))
        self._expire(rows[-1][0] - self.seconds)

    def _expire(self, cutoff: float) -> None:
        """Drop the rows at or before `cutoff` from the oldest end, up to the first later one."""
        blocks = self._blocks
        while blocks and all(r[0] <= cutoff for r in blocks[0].rows):
            blocks.popleft()
        if blocks and blocks[0].rows[0][0] <= cutoff:
            rows = blocks[0].rows
            keep = next(k for k, r in enumerate(rows) if r[0] > cutoff)
            blocks[0] = _Block(rows[keep:], self.positions, self.weights)

    def means(self) -> Dict[str, List[float]]:
        """{column: [mean]}, or {column: []} when it had no value in the window."""
        if not self._blocks:
            return {name: [] for name in self.names}
        sums = [sum(s) for s in zip(*[b.sums for b in self._blocks])]
        counts = [sum(c) for c in zip(*[b.counts for b in self._blocks])]
        return {name: [total / count] if count > 0 else []
                for name, total, count in zip(self.names, sums, counts)}
