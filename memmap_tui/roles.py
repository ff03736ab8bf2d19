"""What metrics are for: the words a collector gives each of its metrics, in one vocabulary.

A collector declares, next to a metric's name and unit (memmap_tui.model.MetricSpec), its label
on screen, its pane and its roles. Everything downstream asks for roles: the TUI's panes, the
diagnosis (memmap_tui.verdict), the run summary, `memmap report`. None of them spells a column
name, so a new collector that declares, say, a waiting signal is in the diagnosis, the summary
and its pane without a change to any of them. A metric may have several roles; a scope role
(HOST, TREE, JOB, DEVICE) says whose it is.

Every role is a stable word (it also appears in `memmap collectors --roles`, hence in scripts).
"""

from __future__ import annotations

from typing import Dict

# -- panes of the TUI (MetricSpec.pane): where a metric is drawn --------------------------------
MEMORY, THROUGHPUT, WAITING_PANE, CPU, GPU, PROCESS = (
    "memory", "throughput", "waiting", "cpu", "gpu", "process")
PANES = (MEMORY, THROUGHPUT, WAITING_PANE, CPU, GPU, PROCESS)

# -- scope: whose figure it is --------------------------------------------------------------------
HOST = "host"      # the whole machine (may mix several jobs on a shared node)
TREE = "tree"      # the watched process and its descendants
JOB = "job"        # the watched process's cgroup: its Slurm job, pod or unit
DEVICE = "device"  # one device (a GPU, a disk, a link); its labels say which

# -- waiting and stalls (percent of wall time) ----------------------------------------------------
WAITING = "waiting"                # time spent waiting for data (block or network I/O)
WAITING_FULL = "waiting-full"      # time all non-idle tasks waited for I/O at once (PSI io full)
MEMORY_STALL = "memory-stall"      # time some tasks stalled reclaiming memory (PSI memory some)
MEMORY_STALL_FULL = "memory-stall-full"  # time all non-idle tasks stalled so (PSI memory full)
CPU_STALL = "cpu-stall"            # time runnable tasks waited for a CPU (PSI cpu some)
CPU_THROTTLED = "cpu-throttled"    # CFS quota periods in which a cgroup was throttled, percent

# -- CPU ------------------------------------------------------------------------------------------
CPU_BUSY = "cpu-busy"              # percent of all CPUs busy (100 = every CPU)
CPU_CORE_MAX = "cpu-core-max"      # the busiest single CPU, percent of it
CPU_CORES = "cpu-cores"            # CPU used, percent of one core (200 = two cores busy)
THREAD_MAX = "thread-max"          # the busiest thread, percent of one core
PROCESS_MAX = "process-max"        # the busiest process, its threads summed, percent of one core
BUSY_THREADS = "busy-threads"      # how many threads of the busiest process were busy
PROCESSES = "processes"            # how many processes are alive (a count, never a fraction)
PARTIAL = "partial"                # how many processes a tree's sums leave out (0: whole)

# -- memory ---------------------------------------------------------------------------------------
RAM_USED = "ram-used"              # RAM in use, bytes (host RAM; a Jetson's unified RAM)
RAM_TOTAL = "ram-total"            # RAM in all, bytes (as a `total`: the full scale of a bar)
SWAP_USED = "swap-used"            # swap in use, bytes
GPU_MEMORY = "gpu-memory"          # a GPU's memory in use, bytes (all processes on it)
MEMORY_PEAK = "memory-peak"        # a memory figure whose peak the run summary reports
MEMORY_GROWTH = "memory-growth"    # the memory figure whose growth the run summary fits
MEMORY_LIMIT_USED = "memory-limit-used"  # memory in use, percent of its cgroup's limit
OOM_KILLS = "oom-kills"            # processes the OOM killer killed (per second as a column)

# -- GPU ------------------------------------------------------------------------------------------
GPU_UTIL = "gpu-util"              # share of time a kernel ran, percent (NVML utilisation)
GPU_ACTIVITY = "gpu-activity"      # SM activity, percent (GPM): how busy, not just whether
GPU_DRAM_BW = "gpu-dram-bw"        # a GPU's DRAM bandwidth in use, percent of its peak (GPM)

# -- data movement (bytes per second) ------------------------------------------------------------
THROUGHPUT_FLOW = "throughput"     # a flow the run summary reports (mean, p95, bytes in all)
BYTES_READ = "bytes-read"          # read through read() calls, page-cache hits included
BYTES_WRITTEN = "bytes-written"    # written through write() calls
STORAGE_READ = "storage-read"      # read from storage (block devices)
STORAGE_WRITTEN = "storage-written"  # written to storage
MAJOR_FAULTS = "major-faults"      # page faults that read from storage per second (mmapped data)
REFAULTS = "refaults"              # bytes/s of evicted pages read back in (the cache was too small)
LINK_SHARE = "link-share"          # percent of a link's capacity in use (a NIC, an IB port, PCIe)
HOST_TO_DEVICE = "host-to-device"  # a link between host memory and a device (a GPU's PCIe)

