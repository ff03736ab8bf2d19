#!/usr/bin/env python3
"""Write the deterministic recording the TUI's snapshot tests and screenshots are drawn from.

A made-up but plausible two minutes of a training job on a one-GPU host, sampled every 0.5 s:
30 s cycles of 20 s computing (GPU busy, PCIe busy, little disk) and 10 s loading the next
shard (disk reads at ~1.8 GB/s, iowait and PSI io up, the process waiting on I/O, the GPU
starving). The recording ends in a loading phase, so the verdict has something to say. Every
value comes from a fixed formula of the sample number (no randomness, no clock), so running
this script again gives the same bytes.

Writes tests/data/tui_recording.csv (host.*, nvml.gpu0.* and proc.* columns, as `memmap record`
names them) and tests/data/tui_tables.json (the per-process and per-GPU-process rows a live
process collector and NVML would give at the end of the recording).

    python scripts/make_tui_recording.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
START = 1_700_000_000.0
INTERVAL = 0.5
SAMPLES = 240
GiB = 2.0**30
CYCLE, LOADING = 30.0, 10.0  # seconds per cycle; the last LOADING seconds of each read data


def wobble(i: int, period: float, amplitude: float) -> float:
    """A smooth deterministic ripple, so graphs are not flat lines."""
    return amplitude * math.sin(2 * math.pi * i / period)


def loading(i: int) -> bool:
    return (i * INTERVAL) % CYCLE >= CYCLE - LOADING


def host(i: int) -> Dict[str, float]:
    load = loading(i)
    read = (1.8e9 + wobble(i, 7, 1.5e8)) if load else 2.0e7 + wobble(i, 5, 1.0e7)
    total = 31.2 * GiB
    used = 9.5 * GiB + 0.004 * GiB * i + wobble(i, 40, 0.1 * GiB)
    cached = 14.0 * GiB + (0.01 * GiB * i if load else 0.0)
    iowait = (24.0 + wobble(i, 6, 4.0)) if load else 1.0 + wobble(i, 9, 0.5)
    return {
        "host.cpu.util_percent": (38.0 if load else 62.0) + wobble(i, 11, 6.0),
        "host.cpu.iowait_percent": iowait,
        "host.mem.total_bytes": total,
        "host.mem.used_bytes": used,
        "host.mem.available_bytes": total - used - 0.5 * GiB,
        "host.mem.cached_bytes": cached,
        "host.mem.dirty_bytes": 0.05 * GiB + wobble(i, 13, 0.02 * GiB),
        "host.swap.used_bytes": 0.2 * GiB,
        "host.swap.total_bytes": 8.0 * GiB,
        "host.vm.major_faults_per_second": (40.0 if load else 2.0) + wobble(i, 5, 1.0),
        "host.disk.read_bytes_per_second": read,
        "host.disk.write_bytes_per_second": 4.0e7 + wobble(i, 17, 3.0e7) + (2e8 if i % 60 < 4
                                                                              else 0.0),
        "host.net.rx_bytes_per_second": 1.2e8 + wobble(i, 23, 8.0e7),
        "host.net.tx_bytes_per_second": 3.0e7 + wobble(i, 19, 2.0e7),
        "host.psi.io_some_percent": (31.0 + wobble(i, 8, 5.0)) if load else 0.8,
        "host.psi.io_full_percent": (12.0 + wobble(i, 8, 3.0)) if load else 0.2,
        "host.psi.memory_some_percent": 0.3 + wobble(i, 21, 0.2),
        "host.psi.memory_full_percent": 0.0,
    }


def gpu(i: int) -> Dict[str, float]:
    load = loading(i)
    util = (22.0 + wobble(i, 5, 8.0)) if load else 96.0 + wobble(i, 7, 3.0)
    g = "nvml.gpu0."
    return {
        g + "util_percent": util,
        g + "mem_util_percent": util * 0.55,
        g + "mem_used_bytes": 17.5 * GiB + wobble(i, 30, 0.3 * GiB),
        g + "mem_total_bytes": 24.0 * GiB,
        g + "pcie_rx_bytes_per_second": (0.6e9 if load else 7.5e9) + wobble(i, 6, 4.0e8),
        g + "pcie_tx_bytes_per_second": 0.4e9 + wobble(i, 9, 1.0e8),
        g + "pcie_link_max_bytes_per_second": 31.5e9,
        g + "power_watts": (120.0 if load else 285.0) + wobble(i, 10, 12.0),
        g + "temperature_celsius": 64.0 + wobble(i, 120, 6.0),
        g + "sm_clock_mhz": 1890.0 if not load else 1410.0,
        g + "mem_clock_mhz": 9501.0,
    }


def process(i: int) -> Dict[str, float]:
    load = loading(i)
    return {
        "proc.count": 6.0,
        "proc.cpu_percent": (140.0 if load else 310.0) + wobble(i, 9, 20.0),
        "proc.rss_bytes": 6.0 * GiB + 0.002 * GiB * i,
        "proc.pss_bytes": 5.1 * GiB + 0.002 * GiB * i,
        "proc.read_bytes_per_second": (1.7e9 if load else 1.5e7) + wobble(i, 7, 1.0e8),
        "proc.write_bytes_per_second": 2.0e6 + wobble(i, 13, 1.0e6),
        "proc.disk_read_bytes_per_second": (1.6e9 if load else 1.0e7) + wobble(i, 7, 1.0e8),
        "proc.disk_write_bytes_per_second": 1.0e6,
        "proc.major_faults_per_second": (35.0 if load else 1.0) + wobble(i, 5, 1.0),
        "proc.io_delay_percent": (38.0 + wobble(i, 6, 6.0)) if load else 2.0,
    }


def rows() -> List[Dict[str, float]]:
    out = []
    for i in range(SAMPLES):
        row = {"timestamp": START + i * INTERVAL}
        row.update(host(i))
        row.update(gpu(i))
        row.update(process(i))
        out.append(row)
    return out


def tables() -> Dict[str, List[Dict[str, object]]]:
    """The end-of-recording rows of the process tree and of NVML's per-process memory."""
    workers = [{"pid": 4243 + k, "ppid": 4242, "name": "pt_data_worker",
                "cpu_percent": 22.0 + 3 * k, "rss_bytes": (0.6 + 0.05 * k) * GiB,
                "pss_bytes": (0.35 + 0.05 * k) * GiB,
                "read_bytes_per_second": 4.1e8 + 2e7 * k, "write_bytes_per_second": 0.0,
                "io_delay_percent": 41.0 - 2 * k}
               for k in range(4)]
    main = {"pid": 4242, "ppid": 1, "name": "python train.py", "cpu_percent": 52.0,
            "rss_bytes": 3.4 * GiB, "pss_bytes": 3.0 * GiB,
            "read_bytes_per_second": 2.0e6, "write_bytes_per_second": 2.0e6,
            "io_delay_percent": 3.5}
    logger = {"pid": 4250, "ppid": 4242, "name": "tensorboard", "cpu_percent": 1.5,
              "rss_bytes": 0.3 * GiB, "pss_bytes": 0.25 * GiB}  # no I/O keys: shown as '-'
    return {"process": [main, *workers, logger],
            "nvml": [{"gpu": 0, "pid": 4242, "used_gpu_memory_bytes": 16.9 * GiB}]}


def write_csv(path: Path, data: List[Dict[str, float]]) -> None:
    columns = list(data[0])
    lines = [",".join(columns)]
    for row in data:
        lines.append("%.6f," % row["timestamp"] + ",".join("%.12g" % row[c] for c in columns[1:]))
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    write_csv(DATA / "tui_recording.csv", rows())
    (DATA / "tui_tables.json").write_text(json.dumps(tables(), indent=1) + "\n")
    print(f"wrote {DATA / 'tui_recording.csv'} ({SAMPLES} rows) and {DATA / 'tui_tables.json'}")


if __name__ == "__main__":
    main()
