"""Adversarial pass 17: a disk's stat file that fails in the middle of a batched run.

A C batch that a failed read ends (NativeBatch's guard) hands the failing tick to the live path,
which must read it at once: it is due. Sampler.run once compared the clock and the due time it
had taken *before* the batch ran, idled about one more interval, and read the failing tick an
interval late and the next one right after it: two rows a fraction of a millisecond apart whose
rates were taken over that sliver of time. Every gap between rows stays near one interval.

The disk is the machine's own (real /proc); its stat file is a link to /proc/PID/stat of a
process that then ends, which fails on the open descriptor (as in tests/test_host_disk_files.py).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, List

import pytest
from memmap_tui.collectors.host import DISK_FILES, HostCollector

from memmap_tui import batch
from memmap_tui.sampler import Sampler
from memmap_tui.sinks.csv import CsvSink

INTERVAL = 0.1


@pytest.fixture
def disk() -> str:
    host = HostCollector()
    host.open()
    host.close()
    if not host.disks or len(host.disks) > DISK_FILES:
        pytest.skip("the host does not read its disks from their stat files here")
    return host.disks[0]


def _record(tmp_path: Path, disk: str, on_tick: Any) -> List[float]:
    """A 1.5 s recording at 10 Hz whose disk's stat file fails at 0.53 s; the row stamps."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    (tmp_path / "sys" / "block" / disk).mkdir(parents=True)
    os.symlink(f"/proc/{child.pid}/stat", tmp_path / "sys" / "block" / disk / "stat")
    host = HostCollector(sys_root=str(tmp_path / "sys"))
    sink = CsvSink(str(tmp_path / "r.csv"))
    sampler = Sampler([host], interval=INTERVAL, sinks=[sink])
    sampler.batch_seconds = 0.2
    timer = threading.Timer(0.53, lambda: child.communicate(b""))
    timer.start()
    try:
        stats = sampler.run(duration=1.5, on_tick=on_tick)
    finally:
        timer.join()
        sampler.close()
        child.kill()
        child.wait()
    assert host.disk_source == "diskstats"  # the failure did happen, and was handled
    rows = list(csv.reader(open(tmp_path / "r.csv")))[1:]
    assert len(rows) == stats.ticks
    return [float(r[0]) for r in rows]


@pytest.mark.parametrize("mode", ["frames", "direct-writer"])
def test_the_tick_a_failed_batch_read_hands_over_is_read_on_time(
        tmp_path: Path, disk: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frames: List[Any] = []
    if mode == "direct-writer":  # record without a progress bar: the failure in a later batch
        monkeypatch.setattr(batch, "DIRECT_BATCH_SECONDS", 0.3)
    stamps = _record(tmp_path, disk, frames.append if mode == "frames" else None)
    gaps = [round(b - a, 4) for a, b in zip(stamps, stamps[1:])]
    # every row an interval after the one before (within half of one): no tick read late,
    # none bunched right behind it
    assert all(INTERVAL / 2 < g < 1.5 * INTERVAL for g in gaps), gaps
