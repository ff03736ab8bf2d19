"""PCIe and NVLink bytes/s from NVML: byte counters on their own timestamps, narrow counters, and
the throughput fallback off the reading's path.

Against the real nvidia-ml-py over the stand-in library of tests/fakenvml.py: nvmlFieldValue_t as
nvml.h lays it out (timestamp in microseconds since 1970, valueType, the value union), fields 197
and 198 (NVML_FI_DEV_PCIE_COUNT_TX/RX_BYTES, "can be wrapped"), 138/139 for NVLink with scopeId
UINT_MAX for all links, and nvmlDeviceGetPcieThroughput's KB/s windows.
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest
from fakenvml import FakeClock, FakeGpu, openers, reading, standin
from memmap_tui.collectors.nvml import NvmlCollector
from memmap_tui.collectors.nvml_calls import NvmlCalls
from memmap_tui.collectors.nvml_pcie import ThroughputSampler

from memmap_tui.derive import derive
from memmap_tui.model import COUNTER, GAUGE, Reading, Schema
from memmap_tui.sampler import Sampler


@pytest.fixture
def nvml():
    yield from openers()


def test_pcie_counters_are_raw_bytes_with_nvmls_timestamp_as_their_time_base(nvml):
    collector, lib, _ = nvml()
    specs = {s.name: s for s in collector.metrics()}
    assert collector.pcie_source == "field_counters"
    rx = specs["nvml.gpu0.pcie_rx_bytes"]
    assert (rx.kind, rx.unit, rx.column) == (COUNTER, "bytes", "nvml.gpu0.pcie_rx_bytes_per_second")
    assert rx.per == "nvml.gpu0.pcie_rx_time_seconds"
    stamp = specs["nvml.gpu0.pcie_rx_time_seconds"]
    assert (stamp.kind, stamp.unit, stamp.column) == (COUNTER, "seconds", None)
    r = reading(collector)
    assert (r["nvml.gpu0.pcie_rx_bytes"], r["nvml.gpu0.pcie_tx_bytes"]) == (10_000_000, 2_000_000)
    assert r["nvml.gpu0.pcie_rx_time_seconds"] == 1_700_000_000.0
    assert lib.calls[("nvmlDeviceGetPcieThroughput", 0)] == 0


def test_rates_span_the_time_between_nvmls_values_not_between_readings(nvml):
    """A slow collector's values reach the tick late: the tick's clock is not their clock."""
    collector, lib, _ = nvml()
    schema = Schema(collector.metrics())
    first = Reading(10.0, 1e9, list(collector.collect()))
    lib.gpus[0].pcie_rx_total += 4_000_000_000
    lib.gpus[0].pcie_tx_total += 1_000_000
    lib.gpus[0].field_time_us += 500_000  # NVML read them 0.5 s apart ...
    second = Reading(12.0, 1e9 + 2, list(collector.collect()))  # ... the ticks were 2 s apart
    frame = derive(schema, first, second)
    assert schema.get(frame, "nvml.gpu0.pcie_rx_bytes_per_second") == 8e9
    assert schema.get(frame, "nvml.gpu0.pcie_tx_bytes_per_second") == 2e6
    assert schema.get(frame, "nvml.gpu0.util_percent") == 42


def test_through_the_sampler_the_rate_is_exact_whenever_the_slow_thread_ran():
    module = standin([FakeGpu(live_rx_bytes_per_second=3e9)])
    collector = NvmlCollector(nvml=module, interval=0.02)
    frames = []
    sampler = Sampler([collector], interval=0.02)
    try:
        sampler.run(duration=0.6, on_tick=frames.append)
    finally:
        sampler.close()
    rates = [sampler.schema.get(f, "nvml.gpu0.pcie_rx_bytes_per_second") for f in frames]
    known = [r for r in rates if not math.isnan(r)]
    assert len(known) >= 5
    assert known == pytest.approx([3e9] * len(known), rel=1e-4)  # float seconds since 1970


def test_no_new_value_from_nvml_is_an_unknown_rate_not_zero(nvml):
    collector, _, _ = nvml()
    schema = Schema(collector.metrics())
    first = Reading(10.0, 1e9, list(collector.collect()))
    second = Reading(10.5, 1e9 + 0.5, list(collector.collect()))  # same value, same timestamp
    frame = derive(schema, first, second)
    assert math.isnan(schema.get(frame, "nvml.gpu0.pcie_rx_bytes_per_second"))


def test_a_value_without_a_timestamp_is_timed_by_the_wall_clock():
    wall = iter([100.0, 102.0])
    module = standin([FakeGpu(field_time_us=0)])
    collector = NvmlCollector(nvml=module, clock=FakeClock(), wall=lambda: next(wall))
    collector.open()
    try:
        schema = Schema(collector.metrics())
        first = Reading(1.0, 1e9, list(collector.collect()))
        module.nvmlLib.gpus[0].pcie_rx_total += 10_000
        frame = derive(schema, first, Reading(2.0, 1e9 + 1, list(collector.collect())))
    finally:
        collector.close()
    assert schema.get(frame, "nvml.gpu0.pcie_rx_bytes_per_second") == 5_000


def test_a_32_bit_counter_that_can_wrap_between_readings_is_not_used(nvml):
    """2**32 bytes at Gen5 x16 (63 GB/s) is 68 ms: the throughput windows are used instead."""
    collector, _, _ = nvml(FakeGpu(field_value_type=1, link_gen=1, link_width=1))
    assert collector.pcie_source == "throughput"  # judged on the maximum link, not the idle one
    assert "nvml.gpu0.pcie_rx_bytes" not in {s.name for s in collector.metrics()}
    status = collector.field_status()[0]["pcie_rx_bytes"]
    assert status.startswith("narrow: valueType 1 (32-bit) wraps every 0.0682 s")


def test_a_32_bit_counter_on_a_slow_link_is_unwrapped(nvml):
    """Gen1 x1 (250 MB/s) takes 17 s to wrap 32 bits: one wrap per reading is undone."""
    collector, lib, _ = nvml(FakeGpu(field_value_type=1, max_link_gen=1, max_link_width=1,
                                     pcie_rx_total=2**32 - 100))
    assert collector.pcie_source == "field_counters"
    first = reading(collector)["nvml.gpu0.pcie_rx_bytes"]
    lib.gpus[0].pcie_rx_total += 150  # the stand-in hands over the value mod 2**32
    second = reading(collector)["nvml.gpu0.pcie_rx_bytes"]
    assert second - first == 150
    assert collector.field_status()[0]["pcie_rx_bytes"] == "ok, valueType 1"


def test_nvlink_counters_sum_all_links_in_bytes_where_present(nvml):
    collector, _, _ = nvml(FakeGpu(nvlink=True), FakeGpu())
    specs = {s.name: s for s in collector.metrics()}
    assert specs["nvml.gpu0.nvlink_rx_bytes"].kind == COUNTER
    assert specs["nvml.gpu0.nvlink_rx_bytes"].column == "nvml.gpu0.nvlink_rx_bytes_per_second"
    assert "nvml.gpu1.nvlink_rx_bytes" not in specs
    r = reading(collector)
    assert r["nvml.gpu0.nvlink_rx_bytes"] == 300 * 1024
    assert r["nvml.gpu0.nvlink_tx_bytes"] == 600 * 1024
    assert "all links" in collector.field_status()[0]["nvlink_rx_bytes"]


def test_pcie_source_is_mixed_when_gpus_differ(nvml):
    collector, _, _ = nvml(FakeGpu(), FakeGpu(pcie_counters=False))
    assert collector.pcie_source == "mixed"


def _wait_for(check, seconds=3.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.01)
    return check()


def test_without_counters_pcie_is_the_throughput_windows_read_on_their_own_thread(nvml):
    collector, _, _ = nvml(FakeGpu(pcie_counters=False), interval=0.06)
    specs = {s.name: s for s in collector.metrics()}
    assert collector.pcie_source == "throughput"
    assert specs["nvml.gpu0.pcie_rx_bytes_per_second"].kind == GAUGE
    assert "nvml.gpu0.pcie_rx_bytes" not in specs
    r = _wait_for(lambda: (lambda r: r if r["nvml.gpu0.pcie_rx_bytes_per_second"] > 0 else None)(
        reading(collector)))
    assert 1000 * 1024 <= r["nvml.gpu0.pcie_rx_bytes_per_second"] <= 3000 * 1024
    assert 10 * 1024 <= r["nvml.gpu0.pcie_tx_bytes_per_second"] <= 30 * 1024


def test_the_throughput_windows_never_hold_up_a_reading(nvml):
    """Each window blocks (~20 ms per direction): 8 GPUs took a second per reading before."""
    gpus = [FakeGpu(pcie_counters=False, throughput_delay=0.03) for _ in range(8)]
    collector, _, _ = nvml(*gpus)
    started = time.monotonic()
    collector.collect()
    assert time.monotonic() - started < 0.3  # a round of windows takes 8 x 2 x 30 ms = 0.48 s


def _sampler_over(gpu: FakeGpu):
    module = standin([gpu])
    module.nvmlInit()
    clock = FakeClock()
    handle = SimpleNamespace(index=0, handle=module.nvmlDeviceGetHandleByIndex(0), skip={},
                             degraded=False)
    return ThroughputSampler(NvmlCalls(module, clock), 0.1, clock), handle, clock


def test_throughput_is_the_mean_of_the_windows_since_the_last_reading():
    sampler, gpu, clock = _sampler_over(FakeGpu(pcie_counters=False))
    assert sampler.rates(0) == {}  # no window yet
    sampler.round([gpu])
    sampler.round([gpu])  # windows of 1000 and 2000 KB/s
    assert sampler.rates(0)["pcie_rx_bytes_per_second"] == 1500 * 1024
    sampler.round([gpu])
    assert sampler.rates(0)["pcie_rx_bytes_per_second"] == 3000 * 1024
    assert sampler.rates(0)["pcie_tx_bytes_per_second"] == 30 * 1024  # no new window: the last
    clock.now += 10
    assert sampler.rates(0) == {}  # stale: the thread stopped getting windows
