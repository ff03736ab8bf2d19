"""The run summary: a sink that keeps running aggregates of a run's frames, and its report.

Nothing per frame is kept: sums and counts per column (for means and the diagnosis), peaks, a
bounded memory series (growth after start-up), first and last raw counter totals (exact mean
throughput: bytes moved over seconds elapsed, as integrating the CSV would give; for a command
`run` launched, its tree counts from zero at the launch (launched()), while the CSV's first row
has no rates, so the CSV leaves out launch to first sample), for p95 a
log-scale histogram of each flow (sinks/aggregates.py), and a bounded timeline of the
diagnosis's columns that cuts the run into phases (memmap_tui.phases). Means and p95 are weighted
by each frame's interval, so a missed tick does not skew them. The verdict is
memmap_tui.verdict.diagnose over the whole run.

When memmap started the command itself (`memmap run`: `launched()`), its tree's counters count
from zero at the launch, so the run starts there: the first frame stands for the time since the
launch (the tree's rates over it, derived from zero), and totals are counted from zero. A
command that ends within the first interval still shows what it read and the CPU it used.

What it reports it finds by role (memmap_tui.roles), never by column name: the tree's bytes
through calls and from storage, its read calls, CPU and busiest thread, every WAITING signal,
every MEMORY_PEAK figure, the MEMORY_GROWTH source, every GPU_MEMORY figure, and every
THROUGHPUT flow of the host.
"""

from __future__ import annotations

import math
from array import array
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from .. import roles as R
from .. import thresholds as T
from ..derive import derive
from ..figures import count_positions, gpu_utilisation, weight_in
from ..model import COUNTER, Frame, MetricSpec, Reading, Schema, summary_key
from ..phases import Timeline, whole_run
from ..tables import tree_gpu_memory_bytes
from ..units import fmt_bytes, fmt_count, fmt_percent, fmt_rate
from ..verdict import diagnose, wait_is_the_trees, waiting_share
from .aggregates import Growth, Histogram

NAN = math.nan

# (section, kind, role) of the tree's flows the summary reports: its read/write calls/storage
TREE_FLOWS = (("read", "calls", R.BYTES_READ), ("read", "storage", R.STORAGE_READ),
              ("write", "calls", R.BYTES_WRITTEN), ("write", "storage", R.STORAGE_WRITTEN))


