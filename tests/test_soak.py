"""A one-minute soak of the recorder at 100 Hz: memory stays flat (bench/soak.py)."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


@pytest.mark.slow
def test_recorder_memory_stays_flat_for_a_minute_at_100_hz() -> None:
    sys.path.insert(0, str(SOAK.parent))  # the bench scripts' own helper (bench/_installed.py)
    try:
        soak = runpy.run_path(str(SOAK), run_name="soak")["soak"]
    finally:
        sys.path.remove(str(SOAK.parent))
    result = soak(1.0, 0.01, [])
    assert result["rows"] > 0.9 * (60 + 10) * 100
    assert result["growth_bytes"] < 1 << 20, result
