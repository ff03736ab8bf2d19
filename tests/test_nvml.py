"""The nvml collector, against a fake `pynvml` module object.

The hardware is faked at one thin adapter, the module object the collector is given in place of
`import pynvml`: `FakeNvml` below has the same function names, constants, error classes
(one NVMLError subclass per code, as nvidia-ml-py makes them) and return shapes (objects with
`.gpu`/`.memory`, `.used`/`.total`/`.reserved`, field values with `nvmlReturn`/`valueType`/`value`)
as nvidia-ml-py 12/13. The last test runs against the real driver and skips where there is none.
"""

from __future__ import annotations

import logging
import math
import runpy
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import pytest
from memmap_tui.collectors.gpu_common import pcie_link_max_bytes_per_second, sum_gpu_memory
from memmap_tui.collectors.nvml import NvmlCollector

from memmap_tui.collector import CollectorError
from memmap_tui.derive import derive
from memmap_tui.model import COUNTER, GAUGE, Reading, Schema

UINT_MAX = 0xFFFFFFFF
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_nvml.py"


class NVMLError(Exception):
    value = 999

    def __str__(self) -> str:
        return f"{type(self).__name__[10:]} ({self.value})"


def _error(name: str, code: int) -> type:
    return type(f"NVMLError_{name}", (NVMLError,), {"value": code})


NotSupported = _error("NotSupported", 3)
NoPermission = _error("NoPermission", 4)
DriverNotLoaded = _error("DriverNotLoaded", 9)
LibraryNotFound = _error("LibraryNotFound", 12)
FunctionNotFound = _error("FunctionNotFound", 13)
GpuIsLost = _error("GpuIsLost", 15)
Unknown = _error("Unknown", 999)
Timeout = _error("Timeout", 10)


@dataclass
class FakeGpu:
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
    power_mw: int = 312_500
    temp: int = 61
    sm_clock: int = 1980
    mem_clock: int = 2619
    pcie_counters: bool = True  # answers NVML_FI_DEV_PCIE_COUNT_*
    pcie_rx_total: int = 10_000_000
    pcie_tx_total: int = 2_000_000
    nvlink: bool = False
    nvlink_links_kib: List[int] = field(default_factory=lambda: [100, 200])
    throughput_kb: Dict[int, List[int]] = field(default_factory=lambda: {1: [1000, 2000, 3000],
                                                                          0: [10, 20, 30]})
    compute: List[Any] = field(default_factory=list)
    graphics: List[Any] = field(default_factory=list)
    errors: Dict[str, type] = field(default_factory=dict)  # function name -> error raised
    lost: bool = False


