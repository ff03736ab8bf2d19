"""The sysfs source: a Jetson read straight from procfs, sysfs and, with root, debugfs.

No subprocess, no root for what is world-readable; the paths are in `layout`. Roots
(`proc_root`, `sys_root`, `debugfs_root`, the last `<sys_root>/kernel/debug` by default) are
parameters so tests use trees laid out as the boards print them.

Sources and units:
  Memory        /proc/meminfo (kB -> bytes): used = MemTotal - MemAvailable; NvMapMemUsed (memory
                mapped for the GPU through nvmap, where the kernel reports it) -> GPU shared, and
                used less that -> CPU part; swap used = SwapTotal - SwapFree, SwapCached.
  GPU           load per-mille -> percent; devfreq cur_freq Hz -> MHz.
  Power         rail watts (INA3221 per rail, Thor's INA238 input as VIN).
  Temperatures  milli-C -> C, named by sensor (`cpu-thermal` -> `cpu`); NaN while a zone reads
                -256 C or fails, read again every tick.
  EMC           util_percent = 100 * activity_kHz / (clock_Hz / 1000): the activity counter
                (mc_all) is the average number of active kHz of the memory controller, the
                clock is in Hz, so their ratio is the busy share. jetson-stats divides the
                activity by the clock in kHz without the factor 100 and so reads 100x lower
                (0 % on AGX Orin, JetPack 6.1: jetson-stats issue #715); tegrastats' EMC_FREQ
                agrees with ours. bytes/s: the estimate of `models.emc_bytes_per_second`, with
                MemTotal telling Orin Nano 4GB from 8GB.

Known gaps: whether `mc_all` counts EMC clock cycles (so that 100 % is the clock) is not
settled on a board (docs/hardware.md); Thor's GPU has no load file (use the nvml collector);
per-process GPU memory needs root (nvmap debugfs): the jtop source gives it.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from memmap_tui.collector import Availability
from memmap_tui.model import NAN, MetricSpec

from . import columns as col
from .layout import (
    Layout,
    discover,
    find_gpu_devfreq,
    find_gpu_load,
    read_number,
    read_text,
    valid_celsius,
)
from .models import emc_bytes_per_second, find_module, read_device_tree, read_model
from .source import Gap, Source

Group = Tuple[List[MetricSpec], Callable[[], List[float]]]


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


class SysfsSource(Source):
    """GPU load and clock, unified memory, swap, power rails, temperatures and EMC from sysfs."""

    name = "sysfs"

    def __init__(self, proc_root: str = "/proc", sys_root: str = "/sys",
                 debugfs_root: Optional[str] = None) -> None:
        self.proc_root = proc_root
        self.sys_root = sys_root
        self.debugfs_root = debugfs_root or os.path.join(sys_root, "kernel/debug")
        self.model = ""
        self.ram_total = NAN
        self.layout: Optional[Layout] = None
        self._groups: List[Group] = []

    def probe(self, quick: bool = False) -> Availability:
        try:
            self.model = read_model(self.proc_root, self.sys_root)
            compatible = read_device_tree("compatible", self.proc_root, self.sys_root)
            devfreq = find_gpu_devfreq(self.sys_root)
            if not find_gpu_load(self.sys_root, devfreq) and "NVIDIA Jetson" not in self.model \
                    and "tegra" not in compatible:
                return Availability(False, "not a Jetson: no Tegra GPU node or device tree")
            self.layout = discover(self.sys_root, self.debugfs_root)
        except Exception as exc:  # probe never raises
            return Availability(False, f"Jetson probe failed: {exc}")
        return Availability(True, self.model or "Tegra board")

    def expected(self) -> List[str]:
        if self.layout is None:
            return []
        self._build()
        return list(dict.fromkeys(col.quantity(s.name) for s in self.metrics()))

    def open(self) -> None:
        self.model = read_model(self.proc_root, self.sys_root)
        self.layout = discover(self.sys_root, self.debugfs_root)
        self._build()

    def metrics(self) -> List[MetricSpec]:
        return [spec for specs, _ in self._groups for spec in specs]

    def read(self) -> Sequence[float]:
        values: List[float] = []
        for specs, read in self._groups:
            part = read()
            values.extend(part if len(part) == len(specs) else [NAN] * len(specs))
        return values

    def gaps(self) -> List[Gap]:
        layout = self.layout
        if layout is None:
            return []
        found: List[Gap] = []
        if not layout.gpu_load:
            found.append(Gap("GPU util", (col.GPU_UTIL,), (
                "Thor's GPU (gpu-gpc-0, a PCI device) has no load file: the nvml collector "
                "reads its utilisation") if layout.thor_gpu else "no GPU load node found"))
        if not layout.gpu_devfreq:
            found.append(Gap("GPU clock", (col.GPU_FREQ,), "no GPU devfreq node found"))
        if not layout.emc_rate:
            found.append(Gap("EMC clock", (col.EMC_FREQ,), layout.emc_why))
        if not (layout.emc_rate and layout.emc_activity):
            found.append(Gap("EMC util and bytes/s", (col.EMC_UTIL, col.EMC_BYTES),
                             layout.emc_why))
        elif find_module(self.model, self._ram_total()) is None:
            found.append(Gap("EMC bytes/s", (col.EMC_BYTES,), unknown_module(self.model)))
        return found

    # -- metric groups: specs and the reader that fills them ---------------------------------

    def _build(self) -> None:
        self.ram_total = self._ram_total()
        self._groups = [g for g in (self._memory(), self._gpu(), self._rails(), self._zones(),
                                    self._emc()) if g[0]]

    def _ram_total(self) -> float:
        info = parse_meminfo(read_text(os.path.join(self.proc_root, "meminfo")) or "")
        return info.get("MemTotal", NAN)

    def _memory(self) -> Group:
        path = os.path.join(self.proc_root, "meminfo")
        info = parse_meminfo(read_text(path) or "")
        if "MemTotal" not in info:
            return [], list
        nvmap = "NvMapMemUsed" in info
        specs = [col.ram_used(), col.ram_total(), col.ram_available()]
        specs += [col.ram_cpu_used(), col.ram_gpu_shared()] if nvmap else []
        specs += [col.swap_used(), col.swap_total(), col.swap_cached()]

        def read_memory() -> List[float]:
            info = parse_meminfo(read_text(path) or "")
            total, available = info.get("MemTotal", NAN), info.get("MemAvailable", NAN)
            used = total - available
            values = [used, total, available]
            if nvmap:
                shared = info.get("NvMapMemUsed", NAN)
                values += [max(used - shared, 0.0) if shared >= 0 else NAN, shared]
            swap = info.get("SwapTotal", NAN)
            return values + [swap - info.get("SwapFree", NAN), swap, info.get("SwapCached", NAN)]

        return specs, read_memory

    def _gpu(self) -> Group:
        assert self.layout is not None
        load, freq = self.layout.gpu_load, self.layout.gpu_freq
        specs = ([col.gpu_util()] if load else []) + ([col.gpu_freq()] if freq else [])

        def read_gpu() -> List[float]:
            return ([read_number(load) / 10.0] if load else []) + (
                [read_number(freq) / 1e6] if freq else [])

        return specs, read_gpu

    def _rails(self) -> Group:
        assert self.layout is not None
        taken: List[str] = []
        rails = self.layout.rails
        specs = [col.rail(col.unique(taken, col.column_part(r.name)), r.name) for r in rails]
        return specs, lambda: [rail.watts() for rail in rails]

    def _zones(self) -> Group:
        assert self.layout is not None
        taken: List[str] = []
        zones = self.layout.zones
        specs = []
        for kind, _ in zones:
            sensor = col.sensor_name(kind)
            specs.append(col.temperature(col.unique(taken, col.column_part(sensor)), kind))

        def read_zones() -> List[float]:
            milli = [read_number(path) for _, path in zones]
            return [m / 1000.0 if valid_celsius(m) else NAN for m in milli]

        return specs, read_zones

    def _emc(self) -> Group:
        assert self.layout is not None
        rate, activity = self.layout.emc_rate, self.layout.emc_activity
        if not rate:
            return [], list
        if not activity:
            return [col.emc_freq()], lambda: [read_number(rate) / 1e6]
        model, ram = self.model, self.ram_total
        known = find_module(model, ram) is not None
        specs = [col.emc_freq(), col.emc_util()] + ([col.emc_bytes()] if known else [])

        def read_emc() -> List[float]:
            hz, active_khz = read_number(rate), read_number(activity)
            util = 100.0 * active_khz / (hz / 1000.0) if hz > 0 else NAN
            values = [hz / 1e6, util]
            if known:
                values.append(emc_bytes_per_second(model, util, hz / 1e6, ram))
            return values

        return specs, read_emc


def unknown_module(model: str) -> str:
    """Why the EMC bytes/s estimate is empty for this board."""
    if not model:
        return "no device-tree model to look the module's DRAM bandwidth up by"
    return (f"no DRAM bandwidth known for the board {model!r} (collectors/jetson/models.py), "
            "or its RAM size does not tell the module")
