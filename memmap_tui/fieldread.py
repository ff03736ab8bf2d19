"""Numbers out of /proc-style files straight into a float64 row: the sampling fast path.

A collector describes what it wants as data: files (opened once, re-read with pread) and rules,
each taking one number from one line and adding `coef * number` into one slot of a row. Sums,
differences and unit changes are therefore rules too (disk total = sum of disks; used memory =
MemTotal - MemAvailable; sectors * 512). A slot whose rules did not all match is NaN.

Lines are split on spaces, tabs, ':' and '='. A line is found by its key, the token at the
file's `key_token` (0 for `MemTotal:`, 2 for a diskstats device), or with AFTER_PAREN by taking
the tokens after the last ')' of the file (/proc/PID/stat, whose command name may hold spaces),
all of its tokens when it has none (a one-line file of numbers: /sys/block/<disk>/stat);
`head()` then gives the text before those tokens and the first of them: b"PID (name) S", and
`heads()` one such head per file, as of that file's last read (b"" for other files), so that one
reader can cover the stat files of a whole process tree.
The first line with a rule's key decides that rule (NaN when its token is missing or not a
number). An OSError from `read` names the file (as it was given) in its `filename`.

Limits, checked when a reader is made (ValueError), the same in C and in the twin: a rule's
`token` and a file's `key_token` address the first MAX_TOKENS (64) tokens of a line (a line may
hold any number of tokens; those after the 64th are never looked at); a key is ASCII, shorter
than MAX_KEY (64) characters, without separators or newlines; `width` is at most MAX_WIDTH.
A file longer than 64 MiB is an OSError (EFBIG). After `close()`, `read()` raises ValueError;
calling `__init__` again closes the old files first.

A file may be given as (path, key_token, period): the C reader's `read_schedule` then reads it
at most once a period and holds its rules' values on the ticks between, for files whose numbers
cannot change faster or mean little over less (/proc/stat counts CPU time a kernel tick at a
time; the host reads it every 0.1 s at most). `read()` reads every
file, in C and in the twin.

The C reader also reads less where it can: once every rule of a keyed file matched, it asks the
kernel only for the bytes up to the last wanted line (and a margin), which for a seq_file such as
/proc/vmstat skips formatting the rest. Cut lines are not parsed, and a wanted line that moved
past the cut makes it read the whole file at once; the twin always reads whole files. The
values are the same either way. Only the C reader has `read_schedule` (a batch of reads without
the GIL, during which its other methods but `cancel` and `wake_fd` raise RuntimeError).

`FieldReader` is the C type from `memmap_tui._fieldread` when it was built, else `PyFieldReader`,
its pure-Python twin with the same behaviour; `IMPLEMENTATION` says which.
"""

from __future__ import annotations

import errno
import operator
import os
import re
import resource
import sys
from array import array
from typing import Any, Dict, List, Optional, Sequence, Tuple

AFTER_PAREN = -1
MAX_TOKENS = 64  # tokens 0..63 of a line can be a key or a rule's number
MAX_KEY = 64  # keys are shorter than this
MAX_WIDTH = sys.maxsize // 8  # slots of a row: width * 8 bytes must fit in a Py_ssize_t
MAX_FILE = 64 << 20  # bytes of one file
MAX_PERIOD = 3600.0  # seconds: the longest period of a file (C's MAX_SLEEP)
FileSpec = Tuple[str, int, float]
RuleSpec = Tuple[int, str, int, int, float]

_SEPARATORS = re.compile(r"[ \t:=]+")
_NOT_IN_A_TOKEN = re.compile(r"[ \t:=\n]")
_FIRST_TOKEN = re.compile(rb"[ \t:=]*[^ \t:=]+")
_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]*)?")
_WHERE = "FieldReader()"


def _number(token: str) -> float:
    m = _NUMBER.match(token)
    return float(m.group()) if m else float("nan")


def _index_arg(obj: Any, where: str, what: str) -> int:
    """An int argument clamped to the Py_ssize_t range, as the C type reads it."""
    if not hasattr(type(obj), "__index__"):
        raise TypeError(f"{where}: {what} must be an int, not {type(obj).__name__}")
    return max(-sys.maxsize - 1, min(operator.index(obj), sys.maxsize))


def _float_arg(obj: Any, where: str, what: str) -> float:
    """A number (not a string) as float() makes it; ValueError beyond the float64 range."""
    if not isinstance(obj, float) and not any(
            hasattr(type(obj), name) for name in ("__index__", "__float__")):
        raise TypeError(f"{where}: {what} must be a number, not {type(obj).__name__}")
    try:
        return float(obj)
    except OverflowError:
        raise ValueError(f"{where}: {what} is out of float64 range") from None


