"""Interconnect collector on a fake sysfs tree laid out as the kernel prints it for mlx5
(tests/data/sys_rdma: Documentation/ABI/stable/sysfs-class-infiniband and
drivers/infiniband/core/sysfs.c give the files and their formats): an HDR InfiniBand port, a
RoCE port, a port without a cable, a ConnectX-3 whose 32-bit counters saturated beside its legacy
64-bit ones, and Ethernet NICs (two bonded, one RoCE netdev, a bridge, a veth, lo)."""

from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path

import pytest
from conftest import DATA
from memmap_tui.collectors.interconnect import (
    InterconnectCollector,
    Share,
    link_bytes_per_second,
    nic_bytes_per_second,
    port_active,
)

from memmap_tui import roles as R
from memmap_tui.catalog import spec_for_column
from memmap_tui.derive import derive
from memmap_tui.model import Reading, Schema
from memmap_tui.sinks.prom_names import plan_families

SYS = DATA / "sys_rdma"
IB = "class/infiniband/{}/ports/1/counters/{}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the fixture tree whose counters a test may move."""
    copy = tmp_path / "sys"
    shutil.copytree(SYS, copy, symlinks=True)
    return copy


def _open(root: Path, clock: Clock = None) -> InterconnectCollector:  # type: ignore[assignment]
    c = InterconnectCollector(str(root), clock=clock or Clock())
    c.open()
    return c


def _values(c: InterconnectCollector) -> dict:
    return dict(zip((s.name for s in c.metrics()), c.collect()))


def _bump(root: Path, rel: str, by: int) -> None:
    path = root / rel
    path.write_text(f"{int(path.read_text()) + by}\n")


@pytest.mark.parametrize("rate, want", [
    ("200 Gb/sec (4X HDR)\n", 25e9),
    ("400 Gb/sec (4X NDR)\n", 50e9),
    ("100 Gb/sec (4X EDR)\n", 12.5e9),
    ("56 Gb/sec (4X FDR)\n", 7e9),
    ("40 Gb/sec (4X QDR)\n", 4e9),       # 8b/10b: 32 Gb/s of data
    ("2.5 Gb/sec (1X SDR)\n", 0.25e9),   # the kernel's ".5", before 8b/10b
    ("25 Gb/sec (1X EDR)\n", 3.125e9),
])
def test_rate_file_is_the_links_data_bytes_per_second(rate: str, want: float) -> None:
    assert link_bytes_per_second(rate) == pytest.approx(want)


@pytest.mark.parametrize("rate", ["", "N/A", "0 Gb/sec (0X )", None])
def test_unknown_rate_is_nan(rate) -> None:
    assert math.isnan(link_bytes_per_second(rate))


def test_port_state_and_nic_speed_words() -> None:
    assert port_active("4: ACTIVE\n") and port_active("5: ACTIVE_DEFER\n")
    assert not port_active("1: DOWN\n") and not port_active("2: INIT\n") and not port_active("")
    assert nic_bytes_per_second("25000\n") == 25e9 / 8
    assert all(math.isnan(nic_bytes_per_second(s)) for s in ("-1\n", "", None, "unknown"))


def test_ports_and_physical_nics_of_the_tree() -> None:
    c = _open(SYS)
    assert [p.name for p in c.ports] == ["mlx4_0:1", "mlx5_0:1", "mlx5_1:1", "mlx5_2:1"]
    assert [p.legacy for p in c.ports] == [True, False, False, False]
    # the bond, the bridge, the veth (which does report a speed) and lo are not physical
    assert c.nics == ["eno1", "eno2", "ens1f1"]


def test_data_counters_are_four_byte_words() -> None:
    v = _values(_open(SYS))
    assert v["rdma.mlx5_0:1.rx_bytes"] == 90071992547 * 4
    assert v["rdma.mlx5_0:1.tx_bytes"] == 45035996273 * 4
    assert v["rdma.mlx5_1:1.rx_bytes"] == 250000000 * 4  # RoCE: same counters


def test_legacy_64_bit_counters_win_over_saturated_32_bit_ones() -> None:
    v = _values(_open(SYS))
    assert v["rdma.mlx4_0:1.rx_bytes"] == 8000000000 * 4
    assert v["rdma.mlx4_0:1.tx_bytes"] == 6000000000 * 4


def test_a_saturated_32_bit_counter_is_nan_and_said_once(tree: Path, caplog) -> None:
    shutil.rmtree(tree / "devices/pci0000:00/0000:02:00.0/infiniband/mlx4_0/ports/1/counters_ext")
    c = _open(tree)
    with caplog.at_level(logging.WARNING, logger="memmap_tui"):
        first, second = _values(c), _values(c)
    assert math.isnan(first["rdma.mlx4_0:1.rx_bytes"])
    assert math.isnan(second["rdma.mlx4_0:1.tx_bytes"])
    assert len([r for r in caplog.records if "saturated" in r.getMessage()]) == 1
    # the sum leaves the port out rather than jump when it comes and goes
    assert second["rdma.rx_bytes"] == (90071992547 + 250000000) * 4


def test_link_speed_only_while_the_port_is_active() -> None:
    v = _values(_open(SYS))
    assert v["rdma.mlx5_0:1.link_bytes_per_second"] == 25e9
    assert v["rdma.mlx5_1:1.link_bytes_per_second"] == 12.5e9
    assert math.isnan(v["rdma.mlx5_2:1.link_bytes_per_second"])  # DOWN
    assert v["nic.eno1.link_bytes_per_second"] == 25e9 / 8


def test_totals_sum_every_port() -> None:
    v = _values(_open(SYS))
    assert v["rdma.rx_bytes"] == (8000000000 + 90071992547 + 250000000 + 0) * 4
    assert v["rdma.tx_bytes"] == (6000000000 + 45035996273 + 500000000 + 0) * 4


