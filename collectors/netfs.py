"""Network file systems: NFS per mount and Lustre per client file system.

Sources:
- <proc>/self/mountstats (the mounts this process sees), the text `nfsiostat` and `mountstats`
  read. Each mount is one line from fs/proc_namespace.c show_vfsstat():
  `device SERVER:/EXPORT mounted on MOUNT_POINT with fstype nfs4 statvers=1.1`, the device and
  the mount point with space, tab, newline and backslash escaped as octal (`\\040`). An NFS
  mount goes on with tab-indented lines from fs/nfs/super.c nfs_show_stats(): `bytes:` (8
  counters: normal read, normal write, direct read, direct write, server read, server write,
  pages read, pages written), then net/sunrpc/stats.c rpc_clnt_show_stats(): `per-op
  statistics` and one line per RPC operation, `\\t%12s: ` then `ops trans timeouts bytes_sent
  bytes_recv queue_ms rtt_ms execute_ms` (and `errors` since Linux 5.3).
  Per mount: for READ, WRITE, GETATTR, LOOKUP, OPEN and ACCESS (those the mount's protocol has:
  NFSv3 has no OPEN), calls per second, bytes per call (sent + received, RPC headers included:
  what nfsiostat calls kB/op) and the mean round trip (rtt_ms / ops: nfsiostat's avg RTT);
  bytes read from and written to the server per second (`bytes:` server read/write); and the
  share of wall time in round trips: every operation's rtt_ms summed, per second.
- Lustre llite stats: <sys>/kernel/debug/lustre/llite/FSNAME-ID/stats (debugfs, Lustre >= 2.12;
  root only) or <proc>/fs/lustre/llite/FSNAME-ID/stats (older), printed by lustre/obdclass/
  lprocfs_status.c lprocfs_stats_seq_show(): header lines (`snapshot_time`, `start_time`,
  `elapsed_time`), then `%-25s %lld samples [%s]` (name, count, unit) and, for counters that
  keep them, ` min max sum` and ` sumsq`. A counter that has never counted has no line: it is 0.
  Per file system: open, close, getattr and statfs calls per second (VFS calls on this client,
  not RPCs) and read/write bytes per second (the `sum` of read_bytes and write_bytes).

Roles: calls that touch metadata (GETATTR, LOOKUP, OPEN, ACCESS; Lustre open, close, getattr,
statfs) are METADATA_OPS, each and their sum per mount (`metadata_ops_per_second`, the figure
the diagnosis's many-metadata line is meant for); NFS READ and WRITE calls are the mount's
DEVICE_READS/DEVICE_WRITES and their bytes per call READ/WRITE_REQUEST_SIZE (the small-files
signature, as for a disk); every mean round trip is ROUND_TRIP, and the share of wall time spent
in a mount's round trips (all its calls' RTT summed, per second: operations x mean RTT)
ROUND_TRIP_SHARE; bytes from and to the server are STORAGE_READ/WRITTEN. All are DEVICE scope,
labelled `mount` (NFS) or `fs` (Lustre).

Names: a mount's column part is its mount point made safe (`/mnt/data set` -> `mnt_data_set`,
`/` -> `root`; anything but letters, digits, `_` and `-` becomes `_`), a Lustre file system's its
name without the instance id; `_2`, `_3` ... keep them unique.
Known gaps: mounts are found at open(); one mounted later is not seen until restart, and the
collector is in the default set only where such a mount exists when memmap starts. A mount that
goes away gives NaN. Lustre's stats in debugfs need root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from memmap_tui import roles as R
from memmap_tui.collector import Availability, Collector, CollectorOptions
from memmap_tui.model import DEVICE, NAN, MetricSpec, counter

NFS_FSTYPES = ("nfs", "nfs4")
NFS_OPS = ("READ", "WRITE", "GETATTR", "LOOKUP", "OPEN", "ACCESS")
NFS_METADATA = ("GETATTR", "LOOKUP", "OPEN", "ACCESS")
LUSTRE_OPS = ("open", "close", "getattr", "statfs")
NFS, LUSTRE = "netfs.nfs", "netfs.lustre"
ALL_OPS = "*"  # in a parsed mount: every operation's numbers summed
_MOUNT_LINE = re.compile(
    r"^(?:device (\S+)|no device) mounted on (\S+) with fstype (\S+)(?: statvers=\S+)?$")
_OCTAL = re.compile(r"\\([0-7]{3})")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_INSTANCE = re.compile(r"-[0-9a-fA-F]{8,}$")
_BYTES_SERVER_READ, _BYTES_SERVER_WRITE = 4, 5  # in the `bytes:` line
_OPS, _SENT, _RECEIVED, _RTT_MS = 0, 3, 4, 6  # in a per-op line

NfsStats = Dict[str, List[float]]  # "bytes" or an operation -> its numbers
LustreStats = Dict[str, Tuple[float, float]]  # counter -> (count, sum)


def unescape(text: str) -> str:
    """A mountstats field with its octal escapes undone (`/mnt/a\\040b` -> `/mnt/a b`)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)


