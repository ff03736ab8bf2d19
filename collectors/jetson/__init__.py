"""NVIDIA Jetson boards: one collector, three sources, one column per quantity.

Sources (each a module here, each with its own docstring of paths, units and gaps):
  sysfs       procfs, sysfs and (root) debugfs read directly: unified RAM and its nvmap share,
              swap, GPU load and clock, EMC clock and activity, power rails, temperatures
              (`sysfs`, paths in `layout`);
  tegrastats  NVIDIA's `tegrastats --interval MS` as a subprocess, its lines parsed by
              `parse_line` (the Parser contract of DESIGN.md): the same, plus CPU per core and
              the video/vision engines (`tegrastats`, `process`, `parse`);
  jtop        the jtop service through jetson-stats' public client (optional AGPL extra):
              per-process GPU memory and engine clocks (`jtop`).
The module table (`models`: DRAM bandwidth per module, and `read_model`, the one reader of the
board's device-tree model) turns EMC utilisation into an estimated bytes/s.

Why one collector: the sources overlap (RAM used, GPU load, EMC, rails and temperatures are
read by two or three of them), and one collector per source would declare the same column
twice, which the Schema refuses, or name one quantity three ways (`jetson.*`, `tegra.*`,
`jtop.*`), which is what this package replaces. So `JetsonCollector` is composed of sources
(`source.Source`): each source declares only what it can read here, with the specs of
`columns` (one spec per quantity, with its meaning), and the collector takes every column from
the first source that has it, in the order sysfs, tegrastats, jtop: sysfs is cheapest and
freshest, tegrastats adds what sysfs lacks (per-core CPU, engines, EMC where tegrastats runs
as root), jtop adds what only its root service can read. Which source gives which quantity,
and what none can read here and why (the EMC clock is root's), is said once: in `memmap
collectors` (the jetson row, from `probe()`) and in the collector's `source_notes` (the run
summary), not in every column name.

Entry points: `jetson` runs every source found here; `tegrastats` and `jtop` select that one
source (`--collectors host,tegrastats` with `--tegrastats-cmd` works off a Jetson), and named
together with `jetson` or each other they join one collector (`Collector.absorb`).

Older recordings' `tegra.*` and `jtop.*` columns, and the sysfs collector's zone-type
temperature names, load under today's names (`JetsonCollector.renamed()`, `columns.RENAMED`).
"""

from __future__ import annotations

from .collector import JetsonCollector, JtopCollector, TegrastatsCollector
from .models import emc_bytes_per_second, find_module, read_model
from .parse import parse_line

__all__ = ["JetsonCollector", "TegrastatsCollector", "JtopCollector", "parse_line",
           "read_model", "find_module", "emc_bytes_per_second"]
