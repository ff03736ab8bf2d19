"""Prometheus names generated from metric tables: the host collector on the fixture /proc tree,
and GPU/Jetson specs shaped as the DESIGN contract names them."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from conftest import DATA
from memmap_tui.collectors.host import HostCollector

from memmap_tui.model import COUNTER, GAUGE, MetricSpec, Schema, counter, gauge
from memmap_tui.sinks.prom_names import (
    RAW,
    family_help,
    is_table_measure,
    plan_families,
    prom_name,
)

VALID_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@pytest.fixture(scope="module")
def host_schema() -> Schema:
    host = HostCollector(str(DATA / "proc_a"), str(DATA / "sys_a"))
    host.open()
    try:
        return Schema(host.metrics())
    finally:
        host.close()


def by_name(schema: Schema) -> dict:
    return {f.exposed_name: f for f in plan_families(schema)}


def test_name_is_prefix_plus_family_with_underscores() -> None:
    assert prom_name("host.disk.read_bytes") == "memmap_host_disk_read_bytes"
    assert prom_name("tegra.power.vdd-in.watts") == "memmap_tegra_power_vdd_in_watts"


def test_per_device_counters_share_one_family_with_a_device_label(host_schema: Schema) -> None:
    fam = by_name(host_schema)["memmap_host_disk_read_bytes_total"]
    assert fam.kind == COUNTER and fam.label_names == ("device",)
    assert sorted(s.label_values for s in fam.series) == [("nvme0n1",), ("sda",)]
    assert all(s.source == RAW for s in fam.series)  # the raw total, so that rate() works


def test_whole_machine_totals_get_their_own_family(host_schema: Schema) -> None:
    families = by_name(host_schema)
    for name in ("memmap_host_disk_all_read_bytes_total", "memmap_host_net_all_tx_bytes_total"):
        assert families[name].label_names == ()
        assert len(families[name].series) == 1


def test_no_family_mixes_labelled_and_unlabelled_series(host_schema: Schema) -> None:
    for fam in plan_families(host_schema):
        kinds = {bool(any(s.label_values)) for s in fam.series}
        assert len(kinds) == 1, fam.name


def test_percent_columns_of_counters_are_also_gauges(host_schema: Schema) -> None:
    families = by_name(host_schema)
    for name in ("memmap_host_cpu_iowait_percent", "memmap_host_cpu_util_percent",
                 "memmap_host_psi_io_some_percent", "memmap_host_disk_busy_percent"):
        assert families[name].kind == GAUGE, name
    assert families["memmap_host_disk_busy_percent"].label_names == ("device",)
    assert "memmap_host_disk_read_bytes_per_second" not in families  # rate() gives it


def test_gauges_keep_their_base_unit_names(host_schema: Schema) -> None:
    families = by_name(host_schema)
    assert families["memmap_host_mem_used_bytes"].kind == GAUGE
    assert "memmap_host_mem_used_bytes_total" not in families


def test_every_name_is_valid_and_unique(host_schema: Schema) -> None:
    names = [f.exposed_name for f in plan_families(host_schema)]
    assert len(names) == len(set(names))
    assert all(VALID_NAME.match(n) and n.startswith("memmap_") for n in names)


def test_help_names_the_label_not_one_device(host_schema: Schema) -> None:
    fam = by_name(host_schema)["memmap_host_disk_read_bytes_total"]
    assert fam.help == "Bytes read from disk <device>."
    assert by_name(host_schema)["memmap_host_disk_all_read_bytes_total"].help == \
        "Bytes read from all physical disks."


def test_help_leaves_numeric_label_values_alone() -> None:
    spec = MetricSpec("nvml.gpu0.util_percent", "percent", GAUGE, "GPU busy share, 0 to 100.",
                      family="nvml.gpu.util_percent", labels=(("gpu", "0"),))
    assert family_help(spec) == "GPU busy share, 0 to 100."


def test_gpu_device_moves_into_the_gpu_label_as_the_contract_says() -> None:
    specs = [MetricSpec(f"nvml.gpu{i}.util_percent", "percent", GAUGE, "GPU busy.",
                        family="nvml.gpu.util_percent",
                        labels=(("gpu", str(i)), ("name", "NVIDIA A100")))
             for i in range(2)]
    (fam,) = plan_families(Schema(specs))
    assert fam.exposed_name == "memmap_nvml_gpu_util_percent"
    assert fam.label_names == ("gpu", "name")
    assert [s.label_values for s in fam.series] == [("0", "NVIDIA A100"), ("1", "NVIDIA A100")]


def test_labels_missing_from_some_specs_are_empty_not_shifted() -> None:
    a = gauge("tegra.power", "watts", "watts", "Power on rail VDD_GPU.", device="VDD_GPU",
              label_key="rail")
    b = replace(a, name="tegra.power.x.watts", labels=(("rail", "x"), ("board", "carrier")))
    (fam,) = plan_families(Schema([a, b]))
    assert fam.label_names == ("rail", "board")
    assert [s.label_values for s in fam.series] == [("VDD_GPU", ""), ("x", "carrier")]


def test_counter_without_column_is_still_exported() -> None:
    spec = counter("host.cpu", "total_seconds", "seconds", "CPU time.", column=None)
    (fam,) = plan_families(Schema([spec]))
    assert fam.exposed_name == "memmap_host_cpu_total_seconds_total" and fam.kind == COUNTER


@pytest.mark.parametrize("key, value, wanted", [
    ("rss_bytes", 123, True), ("cpu_percent", 1.5, True), ("pid", 4, False),
    ("name", "python", False), ("ppid", 1, False), ("running", True, False),
    ("cmdline", ["a"], False),
])
def test_table_fields_exported_are_measures_only(key: str, value: object, wanted: bool) -> None:
    assert is_table_measure(key, value) is wanted
