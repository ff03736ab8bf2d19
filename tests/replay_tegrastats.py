#!/usr/bin/env python3
"""A stand-in for `tegrastats` printing real captured lines: `replay_tegrastats.py --interval MS`.

Reads the shared fixture `<project>/../shared/fixtures/tegrastats/lines.jsonl` (`$MEMMAP_SHARED`
stands for `<project>/../shared`, as in tests/conftest.py; or `--lines FILE`, or
`$MEMMAP_TEGRASTATS_LINES`), keeps the lines whose `model` contains `--model TEXT` (case
insensitive) and/or whose `id` is in `--id A,B`, and prints them in turn, one every MS
milliseconds like tegrastats, starting at once and cycling forever (or `--count N` lines, then
exit 0). Each line is flushed. SIGTERM, SIGINT and a closed pipe end it with status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import List, Optional

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MEMMAP_SHARED", PROJECT_ROOT.parent / "shared"))
DEFAULT_LINES = SHARED / "fixtures" / "tegrastats" / "lines.jsonl"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, default=1000, metavar="MS")
    parser.add_argument("--lines", default=os.environ.get("MEMMAP_TEGRASTATS_LINES"))
    parser.add_argument("--model", default=None, help="keep lines whose model contains TEXT")
    parser.add_argument("--id", default=None, help="keep lines with these ids (comma-separated)")
    parser.add_argument("--count", type=int, default=0, help="stop after N lines (0: never)")
    return parser.parse_args(argv)


def load_lines(path: Path, model: Optional[str], ids: Optional[str]) -> List[str]:
    wanted = set(ids.split(",")) if ids else None
    lines = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            if not raw.strip():
                continue
            row = json.loads(raw)
            if model and model.lower() not in str(row.get("model", "")).lower():
                continue
            if wanted is not None and row.get("id") not in wanted:
                continue
            lines.append(row["line"])
    return lines


def replay(lines: List[str], interval_s: float, count: int) -> None:
    next_at = time.monotonic()
    printed = 0
    while count <= 0 or printed < count:
        sys.stdout.write(lines[printed % len(lines)] + "\n")
        sys.stdout.flush()
        printed += 1
        next_at += interval_s
        time.sleep(max(0.0, next_at - time.monotonic()))


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_quietly)
    signal.signal(signal.SIGINT, _exit_quietly)
    lines = load_lines(Path(args.lines) if args.lines else DEFAULT_LINES, args.model, args.id)
    if not lines:
        print("replay_tegrastats: no lines match", file=sys.stderr)
        return 1
    try:
        replay(lines, max(args.interval, 1) / 1000.0, args.count)
    except BrokenPipeError:
        # The reader went away: leave without a traceback and without flushing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
