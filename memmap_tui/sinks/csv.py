"""The CSV recorder: one header row, then one whole row per frame.

Rows are buffered and written whole (a single write per batch), so a reader never sees half a
row unless the process is killed outright in the middle of that write. No row waits longer than
`flush_seconds` (FLUSH_SECONDS, half a second: the contract) before it is written: a row is
held only while the next one is due soon enough; a block of rows from a batch (at most that
long, see commands/record.py) goes out as it comes, or the batch writes its rows itself in C as
they come, that many at a time (`direct_writer`, memmap_tui/batch.py); everything goes out on
close. So SIGKILL loses at most the last half second. The file is written at its end
(O_APPEND): emptied while memmap writes it (logrotate's copytruncate), it starts again with the
header. NaN is an empty cell; numbers keep 12 significant digits (exact for byte counts below a
terabyte) and timestamps microseconds. Text cells are neutralised against spreadsheet formula
injection.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
from array import array
from typing import Any, Callable, List, Optional

from ..model import Frame, Schema
from ..safetext import printable
from ..units import fmt_counted

try:  # the C twins of format_row and of this sink's writes (memmap_tui/_fieldread.c), when built
    from .._fieldread import RowWriter as _RowWriter  # type: ignore[import-not-found]
    from .._fieldread import format_rows as _format_rows
except ImportError:  # pragma: no cover - a build without the extension
    _format_rows = _RowWriter = None

FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")
FLUSH_SECONDS = 0.5  # the longest a row waits before it is written (README's guarantee)


def safe_text(cell: str) -> str:
    """A text cell that a spreadsheet cannot run as a formula (`=cmd()` -> `'=cmd()`)."""
    return "'" + cell if cell.startswith(FORMULA_LEADERS) else cell


def plain_text(cell: str) -> str:
    """What `safe_text` neutralised, for readers of our own files: `'=cmd()` -> `=cmd()`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_LEADERS) else cell


