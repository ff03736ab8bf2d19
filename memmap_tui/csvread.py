"""Reading a memmap recording (the CSV that `memmap record` writes) back into columns.

Used by `memmap report` and `memmap replay`. Tolerant of the one damage a recorder can leave:
a last line cut short because the recorder was killed mid-write (no newline at its end). That
line is left out and `Recording.cut` says so. Strict about everything else, so that a file that
is not a memmap recording is refused with one line (UsageError, exit 2) instead of a traceback
or a wrong summary: missing or unreadable file, binary data (NUL bytes, not UTF-8), a header
whose first column is not `timestamp`, empty or repeated column names, a row with the wrong
number of cells, a cell that is not a number as memmap writes one (ASCII, no '_': float() alone
would take '1_000' or digits of other scripts).

Bounded, whatever the file: only regular files are read (a FIFO, /dev/zero or a terminal is
refused at once, without blocking), a header line of at most MAX_HEADER_BYTES, at most
MAX_COLUMNS columns whose names are at most MAX_NAME_CHARS characters without control
characters, and no row longer than a memmap row of that width can be. Timestamps must be Unix
seconds (finite, 0 to MAX_TIMESTAMP). A value that is infinite or beyond +-MAX_VALUE is no
measurement: it is read as not available (NaN) and counted in `Recording.dropped`. Timestamps
that go backwards (a wall clock set back during the recording) are kept in their order and
counted in `Recording.backward`; `elapsed()` and `duration` count such a step as no time.

Values are held column-wise in `array('d')` (8 bytes a value, no Python object per cell), NaN for
an empty cell. The reader works line by line: text cells with a newline inside quotes are not
part of the format.
"""

from __future__ import annotations

import csv
import math
import os
import stat
from array import array
from dataclasses import dataclass, field
from typing import BinaryIO, Dict, Iterator, List, Optional, Sequence

from .catalog import current_name
from .collector import UsageError
from .safetext import has_control, printable
from .sinks.csv import plain_text

TIMESTAMP = "timestamp"
NAN = math.nan
MAX_HEADER_BYTES = 1 << 20      # 1 MiB: thousands of columns
MAX_COLUMNS = 10_000
MAX_NAME_CHARS = 256
MAX_CELL_CHARS = 30             # a memmap cell is at most 18 characters ("%.12g", "%.6f")
MAX_TIMESTAMP = 1e11            # Unix seconds: the year 5138
MAX_VALUE = 1e30                # beyond any byte count, rate or percentage, and summable
CHUNK_ROWS = 8192               # rows parsed into a flat block before it joins the columns
# With cells of at most MAX_CELL_CHARS, only a line with an exponent (e, E) or a NaN or inf
# spelled out (n, N) can hold a value outside +-MAX_VALUE.
_SUSPECT = (b"e", b"E", b"n", b"N")
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotARecording(UsageError):
    """The file is not a memmap recording (or cannot be read): one line for the user, exit 2."""


@dataclass
class Recording:
    """A recording's header and values. `data[i]` holds column `columns[i]`, one value a row."""

    path: str
    columns: List[str]
    data: List[array] = field(default_factory=list)
    cut: bool = False  # the last line was cut short (a killed recorder) and is left out
    dropped: int = 0   # values that were infinite or beyond +-MAX_VALUE, read as NaN
    backward: int = 0  # steps where the timestamp went back (a clock set back)
    most_back: float = 0.0  # the largest such step, seconds

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
        """Seconds from the first row to the last (0 for one row); a step where the clock went
        back counts as no time."""
        if not len(self):
            return 0.0
        stamps = self.data[0]
        if not self.backward:
            return stamps[-1] - stamps[0]
        return self.elapsed()[-1]

    def elapsed(self) -> array:
        """Seconds since the first row, one per row, never decreasing (a step back counts 0)."""
        stamps = self.data[0]
        if not self.backward:
            first = stamps[0] if len(stamps) else 0.0
            return array("d", (t - first for t in stamps))
        out, total, previous = array("d"), 0.0, stamps[0] if len(stamps) else 0.0
        for t in stamps:
            if t > previous:
                total += t - previous
            previous = t
            out.append(total)
        return out

    def window(self) -> Dict[str, Sequence[float]]:
        """Column name -> values over the whole recording, the shape verdict() takes."""
        return {name: values for name, values in zip(self.columns, self.data)}

    def _index(self) -> Dict[str, int]:
        return {name: i for i, name in enumerate(self.columns)}