# -- how the data is asked for (the small-file signature; the storage's own view) ---------------
READ_CALLS = "read-calls"          # read() calls per second
WRITE_CALLS = "write-calls"        # write() calls per second
READ_CALL_SIZE = "read-call-size"  # bytes per read() call
WRITE_CALL_SIZE = "write-call-size"  # bytes per write() call
UNINTERRUPTIBLE = "uninterruptible"  # processes in D state (waiting in the kernel, mostly I/O)
DEVICE_READS = "device-reads"      # read requests a device completed per second (iostat r/s)
DEVICE_WRITES = "device-writes"    # write requests per second (iostat w/s)
READ_REQUEST_SIZE = "read-request-size"    # bytes per read request (iostat rareq-sz)
WRITE_REQUEST_SIZE = "write-request-size"  # bytes per write request (iostat wareq-sz)
READ_AWAIT = "read-await"          # seconds a read request took, queue included (iostat r_await)
WRITE_AWAIT = "write-await"        # seconds a write request took (iostat w_await)
QUEUE_DEPTH = "queue-depth"        # requests in flight on average (iostat aqu-sz)
DEVICE_BUSY = "device-busy"        # percent of time a device had I/O in flight (iostat %util)
METADATA_OPS = "metadata-ops"      # metadata operations per second (open, getattr, lookup ...)
NEW_NAMES = "new-names"            # file names newly looked up per second (dentry cache growth)
ROUND_TRIP = "round-trip"          # seconds a network file system operation took on average
ROUND_TRIP_SHARE = "round-trip-share"  # percent of wall time in network file system round trips

ROLES: Dict[str, str] = {
    HOST: "the whole machine's figure",
    TREE: "the watched process tree's figure",
    JOB: "the watched process's cgroup (job) figure",
    DEVICE: "one device's figure",
    WAITING: "share of time waiting for data, %",
    WAITING_FULL: "share of time all tasks waited for I/O at once, %",
    MEMORY_STALL: "share of time some tasks stalled reclaiming memory, %",
    MEMORY_STALL_FULL: "share of time all tasks stalled reclaiming memory, %",
    CPU_STALL: "share of time runnable tasks waited for a CPU, %",
    CPU_THROTTLED: "share of CPU-quota periods in which the job was throttled, %",
    CPU_BUSY: "all CPUs busy, % of all",
    CPU_CORE_MAX: "the busiest CPU, % of it",
    CPU_CORES: "CPU used, % of one core",
    THREAD_MAX: "the busiest thread, % of one core",
    PROCESS_MAX: "the busiest process, its threads summed, % of one core",
    BUSY_THREADS: "busy threads of the busiest process (a count)",
    PROCESSES: "live processes (a count)",
    PARTIAL: "processes the tree's sums leave out, unreadable (0: the sums are whole)",
    RAM_USED: "RAM in use, bytes",
    RAM_TOTAL: "RAM in all, bytes",
    SWAP_USED: "swap in use, bytes",
    GPU_MEMORY: "a GPU's memory in use, bytes",
    MEMORY_PEAK: "the run summary reports its peak",
    MEMORY_GROWTH: "the run summary fits its growth",
    MEMORY_LIMIT_USED: "memory in use, % of the job's cgroup limit",
    OOM_KILLS: "processes killed by the OOM killer",
    GPU_UTIL: "share of time a GPU kernel ran, %",
    GPU_ACTIVITY: "GPU SM activity, %",
    GPU_DRAM_BW: "GPU DRAM bandwidth in use, % of its peak",
    THROUGHPUT_FLOW: "a flow the run summary reports, bytes/s",
    BYTES_READ: "bytes/s read through read() calls",
    BYTES_WRITTEN: "bytes/s written through write() calls",
    STORAGE_READ: "bytes/s read from storage",
    STORAGE_WRITTEN: "bytes/s written to storage",
    MAJOR_FAULTS: "page faults that read from storage, per second",
    REFAULTS: "bytes/s of pages read back in after eviction",
    LINK_SHARE: "share of a link's capacity in use, %",
    HOST_TO_DEVICE: "a link between host memory and a device (PCIe)",
    READ_CALLS: "read() calls per second",
    WRITE_CALLS: "write() calls per second",
    READ_CALL_SIZE: "bytes per read() call",
    WRITE_CALL_SIZE: "bytes per write() call",
    UNINTERRUPTIBLE: "processes in uninterruptible sleep (D state)",
    DEVICE_READS: "read requests a device completed per second",
    DEVICE_WRITES: "write requests a device completed per second",
    READ_REQUEST_SIZE: "bytes per read request",
    WRITE_REQUEST_SIZE: "bytes per write request",
    READ_AWAIT: "seconds per read request, queue included",
    WRITE_AWAIT: "seconds per write request, queue included",
    QUEUE_DEPTH: "requests in flight on a device, on average",
    DEVICE_BUSY: "share of time a device had I/O in flight, %",
    METADATA_OPS: "metadata operations per second",
    NEW_NAMES: "file names the kernel looked up for the first time, per second",
    ROUND_TRIP: "seconds per network file system operation",
    ROUND_TRIP_SHARE: "share of wall time in network file system round trips, %",
}
