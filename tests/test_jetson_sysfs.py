"""The Jetson sysfs source against /proc, /sys and debugfs trees laid out as the boards print them.

The trees and where each layout comes from: tests/jetson_trees.py. No Jetson is needed; the
real source reads the files, and the EMC estimate goes through the real module table.
"""

from __future__ import annotations

import math
import os
from typing import Dict

import pytest
from jetson_trees import (
    Tree,
    agx_orin_jp5,
    agx_orin_jp6,
    agx_xavier_jp4,
    nano,
    orin_nano_8gb,
    thor,
    tx2_nx,
)
from memmap_tui.collectors.jetson.sysfs import SysfsSource, parse_meminfo

from memmap_tui.model import Schema


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def opened(tree: Tree, debugfs: bool = False) -> SysfsSource:
    source = tree.source(debugfs)
    source.open()
    return source


def reading(source: SysfsSource) -> Dict[str, float]:
    values = source.read()
    assert len(values) == len(source.metrics())
    return dict(zip((s.name for s in source.metrics()), values))


def gaps(source: SysfsSource) -> Dict[str, str]:
    return {g.what: g.why for g in source.gaps()}


# -- which boards, and which not --------------------------------------------------------------

@pytest.mark.parametrize("board", [agx_orin_jp6, agx_orin_jp5, orin_nano_8gb, nano, tx2_nx,
                                   agx_xavier_jp4, thor])
def test_probe_finds_each_board(tree, board):
    avail = board(tree).source().probe()
    assert avail.available, avail.reason


def test_probe_elsewhere_is_unavailable_with_reason(tree):
    tree.write("proc/meminfo", "MemTotal: 1000 kB\n")
    avail = tree.source().probe()
    assert not avail.available and "not a Jetson" in avail.reason


def test_probe_accepts_a_tegra_device_tree_without_a_load_node(tree):
    tree.write("sys/firmware/devicetree/base/compatible", "nvidia,tegra234\x00")
    assert tree.source().probe().available


# -- GPU -----------------------------------------------------------------------------------

@pytest.mark.parametrize("board, percent, mhz", [
    (agx_orin_jp6, 52.3, 918.0), (agx_orin_jp5, 52.3, 918.0), (agx_xavier_jp4, 25.0, 1377.0),
    (nano, 100.0, 921.6), (tx2_nx, 0.0, 114.75)])
def test_gpu_load_per_mille_becomes_percent_and_devfreq_hz_becomes_mhz(tree, board, percent,
                                                                       mhz):
    r = reading(opened(board(tree)))
    assert r["jetson.gpu.util_percent"] == pytest.approx(percent)
    assert r["jetson.gpu.freq_mhz"] == pytest.approx(mhz)


def test_gpu_load_found_at_a_fixed_path_without_devfreq(tree):
    tree.write("sys/devices/platform/gpu.0/load", "120\n")
    tree.write("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 500 kB\n")
    source = opened(tree)
    assert reading(source)["jetson.gpu.util_percent"] == 12.0
    assert "jetson.gpu.freq_mhz" not in reading(source)
    assert gaps(source)["GPU clock"] == "no GPU devfreq node found"


def test_thor_gpu_clock_is_read_from_gpu_gpc_0_and_its_missing_load_is_said(tree):
    source = opened(thor(tree))
    r = reading(source)
    assert r["jetson.gpu.freq_mhz"] == pytest.approx(675.0)  # gpu-gpc-0, not gpu-nvd-0
    assert "jetson.gpu.util_percent" not in r
    assert "gpu-gpc-0" in gaps(source)["GPU util"] and "nvml" in gaps(source)["GPU util"]


# -- memory --------------------------------------------------------------------------------

def test_nvmap_splits_unified_memory_into_gpu_and_cpu_shares(tree):
    r = reading(opened(agx_orin_jp5(tree)))
    assert r["jetson.ram.total_bytes"] == 32000000 * 1024
    assert r["jetson.ram.used_bytes"] == 12000000 * 1024
    assert r["jetson.ram.available_bytes"] == 20000000 * 1024
    assert r["jetson.ram.gpu_shared_bytes"] == 2048000 * 1024
    assert r["jetson.ram.cpu_used_bytes"] == (12000000 - 2048000) * 1024


