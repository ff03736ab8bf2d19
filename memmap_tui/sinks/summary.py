"""The run summary: a sink that keeps running aggregates of a run's frames, and its report.

Nothing per frame is kept: sums and counts per column (for means and the verdict), peaks, the
sums of a least-squares fit (memory growth), first and last raw counter totals (exact mean
throughput: bytes moved over seconds elapsed, as integrating the CSV would give) and, for p95,
a log-scale histogram of each throughput column (bins 1 % wide, so p95 is within 1 %; at most
a few thousand bins however long the run). Means and p95 are weighted by each frame's interval,
so a missed tick does not skew them. The verdict is memmap_tui/verdict.py over the whole run.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..model import Frame, Schema
from ..tables import tree_gpu_memory_bytes
from ..units import fmt_bytes, fmt_percent, fmt_rate
from ..verdict import gpu_utilisation, verdict, waiting_share

NAN = math.nan
BIN_RATIO = 1.01
_LOG_BIN = math.log(BIN_RATIO)

# (key, raw counter, column) of the throughputs the summary reports
THROUGHPUT = (
    ("read", "proc.read_bytes", "proc.read_bytes_per_second"),
    ("write", "proc.write_bytes", "proc.write_bytes_per_second"),
    ("disk_read", "proc.disk_read_bytes", "proc.disk_read_bytes_per_second"),
    ("disk_write", "proc.disk_write_bytes", "proc.disk_write_bytes_per_second"),
)
PEAKS = (("rss", "proc.rss_bytes"), ("pss", "proc.pss_bytes"), ("host_used", "host.mem.used_bytes"),
         ("unified_used", "tegra.ram.used_bytes"))
GROWTH_COLUMN = "proc.rss_bytes"  # fresh every tick (PSS is refreshed on a CPU budget)


class Histogram:
    """Weighted quantiles of non-negative values in bins BIN_RATIO wide (bounded memory)."""

    def __init__(self) -> None:
        self.bins: Dict[int, float] = {}
        self.total = 0.0

    def add(self, value: float, weight: float) -> None:
        key = -1 if value < 1.0 else int(math.log(value) / _LOG_BIN)
        self.bins[key] = self.bins.get(key, 0.0) + weight
        self.total += weight

    def quantile(self, q: float) -> float:
        """The value at or below which `q` of the weight lies (a bin's middle); NaN if empty."""
        if self.total <= 0.0:
            return NAN
        need, seen = q * self.total, 0.0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen >= need - 1e-12:
                return 0.0 if key < 0 else BIN_RATIO ** (key + 0.5)
        return NAN


class LinearFit:
    """Least-squares slope of y over t, from running sums (t relative to the first point)."""

    def __init__(self) -> None:
        self.t0: Optional[float] = None
        self.n = self.st = self.sy = self.stt = self.sty = 0.0

    def add(self, t: float, y: float) -> None:
        if self.t0 is None:
            self.t0 = t
        t -= self.t0
        self.n += 1
        self.st, self.sy = self.st + t, self.sy + y
        self.stt, self.sty = self.stt + t * t, self.sty + t * y

    def slope(self) -> float:
        spread = self.n * self.stt - self.st * self.st
        if self.n < 2 or not spread > 0:
            return NAN
        return (self.n * self.sty - self.st * self.sy) / spread


class RunSummary:
    """Sink: aggregates a run; `result()` gives the summary as a dict (JSON-ready but NaN)."""

    def __init__(self) -> None:
        self.schema = Schema([])
        self.frames = 0
        self._sums = array("d")
        self._weights = array("d")
        self._hist: Dict[str, Histogram] = {}
        self._peaks: Dict[str, float] = {}
        self._growth = LinearFit()
        self._first: Optional[Tuple[float, List[float]]] = None
        self._last: Optional[Tuple[float, List[float]]] = None
        self._gpu_peak = NAN
        self._gpu_scope = ""

    def open(self, schema: Schema) -> None:
        self.schema = schema
        n = len(schema.columns)
        self._sums, self._weights = array("d", [0.0] * n), array("d", [0.0] * n)
        self._hist = {key: Histogram() for key, _, column in THROUGHPUT
                      if column in schema.column_index}
        self._raw = [schema.raw_index.get(name) for _, name, _ in THROUGHPUT]
        self._gpu_columns = [i for c, i in schema.column_index.items()
                             if c.startswith("nvml.") and c.endswith(".mem_used_bytes")]

    def write(self, frame: Frame) -> None:
        self.frames += 1
        reading = frame.reading
        raw = [reading.values[i] if i is not None else NAN for i in self._raw]
        if self._first is None:
            self._first = (reading.monotonic, raw)
        self._last = (reading.monotonic, raw)
        weight = frame.interval if frame.interval == frame.interval else 0.0
        self._add_means(frame.values, weight)
        for key, _, column in THROUGHPUT:
            value = self.schema.get(frame, column)
            if key in self._hist and value == value and weight > 0:
                self._hist[key].add(value, weight)
        self._add_memory(frame)

    def close(self) -> None:
        """Nothing to release: the report is read with result()."""

    def _add_means(self, values: Sequence[float], weight: float) -> None:
        if weight <= 0.0:
            return
        sums, weights = self._sums, self._weights
        for i, v in enumerate(values):
            if v == v:
                sums[i] += v * weight
                weights[i] += weight

    def _add_memory(self, frame: Frame) -> None:
        for key, column in PEAKS:
            value = self.schema.get(frame, column)
            if value == value and not value <= self._peaks.get(key, -1.0):
                self._peaks[key] = value
        rss = self.schema.get(frame, GROWTH_COLUMN)
        if rss == rss and self.schema.get(frame, "proc.count") > 0:  # not once all have exited
            self._growth.add(frame.reading.monotonic, rss)
        gpu, scope = tree_gpu_memory_bytes(frame.reading.tables), "tree"
        if gpu != gpu and self._gpu_columns:
            used = [v for v in (frame.values[i] for i in self._gpu_columns) if v == v]
            gpu, scope = (sum(used), "device") if used else (NAN, "")
        if gpu == gpu and not gpu <= self._gpu_peak:
            self._gpu_peak, self._gpu_scope = gpu, scope

    # -- the result --------------------------------------------------------------------------
    def means(self) -> Dict[str, List[float]]:
        """{column: [time-weighted mean]}: a window for verdict.py spanning the whole run."""
        return {c: [self._sums[i] / self._weights[i] if self._weights[i] > 0 else NAN]
                for i, c in enumerate(self.schema.columns)}

    def _throughput(self, key: str, k: int) -> Dict[str, float]:
        if self._first is None or self._last is None:
            return {"mean_bytes_per_second": NAN, "p95_bytes_per_second": NAN,
                    "total_bytes": NAN}
        (t0, first), (t1, last) = self._first, self._last
        total = last[k] - first[k]
        hist = self._hist.get(key)
        return {"mean_bytes_per_second": total / (t1 - t0) if t1 > t0 else NAN,
                "p95_bytes_per_second": hist.quantile(0.95) if hist else NAN,
                "total_bytes": total}

    def result(self, cpus: int = 1) -> Dict[str, Any]:
        """The summary: throughput, waiting share, memory, GPU and the verdict."""
        window = self.means()
        tp = {key: self._throughput(key, k) for k, (key, _, _) in enumerate(THROUGHPUT)}
        share, source = waiting_share(window)
        head = verdict(window, cpus)
        elapsed = self._last[0] - self._first[0] if self._first and self._last else 0.0
        return {
            "duration_seconds": elapsed, "samples": self.frames,
            "read": {"calls": tp["read"], "storage": tp["disk_read"]},
            "write": {"calls": tp["write"], "storage": tp["disk_write"]},
            "waiting": {"share_percent": share, "source": source or None,
                        "io_delay_percent": window.get("proc.io_delay_percent", [NAN])[0],
                        "psi_io_some_percent": window.get("host.psi.io_some_percent", [NAN])[0],
                        "iowait_percent": window.get("host.cpu.iowait_percent", [NAN])[0]},
            "memory": {"peak_rss_bytes": self._peaks.get("rss", NAN),
                       "peak_pss_bytes": self._peaks.get("pss", NAN),
                       "peak_host_used_bytes": self._peaks.get("host_used", NAN),
                       "peak_unified_used_bytes": self._peaks.get("unified_used", NAN),
                       "peak_gpu_bytes": self._gpu_peak, "gpu_scope": self._gpu_scope or None,
                       "rss_growth_bytes_per_minute": self._growth.slope() * 60.0},
            "gpu": {"mean_util_percent": dict(gpu_utilisation(window))},
            "verdict": {"level": head.level, "kind": head.kind, "text": head.text},
        }


def _flow(label: str, how: str, flow: Dict[str, float]) -> str:
    return (f"  {label:<9} {how:<21} {fmt_rate(flow['mean_bytes_per_second']):>10} mean "
            f"{fmt_rate(flow['p95_bytes_per_second']):>10} p95   "
            f"({fmt_bytes(flow['total_bytes'])} in all)")


def _waiting(waiting: Dict[str, Any]) -> str:
    parts = [f"process I/O delay {fmt_percent(waiting['io_delay_percent'])}",
             f"PSI io some {fmt_percent(waiting['psi_io_some_percent'])}",
             f"CPU iowait {fmt_percent(waiting['iowait_percent'])}"]
    return (f"  {'waiting':<9} {fmt_percent(waiting['share_percent'])} of wall time waiting "
            f"for data ({', '.join(parts)})")


def _memory(memory: Dict[str, Any]) -> List[str]:
    growth = memory["rss_growth_bytes_per_minute"]
    lines = [f"  {'memory':<9} peak RSS {fmt_bytes(memory['peak_rss_bytes'])}, peak PSS "
             f"{fmt_bytes(memory['peak_pss_bytes'])}, RSS growth "
             f"{'+' if growth > 0 else ''}{fmt_bytes(growth)}/min"]
    scope = {"tree": "held by the process tree", "device": "used on the GPUs (all processes)"}
    gpu = memory["peak_gpu_bytes"]
    lines.append(f"  {'GPU mem':<9} peak {fmt_bytes(gpu)} "
                 f"{scope.get(memory['gpu_scope'] or '', '(no GPU collector)')}")
    if memory["peak_unified_used_bytes"] == memory["peak_unified_used_bytes"]:
        lines.append(f"  {'unified':<9} peak {fmt_bytes(memory['peak_unified_used_bytes'])} "
                     "used (Jetson RAM shared by CPU and GPU)")
    return lines


def render(result: Dict[str, Any], headline: str, notes: Sequence[str] = ()) -> str:
    """The summary as lines of text for a terminal (units from memmap_tui/units.py)."""
    gpus = result["gpu"]["mean_util_percent"]
    util = ", ".join(f"{name} {fmt_percent(v)}" for name, v in gpus.items()) or "- (no GPU)"
    lines = [headline,
             _flow("read", "through read() calls", result["read"]["calls"]),
             _flow("", "from storage", result["read"]["storage"]),
             _flow("written", "through write() calls", result["write"]["calls"]),
             _flow("", "to storage", result["write"]["storage"]),
             _waiting(result["waiting"]),
             *_memory(result["memory"]),
             f"  {'GPU util':<9} mean {util}",
             f"  {'verdict':<9} {result['verdict']['text']}"]
    lines += [f"  {'note':<9} {note}" for note in notes]
    return "\n".join(lines) + "\n"
