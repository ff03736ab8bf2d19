"""A stand-in for libnvidia-ml.so.1 beneath the real nvidia-ml-py, for machines without a GPU.

Only the shared library is faked. The real nvidia-ml-py module runs unchanged: its ctypes
structures, its function wrappers, its NVMLError subclasses and NVMLLibraryMismatchError. Each test
gets a fresh copy of the wheel's `pynvml.py` (the installed one, or the wheel or pynvml.py named by
MEMMAP_NVML_WHEEL) whose `nvmlLib` is a `FakeLib`. The wheel looks symbols up with
`getattr(nvmlLib, name)`, as on a ctypes CDLL, so a symbol this driver lacks is an attribute that
does not exist, and the wheel turns that into NVMLError_FunctionNotFound itself.

Every C function takes the ctypes arguments the wheel passes (byref() of its structures, string
buffers, arrays) and writes memory as nvml.h lays it out:
  nvmlFieldValue_t      {uint fieldId; uint scopeId; long long timestamp (us since 1970);
                         long long latencyUsec; nvmlValueType_t valueType; nvmlReturn_t
                         nvmlReturn; nvmlValue_t value} = 40 bytes (checked against the wheel)
  process entries       written as raw bytes in the driver's layout, whatever struct the wheel
                        reads with: {uint pid; ull usedGpuMemory; uint gpuInstanceId; uint
                        computeInstanceId} = 24 bytes for the _v2/_v3 symbols (32, with a trailing
                        ull usedGpuCcProtectedMemory, for drivers 535.x < 535.98), {uint pid; ull
                        usedGpuMemory} = 16 for the unversioned symbol
  nvmlMemory_v2_t       version must be nvmlMemory_v2 = sizeof | 2 << 24 = 0x02000028
  nvmlTemperature_v1_t  {uint version; sensorType; int temperature}, version 0x0100000C
  nvmlGpmSupport_t      {uint version; uint isSupportedDevice}
  nvmlGpmMetricsGet_t   {uint version; uint numMetrics; sample1; sample2; metrics[] {uint
                         metricId; nvmlReturn_t nvmlReturn; double value; metricInfo}}
Return codes are nvml.h's nvmlReturn_t, taken from the wheel's NVML_ERROR_* constants.
"""

from __future__ import annotations

import ctypes
import importlib.util
import itertools
import os
import struct
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

UINT_MAX = 0xFFFFFFFF
ULL_NOT_AVAILABLE = 0xFFFFFFFFFFFFFFFF
HANDLE_BASE = 0x10000
SAMPLE_BASE = 0x900000
R470_LACKS = ("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v3",
              "nvmlDeviceGetMPSComputeRunningProcesses_v3", "nvmlDeviceGetMemoryInfo_v2",
              "nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleGet",
              "nvmlGpmMetricsGet", "nvmlGpmSampleFree", "nvmlDeviceGetTemperatureV")
_counter = itertools.count()


def wheel_source() -> Optional[str]:
    """The pynvml.py the tests run against: MEMMAP_NVML_WHEEL, else the installed one."""
    wanted = os.environ.get("MEMMAP_NVML_WHEEL")
    if wanted:
        return _pynvml_py(Path(wanted))
    spec = importlib.util.find_spec("pynvml")
    return spec.origin if spec is not None else None


def _pynvml_py(path: Path) -> str:
    if path.suffix != ".whl":
        return str(path)
    out = Path(tempfile.gettempdir()) / f"memmap-pynvml-{path.stem}"
    if not (out / "pynvml.py").exists():
        with zipfile.ZipFile(path) as whl:
            whl.extract("pynvml.py", out)
    return str(out / "pynvml.py")


def wheel_version(source: Optional[str] = None) -> str:
    """The nvidia-ml-py version of `source` (its wheel's name, or the installed distribution)."""
    wanted = os.environ.get("MEMMAP_NVML_WHEEL") if source is None else source
    if wanted and "nvidia_ml_py-" in wanted:
        return wanted.split("nvidia_ml_py-")[1].split("-")[0]
    from importlib.metadata import version

    return version("nvidia-ml-py")