def test_share_of_the_link_over_the_interval(tree: Path) -> None:
    clock = Clock()
    c = _open(tree, clock)
    first = _values(c)
    assert math.isnan(first["rdma.mlx5_0:1.rx_link_percent"])  # needs two reads
    clock.now += 2.0
    _bump(tree, IB.format("mlx5_0", "port_rcv_data"), 12_500_000_000 // 4 * 2)  # 12.5 GB/s
    _bump(tree, "devices/pci0000:00/0000:18:00.0/net/eno1/statistics/tx_bytes", 2 * 312_500_000)
    second = _values(c)
    assert second["rdma.mlx5_0:1.rx_link_percent"] == pytest.approx(50.0)
    assert second["rdma.mlx5_0:1.tx_link_percent"] == 0.0
    assert math.isnan(second["rdma.mlx5_2:1.rx_link_percent"])  # no link, no share
    assert second["nic.eno1.tx_link_percent"] == pytest.approx(10.0)
    assert second["nic.eno1.rx_link_percent"] == 0.0


def test_a_counter_that_goes_back_gives_no_share() -> None:
    share = Share()
    assert math.isnan(share.update(0.0, 1000.0, 100.0))
    assert share.update(1.0, 1050.0, 100.0) == pytest.approx(50.0)
    assert math.isnan(share.update(2.0, 10.0, 100.0))     # reset
    assert share.update(3.0, 20.0, 100.0) == pytest.approx(10.0)
    assert math.isnan(share.update(4.0, math.nan, 100.0))


def test_rates_come_from_derive(tree: Path) -> None:
    c = _open(tree)
    schema = Schema(c.metrics())
    first = Reading(0.0, 0.0, list(c.collect()))
    _bump(tree, IB.format("mlx5_1", "port_xmit_data"), 1_000_000)
    second = Reading(0.5, 0.5, list(c.collect()))
    frame = derive(schema, first, second)
    assert schema.get(frame, "rdma.mlx5_1:1.tx_bytes_per_second") == pytest.approx(8_000_000)
    assert schema.get(frame, "rdma.tx_bytes_per_second") == pytest.approx(8_000_000)


def test_link_state_is_read_at_most_once_a_second(tree: Path) -> None:
    clock = Clock()
    c = _open(tree, clock)
    _values(c)
    port = tree / "devices/pci0000:00/0000:3b:00.0/infiniband/mlx5_0/ports/1"
    (port / "state").write_text("1: DOWN\n")
    clock.now += 0.5
    assert _values(c)["rdma.mlx5_0:1.link_bytes_per_second"] == 25e9
    clock.now += 0.6
    assert math.isnan(_values(c)["rdma.mlx5_0:1.link_bytes_per_second"])


def test_prometheus_families_label_device_and_port() -> None:
    c = _open(SYS)
    families = {f.exposed_name: f for f in plan_families(Schema(c.metrics()))}
    rx = families["memmap_rdma_rx_bytes_total"]
    assert rx.label_names == ("device", "port")
    assert ("mlx5_0", "1") in {s.label_values for s in rx.series}
    assert "1" not in rx.help and "mlx5" not in rx.help  # one HELP for every port
    assert families["memmap_rdma_all_rx_bytes_total"].label_names == ()
    assert families["memmap_nic_rx_link_percent"].label_names == ("device",)
    assert "memmap_rdma_rx_link_percent" in families


def test_roles_say_what_each_column_is_for() -> None:
    schema = Schema(_open(SYS).metrics())
    shares = {s.column for s in schema.having(R.LINK_SHARE, R.DEVICE)}
    assert "rdma.mlx5_0:1.rx_link_percent" in shares and "nic.eno2.tx_link_percent" in shares
    flows = [s.column for s in schema.having(R.THROUGHPUT_FLOW, R.HOST)]
    assert flows == ["rdma.rx_bytes_per_second", "rdma.tx_bytes_per_second"]


def test_a_recordings_columns_are_understood_through_the_catalogue() -> None:
    spec = spec_for_column("rdma.mlx5_3:2.rx_link_percent")
    assert spec.has(R.LINK_SHARE) and spec.label == "mlx5_3:2 rx link"
    assert spec_for_column("nic.eth4.tx_link_percent").has(R.LINK_SHARE)
    assert spec_for_column("rdma.rx_bytes_per_second").has(R.THROUGHPUT_FLOW)


def test_probe_without_rdma_or_nic_speed_says_why(tmp_path: Path) -> None:
    got = InterconnectCollector(str(tmp_path)).probe()
    assert not got.available and "RDMA" in got.reason


def test_probe_names_what_it_reads() -> None:
    got = InterconnectCollector(str(SYS)).probe()
    assert got.available and "4 RDMA ports" in got.reason and "eno1" in got.reason


def test_this_machine_probes_without_raising() -> None:
    c = InterconnectCollector()
    if c.probe().available:
        c.open()
        assert len(c.collect()) == len(c.metrics())
        c.close()


def test_close_twice_is_harmless() -> None:
    c = _open(SYS)
    c.close()
    c.close()


def test_a_full_rdma_link_is_the_diagnosis_network_cause() -> None:
    """The diagnosis reads the link shares by role (LINK_SHARE), from a recording's columns."""
    from memmap_tui.catalog import schema_for_columns
    from memmap_tui.verdict import diagnose

    window = {"rdma.mlx5_0:1.rx_link_percent": [95.0, 96.0], "nic.eno1.tx_link_percent": [3.0]}
    found = diagnose(window, schema_for_columns(list(window)))
    assert found.cause == "network"
    assert found.evidence[0].column == "rdma.mlx5_0:1.rx_link_percent"
