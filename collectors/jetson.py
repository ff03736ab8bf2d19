"""NVIDIA Jetson (Tegra) boards read straight from sysfs, procfs and, with root, debugfs.

No subprocess, no root for what is world-readable. Roots (`proc_root`, `sys_root`, `debugfs_root`,
the last defaulting to `<sys_root>/kernel/debug`) are parameters so tests use fake trees.

Sources and units:
  GPU load      <gpu device>/load, per-mille (0-1000) -> jetson.gpu.util_percent. The device is
                found through /sys/class/devfreq/*/device/of_node/name (ga10b Orin, gv11b Xavier,
                gp10b TX2, gm20b / "gpu" Nano and TX1), else a fixed list: /sys/devices/gpu.0,
                platform/gpu.0, [platform/]17000000.ga10b, platform/bus@0/17000000.gpu,
                [platform/[host1x/]]17000000.gv11b, 17000000.gp10b, 57000000.gpu.
  GPU clock     /sys/class/devfreq/<gpu>/cur_freq, Hz -> jetson.gpu.freq_mhz.
  Memory        /proc/meminfo (kB -> bytes): MemTotal, MemAvailable, used = total - available;
                NvMapMemUsed (memory mapped for the GPU through nvmap, where the kernel reports
                it) -> jetson.ram.gpu_shared_bytes; used minus that -> jetson.ram.cpu_used_bytes.
  Power rails   INA3221 monitors under /sys/bus/i2c/{drivers/ina3221*,devices}/*:
                JetPack 5+ hwmon: hwmon/hwmon*/in<N>_label, in<N>_input (mV), curr<N>_input (mA);
                JetPack 4 IIO: iio:device*/rail_name_<N>, in_power<N>_input (mW).
                "NC" channels and "sum of shunt voltages" are skipped. -> jetson.power.<rail>.watts
  Temperatures  /sys/class/thermal/thermal_zone*/{type,temp}, milli-C -> jetson.temp.<zone>.celsius;
                a zone reading -256000 (sensor off) or out of range at open is left out.
  EMC           clock: debugfs bpmp/debug/clk/emc/rate (Xavier, Orin) or clk/emc/clk_rate
                (Nano, TX1, TX2), Hz; activity: debugfs cactmon/mc_all or
                /sys/kernel/actmon_avg_activity/mc_all, average active kHz. util_percent =
                100 * activity_kHz / clock_kHz. debugfs needs root: without it these columns are
                NaN and probe() says why. jetson.emc.bytes_per_second is the estimate of
                collectors.jetson_models.emc_bytes_per_second where that module knows the board.

Names: rail and zone names are lower-cased with runs of other characters turned into "_"
(VDD_GPU_SOC -> vdd_gpu_soc, CPU-therm -> cpu_therm). These `jetson.*` columns are distinct from the
tegrastats collector's contract columns (`tegra.*`); the TUI prefers whichever is present.

Known gaps: the EMC utilisation formula follows what NVIDIA's forum and other tools use and is
not yet checked against tegrastats on a board; Jetson Thor (nvidia.ko driver) has no nvgpu load
node: use the nvml collector there; per-process GPU memory needs root (nvmap debugfs): the jtop
collector gets it from the jtop service.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from memmap_tui import roles as R
from memmap_tui.collector import Availability, Collector, CollectorOptions
from memmap_tui.model import DEVICE, NAN, MetricSpec, gauge

log = logging.getLogger("memmap_tui.jetson")

GPU_OF_NAMES = ("ga10b", "gv11b", "gp10b", "gm20b", "gpu")
GPU_DEVFREQ_SUFFIXES = (".ga10b", ".gv11b", ".gp10b", ".gm20b", ".gpu", "gpu.0")
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
EMC_RATE_PATHS = ("bpmp/debug/clk/emc/rate", "clk/emc/clk_rate")  # under debugfs, Hz
EMC_ACTIVITY_PATHS = ("cactmon/mc_all",)  # under debugfs, kHz
EMC_ACTIVITY_SYSFS = "kernel/actmon_avg_activity/mc_all"  # JetPack 4, world-readable
INVALID_MILLI_C = -256000
TEMP_RANGE_C = (-60.0, 200.0)


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_number(path: Optional[str]) -> float:
    """The first number in a sysfs file ("32760 ma" -> 32760.0); NaN if absent or unreadable."""
    text = _read(path) if path else None
    try:
        return float(text.split()[0]) if text else NAN
    except (ValueError, IndexError):
        return NAN


def parse_meminfo(text: str) -> Dict[str, float]:
    """/proc/meminfo -> {key: bytes} (values given in kB are multiplied by 1024)."""
    out: Dict[str, float] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        try:
            value = float(parts[0])
        except (ValueError, IndexError):
            continue
        out[key.strip()] = value * 1024 if parts[1:2] == ["kB"] else value
    return out


def slug(name: str) -> str:
    """A column-safe name: lower case, runs of anything but [a-z0-9] -> "_"."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "unnamed"