def parse_mountstats(text: str) -> Dict[Tuple[str, str], NfsStats]:
    """{(device, mount point, both as printed): {"bytes": [...], "READ": [...], ...}} for each NFS
    mount in a /proc/self/mountstats text (the first of two with the same pair); ALL_OPS holds
    the sums over every operation of the mount."""
    mounts: Dict[Tuple[str, str], NfsStats] = {}
    current: Optional[NfsStats] = None
    per_op = False
    for line in text.split("\n"):
        if not line.startswith(("\t", " ")):
            m = _MOUNT_LINE.match(line)
            current, per_op = None, False
            key = (m.group(1) or "", m.group(2)) if m else ("", "")
            if m and m.group(3) in NFS_FSTYPES and key not in mounts:
                current = mounts[key] = {}
            continue
        if current is None:
            continue
        name, sep, rest = line.strip().partition(":")
        if not sep:
            per_op = per_op or name == "per-op statistics"
            continue
        if per_op or name == "bytes":
            try:
                numbers = [float(x) for x in rest.split()]
            except ValueError:
                continue
            if per_op:
                total = current.setdefault(ALL_OPS, [0.0] * len(numbers))
                current[ALL_OPS] = [a + b for a, b in zip(total, numbers)]
            if name == "bytes" or name in NFS_OPS:
                current[name] = numbers
    return mounts


def parse_llite_stats(text: str) -> LustreStats:
    """{counter: (count, sum)} of a Lustre stats text; sum is NaN where the line has none."""
    found: LustreStats = {}
    for line in text.split("\n"):
        tokens = line.split()
        if len(tokens) >= 4 and tokens[2] == "samples":
            try:
                count = float(tokens[1])
                total = float(tokens[6]) if len(tokens) >= 7 else NAN
            except ValueError:
                continue
            found.setdefault(tokens[0], (count, total))
    return found


def column_part(name: str, taken: List[str]) -> str:
    """`name` made safe for a column's device part, and unique among `taken` (appended)."""
    base = _UNSAFE.sub("_", name).strip("_")[:48] or "root"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.append(candidate)
    return candidate