class RunSummary:
    """Sink: aggregates a run; `result()` gives the summary as a dict (JSON-ready but NaN)."""

    def __init__(self) -> None:
        self.schema = Schema([])
        self.frames = 0
        self._sums = array("d")
        self._weights = array("d")
        self._counted_by: List[int] = []  # per column: its count weight's column, or -1
        self._flows: List[Tuple[str, MetricSpec]] = []  # (key, spec) of every reported flow
        self._hist: Dict[str, Histogram] = {}
        self._raw: List[Optional[int]] = []
        self._peaks: Dict[str, float] = {}
        self._peak_specs: List[MetricSpec] = []
        self._growth = Growth()
        self._growth_spec: Optional[MetricSpec] = None
        self._processes: Optional[MetricSpec] = None
        self._began: Optional[float] = None  # when the run began (monotonic)
        self._last: Optional[Tuple[float, List[float]]] = None
        self._gpu_peak = NAN
        self._gpu_scope = ""
        self._gpu_columns: List[int] = []
        self._timeline = Timeline(self.schema)
        self._partial: Dict[str, float] = {}  # PARTIAL markers: most processes left out
        self._partial_specs: List[MetricSpec] = []
        self._launch: Optional[Tuple[float, float]] = None  # (monotonic, wall) of the launch
        self._starts: List[Tuple[float, float]] = []  # per flow: (time, raw total) it counts from
        self._from_zero: Set[int] = set()  # raw indices of the tree's counters

    def launched(self, monotonic: float, wall: float) -> None:
        """memmap started the watched command at this time; its tree counts from zero there."""
        self._launch = (monotonic, wall)

    def open(self, schema: Schema) -> None:
        self.schema = schema
        n = len(schema.columns)
        self._sums, self._weights = array("d", [0.0] * n), array("d", [0.0] * n)
        self._counted_by = count_positions(schema, schema.columns)
        tree = [(f"{section}.{kind}", schema.first(role, R.TREE))
                for section, kind, role in TREE_FLOWS]
        tree.append(("read.count", schema.first(R.READ_CALLS, R.TREE)))
        host = [(summary_key(s), s) for s in schema.having(R.THROUGHPUT_FLOW)]
        self._flows = [(key, spec) for key, spec in tree + host if spec is not None]
        self._hist = {key: Histogram() for key, _ in self._flows}
        self._raw = [schema.raw_index.get(spec.name) if spec.kind == COUNTER else None
                     for _, spec in self._flows]
        self._peak_specs = schema.having(R.MEMORY_PEAK)
        self._growth_spec = schema.first(R.MEMORY_GROWTH)
        self._processes = schema.first(R.PROCESSES, R.TREE)
        self._gpu_columns = [schema.column_index[s.column] for s in schema.having(R.GPU_MEMORY)
                             if s.column]
        self._timeline = Timeline(schema)
        self._partial = {summary_key(s): NAN for s in schema.having(R.PARTIAL)}
        self._partial_specs = schema.having(R.PARTIAL)
        self._from_zero = {i for i, s in enumerate(schema.specs)
                           if s.kind == COUNTER and R.TREE in s.roles}

    def write(self, frame: Frame) -> None:
        self.frames += 1
        reading = frame.reading
        raw = [reading.values[i] if i is not None else NAN for i in self._raw]
        if self._began is None:
            frame = self._start(frame, raw)
        self._last = (reading.monotonic, raw)
        weight = frame.interval if frame.interval == frame.interval else 0.0
        self._add_means(frame.values, weight)
        if weight > 0:
            for key, spec in self._flows:
                value = self.schema.get(frame, spec.column or "")
                if value == value:
                    self._hist[key].add(value, weight)
        self._timeline.add(reading.monotonic, frame.values, weight)
        self._add_memory(frame)
        for spec in self._partial_specs:
            key, value = summary_key(spec), self._value(frame, spec)
            if value == value and not value <= self._partial[key]:
                self._partial[key] = value

    def _start(self, frame: Frame, raw: List[float]) -> Frame:
        """Take the run's start from the first frame, or from the launch when memmap started
        the command: the first frame then stands for the time since the launch, with the
        tree's rates over it from zero (derive), and the tree's flows count from zero."""
        t = self._began = frame.reading.monotonic
        self._starts = [(t, v) for v in raw]
        if self._launch is None or not self._launch[0] < t:
            return frame
        t0, wall0 = self._launch
        self._began = t0
        zero = [0.0 if i in self._from_zero else NAN for i in range(len(frame.reading.values))]
        self._starts = [(t0, 0.0) if i is not None and i in self._from_zero else start
                        for i, start in zip(self._raw, self._starts)]
        return derive(self.schema, Reading(t0, wall0, zero), frame.reading)

    def close(self) -> None:
        """Nothing to release: the report is read with result()."""

    def _add_means(self, values: Sequence[float], weight: float) -> None:
        if weight <= 0.0:
            return
        sums, weights = self._sums, self._weights
        for i, (v, by) in enumerate(zip(values, self._counted_by)):
            if v == v:
                w = weight_in(values, by, weight)  # a ratio: by its count
                if w > 0.0:
                    sums[i] += v * w
                    weights[i] += w

    def _value(self, frame: Frame, spec: Optional[MetricSpec]) -> float:
        return self.schema.get(frame, spec.column or "") if spec is not None else NAN

    def _add_memory(self, frame: Frame) -> None:
        for spec in self._peak_specs:
            key, value = summary_key(spec), self._value(frame, spec)
            if value == value and not value <= self._peaks.get(key, -1.0):
                self._peaks[key] = value
        grown = self._value(frame, self._growth_spec)
        alive = self._value(frame, self._processes)
        if grown == grown and not alive <= 0:  # not once all have exited
            self._growth.add(frame.reading.monotonic, grown)
        gpu, scope = tree_gpu_memory_bytes(frame.reading.tables), "tree"
        if gpu != gpu and self._gpu_columns:
            used = [v for v in (frame.values[i] for i in self._gpu_columns) if v == v]
            gpu, scope = (sum(used), "device") if used else (NAN, "")
        if gpu == gpu and not gpu <= self._gpu_peak:
            self._gpu_peak, self._gpu_scope = gpu, scope

    # -- the result --------------------------------------------------------------------------
    def means(self) -> Dict[str, List[float]]:
        """{column: [time-weighted mean]}: a window for the diagnosis spanning the whole run."""
        return {c: [self._sums[i] / self._weights[i] if self._weights[i] > 0 else NAN]
                for i, c in enumerate(self.schema.columns)}

    def _throughput(self, key: str, k: int) -> Dict[str, float]:
        hist = self._hist.get(key)
        p95 = hist.quantile(0.95) if hist else NAN
        if not self._starts or self._last is None or self._raw[k] is None:
            return {"mean_bytes_per_second": NAN, "p95_bytes_per_second": p95,
                    "total_bytes": NAN}
        (t0, first), (t1, last) = self._starts[k], self._last
        total = last[k] - first
        return {"mean_bytes_per_second": total / (t1 - t0) if t1 > t0 else NAN,
                "p95_bytes_per_second": p95, "total_bytes": total}

    def _mean(self, window: Dict[str, List[float]], *roles: str) -> float:
        spec = self.schema.first(*roles)
        return window.get(spec.column or "", [NAN])[0] if spec is not None else NAN

    def result(self) -> Dict[str, Any]:
        """The summary: throughput, waiting share, CPU, memory, GPU, the verdict and phases."""
        window = self.means()
        flows = {key: self._throughput(key, k) for k, (key, _) in enumerate(self._flows)}
        share, source = waiting_share(window, self.schema)
        phases = self._timeline.phases()
        head = whole_run(diagnose(window, self.schema), phases)
        elapsed = (self._last[0] - self._began
                   if self._began is not None and self._last is not None else 0.0)
        section = {f"{s}.{k}": flows.get(f"{s}.{k}") or _no_flow() for s, k, _ in TREE_FLOWS}
        calls = flows.get("read.count", {})
        read_calls = dict(section["read.calls"],
                          calls_per_second=calls.get("mean_bytes_per_second", NAN),
                          bytes_per_call=_ratio(section["read.calls"]["total_bytes"],
                                                calls.get("total_bytes", NAN)))
        cached = 100.0 * (1.0 - _ratio(section["read.storage"]["total_bytes"],
                                       read_calls["total_bytes"]))
        waiting: Dict[str, Any] = {"share_percent": share,
                                   "source": source.column if source is not None else None,
                                   "the_trees": wait_is_the_trees(window, self.schema, source)}
        for spec in self.schema.having(R.WAITING):
            waiting[summary_key(spec)] = window.get(spec.column or "", [NAN])[0]
        growth, growth_note = self._growth.per_minute()
        memory: Dict[str, Any] = {f"peak_{summary_key(s)}_bytes":
                                  self._peaks.get(summary_key(s), NAN) for s in self._peak_specs}
        memory.update(peak_gpu_bytes=self._gpu_peak, gpu_scope=self._gpu_scope or None,
                      rss_growth_bytes_per_minute=growth, growth_note=growth_note or None)
        return {
            "duration_seconds": elapsed, "samples": self.frames,
            "read": {"calls": read_calls, "storage": section["read.storage"],
                     "page_cache_percent": max(0.0, min(100.0, cached)) if cached == cached
                     else NAN},
            "write": {"calls": section["write.calls"], "storage": section["write.storage"]},
            "flows": {key: dict(flows[key], label=spec.shown_label)
                      for key, spec in self._flows if spec.has(R.THROUGHPUT_FLOW)},
            "cpu": {"tree_percent": self._mean(window, R.CPU_CORES, R.TREE),
                    "busiest_thread_percent": self._mean(window, R.THREAD_MAX, R.TREE),
                    "busiest_process_percent": self._mean(window, R.PROCESS_MAX, R.TREE),
                    "busiest_process_busy_threads": self._mean(window, R.BUSY_THREADS, R.TREE),
                    "host_percent": self._mean(window, R.CPU_BUSY, R.HOST)},
            "waiting": waiting,
            "memory": memory,
            "gpu": {"mean_util_percent": dict(gpu_utilisation(window, self.schema))},
            "verdict": head.as_dict(),
            "phases": [p.as_dict() for p in phases],
            # how many processes a sum left out at worst (0: whole; see roles.PARTIAL)
            "partial": dict(self._partial),
        }


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 and part == part else NAN