def load_pynvml(source: Optional[str] = None) -> ModuleType:
    """A fresh copy of nvidia-ml-py's pynvml module (its own globals, error classes, caches)."""
    path = source or wheel_source()
    if path is None:
        raise RuntimeError("nvidia-ml-py is not installed")
    spec = importlib.util.spec_from_file_location(f"pynvml_standin_{next(_counter)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeGpu:
    """What one GPU answers. `errors`: C symbol -> NVML return code it fails with."""

    name: str = "NVIDIA H100 80GB HBM3"
    util: int = 42
    mem_util: int = 17
    used: int = 30 * 2**30
    total: int = 80 * 2**30
    reserved: int = 512 * 2**20
    bar1_used: int = 12 * 2**20
    bar1_total: int = 128 * 2**30
    link_gen: int = 5
    link_width: int = 16
    max_link_gen: int = 5
    max_link_width: int = 16
    power_mw: int = 312_500
    temp: int = 61
    sm_clock: int = 1980
    mem_clock: int = 2619
    pcie_counters: bool = True  # answers NVML_FI_DEV_PCIE_COUNT_*
    pcie_rx_total: int = 10_000_000
    pcie_tx_total: int = 2_000_000
    field_time_us: int = 1_700_000_000_000_000  # nvmlFieldValue_t.timestamp
    field_value_type: int = 3  # NVML_VALUE_TYPE_UNSIGNED_LONG_LONG
    live_rx_bytes_per_second: float = 0.0  # > 0: field 198 grows with the real clock
    nvlink: bool = False
    nvlink_links_kib: List[int] = field(default_factory=lambda: [100, 200])
    throughput_kb: Dict[int, List[int]] = field(default_factory=lambda: {1: [1000, 2000, 3000],
                                                                          0: [10, 20, 30]})
    throughput_delay: float = 0.0  # seconds each window blocks (about 0.02 on real GPUs)
    gpm: bool = True
    sm_active: float = 63.5
    dram_bw: float = 21.25
    gpm_metric_error: int = 0  # per-metric nvmlReturn
    compute: List[Any] = field(default_factory=list)
    graphics: List[Any] = field(default_factory=list)
    errors: Dict[str, int] = field(default_factory=dict)
    handle_error: int = 0
    lost: bool = False


class _Symbol:
    """A C function of the fake library: callable, and takes attributes (restype, argtypes)."""

    def __init__(self, fn: Callable[..., int]) -> None:
        self._fn = fn
        self.__name__ = fn.__name__

    def __call__(self, *args: Any) -> Any:
        return self._fn(*args)


def _obj(arg: Any) -> Any:
    """The ctypes object behind a byref() argument (or the argument itself)."""
    return getattr(arg, "_obj", arg)


def _address(pointer: Any) -> int:
    return ctypes.cast(pointer, ctypes.c_void_p).value or 0


def _set_pointer(target: Any, value: int) -> None:
    ctypes.memmove(ctypes.addressof(target), ctypes.byref(ctypes.c_void_p(value)),
                   ctypes.sizeof(ctypes.c_void_p))


def _value(arg: Any) -> int:
    return int(getattr(arg, "value", arg))


class FakeLib:
    """libnvidia-ml.so.1 as nvidia-ml-py sees it: C symbols as attributes."""

    def __init__(self, module: ModuleType, gpus: Sequence[FakeGpu], driver: str = "560.35.03",
                 hidden: Sequence[str] = (), init_error: int = 0,
                 clock: Optional[Callable[[], float]] = None) -> None:
        self._m = module
        self.gpus = list(gpus)
        self.driver = driver
        self.hidden = set(hidden)
        self.init_error = init_error
        self.clock = clock or (lambda: 0.0)
        self.calls: Counter = Counter()
        self.initialised = 0
        self.samples: Dict[int, Optional[tuple]] = {}  # address -> (gpu, time) once taken
        self.gpm_problems: List[str] = []
        self._symbols: Dict[str, _Symbol] = {}
        assert ctypes.sizeof(module.c_nvmlFieldValue_t) == 40, "nvml.h nvmlFieldValue_t"

    def __getattr__(self, name: str) -> _Symbol:
        impl = getattr(type(self), "c_" + name, None)
        self.calls[("lookup", name)] += 1
        if name in self.hidden or impl is None:
            raise AttributeError(name)  # ctypes.CDLL: undefined symbol
        if name not in self._symbols:
            bound = impl.__get__(self)

            def symbol(*args: Any, _name: str = name, _bound: Any = bound) -> int:
                return self._enter(_name, args, _bound)

            symbol.__name__ = name
            self._symbols[name] = _Symbol(symbol)
        return self._symbols[name]

    @property
    def process_entry_bytes(self) -> int:
        """What this driver writes per _v2/_v3 process entry (nvml.h; 535.x < 98: 32)."""
        major, minor = (int(x) for x in self.driver.split(".")[:2])
        return 32 if major == 535 and minor < 98 else 24

    # -- dispatch ----------------------------------------------------------------------------

    def _enter(self, name: str, args: Sequence[Any], impl: Callable[..., int]) -> int:
        gpu = self._gpu_of(args[0]) if args and self._takes_device(name) else None
        self.calls[(name, self.gpus.index(gpu) if gpu is not None else None)] += 1
        if gpu is not None:
            if gpu.lost:
                return self._m.NVML_ERROR_GPU_IS_LOST
            if name in gpu.errors:
                return gpu.errors[name]
        return impl(gpu, *args[1:]) if gpu is not None else impl(*args)

    @staticmethod
    def _takes_device(name: str) -> bool:
        return name.startswith("nvmlDevice") and not name.startswith(
            ("nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex")) or name in (
            "nvmlGpmQueryDeviceSupport", "nvmlGpmSampleGet")

    def _gpu_of(self, handle: Any) -> FakeGpu:
        index, rest = divmod(_address(handle) - HANDLE_BASE, 16)
        assert rest == 0 and 0 <= index < len(self.gpus), "not a handle this library gave"
        return self.gpus[index]

    # -- system ------------------------------------------------------------------------------

    def c_nvmlInitWithFlags(self, flags: Any) -> int:
        if self.init_error:
            return self.init_error
        self.initialised += 1
        return 0

    def c_nvmlInit_v2(self) -> int:
        return self.c_nvmlInitWithFlags(0)

    def c_nvmlShutdown(self) -> int:
        self.initialised -= 1
        return 0

    def c_nvmlErrorString(self, code: Any) -> bytes:
        return f"NVML error {_value(code)}".encode()

    def c_nvmlSystemGetDriverVersion(self, buf: Any, size: Any) -> int:
        buf.value = self.driver.encode()
        return 0

    def c_nvmlSystemGetNVMLVersion(self, buf: Any, size: Any) -> int:
        buf.value = ("12." + self.driver).encode()
        return 0

    def c_nvmlSystemGetCudaDriverVersion(self, out: Any) -> int:
        _obj(out).value = 12060
        return 0

    c_nvmlSystemGetCudaDriverVersion_v2 = c_nvmlSystemGetCudaDriverVersion

    def c_nvmlDeviceGetCount_v2(self, out: Any) -> int:
        _obj(out).value = len(self.gpus)
        return 0

    def c_nvmlDeviceGetHandleByIndex_v2(self, index: Any, out: Any) -> int:
        gpu = self.gpus[_value(index)]
        self.calls[("handle", _value(index))] += 1
        if gpu.handle_error:
            return gpu.handle_error
        if gpu.lost:
            return self._m.NVML_ERROR_GPU_IS_LOST
        _set_pointer(_obj(out), HANDLE_BASE + 16 * _value(index))
        return 0

    # -- device ------------------------------------------------------------------------------

    def c_nvmlDeviceGetName(self, gpu: FakeGpu, buf: Any, size: Any) -> int:
        buf.value = gpu.name.encode()
        return 0

    def c_nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu, out: Any) -> int:
        _obj(out).gpu, _obj(out).memory = gpu.util, gpu.mem_util
        return 0

    def c_nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu, out: Any) -> int:
        mem = _obj(out)  # v1 counts the driver's reserved memory as used
        mem.total, mem.used, mem.free = gpu.total, gpu.used + gpu.reserved, gpu.total - gpu.used
        return 0

    def c_nvmlDeviceGetMemoryInfo_v2(self, gpu: FakeGpu, out: Any) -> int:
        mem = _obj(out)
        if mem.version != (ctypes.sizeof(mem) | 2 << 24):
            return self._m.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
        mem.total, mem.reserved, mem.used = gpu.total, gpu.reserved, gpu.used
        mem.free = gpu.total - gpu.used - gpu.reserved
        return 0

    def c_nvmlDeviceGetBAR1MemoryInfo(self, gpu: FakeGpu, out: Any) -> int:
        bar1 = _obj(out)
        bar1.bar1Total, bar1.bar1Used = gpu.bar1_total, gpu.bar1_used
        bar1.bar1Free = gpu.bar1_total - gpu.bar1_used
        return 0

    def _uint(self, out: Any, value: int) -> int:
        _obj(out).value = value
        return 0

    def c_nvmlDeviceGetCurrPcieLinkGeneration(self, gpu: FakeGpu, out: Any) -> int:
        return self._uint(out, gpu.link_gen)

    def c_nvmlDeviceGetCurrPcieLinkWidth(self, gpu: FakeGpu, out: Any) -> int:
        return self._uint(out, gpu.link_width)

    def c_nvmlDeviceGetMaxPcieLinkGeneration(self, gpu: FakeGpu, out: Any) -> int:
        return self._uint(out, gpu.max_link_gen)

    def c_nvmlDeviceGetMaxPcieLinkWidth(self, gpu: FakeGpu, out: Any) -> int:
        return self._uint(out, gpu.max_link_width)

    def c_nvmlDeviceGetPowerUsage(self, gpu: FakeGpu, out: Any) -> int:
        return self._uint(out, gpu.power_mw)

    def c_nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: Any, out: Any) -> int:
        return self._uint(out, gpu.temp)

    def c_nvmlDeviceGetTemperatureV(self, gpu: FakeGpu, out: Any) -> int:
        temp = _obj(out)
        if temp.version != (ctypes.sizeof(temp) | 1 << 24):
            return self._m.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
        temp.temperature = gpu.temp
        return 0

    def c_nvmlDeviceGetClockInfo(self, gpu: FakeGpu, clock: Any, out: Any) -> int:
        return self._uint(out, {1: gpu.sm_clock, 2: gpu.mem_clock}[_value(clock)])

    def c_nvmlDeviceGetPcieThroughput(self, gpu: FakeGpu, counter: Any, out: Any) -> int:
        time.sleep(gpu.throughput_delay)
        readings = gpu.throughput_kb[_value(counter)]
        readings.append(readings.pop(0))  # the next ~20 ms window
        return self._uint(out, readings[-1])

    def c_nvmlDeviceGetFieldValues(self, gpu: FakeGpu, count: Any, values: Any) -> int:
        array = _obj(values)
        for i in range(_value(count)):
            self._field(gpu, array[i])
        return 0

    def _field(self, gpu: FakeGpu, fv: Any) -> None:
        kib = gpu.nvlink_links_kib
        link = sum(kib) if fv.scopeId == UINT_MAX else kib[min(fv.scopeId, len(kib) - 1)]
        values = {
            198: gpu.pcie_rx_total if gpu.pcie_counters else None,
            197: gpu.pcie_tx_total if gpu.pcie_counters else None,
            139: link if gpu.nvlink else None,
            138: 2 * link if gpu.nvlink else None,
        }
        value = values.get(fv.fieldId)
        fv.timestamp, fv.latencyUsec = gpu.field_time_us, 3
        if gpu.live_rx_bytes_per_second and fv.fieldId == 198:
            now_us = int(time.time() * 1e6)
            fv.timestamp, value = now_us, int(gpu.live_rx_bytes_per_second * now_us / 1e6)
        fv.valueType = gpu.field_value_type
        fv.nvmlReturn = 0 if value is not None else self._m.NVML_ERROR_NOT_SUPPORTED
        if value is not None:
            member = {1: "uiVal", 6: "usVal"}.get(gpu.field_value_type, "ullVal")
            bits = {"uiVal": 32, "usVal": 16}.get(member, 64)
            setattr(fv.value, member, value % 2**bits)

    # -- processes ---------------------------------------------------------------------------

    def _processes(self, entries: List[Any], count: Any, out: Any, entry_bytes: int) -> int:
        wanted = _obj(count)
        if out is None or wanted.value < len(entries):
            wanted.value = len(entries)
            return 0 if not entries else self._m.NVML_ERROR_INSUFFICIENT_SIZE
        array = _obj(out)
        assert ctypes.sizeof(array) >= len(entries) * entry_bytes, "driver would overrun"
        raw = b"".join(self._entry(p, entry_bytes) for p in entries)
        ctypes.memmove(ctypes.addressof(array), raw, len(raw))
        wanted.value = len(entries)
        return 0

    @staticmethod
    def _entry(proc: Any, entry_bytes: int) -> bytes:
        used = ULL_NOT_AVAILABLE if proc.usedGpuMemory is None else proc.usedGpuMemory
        if entry_bytes == 16:
            return struct.pack("<I4xQ", proc.pid, used)
        entry = struct.pack("<I4xQII", proc.pid, used, UINT_MAX, UINT_MAX)
        return entry + (struct.pack("<Q", 0) if entry_bytes == 32 else b"")

    def c_nvmlDeviceGetComputeRunningProcesses_v3(self, gpu: FakeGpu, count: Any, out: Any) -> int:
        return self._processes(gpu.compute, count, out, self.process_entry_bytes)

    def c_nvmlDeviceGetGraphicsRunningProcesses_v3(self, gpu: FakeGpu, count: Any, out: Any
                                                   ) -> int:
        return self._processes(gpu.graphics, count, out, self.process_entry_bytes)

    def c_nvmlDeviceGetComputeRunningProcesses_v2(self, gpu: FakeGpu, count: Any, out: Any) -> int:
        return self._processes(gpu.compute, count, out, 24)

    def c_nvmlDeviceGetGraphicsRunningProcesses_v2(self, gpu: FakeGpu, count: Any, out: Any
                                                   ) -> int:
        return self._processes(gpu.graphics, count, out, 24)

    def c_nvmlDeviceGetComputeRunningProcesses(self, gpu: FakeGpu, count: Any, out: Any) -> int:
        return self._processes(gpu.compute, count, out, 16)

    def c_nvmlDeviceGetGraphicsRunningProcesses(self, gpu: FakeGpu, count: Any, out: Any) -> int:
        return self._processes(gpu.graphics, count, out, 16)

    # -- GPM ---------------------------------------------------------------------------------

    def c_nvmlGpmQueryDeviceSupport(self, gpu: FakeGpu, out: Any) -> int:
        support = _obj(out)
        if support.version != 1:  # NVML_GPM_SUPPORT_VERSION
            return self._m.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
        support.isSupportedDevice = int(gpu.gpm)
        return 0

    def c_nvmlGpmSampleAlloc(self, out: Any) -> int:
        address = SAMPLE_BASE + 64 * len(self.samples)
        self.samples[address] = None
        _set_pointer(_obj(out), address)
        return 0

    def c_nvmlGpmSampleFree(self, sample: Any) -> int:
        if self.samples.pop(_address(sample), "gone") == "gone":
            return self._m.NVML_ERROR_INVALID_ARGUMENT
        return 0

    def c_nvmlGpmSampleGet(self, gpu: FakeGpu, sample: Any) -> int:
        address = _address(sample)
        if address not in self.samples:
            return self._m.NVML_ERROR_INVALID_ARGUMENT
        self.samples[address] = (gpu, self.clock())
        return 0

    def c_nvmlGpmMetricsGet(self, out: Any) -> int:
        request = _obj(out)
        if request.version != 1:  # NVML_GPM_METRICS_GET_VERSION
            return self._m.NVML_ERROR_ARGUMENT_VERSION_MISMATCH
        first = self.samples.get(_address(request.sample1))
        second = self.samples.get(_address(request.sample2))
        if first is None or second is None or first[0] is not second[0]:
            return self._m.NVML_ERROR_INVALID_ARGUMENT
        if second[1] - first[1] < 0.1:
            self.gpm_problems.append(f"samples {second[1] - first[1]:.3f} s apart")
        if second[1] < first[1]:
            self.gpm_problems.append("sample1 is the newer")
        gpu = first[0]
        for k in range(request.numMetrics):
            metric = request.metrics[k]
            value = {2: gpu.sm_active, 10: gpu.dram_bw}.get(metric.metricId)
            metric.nvmlReturn = gpu.gpm_metric_error if value is not None else \
                self._m.NVML_ERROR_NOT_SUPPORTED
            metric.value = value or 0.0
        return 0


