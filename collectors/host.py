"""Host collector: CPU, memory, swap, pressure stalls, page faults, disks and NICs.

Sources (read through memmap_tui.fieldread: descriptors kept open, re-read with pread, numbers
parsed in C straight into the row when the extension is built):
- /proc/stat        first `cpu` line, USER_HZ jiffies -> seconds (busy and iowait over all);
                    the `cpuN` lines give each CPU's busy and total time, and the busiest CPU
                    of the interval (max over CPUs of d(busy)/d(total), a derived gauge, never
                    below the first line's share: their mean).
                    Read at most every STAT_PERIOD (0.1 s): the kernel counts busy time a
                    tick at a time and idle time exactly, so shares over fewer ticks are
                    skewed (over 10 ms rows, a mean of them read a quarter low under an
                    I/O-bound load; over 0.1 s, within 2 %). At shorter intervals the CPU
                    columns are empty on the rows between
- /proc/meminfo     kB -> bytes; used = MemTotal - MemAvailable (what `free` calls used)
- /proc/vmstat      pgmajfault, pgfault (minor = all - major); workingset_refault_anon +
                    workingset_refault_file (Linux >= 5.9; workingset_refault before) x the page
                    size: pages read back in after the kernel evicted them (mm/workingset.c),
                    re-reads that more memory for the page cache would have spared
- /sys/block/<disk>/stat, else /proc/diskstats  the same counters (Documentation/block/stat.rst:
                    the stat file holds diskstats' fields less its first three, major, minor
                    and name); sectors are always 512 bytes here, whatever the device's block
                    size; io_ticks (ms) gives the busy share of each device; per disk also its
                    requests as `iostat -x` shows them (collectors/host_detail.py).
                    The kernel formats /proc/diskstats whole on each read, every loop device and
                    partition included: reading one disk's own stat file took 1.7 us against
                    8.5 us for a diskstats of ten devices (a VM with eight loop devices), and
                    the diskstats read was a ninth of `record`'s CPU time at 10 Hz. The stat
                    files serve up to DISK_FILES disks that all have one;
                    a stat file that fails later (the disk was unplugged) switches the host to
                    /proc/diskstats for the rest of the run, where a missing disk's line is
                    NaN, with the same columns
- /proc/net/dev     rx/tx bytes per interface
- /proc/pressure/{io,memory,cpu}  the `total=` microsecond counters (not avg10), so the stall
                    share is exact over any interval
- /proc/sys/fs/dentry-state  nr_dentry, only while a process tree is watched (the diagnosis is
                    its one reader): the dentry cache's growth, file names the kernel looked up
                    for the first time (or again after evicting them), the whole machine's.
                    Many of them beside many small reads tell small files from small blocks of
                    one file. The line has no key: its third number, age_limit, is the constant
                    45 (fs/dcache.c), which stands in for one. A count that fell (the cache was
                    shrunk) leaves that interval empty, as for any counter
Disks: whole devices only, from /sys/block (no partitions); loop, ram and zram devices are left
out, and so is any device stacked on others (device-mapper, md: it has entries in `slaves/`), so
a read through LVM is counted once, on the physical disk. Without /sys a name rule stands in.
NICs: a column per interface but `lo`; the total counts each byte once, on the physical
interfaces only (those with a `device` link in /sys/class/net/<if>/: a PCI or virtio NIC, a
bond's members rather than the bond), so a container's traffic is not counted again on its
veth and on the bridge. Where no interface has one (inside a container, whose eth0 is a veth)
or /sys/class/net is not there, the total is every interface but `lo`.
CPUs: those with a `cpuN` line at open() or in /sys/devices/system/cpu/present (an offline CPU
has no line: see collectors/host_detail.py).
Known gaps: PSI needs Linux >= 4.20 with psi enabled (else the psi columns are absent);
`cpu full` is all zeros before Linux 5.13; the device set is fixed at open() (a disk plugged
in later is not seen until restart).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from memmap_tui import roles as R
from memmap_tui.collector import (
    Availability,
    BatchPart,
    Collector,
    CollectorError,
    CollectorOptions,
)
from memmap_tui.fieldread import AFTER_PAREN, RowPlan
from memmap_tui.model import DEVICE, MetricSpec, counter, gauge

from .host_detail import busiest_cpu_spec, core_specs, cpu_numbers, request_specs

CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
# /proc/stat: a batch reads it at most this often (its USER_HZ resolution is 10 ms, but shares
# over much less than 0.1 s of kernel ticks are skewed; see the module docstring)
STAT_PERIOD = max(1.0 / CLK_TCK, 0.1)
HOLD_DUE = 0.95  # a live tick rereads it once this share of the period went by (tick jitter)
PAGE_BYTES = float(os.sysconf("SC_PAGE_SIZE")) if hasattr(os, "sysconf") else 4096.0
# The refault counters of /proc/vmstat: split by kind since Linux 5.9, one counter before.
REFAULT_KEYS = (("workingset_refault_anon", "workingset_refault_file"), ("workingset_refault",))
SECTOR_BYTES = 512.0
DISK_FILES = 16  # whole disks read through their own /sys/block/<disk>/stat, at most
DISKSTATS_FIELDS = 3  # major minor name: the tokens /proc/diskstats has before a disk's stat
DENTRY_STATE = "sys/fs/dentry-state"
DENTRY_AGE_LIMIT = "45"  # fs/dcache.c: dentry_stat.age_limit, a constant the line is keyed by
_EXCLUDED_DISK = re.compile(r"^(loop|ram|zram|fd|sr)\d*")
_PARTITION = re.compile(r"^(.*\d)p\d+$|^([a-z]+)\d+$")

_RAM = "host.mem.total_bytes"
_IN_PANE: Dict[str, Any] = {"pane": R.MEMORY, "total": _RAM}
MEMINFO_GAUGES: Tuple[Tuple[str, str, str, Dict[str, Any]], ...] = (
    # (meminfo key or derived name, quantity, help, what it is for)
    ("MemTotal", "total_bytes", "Physical memory.",
     {"label": "RAM", "roles": (R.RAM_TOTAL, R.HOST)}),
    ("used", "used_bytes", "Memory in use: MemTotal - MemAvailable.",
     {"label": "RAM used", "roles": (R.RAM_USED, R.MEMORY_PEAK, R.HOST), "key": "host_used",
      "rank": 1, **_IN_PANE}),
    ("MemAvailable", "available_bytes", "Memory available for new work without swapping.",
     {"label": "available", "rank": 3, **_IN_PANE}),
    ("MemFree", "free_bytes", "Memory not used at all.", {"label": "free"}),
    ("Cached", "cached_bytes", "Page cache: file data in memory, tmpfs and shared memory "
     "included (meminfo Cached).",
     {"label": "cached", "rank": 2, **_IN_PANE}),
    ("Buffers", "buffers_bytes", "Block-device buffers.", {"label": "buffers"}),
    ("Dirty", "dirty_bytes", "Page cache waiting to be written to storage.", {"label": "dirty"}),
    ("Writeback", "writeback_bytes", "Page cache being written to storage now.",
     {"label": "writeback"}),
    ("Shmem", "shared_bytes", "Shared memory and tmpfs.", {"label": "shared"}),
)


def whole_disks(diskstats: str, sys_root: str) -> List[str]:
    """Names of the physical whole disks in a diskstats text (see the module docstring)."""
    names = [line.split()[2] for line in diskstats.splitlines() if len(line.split()) >= 14]
    block = os.path.join(sys_root, "block")
    if os.path.isdir(block):
        present = set(os.listdir(block))
        return [n for n in names if n in present and not _EXCLUDED_DISK.match(n)
                and not _stacked(os.path.join(block, n))]
    return [n for n in names if not _EXCLUDED_DISK.match(n) and not n.startswith(("dm-", "md"))
            and not _looks_like_partition(n, names)]


def has_device(sys_root: str, nic: str) -> bool:
    """Interface `nic` has a device behind it (/sys/class/net/<nic>/device): it is physical."""
    return nic != "lo" and os.path.lexists(os.path.join(sys_root, "class", "net", nic, "device"))


def physical_nics(names: Sequence[str], sys_root: str) -> List[str]:
    """The interfaces in `names` the network total counts (see the module docstring)."""
    found = [n for n in names if has_device(sys_root, n)]
    return found or [n for n in names if n != "lo"]


def _stacked(path: str) -> bool:
    try:
        return bool(os.listdir(os.path.join(path, "slaves")))
    except OSError:
        return False


def _looks_like_partition(name: str, names: Sequence[str]) -> bool:
    m = _PARTITION.match(name)
    if not m:
        return False
    parent = m.group(1) or m.group(2)
    return parent in names and parent != name


_OPENS = itertools.count()
log = logging.getLogger("memmap_tui")


class HostCollector(Collector):
    """Whole-machine metrics from /proc (see the module docstring).

    open() declares every metric together with the FieldReader rules that fill it, so one
    read() of the native reader (or its Python twin) yields the whole raw row.
    """

    name = "host"

    def __init__(self, proc_root: str = "/proc", sys_root: str = "/sys",
                 reader_class: Any = None, names: bool = False,
                 hold_periods: bool = False) -> None:
        self.proc_root = proc_root
        self.sys_root = sys_root
        self.reader_class = reader_class
        self.names = names  # read the dentry cache's growth (with a watched tree)
        self._specs: List[MetricSpec] = []
        self._plan = RowPlan()
        self._reader: Any = None
        self._opened = -1
        self._row: Any = None
        self.disks: List[str] = []
        self.cpus: List[int] = []
        self.nics: List[str] = []
        self.physical_nics: List[str] = []  # the interfaces the network total counts
        self.psi: List[str] = []
        self.disk_source = "sysfs"  # where the disks are read from (_plan_disks)
        self._disk_slots: Tuple[List[List[int]], int, int] = ([], 0, 0)
        self._disk_paths: frozenset = frozenset()
        # collect() as a batch reads: a file with a period keeps its last read's values until
        # the period went by (the pipeline's collectors; 0 until the first collect())
        self.hold_periods = hold_periods
        self._held_slots: List[int] = []  # the plan's held_slots()
        self._held: List[float] = []  # their values as last read
        self._held_at = -math.inf

    @classmethod
    def from_options(cls, options: CollectorOptions) -> HostCollector:
        return cls(options.proc_root, options.sys_root, names=options.pid is not None,
                   hold_periods=True)

    def probe(self) -> Availability:
        path = os.path.join(self.proc_root, "stat")
        if os.access(path, os.R_OK):
            return Availability(True, f"reads {self.proc_root}")
        return Availability(False, f"{path} is not readable (not Linux?)")

    def _path(self, rel: str) -> str:
        return os.path.join(self.proc_root, rel)

    def open(self) -> None:
        self.close()
        for rel in ("stat", "meminfo"):
            if not os.access(self._path(rel), os.R_OK):
                raise CollectorError(f"cannot read {self._path(rel)}")
        self._specs, self._plan = [], RowPlan()
        self.disk_source, self._disk_paths = "sysfs", frozenset()
        self._add_cpu()
        self._add_memory()
        if os.access(self._path("vmstat"), os.R_OK):
            self._add_faults()
        if os.access(self._path("diskstats"), os.R_OK):
            self._add_disks()
        if os.access(self._path("net/dev"), os.R_OK):
            self._add_nics()
        self._add_pressure()
        if self.names and os.access(self._path(DENTRY_STATE), os.R_OK):
            self._add_names()
        self._reader = self._plan.reader(self.reader_class)
        self._row = self._plan.new_row()
        self._held_slots, self._held, self._held_at = self._plan.held_slots(), [], -math.inf
        self._opened = next(_OPENS)  # names this plan's files for a batch (batch_part)

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return [*_cpu_specs(), busiest_cpu_spec([]), *_memory_specs(), *_fault_specs(),
                _refault_spec(),
                *_disk_specs(DEVICE), *_disk_specs(None), *_nic_specs(DEVICE), *_nic_specs(None),
                *(_psi_spec(resource, kind) for resource in ("io", "memory", "cpu")
                  for kind in ("some", "full")), _names_spec()]

    def collect(self) -> Sequence[float]:
        while True:  # at most twice: a disk's stat file fails once (then none is read)
            try:
                self._reader.read(self._row)
                if self.hold_periods:
                    self._hold_periods()
                return self._row
            except OSError as exc:
                if not self._disk_failed(exc.filename):
                    raise CollectorError(f"host: {exc}") from exc

    def _hold_periods(self) -> None:
        """What read_schedule does in a batch, for a tick read live (`memmap run`, and the live
        ticks between batches): the slots of a file with a period (/proc/stat: STAT_PERIOD)
        keep the values of its last read until the period went by, so that a live tick's CPU
        share is over as long a time as a batch's (NaN on the ticks between), not a skewed
        10 ms one (see the module docstring)."""
        now = time.monotonic()
        if now - self._held_at >= HOLD_DUE * STAT_PERIOD:
            self._held = [self._row[slot] for slot in self._held_slots]
            self._held_at = now
            return
        for slot, value in zip(self._held_slots, self._held):
            self._row[slot] = value

    def _disk_failed(self, filename: Any) -> bool:
        """When `filename` is a disk's stat file: the disks are read from /proc/diskstats
        from now on, with the same columns and slots (see the module docstring)."""
        if filename not in self._disk_paths:
            return False
        log.warning("host: cannot read %s; the disks are read from %s from now on", filename,
                    self._path("diskstats"))
        old = self._plan
        plan, kept = RowPlan(), {}
        plan.width = old.width
        for i, (path, key_token, period) in enumerate(old.files):
            if path not in self._disk_paths:
                kept[i] = plan.file(path, key_token, period)
        plan.rules = [(kept[f], key, token, slot, coef)
                      for f, key, token, slot, coef in old.rules if f in kept]
        self._plan = plan
        self._plan_disks(own_files=False)
        self._reader.close()
        self._reader = plan.reader(self.reader_class)
        self._opened = next(_OPENS)  # a batch makes its reader afresh
        return True

    def native_reader(self) -> Any:
        return self._reader

    def batch_part(self, now: float) -> Optional[BatchPart]:
        """Every tick is the plan's read alone: its slots are the values."""
        if self._reader is None:
            return None
        plan = self._plan
        return BatchPart(("host", self._opened), plan.files, sorted(plan.rules, key=lambda r: r[0]),
                         max(plan.width, 1), _as_read)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _metric(self, spec: MetricSpec) -> int:
        """Declare a metric; its slot in the row is its place in the spec list."""
        self._specs.append(spec)
        return self._plan.slot()

    # -- CPU ---------------------------------------------------------------------------------
    def _add_cpu(self) -> None:
        # Read at most every STAT_PERIOD: its times count whole ticks, and shares over fewer
        # are skewed (a 1 ms row would show 0 % or 100 % of a CPU; a mean of 10 ms rows read a
        # quarter low under I/O). Every column from them is a ratio of two of them, which
        # holds as NaN on the rows between reads (no time went by) rather than as a false 0.
        # The busiest CPU reads all CPUs' busy time, then each CPU's, as one run, and their
        # totals as another (MetricSpec.ratios): the metrics are added in that order.
        stat = self._plan.file(self._path("stat"), period=STAT_PERIOD)
        with open(self._path("stat")) as f:
            self.cpus = cpu_numbers(f.read(), self.sys_root)
        busy_spec, wait_spec, total_spec = _cpu_specs()
        busy = [self._metric(spec) for spec in (busy_spec, *core_specs(self.cpus, "busy"))]
        total = [self._metric(spec) for spec in (total_spec, *core_specs(self.cpus, "total"))]
        wait = self._metric(wait_spec)
        if self.cpus:  # none without `cpuN` lines: no busiest CPU (not a false 0 %)
            self._metric(busiest_cpu_spec(self.cpus))
        # cpu  user nice system idle iowait irq softirq steal (guest time is inside user/nice)
        for key, busy_slot, total_slot in zip(["cpu", *(f"cpu{c}" for c in self.cpus)], busy,
                                              total):
            for token in range(1, 9):
                self._plan.add(stat, key, token, total_slot, 1.0 / CLK_TCK)
                if token not in (4, 5):
                    self._plan.add(stat, key, token, busy_slot, 1.0 / CLK_TCK)
        self._plan.add(stat, "cpu", 5, wait, 1.0 / CLK_TCK)

    # -- memory ------------------------------------------------------------------------------
    def _add_memory(self) -> None:
        meminfo = self._plan.file(self._path("meminfo"))
        specs = _memory_specs()
        for (key, _, _, _), spec in zip(MEMINFO_GAUGES, specs):
            slot = self._metric(spec)
            if key == "used":
                self._plan.add(meminfo, "MemTotal", 1, slot, 1024.0)
                self._plan.add(meminfo, "MemAvailable", 1, slot, -1024.0)
            else:
                self._plan.add(meminfo, key, 1, slot, 1024.0)
        used, total = (self._metric(spec) for spec in specs[len(MEMINFO_GAUGES):])
        self._plan.add(meminfo, "SwapTotal", 1, used, 1024.0)
        self._plan.add(meminfo, "SwapFree", 1, used, -1024.0)
        self._plan.add(meminfo, "SwapTotal", 1, total, 1024.0)

    def _add_faults(self) -> None:
        vmstat = self._plan.file(self._path("vmstat"))
        major, minor = (self._metric(spec) for spec in _fault_specs())
        self._plan.add(vmstat, "pgmajfault", 1, major)
        self._plan.add(vmstat, "pgfault", 1, minor)
        self._plan.add(vmstat, "pgmajfault", 1, minor, -1.0)
        keys = refault_keys(self._path("vmstat"))
        if keys:
            refaults = self._metric(_refault_spec())
            for key in keys:
                self._plan.add(vmstat, key, 1, refaults, PAGE_BYTES)

    # -- disks and NICs ----------------------------------------------------------------------
    def _add_disks(self) -> None:
        path = self._path("diskstats")
        with open(path) as f:
            self.disks = whole_disks(f.read(), self.sys_root)
        slots = []
        for disk in self.disks:
            slots.append([self._metric(spec) for spec in _disk_specs(disk)])
        total_read, total_write = (self._metric(spec) for spec in _disk_specs(None))
        self._disk_slots = (slots, total_read, total_write)
        self._plan_disks()

    def _disk_files(self) -> Optional[List[str]]:
        """Each disk's own stat file, when they serve (see the module docstring)."""
        if not 0 < len(self.disks) <= DISK_FILES:
            return None
        files = [os.path.join(self.sys_root, "block", disk, "stat") for disk in self.disks]
        return files if all(os.access(f, os.R_OK) for f in files) else None

    def _plan_disks(self, own_files: bool = True) -> None:
        """The rules of the disks' columns: from their stat files (when `own_files` and they
        serve), else from /proc/diskstats."""
        slots, total_read, total_write = self._disk_slots
        files = self._disk_files() if own_files else None
        self.disk_source = "sysfs" if files else "diskstats"
        self._disk_paths = frozenset(files or ())
        if files is None:
            diskstats = self._plan.file(self._path("diskstats"), key_token=2)
        # [major minor name] reads merged sectors_read ms writes merged sectors_written ms
        # in_flight io_ms weighted_ms ...: the bracketed three are diskstats' alone; sectors
        # are 512 bytes whatever the device (the field numbers of iostats.rst are diskstats'
        # tokens less 2)
        skip = 0 if files is None else DISKSTATS_FIELDS
        for i, (disk, disk_slots) in enumerate(zip(self.disks, slots)):
            read, write, busy, reads, writes, read_time, write_time, queue = disk_slots[:8]
            # a stat file is one line without a key: all its tokens (fieldread.AFTER_PAREN)
            file, key = ((diskstats, disk) if files is None
                         else (self._plan.file(files[i], key_token=AFTER_PAREN), ""))
            for token, slot, coef in ((5, read, SECTOR_BYTES), (9, write, SECTOR_BYTES),
                                      (12, busy, 0.001), (3, reads, 1.0), (7, writes, 1.0),
                                      (6, read_time, 0.001), (10, write_time, 0.001),
                                      (13, queue, 0.001), (5, total_read, SECTOR_BYTES),
                                      (9, total_write, SECTOR_BYTES)):
                self._plan.add(file, key, token - skip, slot, coef)

    def _add_nics(self) -> None:
        path = self._path("net/dev")
        with open(path) as f:
            self.nics = [n for n in _net_rows(f.read()) if n != "lo"]
        self.physical_nics = physical_nics(self.nics, self.sys_root)
        netdev = self._plan.file(path)
        slots = [[self._metric(spec) for spec in _nic_specs(nic)] for nic in self.nics]
        total_rx, total_tx = (self._metric(spec) for spec in _nic_specs(None))
        # name: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ...
        for nic, (rx, tx) in zip(self.nics, slots):
            for token, slot, total in ((1, rx, total_rx), (9, tx, total_tx)):
                self._plan.add(netdev, nic, token, slot)
                if nic in self.physical_nics:
                    self._plan.add(netdev, nic, token, total)

    # -- pressure ----------------------------------------------------------------------------
    def _add_pressure(self) -> None:
        for resource in ("io", "memory", "cpu"):
            path = self._path(f"pressure/{resource}")
            try:
                with open(path) as f:
                    text = f.read()  # EOPNOTSUPP when the kernel was booted with psi=0
            except OSError:
                continue
            psi = self._plan.file(path)
            for kind in ("some", "full"):
                if text.startswith(kind) or f"\n{kind} " in text:
                    slot = self._metric(_psi_spec(resource, kind))
                    # some avg10=.. avg60=.. avg300=.. total=N: N is token 8, in microseconds
                    self._plan.add(psi, kind, 8, slot, 1e-6)
            self.psi.append(resource)

    # -- file names ----------------------------------------------------------------------------
    def _add_names(self) -> None:
        # nr_dentry nr_unused age_limit want_pages nr_negative dummy: age_limit (always 45)
        # is the key, nr_dentry (token 0) the count
        state = self._plan.file(self._path(DENTRY_STATE), key_token=2)
        self._plan.add(state, DENTRY_AGE_LIMIT, 0, self._metric(_names_spec()))


