"""Reading a memmap recording (the CSV that `memmap record` writes) back into columns.

Used by `memmap report` and `memmap replay`. Tolerant of the one damage a recorder can leave:
a last line cut short because the recorder was killed mid-write (no newline at its end). That
line is left out and `Recording.cut` says so. Strict about everything else, so that a file that
is not a memmap recording is refused with one line (UsageError, exit 2) instead of a traceback
or a wrong summary: missing or unreadable file, binary data (NUL bytes, not UTF-8), a header
whose first column is not `timestamp`, empty or repeated column names, a row with the wrong
number of cells, a cell that is not a number.

Values are held column-wise in `array('d')` (8 bytes a value, no Python object per cell), NaN for
an empty cell. The reader works line by line: text cells with a newline inside quotes are not
part of the format.
"""

from __future__ import annotations

import csv
import math
from array import array
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, Iterator, List, Optional, Sequence

from .catalog import current_name
from .collector import UsageError
from .sinks.csv import plain_text

TIMESTAMP = "timestamp"
NAN = math.nan


class NotARecording(UsageError):
    """The file is not a memmap recording (or cannot be read): one line for the user, exit 2."""


@dataclass
class Recording:
    """A recording's header and values. `data[i]` holds column `columns[i]`, one value a row."""

    path: str
    columns: List[str]
    data: List[array] = field(default_factory=list)
    cut: bool = False  # the last line was cut short (a killed recorder) and is left out

    def __len__(self) -> int:
        return len(self.data[0]) if self.data else 0

    @property
    def metrics(self) -> List[str]:
        """The metric columns: every column but `timestamp`."""
        return self.columns[1:]

    def column(self, name: str) -> Sequence[float]:
        """The values of column `name`, one per row; KeyError if there is no such column."""
        return self.data[self._index()[name]]

    def row(self, i: int) -> List[float]:
        """Row `i` as floats (timestamp first), in header order."""
        return [values[i] for values in self.data]

    def rows(self) -> Iterator[List[float]]:
        for i in range(len(self)):
            yield self.row(i)

    @property
    def timestamps(self) -> Sequence[float]:
        return self.data[0]

    @property
    def duration(self) -> float:
        """Seconds from the first row to the last (0 for one row)."""
        return self.data[0][-1] - self.data[0][0] if len(self) else 0.0

    def window(self) -> Dict[str, Sequence[float]]:
        """Column name -> values over the whole recording, the shape verdict() takes."""
        return {name: values for name, values in zip(self.columns, self.data)}

    def _index(self) -> Dict[str, int]:
        return {name: i for i, name in enumerate(self.columns)}


def load_recording(path: str) -> Recording:
    """Read a memmap CSV; NotARecording (a UsageError) with one line when it is not one."""
    try:
        with open(path, "rb") as f:
            return _parse(path, f)
    except FileNotFoundError:
        raise NotARecording(f"{path}: no such file") from None
    except IsADirectoryError:
        raise NotARecording(f"{path} is a directory, not a recording") from None
    except PermissionError:
        raise NotARecording(f"{path}: permission denied") from None
    except OSError as exc:
        raise NotARecording(f"{path}: cannot read: {exc.strerror or exc}") from None


def _parse(path: str, f: BinaryIO) -> Recording:
    lines = iter(f)
    first = next(lines, b"")
    if not first.strip():
        raise NotARecording(f"{path} is empty, not a memmap recording")
    columns = _header(path, _decode(path, first, 1))
    if not first.endswith(b"\n"):
        raise NotARecording(f"{path}: its header line is cut short; it holds no samples")
    rec = Recording(path, columns, [array("d") for _ in columns])
    width = len(columns)
    append = [values.append for values in rec.data]
    pending: Optional[bytes] = None
    number = pending_number = 1
    for raw in lines:
        number += 1
        if not raw.strip():
            continue  # a blank line (an editor's trailing newline) carries nothing
        if pending is not None:
            _add_row(path, pending_number, _decode(path, pending, pending_number), width,
                     columns, append)
        pending, pending_number = raw, number
    if pending is not None:
        if pending.endswith(b"\n"):
            _add_row(path, pending_number, _decode(path, pending, pending_number), width,
                     columns, append)
        else:
            _decode(path, pending, pending_number)  # binary garbage at the end is still refused
            rec.cut = True
    _prefer_filled(rec)
    return rec


def _prefer_filled(rec: Recording) -> None:
    """Where an old column kept its old name because today's was taken (`_current_names`) and
    the column under today's name is empty (an old Jetson recording's sysfs EMC without root,
    beside tegrastats' EMC), the empty one goes and the filled one takes today's name."""
    index = {name: i for i, name in enumerate(rec.columns)}
    drop = set()
    for i, name in enumerate(rec.columns):
        j = index.get(current_name(name)) if i else None
        if j is not None and j != i and j not in drop and _empty(rec.data[j]) \
                and not _empty(rec.data[i]):
            rec.columns[i] = rec.columns[j]
            drop.add(j)
    if drop:
        rec.columns = [c for k, c in enumerate(rec.columns) if k not in drop]
        rec.data = [d for k, d in enumerate(rec.data) if k not in drop]


def _empty(values: Sequence[float]) -> bool:
    return all(math.isnan(v) for v in values)


def _decode(path: str, raw: bytes, number: int) -> str:
    if b"\x00" in raw:
        raise NotARecording(f"{path} is not a memmap recording: binary data on line {number}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotARecording(f"{path} is not a memmap recording: line {number} is not "
                            "UTF-8 text") from None
    return text.rstrip("\r\n")


def _current_names(columns: Sequence[str]) -> List[str]:
    """Each column under its name of today, unless that name is taken: an old Jetson recording
    holds the sysfs `jetson.ram.used_bytes` beside tegrastats' `tegra.ram.used_bytes`; the
    column already under today's name (or the first renamed to it) keeps it, the other its
    old name."""
    present, named = set(columns), []
    for column in columns:
        new = current_name(column)
        named.append(new if new == column or (new not in present and new not in named)
                     else column)
    return named


def _cells(text: str) -> List[str]:
    if '"' not in text:
        return text.split(",")
    return next(csv.reader([text]))


def _header(path: str, text: str) -> List[str]:
    """The header's columns, each under the name it has today (memmap_tui.catalog: a Jetson
    recording's old `tegra.*` columns are read as the unified ones)."""
    columns = [plain_text(c.strip()) for c in _cells(text.lstrip("\ufeff"))]
    columns = [columns[0], *_current_names(columns[1:])]
    if columns[0] != TIMESTAMP:
        raise NotARecording(f"{path} is not a memmap recording: its first column is "
                            f"'{columns[0][:40]}', not '{TIMESTAMP}'")
    if len(columns) < 2 or any(not c for c in columns):
        raise NotARecording(f"{path} is not a memmap recording: empty column name in the header")
    seen = set()
    for c in columns:
        if c in seen:
            raise NotARecording(f"{path} is not a memmap recording: column '{c}' appears twice")
        seen.add(c)
    return columns


def _add_row(path: str, number: int, text: str, width: int, columns: List[str],
             append: list) -> None:
    cells = _cells(text)
    if len(cells) != width:
        raise NotARecording(f"{path} line {number}: {len(cells)} cells, the header has {width}")
    for i, cell in enumerate(cells):
        if not cell:
            if i == 0:
                raise NotARecording(f"{path} line {number}: no timestamp")
            append[i](NAN)
            continue
        try:
            append[i](float(cell))
        except ValueError:
            raise NotARecording(f"{path} line {number}: '{cell[:30]}' in column {columns[i]} "
                                "is not a number") from None
