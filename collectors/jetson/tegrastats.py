"""The tegrastats source: a Jetson read from NVIDIA's `tegrastats --interval MS`.

Runs the command as a subprocess (`process.TegrastatsProcess`, L4T 28 to R39, JetPack 3 to
7.2), parses each line (`parse.parse_line`) and reads the board model with `models.read_model`.
The command is `--tegrastats-cmd`, else `$MEMMAP_TEGRASTATS`, else `tegrastats` on PATH.

What it gives (the columns of `columns`; NaN before the first line, when the line lacks the
field, or when no line came for `stale_after` seconds, by default 4 intervals but at least 2 s):
unified RAM and swap (tegrastats' MB is MiB); the CPU mean over online cores and per core
(NaN while a core is off); GPU (GR3D) busy and clock (the highest GPC's); EMC busy and clock,
and the bytes/s estimate of `models`; temperatures (the current value of `name@cur/maxC`; PMIC
left out); power rails in watts (the current value of `cur/avg[/max]`); engines (NVENC, NVDEC,
VIC, NVDLA0, APE ...), an engine printed `off` reading 0 % and 0 MHz.

Only what the first line shows is declared (up to `first_line_timeout` after open): without
root, JetPack 6+ prints no EMC and no engines, and L4T 32 prints `EMC_FREQ 0%` without a clock
(not a reading: the EMC clock is root's to read), so EMC is not declared then; Thor prints only
GPU clocks, so GPU util is not declared there.

Known gaps: cores, rails, sensors or engines that first appear in a later line (a sensor that
printed -256C at start) are not shown; power averages and JetPack 7.2 maxima are not exported.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from memmap_tui.collector import Availability, CollectorError
from memmap_tui.model import MetricSpec

from . import columns as col
from .models import emc_bytes_per_second, find_module, read_model
from .parse import empty_result
from .source import Gap, Source
from .sysfs import unknown_module

if TYPE_CHECKING:
    from .process import TegrastatsProcess

NAN = math.nan
NOT_FOUND = "tegrastats not found (not a Jetson? set --tegrastats-cmd)"
NO_EMC = ("tegrastats printed no EMC clock: it reads the EMC clock only when run as root, "
          "and memmap runs it as you")

Parsed = Dict[str, Any]
Extract = Callable[[Parsed], float]
Plan = List[Tuple[MetricSpec, Extract]]


def resolve_command(cmd: Optional[str]) -> Optional[str]:
    """The executable to run: `cmd` (a path, or a name looked up on PATH), else `tegrastats`."""
    if not cmd:
        return shutil.which("tegrastats")
    if os.sep in cmd:
        return cmd if os.path.isfile(cmd) and os.access(cmd, os.X_OK) else None
    return shutil.which(cmd)


def _number(value: Any) -> float:
    return NAN if value is None else float(value)


class TegrastatsSource(Source):
    """Jetson statistics from a `tegrastats` subprocess (see the module docstring)."""

    name = "tegrastats"

    def __init__(self, cmd: Optional[str] = None, interval: float = 0.5, proc_root: str = "/proc",
                 sys_root: str = "/sys", first_line_timeout: Optional[float] = None,
                 stale_after: Optional[float] = None) -> None:
        self.cmd = cmd
        self.interval_ms = max(100, int(round(interval * 1000)))
        seconds = self.interval_ms / 1000.0
        self.proc_root, self.sys_root = proc_root, sys_root
        self.first_line_timeout = (
            min(10.0, max(2.0, 3 * seconds)) if first_line_timeout is None else first_line_timeout
        )
        self.stale_after = max(2.0, 4 * seconds) if stale_after is None else stale_after
        self.model = ""
        self.process: Optional[TegrastatsProcess] = None
        self._first: Parsed = empty_result()
        self._plan: Plan = []
        self._last: Optional[Tuple[Parsed, List[float]]] = None

    def probe(self, quick: bool = False) -> Availability:
        if resolve_command(self.cmd) is not None:
            return Availability(True, "runs " + str(resolve_command(self.cmd)))
        if self.cmd:
            return Availability(False, f"tegrastats command '{self.cmd}' not found or not "
                                       "executable")
        return Availability(False, NOT_FOUND)

    def expected(self) -> List[str]:
        emc = ["EMC util", "EMC clock", "EMC bytes/s"] if os.geteuid() == 0 else []
        return ["RAM", "swap", "CPU", "GPU util", "GPU clock", *emc, "power rails",
                "temperatures", "engines"]

    def open(self) -> None:
        """Start tegrastats and wait up to `first_line_timeout` s to learn cores, rails, ..."""
        if self.process is not None:
            return
        path = resolve_command(self.cmd)
        if path is None:
            raise CollectorError(self.probe().reason)
        from .process import TegrastatsProcess  # subprocess: only where tegrastats runs

        self.model = read_model(self.proc_root, self.sys_root)
        self.process = TegrastatsProcess([path, "--interval", str(self.interval_ms)])
        self.process.start()
        self._first = self.process.wait_first(self.first_line_timeout) or empty_result()
        self._plan = build_plan(self._first, self.model)

    def metrics(self) -> List[MetricSpec]:
        return [spec for spec, _ in self._plan]

    def read(self) -> Sequence[float]:
        """The newest line's values; all NaN before the first line or once it is stale."""
        latest = self.process.latest() if self.process is not None else None
        if latest is None or time.monotonic() - latest[1] > self.stale_after:
            return [NAN] * len(self._plan)
        parsed = latest[0]
        if self._last is None or self._last[0] is not parsed:
            self._last = (parsed, [extract(parsed) for _, extract in self._plan])
        return self._last[1]

    def gaps(self) -> List[Gap]:
        if self.process is None:
            return []
        first, found = self._first, []
        if first["ram_total_bytes"] is None and not first["cpu_util_percent"]:
            return [Gap("tegrastats", (), f"no line from tegrastats within "
                                           f"{self.first_line_timeout:g} s")]
        if first["gpu_util_percent"] is None:
            found.append(Gap("GPU util", (col.GPU_UTIL,), "tegrastats prints no GPU load here "
                                                          "(Thor: clocks only)"))
        if first["emc_freq_mhz"] is None:
            found.append(Gap("EMC util and bytes/s", (col.EMC_UTIL, col.EMC_BYTES), NO_EMC))
            found.append(Gap("EMC clock", (col.EMC_FREQ,), NO_EMC))
        elif find_module(self.model, first["ram_total_bytes"]) is None:
            found.append(Gap("EMC bytes/s", (col.EMC_BYTES,), unknown_module(self.model)))
        return found

    def close(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
        self._last = None


def build_plan(first: Parsed, model: str) -> Plan:
    """(spec, how to read it from a parsed line) for what the `first` parsed line shows;
    `model` (the device tree's) and the line's RAM total pick the EMC estimate's module."""
    plan: Plan = []
    if first["ram_total_bytes"] is not None:
        plan += [(col.ram_used(), _key("ram_used_bytes")),
                 (col.ram_total(), _key("ram_total_bytes"))]
    if first["swap_total_bytes"] is not None:
        plan += [(col.swap_used(), _key("swap_used_bytes")),
                 (col.swap_total(), _key("swap_total_bytes")),
                 (col.swap_cached(), _key("swap_cached_bytes"))]
    if first["gpu_util_percent"] is not None:
        plan.append((col.gpu_util(), _key("gpu_util_percent")))
    if first["gpu_freq_mhz"] is not None:
        plan.append((col.gpu_freq(), _key("gpu_freq_mhz")))
    plan += _emc_plan(first, model)
    if first["cpu_util_percent"]:
        plan.append((col.cpu_util(), _cpu_mean))
        plan += _core_plan(len(first["cpu_util_percent"]))
    plan += _named_plan(first["temps_celsius"], _temp_metrics)
    plan += _named_plan(first["power_milliwatts"], _rail_metrics)
    plan += _named_plan(first["engines"], _engine_metrics)
    return plan


def _emc_plan(first: Parsed, model: str) -> Plan:
    if first["emc_freq_mhz"] is None:
        return []
    plan = [(col.emc_freq(), _key("emc_freq_mhz"))]
    if first["emc_util_percent"] is not None:
        plan.append((col.emc_util(), _key("emc_util_percent")))
        if find_module(model, first["ram_total_bytes"]) is not None:
            plan.append((col.emc_bytes(), lambda parsed: emc_bytes_per_second(
                model, parsed["emc_util_percent"], parsed["emc_freq_mhz"],
                parsed["ram_total_bytes"])))
    return plan


def _key(key: str) -> Extract:
    return lambda parsed: _number(parsed[key])


def _cpu_mean(parsed: Parsed) -> float:
    online = [u for u in parsed["cpu_util_percent"] if u is not None]
    return sum(online) / len(online) if online else NAN


def _core_plan(cores: int) -> Plan:
    """Per-core util then per-core clock, the core as `cpu="N"`."""
    plan: Plan = [(col.core_util(str(i)), _core_value("cpu_util_percent", i))
                  for i in range(cores)]
    return plan + [(col.core_freq(str(i)), _core_value("cpu_freq_mhz", i)) for i in range(cores)]


def _core_value(key: str, index: int) -> Extract:
    def read(parsed: Parsed) -> float:
        values = parsed[key]
        return _number(values[index]) if index < len(values) else NAN

    return read


# (column device name, printed name, first value) -> plan entries
MetricsFor = Callable[[str, str, Any], Plan]


def _named_plan(found: Dict[str, Any], metrics_for: MetricsFor) -> Plan:
    """Entries for each sensor / rail / engine of the first line, under a unique column name."""
    plan: Plan = []
    taken: List[str] = []
    for name, first in found.items():
        plan += metrics_for(col.unique(taken, col.column_part(name)), name, first)
    return plan


def _temp_metrics(device: str, name: str, first: Any) -> Plan:
    if col.is_fake_sensor(name):
        return []
    return [(col.temperature(device, name),
             lambda parsed: _number(parsed["temps_celsius"].get(name)))]


def _rail_metrics(device: str, name: str, first: Any) -> Plan:
    def watts(parsed: Parsed) -> float:
        pair = parsed["power_milliwatts"].get(name)
        return NAN if pair is None else pair[0] / 1000.0

    return [(col.rail(device, name), watts)]


def _engine_metrics(device: str, name: str, first: Any) -> Plan:
    plan: Plan = []
    for quantity, make in (("util_percent", col.engine_util), ("freq_mhz", col.engine_freq)):
        if first[quantity] is not None or first["off"]:
            plan.append((make(device, name), _engine_value(name, quantity)))
    return plan


def _engine_value(name: str, key: str) -> Extract:
    def read(parsed: Parsed) -> float:
        engine = parsed["engines"].get(name)
        if engine is None:
            return NAN
        return 0.0 if engine["off"] else _number(engine[key])

    return read
