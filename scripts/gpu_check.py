#!/usr/bin/env python3
"""The parts of scripts/gpu_check.sh that need Python (and PyTorch): loads, and reading results.

    gpu_check.py copy SECONDS LOG         pinned host-to-device copies on cuda:0 for SECONDS;
                                          one line per copy (start, end, bytes) to LOG; prints
                                          its own GB/s
    gpu_check.py compare CSV LOG INTERVAL memmap record's PCIe rx bytes/s against the copy loop's
                                          own rate over the same window (within 5 %?)
    gpu_check.py make-files DIR COUNT     COUNT small files (4 KiB) for the file-fed loader
    gpu_check.py train files DIR SECONDS  a small training loop whose DataLoader reads one small
                                          file per sample in the main process
    gpu_check.py train memory SECONDS     the same loop, its samples served from memory
    gpu_check.py verdict JSON             the causes `memmap run --json` named, on one line

Every failure is one line and exit status 1, never a traceback.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import time
from typing import List, Tuple

COPY_BYTES = 256 * 2**20
SAMPLE_BYTES = 4096
FEATURES = 1024


def copy(seconds: float, log_path: str) -> None:
    import torch

    host = torch.empty(COPY_BYTES, dtype=torch.uint8).pin_memory()
    device = torch.empty(COPY_BYTES, dtype=torch.uint8, device="cuda:0")
    for _ in range(3):  # warm up
        device.copy_(host, non_blocking=True)
    torch.cuda.synchronize()
    started = time.time()
    end, copies = started + seconds, 0
    with open(log_path, "w") as log:
        while time.time() < end:
            t0 = time.time()
            device.copy_(host, non_blocking=True)
            torch.cuda.synchronize()
            log.write(f"{t0:.6f} {time.time():.6f} {COPY_BYTES}\n")
            copies += 1
    took = time.time() - started
    print(f"copy loop: {copies} x {COPY_BYTES >> 20} MiB pinned host->cuda:0 in {took:.1f} s: "
          f"{copies * COPY_BYTES / took / 1e9:.2f} GB/s")


def _copies(log_path: str) -> List[Tuple[float, float, float]]:
    with open(log_path) as log:
        return [(float(a), float(b), float(n)) for a, b, n in (line.split() for line in log)]


def compare(csv_path: str, log_path: str, interval: float) -> None:
    copies = _copies(log_path)
    if not copies:
        raise RuntimeError("the copy loop logged no copies")
    # rows whose whole interval lies inside the copy loop, half a second from either end
    first, last = copies[0][0] + 0.5 + interval, copies[-1][1] - 0.5
    with open(csv_path) as f:
        rows = [r for r in csv.DictReader(f) if first <= float(r["timestamp"]) <= last]
    columns = [c for c in (rows[0] if rows else {}) if c.endswith(".pcie_rx_bytes_per_second")]
    if not columns:
        raise RuntimeError(f"no pcie_rx_bytes_per_second column in {len(rows)} rows inside "
                           "the copy loop")
    means = {c: _mean([r[c] for r in rows]) for c in columns}
    column = max(means, key=lambda c: -1.0 if math.isnan(means[c]) else means[c])
    start, stop = float(rows[0]["timestamp"]) - interval, float(rows[-1]["timestamp"])
    moved = sum(n * _overlap(a, b, start, stop) / (b - a) for a, b, n in copies if b > a)
    loop = moved / (stop - start)
    ours = means[column]
    diff = 100.0 * (ours - loop) / loop
    verdict = "within 5 %" if abs(diff) <= 5.0 else "NOT within 5 %"
    print(f"copy loop {loop / 1e9:.2f} GB/s vs memmap record {column} {ours / 1e9:.2f} GB/s "
          f"over {len(rows)} rows ({stop - start:.1f} s): {diff:+.1f} %, {verdict}")
    tx = column.replace("pcie_rx", "pcie_tx")
    link = column.replace("pcie_rx_bytes_per_second", "pcie_link_max_bytes_per_second")
    print(f"  same rows: {tx} {_mean([r.get(tx, '') for r in rows]) / 1e9:.2f} GB/s, "
          f"link max {_mean([r.get(link, '') for r in rows]) / 1e9:.2f} GB/s")


def _mean(cells: List[str]) -> float:
    values = [float(c) for c in cells if c not in ("", None)]
    return sum(values) / len(values) if values else math.nan


def _overlap(a: float, b: float, start: float, stop: float) -> float:
    return max(0.0, min(b, stop) - max(a, start))


def make_files(folder: str, count: int) -> None:
    for i in range(count):
        sub = os.path.join(folder, f"{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"{i:06d}.bin"), "wb") as f:
            f.write(os.urandom(SAMPLE_BYTES))
    print(f"{count} files of {SAMPLE_BYTES} bytes in {folder}")


def train(source: str, seconds: float, folder: str = "") -> None:
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Files(Dataset):
        def __init__(self) -> None:
            self.paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)

        def __len__(self) -> int:
            return len(self.paths)

        def __getitem__(self, i: int):
            with open(self.paths[i], "rb") as f:  # one small file per sample, main process
                raw = bytearray(f.read())
            return torch.frombuffer(raw, dtype=torch.uint8)[:FEATURES].float() / 255, i % 10

    class Memory(Dataset):
        def __init__(self) -> None:
            self.x = torch.rand(50_000, FEATURES)

        def __len__(self) -> int:
            return len(self.x)

        def __getitem__(self, i: int):
            return self.x[i], i % 10

    data = Files() if source == "files" else Memory()
    loader = DataLoader(data, batch_size=256, shuffle=True, num_workers=0,
                        pin_memory=source == "memory")
    model = torch.nn.Sequential(torch.nn.Linear(FEATURES, 4096), torch.nn.ReLU(),
                                torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
                                torch.nn.Linear(4096, 10)).cuda()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    end, steps = time.time() + seconds, 0
    while time.time() < end:
        for x, y in loader:
            x, y = x.cuda(non_blocking=True), y.cuda(non_blocking=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            steps += 1
            if time.time() >= end:
                break
    torch.cuda.synchronize()
    print(f"train ({source}): {steps} steps of 256 in {seconds:g} s")


def verdict(json_path: str) -> None:
    with open(json_path) as f:
        summary = json.load(f)
    head = summary.get("verdict", {})
    cause = head.get("cause", head.get("kind", "?"))
    evidence = head.get("evidence", head.get("text", ""))
    gpu = summary.get("gpu", {})
    print(f"cause: {cause}; evidence: {json.dumps(evidence)}; gpu: {json.dumps(gpu)}")


def main(argv: List[str]) -> None:
    what, args = argv[0], argv[1:]
    if what == "copy":
        copy(float(args[0]), args[1])
    elif what == "compare":
        compare(args[0], args[1], float(args[2]))
    elif what == "make-files":
        make_files(args[0], int(args[1]))
    elif what == "train":
        train(args[0], float(args[-1]), args[1] if args[0] == "files" else "")
    elif what == "verdict":
        verdict(args[0])
    else:
        raise ValueError(f"unknown part {what!r}")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Exception as exc:  # noqa: BLE001 - one line for the check's report
        print(f"{' '.join(sys.argv[1:2])} failed: {type(exc).__name__}: {exc}")
        sys.exit(1)
