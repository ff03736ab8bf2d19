"""How much a RingBuffer costs from Python: push of one row, and latest(600) for a graph.

    python bench/ring_bench.py [--n 1000000] [--columns 32]

Prints nanoseconds per call for the C type (when built) and the pure-Python twin, and the ratio.
Each figure is the best of a few runs (noise only ever adds time) and includes the cost of the
Python loop that calls it, since that is what a sampler pays. `push_ns` and `latest_ns` are
importable, for bench/overhead.py.
"""

from __future__ import annotations

import argparse
import sys
from time import perf_counter
from typing import Any, List, Optional

import _installed

_installed.require_built()
from memmap_tui.ring import IMPLEMENTATION, PyRingBuffer, RingBuffer  # noqa: E402


def push_ns(cls: Any, n: int, columns: int = 32, capacity: int = 4096, repeats: int = 3) -> float:
    """Nanoseconds per `push(row)` of a tuple of `columns` floats, best of `repeats` runs of n."""
    ring = cls(columns, capacity)
    row = tuple(float(i) * 1.5 for i in range(columns))
    push = ring.push
    best = float("inf")
    for _ in range(repeats):
        started = perf_counter()
        for _ in range(n):
            push(row)
        best = min(best, perf_counter() - started)
    return best / n * 1e9


def latest_ns(
    cls: Any, rows: int = 600, columns: int = 32, calls: int = 200, repeats: int = 3
) -> float:
    """Nanoseconds per `latest(rows)` on a full ring of `columns` columns, best of `repeats`."""
    ring = cls(columns, max(rows, 4096))
    row = tuple(float(i) for i in range(columns))
    for _ in range(ring.capacity + rows // 2):  # full and wrapped, as in a long run
        ring.push(row)
    latest = ring.latest
    best = float("inf")
    for _ in range(repeats):
        started = perf_counter()
        for _ in range(calls):
            latest(rows)
        best = min(best, perf_counter() - started)
    return best / calls * 1e9


def column_ns(
    cls: Any, rows: int = 600, columns: int = 32, calls: int = 2000, repeats: int = 3
) -> float:
    """Nanoseconds per `column(index, rows)` on a full ring: one graph's worth of one metric."""
    ring = cls(columns, max(rows, 4096))
    row = tuple(float(i) for i in range(columns))
    for _ in range(ring.capacity + rows // 2):
        ring.push(row)
    column = ring.column
    index = columns // 2
    best = float("inf")
    for _ in range(repeats):
        started = perf_counter()
        for _ in range(calls):
            column(index, rows)
        best = min(best, perf_counter() - started)
    return best / calls * 1e9


def _line(what: str, c_ns: Optional[float], py_ns: float) -> str:
    c_text = f"{c_ns:12.0f}" if c_ns is not None else f"{'not built':>12}"
    ratio = f"{py_ns / c_ns:9.1f}x" if c_ns else f"{'-':>10}"
    return f"{what:<28}{c_text}{py_ns:12.0f}{ratio}"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="pushes per run")
    parser.add_argument("--columns", type=int, default=32, help="values per row")
    parser.add_argument("--rows", type=int, default=600, help="rows per latest() call")
    args = parser.parse_args(argv)

    c_type = RingBuffer if IMPLEMENTATION == "c" else None
    print(f"python {sys.version.split()[0]}, RingBuffer implementation: {IMPLEMENTATION}")
    print(f"{'ns per call':<28}{'C':>12}{'Python':>12}{'speed-up':>10}")
    c_push = push_ns(c_type, args.n, args.columns) if c_type else None
    py_push = push_ns(PyRingBuffer, max(args.n // 10, 1), args.columns)
    print(_line(f"push({args.columns} floats)", c_push, py_push))
    c_latest = latest_ns(c_type, args.rows, args.columns) if c_type else None
    py_latest = latest_ns(PyRingBuffer, args.rows, args.columns)
    print(_line(f"latest({args.rows}) x {args.columns}", c_latest, py_latest))
    c_column = column_ns(c_type, args.rows, args.columns) if c_type else None
    py_column = column_ns(PyRingBuffer, args.rows, args.columns)
    print(_line(f"column(i, {args.rows})", c_column, py_column))
    return 0


if __name__ == "__main__":
    sys.exit(main())
