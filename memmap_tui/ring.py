"""Recent history as float64 rows: the RingBuffer facade, its pure-Python twin, and names.

`RingBuffer(columns, capacity)` keeps the newest `capacity` rows of `columns` float64 values.
It is the C type from `memmap_tui._ringbuf` when that extension was built, else `PyRingBuffer`,
the pure-Python twin with the same API, errors and messages (the same test module runs against
both). `IMPLEMENTATION` says which: `"c"` or `"python"`.

Methods: `push(row)`, `push_buffer(buffer)`, `latest(n)` (rows as tuples, newest last),
`column(index, n)` (values, newest last), `clear()`, `len()`; read-only `columns`, `capacity` and
`total_pushed` (rows ever pushed; `clear()` does not reset it, so a reader can tell that new rows
arrived by comparing it with the value it saw last). One thread writes; readers get copies.

`NamedRing` adds the meaning: it maps metric names (CSV column names) to column indices.
"""

from __future__ import annotations

import operator
import sys
from array import array
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["IMPLEMENTATION", "NamedRing", "PyRingBuffer", "RingBuffer"]

# Largest and smallest Py_ssize_t: the C type clamps integer arguments to these.
_SSIZE_MAX = sys.maxsize
_SSIZE_MIN = -sys.maxsize - 1
_NATIVE_ORDER = "<" if sys.byteorder == "little" else ">"
_FLOAT64_FORMATS = frozenset(
    {"d", "@d", "=d", _NATIVE_ORDER + "d"} | ({"!d"} if sys.byteorder == "big" else set())
)
_ROW_CHANGED = "RingBuffer.push: row changed size while it was read"


def _index_arg(obj: Any, where: str, what: str) -> int:
    """An int argument clamped to the Py_ssize_t range, as the C type reads it."""
    if not hasattr(type(obj), "__index__"):
        raise TypeError(f"{where}: {what} must be an int, not {type(obj).__name__}")
    return max(_SSIZE_MIN, min(operator.index(obj), _SSIZE_MAX))


def _size_arg(obj: Any, what: str) -> int:
    value = _index_arg(obj, "RingBuffer()", what)
    if value <= 0:
        raise ValueError(f"RingBuffer(): {what} must be positive, got {obj!r}")
    return value


