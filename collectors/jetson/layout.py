"""Where a Jetson's quantities live in sysfs and debugfs: found once, by `discover()`.

Roots are parameters (`sys_root`, `debugfs_root`) so tests point them at trees laid out as the
boards print them. Paths, per board family (the sources are cited in tests/test_jetson_sysfs.py):
  GPU load      <gpu device>/load, per-mille. The device is the devfreq node's `device`, found
                through /sys/class/devfreq/*/device/of_node/name (ga10b Orin, gv11b Xavier,
                gp10b TX2, gm20b / "gpu" Nano and TX1) or the node's name, else a fixed list
                (gpu.0, 17000000.ga10b, bus@0/17000000.gpu, 17000000.gv11b, 57000000.gpu ...).
                Thor's GPU is the devfreq node `gpu-gpc-0` of a PCI device with no load file:
                its clock is read, its load is not (the nvml collector reads it).
  GPU clock     <devfreq node>/cur_freq, Hz.
  Power         INA3221 monitors under /sys/bus/i2c/{drivers/ina3221*,devices}/*: JetPack 5+
                hwmon in<N>_label, in<N>_input (mV), curr<N>_input (mA); JetPack 4 IIO
                rail_name_<N>, in_power<N>_input (mW); "NC" channels and "sum of shunt
                voltages" are skipped. Thor's total input is an INA238 (hwmon, no label):
                power1_input (uW), else in1_input (mV) x curr1_input (mA); named VIN as
                jetson-stats names it.
  Temperatures  /sys/class/thermal/thermal_zone*/{type,temp}, milli-C. Every zone is kept, also
                one that reads -256 C or fails (EAGAIN) now: a powered-down DLA/PVA zone reads
                again when its engine wakes. PMIC zones read a constant (L4T 32: PMIC-Die at
                100000) and are left out.
  EMC           clock: debugfs bpmp/debug/clk/emc/rate (Xavier, TX2, Orin), clk/emc/clk_rate or
                clk/override.emc/clk_rate (Nano, TX1), or /sys/class/devfreq/bwmgr/cur_freq
                (Thor), Hz. Activity (average active kHz): /sys/kernel/actmon_avg_activity/mc_all
                (L4T 32/35, world-readable), debugfs cactmon/mc_all (JetPack 6, from the
                tegra_cactmon_mc_all module), debugfs bpmp/debug/actmon/mc_all_avg_activity
                (Thor). debugfs is readable only by root: `emc_gap` says what is missing and why.
"""

from __future__ import annotations

import glob
import math
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple

from .columns import is_fake_sensor

NAN = math.nan
GPU_OF_NAMES = ("ga10b", "gv11b", "gp10b", "gm20b", "gpu")
GPU_DEVFREQ_SUFFIXES = (".ga10b", ".gv11b", ".gp10b", ".gm20b", ".gpu", "gpu.0")
THOR_GPU_DEVFREQ = "gpu-gpc-0"
GPU_LOAD_PATHS = (
    "devices/gpu.0/load",
    "devices/platform/gpu.0/load",
    "devices/17000000.ga10b/load",
    "devices/platform/17000000.ga10b/load",
    "devices/platform/bus@0/17000000.gpu/load",
    "devices/17000000.gv11b/load",
    "devices/platform/17000000.gv11b/load",
    "devices/platform/host1x/17000000.gv11b/load",
    "devices/17000000.gp10b/load",
    "devices/platform/17000000.gp10b/load",
    "devices/57000000.gpu/load",
    "devices/platform/57000000.gpu/load",
)
EMC_RATE_DEBUGFS = ("bpmp/debug/clk/emc/rate", "clk/emc/clk_rate", "clk/override.emc/clk_rate")
EMC_RATE_SYSFS = "class/devfreq/bwmgr/cur_freq"  # Thor
EMC_ACTIVITY_SYSFS = "kernel/actmon_avg_activity/mc_all"  # L4T 32 and 35
CACTMON = "cactmon/mc_all"  # JetPack 6 (tegra_cactmon_mc_all module)
THOR_ACTMON = "bpmp/debug/actmon/mc_all_avg_activity"
INVALID_MILLI_C = -256000
TEMP_RANGE_C = (-60.0, 200.0)


