"""Every threshold the diagnosis uses, in one table: its value, why, and where it comes from.

A diagnosis is a claim about someone's job, so each number it rests on is stated here once, with
the reasoning and the anchor (a tool or document that draws the same line), and nowhere else.
memmap_tui.verdict reads these; the TUI colours its rows with them; docs/diagnosis.md shows
this table (a test keeps the two the same).
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Tuple


class Threshold(NamedTuple):
    name: str
    value: float
    unit: str
    meaning: str
    reasoning: str
    anchor: str


TABLE: Tuple[Threshold, ...] = (
    Threshold("input_bound", 20.0, "% of wall time",
              "waiting for data at least this much: the run is input-bound, and an I/O cause "
              "is named",
              "below it, input is a minor share of the step and the GPU or CPU limits",
              "TensorFlow input-pipeline analyzer: over 20 % of step time waiting for input is "
              "'highly input-bound'"),
    Threshold("input_moderate", 5.0, "% of wall time",
              "waiting for data at least this much is shown as a warning",
              "a few percent is normal; this much is worth a look, not a verdict",
              "TensorFlow input-pipeline analyzer: 5-20 % is 'moderately input-bound'"),
    Threshold("gpu_starving", 50.0, "% busy",
              "a GPU at most this busy while the run waits for data is starving",
              "below half busy the GPU idles more than it works",
              "SageMaker Debugger LowGPUUtilization (p95 under 70 %) and IOBottleneck / "
              "CPUBottleneck (GPU under 10 %); ours sits between, as it also needs the wait"),
    Threshold("gpu_bound", 90.0, "% busy",
              "a GPU at least this busy with little waiting: the GPU is the limit",
              "the data keeps up; a faster loader would not help",
              "nvidia-smi and DCGM practice: sustained utilisation above 90 % is GPU-bound"),
    Threshold("cpus_busy", 90.0, "% of all CPUs",
              "all CPUs together at least this busy: the run is CPU-bound",
              "no CPU is free to run another loader worker",
              "SageMaker Debugger CPUBottleneck: CPU utilisation over 90 %"),
    Threshold("cpu_stalled", 50.0, "% of wall time",
              "runnable threads waited for a CPU at least this much (PSI cpu some: the job's "
              "own, else the host's while the watched tree runs a core's worth): the run is "
              "short of CPUs, whether they are busy, masked off (taskset, cpusets) or shared",
              "a run whose threads wait for a CPU half the time would go faster with more of "
              "them; PSI sees an affinity mask or a cpuset that utilisation over all CPUs hides",
              "kernel Documentation/accounting/psi.rst ('some': at least one task delayed); "
              "our own line at half the time"),
    Threshold("cpu_throttled", 25.0, "% of quota periods",
              "the job's cgroup used up its CPU quota in at least this share of its periods "
              "(CFS bandwidth control): the run is CPU-bound by its quota",
              "a throttled job waits for its next period with CPUs free: raising the quota "
              "(or the pod's CPU limit) is the fix, which no utilisation figure shows",
              "kube-prometheus CPUThrottlingHigh alert: over 25 % of periods throttled"),
    Threshold("thread_pinned", 90.0, "% of one core",
              "the watched tree's busiest thread at least this busy while CPUs are free (or "
              "busy and waiting for its data in turn, at least this much the two together, "
              "busy the longer and waiting at least input_moderate): one thread limits the run",
              "one loader thread, the GIL or num_workers=0: more CPUs would sit idle; a loader "
              "that reads a batch and then decodes it is never idle either, though neither "
              "share alone reaches its line",
              "SageMaker's 90 % CPU line, applied to one core"),
    Threshold("thread_alone", 50.0, "% of one core",
              "a tree that uses at most this much CPU beyond its busiest thread runs one "
              "thread's worth: that thread is its limit even when other jobs keep every CPU busy",
              "a single thread cannot use a second core, so freeing CPUs would not speed it up",
              "our own: half a core leaves room for a helper thread or two"),
    Threshold("serial_threads", 1.5, "threads",
              "a process with at least this many busy threads on average (each at least 10 % "
              "of a core in a second) whose sum stays under one_core while CPUs are free runs "
              "serialised: cpu-thread",
              "threads that could run in parallel would use a second core when one is free; "
              "several busy threads that together hold one core take turns (Python's GIL, one "
              "lock), and more CPUs or workers in threads would not help",
              "our own; the GIL lets one thread run Python at a time (Python docs, "
              "sys.setswitchinterval), so N busy threads of pure Python sum to one core"),
    Threshold("one_core", 110.0, "% of one core",
              "a process whose threads sum to at most this is held to one core",
              "one core is 100 %; the margin covers one-second readings of 10 ms clock ticks "
              "and a little work done outside the lock (C code that releases the GIL)",
              "our own"),
    Threshold("short_lived", 50.0, "% of the readings",
              "a tree whose busiest thread is unknown in at least this share of the readings "
              "(a process younger than 0.2 s was there, too young to measure), or whose busiest "
              "process measured holds at most short_seen, while the tree holds between "
              "thread_pinned and one_core of a core with at most serial_processes processes "
              "alive, runs one short process after another: cpu-thread",
              "a shell loop or a subprocess per item (gzip, ffmpeg, convert per file) is one "
              "line of work at a full core, but no process lives long enough to be seen busy; "
              "processes that ran side by side would use more than one core when CPUs are free",
              "our own; MIN_LIFE_SECONDS in collectors/threads.py is why such a thread is "
              "unknown rather than guessed"),
    Threshold("short_seen", 25.0, "% of one core",
              "for short_lived: the busiest process measured holds at most this while the tree "
              "holds a core, so the core is spent in processes too short-lived to be measured "
              "at all (tools of a millisecond, between two readings)",
              "a tree of long-lived workers that hold a core between them shows a worker at a "
              "third of a core or more (three at most alive, one of them their parent)",
              "our own: a quarter of a core"),
    Threshold("serial_processes", 3.5, "processes",
              "at most this many processes alive on average for short_lived: the loop's parent, "
              "the tool and one child of it (gcc and cc1), and half the time a helper of the "
              "loop's own (the `date` of a `while [ $(date +%s) ... ]`)",
              "a pool of short tasks side by side has a process per worker besides its parent "
              "(xargs -P2 under a shell: four); a launcher with two workers still fits, and "
              "a longer chain (make -j1: make, sh, gcc, cc1) is left unnamed rather than guessed",
              "our own"),
    Threshold("tree_moves_data", 1e6, "bytes/s",
              "the watched tree must read or write at least this much (through its calls or "
              "from storage), fault in data or wait for it, for an I/O cause to be its own; "
              "when the wait is its job's or the host's (no delay accounting), only bytes from "
              "or to storage and major faults count",
              "a tree that barely moves data is not slowed by a disk that other jobs keep busy, "
              "and one that reads from the page cache, pipes or sockets does not wait on a disk",
              "our own: 1 MB/s is far above a sleeping process's log writes"),
    Threshold("tree_cpu_active", 25.0, "% of one core",
              "the watched tree must use at least this much CPU for a CPU cause to be its own",
              "a tree that sleeps is not slowed by CPUs that other jobs keep busy",
              "our own: a quarter of a core is far above a sleeping process's noise"),
    Threshold("reclaim_some", 20.0, "% of wall time",
              "some tasks stalled reclaiming memory at least this much: memory is the cause",
              "the job spends a fifth of its time waiting for memory to be freed",
              "kernel PSI (Documentation/accounting/psi.rst); systemd-oomd acts at 60 % "
              "(ManagedOOMMemoryPressureLimit), we name the cause well before that"),
    Threshold("reclaim_full", 5.0, "% of wall time",
              "all non-idle tasks stalled on memory at once at least this much: memory is "
              "the cause",
              "no task made progress for that share of time",
              "kernel PSI 'full' line; a fraction of the 'some' threshold, as the kernel docs "
              "describe full stalls as the severe case"),
    Threshold("limit_full", 90.0, "% of the job's memory limit",
              "a job's memory (page cache included) at least this share of its cgroup limit "
              "is held by it: the kernel evicts the job's own pages to stay under it",
              "a cgroup's page cache counts against its limit, so a job that streams data sits "
              "near its limit; what matters is whether it reads the same data again "
              "(refault_share)",
              "our own; the kernel reclaims at memory.high / memory.max (cgroup-v2.rst)"),
    Threshold("refault_share", 50.0, "% of reads from storage",
              "a job at limit_full whose refaults (pages read back in after eviction) make up "
              "at least this share of what is read from storage (the watched tree's reads, "
              "else the host's), both at least tree_moves_data: memory is the cause",
              "the data was in memory and was pushed out before it was used again: more memory "
              "for the page cache (or a higher cgroup limit) turns these reads into hits, and a "
              "faster disk only makes the re-reading cheaper",
              "kernel working-set detection (mm/workingset.c): a refault is a page read again "
              "after its eviction; ours: when they are most of the reads, the cache is too small"),
    Threshold("small_read", 64.0 * 1024, "bytes",
              "a mean read call or device read request smaller than this is small",
              "half of Linux's default 128 KiB readahead: sequential reads of big files are "
              "merged into larger requests, small files and random reads are not",
              "Drishti flags requests under 1 MB on parallel file systems; local disks merge "
              "to the readahead window, so the line sits lower here"),
    Threshold("many_reads", 500.0, "per second",
              "read calls of the tree (or read requests of a device, at half this) at least "
              "this often are many",
              "a few hundred small reads a second is already per-file overhead bound",
              "Drishti: small requests over 10 % of reads; our rate keeps an idle tree out"),
    Threshold("new_files", 10.0, "% of the tree's read calls",
              "file names the kernel looks up for the first time (the dentry cache's growth, "
              "the whole machine's) at least this share of a watched tree's many small read "
              "calls: it reads many files it had not opened before, small files; else, "
              "file_calls decides; at this share of a busy device's read requests, storage "
              "reads no read call explains are a metadata walk, below it they are not (where "
              "the names are measured, they decide, not walk_queue)",
              "a whole small file takes one to a few read calls and one new name, a block of "
              "a big file one call and no new name; the names say it however the files are "
              "read (one call of their size, read to the end, through tar), but only while "
              "their names are not cached",
              "fs/dcache.c nr_dentry; ours: cold 4 KiB files read by Python (one call each, or "
              "to the end) and by tar, 0.6-0.9 new names per read call; fio random 4 KiB reads "
              "of one file 0.014 (its start-up)"),
    Threshold("file_calls", 75.0, "% of a device read request",
              "a watched tree's many small read calls read whole small files when they are at "
              "most this share of the size of the busiest device's read requests; calls as big "
              "as the requests read blocks of one big file (fio, a database): storage, unless "
              "new_files says many files",
              "a file read to its end takes one more call that returns nothing (or what is "
              "left), so a cold 4 KiB file is two calls of 2 KiB on average against one 4 KiB "
              "request, and its inode and directory blocks add bigger requests; a reader of "
              "fixed-size blocks of one file (direct, or random through the page cache) gets "
              "one request per call, of the same size",
              "read(2): 0 at end of file; ours: cold 4 KiB files read by Python and by cat, "
              "calls 2.00 KiB against requests of 4.2-4.3 KiB (47 %); fio psync reads of "
              "4 KiB and 64 KiB blocks, random and sequential, direct: calls 99.7 % of the "
              "requests"),
    Threshold("cold_reads", 50.0, "% of the bytes read",
              "a watched tree whose many small read calls get at least this share of their "
              "bytes from storage reads cold small files: input-bound from input_moderate of "
              "waiting on",
              "on a fast disk each small read is quick and the per-file overhead fills the rest "
              "of the time, so the wait stays under input_bound although storage is the limit",
              "our own: half the bytes from storage means the page cache does not hold the "
              "data set"),
    Threshold("signature_wait", 1.0, "% of wall time",
              "a watched tree whose reads are many small calls, mostly from storage, in small "
              "device requests is input-bound from this much waiting on",
              "four conditions at once already say the data comes from storage file by file; "
              "the wait only has to show that the tree waits for it at all (on a fast disk the "
              "share swings between 4 and 15 % for the same loader)",
              "our own: measured on a virtio disk, cold 4 KiB files, 14 k reads/s"),
    Threshold("call_share", 20.0, "% of the bytes from storage",
              "a watched tree whose read calls carried at most this share of what it read "
              "from storage, with few major faults, in many small device requests, walks "
              "metadata: small-files from signature_wait of waiting on",
              "read calls count the file contents they return (rchar), and faults the "
              "memory-mapped pages; storage reads that neither explains are directory and "
              "inode blocks read by lookups, getdents and stat (du, find, ls -l, rsync, a "
              "loader listing its data set), or small reads submitted through io_uring or "
              "Linux AIO (no read call counts them); a walk waits for each block (iowait, I/O "
              "pressure), while asynchronous reads wait in io_getevents or a completion queue, "
              "which no waiting signal counts, or keep several in flight (walk_queue): storage",
              "proc(5): rchar counts bytes through read calls, read_bytes what the process "
              "caused to be fetched from storage; ours: a cold `du -s /usr` read 40 MB/s from "
              "storage with no read call, in 6 KiB requests"),
    Threshold("walk_queue", 1.5, "requests in flight",
              "storage reads of a watched tree that no read call explains are a metadata walk "
              "(small-files) only while its busiest device holds at most this many requests "
              "in flight on average, where new file names are not measured (new_files decides "
              "where they are); deeper, they are reads submitted asynchronously (io_uring, "
              "Linux AIO): storage",
              "lookups, getdents and stat read each directory and inode block synchronously, "
              "one request at a time per walker; asynchronous submitters keep several in "
              "flight by design",
              "iostat -x aqu-sz; ours: cold du and find over 60,000 names held 0.1-0.97 "
              "requests in flight, fio libaio and io_uring 4 KiB reads at depths 4 and 8 held "
              "2.7 and more"),
    Threshold("many_metadata", 1000.0, "per second",
              "network file system metadata operations (open, getattr, lookup, access) at "
              "least this often: small files",
              "each is a round trip to a metadata server",
              "Drishti flags metadata time over 10 %; Lustre and NFS servers are sized in "
              "thousands of metadata operations a second"),
    Threshold("device_busy", 80.0, "% of time",
              "a disk with I/O in flight at least this share of the time is near its limit "
              "(a device-bound tree's device: %util, at most 100 x its queue depth, as "
              "device_turns says)",
              "above this, requests queue behind each other",
              "iostat -x %util; Brendan Gregg's USE method (utilisation over 70-80 % queues)"),
    Threshold("device_share", 80.0, "% of the device's bytes",
              "a watched tree that moves at least this share of the bytes of a device busy "
              "device_busy of the time (or as device_turns says), while no thread of it is "
              "pinned, waits for that device: storage (or small-files, in small requests), "
              "whatever the waiting signals say",
              "asynchronous and direct I/O (libaio, io_uring, O_DIRECT with io_submit) waits "
              "in io_getevents or a completion queue, which neither iowait nor the I/O "
              "pressure counts, so a reader bound by its device shows no wait at all; that the "
              "device is busy with the tree's own bytes, and the tree is not busy on a CPU, "
              "says it instead",
              "iostat -x %util and /proc/PID/io read_bytes (proc(5)); ours: fio libaio 1 MiB "
              "direct reads at queue depth 1 kept vda 88 % busy with 2.6 GB/s, all the "
              "tree's, at 18 % of a core and 0 % I/O pressure"),
    Threshold("device_turns", 80.0, "% of wall time",
              "a watched tree whose own requests (device_share of the bytes) keep its device "
              "busy longer than the tree runs on a CPU, the two together at least this share "
              "of the time, takes turns between a CPU and its device: storage, though the "
              "device is less than device_busy busy",
              "a reader that keeps one or a few requests in flight (libaio or io_uring at a "
              "low depth) leaves its device idle while it handles each completion, so the "
              "device never looks saturated, yet the reader is always either working or "
              "waiting for it; a reader that paces itself (a rate limit, a slow consumer) is "
              "neither for much of the time",
              "ours: fio libaio 4 KiB random direct reads at depth 1 kept vda 66 % busy at 48 % "
              "of a core (76 % and 49 % at depth 4), with 0 % iowait and I/O pressure; "
              "block/blk-core.c update_io_ticks: %util adds a whole jiffy for each jiffy a "
              "request starts or ends in, so the same reads paced at 4,000 a second read 89 % "
              "busy at queue 0.2, and busy counts here as at most 100 x the queue depth"),
    Threshold("link_busy", 80.0, "% of link speed",
              "a NIC, InfiniBand port or PCIe link carrying at least this share of its rated "
              "speed is near its limit",
              "protocol overhead leaves roughly a fifth of the raw rate unusable",
              "USE method; PCIe and InfiniBand deliver about 80-90 % of the signalling rate "
              "as payload"),
    Threshold("round_trips", 50.0, "% of wall time",
              "network file system round trips (operations x mean RTT) adding up to at least "
              "this share of the time: the network dominates",
              "half of every second is spent waiting for the server",
              "nfsiostat's per-operation RTT; our own line"),
    Threshold("many_faults", 100.0, "per second",
              "major page faults of the tree at least this often: memory-mapped data is read "
              "from storage",
              "each is a synchronous read (numpy memmap, Arrow, LMDB)",
              "our own: a hundred 4 KiB faults a second is already 400 KB/s of blocking reads"),
    Threshold("growth_min_run", 30.0, "seconds",
              "runs shorter than this get 'too short to tell' for memory growth",
              "start-up allocation extrapolated to a minute is not growth",
              "our own: a 1.6 s run once reported +234 MiB/min"),
    Threshold("growth_startup", 20.0, "% of the run",
              "the first this share of a run is left out of the memory growth fit",
              "imports, model loading and warm-up caches are not a leak",
              "our own"),
    Threshold("phase_min", 5.0, "seconds",
              "a stretch with one cause shorter than this is merged into its neighbours",
              "a blip of a second or two is noise, not a phase of the run",
              "our own: loading, training and evaluation phases last seconds to hours"),
    Threshold("phase_bucket", 1.0, "seconds",
              "a run is judged in buckets of this length to find its phases",
              "fine enough to place a phase edge within a second",
              "our own"),
    Threshold("recent_window", 10.0, "seconds",
              "the live monitor's headline judges the last this many seconds",
              "long enough to smooth a tick, short enough to follow a change",
              "our own"),
)

BY_NAME: Dict[str, Threshold] = {t.name: t for t in TABLE}


def value(name: str) -> float:
    """The value of the threshold called `name` (KeyError for a name not in the table)."""
    return BY_NAME[name].value


INPUT_BOUND = value("input_bound")
INPUT_MODERATE = value("input_moderate")
GPU_STARVING = value("gpu_starving")
GPU_BOUND = value("gpu_bound")
CPUS_BUSY = value("cpus_busy")
CPU_STALLED = value("cpu_stalled")
CPU_THROTTLED = value("cpu_throttled")
THREAD_PINNED = value("thread_pinned")
THREAD_ALONE = value("thread_alone")
SERIAL_THREADS = value("serial_threads")
ONE_CORE = value("one_core")
SHORT_LIVED = value("short_lived")
SERIAL_PROCESSES = value("serial_processes")
SHORT_SEEN = value("short_seen")
TREE_MOVES_DATA = value("tree_moves_data")
TREE_CPU_ACTIVE = value("tree_cpu_active")
RECLAIM_SOME = value("reclaim_some")
RECLAIM_FULL = value("reclaim_full")
REFAULT_SHARE = value("refault_share")
LIMIT_FULL = value("limit_full")
SMALL_READ = value("small_read")
FILE_CALLS = value("file_calls")
NEW_FILES = value("new_files")
MANY_READS = value("many_reads")
COLD_READS = value("cold_reads")
SIGNATURE_WAIT = value("signature_wait")
CALL_SHARE = value("call_share")
WALK_QUEUE = value("walk_queue")
MANY_METADATA = value("many_metadata")
DEVICE_BUSY = value("device_busy")
DEVICE_SHARE = value("device_share")
DEVICE_TURNS = value("device_turns")
LINK_BUSY = value("link_busy")
ROUND_TRIPS = value("round_trips")
MANY_FAULTS = value("many_faults")
GROWTH_MIN_RUN = value("growth_min_run")
GROWTH_STARTUP = value("growth_startup")
PHASE_MIN = value("phase_min")
PHASE_BUCKET = value("phase_bucket")
RECENT_WINDOW = value("recent_window")
