"""NVIDIA GPUs through NVML (nvidia-ml-py, `import pynvml`).

Sources (nvidia-ml-py; every call goes through `NvmlCalls.call` in collectors/nvml_calls.py):
  nvmlDeviceGetUtilizationRates       util_percent, mem_util_percent (percent of the last
                                      sample period, 1/6 s to 1 s depending on the GPU)
  nvmlDeviceGetMemoryInfo (v2 / v1)   mem_used_bytes, mem_total_bytes, mem_reserved_bytes (v2 only;
                                      with v2 "used" excludes the driver's reserved memory)
  nvmlDeviceGetBAR1MemoryInfo         bar1_used_bytes, bar1_total_bytes
  nvmlDeviceGetFieldValues            PCIe and NVLink byte counters (cumulative; see below)
  nvmlDeviceGetPcieThroughput         PCIe KB/s over a ~20 ms window: the fallback
  nvmlDeviceGetCurrPcieLinkGeneration/Width   pcie_link_gen, pcie_link_width, and the link's
                                      theoretical pcie_link_max_bytes_per_second
  nvmlDeviceGetPowerUsage             power_watts (NVML gives milliwatts)
  nvmlDeviceGetTemperature            temperature_celsius (GPU die sensor)
  nvmlDeviceGetClockInfo              sm_clock_mhz, mem_clock_mhz
  nvmlDeviceGet{Compute,Graphics}RunningProcesses   per-process GPU memory, in `table()`

Columns are `nvml.gpu<i>.<quantity>` with labels gpu="<i>" and name="<device name>".

PCIe bytes/s: where the driver answers NVML_FI_DEV_PCIE_COUNT_RX_BYTES / _TX_BYTES (field ids 198 /
197, drivers 555 and later), they are declared as COUNTER specs `nvml.gpu<i>.pcie_rx_bytes` of raw
bytes and the pipeline turns them into `..._bytes_per_second` over the whole interval
(`pcie_source == "field_counters"`). Otherwise `nvmlDeviceGetPcieThroughput` is read several times
per interval and averaged into GAUGES of the same column names (`pcie_source == "throughput"`);
that only sees ~20 ms windows, so short bursts are missed or exaggerated. rx is into the GPU
(host-to-device copies), tx is out of it. NVLink data bytes (fields 138/139, KiB, all links via
scopeId UINT_MAX) become counters `nvlink_rx_bytes` / `nvlink_tx_bytes` where the GPU answers.

Errors: an unsupported field (NotSupported, NoPermission, version mismatch) is NaN, logged once and
not asked again on that device; FunctionNotFound (old driver) is logged once and never retried;
GpuIsLost / Unknown / ResetRequired marks that GPU degraded (its columns NaN, retried with
exponential backoff up to 60 s) while the other GPUs go on; a missing library or driver makes
`probe()` unavailable with a hint.

Known gaps: a counter the driver gives as 32 bits (valueType uint) is unwrapped once per read;
more than 4 GiB per interval is undercounted (logged once; check_nvml.py shows the valueType),
and a counter reset on a GPU reset then reads as a wrap. The link generation/width are the
*current* ones and drop at idle (power saving);
a GPU lost already at `open()` keeps the throughput fallback after it comes back; MIG instances
are not split out; per-process memory uses host PIDs, so inside a container without the host
PID namespace rows may be missing; utilisation is NVML's "a kernel was running" time, not SM
occupancy.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from memmap_tui import roles as R
from memmap_tui.collector import Availability, Collector, CollectorError, CollectorOptions
from memmap_tui.model import COUNTER, DEVICE, GAUGE, NAN, MetricSpec

from .gpu_common import merge_process_row, pcie_link_max_bytes_per_second, sum_gpu_memory
from .nvml_calls import (
    DRIVER_HINT,
    IMPORT_HINT,
    CounterField,
    DeviceLost,
    NvmlCalls,
    field_bits,
    field_number,
    text,
)

log = logging.getLogger("memmap_tui.nvml")

UINT_MAX = 0xFFFFFFFF  # scopeId for "all NVLink links summed"
BACKOFF_MAX_SECONDS = 60.0

# (quantity, unit, help) of every per-GPU gauge, in column order.
GPU_GAUGES: Tuple[Tuple[str, str, str], ...] = (
    ("util_percent", "percent", "Percent of the last sample period a kernel ran on the GPU"),
    ("mem_util_percent", "percent", "Percent of the last sample period device memory was busy"),
    ("mem_used_bytes", "bytes", "Device memory in use"),
    ("mem_total_bytes", "bytes", "Device memory in total"),
    ("mem_reserved_bytes", "bytes", "Device memory reserved by the driver (NVML memory v2)"),
    ("bar1_used_bytes", "bytes", "BAR1 aperture in use (host-mapped device memory)"),
    ("bar1_total_bytes", "bytes", "BAR1 aperture size"),
    ("pcie_link_gen", "count", "Current PCIe link generation"),
    ("pcie_link_width", "count", "Current PCIe link width in lanes"),
    ("pcie_link_max_bytes_per_second", "bytes/s", "Theoretical payload rate of the current link"),
    ("power_watts", "watts", "Board power draw"),
    ("temperature_celsius", "celsius", "GPU die temperature"),
    ("sm_clock_mhz", "MHz", "Current SM clock"),
    ("mem_clock_mhz", "MHz", "Current memory clock"),
)
PCIE_HELP = "PCIe bytes {} the GPU"
NVLINK_HELP = "NVLink data bytes {} the GPU, all links"
# Counter fields: (quantity, pynvml constant, summed over all links -> KiB and scopeId UINT_MAX).
_PCIE_FIELDS = (("pcie_rx_bytes", "NVML_FI_DEV_PCIE_COUNT_RX_BYTES", False),
                ("pcie_tx_bytes", "NVML_FI_DEV_PCIE_COUNT_TX_BYTES", False))
_NVLINK_FIELDS = (("nvlink_rx_bytes", "NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX", True),
                  ("nvlink_tx_bytes", "NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX", True))


@dataclass
class _Gpu:
    index: int
    handle: Any = None
    name: str = "unknown"
    quantities: List[str] = field(default_factory=list)
    fields: List[CounterField] = field(default_factory=list)
    pcie_source: str = "throughput"
    skip: Set[str] = field(default_factory=set)
    degraded: bool = False
    retry_at: float = 0.0
    backoff: float = 1.0


# What each quantity is for (memmap_tui.roles); "{g}" is the GPU's column prefix, "{i}" its index.
_RATE = "_per_second"
_MEANING: Dict[str, Dict[str, Any]] = {
    "util_percent": {"label": "GPU{i} util", "pane": R.GPU, "roles": (R.GPU_UTIL, R.DEVICE),
                     "rank": 10},
    "mem_util_percent": {"label": "GPU{i} mem util", "pane": R.GPU, "roles": (R.DEVICE,),
                         "rank": 11},
    "power_watts": {"label": "GPU{i} power", "pane": R.GPU, "roles": (R.DEVICE,), "rank": 12,
                    "notes": (("{g}.temperature_celsius", "{}"),)},
    "sm_clock_mhz": {"label": "GPU{i} clocks", "pane": R.GPU, "roles": (R.DEVICE,), "rank": 13,
                     "notes": (("{g}.mem_clock_mhz", "mem {}"),)},
    "mem_used_bytes": {"label": "GPU{i} mem", "pane": R.MEMORY, "total": "{g}.mem_total_bytes",
                       "roles": (R.GPU_MEMORY, R.DEVICE), "rank": 40},
    "pcie_rx_bytes": {"label": "GPU{i} PCIe rx", "pane": R.THROUGHPUT, "rank": 20,
                      "total": "{g}.pcie_link_max_bytes_per_second", "key": "gpu{i}_pcie_rx",
                      "roles": (R.THROUGHPUT_FLOW, R.HOST_TO_DEVICE, R.DEVICE)},
    "pcie_tx_bytes": {"label": "GPU{i} PCIe tx", "pane": R.THROUGHPUT, "rank": 20,
                      "total": "{g}.pcie_link_max_bytes_per_second", "key": "gpu{i}_pcie_tx",
                      "roles": (R.THROUGHPUT_FLOW, R.HOST_TO_DEVICE, R.DEVICE)},
    "nvlink_rx_bytes": {"label": "GPU{i} NVLink rx", "pane": R.THROUGHPUT, "rank": 21,
                        "key": "gpu{i}_nvlink_rx", "roles": (R.THROUGHPUT_FLOW, R.DEVICE)},
    "nvlink_tx_bytes": {"label": "GPU{i} NVLink tx", "pane": R.THROUGHPUT, "rank": 21,
                        "key": "gpu{i}_nvlink_tx", "roles": (R.THROUGHPUT_FLOW, R.DEVICE)},
}


def _meaning(quantity: str, index: Any) -> Dict[str, Any]:
    """The meaning of one GPU's quantity, its label and columns filled in for that GPU."""
    found = _MEANING.get(quantity[:-len(_RATE)] if quantity.endswith(_RATE) else quantity, {})
    prefix = f"nvml.gpu{index}"

    def fill(text: str) -> str:
        return text.replace("{g}", prefix).replace("{i}", str(index))

    meaning = dict(found)
    for key in ("label", "total", "key"):
        if key in meaning:
            meaning[key] = fill(meaning[key])
    if "notes" in meaning:
        meaning["notes"] = tuple((fill(c), f) for c, f in meaning["notes"])
    return meaning


