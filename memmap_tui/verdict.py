"""The bottleneck verdict: one headline, in words, from a window of frames.

Used alike by the TUI (over the last 10 s), `memmap run`'s summary and `memmap report` (over
the whole recording), so the three never disagree. Thresholds, all means over the window:

| signal | column(s) | threshold |
|---|---|---|
| reclaim stalls | host.psi.memory_full_percent / memory_some_percent | >= 5 % / >= 20 % |
| waiting for data | the most of proc.io_delay_percent, host.psi.io_some_percent, |  |
|  | host.cpu.iowait_percent | >= 20 % |
| GPU starving | a GPU's util_percent <= 50 % while waiting for data >= 20 % | |
| GPU-bound | a GPU's util_percent >= 90 % | |
| CPU-bound | host.cpu.util_percent (or proc.cpu_percent / CPUs) >= 90 % | |

GPU utilisation comes from `nvml.gpu<i>.util_percent`, `tegra.gpu.util_percent` or
`jetson.gpu.util_percent`, whichever exist. With no GPU it speaks of I/O and memory only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

WAIT_THRESHOLD = 20.0
GPU_IDLE_UTIL = 50.0
GPU_BUSY_UTIL = 90.0
CPU_BUSY = 90.0
MEMORY_FULL_THRESHOLD = 5.0
MEMORY_SOME_THRESHOLD = 20.0
WINDOW_SECONDS = 10.0

_GPU_COLUMN = re.compile(r"^(?:nvml\.gpu(\d+)|tegra\.gpu|jetson\.gpu)\.util_percent$")
WAIT_COLUMNS = ("proc.io_delay_percent", "host.psi.io_some_percent", "host.cpu.iowait_percent")

OK, WARN, BAD = "ok", "warn", "bad"


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


def gpu_utilisation(window: Mapping[str, Sequence[float]]) -> List[Tuple[str, float]]:
    """[(GPU label, mean util %)] for every GPU column with data in the window."""
    found = []
    for column, values in window.items():
        m = _GPU_COLUMN.match(column)
        util = mean(values) if m else math.nan
        if m and not math.isnan(util):
            found.append((f"GPU {m.group(1)}" if m.group(1) is not None else "GPU", util))
    return sorted(found)


def waiting_share(window: Mapping[str, Sequence[float]]) -> Tuple[float, str]:
    """(share of time waiting for data %, which signal said so); NaN when nothing measures it."""
    best, source = math.nan, ""
    for column in WAIT_COLUMNS:
        value = mean(window.get(column, ()))
        if not math.isnan(value) and (math.isnan(best) or value > best):
            best, source = value, column
    return best, source


def _memory_verdict(window: Mapping[str, Sequence[float]]) -> Optional[Verdict]:
    full = mean(window.get("host.psi.memory_full_percent", ()))
    some = mean(window.get("host.psi.memory_some_percent", ()))
    if full >= MEMORY_FULL_THRESHOLD or some >= MEMORY_SOME_THRESHOLD:
        stall = some if not math.isnan(some) else full
        return Verdict(BAD, "memory", f"memory pressure: reclaim stalls {stall:.0f} %")
    return None


def _wait_words(source: str) -> str:
    return {"proc.io_delay_percent": "the process waits on I/O",
            "host.psi.io_some_percent": "I/O pressure is",
            "host.cpu.iowait_percent": "CPU I/O wait is"}.get(source, "waiting is")


def verdict(window: Mapping[str, Sequence[float]], cpus: int = 1) -> Verdict:
    """The headline for a window: column name -> values over the window (NaN allowed)."""
    memory = _memory_verdict(window)
    if memory is not None:
        return memory
    gpus = gpu_utilisation(window)
    wait, source = waiting_share(window)
    waiting = not math.isnan(wait) and wait >= WAIT_THRESHOLD
    if gpus:
        name, util = min(gpus, key=lambda g: g[1])
        if waiting and util <= GPU_IDLE_UTIL:
            return Verdict(BAD, "starving", f"{name} idle {100 - util:.0f} % while "
                                            f"{_wait_words(source)} {wait:.0f} %: waiting on data")
        if waiting:
            return Verdict(WARN, "io", f"I/O-bound: {wait:.0f} % of the time waiting for data")
        busiest, top = max(gpus, key=lambda g: g[1])
        if top >= GPU_BUSY_UTIL:
            return Verdict(OK, "gpu", f"{busiest} busy {top:.0f} %: GPU-bound, data keeps up")
    elif waiting:
        return Verdict(WARN, "io", f"I/O-bound: {wait:.0f} % of the time waiting for data")
    cpu = mean(window.get("host.cpu.util_percent", ()))
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