def load_recording(path: str) -> Recording:
    """Read a memmap CSV; NotARecording (a UsageError) with one line when it is not one."""
    shown = printable(path, 200)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block
    except FileNotFoundError:
        raise NotARecording(f"{shown}: no such file") from None
    except PermissionError:
        raise NotARecording(f"{shown}: permission denied") from None
    except OSError as exc:
        raise NotARecording(f"{shown}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise NotARecording(f"{shown} is a directory, not a recording")
        if not stat.S_ISREG(mode):
            kind = next((word for test, word in _KINDS if test(mode)), "not a regular file")
            raise NotARecording(f"{shown} is {kind}, not a recording (memmap reads regular "
                                "files only)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            fd = -1
            return _parse(shown, f)
    except OSError as exc:
        raise NotARecording(f"{shown}: cannot read: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)


class _Rows:
    """Parses data lines into a recording's columns, a block of rows at a time."""

    def __init__(self, path: str, rec: Recording) -> None:
        self.path, self.rec = path, rec
        self.width = len(rec.columns)
        self.limit = self.width * (MAX_CELL_CHARS + 1) + 2  # the longest line a row may be
        self.flat = array("d")
        self.rows = 0
        self.last_time = NAN

    def add(self, number: int, raw: bytes) -> None:
        if len(raw) > self.limit:
            raise NotARecording(f"{self.path} line {number}: longer than any memmap row of "
                                f"{self.width} columns")
        text = _decode(self.path, raw, number)
        cells = _cells(text)
        if len(cells) != self.width:
            raise NotARecording(f"{self.path} line {number}: {len(cells)} cells, the header has "
                                f"{self.width}")
        if max(map(len, cells)) > MAX_CELL_CHARS:
            raise NotARecording(f"{self.path} line {number}: a cell longer than any number "
                                f"memmap writes ({MAX_CELL_CHARS} characters)")
        try:
            if not _plain(text):
                raise ValueError
            values = [float(c) if c else NAN for c in cells]
        except ValueError:
            self._bad_cell(number, cells)
        if not cells[0]:
            raise NotARecording(f"{self.path} line {number}: no timestamp")
        self._check_time(number, values[0])
        if any(mark in raw for mark in _SUSPECT):
            self._drop_outliers(values)
        self.flat.extend(values)
        self.rows += 1
        if self.rows % CHUNK_ROWS == 0:
            self.flush()

    def _bad_cell(self, number: int, cells: List[str]) -> None:
        for i, cell in enumerate(cells):
            if not cell and i == 0:
                raise NotARecording(f"{self.path} line {number}: no timestamp")
            try:
                if cell and _plain(cell):
                    float(cell)
                    continue
            except ValueError:
                pass
            if cell:
                raise NotARecording(f"{self.path} line {number}: '{printable(cell, 30)}' in "
                                    f"column {printable(self.rec.columns[i], 60)} is not a "
                                    "number")
        raise NotARecording(f"{self.path} line {number}: not a memmap row")

    def _check_time(self, number: int, t: float) -> None:
        if not 0.0 <= t <= MAX_TIMESTAMP:  # NaN fails this too
            raise NotARecording(f"{self.path} line {number}: timestamp {t!r} is not Unix "
                                f"seconds (0 to {MAX_TIMESTAMP:.0e})")
        if t < self.last_time:
            self.rec.backward += 1
            self.rec.most_back = max(self.rec.most_back, self.last_time - t)
        self.last_time = t

    def _drop_outliers(self, values: List[float]) -> None:
        for i, v in enumerate(values):
            if not -MAX_VALUE <= v <= MAX_VALUE and v == v:
                values[i] = NAN
                self.rec.dropped += 1

    def flush(self) -> None:
        """Move the parsed block into the columns."""
        if self.flat:
            for i, column in enumerate(self.rec.data):
                column.extend(self.flat[i::self.width])
            self.flat = array("d")


def _plain(text: str) -> bool:
    """Whether `text` holds only what memmap writes in its numbers: ASCII, no '_'. float()
    takes more (digits of other scripts, Python's digit grouping '1_000'), which no recorder
    writes and which would be read as a number nobody meant."""
    return text.isascii() and "_" not in text


def _readline(f: BinaryIO, limit: int) -> bytes:
    """One line of at most `limit` bytes (longer is returned cut, without its newline)."""
    return f.readline(limit + 1)


def _parse(path: str, f: BinaryIO) -> Recording:
    first = _readline(f, MAX_HEADER_BYTES)
    if len(first) > MAX_HEADER_BYTES:
        raise NotARecording(f"{path} is not a memmap recording: its first line is longer than "
                            f"{MAX_HEADER_BYTES >> 20} MiB")
    if not first.strip():
        raise NotARecording(f"{path} is empty, not a memmap recording")
    columns = _header(path, _decode(path, first, 1))
    if not first.endswith(b"\n"):
        raise NotARecording(f"{path}: its header line is cut short; it holds no samples")
    rec = Recording(path, columns, [array("d") for _ in columns])
    rows = _Rows(path, rec)
    pending: Optional[bytes] = None
    number = pending_number = 1
    while True:
        raw = _readline(f, rows.limit)
        if not raw:
            break
        number += 1
        if len(raw) > rows.limit:
            rows.add(number, raw)  # refused: too long
        if not raw.strip():
            continue  # a blank line (an editor's trailing newline) carries nothing
        if pending is not None:
            rows.add(pending_number, pending)
        pending, pending_number = raw, number
    if pending is not None:
        if pending.endswith(b"\n"):
            rows.add(pending_number, pending)
        else:
            _decode(path, pending, pending_number)  # binary garbage at the end is still refused
            rec.cut = True
    rows.flush()
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
                            f"'{printable(columns[0], 40)}', not '{TIMESTAMP}'")
    if len(columns) < 2:
        raise NotARecording(f"{path} is not a memmap recording: it has no metric columns, "
                            f"only '{TIMESTAMP}'")
    if any(not c for c in columns):
        raise NotARecording(f"{path} is not a memmap recording: empty column name in the header")
    if len(columns) > MAX_COLUMNS:
        raise NotARecording(f"{path} is not a memmap recording: {len(columns)} columns (at most "
                            f"{MAX_COLUMNS})")
    seen = set()
    for c in columns:
        if len(c) > MAX_NAME_CHARS:
            raise NotARecording(f"{path} is not a memmap recording: a column name of {len(c)} "
                                f"characters ('{printable(c, 40)}'; at most {MAX_NAME_CHARS})")
        if has_control(c):
            raise NotARecording(f"{path} is not a memmap recording: column "
                                f"'{printable(c, 60)}' holds control characters")
        if c in seen:
            raise NotARecording(f"{path} is not a memmap recording: column '{printable(c, 60)}' "
                                "appears twice")
        seen.add(c)
    return columns