def _unique(names: List[str], name: str) -> str:
    candidate, n = name, 2
    while candidate in names:
        candidate, n = f"{name}_{n}", n + 1
    names.append(candidate)
    return candidate


@dataclass(frozen=True)
class Rail:
    """One INA3221 channel: either a power file (mW) or a voltage (mV) and current (mA) pair."""

    name: str
    power_path: Optional[str] = None
    volt_path: Optional[str] = None
    curr_path: Optional[str] = None

    def watts(self) -> float:
        if self.power_path:
            return read_number(self.power_path) / 1000.0
        return read_number(self.volt_path) * read_number(self.curr_path) / 1e6


@dataclass
class Layout:
    """Where each quantity lives on this board (found once, at open or probe)."""

    model: str = ""
    gpu_load: Optional[str] = None
    gpu_freq: Optional[str] = None
    rails: List[Rail] = field(default_factory=list)
    zones: List[Tuple[str, str]] = field(default_factory=list)  # (name, temp path)
    emc_rate: Optional[str] = None
    emc_activity: Optional[str] = None
    notes: List[str] = field(default_factory=list)


def read_model(proc_root: str, sys_root: str) -> Tuple[str, str]:
    """(model, compatible) from the device tree, "" where absent; NULs turned into spaces."""
    out = []
    for name in ("model", "compatible"):
        text = _read(os.path.join(proc_root, "device-tree", name))
        if text is None:
            text = _read(os.path.join(sys_root, "firmware/devicetree/base", name))
        out.append((text or "").replace("\x00", " ").strip())
    return out[0], out[1]


def find_gpu_devfreq(sys_root: str) -> Optional[str]:
    """The devfreq directory of the integrated GPU, found by its device-tree node or its name."""
    for entry in sorted(glob.glob(os.path.join(sys_root, "class/devfreq/*"))):
        of_name = (_read(os.path.join(entry, "device/of_node/name")) or "").strip("\x00\n ")
        base = os.path.basename(entry)
        if of_name in GPU_OF_NAMES or base.endswith(GPU_DEVFREQ_SUFFIXES):
            return entry
    return None


def find_gpu_load(sys_root: str, devfreq: Optional[str]) -> Optional[str]:
    candidates = [os.path.join(devfreq, "device/load")] if devfreq else []
    candidates += [os.path.join(sys_root, p) for p in GPU_LOAD_PATHS]
    return next((p for p in candidates if os.path.isfile(p)), None)


def _ina3221_dirs(sys_root: str, child: str) -> List[str]:
    """The monitor directories (`child` of each INA3221 chip), found through the driver's
    directory or through the i2c device list (checking the chip's name), without duplicates."""
    found: Dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(sys_root, "bus/i2c/drivers/ina3221*/*", child))):
        found.setdefault(os.path.realpath(path), path)
    for path in sorted(glob.glob(os.path.join(sys_root, "bus/i2c/devices/*", child))):
        device = path
        for _ in range(child.count("/") + 1):
            device = os.path.dirname(device)
        names = (_read(os.path.join(device, "name")) or "") + (_read(os.path.join(path, "name"))
                                                               or "")
        if "ina3221" in names:
            found.setdefault(os.path.realpath(path), path)
    return list(found.values())


