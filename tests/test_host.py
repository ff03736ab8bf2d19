"""Host collector against the real /proc of this machine and against a fake /proc tree."""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest
from memmap_tui.collectors.host import HostCollector, whole_disks

from memmap_tui.derive import derive
from memmap_tui.model import Reading, Schema

CONTRACT = ["host.cpu.util_percent", "host.cpu.iowait_percent", "host.mem.used_bytes",
            "host.mem.available_bytes", "host.swap.used_bytes", "host.disk.read_bytes_per_second",
            "host.disk.write_bytes_per_second", "host.net.rx_bytes_per_second",
            "host.net.tx_bytes_per_second"]


@pytest.fixture
def real_host():
    host = HostCollector()
    host.open()
    yield host
    host.close()


def _values(host: HostCollector) -> dict:
    return dict(zip((s.name for s in host.metrics()), host.collect()))


def test_real_proc_has_every_contract_column(real_host: HostCollector) -> None:
    columns = Schema(real_host.metrics()).columns
    missing = [c for c in CONTRACT if c not in columns]
    assert not missing
    if os.path.exists("/proc/pressure/io"):
        assert "host.psi.io_some_percent" in columns


def test_real_values_align_with_specs(real_host: HostCollector) -> None:
    assert len(real_host.collect()) == len(real_host.metrics())


def test_real_memory_used_plus_available_is_total(real_host: HostCollector) -> None:
    v = _values(real_host)
    total = int(open("/proc/meminfo").readline().split()[1]) * 1024
    assert v["host.mem.total_bytes"] == total
    assert math.isclose(v["host.mem.used_bytes"] + v["host.mem.available_bytes"], total)


def test_real_cpu_util_is_a_share_between_samples(real_host: HostCollector) -> None:
    schema = Schema(real_host.metrics())
    first = Reading(0.0, 0.0, list(real_host.collect()))
    sum(i * i for i in range(200_000))  # burn a little CPU so the jiffies move
    second = Reading(0.2, 0.2, list(real_host.collect()))
    frame = derive(schema, first, second)
    util = schema.get(frame, "host.cpu.util_percent")
    assert math.isnan(util) or 0.0 <= util <= 100.0 * (1 + 1e-9)  # float sums of jiffies


def test_real_disk_counters_see_a_synced_write(real_host: HostCollector, tmp_path: Path) -> None:
    if not real_host.disks:
        pytest.skip("no physical disk visible in /proc/diskstats here")
    before = _values(real_host)["host.disk.write_bytes"]
    with open(tmp_path / "blob", "wb") as f:
        f.write(os.urandom(4 << 20))
        f.flush()
        os.fsync(f.fileno())
    after = _values(real_host)["host.disk.write_bytes"]
    if after == before:
        pytest.skip("tmp is not on a physical disk here (tmpfs/overlay)")
    assert after - before >= 1 << 20


def test_lo_is_never_a_nic(real_host: HostCollector) -> None:
    assert "lo" not in real_host.nics


@pytest.fixture
def fake_host(data_dir: Path):
    host = HostCollector(str(data_dir / "proc_a"), str(data_dir / "sys_a"))
    host.open()
    yield host
    host.close()


def test_fake_tree_memory_values_in_bytes(fake_host: HostCollector) -> None:
    v = _values(fake_host)
    assert v["host.mem.total_bytes"] == 16_000_000 * 1024
    assert v["host.mem.used_bytes"] == 6_000_000 * 1024
    assert v["host.mem.cached_bytes"] == 5_000_000 * 1024
    assert v["host.mem.dirty_bytes"] == 3000 * 1024
    assert v["host.mem.writeback_bytes"] == 40 * 1024
    assert v["host.swap.used_bytes"] == 500_000 * 1024


def test_fake_tree_cpu_seconds_from_jiffies(fake_host: HostCollector) -> None:
    v = _values(fake_host)
    hz = os.sysconf("SC_CLK_TCK")
    assert v["host.cpu.total_seconds"] == pytest.approx(9800 / hz)
    assert v["host.cpu.iowait_seconds"] == pytest.approx(400 / hz)
    assert v["host.cpu.busy_seconds"] == pytest.approx(1400 / hz)


def test_fake_tree_faults_split_major_and_minor(fake_host: HostCollector) -> None:
    v = _values(fake_host)
    assert v["host.vm.major_faults"] == 1234
    assert v["host.vm.minor_faults"] == 90000 - 1234


# /proc/vmstat's refault lines as mm/vmstat.c (vmstat_text) prints them: split by kind since
# Linux 5.9 ("workingset_refault_anon", "workingset_refault_file"), one counter from 4.x to 5.8.
REFAULT_LINES = {
    "5.9+": "workingset_nodes 12\nworkingset_refault_anon 10\nworkingset_refault_file 90\n"
            "workingset_activate_anon 0\nworkingset_activate_file 40\n",
    "4.x-5.8": "workingset_refault 100\nworkingset_activate 40\nworkingset_nodereclaim 0\n",
}


