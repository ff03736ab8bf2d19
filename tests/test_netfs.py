"""The netfs collector against fake trees laid out as the kernel and Lustre print them.

tests/data/netfs/proc/self/mountstats follows the kernel's own printing: the mount line from
fs/proc_namespace.c show_vfsstat() ("device %s mounted on %s with fstype %s", the mount point
octal-escaped by seq_path_root, an empty line after the statistics), the NFS lines from
fs/nfs/super.c nfs_show_stats() ("\\tbytes:\\t" then 8 numbers, each followed by a space) and the
per-op lines from net/sunrpc/stats.c rpc_clnt_show_stats() / _print_rpc_iostats() ("\\t%12s: "
then ops trans timeouts bytes_sent bytes_recv queue_ms rtt_ms execute_ms errors; the errors field
is absent before Linux 5.3: tests/data/netfs_old). The NFSv4 and NFSv3 operation lists are in
the kernel's order (nfs4_procedures, nfs3_procedures).

The Lustre stats files follow lustre/obdclass/lprocfs_status.c lprocfs_stats_seq_show():
"%-25s %lld samples [%s]" then " min max sum" (and " sumsq"), after the snapshot_time,
start_time and elapsed_time header of Lustre 2.15 (debugfs, tests/data/netfs/sys/kernel/debug/
lustre/llite) or the single snapshot_time line of Lustre 2.10 in /proc/fs/lustre/llite
(tests/data/netfs_old), whose calls are counted in [regs] and where a counter that never counted
(statfs) prints no line at all.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Dict

import pytest
from memmap_tui.collectors.netfs import (
    NetfsCollector,
    column_part,
    parse_llite_stats,
    parse_mountstats,
    unescape,
)

from memmap_tui import roles as R
from memmap_tui.catalog import spec_for_column
from memmap_tui.derive import derive
from memmap_tui.model import Reading, Schema
from memmap_tui.tui.panes import THROUGHPUT, build_panes, find_pane
from memmap_tui.verdict import diagnose

NFS_V4 = ("10.0.0.5:/export/data\\040set", "/mnt/data\\040set")
NFS_V3 = ("fileserver:/srv/home", "/home")
NFS_OTHER = ("10.0.0.5:/export/other", "/mnt/data_set")


@pytest.fixture
def tree(tmp_path: Path, data_dir: Path) -> Path:
    root = tmp_path / "netfs"
    shutil.copytree(data_dir / "netfs", root)
    return root


def collector(root: Path) -> NetfsCollector:
    c = NetfsCollector(str(root / "proc"), str(root / "sys"))
    c.open()
    return c


def values(c: NetfsCollector) -> Dict[str, float]:
    return dict(zip((s.name for s in c.metrics()), c.collect()))


def test_only_nfs_mounts_are_parsed_in_their_printed_order(data_dir: Path) -> None:
    text = (data_dir / "netfs/proc/self/mountstats").read_text()
    assert list(parse_mountstats(text)) == [NFS_V4, NFS_V3, NFS_OTHER]


def test_every_field_of_an_nfs_mount_is_read(data_dir: Path) -> None:
    mount = parse_mountstats((data_dir / "netfs/proc/self/mountstats").read_text())[NFS_V4]
    assert set(mount) == {"bytes", "READ", "WRITE", "GETATTR", "LOOKUP", "OPEN", "ACCESS", "*"}
    assert mount["bytes"] == [268435456, 33554432, 0, 0, 268435456, 33554432, 65536, 8192]
    assert mount["READ"] == [2048, 2048, 0, 303104, 268689408, 12, 4096, 4300, 0]
    assert mount["WRITE"] == [512, 512, 0, 33654784, 57344, 3, 1536, 1600, 0]
    assert mount["OPEN"] == [300, 300, 0, 84000, 109200, 1, 450, 460, 0]
    assert mount["ACCESS"] == [150, 150, 0, 25200, 22800, 0, 90, 95, 0]
    assert mount["GETATTR"] == [4000, 4000, 0, 672000, 960000, 2, 1600, 1700, 0]
    assert mount["LOOKUP"] == [1200, 1200, 0, 235200, 355200, 1, 960, 1000, 0]
    # every operation, NULL, COMMIT, CLOSE, SEQUENCE and EXCHANGE_ID included
    assert mount["*"][0] == 1 + 2048 + 512 + 4 + 300 + 300 + 150 + 4000 + 1200 + 60 + 2
    assert mount["*"][6] == 4096 + 1536 + 8 + 450 + 240 + 90 + 1600 + 960 + 30 + 2


def test_per_op_lines_before_linux_5_3_have_no_errors_field(data_dir: Path) -> None:
    text = (data_dir / "netfs_old/proc/self/mountstats").read_text()
    mount = parse_mountstats(text)[NFS_V3]
    assert mount["READ"] == [10000, 10001, 1, 1320000, 42160000, 5, 30000, 30500]
    assert "OPEN" not in mount  # NFSv3 has no OPEN


def test_mount_points_are_unescaped_and_made_safe_and_unique() -> None:
    assert unescape("/mnt/data\\040set\\011x\\134y") == "/mnt/data set\tx\\y"
    taken: list = []
    parts = [column_part(p, taken) for p in ("/mnt/data set", "/mnt/data_set", "/", "/a.b/c:d",
                                              "/mnt/data set")]
    assert parts == ["mnt_data_set", "mnt_data_set_2", "root", "a_b_c_d", "mnt_data_set_3"]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts)


def test_each_mount_has_its_columns_named_by_its_mount_point(tree: Path) -> None:
    c = collector(tree)
    assert c.mounts == {"mnt_data_set": "/mnt/data set", "home": "/home",
                        "mnt_data_set_2": "/mnt/data_set"}
    columns = Schema(c.metrics()).columns
    assert "netfs.nfs.mnt_data_set.read_ops_per_second" in columns
    assert "netfs.nfs.home.lookup_rtt_seconds" in columns
    assert "netfs.nfs.home.open_ops_per_second" not in columns  # NFSv3: no OPEN operation
    assert len(c.collect()) == len(c.metrics())


def test_raw_values_in_base_units(tree: Path) -> None:
    v = values(collector(tree))
    m = "netfs.nfs.mnt_data_set"
    assert v[f"{m}.read_bytes"] == 268435456  # server read, from the bytes: line
    assert v[f"{m}.write_bytes"] == 33554432
    assert v[f"{m}.read_ops"] == 2048
    assert v[f"{m}.read_rpc_bytes"] == 303104 + 268689408
    assert v[f"{m}.read_round_trip_seconds"] == pytest.approx(4.096)
    assert v[f"{m}.getattr_ops"] == 4000
    assert v[f"{m}.round_trip_seconds"] == pytest.approx(9.012)
    assert v[f"{m}.metadata_ops"] == 4000 + 1200 + 300 + 150  # GETATTR LOOKUP OPEN ACCESS
    assert v["netfs.nfs.home.metadata_ops"] == 900 + 700 + 90  # NFSv3: no OPEN
    assert v["netfs.nfs.home.read_ops"] == 10000


def _rewrite_read_line(root: Path, ops: int, sent: int, received: int, rtt_ms: int) -> None:
    path = root / "proc/self/mountstats"
    text = path.read_text()
    line = f"\t{'READ':>12}: {ops} {ops} 0 {sent} {received} 12 {rtt_ms} {rtt_ms + 200} 0\n"
    path.write_text(text.replace("\t        READ: 2048 2048 0 303104 268689408 12 4096 4300 0\n",
                                 line, 1))


def test_rates_sizes_and_round_trips_over_an_interval(tree: Path) -> None:
    c = collector(tree)
    schema = Schema(c.metrics())
    first = Reading(0.0, 0.0, list(c.collect()))
    _rewrite_read_line(tree, 2048 + 100, 303104 + 100 * 148, 268689408 + 100 * 131196,
                       4096 + 250)
    frame = derive(schema, first, Reading(2.0, 2.0, list(c.collect())))
    m = "netfs.nfs.mnt_data_set"
    assert schema.get(frame, f"{m}.read_ops_per_second") == 50.0
    assert schema.get(frame, f"{m}.read_bytes_per_op") == 148 + 131196
    assert schema.get(frame, f"{m}.read_rtt_seconds") == pytest.approx(0.0025)
    assert schema.get(frame, f"{m}.getattr_ops_per_second") == 0.0
    assert schema.get(frame, f"{m}.round_trip_percent") == pytest.approx(12.5)  # 0.25 s in 2 s


def test_an_interval_without_calls_has_no_size_or_round_trip(tree: Path) -> None:
    c = collector(tree)
    schema = Schema(c.metrics())
    first = Reading(0.0, 0.0, list(c.collect()))
    frame = derive(schema, first, Reading(1.0, 1.0, list(c.collect())))
    assert math.isnan(schema.get(frame, "netfs.nfs.home.read_bytes_per_op"))
    assert math.isnan(schema.get(frame, "netfs.nfs.home.read_rtt_seconds"))


def test_an_unmounted_mount_gives_nan_and_the_others_go_on(tree: Path) -> None:
    c = collector(tree)
    path = tree / "proc/self/mountstats"
    text = path.read_text()
    start = text.index("device fileserver:/srv/home")
    path.write_text(text[:start] + text[text.index("device 10.0.0.5:/export/other"):])
    v = values(c)
    assert math.isnan(v["netfs.nfs.home.read_ops"])
    assert v["netfs.nfs.mnt_data_set.read_ops"] == 2048


def test_lustre_counters_from_debugfs(tree: Path) -> None:
    c = collector(tree)
    assert list(c.lustre) == ["scratch"]  # the file system's name, without the instance id
    v = values(c)
    assert v["netfs.lustre.scratch.read_bytes"] == 218103808000  # the sum of read_bytes
    assert v["netfs.lustre.scratch.write_bytes"] == 1258291200
    assert v["netfs.lustre.scratch.open_ops"] == 81234
    assert v["netfs.lustre.scratch.close_ops"] == 81230
    assert v["netfs.lustre.scratch.getattr_ops"] == 162470
    assert v["netfs.lustre.scratch.statfs_ops"] == 7
    assert v["netfs.lustre.scratch.metadata_ops"] == 81234 + 81230 + 162470 + 7


def test_lustre_2_10_in_proc_and_a_counter_without_a_line_is_zero(data_dir: Path) -> None:
    c = collector(data_dir / "netfs_old")
    assert list(c.lustre) == ["home"]
    v = values(c)
    assert v["netfs.lustre.home.read_bytes"] == 55488794
    assert v["netfs.lustre.home.open_ops"] == 3304805
    assert v["netfs.lustre.home.statfs_ops"] == 0.0
    assert v["netfs.lustre.home.metadata_ops"] == 3304805 + 3331323 + 11224573


def test_every_field_of_a_lustre_stats_text_is_read(data_dir: Path) -> None:
    path = data_dir / "netfs/sys/kernel/debug/lustre/llite/scratch-ffff8f1e2c4a9000/stats"
    stats = parse_llite_stats(path.read_text())
    assert "snapshot_time" not in stats and "elapsed_time" not in stats
    assert stats["read_bytes"] == (52000, 218103808000)
    assert stats["statfs"] == (7, 280)
    ioctl = stats["ioctl"]
    assert ioctl[0] == 18 and math.isnan(ioctl[1])  # [reqs] without min/max/sum
    assert len(stats) == 14


def test_lustre_rates_over_an_interval(tree: Path) -> None:
    c = collector(tree)
    schema = Schema(c.metrics())
    first = Reading(0.0, 0.0, list(c.collect()))
    path = tree / "sys/kernel/debug/lustre/llite/scratch-ffff8f1e2c4a9000/stats"
    text = path.read_text()
    text = text.replace("open                      81234 samples [usecs] 3 9120 4061700 1",
                        "open                      81734 samples [usecs] 3 9120 4086700 1")
    text = text.replace("read_bytes                52000 samples [bytes] 4096 4194304 "
                        "218103808000 1", "read_bytes                52100 samples [bytes] "
                        "4096 4194304 218523238400 1")
    path.write_text(text)
    frame = derive(schema, first, Reading(0.5, 0.5, list(c.collect())))
    assert schema.get(frame, "netfs.lustre.scratch.open_ops_per_second") == 1000.0
    assert schema.get(frame, "netfs.lustre.scratch.read_bytes_per_second") == 838860800.0


def test_an_unmounted_lustre_file_system_gives_nan(tree: Path) -> None:
    c = collector(tree)
    shutil.rmtree(tree / "sys/kernel/debug/lustre/llite/scratch-ffff8f1e2c4a9000")
    assert math.isnan(values(c)["netfs.lustre.scratch.open_ops"])


def test_probe_says_why_not_without_a_mount(tmp_path: Path) -> None:
    (tmp_path / "proc/self").mkdir(parents=True)
    (tmp_path / "proc/self/mountstats").write_text(
        "device /dev/vda1 mounted on / with fstype ext4\n")
    avail = NetfsCollector(str(tmp_path / "proc"), str(tmp_path / "sys")).probe()
    assert not avail.available and avail.reason == "no NFS or Lustre mount"


def test_probe_says_lustre_stats_need_root(tmp_path: Path) -> None:
    (tmp_path / "sys/fs/lustre/llite/scratch-ffff8f1e2c4a9000").mkdir(parents=True)
    avail = NetfsCollector(str(tmp_path / "proc"), str(tmp_path / "sys")).probe()
    assert not avail.available and "root" in avail.reason


def test_probe_counts_what_it_found(tree: Path) -> None:
    avail = NetfsCollector(str(tree / "proc"), str(tree / "sys")).probe()
    assert avail.available and avail.reason == "3 NFS mount(s), 1 Lustre file system(s)"


def test_roles_say_what_the_diagnosis_reads(tree: Path) -> None:
    schema = Schema(collector(tree).metrics())
    m = "netfs.nfs.mnt_data_set"

    def roles(column: str) -> tuple:
        spec = schema.spec(column)
        assert spec is not None, column
        return spec.roles

    assert roles(f"{m}.getattr_ops_per_second") == (R.METADATA_OPS, R.DEVICE)
    assert roles(f"{m}.open_ops_per_second") == (R.METADATA_OPS, R.DEVICE)
    assert roles(f"{m}.read_ops_per_second") == (R.DEVICE_READS, R.DEVICE)
    assert roles(f"{m}.read_bytes_per_op") == (R.READ_REQUEST_SIZE, R.DEVICE)
    assert roles(f"{m}.write_bytes_per_op") == (R.WRITE_REQUEST_SIZE, R.DEVICE)
    assert roles(f"{m}.lookup_rtt_seconds") == (R.ROUND_TRIP, R.DEVICE)
    assert roles(f"{m}.round_trip_percent") == (R.ROUND_TRIP_SHARE, R.DEVICE)
    assert roles(f"{m}.metadata_ops_per_second") == (R.METADATA_OPS, R.DEVICE)
    assert roles(f"{m}.read_bytes_per_second") == (R.STORAGE_READ, R.DEVICE)
    assert roles("netfs.lustre.scratch.statfs_ops_per_second") == (R.METADATA_OPS, R.DEVICE)
    assert roles("netfs.lustre.scratch.read_bytes_per_second") == (R.STORAGE_READ, R.DEVICE)


def test_recorded_columns_are_understood_through_the_catalogue(tree: Path) -> None:
    for spec in collector(tree).metrics():
        if spec.column:
            found = spec_for_column(spec.column)
            assert (found.label, found.pane, found.roles) == (spec.label, spec.pane, spec.roles)


def test_labels_carry_the_mount_for_prometheus(tree: Path) -> None:
    spec = next(s for s in collector(tree).metrics()
                if s.name == "netfs.nfs.home.read_round_trip_seconds")
    assert spec.labels == (("mount", "home"),)
    assert spec.family == "netfs.nfs.read_round_trip_seconds"


def test_bytes_from_the_servers_are_rows_of_the_throughput_pane(tree: Path) -> None:
    pane = find_pane(build_panes(Schema(collector(tree).metrics())), THROUGHPUT)
    assert pane is not None
    labels = [row.label for row in pane.rows]
    assert labels == ["NFS mnt_data_set read", "NFS home read", "NFS mnt_data_set_2 read",
                      "Lustre scratch read"]


def test_many_metadata_calls_spread_over_operations_are_small_files(tree: Path) -> None:
    """600 GETATTR and 600 LOOKUP a second: no single operation reaches the diagnosis's line,
    their sum does."""
    c = collector(tree)
    schema = Schema(c.metrics())
    path = tree / "proc/self/mountstats"
    frames, t = [], 0.0
    prev = Reading(t, t, list(c.collect()))
    text = path.read_text()
    for step in range(1, 6):
        t += 1.0
        new = text.replace("\t     GETATTR: 4000 4000 ", f"\t     GETATTR: {4000 + 600 * step} "
                           f"{4000 + 600 * step} ", 1)
        new = new.replace("\t      LOOKUP: 1200 1200 ", f"\t      LOOKUP: {1200 + 600 * step} "
                          f"{1200 + 600 * step} ", 1)
        path.write_text(new)
        cur = Reading(t, t, list(c.collect()))
        frames.append(derive(schema, prev, cur))
        prev = cur
    column = "netfs.nfs.mnt_data_set.metadata_ops_per_second"
    assert schema.get(frames[-1], column) == 1200.0
    window = {col: [f.values[i] for f in frames] for i, col in enumerate(schema.columns)}
    psi = {"host.psi.io_some_percent": [40.0] * len(frames)}  # input-bound: waiting 40 %
    psi_spec = spec_for_column("host.psi.io_some_percent")
    verdict = diagnose({**window, **psi}, Schema([*schema.specs, psi_spec]))
    assert verdict.cause == "small-files", verdict
