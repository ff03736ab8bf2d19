"""Fake Jetson /proc, /sys and debugfs trees, laid out as the boards print them.

Faked at the hardware boundary only: files and symlinks in tmp_path, read by the real sysfs
source. Where each layout comes from:
- AGX Orin, JetPack 6 (L4T 36): justincdavis/fastnvmetrics docs/adding_a_board.md @ 1d983a5e
  (a capture on the board): GPU load at /sys/devices/platform/bus@0/17000000.gpu/load; INA3221
  hwmon channels at /sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3 (VDD_GPU_SOC, VDD_CPU_CV,
  VIN_SYS_5V0) and 1-0041/hwmon/hwmon4 (VDDQ_VDD2_1V8AO on channel 2); thermal zones 0-10
  cpu, gpu, cv0-2 (EAGAIN while the DLA/PVA sleep), soc0-2, tj, tboard, tdiode "-thermal";
  EMC activity in debugfs cactmon/mc_all (root, module tegra_cactmon_mc_all). jetson-stats
  (rbonghi/jetson_stats) jtop/core/power.py: labels in `in<N>_label`, "NC" channels and "sum
  of shunt voltages" (channel 7) skipped; memory.py: EMC clock bpmp/debug/clk/emc/rate.
- AGX Orin, JetPack 5 (L4T 35): the ga10b devfreq node (jetson-stats gpu.py, of_node name
  ga10b), EMC activity /sys/kernel/actmon_avg_activity/mc_all (world-readable; gone in
  JetPack 6: jetson-stats issue #470).
- Orin Nano 8GB: the JetPack 6 Orin layout with the rails tegrastats prints there (VDD_IN,
  VDD_CPU_GPU_CV, VDD_SOC) and its RAM (7620 MiB): tegrastats fixture 24_beszel_369; model
  string of fixture 27_matan.
- Nano and TX2 NX (L4T 32): GPU at /sys/devices/gpu.0 with devfreq 57000000.gpu (Nano) or
  17000000.gp10b (TX2 family) under it (hakandundar34coding/system-monitoring-center issue #45:
  `grep . /sys/devices/gpu.0/*` on a Nano; GPU_POLICIES_DIR /sys/devices/gpu.0/devfreq/
  57000000.gpu in several tools); INA3221 through the ina3221x IIO driver,
  /sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0 with rail_name_<N> and in_power<N>_input
  (jetson-stats issue #131, power.py); thermal zones AO-therm, CPU-therm, GPU-therm (zone 2),
  PLL-therm, PMIC-Die (a constant 100000), thermal-fan-est, as tegrastats prints them (AO@,
  CPU@, GPU@, PLL@, PMIC@100C, thermal@: fixture 13_dd_nano); EMC activity in
  /sys/kernel/actmon_avg_activity/mc_all (jetson-stats issue #360), clock in debugfs
  clk/emc/clk_rate (tegra210) or bpmp/debug/clk/emc/rate (tegra186, issue #323). TX2 NX's model
  is `lanai-3636`, board p3636, tegra186 (jetson-stats issues #515, #159).
- AGX Xavier, JetPack 4: model "Jetson-AGX" (collectors/jetson/models.py), gv11b at
  /sys/devices/17000000.gv11b (jetson-stats issue #360: IGPU_LOAD /sys/devices/gpu.0/load,
  EMC_FREQ bpmp/debug/clk/emc/rate, EMC_LOAD /sys/kernel/actmon_avg_activity/mc_all), INA3221
  IIO at ina3221x/1-0040/iio:device0 with rails GPU, CPU, SOC (fixture 17_dd_agx prints them).
- AGX Thor, JetPack 7 (L4T 38): model "NVIDIA Jetson AGX Thor Developer Kit", compatible
  nvidia,p4071-0000+p3834-0008 / p3834-0008 / tegra264 (jetson-stats issue #711); GPU devfreq
  nodes gpu-gpc-0 and gpu-nvd-0 with no device/of_node/name and no load file (issue #885);
  EMC clock /sys/class/devfreq/bwmgr/{name,cur_freq,min_freq,max_freq}, activity debugfs
  bpmp/debug/actmon/mc_all_avg_activity (PR #825); module rails VDD_GPU, VDD_CPU_SOC_MSS,
  VIN_SYS_5V0 (fixture 35_lesomnus_168; the INA3221 placed as on Orin) and the carrier's
  INA238 (hwmon in1_input mV, curr1_input mA, power1_input uW: Linux drivers/hwmon/ina238.c,
  jetson-stats PR #900). No
  public capture shows the INA238's i2c bus and address: 2-0044 here stands for any.
Values (loads, clocks, temperatures) are chosen for the tests; the layouts are the boards'.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

from memmap_tui.collectors.jetson.sysfs import SysfsSource

GIB = 1024**3


def meminfo(total_kb: int, available_kb: int, nvmap_kb: Optional[int] = None,
            swap_total_kb: int = 16000000, swap_free_kb: int = 15000000,
            swap_cached_kb: int = 2048) -> str:
    """/proc/meminfo as the kernel prints it (NvMapMemUsed: Tegra kernels with nvmap)."""
    lines = [("MemTotal", total_kb), ("MemFree", available_kb // 2),
             ("MemAvailable", available_kb), ("Buffers", 10000), ("Cached", 5000000),
             ("SwapCached", swap_cached_kb), ("SwapTotal", swap_total_kb),
             ("SwapFree", swap_free_kb)]
    if nvmap_kb is not None:
        lines.append(("NvMapMemUsed", nvmap_kb))
    text = "".join(f"{key + ':':<16}{value:>8} kB\n" for key, value in lines)
    return text + "HugePages_Total:       0\nHugepagesize:       2048 kB\n"


class Tree:
    """A fake root: proc/, sys/ and debugfs/ under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def link(self, rel: str, target: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)

    def files(self, base: str, entries: Dict[str, str]) -> None:
        for name, text in entries.items():
            self.write(f"{base}/{name}", text + "\n")

    def model(self, model: str, compatible: str = "") -> None:
        self.write("proc/device-tree/model", model + "\x00")
        if compatible:
            self.write("proc/device-tree/compatible",
                       "".join(c + "\x00" for c in compatible.split()))

    def zones(self, *zones: tuple) -> None:
        for i, (kind, milli_c) in enumerate(zones):
            self.files(f"sys/class/thermal/thermal_zone{i}", {"type": kind, "temp": milli_c})

    def devfreq(self, device: str, node: str, hz: int, of_name: Optional[str] = None) -> None:
        """A devfreq node under `device` (relative to sys/devices), with the class symlink."""
        base = f"sys/devices/{device}"
        if of_name is not None:
            self.write(f"{base}/of_node/name", of_name + "\x00")
        self.files(f"{base}/devfreq/{node}", {"cur_freq": str(hz)})
        self.link(f"{base}/devfreq/{node}/device", "../..")
        depth = "../" * 2
        self.link(f"sys/class/devfreq/{node}", f"{depth}devices/{device}/devfreq/{node}")

    def hwmon(self, i2c: str, hwmon: str, channels: Dict[int, tuple],
              driver: str = "ina3221") -> None:
        """INA3221 hwmon channels {n: (label, mV, mA)} of the chip at i2c `i2c` (1-0040)."""
        base = f"sys/bus/i2c/drivers/{driver}/{i2c}/hwmon/{hwmon}"
        self.write(f"{base}/name", driver + "\n")
        for n, (label, mv, ma) in channels.items():
            self.files(base, {f"in{n}_label": label, f"in{n}_input": str(mv),
                              f"curr{n}_input": str(ma)})

    def iio(self, i2c: str, rails: Dict[int, tuple]) -> None:
        """INA3221 through the ina3221x IIO driver (JetPack 4): {n: (rail, mW)}."""
        base = f"sys/bus/i2c/drivers/ina3221x/{i2c}/iio:device0"
        self.write(f"{base}/name", "ina3221x\n")
        for n, (rail, mw) in rails.items():
            self.files(base, {f"rail_name_{n}": rail, f"in_power{n}_input": str(mw)})

    def source(self, debugfs: bool = False) -> SysfsSource:
        return SysfsSource(str(self.root / "proc"), str(self.root / "sys"),
                           str(self.root / "debugfs") if debugfs else None)