def test_without_nvmap_there_is_no_gpu_share_column(tree):
    r = reading(opened(agx_orin_jp6(tree, nvmap=False)))
    assert r["jetson.ram.used_bytes"] == (64335836 - 45000000) * 1024
    assert "jetson.ram.gpu_shared_bytes" not in r and "jetson.ram.cpu_used_bytes" not in r


def test_swap_comes_from_meminfo(tree):
    r = reading(opened(nano(tree)))
    assert r["jetson.swap.total_bytes"] == 16000000 * 1024
    assert r["jetson.swap.used_bytes"] == 1000000 * 1024
    assert r["jetson.swap.cached_bytes"] == 2048 * 1024


# -- power ---------------------------------------------------------------------------------

def test_ina3221_hwmon_rails_are_volts_times_amps_and_skip_nc_and_sum(tree):
    r = reading(opened(agx_orin_jp6(tree)))
    power = {k: v for k, v in r.items() if k.startswith("jetson.power.")}
    assert power == {
        "jetson.power.vdd_gpu_soc.watts": pytest.approx(48.0),
        "jetson.power.vdd_cpu_cv.watts": pytest.approx(9.6),
        "jetson.power.vin_sys_5v0.watts": pytest.approx(5.0),
        "jetson.power.vddq_vdd2_1v8ao.watts": pytest.approx(0.45),
    }


@pytest.mark.parametrize("board, expected", [
    (agx_xavier_jp4, {"gpu": 4.5, "cpu": 1.2, "soc": 1.8}),
    (nano, {"pom_5v_in": 3.2, "pom_5v_gpu": 0.9, "pom_5v_cpu": 1.1}),
])
def test_ina3221_iio_rails_are_milliwatts(tree, board, expected):
    r = reading(opened(board(tree)))
    power = {k.split(".")[2]: v for k, v in r.items() if k.startswith("jetson.power.")}
    assert power == pytest.approx(expected)


def test_thor_input_power_comes_from_its_ina238_as_vin(tree):
    r = reading(opened(thor(tree)))
    assert r["jetson.power.vin.watts"] == pytest.approx(29.25)  # power1_input, uW
    assert r["jetson.power.vin_sys_5v0.watts"] == pytest.approx(4.125)  # the INA3221 still read


def test_ina238_without_a_power_file_is_volts_times_amps(tree):
    thor(tree)
    os.remove(tree.root / "sys/bus/i2c/devices/2-0044/hwmon/hwmon5/power1_input")
    assert reading(opened(tree))["jetson.power.vin.watts"] == pytest.approx(29.25)


def test_rails_found_through_the_i2c_device_list(tree):
    tree.model("NVIDIA Jetson Orin Nano Developer Kit")
    tree.files("sys/bus/i2c/devices/1-0040/hwmon/hwmon1",
               {"name": "ina3221", "in1_label": "VDD_IN", "in1_input": "5000",
                "curr1_input": "1500"})
    tree.files("sys/bus/i2c/devices/1-0050/hwmon/hwmon2",
               {"name": "eeprom", "in1_label": "VDD_X", "in1_input": "1", "curr1_input": "1"})
    r = reading(opened(tree))
    assert [k for k in r if k.startswith("jetson.power.")] == ["jetson.power.vdd_in.watts"]
    assert r["jetson.power.vdd_in.watts"] == pytest.approx(7.5)


def test_rail_specs_carry_the_rail_as_a_label_and_their_name_on_screen(tree):
    source = opened(agx_orin_jp6(tree))
    spec = next(s for s in source.metrics() if s.name == "jetson.power.vdd_gpu_soc.watts")
    assert spec.family == "jetson.power.watts"
    assert spec.labels == (("rail", "vdd_gpu_soc"),)
    assert spec.label == "vdd_gpu_soc" and spec.pane == "gpu" and spec.rank == 20


# -- temperatures --------------------------------------------------------------------------

def test_zones_are_named_by_sensor_as_tegrastats_prints_them(tree):
    temps = {k: v for k, v in reading(opened(agx_orin_jp6(tree))).items()
             if k.startswith("jetson.temp.")}
    assert temps["jetson.temp.cpu.celsius"] == 45.5
    assert temps["jetson.temp.tj.celsius"] == 46.0
    assert temps["jetson.temp.tdiode.celsius"] == 39.75
    assert len(temps) == 11