@pytest.mark.parametrize("kernel", sorted(REFAULT_LINES))
def test_refaults_are_pages_read_back_in_bytes(kernel: str, tmp_path: Path,
                                               data_dir: Path) -> None:
    root = tmp_path / "proc"
    shutil.copytree(data_dir / "proc_a", root)
    vmstat = (root / "vmstat").read_text()
    (root / "vmstat").write_text(REFAULT_LINES[kernel] + vmstat)
    host = HostCollector(str(root), str(data_dir / "sys_a"))
    host.open()
    try:
        v = _values(host)
    finally:
        host.close()
    assert v["host.vm.refault_bytes"] == 100 * os.sysconf("SC_PAGE_SIZE")
    assert v["host.vm.major_faults"] == 1234


def test_a_kernel_without_refault_counters_has_no_refault_column(
        fake_host: HostCollector) -> None:
    assert "host.vm.refault_bytes" not in _values(fake_host)


def test_disks_are_whole_physical_devices_only(fake_host: HostCollector) -> None:
    assert fake_host.disks == ["nvme0n1", "sda"]
    v = _values(fake_host)
    assert v["host.disk.nvme0n1.read_bytes"] == 20000 * 512
    assert v["host.disk.read_bytes"] == (20000 + 100) * 512
    assert v["host.disk.write_bytes"] == (40000 + 200) * 512
    assert v["host.disk.sda.busy_seconds"] == 0.25


def test_disk_rule_without_sys_drops_partitions_and_stacks(data_dir: Path) -> None:
    text = (data_dir / "proc_a" / "diskstats").read_text()
    assert whole_disks(text, "/nonexistent") == ["nvme0n1", "sda"]


def test_nics_exclude_lo_and_total_the_rest(fake_host: HostCollector) -> None:
    assert fake_host.nics == ["eth0", "ib0"]
    v = _values(fake_host)
    assert v["host.net.rx_bytes"] == 12_000_000
    assert v["host.net.tx_bytes"] == 15_000


def test_pressure_counters_are_seconds_from_total(fake_host: HostCollector) -> None:
    v = _values(fake_host)
    assert v["host.psi.io_some_stall_seconds"] == pytest.approx(2.0)
    assert v["host.psi.io_full_stall_seconds"] == pytest.approx(1.0)
    assert v["host.psi.cpu_some_stall_seconds"] == pytest.approx(0.05)
    assert "host.psi.cpu_full_stall_seconds" not in v  # an old kernel prints no cpu full line


def test_pressure_percent_is_stall_time_over_interval(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "proc"
    shutil.copytree(data_dir / "proc_a", root)
    host = HostCollector(str(root), str(data_dir / "sys_a"))
    host.open()
    schema = Schema(host.metrics())
    first = Reading(0.0, 0.0, list(host.collect()))
    (root / "pressure" / "io").write_text("some avg10=0 avg60=0 avg300=0 total=2400000\n"
                                          "full avg10=0 avg60=0 avg300=0 total=1000000\n")
    second = Reading(2.0, 2.0, list(host.collect()))
    host.close()
    frame = derive(schema, first, second)
    assert schema.get(frame, "host.psi.io_some_percent") == pytest.approx(20.0)
    assert schema.get(frame, "host.psi.io_full_percent") == 0.0


def test_no_pressure_directory_means_no_psi_columns(tmp_path: Path, data_dir: Path) -> None:
    root = tmp_path / "proc"
    shutil.copytree(data_dir / "proc_a", root)
    shutil.rmtree(root / "pressure")
    host = HostCollector(str(root), str(data_dir / "sys_a"))
    host.open()
    assert not any(s.name.startswith("host.psi") for s in host.metrics())
    assert len(host.collect()) == len(host.metrics())
    host.close()


def test_probe_says_why_without_proc(tmp_path: Path) -> None:
    avail = HostCollector(str(tmp_path)).probe()
    assert not avail.available and "stat" in avail.reason


def test_close_twice_is_harmless(fake_host: HostCollector) -> None:
    fake_host.close()
    fake_host.close()


def test_network_total_counts_physical_interfaces_once(data_dir: Path) -> None:
    """A container host (tests/data/sys_rdma): two NICs bonded, a RoCE NIC, a bridge and a pod's
    veth. The pod's bytes are on the veth, the bridge and a NIC; the bond repeats its members."""
    host = HostCollector(str(data_dir / "proc_rdma"), str(data_dir / "sys_rdma"))
    host.open()
    try:
        v = _values(host)
    finally:
        host.close()
    assert host.nics == ["eno1", "eno2", "bond0", "ens1f1", "docker0", "veth3f2a1b"]
    assert host.physical_nics == ["eno1", "eno2", "ens1f1"]
    assert v["host.net.rx_bytes"] == 1_000_000 + 3_000_000 + 500
    assert v["host.net.tx_bytes"] == 2_000_000 + 4_000_000 + 600
    assert v["host.net.docker0.rx_bytes"] == 7_000_000  # every interface keeps its column


def test_without_any_device_link_the_total_is_every_interface_but_lo() -> None:
    from memmap_tui.collectors.host import physical_nics

    assert physical_nics(["lo", "eth0", "eth1"], "/nonexistent") == ["eth0", "eth1"]
