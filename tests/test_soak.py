"""A short soak of the recorder: memory stays flat (bench/soak.py holds the hour-long target).

15 s at 1 kHz after the bench's 10 s warm-up: 15,000 rows, more than a minute at 100 Hz gives
(6,000), so a leak per row shows sooner, in well under half the time of the suite's longest
test. A leak per batch or per second is the bench's to find (`python bench/soak.py`)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


@pytest.mark.slow
def test_recorder_memory_stays_flat_over_15_000_rows_at_1_khz() -> None:
    sys.path.insert(0, str(SOAK.parent))  # the bench scripts' own helper (bench/_installed.py)
    try:
        soak = runpy.run_path(str(SOAK), run_name="soak")["soak"]
    finally:
        sys.path.remove(str(SOAK.parent))
    result = soak(0.25, 0.001, [])
    assert result["rows"] > 0.9 * (15 + 10) * 1000
    assert result["growth_bytes"] < 1 << 20, result
