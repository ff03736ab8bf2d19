#!/usr/bin/env python3
"""Print everything the nvml collector gets from the real driver here, field by field.

For a real GPU machine: the output is what docs/hardware.md asks to paste. It prints the driver,
NVML and CUDA driver versions, each GPU, every metric (raw value, and the per-second rate of the
counters over --interval), where PCIe bytes/s come from, every NVML field and whether it answered
(or why not), and the per-process GPU memory rows.

    python scripts/check_nvml.py [--interval 1.0]

Exit status: 0 when NVML answered, 2 when there is no usable NVIDIA driver or GPU here.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from memmap_tui.collectors.nvml import NvmlCollector  # noqa: E402

from memmap_tui.derive import derive  # noqa: E402
from memmap_tui.model import COUNTER, Reading, Schema  # noqa: E402


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def _pynvml_version() -> str:
    try:
        from importlib.metadata import version

        return version("nvidia-ml-py")
    except Exception:  # not installed from a wheel: the module still may be there
        return "?"


def _print_metrics(collector: NvmlCollector, interval: float) -> None:
    schema = Schema(collector.metrics())
    first = Reading(time.monotonic(), time.time(), list(collector.collect()))
    time.sleep(interval)
    second = Reading(time.monotonic(), time.time(), list(collector.collect()))
    frame = derive(schema, first, second)
    print(f"\nmetrics (second of two readings {interval:g} s apart):")
    width = max(len(s.name) for s in schema.specs)
    for i, spec in enumerate(schema.specs):
        line = f"  {spec.name:<{width}}  {spec.kind:<7}  {_fmt(second.values[i]):>20} {spec.unit}"
        if spec.kind == COUNTER and spec.column:
            rate = frame.values[schema.column_index[spec.column]]
            line += f"   -> {spec.column} = {_fmt(rate)}"
        print(line)


def _print_fields(collector: NvmlCollector) -> None:
    print("\nNVML fields (ok, or why the column is empty):")
    for index, fields in collector.field_status().items():
        print(f"  {'global' if index is None else f'GPU {index}'}:")
        for key, status in fields.items():
            print(f"    {key:<22} {status}")


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between readings")
    args = parser.parse_args(argv)
    collector = NvmlCollector()
    avail = collector.probe()
    print(f"probe: {'available' if avail.available else 'unavailable'}: {avail.reason}")
    if not avail.available:
        return 2
    collector.open()
    try:
        print(f"nvidia-ml-py: {_pynvml_version()}")
        for key, value in collector.system_info().items():
            print(f"{key}: {value}")
        print(f"pcie_source: {collector.pcie_source}")
        _print_metrics(collector, args.interval)
        _print_fields(collector)
        print(f"\ndegraded GPUs: {collector.degraded_gpus or 'none'}")
        print("GPU processes:")
        for row in collector.table() or [{"none": ""}]:
            print(f"  {row}")
    finally:
        collector.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
