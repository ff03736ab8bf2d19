#!/usr/bin/env python3
"""Export screenshots/*.svg from the snapshot-test apps (tests/tui_apps.py, tests/cluster_apps.py):
the TUI drawn from the deterministic recording, the cluster view from a fixed table of nodes,
exactly as the snapshot tests see them, never drawn by hand.

    python scripts/make_screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from cluster_apps import cluster_app  # noqa: E402
from test_tui_snapshots import settle  # noqa: E402
from textual._doc import take_svg_screenshot  # noqa: E402  (what pytest-textual-snapshot uses)
from tui_apps import recorded_app  # noqa: E402

OUT = ROOT / "screenshots"
SHOTS = {
    "overview-80x24.svg": (lambda: recorded_app(), (80, 24)),
    "overview-160x50.svg": (lambda: recorded_app(), (160, 50)),
    "inline.svg": (lambda: recorded_app(inline=True), (100, 6)),
    "cluster-80x24.svg": (lambda: cluster_app(), (80, 24)),
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, (make_app, size) in SHOTS.items():
        svg = take_svg_screenshot(app=make_app(), terminal_size=size, run_before=settle,
                                  title=f"memmap {size[0]}x{size[1]}")
        (OUT / name).write_text(svg)
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
