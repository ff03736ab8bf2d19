"""Which panes the TUI shows and which rows they hold, decided by the Schema's column names.

A row names the column it draws; a pane whose columns are all absent does not exist, so the GPU
and process panes appear only where their collectors run and give their room away otherwise.
Pure data, no Textual import: the widgets turn these specs into lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Set, Tuple

from ..verdict import MEMORY_FULL_THRESHOLD, MEMORY_SOME_THRESHOLD, WAIT_THRESHOLD

# How a row's graph is scaled: BAR: part of `total` (memory); RATE: bytes/s, of `total` (a link's
# capacity) when given, else of the window's peak; PERCENT: 0..100; VALUE: of the window's peak.
BAR, RATE, PERCENT, VALUE = "bar", "rate", "percent", "value"
NOTE_WIDTH = 8  # one note column as units.format_value writes it: "71 °C", "1980 MHz"


@dataclass(frozen=True)
class Row:
    label: str
    column: str
    kind: str
    total: str = ""  # the column that is the full scale (memory total, link capacity)
    notes: Tuple[Tuple[str, str], ...] = ()  # (column, "PSS {}"): more values after the value
    warn: float = 0.0  # from this percent (of the full scale, for BAR) the row is a warning
    bad: float = 0.0  # ... and from this one it is bad (0: never)

    @property
    def note_width(self) -> int:
        """The most cells the row's note can take ("of 1023.99 GiB", "100 % of link", ...)."""
        if self.kind == BAR:
            return len("of 1023.99 GiB") + sum(len(t) - 1 + NOTE_WIDTH for _, t in self.notes)
        if self.kind == RATE and self.total:
            return len("100 % of link")
        return sum(len(t) - 2 + NOTE_WIDTH + 1 for _, t in self.notes) - 1 if self.notes else 0


@dataclass(frozen=True)
class PaneSpec:
    key: str
    number: int
    title: str
    rows: Tuple[Row, ...]
    table: str = ""  # the Reading.tables entry this pane lists (the process tree)


MEMORY, THROUGHPUT, WAITING, GPU, PROCESS = "memory", "throughput", "waiting", "gpu", "process"
PANE_TITLES = {MEMORY: "Memory", THROUGHPUT: "Throughput", WAITING: "Waiting",
               GPU: "GPU", PROCESS: "Process"}
PANE_ORDER = (MEMORY, THROUGHPUT, WAITING, GPU, PROCESS)
# Thresholds: a row turns red where the verdict would speak of it (memmap_tui.verdict).
WAIT_WARN, RAM_WARN, RAM_BAD, SWAP_WARN, SWAP_BAD = 5.0, 80.0, 90.0, 50.0, 80.0
_NVML = re.compile(r"^nvml\.gpu(\d+)\.")


def gpu_indices(columns: Iterable[str]) -> List[int]:
    return sorted({int(m.group(1)) for c in columns for m in [_NVML.match(c)] if m})


def _first(cols: Set[str], *names: str) -> str:
    """The first of `names` that is a column (tegrastats before the sysfs collector), or ""."""
    return next((n for n in names if n in cols), "")


def _memory_rows(cols: Set[str]) -> List[Row]:
    rows = [Row("RAM used", "host.mem.used_bytes", BAR, "host.mem.total_bytes",
                warn=RAM_WARN, bad=RAM_BAD),
            Row("cached", "host.mem.cached_bytes", BAR, "host.mem.total_bytes"),
            Row("available", "host.mem.available_bytes", BAR, "host.mem.total_bytes"),
            Row("swap used", "host.swap.used_bytes", BAR, "host.swap.total_bytes",
                warn=SWAP_WARN, bad=SWAP_BAD)]
    total = _first(cols, "jetson.ram.total_bytes", "tegra.ram.total_bytes")
    if "host.mem.used_bytes" not in cols:
        used = _first(cols, "tegra.ram.used_bytes", "jetson.ram.used_bytes")
        rows.append(Row("unified", used, BAR, total, warn=RAM_WARN, bad=RAM_BAD))
    if "jetson.ram.gpu_shared_bytes" in cols:  # Jetson unified memory, split
        rows.append(Row("CPU part", "jetson.ram.cpu_used_bytes", BAR, total))
        rows.append(Row("GPU shared", "jetson.ram.gpu_shared_bytes", BAR, total))
    if "host.swap.used_bytes" not in cols:
        rows.append(Row("swap used", "tegra.swap.used_bytes", BAR, "tegra.swap.total_bytes",
                        warn=SWAP_WARN, bad=SWAP_BAD))
    for i in gpu_indices(cols):
        rows.append(Row(f"GPU{i} mem", f"nvml.gpu{i}.mem_used_bytes", BAR,
                        f"nvml.gpu{i}.mem_total_bytes", warn=90.0, bad=97.0))
    return rows