def _skip_label(label: str) -> bool:
    return not label or label.upper().startswith("NC") or "sum of shunt" in label.lower()


def find_rails(sys_root: str) -> List[Rail]:
    """INA3221 channels in both layouts (hwmon: JetPack 5+, IIO: JetPack 4)."""
    rails: List[Rail] = []
    for hwmon in _ina3221_dirs(sys_root, "hwmon/hwmon*"):
        for label_path in sorted(glob.glob(os.path.join(hwmon, "in*_label"))):
            n = os.path.basename(label_path)[2:-6]
            label = (_read(label_path) or "").strip()
            curr = os.path.join(hwmon, f"curr{n}_input")
            if not _skip_label(label) and os.path.isfile(curr):
                rails.append(Rail(label, volt_path=os.path.join(hwmon, f"in{n}_input"),
                                  curr_path=curr))
    for iio in _ina3221_dirs(sys_root, "iio:device*"):
        for name_path in sorted(glob.glob(os.path.join(iio, "rail_name_*"))):
            n = name_path.rsplit("_", 1)[1]
            label = (_read(name_path) or "").strip()
            power = os.path.join(iio, f"in_power{n}_input")
            if not _skip_label(label) and os.path.isfile(power):
                rails.append(Rail(label, power_path=power))
    return rails


def _valid_celsius(milli_c: float) -> bool:
    return milli_c != INVALID_MILLI_C and TEMP_RANGE_C[0] < milli_c / 1000 < TEMP_RANGE_C[1]


def find_zones(sys_root: str) -> List[Tuple[str, str]]:
    """(type, temp path) of each thermal zone that reads a plausible temperature now."""
    zones = []
    paths = glob.glob(os.path.join(sys_root, "class/thermal/thermal_zone*"))
    for zone in sorted(paths, key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0)):
        name = (_read(os.path.join(zone, "type")) or "").strip()
        temp = os.path.join(zone, "temp")
        if name and _valid_celsius(read_number(temp)):
            zones.append((name, temp))
    return zones


def find_emc(sys_root: str, debugfs_root: str) -> Tuple[Optional[str], Optional[str], str]:
    """(clock path, activity path, note): the first readable of each; a note when one is missing."""
    rates = [os.path.join(debugfs_root, p) for p in EMC_RATE_PATHS]
    activities = [os.path.join(debugfs_root, p) for p in EMC_ACTIVITY_PATHS]
    activities.append(os.path.join(sys_root, EMC_ACTIVITY_SYSFS))
    rate = next((p for p in rates if not math.isnan(read_number(p))), None)
    activity = next((p for p in activities if not math.isnan(read_number(p))), None)
    if rate and activity:
        return rate, activity, ""
    if not os.access(debugfs_root, os.R_OK | os.X_OK):
        return rate, activity, (f"EMC columns empty: {debugfs_root} is not readable "
                                "(debugfs needs root)")
    return rate, activity, "EMC columns empty: no EMC clock/activity node found in debugfs"


def discover(proc_root: str, sys_root: str, debugfs_root: str) -> Layout:
    model, _ = read_model(proc_root, sys_root)
    devfreq = find_gpu_devfreq(sys_root)
    layout = Layout(model=model, gpu_load=find_gpu_load(sys_root, devfreq),
                    gpu_freq=os.path.join(devfreq, "cur_freq") if devfreq else None,
                    rails=find_rails(sys_root), zones=find_zones(sys_root))
    layout.emc_rate, layout.emc_activity, note = find_emc(sys_root, debugfs_root)
    layout.notes = [n for n in (note,) if n]
    if layout.gpu_load is None:
        layout.notes.append("no GPU load node found: jetson.gpu.util_percent empty")
    return layout