ORIN_ZONES = (("cpu-thermal", "45500"), ("gpu-thermal", "44000"), ("cv0-thermal", "-256000"),
              ("cv1-thermal", "-256000"), ("cv2-thermal", "-256000"), ("soc0-thermal", "43000"),
              ("soc1-thermal", "42500"), ("soc2-thermal", "43500"), ("tj-thermal", "46000"),
              ("tboard-thermal", "37500"), ("tdiode-thermal", "39750"))


def agx_orin_jp6(tree: Tree, nvmap: bool = True) -> Tree:
    tree.model("NVIDIA Jetson AGX Orin Developer Kit",
               "nvidia,p3737-0000+p3701-0005 nvidia,tegra234")
    tree.write("proc/meminfo", meminfo(64335836, 45000000, 2048000 if nvmap else None))
    tree.write("sys/devices/platform/bus@0/17000000.gpu/load", "523\n")
    tree.devfreq("platform/bus@0/17000000.gpu", "17000000.gpu", 918000000, of_name="gpu")
    tree.hwmon("1-0040", "hwmon3", {1: ("VDD_GPU_SOC", 19200, 2500),
                                    2: ("VDD_CPU_CV", 19200, 500),
                                    3: ("VIN_SYS_5V0", 5000, 1000),
                                    7: ("sum of shunt voltages", 40, 3000)})
    tree.hwmon("1-0041", "hwmon4", {1: ("NC", 0, 0), 2: ("VDDQ_VDD2_1V8AO", 1800, 250)})
    tree.zones(*ORIN_ZONES)
    return tree


