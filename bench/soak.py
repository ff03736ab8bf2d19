#!/usr/bin/env python3
"""Soak: record at 100 Hz for N minutes and report how the recorder's memory grows.

Starts `memmap record --interval 0.01` (all default collectors, or --pid to follow one),
reads its RSS from /proc every 5 s, and prints the RSS after a 10 s warm-up, at the end, the
growth and the least-squares slope. Target: a 60-minute run grows < 1 MB.

    python bench/soak.py --minutes 60
    python bench/soak.py --minutes 1 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Tuple

import _installed

_installed.require_built()  # `-m memmap_tui` below runs the same install

WARM_UP = 10.0
EVERY = 5.0
GOAL_BYTES = 1 << 20


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def slope(points: List[Tuple[float, float]]) -> float:
    """Least-squares slope of (t, y)."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


def soak(minutes: float, interval: float, extra: List[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "soak.csv")
        cmd = [sys.executable, "-m", "memmap_tui", "record", "-o", out, "--interval",
               str(interval), *extra]
        # cwd: a tmp dir, so that `-m` finds the installed package, not a source tree beside us
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=tmp)
        start = time.monotonic()
        points: List[Tuple[float, float]] = []
        try:
            time.sleep(WARM_UP)
            deadline = start + WARM_UP + minutes * 60
            while time.monotonic() < deadline and proc.poll() is None:
                points.append((time.monotonic() - start, float(rss_bytes(proc.pid))))
                time.sleep(min(EVERY, max(deadline - time.monotonic(), 0.01)))
            points.append((time.monotonic() - start, float(rss_bytes(proc.pid))))
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        rows = sum(1 for _ in open(out)) - 1
    first, last = points[0][1], points[-1][1]
    return {"minutes": minutes, "interval": interval, "rows": rows,
            "rss_start_bytes": first, "rss_end_bytes": last, "growth_bytes": last - first,
            "slope_bytes_per_minute": slope(points) * 60, "recorder_said": err.strip()[-200:],
            "ok": last - first < GOAL_BYTES}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=0.01)
    parser.add_argument("--pid", type=int, help="also follow this process")
    parser.add_argument("--json", metavar="FILE", help="write the result as JSON too")
    args = parser.parse_args(argv)
    # SIGTERM unwinds through soak()'s finally, so the recorder never outlives the soak
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = soak(args.minutes, args.interval, ["--pid", str(args.pid)] if args.pid else [])
    print(f"soak {args.minutes:g} min at {1 / args.interval:.0f} Hz: {result['rows']} rows; "
          f"RSS {result['rss_start_bytes'] / 2**20:.2f} MiB -> "
          f"{result['rss_end_bytes'] / 2**20:.2f} MiB, growth "
          f"{result['growth_bytes'] / 1024:+.0f} KiB (slope "
          f"{result['slope_bytes_per_minute'] / 1024:+.1f} KiB/min); goal < 1 MB: "
          f"{'ok' if result['ok'] else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
