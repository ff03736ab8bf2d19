#!/usr/bin/env python3
"""Microseconds per `parse_line` over every real tegrastats line (target: <= 50 µs per line).

    python bench/parse_bench.py [--repeat N] [--lines FILE]

Prints the mean over all lines (each line weighted once), the slowest line and the fastest,
best of 5 rounds of N parses per line. Exit status 1 when the mean is above the target.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable, List, Tuple

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LINES = PROJECT_ROOT.parent / "shared" / "fixtures" / "tegrastats" / "lines.jsonl"
TARGET_US = 50.0

import _installed  # noqa: E402 - first: the installed package, with its C extensions, or exit 2

_installed.require_built()
from memmap_tui.collectors.jetson import parse_line  # noqa: E402


def per_line_us(parse: Callable[[str], object], line: str, repeat: int) -> float:
    """Best of 5 rounds: microseconds for one parse of `line`."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeat):
            parse(line)
        best = min(best, time.perf_counter() - start)
    return best / repeat * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--lines", type=Path, default=DEFAULT_LINES)
    args = parser.parse_args()
    with open(args.lines, encoding="utf-8") as f:
        rows = [json.loads(raw) for raw in f if raw.strip()]
    timings: List[Tuple[float, str, int]] = [
        (per_line_us(parse_line, row["line"], args.repeat), row["id"], len(row["line"]))
        for row in rows
    ]
    mean = sum(t for t, _, _ in timings) / len(timings)
    slowest, fastest = max(timings), min(timings)
    print(f"parse_line over {len(timings)} lines, best of 5 x {args.repeat} each")
    print(f"  mean    {mean:6.1f} µs/line")
    print(f"  slowest {slowest[0]:6.1f} µs  ({slowest[1]}, {slowest[2]} chars)")
    print(f"  fastest {fastest[0]:6.1f} µs  ({fastest[1]}, {fastest[2]} chars)")
    verdict = "ok" if mean <= TARGET_US else "ABOVE TARGET"
    print(f"  target  {TARGET_US:6.1f} µs/line: {verdict}")
    return 0 if mean <= TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