def _file_spec(item: Any, i: int) -> Tuple[bytes, int]:
    """files[i]: (path, key_token) or (path, key_token, period), checked as the C type checks
    it (the twin has no read_schedule, so it reads every file on every read, as read() does)."""
    if not isinstance(item, tuple) or len(item) not in (2, 3):
        raise TypeError(f"{_WHERE}: files[{i}] must be a (path, key_token[, period]) tuple")
    if len(item) == 3:
        period = _float_arg(item[2], _WHERE, "a file's period")
        if not 0.0 <= period <= MAX_PERIOD:
            raise ValueError(f"{_WHERE}: files[{i}]: period must be in 0..{MAX_PERIOD:g} seconds")
    path = os.fsencode(item[0])
    if b"\0" in path:
        raise ValueError("embedded null byte")
    key_token = _index_arg(item[1], _WHERE, "key_token")
    if not -1 <= key_token < MAX_TOKENS:
        raise ValueError(f"{_WHERE}: files[{i}]: key_token must be in -1..{MAX_TOKENS - 1}")
    return path, key_token


def _rule(item: Any, r: int, file_count: int, width: int) -> RuleSpec:
    """rules[r]: (file index, key, token, slot, coef), checked as the C type checks it."""
    if not isinstance(item, tuple) or len(item) != 5:
        raise TypeError(f"{_WHERE}: rules[{r}] must be a (file, key, token, slot, coef) tuple")
    file_index = _index_arg(item[0], _WHERE, "a rule's file")
    key = item[1]
    if not isinstance(key, str):
        raise TypeError(f"{_WHERE}: a rule's key must be a str, not {type(key).__name__}")
    token = _index_arg(item[2], _WHERE, "a rule's token")
    slot = _index_arg(item[3], _WHERE, "a rule's slot")
    coef = _float_arg(item[4], _WHERE, "a rule's coef")
    if not 0 <= file_index < file_count:
        raise ValueError(f"{_WHERE}: rules[{r}] names file {file_index} of {file_count}")
    if not key.isascii() or len(key) >= MAX_KEY or _NOT_IN_A_TOKEN.search(key):
        raise ValueError(f"{_WHERE}: rules[{r}]: a key is ASCII, shorter than {MAX_KEY} "
                         "characters, without separators")
    if not (0 <= token < MAX_TOKENS and 0 <= slot < width):
        raise ValueError(f"{_WHERE}: rules[{r}]: token must be in 0..{MAX_TOKENS - 1} and slot "
                         f"in 0..{width - 1}")
    return file_index, key, token, slot, coef


class PyFieldReader:
    """The pure-Python twin of the C FieldReader: same arguments, checks and results."""

    _closed = True
    _head = b""
    _heads: List[bytes] = []
    width = 0

    def __init__(self, files: Sequence[FileSpec], rules: Sequence[RuleSpec], width: int) -> None:
        if not self._closed:  # a second __init__ starts afresh; a failed one leaves it closed
            self.close()
        self._closed, self._fds, self._head, self._heads = True, [], b"", []
        width = _index_arg(width, _WHERE, "width")
        if not 0 < width <= MAX_WIDTH:
            raise ValueError(f"{_WHERE}: width must be in 1..{MAX_WIDTH}")
        files = _sequence(files, "files")
        rules = _sequence(rules, "rules")
        specs = [_file_spec(item, i) for i, item in enumerate(files)]
        self.width = width
        self._key_tokens = [key_token for _, key_token in specs]
        self._rules: List[RuleSpec] = []
        for r, item in enumerate(rules):
            rule = _rule(item, r, len(specs), width)
            if self._rules and rule[0] < self._rules[-1][0]:
                raise ValueError(f"{_WHERE}: rules must be grouped by file")
            self._rules.append(rule)
        self._key_lines = [_key_line_pattern({r[1] for r in self._rules if r[0] == i and r[1]})
                           for i in range(len(specs))]
        self._names = [item[0] for item in files]
        self._heads = [b""] * len(specs)
        try:
            for path, _ in specs:
                self._fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            self.close()
            raise OSError(exc.errno, exc.strerror, self._names[len(self._fds)]) from None
        self._closed = False

    def read(self, row: Any) -> None:
        """Re-read every file and fill `row` (a float64 buffer of `width`), NaN where unmatched.

        ValueError after close() or for a buffer of another format or size; TypeError for what
        is not a writable buffer."""
        if self._closed:
            raise ValueError("FieldReader.read: the reader is closed")
        view: Any = _doubles(row, self.width)
        tables = [self._tokens(i, fd) for i, fd in enumerate(self._fds)]
        for _, _, _, slot, _ in self._rules:
            view[slot] = 0.0
        missing = set()
        for file_index, key, token, slot, coef in self._rules:
            tokens = tables[file_index].get(key)
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

    def heads(self) -> List[bytes]:
        """One head per file, in file order: an AFTER_PAREN file's as of its last read (b""
        before one), b"" for other files."""
        return list(self._heads)

    def _tokens(self, index: int, fd: int) -> dict:
        """{line key: tokens} for one file; the first line with a key wins."""
        try:
            raw = _read_whole(fd)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, self._names[index]) from None
        text = raw.decode("ascii", "replace")
        key_token = self._key_tokens[index]
        if key_token == AFTER_PAREN:
            close = raw.rfind(b")") + 1
            first = _FIRST_TOKEN.match(raw, close)
            self._head = self._heads[index] = raw[:first.end() if first else close][:256]
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
        """Close every file; read() raises ValueError from then on."""
        for fd in getattr(self, "_fds", []):
            if fd >= 0:
                os.close(fd)
        self._fds = [-1] * len(getattr(self, "_fds", []))
        self._closed = True