def _emc_estimator() -> Optional[Callable[[str, float, float], Optional[float]]]:
    """collectors.jetson_models.emc_bytes_per_second when that module is there."""
    try:
        from memmap_tui.collectors.jetson_models import emc_bytes_per_second
    except Exception as exc:  # not written yet, or broken: the estimate stays NaN
        log.info("no EMC bandwidth table (%s): jetson.emc.bytes_per_second stays empty", exc)
        return None
    return emc_bytes_per_second  # type: ignore[no-any-return]


Group = Tuple[List[MetricSpec], Callable[[], List[float]]]


class JetsonCollector(Collector):
    """GPU load and clock, unified memory, power rails, temperatures and EMC from sysfs."""

    name = "jetson"

    def __init__(self, proc_root: str = "/proc", sys_root: str = "/sys",
                 debugfs_root: Optional[str] = None) -> None:
        self.proc_root = proc_root
        self.sys_root = sys_root
        self.debugfs_root = debugfs_root or os.path.join(sys_root, "kernel/debug")
        self.layout = Layout()
        self._groups: List[Group] = []

    @classmethod
    def from_options(cls, options: CollectorOptions) -> JetsonCollector:
        return cls(options.proc_root, options.sys_root, getattr(options, "debugfs_root", None))

    def probe(self) -> Availability:
        try:
            model, compatible = read_model(self.proc_root, self.sys_root)
            devfreq = find_gpu_devfreq(self.sys_root)
            load = find_gpu_load(self.sys_root, devfreq)
            if not load and "NVIDIA Jetson" not in model and "tegra" not in compatible:
                return Availability(False, "not a Jetson: no Tegra GPU load node or device tree")
            _, _, note = find_emc(self.sys_root, self.debugfs_root)
        except Exception as exc:  # probe never raises
            return Availability(False, f"Jetson probe failed: {exc}")
        return Availability(True, "; ".join(filter(None, [model or "Tegra board", note])))

    def open(self) -> None:
        self.layout = layout = discover(self.proc_root, self.sys_root, self.debugfs_root)
        for note in layout.notes:
            log.info("jetson: %s", note)
        self._groups = [self._gpu_group(), self._ram_group(), self._rail_group(),
                        self._zone_group(), self._emc_group()]

    def metrics(self) -> List[MetricSpec]:
        return [spec for specs, _ in self._groups for spec in specs]

    def collect(self) -> Sequence[float]:
        values: List[float] = []
        for specs, read in self._groups:
            part = read()
            values.extend(part if len(part) == len(specs) else [NAN] * len(specs))
        return values

    # -- metric groups: specs and the reader that fills them ---------------------------------

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return [*_gpu_specs(), *_ram_specs(), *_emc_specs(), _rail_spec(DEVICE, DEVICE),
                _zone_spec(DEVICE, DEVICE)]

    def _gpu_group(self) -> Group:
        specs = _gpu_specs()
        load, freq = self.layout.gpu_load, self.layout.gpu_freq
        return specs, lambda: [read_number(load) / 10.0, read_number(freq) / 1e6]

    def _ram_group(self) -> Group:
        specs = _ram_specs()
        path = os.path.join(self.proc_root, "meminfo")

        def read_ram() -> List[float]:
            info = parse_meminfo(_read(path) or "")
            total, available = info.get("MemTotal", NAN), info.get("MemAvailable", NAN)
            shared = info.get("NvMapMemUsed", NAN)
            used = total - available
            return [total, used, available, shared, max(used - shared, 0.0) if shared >= 0 else NAN]

        return specs, read_ram

    def _rail_group(self) -> Group:
        names: List[str] = []
        rails = self.layout.rails
        specs = [_rail_spec(rail.name, _unique(names, slug(rail.name))) for rail in rails]
        return specs, lambda: [rail.watts() for rail in rails]

    def _zone_group(self) -> Group:
        names: List[str] = []
        zones = self.layout.zones
        specs = [_zone_spec(name, _unique(names, slug(name))) for name, _ in zones]

        def read_zones() -> List[float]:
            milli = [read_number(path) for _, path in zones]
            return [m / 1000.0 if _valid_celsius(m) else NAN for m in milli]

        return specs, read_zones

    def _emc_group(self) -> Group:
        specs = _emc_specs()
        rate, activity = self.layout.emc_rate, self.layout.emc_activity
        estimate = _emc_estimator() if rate and activity else None
        model = self.layout.model

        def read_emc() -> List[float]:
            hz, active_khz = read_number(rate), read_number(activity)
            util = 100.0 * active_khz / (hz / 1000.0) if hz > 0 else NAN
            return [hz / 1e6, util, _estimate(estimate, model, util, hz / 1e6)]

        return specs, read_emc