def _no_flow() -> Dict[str, float]:
    return {"mean_bytes_per_second": NAN, "p95_bytes_per_second": NAN, "total_bytes": NAN}


# -- the text -------------------------------------------------------------------------------------
def _flow(label: str, how: str, flow: Dict[str, float]) -> str:
    return (f"  {label:<9} {how:<21} {fmt_rate(flow['mean_bytes_per_second']):>10} mean "
            f"{fmt_rate(flow['p95_bytes_per_second']):>10} p95   "
            f"({fmt_bytes(flow['total_bytes'])} in all)")


def _calls(read: Dict[str, Any]) -> str:
    calls = read["calls"]
    return (f"  {'':<9} {fmt_count(calls['calls_per_second'])} read calls/s of "
            f"{fmt_bytes(calls['bytes_per_call'])}; {fmt_percent(read['page_cache_percent'])} "
            "of the bytes read not from storage (page cache, pipes, sockets)")


def _cpu(cpu: Dict[str, float]) -> str:
    threads = cpu["busiest_process_busy_threads"]
    busy = (f" over {threads:.0f} busy thread{'' if round(threads) == 1 else 's'}"
            if threads == threads else "")
    return (f"  {'CPU':<9} tree {fmt_percent(cpu['tree_percent'])} of a core, busiest thread "
            f"{fmt_percent(cpu['busiest_thread_percent'])}, busiest process "
            f"{fmt_percent(cpu['busiest_process_percent'])}{busy}, all CPUs "
            f"{fmt_percent(cpu['host_percent'])}")