def _names_spec() -> MetricSpec:
    return counter("host.fs", "names", "count",
                   "File names the kernel looked up for the first time (the dentry cache's "
                   "growth, /proc/sys/fs/dentry-state; empty where the cache shrank): a reader "
                   "of many files it had not opened before. Recorded while a process is watched.",
                   column="names_added_per_second", label="new names", roles=(R.NEW_NAMES, R.HOST))


def _cpu_specs() -> List[MetricSpec]:
    """busy, iowait and total CPU time, all CPUs."""
    return [
        counter("host.cpu", "busy_seconds", "seconds",
                "CPU time neither idle nor waiting for I/O, all CPUs; steal (a hypervisor "
                "running others while this machine had work) counts as busy.",
                column="util_percent",
                per="total_seconds", scale=100.0, share=True, label="all CPUs", pane=R.CPU,
                roles=(R.CPU_BUSY, R.HOST), rank=1),
        counter("host.cpu", "iowait_seconds", "seconds", "CPU time idle waiting for I/O, all CPUs.",
                column="iowait_percent", per="total_seconds", scale=100.0, share=True,
                label="CPU iowait", pane=R.WAITING_PANE, roles=(R.WAITING, R.HOST),
                key="iowait_percent", rank=10),
        counter("host.cpu", "total_seconds", "seconds", "CPU time of every kind, all CPUs.",
                column=None),
    ]


