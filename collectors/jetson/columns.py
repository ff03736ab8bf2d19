"""The Jetson's columns: one spec per quantity, whichever source reads it.

Every source (sysfs, tegrastats, jtop) builds its metric specs with these functions, so a
quantity has one name, unit, help and meaning (memmap_tui.roles) wherever it comes from, and
`JetsonCollector.catalog()` lists the very same specs as templates (device part `{device}`).

Columns (all gauges), `<device>` being a rail, sensor or engine name made column-safe by
`column_part` (`VDD_GPU_SOC` -> `vdd_gpu_soc`), or a CPU core's number:
  jetson.ram.{used,total,available,gpu_shared,cpu_used}_bytes   unified memory (CPU and GPU)
  jetson.swap.{used,total,cached}_bytes
  jetson.gpu.util_percent, jetson.gpu.freq_mhz, jetson.gpu.process_memory_bytes
  jetson.emc.util_percent, jetson.emc.freq_mhz, jetson.emc.bytes_per_second (an estimate)
  jetson.cpu.util_percent (mean of online cores), jetson.cpu<N>.util_percent, .freq_mhz
  jetson.power.<rail>.watts, jetson.temp.<sensor>.celsius
  jetson.engine.<engine>.util_percent, .freq_mhz, .online
Older recordings' names (`tegra.*` of the tegrastats collector, `jtop.*`, the sysfs collector's
`jetson.temp.<zone type>.celsius`) are mapped to these by `RENAMED`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Dict, List, Optional, Tuple

from memmap_tui import roles
from memmap_tui.model import DEVICE, MetricSpec, gauge

RAM_USED = "jetson.ram.used_bytes"
RAM_TOTAL = "jetson.ram.total_bytes"
SWAP_USED = "jetson.swap.used_bytes"
SWAP_TOTAL = "jetson.swap.total_bytes"
GPU_UTIL = "jetson.gpu.util_percent"
GPU_FREQ = "jetson.gpu.freq_mhz"
GPU_TEMP = "jetson.temp.gpu.celsius"
EMC_UTIL = "jetson.emc.util_percent"
EMC_FREQ = "jetson.emc.freq_mhz"
EMC_BYTES = "jetson.emc.bytes_per_second"


def column_part(name: str) -> str:
    """A rail, sensor or engine name as a column part: lower case, runs of anything but
    [a-z0-9] -> "_" (`VDD_GPU_SOC` -> `vdd_gpu_soc`, `CPU-therm` -> `cpu_therm`)."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "unnamed"


def sensor_name(zone_type: str) -> str:
    """A thermal zone's type as tegrastats and jetson-stats name the sensor: up to its first
    "-" (else its first "_"): `cpu-thermal` -> `cpu`, `Tboard_tegra` -> `Tboard`."""
    name = zone_type.strip()
    return name.split("-")[0] if "-" in name else name.split("_")[0]


def is_fake_sensor(name: str) -> bool:
    """PMIC-Die (tegrastats' `PMIC@100C`) reads a constant on L4T 32 boards (100 or 50 C):
    not a temperature. jetson-stats leaves every PMIC zone out too."""
    return "pmic" in name.lower()


