"""PCIe and NVLink bytes from NVML: the byte counters where the driver has them, else the
throughput windows, read on a thread of their own.

Byte counters (nvmlDeviceGetFieldValues, nvml.h):
  NVML_FI_DEV_PCIE_COUNT_TX_BYTES 197, _RX_BYTES 198   "PCIe transmit/receive bytes. Value can
                                                        be wrapped." (drivers 555 and later)
  NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX 138, _RX 139   KiB of data, all links with scopeId
                                                        UINT_MAX
Each nvmlFieldValue_t carries a valueType (nvmlValueType_t: 1 unsigned int, 3 unsigned long long,
6 unsigned short) and the timestamp of the value ("CPU timestamp in microseconds since 1970").
The collector returns each counter with that timestamp as its own time base (a counter whose
`per` is the timestamp), so the rate covers exactly the time between the two values NVML read,
whenever the collector's thread ran. A counter narrower than 64 bits is used only where it cannot
wrap twice between two reads: its wrap period at the link's top rate (PCIe: the maximum link
generation and width; NVLink: NVLINK_MAX_BYTES_PER_SECOND) must be WRAP_MARGIN times the sampling
interval given at open (an interval made longer later is not judged again). A 32-bit PCIe counter
wraps every 68 ms at Gen5 x16, so there the throughput fallback is used instead, and the reason is
recorded.

Fallback (nvmlDeviceGetPcieThroughput): KB/s over a ~20 ms window, and the call blocks that long
per direction. `ThroughputSampler` reads the windows continuously on its own thread, a round over
every GPU at most every `period` seconds, and hands over running sums through a Mailbox; the
collector turns them into the mean of the windows since its last reading. The windows cover
part of the time only, so short bursts are missed or exaggerated.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from memmap_tui.collector import CollectorError
from memmap_tui.slow import Backoff, Mailbox

from .nvml_calls import DeviceLost, NvmlCalls, field_bits, field_number, field_seconds

log = logging.getLogger("memmap_tui.nvml")

UINT_MAX = 0xFFFFFFFF  # scopeId for "all NVLink links summed"
WRAP_MARGIN = 4.0  # a narrow counter must take this many sampling intervals to wrap
NVLINK_MAX_BYTES_PER_SECOND = 1.8e12  # NVLink 5 (B200), all links: above any one direction
KB = 1024.0  # nvmlDeviceGetPcieThroughput's KB

# (quantity, pynvml constant, all links -> KiB with scopeId UINT_MAX)
PCIE_FIELDS = (("pcie_rx_bytes", "NVML_FI_DEV_PCIE_COUNT_RX_BYTES", False),
               ("pcie_tx_bytes", "NVML_FI_DEV_PCIE_COUNT_TX_BYTES", False))
NVLINK_FIELDS = (("nvlink_rx_bytes", "NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_RX", True),
                 ("nvlink_tx_bytes", "NVML_FI_DEV_NVLINK_THROUGHPUT_DATA_TX", True))
THROUGHPUT_COUNTERS = (("rx", "NVML_PCIE_UTIL_RX_BYTES", 1), ("tx", "NVML_PCIE_UTIL_TX_BYTES", 0))


def time_quantity(quantity: str) -> str:
    """The name of a counter's own time base: `pcie_rx_bytes` -> `pcie_rx_time_seconds`."""
    return quantity.replace("_bytes", "_time_seconds")


@dataclass
class CounterField:
    """A cumulative byte counter read through nvmlDeviceGetFieldValues."""

    quantity: str  # raw counter name part, e.g. "pcie_rx_bytes"
    request: Any  # field id, or (field id, scope id)
    scale: float  # to bytes
    bits: Optional[int] = None  # the width of a narrow counter, None for 64 bits
    last: float = math.nan  # the last raw reading, to see a narrow counter wrap
    wraps: int = 0

    def total(self, raw: float) -> float:
        """Cumulative bytes; a narrow counter gets 2**bits added per wrap seen."""
        if self.bits is None:
            return raw * self.scale
        if raw < self.last:
            self.wraps += 1
        self.last = raw
        return (raw + self.wraps * 2.0**self.bits) * self.scale


def counter_fields(calls: NvmlCalls, gpu: Any, group: str,
                   wanted: Tuple[Tuple[str, str, bool], ...], top_rate: float,
                   interval: float) -> List[CounterField]:
    """The rx/tx pair of a group, if this GPU answers both in a trial read and neither can
    wrap twice between two reads; else [] (the reason is in calls.status)."""
    ids = [getattr(calls.module, constant, None) for _, constant, _ in wanted]
    if None in ids:
        calls.note(gpu, group, "missing: this nvidia-ml-py predates the fields")
        return []
    fields = [CounterField(q, (i, UINT_MAX) if all_links else i, 1024.0 if all_links else 1.0)
              for (q, _, all_links), i in zip(wanted, ids)]
    answer = calls.call(gpu, "probe_" + group, "nvmlDeviceGetFieldValues", gpu.handle,
                        [f.request for f in fields]) or ()
    usable = len(answer) == len(fields)
    for f, fv in zip(fields, answer):
        code = int(getattr(fv, "nvmlReturn", 1))
        f.bits = field_bits(fv)
        vtype = getattr(fv, "valueType", "?")
        if code != 0:
            calls.note(gpu, f.quantity, f"unsupported: field answered NVML error {code}")
            usable = False
        elif f.bits is not None and not _wraps_slowly(f, top_rate, interval):
            wrap = 2.0**f.bits * f.scale / top_rate if top_rate > 0 else math.nan
            calls.note(gpu, f.quantity, (
                f"narrow: valueType {vtype} ({f.bits}-bit) wraps every {wrap:.3g} s at "
                f"{top_rate / 1e9:.3g} GB/s, sampled every {interval:g} s: not used"))
            usable = False
        else:
            scope = ", all links (scopeId UINT_MAX)" if isinstance(f.request, tuple) else ""
            calls.note(gpu, f.quantity, f"ok, valueType {vtype}{scope}")
    return fields if usable else []


