"""cgroup collector: the job's own view, from the cgroup of the watched process.

On a shared node (Slurm, Kubernetes, Docker) the host's figures mix the jobs: its pressure stalls
may be another job's, and "RAM used 10 GiB of 512 GiB" hides a job about to hit its 32 GiB
limit. This collector reads the cgroup that stands for the job (a Slurm job's `job_<id>`, else
the process's own cgroup; see collectors/cgroupfs.py): with --pid the watched process's, without
it memmap's own where that is a Slurm job, a pod or a container. No root needed.

Sources, cgroup v2 (and the unified hierarchy of a hybrid machine) / v1:
- memory.current / memory.usage_in_bytes: memory charged to the job (page cache included: what
  the limit counts), bytes.
- memory.max of the job and its ancestors (the lowest wins) / memory.stat's
  hierarchical_memory_limit: the limit, NaN when there is none. Read once a second.
- memory.events `oom_kill` / memory.oom_control `oom_kill` (Linux 4.13+): processes killed.
- io.pressure, memory.pressure, cpu.pressure: the job's own PSI, `total=` microseconds. v2 only
  (on a hybrid machine, from /sys/fs/cgroup/unified).
- io.stat `rbytes=`/`wbytes=` / blkio.throttle.io_service_bytes_recursive `Read`/`Write`: bytes
  per device; one column per physical whole disk (as the host collector picks them) and their
  sum. A disk without a line has had no I/O from the job: 0.
- cpu.stat `usage_usec`, `nr_periods`, `nr_throttled`, `throttled_usec` / cpuacct.usage (ns),
  cpu.stat `nr_periods`, `nr_throttled`, `throttled_time` (ns): CPU used, and the share of
  CFS quota periods in which the job was throttled. cpu.max / cpu.cfs_quota_us and
  cpu.cfs_period_us: the quota, as a percent of one core.
A hierarchy where the process sits in the real root cgroup says nothing of the job (it would be
the whole machine again) and is left out. Files are kept open and re-read (collectors/kernfs.py);
one that is gone (the job ended and its cgroup was removed) reads NaN.
A process that exits between probe() and open() (a command `memmap run` launched that ends at
once) is shown by the kernel in the root cgroup from the moment it begins to exit (PF_EXITING,
before it is a zombie); open() then keeps the cgroup the probe found, which outlives it.
Known gaps: the cgroup is fixed at open(); v1 PSI is not read; io.stat needs the io controller
enabled for the job's cgroup (v2), else the disk columns are absent.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from memmap_tui import roles as R
from memmap_tui.collector import (
    Availability,
    BatchPart,
    Collector,
    CollectorError,
    CollectorOptions,
)
from memmap_tui.fieldread import AFTER_PAREN
from memmap_tui.model import DEVICE, MetricSpec, counter, gauge

from .cgroupfs import (
    JobDirs,
    ancestors,
    bytes_limit,
    device_numbers,
    finite,
    io_bytes,
    job_dirs,
    job_in_path,
    memberships,
    namespaced,
    number,
    psi_total,
)
from .kernfs import NAN, KernFiles, keyed_numbers, read_small
from .procfs import alive

LIMIT_SECONDS = 1.0  # limits and quotas are read at most this often
UNLIMITED_V1 = float(2**62)  # v1 prints "no limit" as PAGE_COUNTER_MAX pages, near 2^63
PSI_TOTAL_TOKEN = 8  # "some avg10=0.00 avg60=0.00 avg300=0.00 total=1234": total's number
_OPENS = itertools.count()
PSI = (("io", "some"), ("io", "full"), ("memory", "some"), ("memory", "full"),
       ("cpu", "some"), ("cpu", "full"))


@dataclass
class Batched:
    """A group's reads as FieldReader files and rules (its slots counted from 0), and its
    values from a row of them: how a batch of ticks reads the group (batch_part)."""

    files: List[Tuple[str, int]]
    rules: List[Tuple[int, str, int, int, float]]
    width: int
    values: Callable[[Sequence[float]], List[float]]


class CgroupCollector(Collector):
    """The job's cgroup (see the module docstring)."""

    name = "cgroup"

    def __init__(self, pid: Optional[int], proc_root: str = "/proc", sys_root: str = "/sys",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pid, self.proc_root, self.sys_root, self.clock = pid, proc_root, sys_root, clock
        self.dirs = JobDirs()
        self.disks: Dict[str, str] = {}
        self._specs: List[MetricSpec] = []
        self._readers: List[Callable[[float], List[float]]] = []
        self._batched: List[Optional[Batched]] = []  # per reader: its reads as rules, if it can
        self._opened = -1
        self._files: Dict[str, KernFiles] = {}
        self._limits = (NAN, NAN)
        self._limits_due = -math.inf
        self._probed: Optional[JobDirs] = None  # what probe() found, kept for open()

    @classmethod
    def from_options(cls, options: CollectorOptions) -> CgroupCollector:
        return cls(options.pid, options.proc_root, options.sys_root)

    def _find(self) -> Tuple[JobDirs, str]:
        members = memberships(self.pid, self.proc_root)
        if not members:
            return JobDirs(), (f"no such process: {self.pid}" if self.pid is not None
                               else "cannot read /proc/self/cgroup")
        dirs = job_dirs(members, self.proc_root, self.sys_root)
        if self.pid is None and not any(job_in_path(m.path)[0] in ("slurm", "kubernetes",
                                                                   "container")
                                        for m in members) and not namespaced(dirs, members):
            return JobDirs(), "needs --pid (or memmap inside a Slurm job, a pod or a container)"
        if not dirs:
            return dirs, "the process is in no cgroup of its own (only the machine's root)"
        return dirs, ""

    def probe(self) -> Availability:
        dirs, why = self._find()
        self._probed = None if why else dirs
        if why:
            return Availability(False, why)
        return Availability(True, f"reads cgroup {dirs.path}")

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return [*_memory_specs(), *_cpu_specs(), *(_psi_spec(r, k) for r, k in PSI),
                *_disk_specs(DEVICE), *_disk_specs(None)]

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def open(self) -> None:
        self.close()
        self.dirs, why = self._find()
        if why and self._probed is not None and self.pid is not None \
                and not alive(self.pid, self.proc_root):
            self.dirs, why = self._probed, ""  # it exited since the probe: its cgroup lives on
        if why:
            raise CollectorError(f"cgroup: {why}")
        self._specs, self._readers, self._batched = [], [], []
        self._limits_due = -math.inf
        for add in (self._add_memory, self._add_cpu, self._add_psi, self._add_io):
            add()
        self._opened = next(_OPENS)

    def close(self) -> None:
        for files in self._files.values():
            files.close()
        self._files = {}

    def collect(self) -> Sequence[float]:
        now = self.clock()
        self._refresh_limits(now)
        values: List[float] = []
        for read in self._readers:
            values += read(now)
        return values

    def _refresh_limits(self, now: float) -> None:
        """The limits and the quota, at most once a second."""
        if now >= self._limits_due:
            self._limits_due = now + LIMIT_SECONDS
            self._limits = (self._memory_limit(), self._cpu_quota())

    def _dir(self, directory: str) -> KernFiles:
        found = self._files.get(directory)
        if found is None:
            found = self._files[directory] = KernFiles(directory)
        return found

    def _add(self, specs: List[MetricSpec], read: Callable[[float], List[float]],
             batched: Optional[Batched] = None) -> None:
        self._specs += specs
        self._readers.append(read)
        self._batched.append(batched)

    def batch_part(self, now: float) -> Optional[BatchPart]:
        """Every group's reads as rules; None when a group cannot be read by rules (io.stat's
        device keys). The limits (read at most once a second, as files that rarely change) are
        read in a replay when due, up to half a second after the tick they are stamped with."""
        if any(b is None for b in self._batched):
            return None
        files: List[Tuple[str, int]] = []
        rules: List[Tuple[int, str, int, int, float]] = []
        stretches: List[Tuple[int, Batched]] = []
        width = 0
        for b in self._batched:
            assert b is not None
            rules += [(f + len(files), key, token, slot + width, coef)
                      for f, key, token, slot, coef in b.rules]
            files += b.files
            stretches.append((width, b))
            width += b.width

        def replay(tick: float, values: Sequence[float], _states: bytes) -> List[float]:
            self._refresh_limits(tick)
            out: List[float] = []
            for start, b in stretches:
                out += b.values(values[start:start + b.width])
            return out

        return BatchPart(("cgroup", self._opened), files, rules, width, replay)

    # -- memory ------------------------------------------------------------------------------
    def _add_memory(self) -> None:
        d = self.dirs
        if d.v2_has("memory.current"):
            files = self._dir(d.v2)  # type: ignore[arg-type]
            used, events, oom_key = "memory.current", "memory.events", "oom_kill"
        elif d.v1_has("memory", "memory.usage_in_bytes"):
            files = self._dir(d.v1["memory"])
            used, events, oom_key = "memory.usage_in_bytes", "memory.oom_control", "oom_kill"
        else:
            return

        def values(current: float, oom: float) -> List[float]:
            limit = self._limits[0]
            share = 100.0 * current / limit if limit > 0 else NAN
            return [current, limit, share, oom]

        def read(_: float) -> List[float]:
            return values(files.number(used), keyed_numbers(files.read(events)).get(oom_key, NAN))

        batched = Batched([(files.path(used), AFTER_PAREN), (files.path(events), 0)],
                          [(0, "", 0, 0, 1.0), (1, oom_key, 1, 1, 1.0)], 2,
                          lambda row: values(row[0], row[1]))
        self._add(_memory_specs(), read, batched)

    def _memory_limit(self) -> float:
        d = self.dirs
        if d.v2_has("memory.current"):  # (not once the job's cgroup is gone)
            limits = [bytes_limit(read_small(os.path.join(p, "memory.max")))
                      for p in ancestors(d.v2, d.v2_base)]  # type: ignore[arg-type]
            known = [v for v in limits if v == v]
            return finite(min(known)) if known else NAN
        if "memory" in d.v1:
            files = self._dir(d.v1["memory"])
            stat = keyed_numbers(files.read("memory.stat"))
            limit = stat.get("hierarchical_memory_limit")
            if limit is None:
                limit = bytes_limit(files.read("memory.limit_in_bytes"), UNLIMITED_V1)
            return finite(limit if limit < UNLIMITED_V1 else math.inf)
        return NAN

    # -- CPU ---------------------------------------------------------------------------------
    def _add_cpu(self) -> None:
        """CPU used from v2 cpu.stat or v1 cpuacct.usage; throttling from whichever cpu.stat
        has the CFS counters (on a hybrid machine the cpu controller is v1's)."""
        d = self.dirs
        v2 = self._dir(d.v2) if d.v2_has("cpu.stat") else None  # type: ignore[arg-type]
        acct = self._dir(d.v1["cpuacct"]) if d.v1_has("cpuacct", "cpuacct.usage") else None
        v2_stat = keyed_numbers(v2.read("cpu.stat")) if v2 else {}
        if "nr_periods" in v2_stat:
            cfs, keys, unit = v2, ("nr_periods", "nr_throttled", "throttled_usec"), 1e-6
        elif d.v1_has("cpu", "cpu.stat"):
            cfs, keys = self._dir(d.v1["cpu"]), ("nr_periods", "nr_throttled", "throttled_time")
            unit = 1e-9
        else:
            cfs, keys, unit = None, ("", "", ""), 1.0
        if "usage_usec" not in v2_stat and acct is None and cfs is None:
            return

        def read(_: float) -> List[float]:
            stat = keyed_numbers(v2.read("cpu.stat")) if v2 else {}
            used = stat.get("usage_usec", NAN) * 1e-6
            if used != used and acct is not None:
                used = acct.number("cpuacct.usage") * 1e-9
            throttling = stat if cfs is v2 else keyed_numbers(cfs.read("cpu.stat")) if cfs else {}
            periods, throttled, spent = (throttling.get(k, NAN) for k in keys)
            return [used, self._limits[1], periods, throttled, spent * unit]

        # as rules: CPU used from the source read() takes it from, then the CFS counters
        files: List[Tuple[str, int]] = []
        rules: List[Tuple[int, str, int, int, float]] = []
        if "usage_usec" in v2_stat and v2 is not None:
            files.append((v2.path("cpu.stat"), 0))
            rules.append((0, "usage_usec", 1, 0, 1e-6))
        elif acct is not None:
            files.append((acct.path("cpuacct.usage"), AFTER_PAREN))
            rules.append((0, "", 0, 0, 1e-9))
        used_slots = len(rules)
        if cfs is not None:
            path = cfs.path("cpu.stat")
            if path not in [f for f, _ in files]:
                files.append((path, 0))
            at = [f for f, _ in files].index(path)
            rules += [(at, key, 1, used_slots + i, coef)
                      for i, (key, coef) in enumerate(zip(keys, (1.0, 1.0, unit)))]

        def batched_values(row: Sequence[float]) -> List[float]:
            used = row[0] if used_slots else NAN
            periods, throttled, spent = row[used_slots:] if cfs is not None else (NAN,) * 3
            return [used, self._limits[1], periods, throttled, spent]

        self._add(_cpu_specs(), read,
                  Batched(files, sorted(rules), len(rules), batched_values))

    def _cpu_quota(self) -> float:
        """The quota as a percent of one core (200 = two CPUs), the lowest on the way up."""
        d = self.dirs
        quotas = []
        if d.v2_has("cpu.max"):
            for p in ancestors(d.v2, d.v2_base):  # type: ignore[arg-type]
                words = (read_small(os.path.join(p, "cpu.max")) or "").split()
                if len(words) == 2 and words[0] != "max":
                    quotas.append(100.0 * number(words[0]) / number(words[1]))
        elif d.v1_has("cpu", "cpu.cfs_quota_us"):
            files = self._dir(d.v1["cpu"])
            quota, period = files.number("cpu.cfs_quota_us"), files.number("cpu.cfs_period_us")
            if quota > 0 and period > 0:
                quotas.append(100.0 * quota / period)
        known = [q for q in quotas if q == q and q > 0]
        return min(known) if known else NAN

    # -- pressure stalls ---------------------------------------------------------------------
    def _add_psi(self) -> None:
        d = self.dirs
        if d.v2 is None:
            return
        files = self._dir(d.v2)
        present = [(r, k) for r, k in PSI
                   if f"{k} " in (files.read(f"{r}.pressure") or "")]
        if not present:
            return

        def read(_: float) -> List[float]:
            texts = {r: files.read(f"{r}.pressure") for r in {r for r, _ in present}}
            return [psi_total(texts[r], k) for r, k in present]

        resources = sorted({r for r, _ in present})
        rules = sorted((resources.index(r), k, PSI_TOTAL_TOKEN, slot, 1e-6)
                       for slot, (r, k) in enumerate(present))
        batched = Batched([(files.path(f"{r}.pressure"), 0) for r in resources], rules,
                          len(present), list)
        self._add([_psi_spec(r, k) for r, k in present], read, batched)

    # -- I/O per disk ------------------------------------------------------------------------
    def _add_io(self) -> None:
        d = self.dirs
        if d.v2_has("io.stat"):
            files, name, v2 = self._dir(d.v2), "io.stat", True  # type: ignore[arg-type]
        elif d.v1_has("blkio", "blkio.throttle.io_service_bytes_recursive"):
            files, name, v2 = (self._dir(d.v1["blkio"]),
                               "blkio.throttle.io_service_bytes_recursive", False)
        else:
            return
        self.disks = device_numbers(self.proc_root, self.sys_root)
        if not self.disks:
            return
        numbers = list(self.disks)

        def read(_: float) -> List[float]:
            stats = io_bytes(files.read(name), v2)
            if stats is None:
                return [NAN] * (2 * len(numbers) + 2)
            per = [stats.get(n, (0.0, 0.0)) for n in numbers]
            return [v for pair in per for v in pair] + [sum(p[0] for p in per),
                                                       sum(p[1] for p in per)]

        specs = [s for n in numbers for s in _disk_specs(self.disks[n])]
        self._add(specs + _disk_specs(None), read)


def _memory_specs() -> List[MetricSpec]:
    """Memory used, its limit, the share of the limit used, OOM kills."""
    return [
        gauge("job.mem", "used_bytes", "bytes",
              "Memory charged to the job's cgroup (page cache included, as its limit counts it).",
              label="job memory", pane=R.MEMORY, roles=(R.MEMORY_PEAK, R.JOB), key="job_memory",
              total="job.mem.limit_bytes", rank=5),
        gauge("job.mem", "limit_bytes", "bytes",
              "Memory limit of the job's cgroup (the lowest on its way up); absent if none.",
              label="job memory limit", roles=(R.JOB,)),
        gauge("job.mem", "limit_used_percent", "percent",
              "Memory charged to the job's cgroup, as a percent of its limit.",
              label="job memory of limit", roles=(R.MEMORY_LIMIT_USED, R.JOB)),
        counter("job.mem", "oom_kills", "count",
                "Processes of the job's cgroup killed by the OOM killer.",
                column="oom_kills_per_second", label="job OOM kills", roles=(R.OOM_KILLS, R.JOB)),
    ]


def _cpu_specs() -> List[MetricSpec]:
    """CPU used, the quota, CFS periods and those throttled, time throttled."""
    return [
        counter("job.cpu", "used_seconds", "seconds", "CPU time of the job's cgroup.",
                column="used_percent", scale=100.0, label="job CPU",
                roles=(R.CPU_CORES, R.JOB), total="job.cpu.limit_percent"),
        gauge("job.cpu", "limit_percent", "percent",
              "CPU quota of the job's cgroup, as a percent of one core; absent if none.",
              label="job CPU quota", roles=(R.JOB,)),
        counter("job.cpu", "periods", "count",
                "CFS bandwidth periods in which the job's cgroup ran under its quota.",
                column=None),
        counter("job.cpu", "throttled_periods", "count",
                "CFS bandwidth periods in which the job's cgroup used up its quota.",
                column="throttled_percent", per="periods", scale=100.0, share=True,
                label="job CPU throttled", pane=R.WAITING_PANE,
                roles=(R.CPU_THROTTLED, R.JOB), rank=18),
        counter("job.cpu", "throttled_seconds", "seconds",
                "Time the job's cgroup was throttled by its CPU quota.", column=None),
    ]


_PSI_ROLES: Dict[Tuple[str, str], Tuple[Tuple[str, ...], str, int]] = {
    ("io", "some"): ((R.WAITING, R.JOB), R.WAITING_PANE, 16),
    ("io", "full"): ((R.WAITING_FULL, R.JOB), "", 50),
    ("memory", "some"): ((R.MEMORY_STALL, R.JOB), R.WAITING_PANE, 17),
    ("memory", "full"): ((R.MEMORY_STALL_FULL, R.JOB), "", 50),
    ("cpu", "some"): ((R.CPU_STALL, R.JOB), "", 50),
    ("cpu", "full"): ((R.JOB,), "", 50),
}


def _psi_spec(resource: str, kind: str) -> MetricSpec:
    who = "some tasks" if kind == "some" else "all non-idle tasks"
    roles, pane, rank = _PSI_ROLES[(resource, kind)]
    return counter("job.psi", f"{resource}_{kind}_stall_seconds", "seconds",
                   f"Time {who} of the job's cgroup stalled on {resource} (PSI).",
                   column=f"{resource}_{kind}_percent", scale=100.0, share=True,
                   label=f"job PSI {'mem' if resource == 'memory' else resource} {kind}",
                   pane=pane, roles=roles, rank=rank)


def _disk_specs(disk: Optional[str]) -> List[MetricSpec]:
    """Bytes the job read from and wrote to one disk, or to all physical disks (None)."""
    what = f"disk {disk}" if disk else "all physical disks"
    scope = (R.JOB, R.DEVICE) if disk else (R.JOB,)
    pane = "" if disk else R.THROUGHPUT
    return [
        counter("job.disk", "read_bytes", "bytes", f"Bytes the job's cgroup read from {what}.",
                column="read_bytes_per_second", device=disk, label=f"job {disk or 'disk'} rd",
                pane=pane, roles=(R.STORAGE_READ, *scope), rank=44),
        counter("job.disk", "write_bytes", "bytes",
                f"Bytes the job's cgroup wrote to {what}.", column="write_bytes_per_second",
                device=disk, label=f"job {disk or 'disk'} wr", pane=pane,
                roles=(R.STORAGE_WRITTEN, *scope), rank=45),
    ]
