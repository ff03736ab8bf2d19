"""The TUI fed from the deterministic recording (tests/data/tui_recording.csv, written by
scripts/make_tui_recording.py): the apps the snapshot tests compare and screenshots/ shows.

Everything on screen comes from the recording except memmap's own CPU and memory, which are
fixed here so that a snapshot does not depend on the machine that draws it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

from memmap_tui.csvread import load_recording
from memmap_tui.tui.app import MemmapApp
from memmap_tui.tui.monitor import SelfUsage
from memmap_tui.tui.render import UNICODE_GLYPHS
from memmap_tui.tui.source import RecordingSource

DATA = Path(__file__).resolve().parent / "data"
RECORDING = DATA / "tui_recording.csv"
TABLES = DATA / "tui_tables.json"
FIXED_USAGE = SelfUsage(0.4, 41.0 * 2**20)


def recorded_source(drop: Iterable[str] = (), tables: bool = True,
                    play: bool = False) -> RecordingSource:
    """The recording as a source, without the columns starting with any of `drop`."""
    recording = load_recording(str(RECORDING))
    keep = [i for i, c in enumerate(recording.columns)
            if i == 0 or not c.startswith(tuple(drop))]
    rows = [tuple(row[i] for i in keep) for row in recording.rows()]
    columns = [recording.columns[i] for i in keep[1:]]
    table_rows: Optional[dict] = json.loads(TABLES.read_text()) if tables else None
    return RecordingSource(columns, rows, label=RECORDING.name, play=play, tables=table_rows)


def recorded_app(drop: Iterable[str] = (), tables: bool = True, inline: bool = False,
                 refresh: float = 1.0) -> MemmapApp:
    """The app drawing the whole recording at once (as `memmap` would after two minutes)."""
    return MemmapApp(recorded_source(drop, tables), refresh=refresh, inline=inline,
                     self_meter=lambda: FIXED_USAGE, glyphs=UNICODE_GLYPHS)
