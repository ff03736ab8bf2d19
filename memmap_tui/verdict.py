"""The diagnosis: what limits the pipeline, in one stable word, with the numbers behind it.

One function, `diagnose(window, schema)`, serves the TUI (over the last 10 s), `memmap run`'s
summary and `memmap report` (over a whole run or one of its phases), so they never disagree. It
reads metrics by their roles (memmap_tui.roles), never by name: a collector that declares a
waiting signal, a GPU-busy signal or a device's busy share is heard here without a change. Every
threshold is in memmap_tui.thresholds, with its reasoning and anchor.

The causes, in the order they are tried (the first that holds is named):
  memory          reclaim stalls (PSI memory some / full) at their lines, or a job at its
                  cgroup memory limit whose reads from storage are mostly pages read back in
                  after eviction (refaults): the limit is too small to keep its data cached
  gpu             every GPU busy (SM activity where the GPU gives it, else utilisation) and the
                  run not input-bound: the data keeps up
  host-to-device  a GPU's PCIe link near its limit while the GPU is not busy
  network         input-bound and a network file system's round trips dominate, or a NIC or
                  InfiniBand port near its limit
  small-files     input-bound with many small reads of many files (file names the kernel
                  looks up for the first time, or, where they are cached, the tree's read
                  calls smaller than the device's requests: each file read to its end ends in
                  a short or empty read), a metadata walk it waits for, or many network file
                  system metadata operations
  storage         input-bound otherwise: the device is the limit (its busy share, queue, wait),
                  also for small blocks of one big file (fio, a database, asynchronous I/O)
                  and for an asynchronous reader that waits on no signal but whose own
                  requests keep its device busy, or busier than it keeps a CPU
  cpu-thread      one thread of the watched tree (or, without one, one CPU) pinned at a full
                  core while CPUs are free, or while the tree runs little besides that thread
                  (a single thread is its own limit however busy the other CPUs are), or
                  that thread busy and the tree waiting for its data in turn, busy the
                  longer, the two together a full core's worth (a loader with no workers); or
                  several busy threads of one process that together hold one core while CPUs
                  are free (serialised, as by Python's GIL); or a full core spent in processes
                  too short-lived to measure, a few at a time (a shell loop of short tools)
  cpu             all CPUs busy, and the watched tree uses CPU; or fewer CPUs than the run
                  can use though some are idle: its job's CPU quota throttles it, or its
                  threads wait for a CPU (an affinity mask, a cpuset, CPU pressure)
  none            nothing above holds
Input-bound means waiting for data at least INPUT_BOUND of the time, where the waiting share
is the most specific one measured: the watched tree's own I/O delay, else its job's (cgroup)
I/O pressure, else the host's (PSI, iowait). With a watched tree, an I/O, network or CPU cause
is only named when the tree itself moves data or uses CPU: another job's load is not this
job's bottleneck. Memory-mapped data sets read through page faults, so the tree's major faults
and its bytes from storage count as I/O too.
On a fast disk a loader of small files or a memory-mapped data set waits less than INPUT_BOUND:
each read is quick, and its own per-file or per-fault overhead (system calls, page faults) fills
the rest of the time. So a watched tree whose reads show the input signature (many small read
calls whose bytes come mostly from storage, or many major faults) is input-bound from
INPUT_MODERATE (faults) or SIGNATURE_WAIT (small cold calls) of waiting on: what limits it
is how its data is stored, not its CPU.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import roles as R
from . import thresholds as T
from .figures import Figures, Pick, Window, count_weights, gpu_busy_specs, gpu_name
from .model import NAN, MetricSpec, Schema
from .units import fmt_bytes, fmt_count, fmt_duration, fmt_rate

OK, WARN, BAD = "ok", "warn", "bad"
CAUSES = ("storage", "small-files", "cpu", "cpu-thread", "memory", "network", "host-to-device",
          "gpu", "none")
WORDS = {"storage": "storage", "small-files": "small files", "cpu": "CPU-bound",
         "cpu-thread": "one thread", "memory": "memory pressure", "network": "network",
         "host-to-device": "host-to-device copies", "gpu": "GPU-bound", "none": ""}
# Kept for the TUI's row colours and older callers: the same lines as the table's.
WAIT_THRESHOLD = T.INPUT_BOUND
MEMORY_SOME_THRESHOLD = T.RECLAIM_SOME
MEMORY_FULL_THRESHOLD = T.RECLAIM_FULL


class Evidence(NamedTuple):
    """One number behind a cause: what it is, its value in base units, how it reads, its column
    ("" for a figure made of several)."""

    label: str
    value: float
    text: str
    column: str = ""

    def as_dict(self) -> Dict[str, Any]:
        return {"label": self.label, "value": self.value, "text": self.text,
                "column": self.column or None}


class Verdict(NamedTuple):
    """level: ok / warn / bad; cause: a stable word (CAUSES); text: the headline."""

    level: str
    cause: str
    text: str
    evidence: Tuple[Evidence, ...] = ()

    @property
    def kind(self) -> str:
        return self.cause

    def as_dict(self) -> Dict[str, Any]:
        return {"level": self.level, "cause": self.cause, "text": self.text,
                "evidence": [e.as_dict() for e in self.evidence]}


def evidence(spec: Optional[MetricSpec], value: float, text: str) -> Evidence:
    label = spec.shown_label if spec is not None else ""
    return Evidence(label, value, text, spec.column or "" if spec is not None else "")


def _gpus(f: Figures) -> List[Tuple[str, float, MetricSpec]]:
    found = [(gpu_name(s), f.of(s), s) for s in gpu_busy_specs(f.schema)]
    return sorted((g for g in found if not math.isnan(g[1])), key=lambda g: g[1])


# -- waiting ------------------------------------------------------------------------------------
def waiting_share(window: Window, schema: Schema) -> Pick:
    """(share of time waiting for data %, the metric that said so): the most specific scope
    measured (the tree's own, then its job's, then the host's); NaN when none measures it."""
    f = Figures(window, schema)
    for scope in (R.TREE, R.JOB, R.HOST):
        value, spec = f.most(R.WAITING, scope)
        if spec is not None:
            return value, spec
    return f.most(R.WAITING)


def wait_is_the_trees(window: Window, schema: Schema, source: Optional[MetricSpec]) -> bool:
    """Whether the waiting share that `source` measured (waiting_share's pick) is the watched
    tree's own to answer for: its own I/O delay, or its job's or host's while it moves data to
    or from storage (see _tree_moves_data). True without a watched tree."""
    return _tree_moves_data(Figures(window, schema), source)


def needed_columns(schema: Schema) -> List[str]:
    """Every column the diagnosis reads, for callers that keep windows of only those."""
    wanted = (R.WAITING, R.GPU_UTIL, R.GPU_ACTIVITY, R.CPU_BUSY, R.CPU_CORE_MAX, R.THREAD_MAX,
              R.CPU_STALL, R.CPU_THROTTLED, R.PROCESSES,
              R.PROCESS_MAX, R.BUSY_THREADS, R.REFAULTS, R.MEMORY_LIMIT_USED,
              R.CPU_CORES, R.MEMORY_STALL, R.MEMORY_STALL_FULL, R.READ_CALLS, R.READ_CALL_SIZE,
              R.BYTES_READ, R.BYTES_WRITTEN, R.STORAGE_READ, R.STORAGE_WRITTEN, R.MAJOR_FAULTS,
              R.UNINTERRUPTIBLE, R.DEVICE_READS, R.READ_REQUEST_SIZE, R.READ_AWAIT, R.WRITE_AWAIT,
              R.QUEUE_DEPTH, R.DEVICE_BUSY, R.METADATA_OPS, R.ROUND_TRIP_SHARE, R.LINK_SHARE,
              R.THROUGHPUT_FLOW, R.SWAP_USED)
    columns = [s.column for s in schema.column_specs
               if s.column and any(r in s.roles for r in wanted)]
    weights = count_weights(schema)
    return list(dict.fromkeys(columns + [weights[c] for c in columns if c in weights]))


# -- the causes ---------------------------------------------------------------------------------
Found = Optional[Tuple[str, List[Evidence]]]


def _own_most(f: Figures, role: str) -> Pick:
    """The job's own figure (its cgroup) where it has one: on a shared node the host's stalls
    may be another job's."""
    value, spec = f.most(role, R.JOB)
    return (value, spec) if spec is not None else f.most(role)


def _memory(f: Figures) -> Found:
    full, full_spec = _own_most(f, R.MEMORY_STALL_FULL)
    some, some_spec = _own_most(f, R.MEMORY_STALL)
    if full >= T.RECLAIM_FULL or some >= T.RECLAIM_SOME:
        said = [evidence(some_spec, some, f"reclaim stalls {some:.0f} %")] if some_spec else []
        if full_spec is not None and not math.isnan(full):
            said.append(evidence(full_spec, full, f"all tasks stalled {full:.0f} %"))
        return "memory", said
    return None


def _refaults(f: Figures) -> Found:
    """memory when the job's memory is at LIMIT_FULL of its cgroup limit and refaults are at
    least REFAULT_SHARE of the bytes read from storage (the tree's, else the host's), both at
    least TREE_MOVES_DATA. Without a limit, refaults alone say little: a page evicted hours ago
    (yesterday's data set) is a refault too when it is read again."""
    limit, limit_spec = f.first(R.MEMORY_LIMIT_USED, R.JOB)
    refault, spec = f.first(R.REFAULTS, R.HOST)
    storage, _ = f.first(R.STORAGE_READ, R.TREE if _tree(f) else R.HOST)
    if not (limit >= T.LIMIT_FULL and refault >= T.TREE_MOVES_DATA
            and storage >= T.TREE_MOVES_DATA):
        return None
    share = min(refault / storage, 1.0) * 100.0
    if share < T.REFAULT_SHARE:
        return None
    return "memory", [evidence(limit_spec, limit, f"job memory {limit:.0f} % of its limit"),
                      evidence(spec, refault, f"{fmt_rate(refault)} read back after eviction "
                                              f"({share:.0f} % of reads from storage)")]


def _tree(f: Figures) -> bool:
    return bool(f.schema.having(R.TREE))


def _tree_moves_data(f: Figures, wait_spec: Optional[MetricSpec]) -> bool:
    """Whether the wait (measured by wait_spec) is the watched tree's: True without a tree.
    The tree's own I/O delay is its own when it reads, writes or faults in data at all. A job's
    or the host's wait (iowait, I/O pressure: block I/O, which includes network file systems'
    page-cache reads) may be anyone's in that scope, so it is the tree's only when the tree
    itself moves data to or from storage or faults it in: a tree whose reads come from the
    page cache, pipes or sockets does not wait on another job's disk."""
    if not _tree(f):
        return True
    storage = [f.first(role, R.TREE)[0] for role in (R.STORAGE_READ, R.STORAGE_WRITTEN)]
    calls = [f.first(role, R.TREE)[0] for role in (R.BYTES_READ, R.BYTES_WRITTEN)]
    own_wait, _ = f.most(R.WAITING, R.TREE)
    faults, _ = f.first(R.MAJOR_FAULTS, R.TREE)
    if any(v >= T.TREE_MOVES_DATA for v in storage) or faults >= T.MANY_FAULTS:
        return True
    # the calls count when the wait is the tree's own, or when its storage bytes are unknown
    calls_count = wait_spec is None or wait_spec.has(R.TREE) or all(v != v for v in storage)
    return (calls_count and any(v >= T.TREE_MOVES_DATA for v in calls)) or (
        own_wait >= T.INPUT_MODERATE)


def _input_signature(f: Figures, wait: float) -> bool:
    """Whether the watched tree's own reads are input's signature: many major faults (a
    memory-mapped data set read from storage), or many small read calls whose bytes come
    mostly from storage in small device requests (cold small files; a big file read in small
    calls is merged by readahead into big requests, and its limit is the calls, not the
    storage), or storage reads that its calls and faults do not explain, in small device
    requests (a metadata walk: CALL_SHARE). The faults need INPUT_MODERATE of waiting; the
    small cold calls, four conditions at once, and the metadata walk only SIGNATURE_WAIT
    (that the tree waits for storage at all: on a fast disk their wait share swings around a
    few percent). False without a tree: the host's reads may be anyone's."""
    if not _tree(f):
        return False
    faults, _ = f.first(R.MAJOR_FAULTS, R.TREE)
    if faults >= T.MANY_FAULTS and wait >= T.INPUT_MODERATE:
        return True
    if _device_bound(f):
        return True
    if not wait >= T.SIGNATURE_WAIT:
        return False
    if _metadata_reads(f, wait):
        return True
    through, _ = f.first(R.BYTES_READ, R.TREE)
    stored, _ = f.first(R.STORAGE_READ, R.TREE)
    cold = through > 0 and 100.0 * stored / through >= T.COLD_READS
    if not (cold and _file_reads(f)):
        return False
    return _busiest_device(f)[1] is None or bool(_small_requests(f))


def _tree_uses_cpu(f: Figures) -> bool:
    if not _tree(f):
        return True
    cpu, _ = f.first(R.CPU_CORES, R.TREE)
    return cpu >= T.TREE_CPU_ACTIVE


def _round_trips(f: Figures) -> Found:
    share, spec = f.most(R.ROUND_TRIP_SHARE)
    if share >= T.ROUND_TRIPS:
        return "network", [evidence(spec, share, f"{spec.shown_label if spec else 'round trips'}"
                                                 f" {share:.0f} % of the time")]
    return None


def _link_share(f: Figures, spec: MetricSpec) -> float:
    """A link's share of its capacity: a LINK_SHARE metric as it is, or a flow over the column
    that is its full scale (a GPU's PCIe rx over its link's bytes/s)."""
    if spec.has(R.LINK_SHARE):
        return f.of(spec)
    capacity = f.schema.spec(spec.total) if spec.total else None
    full = f.of(capacity)
    return 100.0 * f.of(spec) / full if full > 0 else math.nan


def _busy_link(f: Figures, pcie: bool) -> Pick:
    """The busiest link of one kind: a GPU's PCIe link (pcie) or a NIC / InfiniBand port."""
    best, found = math.nan, None
    schema = f.schema  # the links, in schema order, from having()'s memo: asked every refresh
    links = schema.having(R.LINK_SHARE) + [s for s in schema.having(R.THROUGHPUT_FLOW)
                                           if s.total and not s.has(R.LINK_SHARE)]
    links.sort(key=lambda s: schema.column_index[s.column or ""])
    for spec in links:
        if spec.has(R.HOST_TO_DEVICE) != pcie:
            continue
        value = _link_share(f, spec)
        if not math.isnan(value) and (math.isnan(best) or value > best):
            best, found = value, spec
    return best, found


def _link(f: Figures) -> Found:
    share, spec = _busy_link(f, pcie=False)
    if share >= T.LINK_BUSY:
        return "network", [evidence(spec, share, f"{spec.shown_label if spec else 'link'} "
                                                 f"{share:.0f} % of its speed")]
    return None


def _reads(f: Figures) -> List[Evidence]:
    """The tree's read calls: how many a second and how big, when they are many and small."""
    calls, calls_spec = f.first(R.READ_CALLS, R.TREE)
    size, size_spec = f.first(R.READ_CALL_SIZE, R.TREE)
    if calls >= T.MANY_READS and size < T.SMALL_READ:
        return [evidence(calls_spec, calls, f"{fmt_count(calls)} reads/s of {fmt_bytes(size)}")]
    return []


def _file_reads(f: Figures) -> List[Evidence]:
    """The tree's many small read calls, when they read many files: file names looked up for
    the first time at NEW_FILES of the calls or more; else calls at most FILE_CALLS of the
    busiest device's read request (each file read to its end ends in a short or empty read,
    and its inode and directory blocks come in bigger requests), or no device to compare with.
    Calls as big as the requests, and no new names, read blocks of one big file (fio, a
    database): []."""
    reads = _reads(f)
    if not reads:
        return reads
    names, names_spec = f.first(R.NEW_NAMES)
    calls, _ = f.first(R.READ_CALLS, R.TREE)
    if 100.0 * names >= T.NEW_FILES * calls:
        return reads + [evidence(names_spec, names, f"{fmt_count(names)} new file names/s")]
    _, device = _busiest_device(f)
    if device is None:
        return reads
    request, _ = f.sibling(device, R.READ_REQUEST_SIZE)
    call, _ = f.first(R.READ_CALL_SIZE, R.TREE)
    if request > 0 and not 100.0 * call <= T.FILE_CALLS * request:
        return []
    return reads


def _metadata_reads(f: Figures, wait: float) -> List[Evidence]:
    """The tree reads from storage what neither its read calls nor its page faults explain,
    in many small device requests, and waits for them one at a time: directory and inode
    blocks read by lookups (a metadata walk: du, find). Small reads submitted without read
    calls (io_uring, Linux AIO) look the same to /proc, but keep more requests in flight
    (WALK_QUEUE) or wait where no waiting signal counts (under SIGNATURE_WAIT): blocks of files
    the device delivers as fast as it can, whose limit is storage. Where new file names are
    measured they decide, at NEW_FILES of the device's read requests, however deep the queue
    (other readers beside) or shallow (io_uring at depth 1); else the queue does."""
    stored, stored_spec = f.first(R.STORAGE_READ, R.TREE)
    through, _ = f.first(R.BYTES_READ, R.TREE)
    faults, _ = f.first(R.MAJOR_FAULTS, R.TREE)
    if not (stored >= T.TREE_MOVES_DATA and through == through
            and 100.0 * through <= T.CALL_SHARE * stored and not faults >= T.MANY_FAULTS
            and wait >= T.SIGNATURE_WAIT):
        return []
    requests = _small_requests(f)
    device = _busiest_device(f)[1]
    queue, _ = f.sibling(device, R.QUEUE_DEPTH)
    names, names_spec = f.first(R.NEW_NAMES)
    named = 100.0 * names >= T.NEW_FILES * f.sibling(device, R.DEVICE_READS)[0]
    # measured, the names decide (io_uring at depth 1 holds one request at a time too);
    # unmeasured, the queue does
    if not requests or not named and (names == names or queue > T.WALK_QUEUE):
        return []
    how = "" if named else ", one request at a time" + (
        f", queue {queue:.1f}" if queue == queue else "")
    said = [evidence(stored_spec, stored,
                     f"{fmt_rate(stored)} from storage, {100.0 * through / stored:.0f} % "
                     f"through read calls (metadata{how})")]
    if named:
        said.append(evidence(names_spec, names, f"{fmt_count(names)} new file names/s"))
    return said + requests


def _writes_more(read: float, written: float) -> bool:
    """Whether writes moved more bytes than reads (NaN: none measured)."""
    return written == written and not written <= (read if read == read else 0.0)


def _busiest_device(f: Figures) -> Pick:
    return f.most(R.DEVICE_BUSY, R.DEVICE)


def _device_bound(f: Figures) -> List[Evidence]:
    """DEVICE_SHARE of the busiest device's bytes are the tree's own, no thread of the tree
    is pinned, and the device is busy DEVICE_BUSY of the time, or busier than the tree is on
    a CPU with the two together DEVICE_TURNS of the time (a reader at a low queue depth): the
    tree waits for that device, even when no waiting signal shows it (asynchronous or direct
    I/O waits outside iowait and PSI). The evidence: the tree's share of the device's bytes
    and its CPU. [] otherwise.

    Busy here is at most 100 x the device's queue depth: %util counts a whole jiffy for each
    jiffy a request starts or ends in (update_io_ticks, block/blk-core.c), so short requests a
    few hundred microseconds apart (a reader pacing itself) read near 100 % busy, while the
    queue, their summed durations over the wall time, bounds the time one was in flight."""
    busy, device = _busiest_device(f)
    if device is None or not _tree(f):
        return []
    queue, _ = f.sibling(device, R.QUEUE_DEPTH)
    if queue == queue:
        busy = min(busy, 100.0 * queue)
    thread, _ = f.first(R.THREAD_MAX, R.TREE)
    cpu, cpu_spec = f.first(R.CPU_CORES, R.TREE)
    turns = busy > cpu and busy + cpu >= T.DEVICE_TURNS  # NaN CPU: False
    if thread >= T.THREAD_PINNED or not (busy >= T.DEVICE_BUSY or turns):
        return []
    read, read_spec = f.first(R.STORAGE_READ, R.TREE)
    written, written_spec = f.first(R.STORAGE_WRITTEN, R.TREE)
    own = sum(v for v in (read, written) if v == v)
    # the column behind the figure: the direction that moved more of the tree's bytes
    spec, value = ((written_spec, written) if _writes_more(read, written)
                   else (read_spec, read))
    moved = sum(v for v in (f.sibling(device, role)[0] for role in (R.STORAGE_READ,
                                                                    R.STORAGE_WRITTEN)) if v == v)
    if not (own >= T.TREE_MOVES_DATA and moved > 0 and 100.0 * own >= T.DEVICE_SHARE * moved):
        return []
    name = dict(device.labels).get("device", "disk")
    said = [evidence(spec, value, f"the tree's {fmt_rate(own)} are "
                                     f"{min(100.0, 100.0 * own / moved):.0f} % of {name}'s")]
    if cpu == cpu:
        said.append(evidence(cpu_spec, cpu, f"tree on CPU {cpu:.0f} % of a core"))
    return said


def _small_requests(f: Figures) -> List[Evidence]:
    """A busy device serving many small read requests."""
    _, device = _busiest_device(f)
    requests, req_spec = f.sibling(device, R.DEVICE_READS)
    size, _ = f.sibling(device, R.READ_REQUEST_SIZE)
    if requests >= T.MANY_READS / 2 and size < T.SMALL_READ:
        name = dict(device.labels).get("device", "disk") if device else "disk"
        return [evidence(req_spec, requests,
                         f"{name} {fmt_count(requests)} requests/s of {fmt_bytes(size)}")]
    return []


def _small_files(f: Figures, wait: float) -> Found:
    """Many files: network file system metadata operations, the tree's small read calls of
    whole files (_file_reads) in small device requests, or a metadata walk the tree waits for
    (SIGNATURE_WAIT: asynchronous small reads do not wait in a read, and are storage)."""
    metadata, meta_spec = f.most(R.METADATA_OPS)
    if metadata >= T.MANY_METADATA:
        return "small-files", [evidence(meta_spec, metadata,
                                        f"{fmt_count(metadata)} metadata ops/s")]
    reads, requests = _file_reads(f), _small_requests(f)
    if reads and (requests or _busiest_device(f)[1] is None):
        return "small-files", reads + requests
    walk = _metadata_reads(f, wait)
    if walk:
        return "small-files", walk
    if requests and f.first(R.READ_CALLS, R.TREE)[1] is None:  # the tree's calls unknown
        return "small-files", requests
    return None


def _storage(f: Figures) -> List[Evidence]:
    said: List[Evidence] = []
    busy, device = _busiest_device(f)
    if device is not None:
        name = dict(device.labels).get("device", "disk")
        parts = [f"{name} {busy:.0f} % busy"]
        read, _ = f.sibling(device, R.STORAGE_READ)
        written, _ = f.sibling(device, R.STORAGE_WRITTEN)
        queue, _ = f.sibling(device, R.QUEUE_DEPTH)
        writing = _writes_more(read, written)  # the device was busy with that direction
        rate, verb, what = (written, "written", "a write") if writing else (read, "read", "a read")
        wait, _ = f.sibling(device, R.WRITE_AWAIT if writing else R.READ_AWAIT)
        if rate == rate:
            parts.append(f"{fmt_rate(rate)} {verb}")
        if queue == queue:
            parts.append(f"queue {queue:.1f}")
        if wait == wait:
            parts.append(f"{fmt_duration(wait)} {what}")
        said.append(evidence(device, busy, ", ".join(parts)))
    faults, fault_spec = f.first(R.MAJOR_FAULTS, R.TREE)
    if faults >= T.MANY_FAULTS:
        said.append(evidence(fault_spec, faults, f"{fmt_count(faults)} major faults/s "
                                                 "(memory-mapped reads)"))
    stored, stored_spec = f.first(R.STORAGE_READ, R.TREE)
    if not said and stored == stored and stored > 0:
        said.append(evidence(stored_spec, stored, f"{fmt_rate(stored)} from storage"))
    return said


def _waited(wait: float, wait_spec: Optional[MetricSpec], why: str = "") -> Evidence:
    """The waiting share's evidence ("I/O pressure 14 %"), then `why`."""
    label = wait_spec.shown_label if wait_spec else "waiting"
    return evidence(wait_spec, wait, f"{label} {wait:.0f} %{why}")


def _input(f: Figures, wait: float, wait_spec: Optional[MetricSpec]) -> Found:
    """Input-bound: which of network, small files or storage."""
    waited = [_waited(wait, wait_spec)]
    if not wait >= T.INPUT_MODERATE:  # little wait shows: say what shows the tree waits
        waited = _device_bound(f) or waited
    for found in (_round_trips(f), _link(f), _small_files(f, wait)):
        if found is not None:
            return found[0], found[1] + waited
    return "storage", _storage(f) + waited


def _host_to_device(f: Figures, gpus: List[Tuple[str, float, MetricSpec]]) -> Found:
    share, spec = _busy_link(f, pcie=True)
    if share >= T.LINK_BUSY and gpus and gpus[0][1] < T.GPU_BOUND:
        return "host-to-device", [evidence(spec, share, f"{spec.shown_label if spec else 'PCIe'}"
                                                        f" {share:.0f} % of its link")]
    return None


def _cpu(f: Figures, wait: float = NAN, wait_spec: Optional[MetricSpec] = None) -> Found:
    """cpu-thread when one thread is pinned, or busy on a CPU and waiting for its data in turn
    (`wait`: the waiting share diagnose() measured), and either CPUs are free or the tree runs
    little besides it (more CPUs would not help a single thread), or when one process's busy
    threads take turns on one core while CPUs are free; cpu when all CPUs are busy."""
    if not _tree_uses_cpu(f):
        return None
    cpus, cpus_spec = f.first(R.CPU_BUSY, R.HOST)
    thread, thread_spec = f.first(R.THREAD_MAX, R.TREE)
    if thread_spec is None and not _tree(f):
        thread, thread_spec = f.first(R.CPU_CORE_MAX)
    tree_cpu, _ = f.first(R.CPU_CORES, R.TREE)
    alone = not tree_cpu > thread + T.THREAD_ALONE  # NaN (no tree figure): alone
    busy = cpus >= T.CPUS_BUSY
    said = [evidence(cpus_spec, cpus, f"CPUs {cpus:.0f} % busy")] if cpus == cpus else []
    if alone or not busy:  # a single thread: the limit when it never idles
        label = thread_spec.shown_label if thread_spec is not None else "busiest thread"
        pinned = evidence(thread_spec, thread, f"{label} {thread:.0f} % of a core")
        if thread >= T.THREAD_PINNED:
            return "cpu-thread", [pinned, *said]
        if _waits_in_turn(f, thread, wait, wait_spec):
            return "cpu-thread", [pinned, _waited(wait, wait_spec, " (reads and works in turn)"),
                                  *said]
    short = _short_of_cpus(f)  # before taking turns: threads masked or throttled to one core
    if short is not None:      # wait for a CPU (pressure, throttling); under a lock they do not
        return "cpu", short + said
    serial = _serialised(f, thread, thread_spec)
    if serial is not None and not busy:
        return "cpu-thread", serial + said
    chain = _short_lived(f)
    if chain is not None:
        return "cpu-thread", chain + said
    if busy:
        return "cpu", said
    return None


def _waits_in_turn(f: Figures, thread: float, wait: float,
                   wait_spec: Optional[MetricSpec]) -> bool:
    """Whether the watched tree's busiest thread reads its data and works on it in turn (a
    loader with no workers: read a batch, decode it, read the next): busy on a CPU for longer
    than the tree waits for data, the wait at least INPUT_MODERATE and the tree's (it moves
    the data it waits for), the two together at least THREAD_PINNED of the time. Such a thread
    is never idle, so it is the run's limit, though it is not pinned and the wait is under
    INPUT_BOUND."""
    return (_tree(f) and wait >= T.INPUT_MODERATE and thread > wait
            and thread + wait >= T.THREAD_PINNED and _tree_moves_data(f, wait_spec))


def _short_of_cpus(f: Figures) -> Optional[List[Evidence]]:
    """The evidence that the run has fewer CPUs than it can use, though not every CPU of the
    host is busy: its job's CPU quota throttles it (CPU_THROTTLED of its periods), or its
    runnable threads wait for a CPU CPU_STALLED of the time (an affinity mask, a cpuset, other
    jobs). The job's own CPU pressure where its cgroup gives one; else the host's, and only
    while the watched tree runs at least a core's worth (THREAD_PINNED): a host's pressure
    may be other jobs' threads waiting. None otherwise."""
    throttled, throttled_spec = f.first(R.CPU_THROTTLED, R.JOB)
    if throttled >= T.CPU_THROTTLED:
        return [evidence(throttled_spec, throttled, f"job throttled by its CPU quota in "
                                                    f"{throttled:.0f} % of periods")]
    tree_cpu, tree_spec = f.first(R.CPU_CORES, R.TREE)
    stall, stall_spec = f.first(R.CPU_STALL, R.JOB)
    if stall_spec is None:
        if _tree(f) and not tree_cpu >= T.THREAD_PINNED:
            return None
        stall, stall_spec = f.first(R.CPU_STALL, R.HOST)
    if not stall >= T.CPU_STALLED:
        return None
    label = stall_spec.shown_label if stall_spec is not None else "CPU pressure"
    said = [evidence(stall_spec, stall, f"{label} {stall:.0f} % (threads waiting for a CPU)")]
    if tree_cpu == tree_cpu:
        said.append(evidence(tree_spec, tree_cpu, f"tree {tree_cpu:.0f} % of a core"))
    return said


def _serialised(f: Figures, thread: float,
                thread_spec: Optional[MetricSpec]) -> Optional[List[Evidence]]:
    """The evidence that one process's busy threads take turns on one core (SERIAL_THREADS of
    them, together between THREAD_PINNED and ONE_CORE of a core), or None."""
    process, process_spec = f.first(R.PROCESS_MAX, R.TREE)
    threads, threads_spec = f.first(R.BUSY_THREADS, R.TREE)
    if not (threads >= T.SERIAL_THREADS and T.THREAD_PINNED <= process <= T.ONE_CORE):
        return None
    said = [evidence(threads_spec, threads, f"{threads:.0f} busy threads share one core"),
            evidence(process_spec, process, f"process {process:.0f} % of a core")]
    if thread == thread:
        label = thread_spec.shown_label if thread_spec is not None else "busiest thread"
        said.append(evidence(thread_spec, thread, f"{label} {thread:.0f} %"))
    return said


def _short_lived(f: Figures) -> Optional[List[Evidence]]:
    """The evidence that the tree runs one short process after another at a full core (a shell
    loop, a subprocess per item): it holds between THREAD_PINNED and ONE_CORE of a core with
    at most SERIAL_PROCESSES processes alive, and that core is in processes too short-lived
    to measure: its busiest thread is unknown in SHORT_LIVED of the readings (a process too
    young to measure was there), or its busiest process measured holds at most SHORT_SEEN
    (tools of a millisecond, never seen at a reading). Or None. Like a pinned thread, such a
    chain is its own limit however busy the other CPUs are. Needs the busiest thread's and
    process's columns (the recording measured threads), empty or not."""
    threads = f.schema.having(R.THREAD_MAX, R.TREE)
    processes = f.schema.having(R.PROCESS_MAX, R.TREE)
    if not (threads and processes):
        return None
    tree_cpu, tree_spec = f.first(R.CPU_CORES, R.TREE)
    count, count_spec = f.first(R.PROCESSES, R.TREE)
    if not (T.THREAD_PINNED <= tree_cpu <= T.ONE_CORE and count <= T.SERIAL_PROCESSES):
        return None
    unknown = 100.0 * (1.0 - f.known(threads[0]))
    seen = f.of(processes[0])
    said = [evidence(tree_spec, tree_cpu, f"tree {tree_cpu:.0f} % of a core in short "
                                          "processes, one after another"),
            evidence(count_spec, count, f"{count:.1f} processes alive")]
    if unknown >= T.SHORT_LIVED:
        return said + [evidence(threads[0], unknown,
                                f"each too short to measure {unknown:.0f} % of the time")]
    if not seen > T.SHORT_SEEN:  # NaN: never measured
        shown = 0.0 if seen != seen else seen
        return said + [evidence(processes[0], shown,
                                f"busiest process seen {shown:.0f} % of a core")]
    return None


def diagnose(window: Window, schema: Schema) -> Verdict:
    """The cause for a window (column -> values, NaN allowed), with its evidence."""
    f = Figures(window, schema)
    gpus = _gpus(f)
    wait, wait_spec = waiting_share(window, schema)
    input_bound = wait >= T.INPUT_BOUND and _tree_moves_data(f, wait_spec)
    signature = _input_signature(f, wait)
    found = _memory(f) or _refaults(f)
    if found is None and gpus and gpus[0][1] >= T.GPU_BOUND and not input_bound:
        name, busy, spec = gpus[0]
        found = ("gpu", [evidence(spec, busy, f"{name} busy {busy:.0f} %")])
    found = found or _host_to_device(f, gpus)
    if found is None and (input_bound or signature):
        found = _input(f, wait, wait_spec)
    if found is None and _tree_uses_cpu(f):
        found = _link(f)
    found = found or _cpu(f, wait, wait_spec) or ("none", [])
    return _headline(found[0], found[1], gpus)


def _headline(cause: str, said: List[Evidence], gpus: List[Tuple[str, float, MetricSpec]]
              ) -> Verdict:
    numbers = ", ".join(e.text for e in said)
    idle = gpus[0] if gpus and gpus[0][1] <= T.GPU_STARVING else None
    if cause == "gpu":
        return Verdict(OK, cause, f"{numbers}: GPU-bound, data keeps up", tuple(said))
    if cause == "none":
        if idle is not None:
            name, busy, spec = idle
            said = [evidence(spec, busy, f"{name} busy {busy:.0f} %")]
            return Verdict(OK, cause, f"{name} idle {100 - busy:.0f} %, no host-side cause seen",
                           tuple(said))
        return Verdict(OK, cause, "no bottleneck seen", ())
    text = f"{WORDS[cause]}: {numbers}"
    if idle is not None:
        name, busy, spec = idle
        said = said + [evidence(spec, busy, f"{name} busy {busy:.0f} %")]
        return Verdict(BAD, cause, f"{name} idle {100 - busy:.0f} % — {text}", tuple(said))
    level = BAD if cause == "memory" else WARN
    return Verdict(level, cause, text, tuple(said))


verdict = diagnose  # the name the panes and older callers use


def window_from_rows(columns: Sequence[str], rows: Sequence[Sequence[float]]
                     ) -> Dict[str, List[float]]:
    """Column-wise window from rows (e.g. the ring's latest(n) with columns[0] = timestamp)."""
    return {name: [row[i] for row in rows] for i, name in enumerate(columns)}