def unique(taken: List[str], name: str) -> str:
    """`name`, or `name_2`, `name_3` ... when taken; records the result in `taken`."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.append(candidate)
    return candidate


# -- memory ---------------------------------------------------------------------------------

def ram_used() -> MetricSpec:
    return gauge("jetson.ram", "used_bytes", "bytes",
                 "Unified memory in use, shared by CPU and GPU (total - available)",
                 label="unified", pane=roles.MEMORY, total=RAM_TOTAL, key="unified_used",
                 roles=(roles.RAM_USED, roles.MEMORY_PEAK, roles.HOST), instead_of=roles.RAM_USED,
                 rank=5)


def ram_total() -> MetricSpec:
    return gauge("jetson.ram", "total_bytes", "bytes", "Unified memory in total",
                 label="unified RAM", roles=(roles.RAM_TOTAL,), instead_of=roles.RAM_TOTAL)


def ram_available() -> MetricSpec:
    return gauge("jetson.ram", "available_bytes", "bytes", "Unified memory available",
                 label="unified available")


def ram_cpu_used() -> MetricSpec:
    return gauge("jetson.ram", "cpu_used_bytes", "bytes", "Memory in use less the GPU's share",
                 label="CPU part", pane=roles.MEMORY, total=RAM_TOTAL, rank=6)


def ram_gpu_shared() -> MetricSpec:
    return gauge("jetson.ram", "gpu_shared_bytes", "bytes", "Memory mapped for the GPU (nvmap)",
                 label="GPU shared", pane=roles.MEMORY, total=RAM_TOTAL, rank=7)


def swap_used() -> MetricSpec:
    return gauge("jetson.swap", "used_bytes", "bytes", "Swap in use", label="swap used",
                 pane=roles.MEMORY, total=SWAP_TOTAL, roles=(roles.SWAP_USED,),
                 instead_of=roles.SWAP_USED, rank=8)


def swap_total() -> MetricSpec:
    return gauge("jetson.swap", "total_bytes", "bytes", "Swap size")


def swap_cached() -> MetricSpec:
    return gauge("jetson.swap", "cached_bytes", "bytes", "Swap also held in RAM")


# -- GPU and memory controller -------------------------------------------------------------

def gpu_util() -> MetricSpec:
    return gauge("jetson.gpu", "util_percent", "percent", "Integrated GPU busy (GR3D load)",
                 label="GPU util", pane=roles.GPU, roles=(roles.GPU_UTIL, roles.DEVICE),
                 notes=((GPU_FREQ, "{}"), (GPU_TEMP, "{}")), rank=10)


def gpu_freq() -> MetricSpec:
    return gauge("jetson.gpu", "freq_mhz", "MHz", "Integrated GPU clock (the highest GPC's)",
                 label="GPU clock")


def gpu_process_memory() -> MetricSpec:
    return gauge("jetson.gpu", "process_memory_bytes", "bytes",
                 "GPU memory of all processes, as the jtop service reads it from nvmap")


def emc_util() -> MetricSpec:
    return gauge("jetson.emc", "util_percent", "percent",
                 "External memory controller busy: activity over its clock",
                 label="EMC util", pane=roles.GPU, notes=((EMC_FREQ, "{}"),), rank=15)


def emc_freq() -> MetricSpec:
    return gauge("jetson.emc", "freq_mhz", "MHz", "External memory controller clock",
                 label="EMC clock")


def emc_bytes() -> MetricSpec:
    return gauge("jetson.emc", "bytes_per_second", "bytes/s",
                 "Estimated DRAM traffic: EMC util x clock x the module's bytes per clock",
                 label="EMC", pane=roles.THROUGHPUT, roles=(roles.THROUGHPUT_FLOW,), key="emc",
                 notes=((EMC_UTIL, "{} busy"),), rank=30)


# -- CPU ------------------------------------------------------------------------------------

def cpu_util() -> MetricSpec:
    return gauge("jetson.cpu", "util_percent", "percent", "CPU busy, mean of online cores",
                 label="CPU", pane=roles.CPU, roles=(roles.CPU_BUSY, roles.HOST),
                 instead_of=roles.CPU_BUSY)


def _core(quantity: str, unit: str, help: str, core: str) -> MetricSpec:
    spec = gauge("jetson", quantity, unit, help, device=f"cpu{core}", label_key="cpu")
    # One family per quantity, apart from the all-cores mean `jetson.cpu.util_percent`.
    return replace(spec, family=f"jetson.cpu.core_{quantity}", labels=(("cpu", core),))


def core_util(core: str) -> MetricSpec:
    return _core("util_percent", "percent", "CPU core busy", core)


def core_freq(core: str) -> MetricSpec:
    return _core("freq_mhz", "MHz", "CPU core clock", core)


# -- per rail, sensor, engine ---------------------------------------------------------------

def rail(device: str, printed: Optional[str] = None) -> MetricSpec:
    """A rail's power; shown under its column part (`vdd_gpu_soc`), live and in a replay."""
    return gauge("jetson.power", "watts", "watts", f"Power on rail {printed or device}",
                 device=device, label_key="rail", label=device, pane=roles.GPU, rank=20)