def test_a_zone_reading_minus_256_at_start_is_kept_and_read_when_it_wakes(tree):
    source = opened(agx_orin_jp6(tree))
    assert math.isnan(reading(source)["jetson.temp.cv0.celsius"])
    tree.write("sys/class/thermal/thermal_zone2/temp", "41000\n")  # the DLA woke up
    assert reading(source)["jetson.temp.cv0.celsius"] == 41.0


def test_a_zone_that_turns_invalid_later_reads_nan(tree):
    source = opened(agx_orin_jp6(tree))
    tree.write("sys/class/thermal/thermal_zone1/temp", "-256000\n")
    assert math.isnan(reading(source)["jetson.temp.gpu.celsius"])


@pytest.mark.parametrize("board", [nano, tx2_nx, agx_xavier_jp4])
def test_the_pmic_zone_and_its_constant_100_c_are_left_out(tree, board):
    r = reading(opened(board(tree)))
    assert not [k for k in r if "pmic" in k]
    assert 100.0 not in [v for k, v in r.items() if k.startswith("jetson.temp.")]


def test_l4t32_zone_types_become_tegrastats_sensor_names(tree):
    temps = [k for k in reading(opened(tx2_nx(tree))) if k.startswith("jetson.temp.")]
    assert temps == ["jetson.temp.bcpu.celsius", "jetson.temp.mcpu.celsius",
                     "jetson.temp.gpu.celsius", "jetson.temp.pll.celsius",
                     "jetson.temp.tboard.celsius", "jetson.temp.tdiode.celsius",
                     "jetson.temp.thermal.celsius"]


# -- EMC -----------------------------------------------------------------------------------

def test_without_root_orin_jp6_reads_no_emc_and_says_why_once(tree):
    source = opened(agx_orin_jp6(tree))
    assert not [k for k in reading(source) if k.startswith("jetson.emc.")]
    why = gaps(source)
    assert why["EMC util and bytes/s"] == why["EMC clock"]
    assert "readable only by root" in why["EMC clock"]
    assert "bpmp/debug/clk/emc/rate" in why["EMC clock"]
    assert "cactmon/mc_all" in why["EMC clock"] and "tegra_cactmon_mc_all" in why["EMC clock"]


@pytest.mark.parametrize("board", [agx_orin_jp5, nano, tx2_nx])
def test_without_root_l4t_32_35_reads_the_activity_but_not_the_clock(tree, board):
    source = opened(board(tree))
    why = gaps(source)["EMC util and bytes/s"]
    assert why.startswith("the EMC clock") and "readable only by root" in why
    assert "activity" not in why  # /sys/kernel/actmon_avg_activity/mc_all is world-readable


def test_root_without_the_cactmon_module_is_told_to_load_it(tree):
    agx_orin_jp6(tree)
    tree.write("debugfs/bpmp/debug/clk/emc/rate", "3199000000\n")
    source = opened(tree, debugfs=True)
    assert reading(source)["jetson.emc.freq_mhz"] == pytest.approx(3199.0)
    assert "modprobe tegra_cactmon_mc_all" in gaps(source)["EMC util and bytes/s"]


def test_emc_util_is_activity_khz_over_clock_khz_in_percent(tree):
    """100 * mc_all_kHz / (rate_Hz / 1000): 799750 kHz of 3199 MHz is 25 %, not 0.25 %."""
    agx_orin_jp6(tree)
    tree.write("debugfs/bpmp/debug/clk/emc/rate", "3199000000\n")
    tree.write("debugfs/cactmon/mc_all", "799750\n")
    r = reading(opened(tree, debugfs=True))
    assert r["jetson.emc.freq_mhz"] == pytest.approx(3199.0)
    assert r["jetson.emc.util_percent"] == pytest.approx(25.0)
    assert r["jetson.emc.bytes_per_second"] == pytest.approx(0.25 * 204.8e9)


def test_emc_on_nano_from_clk_rate_and_sysfs_actmon(tree):
    nano(tree)
    tree.write("debugfs/clk/emc/clk_rate", "1600000000\n")
    r = reading(opened(tree, debugfs=True))
    assert r["jetson.emc.freq_mhz"] == pytest.approx(1600.0)
    assert r["jetson.emc.util_percent"] == pytest.approx(25.0)
    assert r["jetson.emc.bytes_per_second"] == pytest.approx(0.25 * 25.6e9)


