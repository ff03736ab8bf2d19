"""Host collector: CPU, memory, swap, pressure stalls, page faults, disks and NICs.

Sources (all read directly, with descriptors kept open and re-read with pread):
- /proc/stat        first `cpu` line, USER_HZ jiffies -> seconds (busy and iowait over all)
- /proc/meminfo     kB -> bytes; used = MemTotal - MemAvailable (what `free` calls used)
- /proc/vmstat      pgmajfault, pgfault (minor = all - major)
- /proc/diskstats   sectors are always 512 bytes here, whatever the device's block size;
                    io_ticks (ms) gives the busy share of each device
- /proc/net/dev     rx/tx bytes per interface
- /proc/pressure/{io,memory,cpu}  the `total=` microsecond counters (not avg10), so the stall
                    share is exact over any interval
Disks: whole devices only, from /sys/block (no partitions); loop, ram and zram devices are left
out, and so is any device stacked on others (device-mapper, md: it has entries in `slaves/`), so
a read through LVM is counted once, on the physical disk. Without /sys a name rule stands in.
NICs: every interface but `lo`.
Known gaps: PSI needs Linux >= 4.20 with psi enabled (else the psi columns are absent);
`cpu full` is all zeros before Linux 5.13; the device set is fixed at open() (a disk plugged
in later is not seen until restart).
"""

from __future__ import annotations

import os
import re
from typing import Callable, Dict, List, Optional, Sequence

from memmap_tui.collector import Availability, Collector, CollectorError, CollectorOptions
from memmap_tui.model import MetricSpec, counter, gauge

CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
SECTOR_BYTES = 512.0
_EXCLUDED_DISK = re.compile(r"^(loop|ram|zram|fd|sr)\d*")
_PARTITION = re.compile(r"^(.*\d)p\d+$|^([a-z]+)\d+$")

MEMINFO_GAUGES = (
    # (meminfo key or derived name, quantity, help)
    ("MemTotal", "total_bytes", "Physical memory."),
    ("used", "used_bytes", "Memory in use: MemTotal - MemAvailable."),
    ("MemAvailable", "available_bytes", "Memory available for new work without swapping."),
    ("MemFree", "free_bytes", "Memory not used at all."),
    ("Cached", "cached_bytes", "Page cache (file data in memory)."),
    ("Buffers", "buffers_bytes", "Block-device buffers."),
    ("Dirty", "dirty_bytes", "Page cache waiting to be written to storage."),
    ("Writeback", "writeback_bytes", "Page cache being written to storage now."),
    ("Shmem", "shared_bytes", "Shared memory and tmpfs."),
)