def _read(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


@dataclass
class _Slot:
    """Where one raw value comes from: an NFS mount's line, or a Lustre file system's counter."""

    source: Tuple[str, str]  # an NFS mount's key, or ("lustre", stats path)
    lines: Tuple[str, ...]   # "bytes", operations or Lustre counters: their values are summed
    fields: Tuple[int, ...]  # summed (NFS); for Lustre 0 = count, 1 = sum
    scale: float = 1.0


class NetfsCollector(Collector):
    """NFS and Lustre client figures (see the module docstring)."""

    name = "netfs"

    def __init__(self, proc_root: str = "/proc", sys_root: str = "/sys") -> None:
        self.proc_root = proc_root
        self.sys_root = sys_root
        self._specs: List[MetricSpec] = []
        self._slots: List[_Slot] = []
        self.mounts: Dict[str, str] = {}  # column part -> mount point
        self.lustre: Dict[str, str] = {}  # column part -> stats file

    @classmethod
    def from_options(cls, options: CollectorOptions) -> NetfsCollector:
        return cls(options.proc_root, options.sys_root)

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return [*nfs_specs(DEVICE, NFS_OPS), *lustre_specs(DEVICE)]

    @property
    def _mountstats(self) -> str:
        return os.path.join(self.proc_root, "self", "mountstats")

    def _llite_dirs(self) -> List[str]:
        """The llite stats files there are: debugfs first, then the older /proc place."""
        found = []
        for root in (os.path.join(self.sys_root, "kernel/debug/lustre/llite"),
                     os.path.join(self.proc_root, "fs/lustre/llite")):
            try:
                names = sorted(os.listdir(root))
            except OSError:
                continue
            found += [os.path.join(root, n, "stats") for n in names
                      if os.access(os.path.join(root, n, "stats"), os.R_OK)]
            if found:
                break
        return found

    def probe(self) -> Availability:
        nfs = parse_mountstats(_read(self._mountstats) or "")
        lustre = self._llite_dirs()
        if nfs or lustre:
            return Availability(True, f"{len(nfs)} NFS mount(s), {len(lustre)} Lustre file "
                                      "system(s)")
        try:
            lustre_mounted = bool(os.listdir(os.path.join(self.sys_root, "fs/lustre/llite")))
        except OSError:
            lustre_mounted = False
        if lustre_mounted:
            return Availability(False, "Lustre is mounted but its llite stats are not readable "
                                       "(they are in debugfs: run as root)")
        return Availability(False, "no NFS or Lustre mount")

    def open(self) -> None:
        self._specs, self._slots, self.mounts, self.lustre = [], [], {}, {}
        taken: List[str] = []
        for key, stats in parse_mountstats(_read(self._mountstats) or "").items():
            part = column_part(unescape(key[1]), taken)
            self.mounts[part] = unescape(key[1])
            ops = [op for op in NFS_OPS if op in stats]
            self._specs += nfs_specs(part, ops)
            self._slots += [_Slot(key, ("bytes",), (_BYTES_SERVER_READ,)),
                            _Slot(key, ("bytes",), (_BYTES_SERVER_WRITE,)),
                            _Slot(key, (ALL_OPS,), (_RTT_MS,), 0.001)]
            metadata = tuple(op for op in ops if op in NFS_METADATA)
            if metadata:
                self._slots.append(_Slot(key, metadata, (_OPS,)))
            for op in ops:
                self._slots += [_Slot(key, (op,), (_OPS,)),
                                _Slot(key, (op,), (_SENT, _RECEIVED)),
                                _Slot(key, (op,), (_RTT_MS,), 0.001)]
        taken = []
        for path in self._llite_dirs():
            name = os.path.basename(os.path.dirname(path))
            part = column_part(_INSTANCE.sub("", name), taken)
            self.lustre[part] = path
            self._specs += lustre_specs(part)
            source = ("lustre", path)
            self._slots += [_Slot(source, ("read_bytes",), (1,)),
                            _Slot(source, ("write_bytes",), (1,)), _Slot(source, LUSTRE_OPS, (0,))]
            self._slots += [_Slot(source, (op,), (0,)) for op in LUSTRE_OPS]

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def collect(self) -> Sequence[float]:
        nfs = parse_mountstats(_read(self._mountstats) or "") if self.mounts else {}
        lustre: Dict[str, Optional[LustreStats]] = {}
        values = []
        for slot in self._slots:
            if slot.source[0] == "lustre":
                path = slot.source[1]
                if path not in lustre:
                    text = _read(path)
                    lustre[path] = parse_llite_stats(text) if text is not None else None
                values.append(_lustre_value(lustre[path], slot))
            else:
                values.append(_nfs_value(nfs.get(slot.source), slot))  # type: ignore[arg-type]
        return values


def _nfs_value(stats: Optional[NfsStats], slot: _Slot) -> float:
    total = 0.0
    for line in slot.lines:
        numbers = stats.get(line) if stats is not None else None
        if numbers is None or max(slot.fields) >= len(numbers):
            return NAN
        total += sum(numbers[i] for i in slot.fields)
    return slot.scale * total


def _lustre_value(stats: Optional[LustreStats], slot: _Slot) -> float:
    if stats is None:  # the file went away: the file system was unmounted
        return NAN
    found = [stats.get(line) for line in slot.lines]
    return sum(f[slot.fields[0]] for f in found if f is not None)  # no line: never counted


_NFS_OP_ROLES = {"READ": (R.DEVICE_READS, R.READ_REQUEST_SIZE),
                 "WRITE": (R.DEVICE_WRITES, R.WRITE_REQUEST_SIZE)}


def nfs_specs(mount: str, ops: Sequence[str]) -> List[MetricSpec]:
    """One NFS mount's metrics: server bytes read and written, then per operation its calls,
    bytes per call and mean round trip (in the order open() fills them)."""
    def spec(quantity: str, unit: str, help_text: str, column: str, **meaning: Any
             ) -> MetricSpec:
        return counter(NFS, quantity, unit, help_text, column=column, device=mount,
                       label_key="mount", **meaning)

    where = f"NFS mount {mount}"
    specs = [
        spec("read_bytes", "bytes", f"Bytes read from the server through {where}.",
             "read_bytes_per_second", label=f"NFS {mount} read", pane=R.THROUGHPUT, rank=5,
             roles=(R.STORAGE_READ, R.DEVICE)),
        spec("write_bytes", "bytes", f"Bytes written to the server through {where}.",
             "write_bytes_per_second", label=f"NFS {mount} write",
             roles=(R.STORAGE_WRITTEN, R.DEVICE)),
        spec("round_trip_seconds", "seconds",
             f"Round-trip time of every call on {where}, summed over calls; per second it is "
             "the share of wall time spent in round trips (over 100 % with calls in parallel).",
             "round_trip_percent", scale=100.0, label=f"NFS {mount} round trips",
             roles=(R.ROUND_TRIP_SHARE, R.DEVICE)),
    ]
    metadata = [op for op in ops if op in NFS_METADATA]
    if metadata:
        specs.append(spec("metadata_ops", "count",
                          f"Metadata calls ({', '.join(metadata)}) completed on {where}.",
                          "metadata_ops_per_second", label=f"NFS {mount} metadata/s",
                          roles=(R.METADATA_OPS, R.DEVICE)))
    for op in ops:
        q = op.lower()
        calls, size = _NFS_OP_ROLES.get(op, (R.METADATA_OPS, ""))
        specs += [
            spec(f"{q}_ops", "count", f"{op} calls completed on {where}.",
                 f"{q}_ops_per_second", label=f"NFS {mount} {q}/s", roles=(calls, R.DEVICE)),
            spec(f"{q}_rpc_bytes", "bytes",
                 f"Bytes sent and received for {op} calls on {where} (RPC headers included); "
                 "per call it is nfsiostat's kB/op.", f"{q}_bytes_per_op", per=f"{q}_ops",
                 label=f"NFS {mount} {q} size",
                 roles=(size, R.DEVICE) if size else (R.DEVICE,)),
            spec(f"{q}_round_trip_seconds", "seconds",
                 f"Round-trip time of {op} calls on {where}, summed over calls; per call it is "
                 "nfsiostat's avg RTT.", f"{q}_rtt_seconds", per=f"{q}_ops",
                 label=f"NFS {mount} {q} RTT", roles=(R.ROUND_TRIP, R.DEVICE)),
        ]
    return specs


def lustre_specs(fs: str) -> List[MetricSpec]:
    """One Lustre file system's metrics: bytes read and written, then its metadata calls."""
    where = f"Lustre file system {fs}"
    specs = [
        counter(LUSTRE, "read_bytes", "bytes", f"Bytes read through {where} on this client.",
                column="read_bytes_per_second", device=fs, label_key="fs",
                label=f"Lustre {fs} read", pane=R.THROUGHPUT, rank=5,
                roles=(R.STORAGE_READ, R.DEVICE)),
        counter(LUSTRE, "write_bytes", "bytes", f"Bytes written through {where} on this client.",
                column="write_bytes_per_second", device=fs, label_key="fs",
                label=f"Lustre {fs} write", roles=(R.STORAGE_WRITTEN, R.DEVICE)),
        counter(LUSTRE, "metadata_ops", "count",
                f"Metadata calls ({', '.join(LUSTRE_OPS)}) on {where} from this client.",
                column="metadata_ops_per_second", device=fs, label_key="fs",
                label=f"Lustre {fs} metadata/s", roles=(R.METADATA_OPS, R.DEVICE)),
    ]
    specs += [counter(LUSTRE, f"{op}_ops", "count", f"{op} calls on {where} from this client.",
                      column=f"{op}_ops_per_second", device=fs, label_key="fs",
                      label=f"Lustre {fs} {op}/s", roles=(R.METADATA_OPS, R.DEVICE))
              for op in LUSTRE_OPS]
    return specs
