"""GPU helpers shared by the nvml and jtop collectors: PCIe link arithmetic and per-process sums.

Pure functions, no hardware access.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Optional, Tuple

NAN = math.nan

# PCIe generation -> (transfer rate in GT/s per lane, payload fraction after line encoding).
# Gen 1-2 use 8b/10b, gen 3-5 128b/130b; gen 6 is PAM4 with 1b/1b encoding in 256-byte FLITs of
# which 242 bytes carry TLPs/DLLPs (the rest is CRC and FEC).
PCIE_LANE_RATES: Dict[int, Tuple[float, float]] = {
    1: (2.5, 8 / 10),
    2: (5.0, 8 / 10),
    3: (8.0, 128 / 130),
    4: (16.0, 128 / 130),
    5: (32.0, 128 / 130),
    6: (64.0, 242 / 256),
}


def pcie_link_max_bytes_per_second(gen: Optional[float], width: Optional[float]) -> float:
    """Theoretical one-direction payload bytes/s of a PCIe link; NaN for an unknown generation.

    gen3 x16 is 8e9 * 128/130 / 8 * 16 = 15.75e9 bytes/s. Protocol overhead (TLP headers,
    flow control) makes real copies reach roughly 80-90 % of this.
    """
    try:
        rate_gt, efficiency = PCIE_LANE_RATES[int(gen)]  # type: ignore[arg-type]
        return rate_gt * 1e9 * efficiency / 8 * float(width)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return NAN


def sum_gpu_memory(rows: Iterable[Dict[str, Any]], pids: Iterable[int]) -> float:
    """Bytes of GPU memory held by `pids`, over per-process rows from nvml or jtop `table()`.

    Rows need "pid" and "used_gpu_memory_bytes" (None or NaN when the driver does not say).
    0.0 when no row belongs to the pids; NaN when every matching row's size is unknown.
    """
    wanted = set(pids)
    total, known, matched = 0.0, False, False
    for row in rows:
        if row.get("pid") not in wanted:
            continue
        matched = True
        size = row.get("used_gpu_memory_bytes")
        if size is not None and not math.isnan(size):
            total, known = total + float(size), True
    return total if known or not matched else NAN


def merge_process_row(merged: Dict[int, Dict[str, Any]], gpu: int, gpu_name: str, proc: Any,
                      kind: str) -> None:
    """Fold one NVML process entry (`.pid`, `.usedGpuMemory`) of `kind` "C" or "G" into rows.

    A process in both the compute and the graphics list holds one allocation (nvidia-smi shows
    "C+G"), so its size is the larger of the two, not the sum.
    """
    pid = int(proc.pid)
    used = getattr(proc, "usedGpuMemory", None)
    row = merged.setdefault(pid, {"gpu": gpu, "name": gpu_name, "pid": pid,
                                  "used_gpu_memory_bytes": None, "type": ""})
    row["type"] = "C+G" if row["type"] and row["type"] != kind else kind
    if used is not None:
        row["used_gpu_memory_bytes"] = max(int(used), row["used_gpu_memory_bytes"] or 0)
