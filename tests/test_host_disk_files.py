"""The host reads each disk from its own /sys/block/<disk>/stat, and falls back to /proc/diskstats.

Layout: Documentation/block/stat.rst (one line, the fields of /proc/diskstats after its major,
minor and name, block/genhd.c part_stat_show); a file of an unplugged disk fails on read. The
disks here are the machine's own (real /proc, real /sys); the one fake is a stat file that fails
under an open descriptor, which a /proc/PID/stat of a process that ended does (ESRCH).
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List

import pytest
from memmap_tui.collectors.host import DISK_FILES, HostCollector

from memmap_tui.model import Schema
from memmap_tui.sampler import Sampler
from memmap_tui.sinks.csv import CsvSink

# diskstats tokens after the name: reads, read sectors, read ms, writes, written sectors, io ms
FIELDS = {"reads": 3, "read_bytes": 5, "read_time_seconds": 6, "writes": 7, "write_bytes": 9,
          "busy_seconds": 12}
SCALE = {"read_bytes": 512.0, "write_bytes": 512.0, "read_time_seconds": 0.001,
         "busy_seconds": 0.001}


def _diskstats() -> Dict[str, List[int]]:
    with open("/proc/diskstats") as f:
        return {p[2]: [int(x) for x in p[3:]] for p in (line.split() for line in f)
                if len(p) >= 14}


def _between(host: HostCollector) -> None:
    """Every disk's values lie between two reads of /proc/diskstats around the host's read."""
    before = _diskstats()
    values = dict(zip((s.name for s in host.metrics()), host.collect()))
    after = _diskstats()
    for disk in host.disks:
        for quantity, token in FIELDS.items():
            got = values[f"host.disk.{disk}.{quantity}"]
            low, high = (d[disk][token - 3] * SCALE.get(quantity, 1.0) for d in (before, after))
            assert low <= got <= high, (disk, quantity, low, got, high)


@pytest.fixture
def disks() -> List[str]:
    host = HostCollector()
    host.open()
    host.close()
    if not host.disks:
        pytest.skip("no physical disk visible in /proc/diskstats here")
    if len(host.disks) > DISK_FILES:
        pytest.skip(f"more than {DISK_FILES} disks here: the host reads /proc/diskstats")
    return host.disks


def test_each_disk_is_read_from_its_stat_file_with_diskstats_numbers(disks: List[str]) -> None:
    host = HostCollector()
    host.open()
    try:
        assert host.disk_source == "sysfs"
        files = [path for path, _, _ in host._plan.files]
        assert "/proc/diskstats" not in files
        assert all(f"/sys/block/{d}/stat" in files for d in disks)
        _between(host)
    finally:
        host.close()


def _sys_tree(root: Path, disks: List[str], stat_of: Dict[str, str]) -> Path:
    """A /sys with the machine's disks, each stat file a link to `stat_of[disk]` (absent when
    it is "")."""
    for disk in disks:
        (root / "block" / disk).mkdir(parents=True)
        target = stat_of.get(disk, f"/sys/block/{disk}/stat")
        if target:
            os.symlink(target, root / "block" / disk / "stat")
    return root


def test_a_disk_without_a_stat_file_puts_them_all_on_diskstats(tmp_path: Path,
                                                               disks: List[str]) -> None:
    sys_root = _sys_tree(tmp_path, disks, {disks[-1]: ""})
    host = HostCollector(sys_root=str(sys_root))
    host.open()
    try:
        assert host.disk_source == "diskstats"
        assert [p for p, _, _ in host._plan.files if "block" in p] == []
        _between(host)
    finally:
        host.close()


def test_the_same_columns_whichever_file_the_disks_come_from(tmp_path: Path,
                                                             disks: List[str]) -> None:
    schemas = []
    for sys_root in ("/sys", str(_sys_tree(tmp_path, disks, {disks[0]: ""}))):
        host = HostCollector(sys_root=sys_root)
        host.open()
        schemas.append(Schema(host.metrics()).columns)
        host.close()
    assert schemas[0] == schemas[1]


def _ending_process() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)


def test_an_unplugged_disk_switches_the_host_to_diskstats(tmp_path: Path,
                                                          disks: List[str]) -> None:
    child = _ending_process()
    sys_root = _sys_tree(tmp_path, disks, {disks[0]: f"/proc/{child.pid}/stat"})
    host = HostCollector(sys_root=str(sys_root))
    host.open()
    try:
        assert host.disk_source == "sysfs"
        columns = Schema(host.metrics()).columns
        host.collect()
        child.communicate(b"")  # ended and reaped: its stat file fails on the open descriptor
        _between(host)
        assert host.disk_source == "diskstats"
        assert Schema(host.metrics()).columns == columns
        _between(host)  # and goes on so
    finally:
        host.close()
        child.kill()


def test_a_batched_record_goes_on_after_a_disk_went(tmp_path: Path, disks: List[str]) -> None:
    """The C reader's batch raises on the stat file; the sampler goes on tick by tick and the
    file keeps every row, the disk's columns filled again from /proc/diskstats."""
    child = _ending_process()
    sys_root = _sys_tree(tmp_path / "sys", disks, {disks[0]: f"/proc/{child.pid}/stat"})
    host = HostCollector(sys_root=str(sys_root))
    sink = CsvSink(str(tmp_path / "r.csv"))
    sampler = Sampler([host], interval=0.02, sinks=[sink])
    sampler.batch_seconds = 0.2
    timer = threading.Timer(0.5, lambda: child.communicate(b""))
    timer.start()
    try:
        stats = sampler.run(duration=1.5)
    finally:
        timer.join()
        sampler.close()
        child.kill()
    rows = list(csv.reader(open(tmp_path / "r.csv")))
    assert len(rows) - 1 == stats.ticks and stats.ticks >= 40  # each row counted once
    stamps = [float(r[0]) for r in rows[1:]]
    assert all(b - a > 0.01 for a, b in zip(stamps, stamps[1:]))  # no tick read twice
    column = rows[0].index(f"host.disk.{disks[0]}.reads_per_second")
    assert host.disk_source == "diskstats"
    assert sampler._native is not None  # batches again, with the host's new reader
    tail = [r[column] for r in rows[-10:]]
    assert all(cell != "" and not math.isnan(float(cell)) for cell in tail), tail
