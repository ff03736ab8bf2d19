"""GPM: SM activity and DRAM bandwidth utilisation, in percent, on Hopper and later.

Against the real nvidia-ml-py over the stand-in library of tests/fakenvml.py: the wheel's
c_nvmlGpmSupport_t, c_nvmlGpmMetricsGet_t (version NVML_GPM_METRICS_GET_VERSION, sample1 the older,
sample2 the newer, metrics[] with metricId / nvmlReturn / value) and opaque sample handles from
nvmlGpmSampleAlloc. The stand-in records two samples closer than 0.1 s, or in the wrong order, as
problems, and checks that every sample is freed.
"""

from __future__ import annotations

import logging
import math

import pytest
from fakenvml import R470_LACKS, FakeGpu, load_pynvml, openers, reading

from memmap_tui.model import Schema

NV = load_pynvml()


@pytest.fixture
def nvml():
    yield from openers()


def test_sm_activity_and_dram_bandwidth_arrive_in_percent_after_two_samples(nvml):
    collector, lib, clock = nvml(FakeGpu(sm_active=63.5, dram_bw=21.25))
    first = reading(collector)
    assert math.isnan(first["nvml.gpu0.sm_active_percent"])  # one sample so far
    clock.now += 0.5
    r = reading(collector)
    assert r["nvml.gpu0.sm_active_percent"] == 63.5
    assert r["nvml.gpu0.dram_bw_util_percent"] == 21.25
    assert lib.gpm_problems == []


def test_samples_are_at_least_a_tenth_of_a_second_apart_and_the_older_comes_first(nvml):
    collector, lib, clock = nvml(FakeGpu(sm_active=50.0))
    clock.now += 0.2
    values = []
    for _ in range(12):
        clock.now += 0.03  # readings faster than GPM may sample
        values.append(reading(collector)["nvml.gpu0.sm_active_percent"])
    assert values == [50.0] * 12  # between samples, the last values
    assert lib.gpm_problems == []
    # at open, at +0.23 s, then every 4th reading (0.12 s) until +0.56 s
    assert lib.calls[("nvmlGpmSampleGet", 0)] == 1 + 1 + 2


def test_no_permission_makes_both_columns_nan_with_one_reason(nvml, caplog):
    gpu = FakeGpu(errors={"nvmlGpmSampleGet": NV.NVML_ERROR_NO_PERMISSION})
    with caplog.at_level(logging.WARNING, logger="memmap_tui.nvml"):
        collector, _, clock = nvml(gpu)
        for _ in range(4):
            clock.now += 0.5
            r = reading(collector)
    assert math.isnan(r["nvml.gpu0.sm_active_percent"])
    assert math.isnan(r["nvml.gpu0.dram_bw_util_percent"])
    assert r["nvml.gpu0.util_percent"] == 42
    assert len([m for m in caplog.messages if "gpm" in m]) == 1
    assert collector.field_status()[0]["gpm_sample"].startswith("unsupported")


def test_a_metric_the_gpu_refuses_is_nan_alone(nvml):
    collector, _, clock = nvml(FakeGpu(gpm_metric_error=NV.NVML_ERROR_NOT_SUPPORTED))
    clock.now += 0.5
    r = reading(collector)
    assert math.isnan(r["nvml.gpu0.sm_active_percent"])
    assert r["nvml.gpu0.util_percent"] == 42


def test_a_gpu_without_gpm_has_no_gpm_columns(nvml):
    collector, lib, _ = nvml(FakeGpu(gpm=False), FakeGpu())
    columns = Schema(collector.metrics()).columns
    assert "nvml.gpu0.sm_active_percent" not in columns
    assert "nvml.gpu1.sm_active_percent" in columns
    assert lib.calls[("nvmlGpmSampleGet", 0)] == 0


def test_a_driver_without_gpm_has_no_gpm_columns_and_no_error(nvml):
    collector, _, _ = nvml(FakeGpu(), driver="470.256.02", hidden=R470_LACKS)
    assert "nvml.gpu0.sm_active_percent" not in Schema(collector.metrics()).columns
    assert len(collector.collect()) == len(collector.metrics())


def test_every_sample_is_freed_on_close(nvml):
    collector, lib, clock = nvml(FakeGpu(), FakeGpu())
    clock.now += 0.5
    collector.collect()
    assert len(lib.samples) == 4
    collector.close()
    assert lib.samples == {}
    collector.close()


def test_a_gpu_that_comes_back_starts_gpm_over(nvml):
    collector, lib, clock = nvml(FakeGpu(sm_active=40.0))
    clock.now += 0.5
    assert reading(collector)["nvml.gpu0.sm_active_percent"] == 40.0
    lib.gpus[0].lost = True
    clock.now += 0.5
    assert math.isnan(reading(collector)["nvml.gpu0.sm_active_percent"])
    lib.gpus[0].lost = False
    clock.now += 1.0
    assert math.isnan(reading(collector)["nvml.gpu0.sm_active_percent"])  # a fresh first sample
    clock.now += 0.5
    assert reading(collector)["nvml.gpu0.sm_active_percent"] == 40.0
    assert lib.gpm_problems == []
