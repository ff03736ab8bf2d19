"""Numbers out of /proc-style files straight into a float64 row: the sampling fast path.

A collector describes what it wants as data: files (opened once, re-read with pread) and rules,
each taking one number from one line and adding `coef * number` into one slot of a row. Sums,
differences and unit changes are therefore rules too (disk total = sum of disks; used memory =
MemTotal - MemAvailable; sectors * 512). A slot whose rules did not all match is NaN.

Lines are split on spaces, tabs, ':' and '='. A line is found by its key, the token at the file's
`key_token` (0 for `MemTotal:`, 2 for a diskstats device), or with AFTER_PAREN by taking the
tokens after the last ')' of the file (/proc/PID/stat, whose command name may hold spaces);
`head()` then gives the text before those tokens and the first of them: b"PID (name) S".
An OSError from `read` names the file (as it was given) in its `filename`.

The C reader also reads less where it can: once every rule of a keyed file matched, it asks the
kernel only for the bytes up to the last wanted line (and a margin), which for a seq_file such as
/proc/vmstat skips formatting the rest. Cut lines are not parsed, and a wanted line that moved
past the cut makes it read the whole file at once; the twin always reads whole files. The
values are the same either way.

`FieldReader` is the C type from `memmap_tui._fieldread` when it was built, else `PyFieldReader`,
its pure-Python twin with the same behaviour; `IMPLEMENTATION` says which.
"""

from __future__ import annotations

import os
import re
from array import array
from typing import Any, Dict, List, Sequence, Tuple

AFTER_PAREN = -1
FileSpec = Tuple[str, int]
RuleSpec = Tuple[int, str, int, int, float]

_SEPARATORS = re.compile(r"[ \t:=]+")
_FIRST_TOKEN = re.compile(rb"[ \t:=]*[^ \t:=]+")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d*)?")


def _number(token: str) -> float:
    m = _NUMBER.match(token)
    return float(m.group()) if m else float("nan")


class PyFieldReader:
    """The pure-Python twin of the C FieldReader: same arguments, same results."""

    def __init__(self, files: Sequence[FileSpec], rules: Sequence[RuleSpec], width: int) -> None:
        if width <= 0:
            raise ValueError("FieldReader: width must be positive")
        self.width = width
        self._key_tokens = [key_token for _, key_token in files]
        self._rules: List[RuleSpec] = [
            (int(f), str(k), int(t), int(s), float(c)) for f, k, t, s, c in rules]
        self._key_lines = [_key_line_pattern({r[1] for r in self._rules if r[0] == i and r[1]})
                           for i in range(len(files))]
        for file_index, key, token, slot, _ in self._rules:
            if (len(key) >= 64 or not 0 <= file_index < len(files) or not 0 <= slot < width
                    or not 0 <= token < 64):
                raise ValueError("FieldReader: rule key too long, or token or slot out of range")
        if [r[0] for r in self._rules] != sorted(r[0] for r in self._rules):
            raise ValueError("FieldReader: rules must be grouped by file")
        self._names = [path for path, _ in files]
        self._head = b""
        self._fds: List[int] = []
        try:
            for path, _ in files:
                self._fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            self.close()
            raise

    def read(self, row: Any) -> None:
        """Re-read every file and fill `row` (a float64 buffer of `width`), NaN where unmatched."""
        view: Any = memoryview(row)
        if view.format != "d" or len(view) != self.width:
            raise ValueError(f"FieldReader.read: want a writable float64 buffer of {self.width}")
        tables = [self._tokens(i, fd) for i, fd in enumerate(self._fds)] if self._fds else []
        for _, _, _, slot, _ in self._rules:
            view[slot] = 0.0
        missing = set()
        for file_index, key, token, slot, coef in self._rules:
            tokens = tables[file_index].get(key) if tables else None
            value = _number(tokens[token]) if tokens is not None and token < len(tokens) else None
            if value is None or value != value:
                missing.add(slot)
            else:
                view[slot] += coef * value
        for slot in missing:
            view[slot] = float("nan")

    def head(self) -> bytes:
        """Of the last AFTER_PAREN file read: the text through the first token after the last
        ')', at most 256 bytes."""
        return self._head

    def _tokens(self, index: int, fd: int) -> dict:
        """{line key: tokens} for one file; the first line with a key wins."""
        if fd < 0:
            return {}
        try:
            raw = _read_whole(fd)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self._names[index]) from None
        text = raw.decode("ascii", "replace")
        key_token = self._key_tokens[index]
        if key_token == AFTER_PAREN:
            close = raw.rfind(b")") + 1
            first = _FIRST_TOKEN.match(raw, close)
            self._head = raw[:first.end() if first else close][:256]
            return {"": [t for t in _SEPARATORS.split(text[close:]) if t]}
        lines: Dict[str, List[str]] = {}
        if key_token == 0:  # only the lines whose first token is a wanted key
            for m in self._key_lines[index].finditer(text):
                lines.setdefault(m.group(1), [t for t in _SEPARATORS.split(m.group(0)) if t])
            return lines
        for line in text.split("\n"):
            tokens = [t for t in _SEPARATORS.split(line) if t]
            if len(tokens) > key_token:
                lines.setdefault(tokens[key_token], tokens)
        return lines

    def close(self) -> None:
        for fd in self._fds:
            if fd >= 0:
                os.close(fd)
        self._fds = [-1] * len(self._fds)


def _key_line_pattern(keys: set) -> re.Pattern[str]:
    """Matches whole lines that start with one of `keys` followed by a separator."""
    alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) or "(?!)"
    return re.compile(rf"(?m)^[ \t:=]*({alternatives})(?:[ \t:=].*)?$")


def _read_whole(fd: int) -> bytes:
    chunks, offset = [], 0
    while True:
        try:
            chunk = os.pread(fd, 65536, offset)
        except InterruptedError:
            continue
        chunks.append(chunk)
        offset += len(chunk)
        if len(chunk) < 65536:
            return b"".join(chunks)


try:
    from ._fieldread import FieldReader  # type: ignore[import-not-found]

    IMPLEMENTATION = "c"
except ImportError:  # no compiler at install time
    FieldReader = PyFieldReader  # type: ignore[misc,assignment]
    IMPLEMENTATION = "python"


class RowPlan:
    """Builds the files and rules for one FieldReader while a collector declares its metrics."""

    def __init__(self) -> None:
        self.files: List[FileSpec] = []
        self.rules: List[RuleSpec] = []
        self.width = 0

    def file(self, path: str, key_token: int = 0) -> int:
        """Index of `path` (added once)."""
        for i, (known, _) in enumerate(self.files):
            if known == path:
                return i
        self.files.append((path, key_token))
        return len(self.files) - 1

    def slot(self) -> int:
        """A new slot in the row."""
        self.width += 1
        return self.width - 1

    def add(self, file: int, key: str, token: int, slot: int, coef: float = 1.0) -> None:
        self.rules.append((file, key, token, slot, coef))

    def reader(self, implementation: Any = None) -> Any:
        """The reader for this plan (C when built, unless `implementation` says otherwise)."""
        cls = implementation or FieldReader
        ordered = sorted(self.rules, key=lambda r: r[0])
        return cls(self.files, ordered, max(self.width, 1))

    def new_row(self) -> array:
        return array("d", [0.0]) * max(self.width, 1)
