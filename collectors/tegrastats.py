"""Jetson RAM, CPU, GPU, memory controller, engines, temperatures and power from `tegrastats`.

Source: NVIDIA's `tegrastats --interval MS` (L4T 28 to R39; JetPack 3 to 7.2), run as a
subprocess (see `tegrastats_process`), each line parsed by `parse_line` (see
`tegrastats_parse`); the board model from `/proc/device-tree/model` (see `jetson_models`).
The command is `--tegrastats-cmd`, else `$MEMMAP_TEGRASTATS`, else `tegrastats` on PATH.

Columns (all gauges; NaN before the first line, when the line lacks the field, or when no line
came for `stale_after` seconds, by default 4 intervals but at least 2 s):
- `tegra.ram.used_bytes`, `tegra.ram.total_bytes`: unified RAM (shared by CPU and GPU), bytes;
  `tegra.swap.used_bytes`, `tegra.swap.total_bytes`, `tegra.swap.cached_bytes`.
- `tegra.cpu.util_percent`: mean over the online cores; `tegra.cpu<N>.util_percent` and
  `tegra.cpu<N>.freq_mhz` per core (label `cpu="N"`; NaN while the core is off).
- `tegra.gpu.util_percent` (GR3D busy; NaN on Thor, which prints only clocks),
  `tegra.gpu.freq_mhz` (the highest GPC clock).
- `tegra.emc.util_percent`, `tegra.emc.freq_mhz`: the external memory controller;
  `tegra.emc.bytes_per_second`: util x clock x bytes per EMC clock of the module
  (`jetson_models`), an estimate; NaN for a module not in the table.
- `tegra.temp.<sensor>.celsius` (label `sensor`), `tegra.power.<rail>.watts` (label `rail`;
  the current value of `cur/avg`, mW converted to W).
- `tegra.engine.<name>.util_percent` / `.freq_mhz` (label `engine`): NVENC, NVDEC, NVJPG, VIC,
  OFA, NVDLA0/1, PVA0, APE, ...; an engine printed `off` reads 0 % and 0 MHz. Only the
  quantities its first line shows get a column (`APE 174` is a clock only).

Sensor, rail and engine names are lower-cased with anything but letters, digits and `_`
turned into `_` (`VDD_GPU_SOC` -> `vdd_gpu_soc`, `CV0` -> `cv0`); a clash gets `_2`.

Known gaps: the metric list is fixed by the first line seen in `open()` (up to
`first_line_timeout`); cores, rails, sensors or engines that appear later are not shown, and
if no line came in time only the scalar columns exist. Without root, JetPack 6+ prints no EMC
and no engines. Power averages and JetPack 7.2 maxima are not exported. On AGX Xavier the
rails `GPU`, `CPU`, `SOC` ... share names with temperature sensors; they are kept apart by
their `tegra.power.` / `tegra.temp.` prefixes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from memmap_tui.collector import (
    Availability,
    Collector,
    CollectorError,
    CollectorOptions,
    env_tegrastats_cmd,
)
from memmap_tui.model import MetricSpec, gauge

from .jetson_models import emc_bytes_per_second, read_model
from .tegrastats_parse import empty_result, parse_line
from .tegrastats_process import TegrastatsProcess

__all__ = ["TegrastatsCollector", "parse_line", "resolve_command", "column_name"]

NAN = math.nan
NOT_FOUND = "tegrastats not found (not a Jetson? set --tegrastats-cmd)"

Parsed = Dict[str, Any]
Extract = Callable[[Parsed], float]
Plan = List[Tuple[MetricSpec, Extract]]

# prefix, quantity, unit, parse_line key, help
_SCALARS: Tuple[Tuple[str, str, str, str, str], ...] = (
    ("tegra.ram", "used_bytes", "bytes", "ram_used_bytes", "RAM in use (CPU and GPU share it)"),
    ("tegra.ram", "total_bytes", "bytes", "ram_total_bytes", "RAM size"),
    ("tegra.swap", "used_bytes", "bytes", "swap_used_bytes", "Swap in use"),
    ("tegra.swap", "total_bytes", "bytes", "swap_total_bytes", "Swap size"),
    ("tegra.swap", "cached_bytes", "bytes", "swap_cached_bytes", "Swap also held in RAM"),
    ("tegra.gpu", "util_percent", "percent", "gpu_util_percent", "GPU (GR3D) busy"),
    ("tegra.gpu", "freq_mhz", "MHz", "gpu_freq_mhz", "GPU clock (highest GPC)"),
    ("tegra.emc", "util_percent", "percent", "emc_util_percent", "Memory controller busy"),
    ("tegra.emc", "freq_mhz", "MHz", "emc_freq_mhz", "Memory controller clock"),
)


def resolve_command(cmd: Optional[str]) -> Optional[str]:
    """The executable to run: `cmd` (a path, or a name looked up on PATH), else `tegrastats`."""
    if not cmd:
        return shutil.which("tegrastats")
    if os.sep in cmd:
        return cmd if os.path.isfile(cmd) and os.access(cmd, os.X_OK) else None
    return shutil.which(cmd)


def column_name(name: str) -> str:
    """A sensor, rail or engine name as a column part: `VDD_GPU_SOC` -> `vdd_gpu_soc`."""
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "unnamed"


def _number(value: Any) -> float:
    return NAN if value is None else float(value)


class TegrastatsCollector(Collector):
    """Jetson statistics from a `tegrastats` subprocess (see the module docstring)."""

    name = "tegrastats"

    def __init__(
        self,
        cmd: Optional[str] = None,
        interval: float = 0.5,
        proc_root: str = "/proc",
        model_path: Optional[str] = None,
        first_line_timeout: Optional[float] = None,
        stale_after: Optional[float] = None,
    ) -> None:
        self.cmd = cmd
        self.interval_ms = max(100, int(round(interval * 1000)))
        seconds = self.interval_ms / 1000.0
        self.model_path = model_path or os.path.join(proc_root, "device-tree", "model")
        self.first_line_timeout = (
            min(10.0, max(2.0, 3 * seconds)) if first_line_timeout is None else first_line_timeout
        )
        self.stale_after = max(2.0, 4 * seconds) if stale_after is None else stale_after
        self.model: Optional[str] = None
        self.process: Optional[TegrastatsProcess] = None
        self._plan: Plan = []
        self._last: Optional[Tuple[Parsed, List[float]]] = None

    @classmethod
    def from_options(cls, options: CollectorOptions) -> TegrastatsCollector:
        return cls(
            cmd=options.tegrastats_cmd or env_tegrastats_cmd(),
            interval=options.interval,
            proc_root=options.proc_root,
        )

    def probe(self) -> Availability:
        if resolve_command(self.cmd) is not None:
            return Availability(True)
        if self.cmd:
            reason = f"tegrastats command '{self.cmd}' not found or not executable"
            return Availability(False, reason)
        return Availability(False, NOT_FOUND)

    def open(self) -> None:
        """Start tegrastats and wait up to `first_line_timeout` s to learn cores, rails, ..."""
        if self.process is not None:
            return
        path = resolve_command(self.cmd)
        if path is None:
            raise CollectorError(self.probe().reason)
        self.model = read_model(self.model_path)
        self.process = TegrastatsProcess([path, "--interval", str(self.interval_ms)])
        self.process.start()
        first = self.process.wait_first(self.first_line_timeout)
        self._plan = self._build_plan(first or empty_result())

    def metrics(self) -> List[MetricSpec]:
        return [spec for spec, _ in self._plan]

    def collect(self) -> Sequence[float]:
        """The newest line's values; all NaN before the first line or once it is stale."""
        latest = self.process.latest() if self.process is not None else None
        if latest is None or time.monotonic() - latest[1] > self.stale_after:
            return [NAN] * len(self._plan)
        parsed = latest[0]
        if self._last is None or self._last[0] is not parsed:
            self._last = (parsed, [extract(parsed) for _, extract in self._plan])
        return list(self._last[1])

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        self._last = None

    # -- the metric plan: (spec, how to read it from a parsed line) --------------------------

    def _build_plan(self, first: Parsed) -> Plan:
        plan = [(gauge(p, q, u, h), _key(k)) for p, q, u, k, h in _SCALARS]
        emc = gauge("tegra.emc", "bytes_per_second", "bytes/s", "Estimated DRAM traffic")
        cpu = gauge("tegra.cpu", "util_percent", "percent", "CPU busy, mean of online cores")
        plan += [(emc, self._emc_bytes_per_second), (cpu, _cpu_mean)]
        plan += _core_plan(len(first["cpu_util_percent"]))
        plan += _named_plan(first["temps_celsius"], "tegra.temp", "sensor", _temp_metrics)
        plan += _named_plan(first["power_milliwatts"], "tegra.power", "rail", _rail_metrics)
        plan += _named_plan(first["engines"], "tegra.engine", "engine", _engine_metrics)
        return plan

    def _emc_bytes_per_second(self, parsed: Parsed) -> float:
        return emc_bytes_per_second(
            self.model,
            parsed["emc_util_percent"],
            parsed["emc_freq_mhz"],
            ram_total_bytes=parsed["ram_total_bytes"],
        )