# Where a loaded NVIDIA driver shows itself: Linux, and WSL2's GPU paravirtualisation device.
DRIVER_NODES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg")

class NvmlCollector(Collector):
    """Per-GPU gauges and counters from NVML, and per-process GPU memory rows."""

    name = "nvml"
    slow = True  # a sick GPU can make NVML calls take seconds

    def __init__(
        self,
        nvml: Any = None,
        pcie_samples: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._nvml = NvmlCalls(nvml)
        self._real_driver = nvml is None
        self._pcie_samples = max(1, pcie_samples)
        self._clock = clock
        self._gpus: List[_Gpu] = []
        self._specs: List[MetricSpec] = []
        self._rows: List[Dict[str, Any]] = []
        self._opened = False

    @classmethod
    def from_options(cls, options: CollectorOptions) -> NvmlCollector:
        # Each throughput sample blocks ~20 ms per direction: fewer at short intervals.
        return cls(pcie_samples=3 if options.interval >= 0.25 else 1)

    # -- contract ------------------------------------------------------------------------------

    def probe(self) -> Availability:
        if (self._real_driver and "pynvml" not in sys.modules
                and not any(os.path.exists(p) for p in DRIVER_NODES)):
            # Spares importing pynvml (tens of ms) on the many machines with no NVIDIA driver.
            return Availability(False, f"no NVIDIA driver loaded (none of {', '.join(DRIVER_NODES)}"
                                       f"; {DRIVER_HINT})")
        try:
            self._nvml.call(None, "init", "nvmlInit")
            try:
                count = self._nvml.call(None, "device_count", "nvmlDeviceGetCount") or 0
                driver = self.driver_version()
            finally:
                self._nvml.call(None, "shutdown", "nvmlShutdown")
        except CollectorError as exc:
            reason = str(exc)
            if DRIVER_HINT not in reason and reason != IMPORT_HINT:
                reason += f" (is the NVIDIA driver loaded? else {DRIVER_HINT})"
            return Availability(False, reason)
        except Exception as exc:  # probe never raises
            return Availability(False, f"NVML probe failed: {exc}")
        if not count:
            return Availability(False, "no NVIDIA GPU found by the driver")
        return Availability(True, f"{count} GPU(s), driver {driver}")

    def open(self) -> None:
        self._nvml.call(None, "init", "nvmlInit")
        self._opened = True
        count = int(self._nvml.call(None, "device_count", "nvmlDeviceGetCount") or 0)
        self._gpus = [self._open_gpu(i) for i in range(count)]
        self._specs = [s for gpu in self._gpus for s in self._gpu_specs(gpu)]

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        """Every GPU's metrics as templates (NVLink and PCIe as the counters they can be)."""
        gpu = _Gpu(index=DEVICE)  # type: ignore[arg-type]
        gpu.fields = [CounterField(q, 0, 1.0) for q, _, _ in _PCIE_FIELDS + _NVLINK_FIELDS]
        return cls._gpu_specs(gpu)

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def collect(self) -> Sequence[float]:
        values: List[float] = []
        rows: List[Dict[str, Any]] = []
        for gpu in self._gpus:
            gpu_values, gpu_rows = self._collect_gpu(gpu)
            values.extend(gpu_values)
            rows.extend(gpu_rows)
        self._rows = rows
        return values

    def table(self) -> Optional[List[Dict[str, Any]]]:
        return list(self._rows)

    def close(self) -> None:
        if self._opened:
            self._opened = False
            try:
                self._nvml.call(None, "shutdown", "nvmlShutdown")
            except CollectorError as exc:
                log.debug("nvmlShutdown: %s", exc)

    # -- public helpers ------------------------------------------------------------------------

    @property
    def pcie_source(self) -> str:
        """'field_counters', 'throughput' or 'mixed': where PCIe bytes/s come from."""
        sources = {gpu.pcie_source for gpu in self._gpus}
        return sources.pop() if len(sources) == 1 else ("mixed" if sources else "none")

    @property
    def degraded_gpus(self) -> List[int]:
        return [gpu.index for gpu in self._gpus if gpu.degraded]

    def gpu_memory_bytes(self, pids: Iterable[int]) -> float:
        """GPU memory held by `pids` on all GPUs at the last collect (see sum_gpu_memory)."""
        return sum_gpu_memory(self._rows, pids)

    def driver_version(self) -> str:
        return text(self._nvml.call(None, "driver_version", "nvmlSystemGetDriverVersion") or "?")

    def system_info(self) -> Dict[str, str]:
        """Driver, NVML and CUDA driver versions and each GPU's name ("?" where unknown)."""
        cuda = self._nvml.call(None, "cuda_version", "nvmlSystemGetCudaDriverVersion")
        info = {
            "driver": self.driver_version(),
            "nvml": text(self._nvml.call(None, "nvml_version", "nvmlSystemGetNVMLVersion") or "?"),
            "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else "?",
        }
        info.update({f"gpu{gpu.index}": gpu.name for gpu in self._gpus})
        return info

    def field_status(self) -> Dict[Optional[int], Dict[str, str]]:
        """Per GPU index (None: global calls), each field key -> 'ok' or why it is empty."""
        out: Dict[Optional[int], Dict[str, str]] = {}
        for (index, key), status in sorted(self._nvml.status.items(), key=lambda kv: str(kv[0])):
            out.setdefault(index, {})[key] = status
        return out

    # -- opening -------------------------------------------------------------------------------

    def _dev(self, gpu: _Gpu, key: str, fn_name: str, *args: Any, **kw: Any) -> Any:
        """A per-device NVML call (the handle goes first) through the one door."""
        return self._nvml.call(gpu, key, fn_name, gpu.handle, *args, **kw)

    def _open_gpu(self, index: int) -> _Gpu:
        gpu = _Gpu(index=index)
        try:
            gpu.handle = self._nvml.call(gpu, "handle", "nvmlDeviceGetHandleByIndex", index)
            gpu.name = text(self._dev(gpu, "name", "nvmlDeviceGetName") or "unknown")
            pcie = self._supported_fields(gpu, "pcie", _PCIE_FIELDS)
            nvlink = self._supported_fields(gpu, "nvlink", _NVLINK_FIELDS)
            gpu.fields = pcie + nvlink
            gpu.pcie_source = "field_counters" if pcie else "throughput"
        except DeviceLost as exc:
            self._mark_degraded(gpu, exc)
        gpu.quantities = [spec.name.split(".", 2)[2] for spec in self._gpu_specs(gpu)]
        return gpu

    def _supported_fields(self, gpu: _Gpu, group: str, wanted: Tuple[Tuple[str, str, bool], ...]
                          ) -> List[CounterField]:
        """The rx/tx pair of counter fields, if this GPU answers both in a trial read."""
        nv = self._nvml.module
        ids = [getattr(nv, constant, None) for _, constant, _ in wanted]
        if None in ids:
            return []  # this nvidia-ml-py predates the field
        fields = [CounterField(q, (i, UINT_MAX) if all_links else i, 1024.0 if all_links else 1.0)
                  for (q, _, all_links), i in zip(wanted, ids)]
        answer = self._dev(gpu, "probe_" + group, "nvmlDeviceGetFieldValues",
                           [f.request for f in fields])
        codes = [int(getattr(fv, "nvmlReturn", 1)) for fv in answer or ()]
        for f, fv, code in zip(fields, answer or (), codes):  # for check_nvml.py's report
            self._nvml.status[(gpu.index, f.quantity)] = (
                f"ok, valueType {getattr(fv, 'valueType', '?')}" if code == 0
                else f"unsupported: field answered NVML error {code}")
        return fields if codes == [0] * len(fields) else []

    @classmethod
    def _gpu_specs(cls, gpu: _Gpu) -> List[MetricSpec]:
        """Gauges, then PCIe bytes/s (counters or gauges), then NVLink counters where present."""
        counters = {f.quantity for f in gpu.fields}
        specs = [cls._spec(gpu, q, unit, help_text) for q, unit, help_text in GPU_GAUGES]
        for bus, template in (("pcie", PCIE_HELP), ("nvlink", NVLINK_HELP)):
            for direction, word in (("rx", "into"), ("tx", "out of")):
                raw, help_text = f"{bus}_{direction}_bytes", template.format(word)
                if raw in counters:
                    specs.append(cls._spec(gpu, raw, "bytes", help_text, COUNTER))
                elif bus == "pcie":
                    specs.append(cls._spec(gpu, raw + "_per_second", "bytes/s", help_text))
        return specs

    @staticmethod
    def _spec(gpu: _Gpu, quantity: str, unit: str, help_text: str, kind: str = GAUGE
              ) -> MetricSpec:
        # Built directly (not with model.gauge) so the label value is "0", not "gpu0",
        # as the Prometheus contract asks: memmap_nvml_gpu_util_percent{gpu="0"}.
        prefix = f"nvml.gpu{gpu.index}"
        return MetricSpec(
            name=f"{prefix}.{quantity}",
            unit=unit,
            kind=kind,
            help=help_text,
            column=f"{prefix}.{quantity}_per_second" if kind == COUNTER else None,
            family=f"nvml.gpu.{quantity}",
            **_meaning(quantity, gpu.index),
            labels=(("gpu", str(gpu.index)), ("name", gpu.name)),
        )

    # -- collecting ----------------------------------------------------------------------------

    def _collect_gpu(self, gpu: _Gpu) -> Tuple[List[float], List[Dict[str, Any]]]:
        empty: Tuple[List[float], List[Dict[str, Any]]] = ([NAN] * len(gpu.quantities), [])
        if gpu.degraded and not self._try_recover(gpu):
            return empty
        try:
            values = self._read_gpu(gpu)
            rows = self._read_processes(gpu)
        except DeviceLost as exc:
            self._mark_degraded(gpu, exc)
            return empty
        gpu.backoff = 1.0
        return [_num(values.get(q)) for q in gpu.quantities], rows

    def _mark_degraded(self, gpu: _Gpu, exc: BaseException) -> None:
        if not gpu.degraded:
            log.warning("%s; its columns stay empty until it answers again", exc)
        gpu.degraded = True
        gpu.retry_at = self._clock() + gpu.backoff
        gpu.backoff = min(gpu.backoff * 2, BACKOFF_MAX_SECONDS)

    def _try_recover(self, gpu: _Gpu) -> bool:
        if self._clock() < gpu.retry_at:
            return False
        try:
            handle = self._nvml.call(gpu, "handle", "nvmlDeviceGetHandleByIndex", gpu.index)
        except DeviceLost as exc:
            self._mark_degraded(gpu, exc)
            return False
        gpu.handle, gpu.degraded = handle, False
        log.warning("GPU %d answers again", gpu.index)
        return True

    def _read_gpu(self, gpu: _Gpu) -> Dict[str, Any]:
        values: Dict[str, Any] = {}
        readers = (self._read_util, self._read_memory, self._read_bar1, self._read_link,
                   self._read_sensors, self._read_fields, self._read_throughput)
        for reader in readers:
            values.update(reader(gpu))
        return values

    def _read_util(self, gpu: _Gpu) -> Dict[str, Any]:
        util = self._dev(gpu, "util", "nvmlDeviceGetUtilizationRates")
        return {} if util is None else {"util_percent": util.gpu, "mem_util_percent": util.memory}

    def _read_memory(self, gpu: _Gpu) -> Dict[str, Any]:
        version = getattr(self._nvml.module, "nvmlMemory_v2", None)
        mem = None
        if version is not None:  # v2 splits the driver's reserved memory out of "used"
            mem = self._dev(gpu, "memory_v2", "nvmlDeviceGetMemoryInfo", version=version)
        if mem is None:
            mem = self._dev(gpu, "memory", "nvmlDeviceGetMemoryInfo")
        if mem is None:
            return {}
        return {"mem_used_bytes": mem.used, "mem_total_bytes": mem.total,
                "mem_reserved_bytes": getattr(mem, "reserved", None)}

    def _read_bar1(self, gpu: _Gpu) -> Dict[str, Any]:
        bar1 = self._dev(gpu, "bar1", "nvmlDeviceGetBAR1MemoryInfo")
        if bar1 is None:
            return {}
        return {"bar1_used_bytes": bar1.bar1Used, "bar1_total_bytes": bar1.bar1Total}

    def _read_link(self, gpu: _Gpu) -> Dict[str, Any]:
        gen = self._dev(gpu, "pcie_link_gen", "nvmlDeviceGetCurrPcieLinkGeneration")
        width = self._dev(gpu, "pcie_link_width", "nvmlDeviceGetCurrPcieLinkWidth")
        return {"pcie_link_gen": gen, "pcie_link_width": width,
                "pcie_link_max_bytes_per_second": pcie_link_max_bytes_per_second(gen, width)}

    def _read_sensors(self, gpu: _Gpu) -> Dict[str, Any]:
        nv = self._nvml.module
        milliwatts = self._dev(gpu, "power", "nvmlDeviceGetPowerUsage")
        return {
            "power_watts": None if milliwatts is None else milliwatts / 1000.0,
            "temperature_celsius": self._dev(gpu, "temperature", "nvmlDeviceGetTemperature",
                                             getattr(nv, "NVML_TEMPERATURE_GPU", 0)),
            "sm_clock_mhz": self._dev(gpu, "sm_clock", "nvmlDeviceGetClockInfo",
                                      getattr(nv, "NVML_CLOCK_SM", 1)),
            "mem_clock_mhz": self._dev(gpu, "mem_clock", "nvmlDeviceGetClockInfo",
                                       getattr(nv, "NVML_CLOCK_MEM", 2)),
        }

    def _read_fields(self, gpu: _Gpu) -> Dict[str, Any]:
        """PCIe/NVLink byte counters (raw, cumulative; scaled to bytes)."""
        if not gpu.fields:
            return {}
        answer = self._dev(gpu, "field_values", "nvmlDeviceGetFieldValues",
                           [f.request for f in gpu.fields])
        out: Dict[str, Any] = {}
        for f, fv in zip(gpu.fields, answer or ()):
            code = int(getattr(fv, "nvmlReturn", 1))
            if code == 0:
                bits = field_bits(fv)
                out[f.quantity] = f.total(field_number(fv), bits)
                if bits is not None:
                    self._nvml.log_once(("narrow", gpu.index, f.quantity), (
                        f"GPU {gpu.index}: {f.quantity} is a {bits}-bit counter: more than "
                        f"2**{bits} per interval is undercounted; a shorter --interval helps"))
            else:
                self._nvml.log_once(("field", gpu.index, f.quantity, code),
                                    f"GPU {gpu.index}: {f.quantity} answered NVML error {code}")
        return out

    def _read_throughput(self, gpu: _Gpu) -> Dict[str, Any]:
        """Fallback: the mean of several ~20 ms nvmlDeviceGetPcieThroughput windows (KB/s)."""
        if gpu.pcie_source != "throughput":
            return {}
        nv, out = self._nvml.module, {}
        for direction, constant, default in (("rx", "NVML_PCIE_UTIL_RX_BYTES", 1),
                                             ("tx", "NVML_PCIE_UTIL_TX_BYTES", 0)):
            readings = []
            for _ in range(self._pcie_samples):
                kb = self._dev(gpu, "pcie_throughput", "nvmlDeviceGetPcieThroughput",
                               getattr(nv, constant, default))
                if kb is None:
                    break
                readings.append(float(kb))
            if readings:
                out[f"pcie_{direction}_bytes_per_second"] = 1024.0 * sum(readings) / len(readings)
        return out

    def _read_processes(self, gpu: _Gpu) -> List[Dict[str, Any]]:
        merged: Dict[int, Dict[str, Any]] = {}
        for key, fn_name, kind in (
            ("compute_processes", "nvmlDeviceGetComputeRunningProcesses", "C"),
            ("graphics_processes", "nvmlDeviceGetGraphicsRunningProcesses", "G"),
        ):
            for proc in self._dev(gpu, key, fn_name) or ():
                merge_process_row(merged, gpu.index, gpu.name, proc, kind)
        return list(merged.values())


def _num(value: Any) -> float:
    try:
        return NAN if value is None else float(value)
    except (TypeError, ValueError):
        return NAN