def test_orin_nano_emc_bytes_tell_8gb_by_memtotal_through_the_real_table(tree):
    orin_nano_8gb(tree)
    tree.write("debugfs/bpmp/debug/clk/emc/rate", "2133000000\n")
    tree.write("debugfs/cactmon/mc_all", "917190\n")  # 43 % of 2133 MHz, as 24_beszel_369
    r = reading(opened(tree, debugfs=True))
    assert r["jetson.emc.util_percent"] == pytest.approx(43.0)
    assert r["jetson.emc.bytes_per_second"] == pytest.approx(0.43 * 68e9)


def test_tx2_nx_named_lanai_3636_gets_its_bandwidth(tree):
    tx2_nx(tree)
    tree.write("debugfs/bpmp/debug/clk/emc/rate", "1600000000\n")
    source = opened(tree, debugfs=True)
    r = reading(source)
    assert r["jetson.emc.util_percent"] == pytest.approx(25.0)
    assert r["jetson.emc.bytes_per_second"] == pytest.approx(0.25 * 51.2e9)
    assert gaps(source) == {}


def test_thor_emc_clock_from_bwmgr_and_activity_from_bpmp_actmon(tree):
    thor(tree)
    tree.write("debugfs/bpmp/debug/actmon/mc_all_avg_activity", "166250\n")
    r = reading(opened(tree, debugfs=True))
    assert r["jetson.emc.freq_mhz"] == pytest.approx(665.0)
    assert r["jetson.emc.util_percent"] == pytest.approx(25.0)
    assert r["jetson.emc.bytes_per_second"] == pytest.approx(0.25 * 665e6 * 273e9 / 4266e6)


def test_thor_without_root_reads_the_emc_clock_and_says_why_not_the_activity(tree):
    source = opened(thor(tree))
    assert reading(source)["jetson.emc.freq_mhz"] == pytest.approx(665.0)
    why = gaps(source)
    assert "EMC clock" not in why
    assert why["EMC util and bytes/s"].startswith("the EMC activity (bpmp/debug/actmon/")


def test_an_unknown_board_has_no_bytes_column_and_says_why(tree):
    agx_orin_jp6(tree)
    tree.model("Raspberry Pi 4 Model B Rev 1.4")
    tree.write("debugfs/bpmp/debug/clk/emc/rate", "3199000000\n")
    tree.write("debugfs/cactmon/mc_all", "799750\n")
    source = opened(tree, debugfs=True)
    assert "jetson.emc.bytes_per_second" not in reading(source)
    assert "Raspberry Pi" in gaps(source)["EMC bytes/s"]


# -- robustness ----------------------------------------------------------------------------

def test_files_vanishing_after_open_give_nan_not_errors(tree):
    source = opened(agx_xavier_jp4(tree))
    os.remove(tree.root / "sys/devices/17000000.gv11b/load")
    os.remove(tree.root / "proc/meminfo")
    r = reading(source)
    assert math.isnan(r["jetson.gpu.util_percent"])
    assert math.isnan(r["jetson.ram.used_bytes"])
    assert r["jetson.power.gpu.watts"] == pytest.approx(4.5)


@pytest.mark.parametrize("board", [agx_orin_jp6, nano, thor, agx_xavier_jp4])
def test_metrics_form_a_valid_schema_with_unique_names(tree, board):
    source = opened(board(tree))
    assert len(Schema(source.metrics())) == len(source.metrics())


def test_the_default_debugfs_is_under_sys(tmp_path):
    source = SysfsSource(str(tmp_path / "p"), str(tmp_path / "s"))
    assert source.debugfs_root == str(tmp_path / "s" / "kernel" / "debug")


def test_parse_meminfo_is_tolerant():
    info = parse_meminfo("MemTotal: 10 kB\ngarbage\nHugePages_Total: 3\nBad: x kB\n")
    assert info == {"MemTotal": 10240.0, "HugePages_Total": 3.0}


@pytest.mark.jetson
def test_real_jetson_answers():
    source = SysfsSource()
    if not source.probe().available:
        pytest.skip("not a Jetson")
    source.open()
    r = reading(source)
    assert r["jetson.ram.total_bytes"] > 0
    assert 0 <= r.get("jetson.gpu.util_percent", 0) <= 100
