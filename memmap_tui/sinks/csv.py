"""The CSV recorder: one header row, then one whole row per frame.

Rows are buffered and written whole (a single write per batch), so a reader never sees half a
row unless the process is killed outright in the middle of that write. Batches go out at least
every `flush_seconds` and on close. NaN is an empty cell; numbers keep 12 significant digits
(exact for byte counts below a terabyte) and timestamps microseconds. Text cells are neutralised
against spreadsheet formula injection.
"""

from __future__ import annotations

import os
from typing import List, Optional

from ..model import Frame, Schema

FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")


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


def open_exclusive(path: str, force: bool) -> int:
    """Open `path` for writing; without `force` an existing file is an error (FileExistsError)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_TRUNC if force else os.O_EXCL)
    return os.open(path, flags, 0o644)


class CsvSink:
    """Appends frames to a CSV file. `fd` may be given already open (the CLI opens it early so
    that a bad path fails before any sampling starts)."""

    def __init__(self, path: str, force: bool = False, flush_seconds: float = 1.0,
                 fd: Optional[int] = None) -> None:
        self.path = path
        self.force = force
        self.flush_seconds = flush_seconds
        self.fd = fd
        self.rows = 0
        self._pending: List[str] = []
        self._last_flush = float("-inf")

    def open(self, schema: Schema) -> None:
        if self.fd is None:
            self.fd = open_exclusive(self.path, self.force)
        header = ",".join(quote(c) for c in ["timestamp", *schema.columns]) + "\n"
        self._write(header)

    def write(self, frame: Frame) -> None:
        self._pending.append(format_row(frame.timestamp, frame.values))
        self.rows += 1
        now = frame.reading.monotonic
        if now - self._last_flush >= self.flush_seconds:
            self.flush(now)

    def write_text_batch(self, text: str, rows: int, now: float) -> None:
        """Whole CSV lines for `rows` frames at once (the batched sampler formats them in C)."""
        self._pending.append(text)
        self.rows += rows
        if now - self._last_flush >= self.flush_seconds:
            self.flush(now)

    def flush(self, now: Optional[float] = None) -> None:
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._write(text)
        if now is not None:
            self._last_flush = now

    def close(self) -> None:
        if self.fd is None:
            return
        try:
            self.flush()
        finally:
            os.close(self.fd)
            self.fd = None

    def _write(self, text: str) -> None:
        assert self.fd is not None
        data = memoryview(text.encode())
        while data:
            written = os.write(self.fd, data)
            data = data[written:]