def _sequence(obj: Any, what: str) -> Sequence[Any]:
    if isinstance(obj, (list, tuple)):
        return obj
    try:
        return list(obj)
    except TypeError:
        raise TypeError(f"{_WHERE}: {what} must be a sequence") from None


def _doubles(row: Any, width: int) -> memoryview:
    """row as a writable one-dimensional float64 memoryview of exactly `width` values."""
    want = f"FieldReader.read: want a writable float64 buffer of {width} values"
    try:
        view = memoryview(row)
    except TypeError:
        raise TypeError(f"{want}, not {type(row).__name__}") from None
    if view.readonly or not view.c_contiguous:
        raise TypeError(f"{want}, not {type(row).__name__}")
    if view.format != "d" or view.ndim != 1 or len(view) != width:
        raise ValueError(want)
    return view


def _key_line_pattern(keys: set) -> re.Pattern[str]:
    """Matches whole lines that start with one of `keys` followed by a separator."""
    alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) or "(?!)"
    return re.compile(rf"(?m)^[ \t:=]*({alternatives})(?:[ \t:=].*)?$")


def _read_whole(fd: int) -> bytes:
    """The whole file from offset 0; OSError(EFBIG) beyond MAX_FILE bytes, as in C."""
    chunks, offset = [], 0
    while True:
        try:
            chunk = os.pread(fd, 65536, offset)
        except InterruptedError:
            continue
        chunks.append(chunk)
        offset += len(chunk)
        if offset > MAX_FILE:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        if len(chunk) < 65536:
            return b"".join(chunks)


try:
    from ._fieldread import FieldReader  # type: ignore[import-not-found]

    IMPLEMENTATION = "c"
except ImportError:  # no compiler at install time
    FieldReader = PyFieldReader  # type: ignore[misc,assignment]
    IMPLEMENTATION = "python"


def free_descriptors() -> Optional[int]:
    """How many more files this process may open under its soft limit (None: no limit). A
    reader keeps its files open: a tree of processes and a batch of ticks ask this first."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        return soft - len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0  # not even the listing could be opened: none left


class RowPlan:
    """Builds the files and rules for one FieldReader while a collector declares its metrics."""

    def __init__(self) -> None:
        self.files: List[FileSpec] = []
        self.rules: List[RuleSpec] = []
        self.width = 0

    def file(self, path: str, key_token: int = 0, period: float = 0.0) -> int:
        """Index of `path` (added once). `period`: the file's numbers cannot change faster
        than this (seconds), so a batch at a shorter interval reads it only this often. Only
        for numbers whose columns are ratios of two of them (NaN on the rows between reads,
        where no time went by): a per-second rate of a held counter would read 0, then all
        of it at once."""
        for i, (known, _, _) in enumerate(self.files):
            if known == path:
                return i
        self.files.append((path, key_token, period))
        return len(self.files) - 1

    def held_slots(self) -> List[int]:
        """The slots filled from files with a period (held between their reads), in order."""
        held = {i for i, (_, _, period) in enumerate(self.files) if period > 0}
        return sorted({rule[3] for rule in self.rules if rule[0] in held})

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