def _wraps_slowly(f: CounterField, top_rate: float, interval: float) -> bool:
    if not top_rate > 0 or f.bits is None:
        return f.bits is None
    return 2.0**f.bits * f.scale / top_rate >= WRAP_MARGIN * interval


def read_counters(calls: NvmlCalls, gpu: Any, fields: Sequence[CounterField],
                  wall: Callable[[], float]) -> Dict[str, float]:
    """{quantity: cumulative bytes, its time quantity: NVML's timestamp in seconds}."""
    if not fields:
        return {}
    answer = calls.call(gpu, "field_values", "nvmlDeviceGetFieldValues", gpu.handle,
                        [f.request for f in fields])
    now, out = wall(), {}
    for f, fv in zip(fields, answer or ()):
        code = int(getattr(fv, "nvmlReturn", 1))
        if code == 0:
            out[f.quantity] = f.total(field_number(fv))
            out[time_quantity(f.quantity)] = field_seconds(fv, now)
        else:
            calls.log_once(("field", gpu.index, f.quantity, code),
                           f"GPU {gpu.index}: {f.quantity} answered NVML error {code}")
    return out


Sums = Dict[int, Tuple[float, float, int, int, float]]  # index -> rx KB, tx KB, rx n, tx n, time


class ThroughputSampler:
    """nvmlDeviceGetPcieThroughput windows for the GPUs without byte counters, on a thread."""

    def __init__(self, calls: NvmlCalls, period: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._calls, self.period, self._clock = calls, period, clock
        self._gpus: List[Any] = []
        self._sums: Dict[int, List[float]] = {}
        self.mailbox: Mailbox[Sums] = Mailbox()
        self._seen: Dict[int, Tuple[float, float, int, int]] = {}
        self._last: Dict[int, Tuple[float, float, float]] = {}  # index -> rx B/s, tx B/s, time
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self, gpus: Sequence[Any]) -> None:
        self._gpus = list(gpus)
        if self._gpus and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="memmap-nvml-pcie",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def round(self, gpus: Sequence[Any]) -> None:
        """One window per direction of each GPU; the running sums go to the mailbox."""
        nv = self._calls.module
        for gpu in gpus:
            if gpu.degraded:
                continue
            sums = self._sums.setdefault(gpu.index, [0.0, 0.0, 0, 0])
            for slot, (_, constant, default) in enumerate(THROUGHPUT_COUNTERS):
                try:
                    kb = self._calls.call(gpu, "pcie_throughput", "nvmlDeviceGetPcieThroughput",
                                          gpu.handle, getattr(nv, constant, default))
                except DeviceLost:
                    break  # the collector's own calls see it and degrade the GPU
                if kb is not None:
                    sums[slot] += float(kb)
                    sums[slot + 2] += 1
        now = self._clock()
        self.mailbox.put({i: (s[0], s[1], int(s[2]), int(s[3]), now)
                          for i, s in self._sums.items()})

    def rates(self, index: int) -> Dict[str, float]:
        """Mean rx/tx bytes/s of the windows since the last call (the last mean while no new
        window came and it is fresh; nothing when stale)."""
        sums = (self.mailbox.peek() or {}).get(index)
        if sums is None:
            return {}
        rx, tx, n_rx, n_tx, at = sums
        seen = self._seen.get(index, (0.0, 0.0, 0, 0))
        self._seen[index] = (rx, tx, n_rx, n_tx)
        last = self._last.get(index, (math.nan, math.nan, at))
        mean_rx = KB * (rx - seen[0]) / (n_rx - seen[2]) if n_rx > seen[2] else last[0]
        mean_tx = KB * (tx - seen[1]) / (n_tx - seen[3]) if n_tx > seen[3] else last[1]
        self._last[index] = (mean_rx, mean_tx, at)
        if self._clock() - at > max(3 * self.period, 2.0):
            return {}
        return {"pcie_rx_bytes_per_second": mean_rx, "pcie_tx_bytes_per_second": mean_tx}

    def _run(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            started = self._clock()
            try:
                self.round(self._gpus)
                backoff.succeeded()
                wait = self.period - (self._clock() - started)
            except CollectorError as exc:  # the driver went away: the collector says so too
                wait = backoff.failed(self._clock())
                log.debug("PCIe throughput sampler: %s", exc)
            self._stop.wait(max(wait, 0.0))