def agx_orin_jp5(tree: Tree) -> Tree:
    tree.model("NVIDIA Jetson AGX Orin Developer Kit",
               "nvidia,p3737-0000+p3701-0000 nvidia,tegra234")
    tree.write("proc/meminfo", meminfo(32000000, 20000000, 2048000))
    tree.write("sys/devices/platform/17000000.ga10b/load", "523\n")
    tree.devfreq("platform/17000000.ga10b", "17000000.ga10b", 918000000, of_name="ga10b")
    tree.hwmon("1-0040", "hwmon3", {1: ("VDD_GPU_SOC", 19200, 2500),
                                    2: ("VDD_CPU_CV", 19200, 500),
                                    3: ("VIN_SYS_5V0", 5000, 1000)})
    tree.write("sys/kernel/actmon_avg_activity/mc_all", "799750\n")
    tree.zones(*ORIN_ZONES[:2], ORIN_ZONES[8])
    return tree


def orin_nano_8gb(tree: Tree) -> Tree:
    tree.model("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super",
               "nvidia,p3768-0000+p3767-0005 nvidia,tegra234")
    tree.write("proc/meminfo", meminfo(7620 * 1024, 1500000, 1048576))
    tree.write("sys/devices/platform/bus@0/17000000.gpu/load", "630\n")
    tree.devfreq("platform/bus@0/17000000.gpu", "17000000.gpu", 621000000, of_name="gpu")
    tree.hwmon("1-0040", "hwmon1", {1: ("VDD_IN", 5000, 2496), 2: ("VDD_CPU_GPU_CV", 5000, 933),
                                    3: ("VDD_SOC", 5000, 563),
                                    7: ("sum of shunt voltages", 40, 3000)})
    tree.zones(*ORIN_ZONES[:9])
    return tree


NANO_ZONES = (("AO-therm", "39500"), ("CPU-therm", "36500"), ("GPU-therm", "36000"),
              ("PLL-therm", "34000"), ("PMIC-Die", "100000"), ("thermal-fan-est", "36250"))


