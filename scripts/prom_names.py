#!/usr/bin/env python3
"""Print the Prometheus names `memmap serve` exports here, as the markdown table in
docs/prometheus.md: one row per family with its type, labels and HELP.

Usage: python scripts/prom_names.py [--collectors host,nvml] [--proc-root DIR --sys-root DIR]
The table comes from the collectors' metric tables, exactly as the exporter builds it, so it is
what a scrape of this machine would show (GPU rows only where a GPU is present).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from memmap_tui.collector import CollectorOptions, build_collectors  # noqa: E402
from memmap_tui.model import Schema  # noqa: E402
from memmap_tui.sinks.prom_names import plan_families  # noqa: E402
from memmap_tui.sinks.prometheus import OWN_FAMILIES  # noqa: E402


def table_rows(schema: Schema) -> list:
    rows = []
    for fam in plan_families(schema):
        labels = ", ".join(fam.label_names) or "-"
        rows.append((fam.exposed_name, fam.kind, labels, fam.help))
    rows += [(name, kind, "collector" if name == "memmap_collector_up" else "-", help_text)
             for name, kind, help_text in OWN_FAMILIES]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collectors", help="comma-separated collectors (default: all here)")
    parser.add_argument("--proc-root", default="/proc")
    parser.add_argument("--sys-root", default="/sys")
    args = parser.parse_args()
    names = args.collectors.split(",") if args.collectors else None
    options = CollectorOptions(proc_root=args.proc_root, sys_root=args.sys_root)
    collectors = build_collectors(names, options)
    specs = []
    for c in collectors:
        c.open()
        specs += c.metrics()
        c.close()
    print("| name | type | labels | help |")
    print("|---|---|---|---|")
    for name, kind, labels, help_text in table_rows(Schema(specs)):
        print(f"| `{name}` | {kind} | {labels} | {help_text.replace('|', '/')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