def read_text(path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_number(path: Optional[str]) -> float:
    """The first number in a sysfs file ("32760 ma" -> 32760.0); NaN if absent or unreadable."""
    text = read_text(path)
    try:
        return float(text.split()[0]) if text else NAN
    except (ValueError, IndexError):
        return NAN


class Rail(NamedTuple):
    """One power monitor channel: a power file (`power_scale` to watts), or volts and amps."""

    name: str
    power_path: Optional[str] = None
    power_scale: float = 1e-3  # INA3221 IIO in mW; INA238 hwmon in uW (1e-6)
    volt_path: Optional[str] = None
    curr_path: Optional[str] = None

    def watts(self) -> float:
        if self.power_path:
            return read_number(self.power_path) * self.power_scale
        return read_number(self.volt_path) * read_number(self.curr_path) / 1e6


@dataclass
class Layout:
    """Where each quantity lives on this board."""

    gpu_devfreq: Optional[str] = None
    gpu_load: Optional[str] = None
    rails: List[Rail] = field(default_factory=list)
    zones: List[Tuple[str, str]] = field(default_factory=list)  # (zone type, temp path)
    emc_rate: Optional[str] = None
    emc_activity: Optional[str] = None
    emc_why: str = ""  # why the EMC clock or activity cannot be read, "" when both can

    @property
    def gpu_freq(self) -> Optional[str]:
        return os.path.join(self.gpu_devfreq, "cur_freq") if self.gpu_devfreq else None

    @property
    def thor_gpu(self) -> bool:
        return os.path.basename(self.gpu_devfreq or "") == THOR_GPU_DEVFREQ


def find_gpu_devfreq(sys_root: str) -> Optional[str]:
    """The devfreq directory of the integrated GPU, by its device-tree node or its name."""
    for entry in sorted(glob.glob(os.path.join(sys_root, "class/devfreq/*"))):
        of_name = (read_text(os.path.join(entry, "device/of_node/name")) or "").strip("\x00\n ")
        base = os.path.basename(entry)
        if of_name in GPU_OF_NAMES or base.endswith(GPU_DEVFREQ_SUFFIXES) \
                or base == THOR_GPU_DEVFREQ:
            return entry
    return None


def find_gpu_load(sys_root: str, devfreq: Optional[str]) -> Optional[str]:
    candidates = [os.path.join(devfreq, "device/load")] if devfreq else []
    candidates += [os.path.join(sys_root, p) for p in GPU_LOAD_PATHS]
    return next((p for p in candidates if os.path.isfile(p)), None)


def _monitor_dirs(sys_root: str, chip: str, child: str) -> List[str]:
    """The `child` directories of each `chip` (ina3221, ina238) monitor, found through its
    driver's directory or through the i2c device list (checking the name), once each."""
    found: Dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(sys_root, f"bus/i2c/drivers/{chip}*/*", child))):
        found.setdefault(os.path.realpath(path), path)
    for path in sorted(glob.glob(os.path.join(sys_root, "bus/i2c/devices/*", child))):
        device = path
        for _ in range(child.count("/") + 1):
            device = os.path.dirname(device)
        names = (read_text(os.path.join(device, "name")) or "") + (
            read_text(os.path.join(path, "name")) or "")
        if chip in names:
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def _skip_label(label: str) -> bool:
    return not label or label.upper().startswith("NC") or "sum of shunt" in label.lower()


