"""Joins across collectors' per-entity tables (`Reading.tables`), for the panes and summaries.

GPU memory per process: the nvml collector's rows are {"gpu", "pid", "used_gpu_memory_bytes"}
(one per process per GPU); the process collector's rows are the watched tree's processes. The
two meet here, on the consumer side, from the same Reading, so collectors never read each other
and data keeps flowing one way. NVML's per-process memory can be missing (None or NaN: some
drivers, containers with their own PID namespace); such rows count as not known.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

NAN = math.nan


def gpu_memory_by_pid(nvml_rows: Optional[Sequence[Mapping[str, Any]]]) -> Dict[int, float]:
    """{pid: GPU memory bytes, summed over GPUs} from the nvml collector's table rows."""
    found: Dict[int, float] = {}
    for row in nvml_rows or ():
        pid, used = row.get("pid"), row.get("used_gpu_memory_bytes")
        if pid is not None and used is not None and used == used:
            found[pid] = found.get(pid, 0.0) + float(used)
    return found


def with_gpu_memory(tables: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The process rows of a Reading's tables with gpu_memory_bytes filled from nvml's rows."""
    by_pid = gpu_memory_by_pid(tables.get("nvml")) if "nvml" in tables else None
    rows = []
    for row in tables.get("process") or ():
        row = dict(row)
        if by_pid is not None and not row.get("exited"):
            row["gpu_memory_bytes"] = by_pid.get(row["pid"], 0.0)
        rows.append(row)
    return rows


def tree_gpu_memory_bytes(tables: Mapping[str, Any]) -> float:
    """GPU memory held by the watched tree's live processes; NaN without per-process rows."""
    if "nvml" not in tables or "process" not in tables:
        return NAN
    by_pid = gpu_memory_by_pid(tables["nvml"])
    if tables["nvml"] and not by_pid:
        return NAN  # GPU processes listed, but the driver does not say how much each holds
    return sum(by_pid.get(r["pid"], 0.0) for r in tables["process"] if not r.get("exited"))