def _read(fd: int) -> str:
    """The whole of a /proc file behind an open descriptor, read again from the start."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 65536, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
        if len(chunk) < 65536:
            break
    return b"".join(chunks).decode("ascii", "replace")


def _number_after(text: str, key: str) -> float:
    """The first number after `key` (which includes its separator) in text; NaN if absent."""
    at = text.find(key)
    if at < 0:
        return float("nan")
    start = at + len(key)
    end = start
    n = len(text)
    while end < n and text[end] == " ":
        end += 1
    start = end
    while end < n and (text[end].isdigit() or text[end] == "."):
        end += 1
    return float(text[start:end]) if end > start else float("nan")


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


class HostCollector(Collector):
    """Whole-machine metrics from /proc (see the module docstring)."""

    name = "host"

    def __init__(self, proc_root: str = "/proc", sys_root: str = "/sys") -> None:
        self.proc_root = proc_root
        self.sys_root = sys_root
        self._fds: Dict[str, int] = {}
        self._specs: List[MetricSpec] = []
        self._readers: List[Callable[[List[float]], None]] = []
        self.disks: List[str] = []
        self.nics: List[str] = []
        self.psi: List[str] = []

    @classmethod
    def from_options(cls, options: CollectorOptions) -> HostCollector:
        return cls(options.proc_root, options.sys_root)

    def probe(self) -> Availability:
        path = os.path.join(self.proc_root, "stat")
        if os.access(path, os.R_OK):
            return Availability(True, f"reads {self.proc_root}")
        return Availability(False, f"{path} is not readable (not Linux?)")

    def _open_file(self, rel: str) -> Optional[int]:
        try:
            fd = os.open(os.path.join(self.proc_root, rel), os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        self._fds[rel] = fd
        return fd

    def open(self) -> None:
        self.close()
        for rel in ("stat", "meminfo"):
            if self._open_file(rel) is None:
                raise CollectorError(f"cannot open {self.proc_root}/{rel}")
        self._specs, self._readers = [], []
        self._add_cpu()
        self._add_memory()
        if self._open_file("vmstat") is not None:
            self._add_faults()
        if self._open_file("diskstats") is not None:
            self._add_disks()
        if self._open_file("net/dev") is not None:
            self._add_nics()
        self._add_pressure()

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def collect(self) -> Sequence[float]:
        values: List[float] = []
        try:
            for reader in self._readers:
                reader(values)
        except OSError as exc:
            raise CollectorError(f"host: {exc}") from exc
        return values

    def close(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = {}

    # -- CPU ---------------------------------------------------------------------------------
    def _add_cpu(self) -> None:
        self._specs += [
            counter("host.cpu", "busy_seconds", "seconds",
                    "CPU time neither idle nor waiting, all CPUs.",
                    column="util_percent", per="total_seconds", scale=100.0),
            counter("host.cpu", "iowait_seconds", "seconds",
                    "CPU time idle while waiting for I/O, all CPUs.",
                    column="iowait_percent", per="total_seconds", scale=100.0),
            counter("host.cpu", "total_seconds", "seconds", "CPU time of every kind, all CPUs.",
                    column=None),
        ]
        fd = self._fds["stat"]

        def read_cpu(out: List[float]) -> None:
            line = _read(fd).split("\n", 1)[0].split()
            ticks = [float(v) for v in line[1:9]]
            everything = sum(ticks)
            waiting = ticks[4]
            busy = everything - ticks[3] - waiting
            out += (busy / CLK_TCK, waiting / CLK_TCK, everything / CLK_TCK)

        self._readers.append(read_cpu)

    # -- memory ------------------------------------------------------------------------------
    def _add_memory(self) -> None:
        for _, quantity, help_text in MEMINFO_GAUGES:
            self._specs.append(gauge("host.mem", quantity, "bytes", help_text))
        self._specs += [
            gauge("host.swap", "used_bytes", "bytes", "Swap in use: SwapTotal - SwapFree."),
            gauge("host.swap", "total_bytes", "bytes", "Swap space."),
        ]
        fd = self._fds["meminfo"]
        keys = [k for k, _, _ in MEMINFO_GAUGES]

        def read_memory(out: List[float]) -> None:
            kb: Dict[str, float] = {}
            for line in _read(fd).splitlines():
                key, _, rest = line.partition(":")
                kb[key] = float(rest.split()[0]) if rest.strip() else float("nan")
            kb["used"] = kb["MemTotal"] - kb.get("MemAvailable", kb.get("MemFree", 0.0))
            nan = float("nan")
            out += [kb.get(k, nan) * 1024.0 for k in keys]
            swap_total = kb.get("SwapTotal", nan)
            out += ((swap_total - kb.get("SwapFree", nan)) * 1024.0, swap_total * 1024.0)

        self._readers.append(read_memory)

    def _add_faults(self) -> None:
        self._specs += [
            counter("host.vm", "major_faults", "count",
                    "Page faults that had to read from storage.", column="major_faults_per_second"),
            counter("host.vm", "minor_faults", "count",
                    "Page faults served from memory.", column="minor_faults_per_second"),
        ]
        fd = self._fds["vmstat"]

        def read_faults(out: List[float]) -> None:
            text = _read(fd)
            major = _number_after(text, "\npgmajfault ")
            out += (major, _number_after(text, "\npgfault ") - major)

        self._readers.append(read_faults)

    # -- disks and NICs ----------------------------------------------------------------------
    def _add_disks(self) -> None:
        fd = self._fds["diskstats"]
        self.disks = whole_disks(_read(fd), self.sys_root)
        for disk in self.disks:
            self._specs += _disk_specs(disk)
        self._specs += _disk_specs(None)
        wanted = {d: i for i, d in enumerate(self.disks)}

        def read_disks(out: List[float]) -> None:
            rows: List[List[float]] = [[]] * len(wanted)
            for line in _read(fd).splitlines():
                f = line.split()
                i = wanted.get(f[2]) if len(f) >= 14 else None
                if i is not None:
                    rows[i] = [float(f[5]) * SECTOR_BYTES, float(f[9]) * SECTOR_BYTES,
                               float(f[12]) / 1000.0]
            nan = float("nan")
            total_read = total_write = 0.0
            for row in rows:
                row = row or [nan, nan, nan]
                out += row
                total_read += row[0]
                total_write += row[1]
            out += (total_read, total_write)

        self._readers.append(read_disks)

    def _add_nics(self) -> None:
        fd = self._fds["net/dev"]
        self.nics = [n for n in _net_rows(_read(fd)) if n != "lo"]
        for nic in self.nics:
            self._specs += _nic_specs(nic)
        self._specs += _nic_specs(None)
        nics = self.nics

        def read_nics(out: List[float]) -> None:
            rows = _net_rows(_read(fd))
            nan = (float("nan"), float("nan"))
            total_rx = total_tx = 0.0
            for nic in nics:
                rx, tx = rows.get(nic, nan)
                out += (rx, tx)
                total_rx += rx
                total_tx += tx
            out += (total_rx, total_tx)

        self._readers.append(read_nics)

    # -- pressure ----------------------------------------------------------------------------
    def _add_pressure(self) -> None:
        fds = []
        for resource in ("io", "memory", "cpu"):
            fd = self._open_file(f"pressure/{resource}")
            if fd is None:
                continue
            try:
                text = _read(fd)  # EOPNOTSUPP when the kernel was booted with psi=0
            except OSError:
                continue
            for kind in ("some", "full"):
                if f"{kind} " in text:
                    self._specs.append(_psi_spec(resource, kind))
                    fds.append((fd, kind + " "))
            self.psi.append(resource)

        def read_pressure(out: List[float]) -> None:
            cache: Dict[int, str] = {}
            for fd, kind in fds:
                text = cache.get(fd)
                if text is None:
                    text = cache[fd] = _read(fd)
                line_at = text.find(kind)
                out.append(_number_after(text[line_at:], "total=") / 1e6)

        if fds:
            self._readers.append(read_pressure)


def _disk_specs(disk: Optional[str]) -> List[MetricSpec]:
    what = f"disk {disk}" if disk else "all physical disks"
    specs = [
        counter("host.disk", "read_bytes", "bytes", f"Bytes read from {what}.",
                column="read_bytes_per_second", device=disk),
        counter("host.disk", "write_bytes", "bytes", f"Bytes written to {what}.",
                column="write_bytes_per_second", device=disk),
    ]
    if disk:
        specs.append(counter("host.disk", "busy_seconds", "seconds",
                             f"Time {what} had I/O in flight.", column="busy_percent",
                             device=disk, scale=100.0))
    return specs


def _nic_specs(nic: Optional[str]) -> List[MetricSpec]:
    what = f"interface {nic}" if nic else "all interfaces but lo"
    return [
        counter("host.net", "rx_bytes", "bytes", f"Bytes received on {what}.",
                column="rx_bytes_per_second", device=nic),
        counter("host.net", "tx_bytes", "bytes", f"Bytes sent on {what}.",
                column="tx_bytes_per_second", device=nic),
    ]


def _psi_spec(resource: str, kind: str) -> MetricSpec:
    who = "some tasks" if kind == "some" else "all non-idle tasks"
    return counter("host.psi", f"{resource}_{kind}_stall_seconds", "seconds",
                   f"Time {who} stalled on {resource} (PSI).",
                   column=f"{resource}_{kind}_percent", scale=100.0)


def _net_rows(text: str) -> Dict[str, tuple]:
    rows = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and len(fields) >= 9:
            rows[name.strip()] = (float(fields[0]), float(fields[8]))
    return rows
