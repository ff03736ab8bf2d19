"""Shared test fixtures: paths to the project's test data and to the shared fixtures."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(os.environ.get("MEMMAP_SHARED", ROOT.parent / "shared"))
TEGRASTATS_LINES = SHARED / "fixtures" / "tegrastats" / "lines.jsonl"


def tegrastats_rows() -> list:
    """The real tegrastats lines of the shared fixture (see its README), read at run time:
    dicts with `id`, `line`, `model`, `source` and `expect` (the Parser contract's fields)."""
    if not TEGRASTATS_LINES.exists():
        return []
    with open(TEGRASTATS_LINES, encoding="utf-8") as f:
        return [json.loads(raw) for raw in f if raw.strip()]


def tegrastats_row(line_id: str) -> dict:
    """The fixture row with this `id`."""
    return next(row for row in tegrastats_rows() if row["id"] == line_id)


@pytest.fixture
def data_dir() -> Path:
    return DATA


def memmap_cmd() -> list:
    """`memmap` as a subprocess argv: the installed script beside this Python, else the module."""
    script = Path(sys.executable).parent / "memmap"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "memmap_tui"]


def memmap_env() -> dict:
    """The environment for a `memmap` subprocess; finds the source tree when not installed."""
    env = dict(os.environ)
    if not (Path(sys.executable).parent / "memmap").exists():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


ANSWER_PLUGIN = '''
from memmap_tui.collector import Availability, Collector
from memmap_tui.model import gauge

class Answer(Collector):
    name = "answer"
    def probe(self):
        return Availability(True, "always here")
    def metrics(self):
        return [gauge("answer", "value_count", "count", "The answer.")]
    def collect(self):
        return [42.0]
'''


def write_answer_plugin(folder: Path, other_groups: str = "") -> None:
    """A third-party collector as pip would install it into `folder`: its module and a
    dist-info whose entry point names it in the memmap_tui.collectors group (after
    `other_groups`, entry_points.txt sections of other groups)."""
    (folder / "memmap_answer_plugin.py").write_text(ANSWER_PLUGIN)
    dist = folder / "memmap_answer-1.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text(
        other_groups + "[memmap_tui.collectors]\nanswer = memmap_answer_plugin:Answer\n")