class FakeNvml:
    """Stands in for the pynvml module: same names, constants, errors and return shapes."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NotSupported
    NVMLError_NoPermission = NoPermission
    NVMLError_DriverNotLoaded = DriverNotLoaded
    NVMLError_LibraryNotFound = LibraryNotFound
    NVMLError_FunctionNotFound = FunctionNotFound
    NVMLError_GpuIsLost = GpuIsLost
    NVMLError_Unknown = Unknown
    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_PCIE_UTIL_TX_BYTES = 0
    NVML_PCIE_UTIL_RX_BYTES = 1
    NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX = 138
    NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX = 139
    NVML_FI_DEV_PCIE_COUNT_TX_BYTES = 197
    NVML_FI_DEV_PCIE_COUNT_RX_BYTES = 198
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3
    nvmlMemory_v2 = 0x02000028

    def __init__(self, gpus: List[FakeGpu], init_error: Optional[type] = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.calls: Counter = Counter()
        self.initialised = 0
        self.field_value_type = 3  # NVML_VALUE_TYPE_UNSIGNED_LONG_LONG

    def _enter(self, fn: str, gpu: Optional[FakeGpu] = None) -> None:
        self.calls[(fn, self.gpus.index(gpu) if gpu is not None else None)] += 1
        if gpu is not None and gpu.lost:
            raise GpuIsLost()
        if gpu is not None and fn in gpu.errors:
            raise gpu.errors[fn]()

    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        if self.init_error:
            raise self.init_error()
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialised -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetNVMLVersion(self) -> str:
        return "12.550.54.15"

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        self._enter("nvmlDeviceGetHandleByIndex", self.gpus[index])
        return self.gpus[index]

    def nvmlDeviceGetName(self, h: FakeGpu) -> bytes:
        self._enter("nvmlDeviceGetName", h)
        return h.name.encode()  # older nvidia-ml-py returns bytes

    def nvmlDeviceGetUtilizationRates(self, h: FakeGpu) -> Any:
        self._enter("nvmlDeviceGetUtilizationRates", h)
        return SimpleNamespace(gpu=h.util, memory=h.mem_util)

    def nvmlDeviceGetMemoryInfo(self, h: FakeGpu, version: Optional[int] = None) -> Any:
        self._enter("nvmlDeviceGetMemoryInfo" + ("_v2" if version else ""), h)
        if version:
            return SimpleNamespace(total=h.total, reserved=h.reserved, used=h.used,
                                   free=h.total - h.used - h.reserved)
        return SimpleNamespace(total=h.total, used=h.used + h.reserved, free=h.total - h.used)

    def nvmlDeviceGetBAR1MemoryInfo(self, h: FakeGpu) -> Any:
        self._enter("nvmlDeviceGetBAR1MemoryInfo", h)
        return SimpleNamespace(bar1Total=h.bar1_total, bar1Used=h.bar1_used,
                               bar1Free=h.bar1_total - h.bar1_used)

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h: FakeGpu) -> int:
        self._enter("nvmlDeviceGetCurrPcieLinkGeneration", h)
        return h.link_gen

    def nvmlDeviceGetCurrPcieLinkWidth(self, h: FakeGpu) -> int:
        self._enter("nvmlDeviceGetCurrPcieLinkWidth", h)
        return h.link_width

    def nvmlDeviceGetPowerUsage(self, h: FakeGpu) -> int:
        self._enter("nvmlDeviceGetPowerUsage", h)
        return h.power_mw

    def nvmlDeviceGetTemperature(self, h: FakeGpu, sensor: int) -> int:
        self._enter("nvmlDeviceGetTemperature", h)
        return h.temp

    def nvmlDeviceGetClockInfo(self, h: FakeGpu, clock: int) -> int:
        self._enter("nvmlDeviceGetClockInfo", h)
        return {1: h.sm_clock, 2: h.mem_clock}[clock]

    def nvmlDeviceGetPcieThroughput(self, h: FakeGpu, counter: int) -> int:
        self._enter("nvmlDeviceGetPcieThroughput", h)
        readings = h.throughput_kb[counter]
        readings.append(readings.pop(0))  # the next ~20 ms window
        return readings[-1]

    def nvmlDeviceGetFieldValues(self, h: FakeGpu, requests: List[Any]) -> List[Any]:
        self._enter("nvmlDeviceGetFieldValues", h)
        return [self._field(h, *(r if isinstance(r, tuple) else (r, 0))) for r in requests]

    def _field(self, h: FakeGpu, field_id: int, scope: int) -> Any:
        kib = h.nvlink_links_kib
        values = {
            198: h.pcie_rx_total if h.pcie_counters else None,
            197: h.pcie_tx_total if h.pcie_counters else None,
            139: (sum(kib) if scope == UINT_MAX else kib[scope]) if h.nvlink else None,
            138: (2 * sum(kib) if scope == UINT_MAX else kib[scope]) if h.nvlink else None,
        }
        value = values.get(field_id)
        member = "uiVal" if self.field_value_type == 1 else "ullVal"
        return SimpleNamespace(fieldId=field_id, scopeId=scope, valueType=self.field_value_type,
                               nvmlReturn=0 if value is not None else 3,
                               value=SimpleNamespace(**{member: value or 0}))

    def nvmlDeviceGetComputeRunningProcesses(self, h: FakeGpu) -> List[Any]:
        self._enter("nvmlDeviceGetComputeRunningProcesses", h)
        return list(h.compute)

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: FakeGpu) -> List[Any]:
        self._enter("nvmlDeviceGetGraphicsRunningProcesses", h)
        return list(h.graphics)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _proc(pid: int, used: Optional[int]) -> Any:
    return SimpleNamespace(pid=pid, usedGpuMemory=used)


def opened(*gpus: FakeGpu, **kw: Any) -> tuple:
    fake = FakeNvml(list(gpus) or [FakeGpu()])
    clock = FakeClock()
    collector = NvmlCollector(nvml=fake, clock=clock, **kw)
    collector.open()
    return collector, fake, clock


def reading(collector: NvmlCollector) -> Dict[str, float]:
    return dict(zip((s.name for s in collector.metrics()), collector.collect()))


def test_normal_values_arrive_in_base_units_under_contract_names():
    collector, _, _ = opened()
    r = reading(collector)
    assert r["nvml.gpu0.util_percent"] == 42
    assert r["nvml.gpu0.mem_util_percent"] == 17
    assert r["nvml.gpu0.mem_used_bytes"] == 30 * 2**30
    assert r["nvml.gpu0.mem_total_bytes"] == 80 * 2**30
    assert r["nvml.gpu0.mem_reserved_bytes"] == 512 * 2**20
    assert r["nvml.gpu0.bar1_used_bytes"] == 12 * 2**20
    assert r["nvml.gpu0.bar1_total_bytes"] == 128 * 2**30
    assert r["nvml.gpu0.pcie_link_gen"] == 5
    assert r["nvml.gpu0.pcie_link_width"] == 16
    assert r["nvml.gpu0.power_watts"] == 312.5
    assert r["nvml.gpu0.temperature_celsius"] == 61
    assert r["nvml.gpu0.sm_clock_mhz"] == 1980
    assert r["nvml.gpu0.mem_clock_mhz"] == 2619


def test_contract_columns_exist_for_every_gpu():
    collector, _, _ = opened(FakeGpu(), FakeGpu(pcie_counters=False))
    columns = Schema(collector.metrics()).columns
    for i in (0, 1):
        for quantity in ("util_percent", "mem_used_bytes", "pcie_rx_bytes_per_second",
                         "pcie_tx_bytes_per_second"):
            assert f"nvml.gpu{i}.{quantity}" in columns


def test_specs_carry_gpu_index_and_name_as_labels_for_prometheus():
    collector, _, _ = opened()
    spec = next(s for s in collector.metrics() if s.name == "nvml.gpu0.util_percent")
    assert spec.family == "nvml.gpu.util_percent"
    assert dict(spec.labels) == {"gpu": "0", "name": "NVIDIA H100 80GB HBM3"}


def test_not_supported_field_is_nan_and_asked_only_once():
    collector, fake, _ = opened(FakeGpu(errors={"nvmlDeviceGetPowerUsage": NotSupported}))
    for _ in range(3):
        r = reading(collector)
        assert math.isnan(r["nvml.gpu0.power_watts"])
        assert r["nvml.gpu0.util_percent"] == 42
    assert fake.calls[("nvmlDeviceGetPowerUsage", 0)] == 1


def test_no_permission_is_treated_like_not_supported():
    collector, fake, _ = opened(FakeGpu(errors={"nvmlDeviceGetComputeRunningProcesses":
                                                NoPermission}))
    for _ in range(2):
        collector.collect()
    assert fake.calls[("nvmlDeviceGetComputeRunningProcesses", 0)] == 1


def test_function_not_found_is_logged_once_and_not_retried(caplog):
    gpus = [FakeGpu(errors={"nvmlDeviceGetMemoryInfo_v2": FunctionNotFound}) for _ in range(2)]
    with caplog.at_level(logging.WARNING, logger="memmap_tui.nvml"):
        collector, fake, _ = opened(*gpus)
        for _ in range(3):
            r = reading(collector)
    missing = [rec for rec in caplog.records if "memory_v2" in rec.getMessage()]
    assert len(missing) == 1
    assert fake.calls[("nvmlDeviceGetMemoryInfo_v2", 0)] == 1
    assert fake.calls[("nvmlDeviceGetMemoryInfo_v2", 1)] == 0
    assert r["nvml.gpu1.mem_used_bytes"] == 30 * 2**30 + 512 * 2**20  # v1 counts reserved as used
    assert math.isnan(r["nvml.gpu1.mem_reserved_bytes"])


def test_function_missing_from_an_old_pynvml_is_nan_not_an_error():
    fake = FakeNvml([FakeGpu()])
    fake.nvmlDeviceGetBAR1MemoryInfo = None  # type: ignore[assignment]
    collector = NvmlCollector(nvml=fake)
    collector.open()
    r = reading(collector)
    assert math.isnan(r["nvml.gpu0.bar1_used_bytes"])
    assert r["nvml.gpu0.util_percent"] == 42


def test_lost_gpu_is_degraded_while_the_other_goes_on_then_recovers():
    collector, fake, clock = opened(FakeGpu(), FakeGpu(util=7))
    fake.gpus[1].lost = True
    r = reading(collector)
    assert r["nvml.gpu0.util_percent"] == 42
    assert math.isnan(r["nvml.gpu1.util_percent"])
    assert collector.degraded_gpus == [1]

    before = fake.calls[("nvmlDeviceGetHandleByIndex", 1)]
    reading(collector)  # within the backoff: GPU 1 is not asked at all
    assert fake.calls[("nvmlDeviceGetHandleByIndex", 1)] == before

    fake.gpus[1].lost = False
    clock.now += 1.5
    r = reading(collector)
    assert r["nvml.gpu1.util_percent"] == 7
    assert collector.degraded_gpus == []


def test_lost_gpu_backoff_grows_while_it_stays_lost():
    collector, fake, clock = opened(FakeGpu(errors={"nvmlDeviceGetUtilizationRates": Unknown}))
    collector.collect()
    retries = []
    for _ in range(6):
        clock.now += 1.1
        collector.collect()
        retries.append(fake.calls[("nvmlDeviceGetHandleByIndex", 0)])
    assert retries == sorted(retries)
    assert retries[-1] - retries[0] < 5  # asked at 1, 2, 4 ... s, not every tick


def test_broken_driver_during_collect_raises_collector_error():
    collector, fake, _ = opened(FakeGpu(errors={"nvmlDeviceGetUtilizationRates":
                                                DriverNotLoaded}))
    with pytest.raises(CollectorError, match="install the NVIDIA driver"):
        collector.collect()


def test_other_nvml_errors_are_nan_this_time_and_asked_again():
    collector, fake, _ = opened(FakeGpu(errors={"nvmlDeviceGetTemperature": Timeout}))
    for _ in range(2):
        assert math.isnan(reading(collector)["nvml.gpu0.temperature_celsius"])
    assert fake.calls[("nvmlDeviceGetTemperature", 0)] == 2


def test_missing_library_makes_probe_unavailable_with_pip_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    avail = NvmlCollector().probe()
    assert not avail.available
    assert "pip install nvidia-ml-py" in avail.reason


@pytest.mark.parametrize("error", [LibraryNotFound, DriverNotLoaded])
def test_missing_driver_makes_probe_unavailable_with_driver_hint(error):
    avail = NvmlCollector(nvml=FakeNvml([FakeGpu()], init_error=error)).probe()
    assert not avail.available
    assert "install the NVIDIA driver" in avail.reason


def test_probe_with_a_gpu_is_available_and_releases_nvml():
    fake = FakeNvml([FakeGpu()])
    avail = NvmlCollector(nvml=fake).probe()
    assert avail.available and "550.54.15" in avail.reason
    assert fake.initialised == 0


def test_probe_without_gpus_is_unavailable():
    assert not NvmlCollector(nvml=FakeNvml([])).probe().available


def test_pcie_from_field_counters_are_raw_byte_counters():
    collector, fake, _ = opened()
    specs = {s.name: s for s in collector.metrics()}
    assert collector.pcie_source == "field_counters"
    rx = specs["nvml.gpu0.pcie_rx_bytes"]
    assert rx.kind == COUNTER and rx.unit == "bytes"
    assert rx.column == "nvml.gpu0.pcie_rx_bytes_per_second"
    assert specs["nvml.gpu0.pcie_tx_bytes"].column == "nvml.gpu0.pcie_tx_bytes_per_second"
    r = reading(collector)
    assert (r["nvml.gpu0.pcie_rx_bytes"], r["nvml.gpu0.pcie_tx_bytes"]) == (10_000_000, 2_000_000)
    assert fake.calls[("nvmlDeviceGetPcieThroughput", 0)] == 0


def test_pcie_counters_become_bytes_per_second_in_the_frame():
    collector, fake, _ = opened()
    schema = Schema(collector.metrics())
    first = Reading(10.0, 1e9, list(collector.collect()))
    fake.gpus[0].pcie_rx_total += 4_000_000_000
    fake.gpus[0].pcie_tx_total += 1_000_000
    second = Reading(12.0, 1e9 + 2, list(collector.collect()))
    frame = derive(schema, first, second)
    assert schema.get(frame, "nvml.gpu0.pcie_rx_bytes_per_second") == 2e9
    assert schema.get(frame, "nvml.gpu0.pcie_tx_bytes_per_second") == 5e5
    assert schema.get(frame, "nvml.gpu0.util_percent") == 42


def test_a_32_bit_pcie_counter_is_unwrapped_and_logged_once(caplog):
    fake = FakeNvml([FakeGpu(pcie_rx_total=2**32 - 100)])
    fake.field_value_type = 1  # the driver says uiVal
    collector = NvmlCollector(nvml=fake)
    collector.open()
    with caplog.at_level(logging.WARNING, logger="memmap_tui.nvml"):
        first = reading(collector)["nvml.gpu0.pcie_rx_bytes"]
        fake.gpus[0].pcie_rx_total = 50  # wrapped: 150 bytes later
        second = reading(collector)["nvml.gpu0.pcie_rx_bytes"]
        reading(collector)
    assert second - first == 150
    assert len([r for r in caplog.records if "32-bit counter" in r.getMessage()]) == 2  # rx, tx
    assert collector.field_status()[0]["pcie_rx_bytes"] == "ok, valueType 1"


def test_pcie_falls_back_to_averaged_throughput_gauges():
    collector, fake, _ = opened(FakeGpu(pcie_counters=False), pcie_samples=3)
    specs = {s.name: s for s in collector.metrics()}
    assert collector.pcie_source == "throughput"
    assert specs["nvml.gpu0.pcie_rx_bytes_per_second"].kind == GAUGE
    assert "nvml.gpu0.pcie_rx_bytes" not in specs
    r = reading(collector)
    assert r["nvml.gpu0.pcie_rx_bytes_per_second"] == 2000 * 1024  # mean of 1000, 2000, 3000 KB/s
    assert r["nvml.gpu0.pcie_tx_bytes_per_second"] == 20 * 1024
    assert fake.calls[("nvmlDeviceGetPcieThroughput", 0)] == 6


def test_pcie_source_is_mixed_when_gpus_differ():
    collector, _, _ = opened(FakeGpu(), FakeGpu(pcie_counters=False))
    assert collector.pcie_source == "mixed"


def test_nvlink_counters_sum_all_links_in_bytes_where_present():
    collector, _, _ = opened(FakeGpu(nvlink=True), FakeGpu())
    specs = {s.name: s for s in collector.metrics()}
    assert specs["nvml.gpu0.nvlink_rx_bytes"].kind == COUNTER
    assert specs["nvml.gpu0.nvlink_rx_bytes"].column == "nvml.gpu0.nvlink_rx_bytes_per_second"
    assert "nvml.gpu1.nvlink_rx_bytes" not in specs
    r = reading(collector)
    assert r["nvml.gpu0.nvlink_rx_bytes"] == 300 * 1024
    assert r["nvml.gpu0.nvlink_tx_bytes"] == 600 * 1024


@pytest.mark.parametrize(
    "gen, width, expected",
    [
        (1, 16, 4.0e9),
        (2, 16, 8.0e9),
        (3, 16, 8e9 * 128 / 130 / 8 * 16),
        (4, 16, 16e9 * 128 / 130 / 8 * 16),
        (5, 16, 32e9 * 128 / 130 / 8 * 16),
        (6, 16, 64e9 * 242 / 256 / 8 * 16),
        (4, 8, 16e9 * 128 / 130 / 8 * 8),
    ],
)
def test_link_max_bytes_per_second_table(gen, width, expected):
    assert pcie_link_max_bytes_per_second(gen, width) == pytest.approx(expected)


@pytest.mark.parametrize("gen, width", [(None, 16), (3, None), (0, 16), (9, 16)])
def test_link_max_is_nan_for_unknown_links(gen, width):
    assert math.isnan(pcie_link_max_bytes_per_second(gen, width))


def test_link_max_column_follows_the_current_link():
    collector, _, _ = opened(FakeGpu(link_gen=3, link_width=8))
    r = reading(collector)
    assert r["nvml.gpu0.pcie_link_max_bytes_per_second"] == pytest.approx(7.876923e9)


def test_per_process_table_merges_compute_and_graphics_per_gpu():
    gpu0 = FakeGpu(compute=[_proc(100, 2**30), _proc(200, None)], graphics=[_proc(100, 2**30)])
    gpu1 = FakeGpu(name="NVIDIA A100", compute=[_proc(100, 3 * 2**30)])
    collector, _, _ = opened(gpu0, gpu1)
    collector.collect()
    rows = sorted(collector.table(), key=lambda r: (r["gpu"], r["pid"]))
    assert rows == [
        {"gpu": 0, "name": "NVIDIA H100 80GB HBM3", "pid": 100,
         "used_gpu_memory_bytes": 2**30, "type": "C+G"},
        {"gpu": 0, "name": "NVIDIA H100 80GB HBM3", "pid": 200,
         "used_gpu_memory_bytes": None, "type": "C"},
        {"gpu": 1, "name": "NVIDIA A100", "pid": 100,
         "used_gpu_memory_bytes": 3 * 2**30, "type": "C"},
    ]
    assert collector.gpu_memory_bytes({100, 999}) == 4 * 2**30


def test_sum_gpu_memory_by_pid_set():
    rows = [{"pid": 1, "used_gpu_memory_bytes": 10}, {"pid": 2, "used_gpu_memory_bytes": None},
            {"pid": 3, "used_gpu_memory_bytes": 5}]
    assert sum_gpu_memory(rows, {1, 3}) == 15
    assert sum_gpu_memory(rows, {4}) == 0.0
    assert math.isnan(sum_gpu_memory(rows, {2}))
    assert sum_gpu_memory(rows, {1, 2}) == 10


def test_collect_matches_metrics_and_close_is_idempotent():
    collector, fake, _ = opened(FakeGpu(), FakeGpu(pcie_counters=False, nvlink=True))
    assert len(collector.collect()) == len(collector.metrics())
    collector.close()
    collector.close()
    assert fake.calls[("nvmlShutdown", None)] == 1


def test_field_status_reports_what_answered():
    collector, _, _ = opened(FakeGpu(errors={"nvmlDeviceGetPowerUsage": NotSupported}))
    collector.collect()
    status = collector.field_status()[0]
    assert status["util"] == "ok"
    assert status["power"].startswith("unsupported")


def test_check_nvml_script_prints_versions_metrics_and_field_status(monkeypatch, capsys):
    fake = FakeNvml([FakeGpu(errors={"nvmlDeviceGetPowerUsage": NotSupported},
                             compute=[_proc(4242, 2**30)])])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    main = runpy.run_path(str(SCRIPT), run_name="check_nvml")["main"]
    assert main(["--interval", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "driver: 550.54.15" in out and "gpu0: NVIDIA H100 80GB HBM3" in out
    assert "pcie_source: field_counters" in out
    assert "-> nvml.gpu0.pcie_rx_bytes_per_second = 0" in out
    assert "unsupported" in out and "'pid': 4242" in out
    assert fake.initialised == 0


def test_check_nvml_script_exits_2_without_a_driver(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([], init_error=LibraryNotFound))
    main = runpy.run_path(str(SCRIPT), run_name="check_nvml")["main"]
    assert main([]) == 2
    assert "install the NVIDIA driver" in capsys.readouterr().out


@pytest.mark.gpu
def test_real_driver_answers():
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except Exception:
        pytest.skip("no NVIDIA GPU/driver here")
    collector = NvmlCollector()
    assert collector.probe().available
    collector.open()
    try:
        r = dict(zip((s.name for s in collector.metrics()), collector.collect()))
        assert len(r) == len(collector.metrics())
        assert r["nvml.gpu0.mem_total_bytes"] > 0
        assert 0 <= r["nvml.gpu0.util_percent"] <= 100
        assert collector.pcie_source in ("field_counters", "throughput", "mixed")
        assert isinstance(collector.table(), list)
    finally:
        collector.close()
