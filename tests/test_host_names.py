"""The host collector's new file names (the dentry cache's growth), read only while a process
tree is watched: on a fake /proc laid out as the kernel prints it, and on the real one.

/proc/sys/fs/dentry-state is printed by fs/dcache.c (proc_nr_dentry through
proc_doulongvec_minmax): six numbers separated by tabs, `nr_dentry nr_unused age_limit
want_pages nr_negative dummy`, where age_limit is the constant 45 (Documentation/admin-guide/
sysctl/fs.rst, "dentry-state").
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest
from memmap_tui.collectors.host import HostCollector

from memmap_tui import roles as R
from memmap_tui.collector import CollectorOptions
from memmap_tui.derive import derive
from memmap_tui.model import Frame, Reading, Schema

COLUMN = "host.fs.names_added_per_second"


def dentry_state(count: int, unused: int = 900, negative: int = 40) -> str:
    return "\t".join(str(n) for n in (count, unused, 45, 0, negative, 0)) + "\n"


@pytest.fixture
def root(tmp_path: Path, data_dir: Path) -> Path:
    shutil.copytree(data_dir / "proc_a", tmp_path / "proc")
    shutil.copytree(data_dir / "sys_a", tmp_path / "sys")
    (tmp_path / "proc" / "sys" / "fs").mkdir(parents=True)
    (tmp_path / "proc" / "sys" / "fs" / "dentry-state").write_text(dentry_state(32240))
    return tmp_path


def rates(host: HostCollector, before: float, after: float, seconds: float) -> dict:
    schema = Schema(host.metrics())
    values = list(host.collect())
    first = Reading(100.0, 0.0, list(values))
    name_slot = [s.name for s in host.metrics()].index("host.fs.names")
    values[name_slot] = after
    first.values[name_slot] = before
    second = Reading(100.0 + seconds, seconds, values)
    frame: Frame = derive(schema, first, second)
    return dict(zip(schema.columns, frame.values))


def test_names_are_read_only_with_a_watched_tree(root: Path) -> None:
    plain = HostCollector(str(root / "proc"), str(root / "sys"))
    plain.open()
    assert "host.fs.names" not in [s.name for s in plain.metrics()]
    plain.close()
    watched = HostCollector.from_options(CollectorOptions(pid=os.getpid(),
                                                          proc_root=str(root / "proc"),
                                                          sys_root=str(root / "sys")))
    watched.open()
    try:
        specs = {s.name: s for s in watched.metrics()}
        assert specs["host.fs.names"].column == COLUMN
        assert specs["host.fs.names"].has(R.NEW_NAMES)
        assert list(watched.collect())[list(specs).index("host.fs.names")] == 32240.0
        # a rise of 7,000 names over half a second is 14 k names/s
        assert rates(watched, 32240.0, 39240.0, 0.5)[COLUMN] == pytest.approx(14000.0)
        # a cache the kernel shrank says nothing of the names added meanwhile: empty
        assert math.isnan(rates(watched, 39240.0, 20000.0, 0.5)[COLUMN])
    finally:
        watched.close()


def test_a_line_without_its_constant_reads_empty(root: Path) -> None:
    """The line has no key of its own; age_limit (45) stands in. A kernel that printed
    something else there gives an empty column, never another number read as the count."""
    state = root / "proc" / "sys" / "fs" / "dentry-state"
    state.write_text("32240\t30983\t60\t0\t272\t0\n")
    host = HostCollector(str(root / "proc"), str(root / "sys"), names=True)
    host.open()
    try:
        slot = [s.name for s in host.metrics()].index("host.fs.names")
        assert math.isnan(list(host.collect())[slot])
    finally:
        host.close()


def test_a_kernel_without_the_file_has_no_column(root: Path) -> None:
    (root / "proc" / "sys" / "fs" / "dentry-state").unlink()
    host = HostCollector(str(root / "proc"), str(root / "sys"), names=True)
    host.open()
    assert "host.fs.names" not in [s.name for s in host.metrics()]
    host.close()


def test_new_files_raise_the_real_count(tmp_path: Path) -> None:
    """On the real /proc: creating 3,000 files adds at least that many names (the kernel
    allocates a dentry for each new name and keeps it while memory allows)."""
    if not os.access("/proc/sys/fs/dentry-state", os.R_OK):
        pytest.skip("this kernel has no /proc/sys/fs/dentry-state")
    host = HostCollector(names=True)
    host.open()
    try:
        slot = [s.name for s in host.metrics()].index("host.fs.names")
        before = list(host.collect())[slot]
        for i in range(3000):
            (tmp_path / f"f{i:04d}").write_bytes(b"")
        after = list(host.collect())[slot]
    finally:
        host.close()
    assert after - before >= 3000 * 0.9, (before, after)
    assert after - before < 3000 * 5, (before, after)