def proc(pid: int, used: Optional[int]) -> Any:
    """A process on a GPU, as FakeGpu.compute / .graphics take it."""
    return SimpleNamespace(pid=pid, usedGpuMemory=used)


def standin(gpus: Sequence[FakeGpu], source: Optional[str] = None, **lib_options: Any
            ) -> ModuleType:
    """A fresh nvidia-ml-py module whose library is a FakeLib over `gpus` (module.nvmlLib)."""
    module = load_pynvml(source)
    module.nvmlLib = FakeLib(module, gpus, **lib_options)
    return module


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened(*gpus: FakeGpu, interval: float = 0.5, **lib_options: Any) -> tuple:
    """(an opened NvmlCollector over a stand-in, its FakeLib, its FakeClock)."""
    from memmap_tui.collectors.nvml import NvmlCollector

    clock = FakeClock()
    module = standin(list(gpus) or [FakeGpu()], clock=clock, **lib_options)
    collector = NvmlCollector(nvml=module, interval=interval, clock=clock)
    collector.open()
    return collector, module.nvmlLib, clock


def openers() -> Iterator[Callable[..., tuple]]:
    """For a fixture: `opened`, with every collector it made closed afterwards."""
    made: List[Any] = []

    def make(*gpus: FakeGpu, **kw: Any) -> tuple:
        found = opened(*gpus, **kw)
        made.append(found[0])
        return found

    yield make
    for collector in made:
        collector.close()


def reading(collector: Any) -> Dict[str, float]:
    """One collect() as {metric name: value}."""
    return dict(zip((s.name for s in collector.metrics()), collector.collect()))
