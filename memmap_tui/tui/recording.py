"""Reading a recording (a CSV written by `memmap record`) into rows for a RecordingSource.

The header's first cell is `timestamp`; every other cell is a metric column. An empty cell is NaN.
A file that is not such a recording raises UsageError with one line naming the problem.
A last row cut short (the recorder was killed mid-write) is dropped, not fatal.
"""

from __future__ import annotations

import csv
import math
from typing import List, Sequence, Tuple

from ..collector import UsageError

Rows = List[Tuple[float, ...]]


def parse_recording(lines: Sequence[str], name: str = "recording") -> Tuple[List[str], Rows]:
    """(metric columns without `timestamp`, rows `timestamp, *values`) from CSV text lines."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header or header[0] != "timestamp":
        raise UsageError(f"{name}: not a memmap recording (the first column must be 'timestamp')")
    width = len(header)
    rows: Rows = []
    for number, cells in enumerate(reader, start=2):
        if len(cells) != width:
            if _is_last(number, lines):
                break  # a row cut short by a kill: drop it
            raise UsageError(f"{name}: line {number} has {len(cells)} cells, want {width}")
        try:
            rows.append(tuple(float(c) if c else math.nan for c in cells))
        except ValueError:
            raise UsageError(f"{name}: line {number} has a cell that is not a number") from None
    return header[1:], rows


def _is_last(number: int, lines: Sequence[str]) -> bool:
    return number >= len([line for line in lines if line.strip()])


def read_recording(path: str) -> Tuple[List[str], Rows]:
    """parse_recording() of a file; UsageError when it cannot be read."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return parse_recording(f.read().splitlines(), path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not a text file"
        raise UsageError(f"cannot read {path}: {reason}") from None
