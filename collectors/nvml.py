"""NVIDIA GPUs through NVML (nvidia-ml-py, `import pynvml`).

Sources (every call goes through `NvmlCalls.call` in collectors/nvml_calls.py):
  nvmlDeviceGetUtilizationRates       util_percent, mem_util_percent (percent of the last
                                      sample period, 1/6 s to 1 s depending on the GPU)
  nvmlDeviceGetMemoryInfo (v2 / v1)   mem_used_bytes, mem_total_bytes, mem_reserved_bytes (v2 only;
                                      with v2 "used" excludes the driver's reserved memory)
  nvmlDeviceGetBAR1MemoryInfo         bar1_used_bytes, bar1_total_bytes
  nvmlDeviceGetFieldValues            PCIe and NVLink byte counters (collectors/nvml_pcie.py)
  nvmlDeviceGetPcieThroughput         PCIe KB/s over ~20 ms windows: the fallback, on a thread
  nvmlDeviceGetCurrPcieLinkGeneration/Width   pcie_link_gen, pcie_link_width, and the link's
                                      theoretical pcie_link_max_bytes_per_second
  nvmlDeviceGetPowerUsage             power_watts (NVML gives milliwatts)
  nvmlDeviceGetTemperatureV (or the older nvmlDeviceGetTemperature, marked for removal)
                                      temperature_celsius (GPU die sensor)
  nvmlDeviceGetClockInfo              sm_clock_mhz, mem_clock_mhz
  nvmlGpm*                            sm_active_percent, dram_bw_util_percent (collectors/gpm.py)
  nvmlDevice{Compute,Graphics}RunningProcesses   per-process GPU memory, in `table()`
                                      (collectors/nvml_procs.py)

Columns are `nvml.gpu<i>.<quantity>`, i being NVML's index, with labels gpu="<i>" and
name="<device name>"; `gpu_specs` (collectors/nvml_specs.py) declares them, with their label, pane
and roles, for `open()` and `catalog()` alike.

PCIe bytes/s: where the driver answers NVML_FI_DEV_PCIE_COUNT_RX_BYTES / _TX_BYTES (field ids 198 /
197, drivers 555 and later) with a counter that cannot wrap twice between two readings, they are
COUNTER specs `nvml.gpu<i>.pcie_rx_bytes` of raw bytes whose rate is taken over NVML's own
timestamps of the two values (`pcie_source == "field_counters"`). Otherwise the mean of
`nvmlDeviceGetPcieThroughput` windows, read on a thread of their own, gives GAUGES of the same
column names (`pcie_source == "throughput"`). rx is into the GPU (host-to-device copies), tx is out
of it. NVLink data bytes (all links) become counters `nvlink_rx_bytes` / `nvlink_tx_bytes` where
the GPU answers.

Errors (see nvml_calls.py): an unsupported field is NaN, logged once and asked again only after a
long backoff; a missing function is never asked again; GpuIsLost / ResetRequired marks that GPU
degraded (its columns NaN, retried with slow.Backoff) while the other GPUs go on; Unknown and other
errors are NaN for that reading only. A GPU whose handle is refused at open (or that is lost while
it is set up) is left out, with no columns, and `left_out` says why. The per-process table is None
(unknown) when any GPU's process lists cannot be read, never an empty list that sums to 0 B.

Known gaps: the link generation/width are the *current* ones and drop at idle (power saving);
MIG instances are not split out; per-process memory uses host PIDs, so inside a container without
the host PID namespace rows may be missing; util_percent is NVML's "a kernel was running" time
(sm_active_percent, where GPM exists, says how busy); a GPU that comes back after being lost keeps
the columns it had at open.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from memmap_tui.collector import Availability, Collector, CollectorError, CollectorOptions
from memmap_tui.model import DEVICE, NAN, MetricSpec
from memmap_tui.slow import Backoff

from .gpm import GpmSampler
from .gpu_common import merge_process_row, pcie_link_max_bytes_per_second, sum_gpu_memory
from .nvml_calls import DRIVER_HINT, IMPORT_HINT, DeviceLost, NvmlCalls, text
from .nvml_pcie import (
    NVLINK_FIELDS,
    NVLINK_MAX_BYTES_PER_SECOND,
    PCIE_FIELDS,
    CounterField,
    ThroughputSampler,
    counter_fields,
    read_counters,
)
from .nvml_specs import ALL_COUNTERS, gpu_specs

if TYPE_CHECKING:
    from .nvml_procs import ProcessLists

log = logging.getLogger("memmap_tui.nvml")

# Where a loaded NVIDIA driver shows itself: Linux, and WSL2's GPU paravirtualisation device.
DRIVER_NODES = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg")


@dataclass
class _Gpu:
    index: int
    handle: Any = None
    name: str = "unknown"
    quantities: List[str] = field(default_factory=list)
    fields: List[CounterField] = field(default_factory=list)
    pcie_source: str = "throughput"
    gpm: bool = False
    skip: Dict[str, Backoff] = field(default_factory=dict)
    degraded: bool = False
    backoff: Backoff = field(default_factory=Backoff)


class NvmlCollector(Collector):
    """Per-GPU gauges and counters from NVML, and per-process GPU memory rows."""

    name = "nvml"
    slow = True  # a sick GPU can make NVML calls take seconds

    def __init__(self, nvml: Any = None, interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._nvml = NvmlCalls(nvml, clock)
        self._real_driver = nvml is None
        self._interval = interval
        self._clock, self._wall = clock, wall
        self._gpus: List[_Gpu] = []
        self._specs: List[MetricSpec] = []
        self._rows: Optional[List[Dict[str, Any]]] = []
        self._procs: Optional[ProcessLists] = None
        self._pcie = ThroughputSampler(self._nvml, max(interval / 3, 0.05), clock)
        self._gpm = GpmSampler(self._nvml, clock)
        self._opened = False
        self.left_out: Dict[int, str] = {}

    @classmethod
    def from_options(cls, options: CollectorOptions) -> NvmlCollector:
        return cls(interval=options.interval)

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return gpu_specs(DEVICE, "", ALL_COUNTERS, gpm=True)

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
                count = int(self._nvml.call(None, "device_count", "nvmlDeviceGetCount") or 0)
                driver = self.driver_version()
                refused = {i: why for i in range(count) for why in [self._refusal(i)] if why}
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
        if len(refused) == count:
            return Availability(False, f"no GPU answers: GPU 0: {refused[0]}")
        left = "".join(f"; GPU {i} left out: {why}" for i, why in refused.items())
        return Availability(True, f"{count} GPU(s), driver {driver}{left}")

    def open(self) -> None:
        from .nvml_procs import ProcessLists  # ctypes: only where there is a GPU to ask

        self._nvml.call(None, "init", "nvmlInit")
        self._opened = True
        self._procs = ProcessLists(self._nvml, self.driver_version())
        count = int(self._nvml.call(None, "device_count", "nvmlDeviceGetCount") or 0)
        self._gpus = [gpu for gpu in map(self._open_gpu, range(count)) if gpu is not None]
        self._specs = []
        for gpu in self._gpus:
            specs = gpu_specs(str(gpu.index), gpu.name, [f.quantity for f in gpu.fields], gpu.gpm)
            gpu.quantities = [s.name.split(".", 2)[2] for s in specs]
            self._specs += specs
        self._pcie.start([gpu for gpu in self._gpus if gpu.pcie_source == "throughput"])

    def notes(self) -> List[str]:
        return [f"GPU {index} left out: {why}" for index, why in sorted(self.left_out.items())]

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def collect(self) -> Sequence[float]:
        values: List[float] = []
        rows: Optional[List[Dict[str, Any]]] = []
        for gpu in self._gpus:
            gpu_values, gpu_rows = self._collect_gpu(gpu)
            values.extend(gpu_values)
            rows = None if rows is None or gpu_rows is None else rows + gpu_rows
        self._rows = rows
        return values

    def table(self) -> Optional[List[Dict[str, Any]]]:
        """GPU processes of the last reading; None when some GPU's lists could not be read."""
        return None if self._rows is None else list(self._rows)

    def close(self) -> None:
        self._pcie.stop()
        if self._opened:
            self._opened = False
            self._gpm.close()
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
        """GPU memory held by `pids` on all GPUs at the last collect (see sum_gpu_memory);
        NaN when the process lists could not be read."""
        return NAN if self._rows is None else sum_gpu_memory(self._rows, pids)

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
        status = dict(self._nvml.status)  # one copy: the PCIe thread may add to it
        for (index, key), value in sorted(status.items(), key=lambda kv: str(kv[0])):
            out.setdefault(index, {})[key] = value
        return out

    # -- opening -------------------------------------------------------------------------------

    def _dev(self, gpu: _Gpu, key: str, fn_name: str, *args: Any, **kw: Any) -> Any:
        """A per-device NVML call (the handle goes first) through the one door."""
        return self._nvml.call(gpu, key, fn_name, gpu.handle, *args, **kw)

    def _refusal(self, index: int) -> str:
        """Why NVML refuses a handle for GPU `index`; "" when it gives one."""
        gpu = _Gpu(index=index)
        try:
            gpu.handle = self._nvml.call(gpu, "handle", "nvmlDeviceGetHandleByIndex", index)
        except DeviceLost as exc:
            return str(exc)
        if gpu.handle is None:
            return self._nvml.status.get((index, "handle"), "no handle")
        return ""

    def _open_gpu(self, index: int) -> Optional[_Gpu]:
        """The GPU set up for reading, or None (left out, and said why) when NVML refuses it."""
        gpu = _Gpu(index=index)
        try:
            gpu.handle = self._nvml.call(gpu, "handle", "nvmlDeviceGetHandleByIndex", index)
            if gpu.handle is not None:
                self._set_up(gpu)
        except DeviceLost as exc:
            self._leave_out(index, str(exc))
            return None
        if gpu.handle is None:
            self._leave_out(index, self._nvml.status.get((index, "handle"), "no handle"))
            return None
        return gpu

    def _leave_out(self, index: int, why: str) -> None:
        self.left_out[index] = why
        log.warning("GPU %d left out, it has no columns: %s", index, why)

    def _set_up(self, gpu: _Gpu) -> None:
        gpu.name = text(self._dev(gpu, "name", "nvmlDeviceGetName") or "unknown")
        gen = self._dev(gpu, "pcie_link_gen_max", "nvmlDeviceGetMaxPcieLinkGeneration")
        width = self._dev(gpu, "pcie_link_width_max", "nvmlDeviceGetMaxPcieLinkWidth")
        pcie = counter_fields(self._nvml, gpu, "pcie", PCIE_FIELDS,
                              pcie_link_max_bytes_per_second(gen, width), self._interval)
        nvlink = counter_fields(self._nvml, gpu, "nvlink", NVLINK_FIELDS,
                                NVLINK_MAX_BYTES_PER_SECOND, self._interval)
        gpu.fields = pcie + nvlink
        gpu.pcie_source = "field_counters" if pcie else "throughput"
        gpu.gpm = self._gpm.supported(gpu)
        if gpu.gpm:
            self._gpm.open(gpu)

    # -- collecting ----------------------------------------------------------------------------

    def _collect_gpu(self, gpu: _Gpu) -> Tuple[List[float], Optional[List[Dict[str, Any]]]]:
        empty: Tuple[List[float], Optional[List[Dict[str, Any]]]] = (
            [NAN] * len(gpu.quantities), None)
        if gpu.degraded and not self._try_recover(gpu):
            return empty
        try:
            values = self._read_gpu(gpu)
            procs = self._procs.read(gpu) if self._procs is not None else None
        except DeviceLost as exc:
            self._mark_degraded(gpu, exc)
            return empty
        gpu.backoff.succeeded()
        rows: Optional[List[Dict[str, Any]]] = None
        if procs is not None:
            merged: Dict[int, Dict[str, Any]] = {}
            for proc, kind in procs:
                merge_process_row(merged, gpu.index, gpu.name, proc, kind)
            rows = list(merged.values())
        return [_num(values.get(q)) for q in gpu.quantities], rows

    def _mark_degraded(self, gpu: _Gpu, exc: BaseException) -> None:
        if not gpu.degraded:
            log.warning("%s; its columns stay empty until it answers again", exc)
        gpu.degraded = True
        gpu.backoff.failed(self._clock())

    def _try_recover(self, gpu: _Gpu) -> bool:
        if not gpu.backoff.due(self._clock()):
            return False
        try:
            handle = self._nvml.call(gpu, "handle", "nvmlDeviceGetHandleByIndex", gpu.index)
        except DeviceLost as exc:
            self._mark_degraded(gpu, exc)
            return False
        if handle is None:
            self._mark_degraded(gpu, DeviceLost(f"GPU {gpu.index}: no handle"))
            return False
        gpu.handle, gpu.degraded = handle, False
        gpu.skip.clear()  # a reset may have changed what it supports (MIG mode)
        self._gpm.restart(gpu)
        log.warning("GPU %d answers again", gpu.index)
        return True

    def _read_gpu(self, gpu: _Gpu) -> Dict[str, Any]:
        values: Dict[str, Any] = {}
        values.update(self._read_util(gpu))
        values.update(self._read_memory(gpu))
        values.update(self._read_bar1(gpu))
        values.update(self._read_link(gpu))
        values.update(self._read_sensors(gpu))
        values.update(read_counters(self._nvml, gpu, gpu.fields, self._wall))
        if gpu.pcie_source == "throughput":
            values.update(self._pcie.rates(gpu.index))
        if gpu.gpm:
            values.update(self._gpm.read(gpu))
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
        sensor = getattr(nv, "NVML_TEMPERATURE_GPU", 0)
        temperature = self._dev(gpu, "temperature_v", "nvmlDeviceGetTemperatureV", sensor)
        if temperature is None:  # nvidia-ml-py < 12.570 or a driver without it
            temperature = self._dev(gpu, "temperature", "nvmlDeviceGetTemperature", sensor)
        return {
            "power_watts": None if milliwatts is None else milliwatts / 1000.0,
            "temperature_celsius": temperature,
            "sm_clock_mhz": self._dev(gpu, "sm_clock", "nvmlDeviceGetClockInfo",
                                      getattr(nv, "NVML_CLOCK_SM", 1)),
            "mem_clock_mhz": self._dev(gpu, "mem_clock", "nvmlDeviceGetClockInfo",
                                       getattr(nv, "NVML_CLOCK_MEM", 2)),
        }


def _num(value: Any) -> float:
    try:
        return NAN if value is None else float(value)
    except (TypeError, ValueError):
        return NAN