def _estimate(fn: Optional[Callable[..., Optional[float]]], model: str, util: float,
              freq_mhz: float) -> float:
    if fn is None or math.isnan(util) or math.isnan(freq_mhz):
        return NAN
    try:
        value = fn(model, util, freq_mhz)
    except Exception as exc:  # the table's problem must not break the tick
        log.debug("emc_bytes_per_second(%r): %s", model, exc)
        return NAN
    return NAN if value is None else float(value)


# -- what each metric is for (memmap_tui.roles) --------------------------------------------------
_RAM_TOTAL = "jetson.ram.total_bytes"


def _gpu_specs() -> List[MetricSpec]:
    return [gauge("jetson.gpu", "util_percent", "percent", "Integrated GPU load",
                  label="GPU util", pane=R.GPU, roles=(R.GPU_UTIL, R.DEVICE), rank=10,
                  notes=(("jetson.gpu.freq_mhz", "{}"), ("jetson.temp.gpu.celsius", "{}"))),
            gauge("jetson.gpu", "freq_mhz", "MHz", "Integrated GPU clock", label="GPU clock")]


def _ram_specs() -> List[MetricSpec]:
    return [
        gauge("jetson.ram", "total_bytes", "bytes", "Unified memory in total",
              label="unified RAM", roles=(R.RAM_TOTAL,), instead_of=R.RAM_TOTAL),
        gauge("jetson.ram", "used_bytes", "bytes", "Unified memory in use (total - available)",
              label="unified", pane=R.MEMORY, total=_RAM_TOTAL, key="unified_used",
              roles=(R.RAM_USED, R.MEMORY_PEAK, R.HOST), instead_of=R.RAM_USED, rank=5),
        gauge("jetson.ram", "available_bytes", "bytes", "Unified memory available",
              label="unified available"),
        gauge("jetson.ram", "gpu_shared_bytes", "bytes", "Memory mapped for the GPU (nvmap)",
              label="GPU shared", pane=R.MEMORY, total=_RAM_TOTAL, rank=7),
        gauge("jetson.ram", "cpu_used_bytes", "bytes", "Memory in use less the GPU's share",
              label="CPU part", pane=R.MEMORY, total=_RAM_TOTAL, rank=6),
    ]


def _emc_specs() -> List[MetricSpec]:
    return [
        gauge("jetson.emc", "freq_mhz", "MHz", "External memory controller clock (root)",
              label="EMC clock"),
        gauge("jetson.emc", "util_percent", "percent", "EMC activity over its clock (root)",
              label="EMC util", pane=R.GPU, notes=(("jetson.emc.freq_mhz", "{}"),), rank=15),
        gauge("jetson.emc", "bytes_per_second", "bytes/s", "EMC bandwidth estimate (root)",
              label="EMC", pane=R.THROUGHPUT, roles=(R.THROUGHPUT_FLOW,), key="emc",
              notes=(("jetson.emc.util_percent", "{} busy"),), rank=30),
    ]


def _rail_spec(name: str, device: str) -> MetricSpec:
    return gauge("jetson.power", "watts", "watts", f"Power on rail {name} (INA3221)",
                 device=device, label_key="rail", label=device, pane=R.GPU, rank=20)


def _zone_spec(name: str, device: str) -> MetricSpec:
    return gauge("jetson.temp", "celsius", "celsius", f"Thermal zone {name}", device=device,
                 label_key="zone", label=f"{device} temp")