def nano(tree: Tree) -> Tree:
    tree.model("NVIDIA Jetson Nano Developer Kit", "nvidia,p3449-0000-b00+p3448-0000-b00 "
               "nvidia,jetson-nano nvidia,tegra210")
    tree.write("proc/meminfo", meminfo(4059504, 3000000, 524288))
    tree.write("sys/devices/gpu.0/load", "1000\n")
    tree.devfreq("gpu.0", "57000000.gpu", 921600000, of_name="gpu")
    tree.iio("6-0040", {0: ("POM_5V_IN", 3200), 1: ("POM_5V_GPU", 900), 2: ("POM_5V_CPU", 1100)})
    tree.write("sys/kernel/actmon_avg_activity/mc_all", "400000\n")
    tree.zones(*NANO_ZONES)
    return tree


def tx2_nx(tree: Tree) -> Tree:
    tree.model("lanai-3636", "nvidia,p3509-0000+p3636-0001 nvidia,tegra186")
    tree.write("proc/meminfo", meminfo(3956256, 2000000, 262144))
    tree.write("sys/devices/gpu.0/load", "0\n")
    tree.devfreq("gpu.0", "17000000.gp10b", 114750000, of_name="gp10b")
    tree.write("sys/kernel/actmon_avg_activity/mc_all", "400000\n")
    tree.zones(("BCPU-therm", "37500"), ("MCPU-therm", "37500"), ("GPU-therm", "35000"),
               ("PLL-therm", "37500"), ("Tboard_tegra", "32000"), ("Tdiode_tegra", "34250"),
               ("PMIC-Die", "100000"), ("thermal-fan-est", "36500"))
    return tree


def agx_xavier_jp4(tree: Tree) -> Tree:
    tree.model("Jetson-AGX")
    tree.write("proc/meminfo", meminfo(32692828, 30000000, 1024000))
    tree.files("sys/devices/17000000.gv11b", {"load": "250", "of_node/name": "gv11b"})
    tree.files("sys/devices/17000000.gv11b/devfreq/17000000.gv11b", {"cur_freq": "1377000000"})
    tree.link("sys/devices/17000000.gv11b/devfreq/17000000.gv11b/device", "../..")
    tree.link("sys/class/devfreq/17000000.gv11b",
              "../../devices/17000000.gv11b/devfreq/17000000.gv11b")
    tree.iio("1-0040", {0: ("GPU", 4500), 1: ("CPU", 1200), 2: ("SOC", 1800)})
    tree.zones(("GPU-therm", "41500"), ("PMIC-Die", "100000"))
    return tree


def thor(tree: Tree) -> Tree:
    tree.model("NVIDIA Jetson AGX Thor Developer Kit",
               "nvidia,p4071-0000+p3834-0008 nvidia,p3834-0008 nvidia,tegra264")
    tree.write("proc/meminfo", meminfo(128791552, 120000000))
    for node, hz in (("gpu-gpc-0", "675000000"), ("gpu-nvd-0", "1100000000")):
        tree.files(f"sys/class/devfreq/{node}", {"cur_freq": hz, "min_freq": "0",
                                                 "max_freq": "1575000000",
                                                 "governor": "nvhost_podgov"})
    tree.files("sys/class/devfreq/bwmgr", {"name": "bwmgr", "cur_freq": "665000000",
                                           "min_freq": "665000000", "max_freq": "4266000000"})
    tree.hwmon("1-0040", "hwmon1", {1: ("VDD_GPU", 19000, 0), 2: ("VDD_CPU_SOC_MSS", 19000, 219),
                                    3: ("VIN_SYS_5V0", 5000, 825)})
    ina238 = "sys/bus/i2c/devices/2-0044"
    tree.write(f"{ina238}/name", "ina238\n")
    tree.files(f"{ina238}/hwmon/hwmon5", {"name": "ina238", "in0_input": "2", "in1_input": "19500",
                                          "curr1_input": "1500", "power1_input": "29250000",
                                          "temp1_input": "35000"})
    return tree