def quote(cell: str) -> str:
    """RFC 4180 quoting for a text cell."""
    cell = safe_text(cell)
    if any(ch in cell for ch in ',"\n\r'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def format_row(timestamp: float, values: List[float]) -> str:
    """`timestamp,v1,v2,...\\n` with NaN as an empty cell."""
    cells = ["%.12g" % v if v == v else "" for v in values]
    return "%.6f," % timestamp + ",".join(cells) + "\n"


class RowFormatter:
    """format_row's text for rows of `width` values, made in C where it is built: the row is
    packed (struct: one C loop) into an array and `format_rows` writes it in one call. The C
    twin writes the timestamp as "%.6f" only below 1e15 (and NaN as an empty cell) and no comma
    after it for a row of no values: those rows, rows of another width or not all numbers, and
    a build without it take format_row itself."""

    def __init__(self, width: int) -> None:
        self.width = width
        self._row = array("d", [0.0]) * (width + 1)
        self._pack = struct.Struct(f"{width + 1}d").pack_into

    def __call__(self, timestamp: float, values: List[float]) -> str:
        if (_format_rows is None or not values or len(values) != self.width
                or not abs(timestamp) < 1e15):
            return format_row(timestamp, values)
        try:
            self._pack(self._row, 0, timestamp, *values)
        except (TypeError, OverflowError, struct.error):
            return format_row(timestamp, values)
        return _format_rows(self._row, 1, self.width + 1)  # type: ignore[no-any-return]


def open_exclusive(path: str, force: bool) -> int:
    """Open `path` for writing; without `force` an existing file is an error (FileExistsError)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_APPEND | (
        os.O_TRUNC if force else os.O_EXCL)
    return os.open(path, flags, 0o644)


def write_block(fd: int, data: bytes) -> None:
    """Write `data` whole or not at all: when a write fails (ENOSPC, EDQUOT, EIO) after part of
    it went out, a regular file is cut back to where it began (O_APPEND: its end), so the file
    ends in a whole row; then the OSError is raised."""
    done = 0
    try:
        while done < len(data):
            done += os.write(fd, memoryview(data)[done:])
    except OSError:
        if done:
            with contextlib.suppress(OSError):
                st = os.fstat(fd)
                if stat.S_ISREG(st.st_mode) and st.st_size >= done:
                    os.ftruncate(fd, st.st_size - done)
        raise


def failure_reason(sink: CsvSink) -> Optional[str]:
    """Why the sink's file took no more rows ("No space left on device"); None while it
    takes them."""
    error = sink.failed
    return None if error is None else (error.strerror or str(error))


def write_failure(sink: CsvSink) -> str:
    """The line that says a sink's file took no more rows, and where it ends."""
    return (f"cannot write {printable(sink.path)}: {failure_reason(sink) or '?'}; the file ends "
            f"at its last whole row ({fmt_counted(sink.rows, 'row')}), the rest was not "
            "recorded")


def _emptied(fd: int) -> bool:
    """Whether the regular file open at `fd` is empty (a pipe's size is always 0)."""
    st = os.fstat(fd)
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


class CsvSink:
    """Appends frames to a CSV file. `fd` may be given already open (the CLI opens it early so
    that a bad path fails before any sampling starts)."""

    uses_tables = False  # fixed columns only: the collectors' per-process rows are not asked for

    def __init__(self, path: str, force: bool = False, flush_seconds: float = FLUSH_SECONDS,
                 fd: Optional[int] = None) -> None:
        self.path = path
        self.force = force
        self.flush_seconds = flush_seconds
        self.fd = fd
        self._rows = 0  # written from Python; `rows` adds those the C writers wrote
        self._direct_rows = 0  # written by C writers given up
        self._writer: Any = None
        self._pending: List[str] = []
        self._oldest = float("inf")  # monotonic time of the oldest row not yet written
        self._format: Callable[[float, List[float]], str] = format_row
        self._header = ""
        self.failed: Optional[OSError] = None  # the write that failed: rows stop there
        self.on_failure: Optional[Callable[[OSError], None]] = None  # told once, at that write

    def open(self, schema: Schema) -> None:
        self._format = RowFormatter(len(schema.columns))
        if self.fd is None:
            self.fd = open_exclusive(self.path, self.force)
        self._header = ",".join(quote(c) for c in ["timestamp", *schema.columns]) + "\n"
        self._put(self._header)

    @property
    def rows(self) -> int:
        """Rows written (or pending), whoever wrote them."""
        direct = self._writer.rows if self._writer is not None else 0
        return self._rows + self._direct_rows + int(direct)

    def direct_writer(self, plan: Any, width: int, every: int) -> Any:
        """A C writer of this file for a batch reader's raw rows `width` wide (derived by
        `plan`), `every` rows a write; None without the C extension or once closed. Rows pending
        here must be flushed before a batch writes with it."""
        if _RowWriter is None or self.fd is None or self.failed is not None:
            return None
        self._retire_writer()
        self._writer = _RowWriter(self.fd, plan, width, every, self.path, self._header.encode())
        return self._writer

    def write(self, frame: Frame) -> None:
        """Add a row; write what is pending unless the next row is due before the oldest
        pending one is `flush_seconds` old (the first row goes out at once)."""
        self._pending.append(self._format(frame.timestamp, frame.values))
        self._rows += 1
        now = frame.reading.monotonic
        if now < self._oldest:
            self._oldest = now
        step = frame.interval if frame.interval == frame.interval else 0.0
        if self._rows == 1 or now + step - self._oldest >= self.flush_seconds:
            self.flush()

    def write_text_batch(self, text: str, rows: int, now: float) -> None:
        """Whole CSV lines for `rows` frames at once (the batched sampler formats them in C);
        written at once, with anything pending."""
        self._rows += rows
        if self._pending:
            self._pending.append(text)
            self.flush()
        else:
            self._write(text)

    def flush(self, now: Optional[float] = None) -> None:
        """Write every pending row now (`now` is accepted for older callers, unused)."""
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._write(text)
        self._oldest = float("inf")

    def close(self) -> None:
        if self.fd is None:
            return
        try:
            self.flush()
        finally:
            os.close(self.fd)
            self.fd = None

    def fail(self, error: OSError) -> None:
        """The file took no more rows (a full disk, a quota, an I/O error): it ends at its last
        whole row (the failed write was cut back), later rows are dropped, and `on_failure`
        hears of it once. A C writer's failure comes here from its batch."""
        self._retire_writer()
        if self.failed is None:
            self.failed = error
            if self.on_failure is not None:
                self.on_failure(error)

    def _retire_writer(self) -> None:
        """The C writer is done with: its rows count as written, it writes no more."""
        if self._writer is not None:
            self._direct_rows += int(self._writer.rows)
            self._writer = None

    def _write(self, text: str) -> None:
        """Write rows; after the header, so a file emptied meanwhile (logrotate's copytruncate,
        `: > FILE`) starts again with it (the file is opened O_APPEND: rows go to its end).
        A failed write is not raised: the sink fails (see fail) and its rows are not counted."""
        assert self.fd is not None
        if self.failed is not None:
            self._rows -= text.count("\n")
            return
        try:
            self._put(self._header + text if _emptied(self.fd) else text)
        except OSError as exc:  # counted only here: a write must not pay for its failure
            self._rows -= text.count("\n")
            self.fail(exc)

    def _put(self, text: str) -> None:
        assert self.fd is not None
        write_block(self.fd, text.encode())