def _memory_specs() -> List[MetricSpec]:
    """The MEMINFO_GAUGES, then swap used and swap total."""
    return [*(gauge("host.mem", quantity, "bytes", help_text, **meaning)
              for _, quantity, help_text, meaning in MEMINFO_GAUGES),
            gauge("host.swap", "used_bytes", "bytes", "Swap in use: SwapTotal - SwapFree.",
                  label="swap used", pane=R.MEMORY, total="host.swap.total_bytes",
                  roles=(R.SWAP_USED, R.HOST), rank=4),
            gauge("host.swap", "total_bytes", "bytes", "Swap space.", label="swap")]


def refault_keys(vmstat: str) -> Tuple[str, ...]:
    """The refault counters this kernel's /proc/vmstat has (REFAULT_KEYS), () for none."""
    try:
        with open(vmstat, "rb") as f:
            names = {line.split(b" ", 1)[0].decode("ascii", "replace") for line in f}
    except OSError:
        return ()
    return next((keys for keys in REFAULT_KEYS if names.issuperset(keys)), ())


def _refault_spec() -> MetricSpec:
    return counter("host.vm", "refault_bytes", "bytes",
                   "Pages read back in after the kernel evicted them from memory (vmstat "
                   "workingset_refault, times the page size): data that did not stay cached.",
                   column="refault_bytes_per_second", label="refaults",
                   roles=(R.REFAULTS, R.HOST))