def temperature(device: str, printed: Optional[str] = None) -> MetricSpec:
    return gauge("jetson.temp", "celsius", "celsius", f"Temperature {printed or device}",
                 device=device, label_key="sensor", label=f"{device} temp")


def engine_util(device: str, printed: Optional[str] = None) -> MetricSpec:
    return gauge("jetson.engine", "util_percent", "percent", f"Engine {printed or device} busy",
                 device=device, label_key="engine")


def engine_freq(device: str, printed: Optional[str] = None) -> MetricSpec:
    return gauge("jetson.engine", "freq_mhz", "MHz", f"Engine {printed or device} clock",
                 device=device, label_key="engine")


def engine_online(device: str, printed: Optional[str] = None) -> MetricSpec:
    return gauge("jetson.engine", "online", "count",
                 f"Engine {printed or device} clocked on (1) or off (0)", device=device,
                 label_key="engine")


# Always declared, whether or not a source can read them here (NaN then, and the collector
# says why): the quantities a Jetson recording is read for.
BASE: Tuple[Callable[[], MetricSpec], ...] = (
    ram_used, ram_total, swap_used, swap_total, gpu_util, gpu_freq, emc_util, emc_freq,
    emc_bytes)


def catalog() -> List[MetricSpec]:
    """Every column a Jetson source can declare, the device part written `{device}`."""
    fixed = [ram_used(), ram_total(), ram_available(), ram_cpu_used(), ram_gpu_shared(),
             swap_used(), swap_total(), swap_cached(), gpu_util(), gpu_freq(),
             gpu_process_memory(), emc_util(), emc_freq(), emc_bytes(), cpu_util()]
    per_device = [core_util(DEVICE), core_freq(DEVICE)] + [
        make(DEVICE) for make in (rail, temperature, engine_util, engine_freq, engine_online)]
    return fixed + per_device


def _renamed() -> Dict[str, str]:
    renamed: Dict[str, str] = {}
    for spec in catalog():
        new = spec.column or spec.name
        if spec.name in (ram_available().name, ram_cpu_used().name, ram_gpu_shared().name):
            continue  # the sysfs collector's own, already under these names
        if new in (gpu_process_memory().name, engine_online(DEVICE).name):
            renamed["jtop." + new.partition(".")[2]] = new
            continue
        renamed["tegra." + new.partition(".")[2]] = new
    renamed["jtop.engine.{device}.freq_mhz"] = engine_freq(DEVICE).name
    # The sysfs collector named a temperature by its whole zone type; now by the sensor.
    for suffix in ("thermal", "therm", "tegra"):
        renamed[f"jetson.temp.{DEVICE}_{suffix}.celsius"] = temperature(DEVICE).name
    renamed["jetson.temp.thermal_fan_est.celsius"] = temperature("thermal").name
    return renamed


# {old column: new column}, either may hold `{device}` (memmap_tui.catalog.current_name).
RENAMED: Dict[str, str] = _renamed()

# What each column is, in the words `memmap collectors` and the run summary use to say which
# source gives it: (column pattern, quantity), first match wins.
_QUANTITIES: Tuple[Tuple[str, str], ...] = (
    (r"jetson\.ram\.", "RAM"), (r"jetson\.swap\.", "swap"),
    (r"jetson\.gpu\.util_percent$", "GPU util"), (r"jetson\.gpu\.freq_mhz$", "GPU clock"),
    (r"jetson\.gpu\.process_memory", "GPU memory per process"),
    (r"jetson\.emc\.util_percent$", "EMC util"), (r"jetson\.emc\.freq_mhz$", "EMC clock"),
    (r"jetson\.emc\.bytes_per_second$", "EMC bytes/s"), (r"jetson\.cpu", "CPU"),
    (r"jetson\.power\.", "power rails"), (r"jetson\.temp\.", "temperatures"),
    (r"jetson\.engine\.", "engines"))


def quantity(column: str) -> str:
    """The quantity a column is part of, in words ("RAM", "EMC util", "power rails")."""
    return next((q for pattern, q in _QUANTITIES if re.match(pattern, column)), column)