def _waiting(waiting: Dict[str, Any], schema: Schema, written: float, read: float) -> str:
    """The waiting line. The signals (I/O delay, iowait, I/O pressure) count waits for reads
    and writes alike; a tree that wrote more to storage than it read (at least
    tree_moves_data a second) waited for its writes. A job's or the host's wait that is not
    the tree's (it moved little to or from storage) is said to be others'."""
    parts = [f"{spec.shown_label} {fmt_percent(waiting.get(summary_key(spec), NAN))}"
             for spec in schema.having(R.WAITING)]
    writes = written >= T.TREE_MOVES_DATA and written > (read if read == read else 0.0)
    what = "writes to storage" if writes else "data"
    whose = ("" if waiting.get("the_trees", True) else
             "; others' wait: the tree moved little to or from storage")
    return (f"  {'waiting':<9} {fmt_percent(waiting['share_percent'])} of wall time waiting "
            f"for {what} ({', '.join(parts) or 'not measured'}{whose})")


def _memory(memory: Dict[str, Any], schema: Schema) -> List[str]:
    peaks = [f"{spec.shown_label} {fmt_bytes(memory[f'peak_{summary_key(spec)}_bytes'])}"
             for spec in schema.having(R.MEMORY_PEAK)]
    grows = schema.first(R.MEMORY_GROWTH)
    if grows is not None:
        growth = memory["rss_growth_bytes_per_minute"]
        said = memory["growth_note"] or (f"{'+' if growth > 0 else ''}{fmt_bytes(growth)}/min "
                                         "after start-up")
        peaks.append(f"{grows.shown_label} growth {said}")
    lines = [f"  {'memory':<9} peak {', '.join(peaks)}"] if peaks else []
    scope = {"tree": "held by the process tree", "device": "used on the GPUs (all processes)"}
    gpu = memory["peak_gpu_bytes"]
    lines.append(f"  {'GPU mem':<9} peak {fmt_bytes(gpu)} "
                 f"{scope.get(memory['gpu_scope'] or '', '(no GPU collector)')}")
    return lines


def _phases(phases: Sequence[Dict[str, Any]]) -> List[str]:
    if len(phases) < 2:
        return []
    return [f"  {'phase' if i == 0 else '':<9} {p['start']:6.1f}-{p['end']:6.1f} s  {p['text']}"
            for i, p in enumerate(phases)]


def _job(job: Dict[str, Any]) -> List[str]:
    """The job the command ran in (memmap run adds it), when there is one."""
    if not job.get("id"):
        return []
    who = f" ({job['user']})" if job.get("user") else ""
    return [f"  {'job':<9} {job.get('scheduler') or 'job'} {job['id']}{who}"]


def render(result: Dict[str, Any], schema: Schema, headline: str,
           notes: Sequence[str] = ()) -> str:
    """The summary as lines of text for a terminal (units from memmap_tui/units.py); `schema`
    gives each figure its label."""
    gpus = result["gpu"]["mean_util_percent"]
    util = ", ".join(f"{name} {fmt_percent(v)}" for name, v in gpus.items()) or "- (no GPU)"
    lines = [headline,
             _flow("read", "through read() calls", result["read"]["calls"]),
             _calls(result["read"]),
             _flow("", "from storage", result["read"]["storage"]),
             _flow("written", "through write() calls", result["write"]["calls"]),
             _flow("", "to storage", result["write"]["storage"])]
    lines += [_flow("host" if i == 0 else "", flow["label"], flow)
              for i, flow in enumerate(result["flows"].values())]
    lines += _job(result.get("job") or {})
    lines += [_cpu(result["cpu"]),
              _waiting(result["waiting"], schema,
                       result["write"]["storage"]["mean_bytes_per_second"],
                       result["read"]["storage"]["mean_bytes_per_second"]),
              *_memory(result["memory"], schema),
              f"  {'GPU util':<9} mean {util}",
              f"  {'verdict':<9} {result['verdict']['text']}",
              *_phases(result["phases"])]
    lines += _partial(result.get("partial", {}), schema)
    lines += [f"  {'note':<9} {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _partial(partial: Dict[str, float], schema: Schema) -> List[str]:
    """A line per PARTIAL marker that was above 0: those sums are partial."""
    lines = []
    for spec in schema.having(R.PARTIAL):
        most = partial.get(summary_key(spec), NAN)
        if most == most and most > 0:
            lines.append(f"  {'partial':<9} {spec.shown_label} for up to {most:.0f} "
                         f"process{'es' if most > 1 else ''}: the sums leave "
                         f"{'them' if most > 1 else 'it'} out ({spec.column} in the CSV)")
    return lines