def _fault_specs() -> List[MetricSpec]:
    """Major, then minor page faults of the whole machine."""
    return [
        counter("host.vm", "major_faults", "count", "Page faults that had to read from storage.",
                column="major_faults_per_second", label="major faults",
                roles=(R.MAJOR_FAULTS, R.HOST)),
        counter("host.vm", "minor_faults", "count", "Page faults served from memory.",
                column="minor_faults_per_second", label="minor faults", roles=(R.HOST,)),
    ]


def _disk_specs(disk: Optional[str]) -> List[MetricSpec]:
    """Read and write bytes of one disk, or of all physical disks (None); of one disk also its
    busy time and requests (host_detail.request_specs)."""
    what = f"disk {disk}" if disk else "all physical disks"
    if disk is None:
        return [
            counter("host.disk", "read_bytes", "bytes", f"Bytes read from {what}.",
                    column="read_bytes_per_second", label="disk read", pane=R.THROUGHPUT,
                    roles=(R.THROUGHPUT_FLOW, R.STORAGE_READ, R.HOST), key="disk_read", rank=1),
            counter("host.disk", "write_bytes", "bytes", f"Bytes written to {what}.",
                    column="write_bytes_per_second", label="disk write", pane=R.THROUGHPUT,
                    roles=(R.THROUGHPUT_FLOW, R.STORAGE_WRITTEN, R.HOST), key="disk_write",
                    rank=2),
        ]
    return [
        counter("host.disk", "read_bytes", "bytes", f"Bytes read from {what}.",
                column="read_bytes_per_second", device=disk, label=f"{disk} read",
                roles=(R.STORAGE_READ, R.DEVICE)),
        counter("host.disk", "write_bytes", "bytes", f"Bytes written to {what}.",
                column="write_bytes_per_second", device=disk, label=f"{disk} write",
                roles=(R.STORAGE_WRITTEN, R.DEVICE)),
        counter("host.disk", "busy_seconds", "seconds",
                f"Time {what} had I/O in flight (iostat %util).",
                column="busy_percent", device=disk, scale=100.0, share=True,
                label=f"{disk} busy",
                roles=(R.DEVICE_BUSY, R.DEVICE)),
        *request_specs(disk),
    ]


