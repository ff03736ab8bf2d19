#!/usr/bin/env python3
"""What the live TUI costs: `memmap` beside btop, in two tmux windows of the same size, same window.

`memmap --interval 0.1 --refresh 1` (10 Hz sampling, one redraw a second) and btop with
`update_ms = 1000` (its config in a temporary XDG_CONFIG_HOME, LANG=C.UTF-8 as btop needs) run
side by side in tmux at 160x50; after a warm-up both are measured over the same 30 s:
CPU % of one core from /proc/PID/stat (utime + stime, all threads) and the TUI's RSS.
memmap's per-thread split (main = drawing, the sampler, the input thread) comes from schedstat.

Targets (issue 3): CPU no more than btop's (ratio <= 1.0), RSS <= 60 MB.

    python bench/tui_overhead.py                 # 30 s window
    python bench/tui_overhead.py --seconds 10    # quicker, noisier
    python bench/tui_overhead.py --size 80x24    # another terminal size
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import _installed

_installed.require_built()  # the memmap it starts is this install (or this tree, built)

ROOT = Path(__file__).resolve().parent.parent
HZ = os.sysconf("SC_CLK_TCK")
RSS_GOAL_MB = 60.0


def memmap_command(args: argparse.Namespace) -> str:
    """The shell command tmux runs for memmap: the installed script, else this source tree."""
    script = Path(sys.executable).parent / "memmap"
    base = str(script) if script.exists() else f"{sys.executable} -m memmap_tui"
    env = "" if script.exists() else f"PYTHONPATH={ROOT} "
    return (f"cd {ROOT} && TERM=xterm-256color {env}exec {base} "
            f"--interval {args.interval:g} --refresh {args.refresh:g}")


def start(session: str, size: str, command: str) -> int:
    """A detached tmux session running `command`; returns the pane's process id."""
    width, height = size.split("x")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", width, "-y", height,
                    command], check=True)
    out = subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
                         check=True, capture_output=True, text=True).stdout
    return int(out.split()[0])


def stop(session: str) -> None:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def cpu_ticks(pid: int) -> Optional[int]:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime, every thread


def rss_kb(pid: int) -> Optional[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def thread_ns(pid: int) -> Dict[str, Tuple[str, int]]:
    """{thread id: (name, nanoseconds on a CPU)} from /proc/PID/task/*/schedstat."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            out[task.name] = (name, int((task / "schedstat").read_text().split()[0]))
        except OSError:
            continue
    return out


def thread_split(pid: int, before: Dict[str, Tuple[str, int]], seconds: float) -> str:
    """`main 0.25% + other threads 0.20% 0.01% 0.00%` (the sampler, Textual's writer and input
    threads: Python threads have no names the kernel knows)."""
    shares = {tid: 100 * (ns - before.get(tid, (name, ns))[1]) / 1e9 / seconds
              for tid, (name, ns) in thread_ns(pid).items()}
    main = shares.pop(str(pid), 0.0)
    others = " ".join(f"{v:.2f}%" for v in sorted(shares.values(), reverse=True))
    return f"main thread {main:.2f}% + other threads {others}"


def btop_config() -> str:
    home = tempfile.mkdtemp(prefix="memmap-btop-")
    (Path(home) / "btop").mkdir()
    (Path(home) / "btop" / "btop.conf").write_text("update_ms = 1000\n")
    return home


def measure(args: argparse.Namespace) -> int:
    tag = f"{os.getpid()}"
    config = btop_config()
    sessions = [f"memmap-bench-{tag}", f"btop-bench-{tag}"]
    try:
        memmap_pid = start(sessions[0], args.size, memmap_command(args))
        btop_pid = start(sessions[1], args.size,
                         f"XDG_CONFIG_HOME={config} LANG=C.UTF-8 exec btop")
        time.sleep(args.warmup)
        m0, b0, threads = cpu_ticks(memmap_pid), cpu_ticks(btop_pid), thread_ns(memmap_pid)
        time.sleep(args.seconds)
        m1, b1, rss = cpu_ticks(memmap_pid), cpu_ticks(btop_pid), rss_kb(memmap_pid)
        split = thread_split(memmap_pid, threads, args.seconds)
    finally:
        for session in sessions:
            stop(session)
        shutil.rmtree(config, ignore_errors=True)
    if m0 is None or m1 is None or rss is None:
        print("memmap TUI did not keep running")
        return 1
    if b0 is None or b1 is None:
        print("btop did not keep running")
        return 1
    tui = 100 * (m1 - m0) / HZ / args.seconds
    btop = 100 * (b1 - b0) / HZ / args.seconds
    ratio = tui / max(btop, 1e-9)
    rss_mb = rss / 1024
    print(f"TUI {args.size} at --interval {args.interval:g} --refresh {args.refresh:g}, "
          f"{args.seconds:g} s: cpu={tui:.2f}% rss={rss_mb:.1f} MB ({split})")
    print(f"btop update_ms=1000: cpu={btop:.2f}%")
    print(f"ratio {ratio:.2f} (goal <= 1.0); rss {rss_mb:.1f} MB (goal <= {RSS_GOAL_MB:g} MB)")
    return 0 if ratio <= 1.0 and rss_mb <= RSS_GOAL_MB else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0, help="measured window (default 30)")
    p.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring")
    p.add_argument("--size", default="160x50", help="terminal size WxH (default 160x50)")
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--refresh", type=float, default=1.0)
    args = p.parse_args()
    for tool in ("tmux", "btop"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: this benchmark needs it (apt-get install {tool})")
            return 2
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
