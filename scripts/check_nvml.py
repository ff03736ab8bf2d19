#!/usr/bin/env python3
"""Print everything the nvml collector gets from the real driver here, field by field.

For a real GPU machine: the output is what docs/hardware.md asks to paste. It prints the driver,
NVML and CUDA driver versions, each GPU (and those left out, with why), every metric (raw value,
and the per-second rate of the counters over --interval; GPM's first values), where PCIe bytes/s
come from, every NVML field and whether it answered (or why not; the byte counters with their
valueType), and the per-process GPU memory rows (or why they are unknown).

    python scripts/check_nvml.py [--interval 1.0] [--debug]

Exit status: 0 when NVML answered, 2 when there is no usable NVIDIA driver or GPU here (one line),
1 on an unexpected error (one line; --debug shows the traceback).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time


def _use_the_tree() -> None:
    """Import memmap from this source tree when it is not installed (the installed package
    maps the tree's collectors/ to memmap_tui.collectors; here that is done by hand)."""
    try:
        import memmap_tui.collectors  # noqa: F401 - installed: nothing to do
        return
    except ImportError:
        pass
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    sys.path.insert(0, root)
    for name in [m for m in sys.modules if m == "memmap_tui" or m.startswith("memmap_tui.")]:
        del sys.modules[name]
    import collectors

    sys.modules["memmap_tui.collectors"] = collectors


_use_the_tree()

from memmap_tui.collectors.nvml import NvmlCollector  # noqa: E402

from memmap_tui.collector import CollectorError  # noqa: E402
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


def _report(collector: NvmlCollector, interval: float) -> None:
    print(f"nvidia-ml-py: {_pynvml_version()}")
    for key, value in collector.system_info().items():
        print(f"{key}: {value}")
    for index, why in collector.left_out.items():
        print(f"gpu{index}: left out (no columns): {why}")
    print(f"pcie_source: {collector.pcie_source}")
    _print_metrics(collector, interval)
    _print_fields(collector)
    print(f"\ndegraded GPUs: {collector.degraded_gpus or 'none'}")
    rows = collector.table()
    print("GPU processes:" if rows is not None else
          "GPU processes: unknown (see compute_processes / graphics_processes above)")
    for row in rows if rows else ([{"none": ""}] if rows is not None else []):
        print(f"  {row}")


def main(argv: list) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between readings")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    collector = NvmlCollector(interval=args.interval)
    avail = collector.probe()
    print(f"probe: {'available' if avail.available else 'unavailable'}: {avail.reason}")
    if not avail.available:
        return 2
    try:
        collector.open()
        _report(collector, args.interval)
    except CollectorError as exc:
        print(f"NVML failed: {exc}")
        return 2
    finally:
        collector.close()
    return 0


def run(argv: list) -> int:
    """main(), with any unexpected error as one line (the traceback with --debug)."""
    try:
        return main(argv)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        if "--debug" in argv:
            raise
        print(f"check_nvml: {type(exc).__name__}: {exc} (--debug shows where)")
        return 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