def _key(key: str) -> Extract:
    return lambda parsed: _number(parsed[key])


def _cpu_mean(parsed: Parsed) -> float:
    online = [u for u in parsed["cpu_util_percent"] if u is not None]
    return sum(online) / len(online) if online else NAN


def _core_plan(cores: int) -> Plan:
    """Per-core util then per-core clock; one family per quantity, the core as `cpu="N"`."""
    plan: Plan = []
    for quantity, unit, key, help in (
        ("util_percent", "percent", "cpu_util_percent", "CPU core busy"),
        ("freq_mhz", "MHz", "cpu_freq_mhz", "CPU core clock"),
    ):
        for i in range(cores):
            spec = gauge("tegra", quantity, unit, help, device=f"cpu{i}", label_key="cpu")
            # The family differs from the all-cores mean `tegra.cpu.util_percent`.
            spec = replace(spec, family=f"tegra.cpu.core_{quantity}", labels=(("cpu", str(i)),))
            plan.append((spec, _core_value(key, i)))
    return plan


def _core_value(key: str, index: int) -> Extract:
    def read(parsed: Parsed) -> float:
        values = parsed[key]
        return _number(values[index]) if index < len(values) else NAN

    return read


# (prefix, label, column device name, printed name, first value) -> plan entries
MetricsFor = Callable[[str, str, str, str, Any], Plan]


