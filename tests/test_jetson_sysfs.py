"""The jetson sysfs collector against fake /proc, /sys and debugfs trees built in tmp_path.

The trees are laid out as the real ones are documented for each board (JetPack 5 AGX Orin with
ga10b and INA3221 hwmon channels; JetPack 4 AGX Xavier with gv11b and the ina3221x IIO layout;
Nano with 57000000.gpu), including the devfreq -> device symlinks. No real Jetson is needed.
"""

from __future__ import annotations

import math
import os
import sys
import types
from pathlib import Path
from typing import Dict

import pytest
from memmap_tui.collectors.jetson import JetsonCollector, parse_meminfo, slug

from memmap_tui.collector import CollectorOptions
from memmap_tui.model import Schema

MEMINFO = """MemTotal:       32000000 kB
MemFree:         1000000 kB
MemAvailable:   20000000 kB
Buffers:           10000 kB
Cached:          5000000 kB
{extra}HugePages_Total:       0
Hugepagesize:       2048 kB
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def link(root: Path, rel: str, target: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def files(root: Path, base: str, entries: Dict[str, str]) -> None:
    for name, text in entries.items():
        write(root, f"{base}/{name}", text + "\n")


def orin(tmp_path: Path, nvmap: bool = False) -> Path:
    """AGX Orin, JetPack 5: ga10b under /sys/devices/platform, two INA3221 hwmon chips."""
    write(tmp_path, "proc/device-tree/model", "NVIDIA Jetson AGX Orin Developer Kit\x00")
    write(tmp_path, "proc/device-tree/compatible",
          "nvidia,p3737-0000+p3701-0000\x00nvidia,tegra234\x00")
    extra = "NvMapMemUsed:     2048000 kB\n" if nvmap else ""
    write(tmp_path, "proc/meminfo", MEMINFO.format(extra=extra))
    gpu = "sys/devices/platform/17000000.ga10b"
    files(tmp_path, gpu, {"load": "523", "of_node/name": "ga10b\x00"})
    files(tmp_path, f"{gpu}/devfreq/17000000.ga10b", {"cur_freq": "918000000"})
    link(tmp_path, f"{gpu}/devfreq/17000000.ga10b/device", "../..")
    link(tmp_path, "sys/class/devfreq/17000000.ga10b",
         "../../devices/platform/17000000.ga10b/devfreq/17000000.ga10b")
    hw = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    files(tmp_path, hw, {"name": "ina3221",
                         "in1_label": "VDD_GPU_SOC", "in1_input": "19200", "curr1_input": "2500",
                         "in2_label": "VDD_CPU_CV", "in2_input": "19200", "curr2_input": "500",
                         "in3_label": "VIN_SYS_5V0", "in3_input": "5000", "curr3_input": "1000",
                         "in7_label": "sum of shunt voltages", "in7_input": "40",
                         "curr7_input": "3000"})
    hw2 = "sys/bus/i2c/drivers/ina3221/1-0041/hwmon/hwmon4"
    files(tmp_path, hw2, {"name": "ina3221",
                          "in1_label": "NC", "in1_input": "0", "curr1_input": "0",
                          "in2_label": "VDDQ_VDD2_1V8AO", "in2_input": "1800",
                          "curr2_input": "250"})
    zones = [("cpu-thermal", "45500"), ("gpu-thermal", "44000"), ("cv0-thermal", "-256000"),
             ("tj-thermal", "46000")]
    for i, (kind, temp) in enumerate(zones):
        files(tmp_path, f"sys/class/thermal/thermal_zone{i}", {"type": kind, "temp": temp})
    return tmp_path


def xavier(tmp_path: Path) -> Path:
    """AGX Xavier, JetPack 4: gv11b under /sys/devices, INA3221 through the ina3221x IIO driver."""
    write(tmp_path, "proc/device-tree/model", "NVIDIA Jetson AGX Xavier Developer Kit\x00")
    write(tmp_path, "proc/meminfo", MEMINFO.format(extra="NvMapMemUsed:     1024000 kB\n"))
    files(tmp_path, "sys/devices/17000000.gv11b", {"load": "250", "of_node/name": "gv11b"})
    files(tmp_path, "sys/devices/17000000.gv11b/devfreq/17000000.gv11b",
          {"cur_freq": "1377000000"})
    link(tmp_path, "sys/devices/17000000.gv11b/devfreq/17000000.gv11b/device", "../..")
    link(tmp_path, "sys/class/devfreq/17000000.gv11b",
         "../../devices/17000000.gv11b/devfreq/17000000.gv11b")
    iio = "sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0"
    files(tmp_path, iio, {"name": "ina3221x", "rail_name_0": "GPU", "in_power0_input": "4500",
                          "rail_name_1": "CPU", "in_power1_input": "1200",
                          "rail_name_2": "SOC", "in_power2_input": "1800"})
    files(tmp_path, "sys/class/thermal/thermal_zone0", {"type": "GPU-therm", "temp": "41500"})
    return tmp_path


def nano(tmp_path: Path) -> Path:
    """Nano, JetPack 4: 57000000.gpu, INA3221 IIO at 6-0040, EMC activity in sysfs."""
    write(tmp_path, "proc/device-tree/model", "NVIDIA Jetson Nano Developer Kit\x00")
    write(tmp_path, "proc/meminfo", MEMINFO.format(extra="NvMapMemUsed:      512000 kB\n"))
    files(tmp_path, "sys/devices/57000000.gpu", {"load": "1000", "of_node/name": "gpu"})
    files(tmp_path, "sys/devices/57000000.gpu/devfreq/57000000.gpu", {"cur_freq": "921600000"})
    link(tmp_path, "sys/devices/57000000.gpu/devfreq/57000000.gpu/device", "../..")
    link(tmp_path, "sys/class/devfreq/57000000.gpu",
         "../../devices/57000000.gpu/devfreq/57000000.gpu")
    iio = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0"
    files(tmp_path, iio, {"rail_name_0": "POM_5V_IN", "in_power0_input": "3200",
                          "rail_name_1": "POM_5V_GPU", "in_power1_input": "900",
                          "rail_name_2": "POM_5V_CPU", "in_power2_input": "1100"})
    write(tmp_path, "sys/kernel/actmon_avg_activity/mc_all", "400000\n")
    return tmp_path


def collector(root: Path, debugfs: bool = False) -> JetsonCollector:
    c = JetsonCollector(str(root / "proc"), str(root / "sys"),
                        str(root / "debugfs") if debugfs else None)
    c.open()
    return c


def reading(c: JetsonCollector) -> Dict[str, float]:
    values = c.collect()
    assert len(values) == len(c.metrics())
    return dict(zip((s.name for s in c.metrics()), values))


@pytest.mark.parametrize("board", [orin, xavier, nano])
def test_probe_finds_each_board(tmp_path, board):
    avail = JetsonCollector(str(tmp_path / "proc"), str(board(tmp_path) / "sys")).probe()
    assert avail.available
    assert "NVIDIA Jetson" in avail.reason


def test_probe_elsewhere_is_unavailable_with_reason(tmp_path):
    write(tmp_path, "proc/meminfo", MEMINFO.format(extra=""))
    avail = JetsonCollector(str(tmp_path / "proc"), str(tmp_path / "sys")).probe()
    assert not avail.available
    assert "not a Jetson" in avail.reason


def test_probe_accepts_a_tegra_device_tree_without_a_load_node(tmp_path):
    write(tmp_path, "sys/firmware/devicetree/base/compatible", "nvidia,tegra234\x00")
    assert JetsonCollector(str(tmp_path / "proc"), str(tmp_path / "sys")).probe().available


@pytest.mark.parametrize("board, percent, mhz", [(orin, 52.3, 918.0), (xavier, 25.0, 1377.0),
                                                  (nano, 100.0, 921.6)])
def test_gpu_load_per_mille_becomes_percent_and_devfreq_hz_becomes_mhz(tmp_path, board, percent,
                                                                       mhz):
    r = reading(collector(board(tmp_path)))
    assert r["jetson.gpu.util_percent"] == pytest.approx(percent)
    assert r["jetson.gpu.freq_mhz"] == pytest.approx(mhz)


def test_gpu_load_found_at_a_fixed_path_without_devfreq(tmp_path):
    write(tmp_path, "sys/devices/platform/gpu.0/load", "120\n")
    write(tmp_path, "proc/meminfo", MEMINFO.format(extra=""))
    r = reading(collector(tmp_path))
    assert r["jetson.gpu.util_percent"] == 12.0
    assert math.isnan(r["jetson.gpu.freq_mhz"])


def test_nvmap_splits_unified_memory_into_gpu_and_cpu_shares(tmp_path):
    r = reading(collector(orin(tmp_path, nvmap=True)))
    assert r["jetson.ram.total_bytes"] == 32000000 * 1024
    assert r["jetson.ram.used_bytes"] == 12000000 * 1024
    assert r["jetson.ram.available_bytes"] == 20000000 * 1024
    assert r["jetson.ram.gpu_shared_bytes"] == 2048000 * 1024
    assert r["jetson.ram.cpu_used_bytes"] == (12000000 - 2048000) * 1024


def test_without_nvmap_the_gpu_share_is_nan(tmp_path):
    r = reading(collector(orin(tmp_path, nvmap=False)))
    assert r["jetson.ram.used_bytes"] == 12000000 * 1024
    assert math.isnan(r["jetson.ram.gpu_shared_bytes"])
    assert math.isnan(r["jetson.ram.cpu_used_bytes"])


def test_ina3221_hwmon_rails_are_volts_times_amps_and_skip_nc_and_sum(tmp_path):
    r = reading(collector(orin(tmp_path)))
    power = {k: v for k, v in r.items() if k.startswith("jetson.power.")}
    assert power == {
        "jetson.power.vdd_gpu_soc.watts": pytest.approx(48.0),
        "jetson.power.vdd_cpu_cv.watts": pytest.approx(9.6),
        "jetson.power.vin_sys_5v0.watts": pytest.approx(5.0),
        "jetson.power.vddq_vdd2_1v8ao.watts": pytest.approx(0.45),
    }


@pytest.mark.parametrize("board, expected", [
    (xavier, {"gpu": 4.5, "cpu": 1.2, "soc": 1.8}),
    (nano, {"pom_5v_in": 3.2, "pom_5v_gpu": 0.9, "pom_5v_cpu": 1.1}),
])
def test_ina3221_iio_rails_are_milliwatts(tmp_path, board, expected):
    r = reading(collector(board(tmp_path)))
    power = {k.split(".")[2]: v for k, v in r.items() if k.startswith("jetson.power.")}
    assert power == pytest.approx(expected)


def test_rails_found_through_the_i2c_device_list(tmp_path):
    write(tmp_path, "proc/device-tree/model", "NVIDIA Jetson Orin Nano Developer Kit\x00")
    files(tmp_path, "sys/bus/i2c/devices/1-0040/hwmon/hwmon1",
          {"name": "ina3221", "in1_label": "VDD_IN", "in1_input": "5000", "curr1_input": "1500"})
    files(tmp_path, "sys/bus/i2c/devices/1-0050/hwmon/hwmon2",
          {"name": "eeprom", "in1_label": "VDD_X", "in1_input": "1", "curr1_input": "1"})
    r = reading(collector(tmp_path))
    assert [k for k in r if k.startswith("jetson.power.")] == ["jetson.power.vdd_in.watts"]
    assert r["jetson.power.vdd_in.watts"] == pytest.approx(7.5)


def test_rail_specs_carry_the_rail_as_a_label(tmp_path):
    c = collector(orin(tmp_path))
    spec = next(s for s in c.metrics() if s.name == "jetson.power.vdd_gpu_soc.watts")
    assert spec.family == "jetson.power.watts"
    assert spec.labels == (("rail", "vdd_gpu_soc"),)


def test_thermal_zones_in_celsius_and_invalid_zone_skipped(tmp_path):
    r = reading(collector(orin(tmp_path)))
    temps = {k: v for k, v in r.items() if k.startswith("jetson.temp.")}
    assert temps == {
        "jetson.temp.cpu_thermal.celsius": 45.5,
        "jetson.temp.gpu_thermal.celsius": 44.0,
        "jetson.temp.tj_thermal.celsius": 46.0,
    }


def test_a_zone_that_turns_invalid_later_reads_nan(tmp_path):
    c = collector(orin(tmp_path))
    write(tmp_path, "sys/class/thermal/thermal_zone1/temp", "-256000\n")
    assert math.isnan(reading(c)["jetson.temp.gpu_thermal.celsius"])


def test_emc_is_nan_without_debugfs_and_probe_says_why(tmp_path):
    orin(tmp_path)
    r = reading(collector(tmp_path))
    assert math.isnan(r["jetson.emc.freq_mhz"])
    assert math.isnan(r["jetson.emc.util_percent"])
    assert math.isnan(r["jetson.emc.bytes_per_second"])
    reason = JetsonCollector(str(tmp_path / "proc"), str(tmp_path / "sys")).probe().reason
    assert "debugfs needs root" in reason


def test_emc_clock_and_activity_from_a_readable_debugfs(tmp_path):
    orin(tmp_path)
    write(tmp_path, "debugfs/bpmp/debug/clk/emc/rate", "3199000000\n")
    write(tmp_path, "debugfs/cactmon/mc_all", "799750\n")
    r = reading(collector(tmp_path, debugfs=True))
    assert r["jetson.emc.freq_mhz"] == pytest.approx(3199.0)
    assert r["jetson.emc.util_percent"] == pytest.approx(25.0)


def test_emc_on_nano_from_clk_rate_and_sysfs_actmon(tmp_path):
    nano(tmp_path)
    write(tmp_path, "debugfs/clk/emc/clk_rate", "1600000000\n")
    r = reading(collector(tmp_path, debugfs=True))
    assert r["jetson.emc.freq_mhz"] == pytest.approx(1600.0)
    assert r["jetson.emc.util_percent"] == pytest.approx(25.0)


def test_emc_bandwidth_estimate_comes_from_jetson_models_when_present(tmp_path, monkeypatch):
    models = types.ModuleType("memmap_tui.collectors.jetson_models")
    models.emc_bytes_per_second = lambda model, util, mhz: util * mhz * 1e6  # type: ignore
    monkeypatch.setitem(sys.modules, "memmap_tui.collectors.jetson_models", models)
    orin(tmp_path)
    write(tmp_path, "debugfs/bpmp/debug/clk/emc/rate", "2000000000\n")
    write(tmp_path, "debugfs/cactmon/mc_all", "1000000\n")
    r = reading(collector(tmp_path, debugfs=True))
    assert r["jetson.emc.bytes_per_second"] == pytest.approx(50.0 * 2000.0 * 1e6)


def test_emc_bandwidth_estimate_is_nan_when_the_table_fails(tmp_path, monkeypatch):
    models = types.ModuleType("memmap_tui.collectors.jetson_models")

    def broken(model, util, mhz):
        raise KeyError(model)

    models.emc_bytes_per_second = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "memmap_tui.collectors.jetson_models", models)
    nano(tmp_path)
    write(tmp_path, "debugfs/clk/emc/clk_rate", "1600000000\n")
    assert math.isnan(reading(collector(tmp_path, debugfs=True))["jetson.emc.bytes_per_second"])


def test_files_vanishing_after_open_give_nan_not_errors(tmp_path):
    c = collector(xavier(tmp_path))
    os.remove(tmp_path / "sys/devices/17000000.gv11b/load")
    os.remove(tmp_path / "proc/meminfo")
    r = reading(c)
    assert math.isnan(r["jetson.gpu.util_percent"])
    assert math.isnan(r["jetson.ram.used_bytes"])
    assert r["jetson.power.gpu.watts"] == pytest.approx(4.5)


def test_metrics_form_a_valid_schema_with_unique_names(tmp_path):
    c = collector(orin(tmp_path))
    assert len(Schema(c.metrics())) == len(c.metrics())


def test_from_options_takes_the_roots(tmp_path):
    options = CollectorOptions(proc_root=str(tmp_path / "p"), sys_root=str(tmp_path / "s"))
    c = JetsonCollector.from_options(options)
    assert (c.proc_root, c.sys_root) == (str(tmp_path / "p"), str(tmp_path / "s"))
    assert c.debugfs_root == str(tmp_path / "s" / "kernel" / "debug")


def test_parse_meminfo_is_tolerant():
    info = parse_meminfo("MemTotal: 10 kB\ngarbage\nHugePages_Total: 3\nBad: x kB\n")
    assert info == {"MemTotal": 10240.0, "HugePages_Total": 3.0}


@pytest.mark.parametrize("raw, expected", [("VDD_GPU_SOC", "vdd_gpu_soc"),
                                           ("CPU-therm", "cpu_therm"), ("  ", "unnamed")])
def test_slug(raw, expected):
    assert slug(raw) == expected


@pytest.mark.jetson
def test_real_jetson_answers():
    c = JetsonCollector()
    if not c.probe().available:
        pytest.skip("not a Jetson")
    c.open()
    r = dict(zip((s.name for s in c.metrics()), c.collect()))
    assert 0 <= r["jetson.gpu.util_percent"] <= 100
    assert r["jetson.ram.total_bytes"] > 0
