"""GPM (GPU Performance Monitoring: Hopper and later, driver R520 and later): how busy the SMs
and the DRAM are, in percent, not only whether a kernel ran.

NVML calls (nvml.h, "GPM Functions"; every one through the collector's one door, NvmlCalls):
  nvmlGpmQueryDeviceSupport(device, nvmlGpmSupport_t*)   {version = NVML_GPM_SUPPORT_VERSION (1),
                                                          isSupportedDevice}
  nvmlGpmSampleAlloc(nvmlGpmSample_t*), nvmlGpmSampleFree(nvmlGpmSample_t)
  nvmlGpmSampleGet(device, nvmlGpmSample_t)              reads the GPU's counters into a sample
  nvmlGpmMetricsGet(nvmlGpmMetricsGet_t*)                {version = NVML_GPM_METRICS_GET_VERSION
                                                          (1), numMetrics, sample1 (the older),
                                                          sample2 (the newer), metrics[] of
                                                          {metricId, nvmlReturn, value (double),
                                                          metricInfo}}
Metrics (nvmlGpmMetricId_t): NVML_GPM_METRIC_SM_UTIL (2) "percentage of SMs that were busy"
(DCGM's SM activity), NVML_GPM_METRIC_DRAM_BW_UTIL (10) "percentage of DRAM bandwidth used vs
theoretical maximum". Both 0.0-100.0.

Two sample buffers per GPU: at each reading the newer sample is taken only when the older is at
least MIN_SPACING (0.1 s) old, the metrics come from (older, newer), and the two swap; a reading
sooner than that repeats the last values. The buffers are freed on close. NotSupported and
NoPermission (unprivileged containers) make both columns NaN with one reason (the door's
"unsupported": logged once, asked again after a long backoff). GPM does not take the profiling
counters that DCGM or Nsight use, so it runs beside them.

Known gap: on a GPU in MIG mode the whole-GPU sample is what is read (per-instance samples,
nvmlGpmMigSampleGet, are not used).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from memmap_tui.collector import CollectorError

from .nvml_calls import DeviceLost, NvmlCalls

log = logging.getLogger("memmap_tui.nvml")

MIN_SPACING = 0.1  # seconds between the two samples of one metrics computation
# (quantity, pynvml constant, nvml.h value)
GPM_METRICS = (("sm_active_percent", "NVML_GPM_METRIC_SM_UTIL", 2),
               ("dram_bw_util_percent", "NVML_GPM_METRIC_DRAM_BW_UTIL", 10))


@dataclass
class _Samples:
    buffers: List[Any]  # [older, newer]
    older_at: Optional[float] = None  # when the older was taken; None until it is
    values: Dict[str, float] = field(default_factory=dict)


class GpmSampler:
    """SM activity and DRAM bandwidth utilisation of the GPUs that support GPM."""

    def __init__(self, calls: NvmlCalls, clock: Callable[[], float] = time.monotonic) -> None:
        self._calls, self._clock = calls, clock
        self._samples: Dict[int, _Samples] = {}

    def supported(self, gpu: Any) -> bool:
        """Whether nvmlGpmQueryDeviceSupport says this GPU has GPM (False where it cannot say)."""
        support = self._calls.call(gpu, "gpm_support", "nvmlGpmQueryDeviceSupport", gpu.handle)
        ok = bool(getattr(support, "isSupportedDevice", 0))
        if support is not None and not ok:
            self._calls.note(gpu, "gpm_support", "unsupported: isSupportedDevice 0")
        return ok

    def open(self, gpu: Any) -> None:
        """Allocate the GPU's two sample buffers and take the first sample."""
        buffers: List[Any] = []
        for _ in range(2):
            sample = self._calls.call(gpu, "gpm_alloc", "nvmlGpmSampleAlloc")
            if sample is None:
                self._free(buffers)
                return
            buffers.append(sample)
        self._samples[gpu.index] = _Samples(buffers)
        self.restart(gpu)

    def restart(self, gpu: Any) -> None:
        """Take a fresh first sample (after open, or after the GPU came back)."""
        samples = self._samples.get(gpu.index)
        if samples is None:
            return
        samples.older_at, samples.values = None, {}
        if self._calls.call(gpu, "gpm_sample", "nvmlGpmSampleGet", gpu.handle,
                            samples.buffers[0]) is not None:
            samples.older_at = self._clock()

    def read(self, gpu: Any) -> Dict[str, float]:
        """{quantity: percent}; empty (NaN) until two samples MIN_SPACING apart exist."""
        samples = self._samples.get(gpu.index)
        if samples is None:
            return {}
        if samples.older_at is None:
            self.restart(gpu)
            return {}
        now = self._clock()
        if now - samples.older_at < MIN_SPACING:
            return dict(samples.values)
        older, newer = samples.buffers
        if self._calls.call(gpu, "gpm_sample", "nvmlGpmSampleGet", gpu.handle, newer) is None:
            return {}
        samples.buffers, samples.older_at = [newer, older], now
        samples.values = self._metrics(gpu, older, newer)
        return dict(samples.values)

    def close(self) -> None:
        """Free every sample buffer; safe to call twice."""
        for samples in list(self._samples.values()):
            self._free(samples.buffers)
        self._samples.clear()

    def _metrics(self, gpu: Any, older: Any, newer: Any) -> Dict[str, float]:
        nv = self._calls.module
        request = nv.c_nvmlGpmMetricsGet_t()
        request.version = nv.NVML_GPM_METRICS_GET_VERSION
        request.numMetrics = len(GPM_METRICS)
        request.sample1, request.sample2 = older, newer
        for k, (_, constant, default) in enumerate(GPM_METRICS):
            request.metrics[k].metricId = getattr(nv, constant, default)
        answer = self._calls.call(gpu, "gpm_metrics", "nvmlGpmMetricsGet", request)
        if answer is None:
            return {}
        values = {}
        for k, (quantity, _, _) in enumerate(GPM_METRICS):
            metric = answer.metrics[k]
            code = int(metric.nvmlReturn)
            values[quantity] = float(metric.value) if code == 0 else math.nan
            self._calls.note(gpu, quantity, "ok" if code == 0 else
                             f"unsupported: metric answered NVML error {code}")
            if code != 0:
                self._calls.log_once(("gpm", gpu.index, quantity, code),
                                     f"GPU {gpu.index}: GPM {quantity} answered NVML error {code}")
        return values

    def _free(self, buffers: List[Any]) -> None:
        for sample in buffers:
            try:
                # No GPU here: a failed free must not stop the next one (no "asked once").
                self._calls.call(None, "gpm_free", "nvmlGpmSampleFree", sample)
            except (CollectorError, DeviceLost) as exc:
                log.debug("nvmlGpmSampleFree: %s", exc)