def _throughput_rows(cols: Set[str]) -> List[Row]:
    rows = [Row("disk read", "host.disk.read_bytes_per_second", RATE),
            Row("disk write", "host.disk.write_bytes_per_second", RATE),
            Row("net rx", "host.net.rx_bytes_per_second", RATE),
            Row("net tx", "host.net.tx_bytes_per_second", RATE)]
    for i in gpu_indices(cols):
        link = f"nvml.gpu{i}.pcie_link_max_bytes_per_second"
        rows += [Row(f"GPU{i} PCIe rx", f"nvml.gpu{i}.pcie_rx_bytes_per_second", RATE, link),
                 Row(f"GPU{i} PCIe tx", f"nvml.gpu{i}.pcie_tx_bytes_per_second", RATE, link),
                 Row(f"GPU{i} NVLink rx", f"nvml.gpu{i}.nvlink_rx_bytes_per_second", RATE),
                 Row(f"GPU{i} NVLink tx", f"nvml.gpu{i}.nvlink_tx_bytes_per_second", RATE)]
    emc = _first(cols, "tegra.emc.bytes_per_second", "jetson.emc.bytes_per_second")
    rows += [Row("EMC", emc, RATE,
                 notes=((emc.replace("bytes_per_second", "util_percent"), "{} busy"),)),
             Row("proc read", "proc.read_bytes_per_second", RATE),
             Row("proc write", "proc.write_bytes_per_second", RATE),
             Row("proc disk rd", "proc.disk_read_bytes_per_second", RATE),
             Row("proc disk wr", "proc.disk_write_bytes_per_second", RATE)]
    return rows


def _waiting_rows(cols: Set[str]) -> List[Row]:
    def wait(label: str, column: str) -> Row:
        return Row(label, column, PERCENT, warn=WAIT_WARN, bad=WAIT_THRESHOLD)

    return [wait("CPU iowait", "host.cpu.iowait_percent"),
            wait("PSI io some", "host.psi.io_some_percent"),
            wait("PSI io full", "host.psi.io_full_percent"),
            Row("PSI mem some", "host.psi.memory_some_percent", PERCENT, warn=5.0,
                bad=MEMORY_SOME_THRESHOLD),
            Row("PSI mem full", "host.psi.memory_full_percent", PERCENT, warn=1.0,
                bad=MEMORY_FULL_THRESHOLD),
            wait("proc I/O delay", "proc.io_delay_percent")]


def _gpu_rows(cols: Set[str]) -> List[Row]:
    rows = []
    for i in gpu_indices(cols):
        g = f"nvml.gpu{i}"
        rows += [Row(f"GPU{i} util", f"{g}.util_percent", PERCENT),
                 Row(f"GPU{i} mem util", f"{g}.mem_util_percent", PERCENT),
                 Row(f"GPU{i} power", f"{g}.power_watts", VALUE,
                     notes=((f"{g}.temperature_celsius", "{}"),)),
                 Row(f"GPU{i} clocks", f"{g}.sm_clock_mhz", VALUE,
                     notes=((f"{g}.mem_clock_mhz", "mem {}"),))]
    jetson = "tegra" if "tegra.gpu.util_percent" in cols else "jetson"
    rows += [Row("GPU util", f"{jetson}.gpu.util_percent", PERCENT,
                 notes=((f"{jetson}.gpu.freq_mhz", "{}"), (f"{jetson}.temp.gpu.celsius", "{}"))),
             Row("EMC util", f"{jetson}.emc.util_percent", PERCENT,
                 notes=((f"{jetson}.emc.freq_mhz", "{}"),))]
    rail = re.compile(rf"^{jetson}\.power\.([^.]+)\.watts$")
    for c in sorted(cols):
        m = rail.match(c)
        if m:
            rows.append(Row(m.group(1), c, VALUE))
    return rows


def _process_rows(cols: Set[str]) -> List[Row]:
    ram = _first(cols, "host.mem.total_bytes", "jetson.ram.total_bytes", "tegra.ram.total_bytes")
    return [Row("tree CPU", "proc.cpu_percent", VALUE, notes=(("proc.count", "{} processes"),)),
            Row("tree RSS", "proc.rss_bytes", BAR, ram, notes=(("proc.pss_bytes", "PSS {}"),)),
            Row("major faults", "proc.major_faults_per_second", VALUE)]


_BUILDERS = {MEMORY: _memory_rows, THROUGHPUT: _throughput_rows, WAITING: _waiting_rows,
             GPU: _gpu_rows, PROCESS: _process_rows}


def _present(row: Row, cols: Set[str]) -> Row:
    """The row with notes and scale columns that do not exist dropped."""
    notes = tuple(n for n in row.notes if n[0] in cols)
    total = row.total if row.total in cols else ""
    return Row(row.label, row.column, row.kind, total, notes, row.warn, row.bad)


def build_panes(columns: Sequence[str], tables: Iterable[str] = ()) -> List[PaneSpec]:
    """The panes these columns feed, in order; a pane with no column present is left out.

    `tables`: names of per-entity tables the source gives ("process"), which also make the
    process pane appear.
    """
    cols = set(columns)
    panes = []
    for number, key in enumerate(PANE_ORDER, start=1):
        rows = tuple(_present(r, cols) for r in _BUILDERS[key](cols)
                     if r.column and r.column in cols)
        table = "process" if key == PROCESS and ("process" in tables or rows) else ""
        if rows or table:
            panes.append(PaneSpec(key, number, PANE_TITLES[key], rows, table))
    return panes


def graphed_columns(panes: Iterable[PaneSpec]) -> List[str]:
    """Every column a row draws a graph of, once each."""
    return list(dict.fromkeys(r.column for p in panes for r in p.rows))


def find_pane(panes: Iterable[PaneSpec], key: str) -> Optional[PaneSpec]:
    return next((p for p in panes if p.key == key), None)
