"""The bottleneck verdict: one headline, in words, from a window of frames.

Used alike by the TUI (over the last 10 s), `memmap run`'s summary and `memmap report` (over
the whole recording), so the three never disagree. It reads metrics by their roles
(memmap_tui.roles), never by name, so a collector that declares a waiting signal or a GPU-busy
signal is heard here without a change. Thresholds, all means over the window:

| signal (role) | threshold |
|---|---|
| reclaim stalls (MEMORY_STALL_FULL / MEMORY_STALL) | >= 5 % / >= 20 % |
| waiting for data (the most of every WAITING metric) | >= 20 % |
| GPU starving: a GPU's busy share (GPU_ACTIVITY, else GPU_UTIL) while waiting >= 20 % | <= 50 % |
| GPU-bound: a GPU's busy share | >= 90 % |
| CPU-bound: all CPUs busy (CPU_BUSY, HOST) | >= 90 % |

With no GPU it speaks of I/O, memory and CPU only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from . import roles as R
from .model import MetricSpec, Schema

WAIT_THRESHOLD = 20.0
GPU_IDLE_UTIL = 50.0
GPU_BUSY_UTIL = 90.0
CPU_BUSY = 90.0
MEMORY_FULL_THRESHOLD = 5.0
MEMORY_SOME_THRESHOLD = 20.0

OK, WARN, BAD = "ok", "warn", "bad"
Window = Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class Verdict:
    """level: ok / warn / bad; kind: a stable word for scripts; text: the headline."""

    level: str
    kind: str
    text: str


def mean(values: Sequence[float]) -> float:
    """Mean of the values that are not NaN; NaN when there are none."""
    good = [v for v in values if not math.isnan(v)]
    return sum(good) / len(good) if good else math.nan


def _mean_of(window: Window, spec: Optional[MetricSpec]) -> float:
    return mean(window.get(spec.column or "", ())) if spec is not None else math.nan


def gpu_name(spec: MetricSpec) -> str:
    """"GPU 0" for a metric of GPU 0 (its `gpu` label), "GPU" for a board's only GPU."""
    index = dict(spec.labels).get("gpu")
    return f"GPU {index}" if index is not None else "GPU"


def gpu_busy_specs(schema: Schema) -> List[MetricSpec]:
    """Per GPU, the metric that says how busy it is: SM activity where the GPU gives it
    (GPM), else its utilisation."""
    chosen: Dict[str, MetricSpec] = {}
    for spec in schema.having(R.GPU_UTIL):
        chosen.setdefault(gpu_name(spec), spec)
    for spec in schema.having(R.GPU_ACTIVITY):
        chosen[gpu_name(spec)] = spec
    return list(chosen.values())


def gpu_utilisation(window: Window, schema: Schema) -> List[Tuple[str, float]]:
    """[(GPU name, mean busy %)] for every GPU with data in the window."""
    found = []
    for spec in gpu_busy_specs(schema):
        busy = _mean_of(window, spec)
        if not math.isnan(busy):
            found.append((gpu_name(spec), busy))
    return sorted(found)


def own_first(specs: List[MetricSpec]) -> List[MetricSpec]:
    """The signals to read: on a shared node the host's stalls may be another job's, so where the
    job's own cgroup gives one (scope JOB), the host-wide ones (HOST) are left out."""
    if any(s.has(R.JOB) for s in specs):
        return [s for s in specs if not s.has(R.HOST)]
    return specs


def _first(schema: Schema, role: str) -> Optional[MetricSpec]:
    found = own_first(schema.having(role))
    return found[0] if found else None


def waiting_share(window: Window, schema: Schema) -> Tuple[float, Optional[MetricSpec]]:
    """(share of time waiting for data %, the metric that said so); NaN when none measures it.
    The job's own stalls stand in for the host's where they exist (own_first)."""
    best, source = math.nan, None
    for spec in own_first(schema.having(R.WAITING)):
        value = _mean_of(window, spec)
        if not math.isnan(value) and (math.isnan(best) or value > best):
            best, source = value, spec
    return best, source


def needed_columns(schema: Schema) -> List[str]:
    """Every column the verdict reads, for callers that build windows of only those."""
    specs = [*schema.having(R.WAITING), *gpu_busy_specs(schema), schema.first(R.CPU_BUSY, R.HOST),
             _first(schema, R.MEMORY_STALL), _first(schema, R.MEMORY_STALL_FULL)]
    return list(dict.fromkeys(s.column for s in specs if s is not None and s.column))


def _memory_verdict(window: Window, schema: Schema) -> Optional[Verdict]:
    full = _mean_of(window, _first(schema, R.MEMORY_STALL_FULL))
    some = _mean_of(window, _first(schema, R.MEMORY_STALL))
    if full >= MEMORY_FULL_THRESHOLD or some >= MEMORY_SOME_THRESHOLD:
        stall = some if not math.isnan(some) else full
        return Verdict(BAD, "memory", f"memory pressure: reclaim stalls {stall:.0f} %")
    return None


def verdict(window: Window, schema: Schema) -> Verdict:
    """The headline for a window: column name -> values over the window (NaN allowed)."""
    memory = _memory_verdict(window, schema)
    if memory is not None:
        return memory
    gpus = gpu_utilisation(window, schema)
    wait, source = waiting_share(window, schema)
    waiting = not math.isnan(wait) and wait >= WAIT_THRESHOLD
    said = source.shown_label if source is not None else "waiting"
    if gpus:
        name, util = min(gpus, key=lambda g: g[1])
        if waiting and util <= GPU_IDLE_UTIL:
            return Verdict(BAD, "starving", f"{name} idle {100 - util:.0f} % while "
                                            f"{said} is {wait:.0f} %: waiting on data")
        if waiting:
            return Verdict(WARN, "io", f"I/O-bound: {wait:.0f} % of the time waiting for data")
        busiest, top = max(gpus, key=lambda g: g[1])
        if top >= GPU_BUSY_UTIL:
            return Verdict(OK, "gpu", f"{busiest} busy {top:.0f} %: GPU-bound, data keeps up")
    elif waiting:
        return Verdict(WARN, "io", f"I/O-bound: {wait:.0f} % of the time waiting for data")
    cpu = _mean_of(window, schema.first(R.CPU_BUSY, R.HOST))
    if cpu >= CPU_BUSY:
        return Verdict(WARN, "cpu", f"CPU-bound: CPUs busy {cpu:.0f} %")
    if gpus and min(g[1] for g in gpus) <= GPU_IDLE_UTIL:
        name, util = min(gpus, key=lambda g: g[1])
        return Verdict(OK, "gpu-idle", f"{name} idle {100 - util:.0f} %, not waiting on I/O")
    return Verdict(OK, "none", "no bottleneck seen")


def window_from_rows(columns: Sequence[str], rows: Sequence[Sequence[float]]
                     ) -> Dict[str, List[float]]:
    """Column-wise window from rows (e.g. the ring's latest(n) with columns[0] = timestamp)."""
    return {name: [row[i] for row in rows] for i, name in enumerate(columns)}