def find_rails(sys_root: str) -> List[Rail]:
    """INA3221 channels (hwmon: JetPack 5+, IIO: JetPack 4), then Thor's INA238 input."""
    rails: List[Rail] = []
    for hwmon in _monitor_dirs(sys_root, "ina3221", "hwmon/hwmon*"):
        for label_path in sorted(glob.glob(os.path.join(hwmon, "in*_label"))):
            n = os.path.basename(label_path)[2:-6]
            label = (read_text(label_path) or "").strip()
            curr = os.path.join(hwmon, f"curr{n}_input")
            if not _skip_label(label) and os.path.isfile(curr):
                rails.append(Rail(label, volt_path=os.path.join(hwmon, f"in{n}_input"),
                                  curr_path=curr))
    for iio in _monitor_dirs(sys_root, "ina3221", "iio:device*"):
        for name_path in sorted(glob.glob(os.path.join(iio, "rail_name_*"))):
            n = name_path.rsplit("_", 1)[1]
            label = (read_text(name_path) or "").strip()
            power = os.path.join(iio, f"in_power{n}_input")
            if not _skip_label(label) and os.path.isfile(power):
                rails.append(Rail(label, power_path=power))
    for hwmon in _monitor_dirs(sys_root, "ina238", "hwmon/hwmon*"):
        power = os.path.join(hwmon, "power1_input")
        if os.path.isfile(power):
            rails.append(Rail("VIN", power_path=power, power_scale=1e-6))
        elif os.path.isfile(os.path.join(hwmon, "curr1_input")):
            rails.append(Rail("VIN", volt_path=os.path.join(hwmon, "in1_input"),
                              curr_path=os.path.join(hwmon, "curr1_input")))
    return rails


def valid_celsius(milli_c: float) -> bool:
    return milli_c != INVALID_MILLI_C and TEMP_RANGE_C[0] < milli_c / 1000 < TEMP_RANGE_C[1]


def find_zones(sys_root: str) -> List[Tuple[str, str]]:
    """(type, temp path) of every thermal zone but PMIC ones, in zone order."""
    zones = []
    paths = glob.glob(os.path.join(sys_root, "class/thermal/thermal_zone*"))
    for zone in sorted(paths, key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0)):
        kind = (read_text(os.path.join(zone, "type")) or "").strip()
        temp = os.path.join(zone, "temp")
        if kind and os.path.exists(temp) and not is_fake_sensor(kind):
            zones.append((kind, temp))
    return zones


def _readable(path: str) -> bool:
    return not math.isnan(read_number(path))


def find_emc(sys_root: str, debugfs_root: str) -> Tuple[Optional[str], Optional[str], str]:
    """(clock path, activity path, why): the first readable of each, and when one is missing,
    why, in words (`emc_gap`)."""
    rates = [os.path.join(debugfs_root, p) for p in EMC_RATE_DEBUGFS]
    rates.append(os.path.join(sys_root, EMC_RATE_SYSFS))
    activities = [os.path.join(debugfs_root, p) for p in (CACTMON, THOR_ACTMON)]
    activities.append(os.path.join(sys_root, EMC_ACTIVITY_SYSFS))
    rate = next((p for p in rates if _readable(p)), None)
    activity = next((p for p in activities if _readable(p)), None)
    return rate, activity, emc_gap(sys_root, debugfs_root, rate, activity)


def emc_gap(sys_root: str, debugfs_root: str, rate: Optional[str],
            activity: Optional[str]) -> str:
    """Why the EMC clock or activity is missing ("" when neither is)."""
    if rate and activity:
        return ""
    thor = os.path.exists(os.path.join(sys_root, EMC_RATE_SYSFS))
    if not os.access(debugfs_root, os.R_OK | os.X_OK):
        missing = []
        if not rate:
            missing.append(f"the EMC clock ({EMC_RATE_DEBUGFS[0]} or {EMC_RATE_DEBUGFS[1]})")
        if not activity:
            missing.append(f"the EMC activity ({THOR_ACTMON})" if thor else
                           f"the EMC activity ({CACTMON}, from the tegra_cactmon_mc_all "
                           "module, JetPack 6 and later)")
        return (f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} in debugfs "
                f"({debugfs_root}), readable only by root")
    if not activity:
        return ("no EMC activity counter in debugfs: load the tegra_cactmon_mc_all module "
                "(sudo modprobe tegra_cactmon_mc_all)")
    return f"no EMC clock found ({', '.join(EMC_RATE_DEBUGFS)} in debugfs, or {EMC_RATE_SYSFS})"


def discover(sys_root: str, debugfs_root: str) -> Layout:
    devfreq = find_gpu_devfreq(sys_root)
    layout = Layout(gpu_devfreq=devfreq, gpu_load=find_gpu_load(sys_root, devfreq),
                    rails=find_rails(sys_root), zones=find_zones(sys_root))
    layout.emc_rate, layout.emc_activity, layout.emc_why = find_emc(sys_root, debugfs_root)
    return layout