def _nic_specs(nic: Optional[str]) -> List[MetricSpec]:
    """Received and sent bytes of one interface, or of all physical ones (None)."""
    what = f"interface {nic}" if nic else "all physical interfaces"
    flow = (R.THROUGHPUT_FLOW, R.HOST) if nic is None else (R.DEVICE,)
    return [
        counter("host.net", "rx_bytes", "bytes", f"Bytes received on {what}.",
                column="rx_bytes_per_second", device=nic, label=f"{nic or 'net'} rx",
                pane=R.THROUGHPUT if nic is None else "", roles=flow,
                key="net_rx" if nic is None else "", rank=3),
        counter("host.net", "tx_bytes", "bytes", f"Bytes sent on {what}.",
                column="tx_bytes_per_second", device=nic, label=f"{nic or 'net'} tx",
                pane=R.THROUGHPUT if nic is None else "", roles=flow,
                key="net_tx" if nic is None else "", rank=4),
    ]


_PSI_MEANING: Dict[Tuple[str, str], Dict[str, Any]] = {
    ("io", "some"): {"label": "I/O pressure", "pane": R.WAITING_PANE,
                     "roles": (R.WAITING, R.HOST), "key": "psi_io_some_percent", "rank": 11},
    ("io", "full"): {"label": "I/O full stall", "pane": R.WAITING_PANE,
                     "roles": (R.WAITING_FULL, R.HOST), "rank": 12},
    ("memory", "some"): {"label": "mem pressure", "pane": R.WAITING_PANE,
                         "roles": (R.MEMORY_STALL, R.HOST), "rank": 13},
    ("memory", "full"): {"label": "mem full stall", "pane": R.WAITING_PANE,
                         "roles": (R.MEMORY_STALL_FULL, R.HOST), "rank": 14},
    ("cpu", "some"): {"label": "CPU pressure", "roles": (R.CPU_STALL, R.HOST)},
    ("cpu", "full"): {"label": "CPU full stall", "roles": (R.HOST,)},
}


def _psi_spec(resource: str, kind: str) -> MetricSpec:
    who = "some tasks" if kind == "some" else "all non-idle tasks"
    return counter("host.psi", f"{resource}_{kind}_stall_seconds", "seconds",
                   f"Time {who} stalled on {resource} (PSI).",
                   column=f"{resource}_{kind}_percent", scale=100.0, share=True,
                   **_PSI_MEANING[(resource, kind)])


def _net_rows(text: str) -> Dict[str, tuple]:
    rows = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and len(fields) >= 9:
            rows[name.strip()] = (float(fields[0]), float(fields[8]))
    return rows


def _as_read(now: float, values: Sequence[float], states: bytes) -> Sequence[float]:
    """A batched tick's values: the row as read."""
    return values