class PyRingBuffer:
    """The newest `capacity` rows of `columns` float64 values, in one preallocated array('d').

    The pure-Python twin of the C RingBuffer: same methods, errors and messages.
    Raises ValueError for non-positive sizes, MemoryError when the storage cannot be had.
    Made in __new__, as the C type is, so that calling __init__ again changes nothing.
    """

    __slots__ = ("_bytes", "_capacity", "_columns", "_count", "_data", "_head", "_total_pushed")

    def __new__(cls, columns: int, capacity: int) -> PyRingBuffer:
        self = super().__new__(cls)
        self._setup(columns, capacity)
        return self

    def _setup(self, columns: int, capacity: int) -> None:
        columns = _size_arg(columns, "columns")
        capacity = _size_arg(capacity, "capacity")
        too_large = (
            f"RingBuffer(): cannot allocate capacity={capacity} x columns={columns} float64 values"
        )
        # The C type's limit: its allocation has one scratch row beyond the ring.
        if (capacity + 1) * columns > _SSIZE_MAX // 8:
            raise MemoryError(too_large)
        try:
            self._data = array("d", [0.0]) * (capacity * columns)
        except MemoryError:
            raise MemoryError(too_large) from None
        self._bytes = memoryview(self._data).cast("B")
        self._columns = columns
        self._capacity = capacity
        self._head = 0  # the row slot the next push writes
        self._count = 0
        self._total_pushed = 0

    @property
    def columns(self) -> int:
        """Values per row."""
        return self._columns

    @property
    def capacity(self) -> int:
        """Rows held at most."""
        return self._capacity

    @property
    def total_pushed(self) -> int:
        """Rows ever pushed, including those overwritten or cleared."""
        return self._total_pushed

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} columns={self._columns} capacity={self._capacity} "
            f"len={self._count}>"
        )

    def push(self, row: Any, /) -> None:
        """Append one row of exactly `columns` numbers; when full, overwrite the oldest.

        A failed push changes nothing. Raises ValueError for a wrong length, TypeError for a
        value that is not a number, ValueError for an int beyond the float64 range.
        """
        if type(row) is not tuple and type(row) is not list:
            try:
                values_in = iter(row)
            except TypeError:
                raise TypeError(
                    f"RingBuffer.push: row must be a sequence of numbers, not {type(row).__name__}"
                ) from None
            row = list(values_in)
        columns = self._columns
        if len(row) != columns:
            raise ValueError(f"RingBuffer.push: row has {len(row)} values, want {columns}")
        # One temporary array: it converts by the C type's rules (PyFloat_AsDouble) and makes
        # the push all or nothing.
        try:
            values = array("d", row)
        except (TypeError, OverflowError):
            _raise_bad_value(row)
            raise
        except IndexError:  # a list shrunk by the __float__ of one of its items
            raise ValueError(_ROW_CHANGED) from None
        if len(values) != columns or len(row) != columns:
            raise ValueError(_ROW_CHANGED)
        start = self._head * columns
        self._data[start : start + columns] = values
        self._advance()

    def push_buffer(self, buffer: Any, /) -> None:
        """Append one row from a C-contiguous buffer of exactly `columns` native float64 values.

        Raises TypeError for another format or layout, ValueError for a wrong number of values.
        """
        try:
            view = memoryview(buffer)
        except TypeError:
            raise TypeError(
                f"RingBuffer.push_buffer: want a float64 buffer, not {type(buffer).__name__}"
            ) from None
        with view:
            if view.format not in _FLOAT64_FORMATS or view.itemsize != 8:
                raise TypeError(
                    f"RingBuffer.push_buffer: want a float64 buffer, got format '{view.format}'"
                )
            if not view.c_contiguous:
                raise TypeError("RingBuffer.push_buffer: buffer must be C-contiguous")
            values = view.nbytes // 8
            if values != self._columns:
                raise ValueError(
                    f"RingBuffer.push_buffer: buffer has {values} values, want {self._columns}"
                )
            start = self._head * self._columns * 8
            self._bytes[start : start + values * 8] = view.tobytes()
        self._advance()

    def latest(self, n: int, /) -> List[Tuple[float, ...]]:
        """The newest n rows, newest last, as tuples of floats; fewer when fewer are held."""
        n = min(_index_arg(n, "RingBuffer.latest", "n"), self._count)
        if n <= 0:
            return []
        columns = self._columns
        values = self._window(n, 0, 1).tolist()
        # zip over one iterator repeated `columns` times cuts the flat list into row tuples.
        return list(zip(*[iter(values)] * columns))

    def column(self, index: int, n: int, /) -> List[float]:
        """The newest n values of column `index`, newest last; fewer when fewer are held.

        Raises IndexError unless 0 <= index < columns.
        """
        index_value = _index_arg(index, "RingBuffer.column", "index")
        n = min(_index_arg(n, "RingBuffer.column", "n"), self._count)
        if not 0 <= index_value < self._columns:
            raise IndexError(
                f"RingBuffer.column: index {index!r} out of range for {self._columns} columns"
            )
        if n <= 0:
            return []
        return self._window(n, index_value, self._columns).tolist()

    def clear(self) -> None:
        """Forget every row; total_pushed keeps counting."""
        self._head = 0
        self._count = 0

    def _advance(self) -> None:
        self._head = 0 if self._head + 1 == self._capacity else self._head + 1
        if self._count < self._capacity:
            self._count += 1
        self._total_pushed += 1

    def _window(self, n: int, offset: int, step: int) -> array:
        """Values offset, offset+step, ... of the flat storage, over the newest n rows."""
        columns, head = self._columns, self._head
        start = head - n
        if start >= 0:
            return self._data[start * columns + offset : head * columns : step]
        older = self._data[(start + self._capacity) * columns + offset :: step]
        return older + self._data[offset : head * columns : step]


def _raise_bad_value(row: Sequence[Any]) -> None:
    """Raises the error for the first value of row that is not a float64 (push's error path)."""
    probe = array("d", [0.0])
    for i, value in enumerate(row):
        try:
            probe[0] = value
        except TypeError:
            raise TypeError(
                f"RingBuffer.push: value {i} is {type(value).__name__}, not a number"
            ) from None
        except OverflowError:
            raise ValueError(f"RingBuffer.push: value {i} is out of float64 range") from None


try:
    from memmap_tui._ringbuf import RingBuffer as _CRingBuffer
except ImportError:  # built without a compiler: the twin does the work
    _CRingBuffer = None

RingBuffer: Any = PyRingBuffer if _CRingBuffer is None else _CRingBuffer
IMPLEMENTATION = "python" if _CRingBuffer is None else "c"


class NamedRing:
    """A ring whose columns are named metrics: `names[i]` is the name of column i.

    Raises ValueError when the names do not match the ring's columns one to one.
    """

    __slots__ = ("_index", "names", "ring")

    def __init__(self, ring: Any, names: Sequence[str]) -> None:
        self.ring = ring
        self.names: Tuple[str, ...] = tuple(names)
        if len(self.names) != ring.columns:
            raise ValueError(
                f"NamedRing: {len(self.names)} names for a ring of {ring.columns} columns"
            )
        self._index: Dict[str, int] = {name: i for i, name in enumerate(self.names)}
        if len(self._index) != len(self.names):
            repeated = sorted({name for name in self.names if self.names.count(name) > 1})
            raise ValueError(f"NamedRing: repeated names {repeated}")

    def index(self, name: str) -> int:
        """The column of metric `name`; KeyError when there is none."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"NamedRing: no column named {name!r}") from None

    def series(self, name: str, n: int) -> List[float]:
        """The newest n values of metric `name`, newest last."""
        return self.ring.column(self.index(name), n)

    def latest_row(self) -> Optional[Dict[str, float]]:
        """The newest row as {name: value}, or None when the ring is empty."""
        rows = self.ring.latest(1)
        return dict(zip(self.names, rows[0])) if rows else None