def _named_plan(found: Dict[str, Any], prefix: str, label: str, metrics_for: MetricsFor) -> Plan:
    """Entries for each sensor / rail / engine of the first line, under a unique column name."""
    plan: Plan = []
    used: Dict[str, int] = {}
    for name, first in found.items():
        device = column_name(name)
        used[device] = used.get(device, 0) + 1
        if used[device] > 1:
            device = f"{device}_{used[device]}"
        plan += metrics_for(prefix, label, device, name, first)
    return plan


def _temp_metrics(prefix: str, label: str, device: str, name: str, first: Any) -> Plan:
    spec = gauge(prefix, "celsius", "celsius", f"Temperature {name}", device=device,
                 label_key=label)
    return [(spec, lambda parsed: _number(parsed["temps_celsius"].get(name)))]


def _rail_metrics(prefix: str, label: str, device: str, name: str, first: Any) -> Plan:
    def watts(parsed: Parsed) -> float:
        pair = parsed["power_milliwatts"].get(name)
        return NAN if pair is None else pair[0] / 1000.0

    spec = gauge(prefix, "watts", "watts", f"Power on rail {name}", device=device, label_key=label)
    return [(spec, watts)]


def _engine_metrics(prefix: str, label: str, device: str, name: str, first: Any) -> Plan:
    plan: Plan = []
    for quantity, unit, what in (("util_percent", "percent", "busy"), ("freq_mhz", "MHz", "clock")):
        if first[quantity] is not None or first["off"]:
            help = f"Engine {name} {what}"
            spec = gauge(prefix, quantity, unit, help, device=device, label_key=label)
            plan.append((spec, _engine_value(name, quantity)))
    return plan


def _engine_value(name: str, key: str) -> Extract:
    def read(parsed: Parsed) -> float:
        engine = parsed["engines"].get(name)
        if engine is None:
            return NAN
        return 0.0 if engine["off"] else _number(engine[key])

    return read
