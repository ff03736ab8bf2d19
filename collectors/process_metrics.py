"""The process collector's metrics, declared once: names, units, kinds, help and roles
(collectors/process.py reads them; the CSV header, the Prometheus names and the TUI labels are
made from this table)."""

from __future__ import annotations

from typing import List

from memmap_tui import roles as R
from memmap_tui.model import MetricSpec, counter, gauge, ratio_gauge

from .threads import BUSY_THREAD_SHARE, THREAD_SECONDS


def process_specs() -> List[MetricSpec]:
    """The `proc.*` metrics, in the order of ProcessCollector.collect()'s values."""
    p, tree = "proc", R.TREE
    return [
        gauge(p, "count", "count", "Live processes in the watched tree.",
              label="processes", roles=(R.PROCESSES, tree)),
        counter(p, "cpu_seconds", "seconds", "CPU time of the tree (100 % = one CPU).",
                column="cpu_percent", scale=100.0, label="tree CPU", pane=R.PROCESS,
                roles=(R.CPU_CORES, tree), notes=(("proc.count", "processes: {}"),), rank=1),
        gauge(p, "rss_bytes", "bytes", "Resident memory summed over the tree's processes.",
              label="tree RSS", pane=R.PROCESS, roles=(R.MEMORY_PEAK, R.MEMORY_GROWTH, tree),
              key="rss", total=R.RAM_TOTAL, notes=(("proc.pss_bytes", "PSS {}"),), rank=2),
        gauge(p, "pss_bytes", "bytes", "Proportional set size: shared pages split, not repeated.",
              label="tree PSS", roles=(R.MEMORY_PEAK, tree), key="pss"),
        counter(p, "read_bytes", "bytes", "Bytes read through read() calls (rchar).",
                column="read_bytes_per_second", label="proc read", pane=R.THROUGHPUT,
                roles=(R.BYTES_READ, tree), rank=40),
        counter(p, "write_bytes", "bytes", "Bytes written through write() calls (wchar).",
                column="write_bytes_per_second", label="proc write", pane=R.THROUGHPUT,
                roles=(R.BYTES_WRITTEN, tree), rank=41),
        counter(p, "disk_read_bytes", "bytes", "Bytes the tree caused to be read from storage.",
                column="disk_read_bytes_per_second", label="proc disk rd", pane=R.THROUGHPUT,
                roles=(R.STORAGE_READ, tree), rank=42),
        counter(p, "disk_write_bytes", "bytes", "Bytes the tree dirtied for storage.",
                column="disk_write_bytes_per_second", label="proc disk wr", pane=R.THROUGHPUT,
                roles=(R.STORAGE_WRITTEN, tree), rank=43),
        counter(p, "major_faults", "count", "Page faults that had to read from storage.",
                column="major_faults_per_second", label="major faults", pane=R.PROCESS,
                roles=(R.MAJOR_FAULTS, tree), rank=3),
        counter(p, "io_delay_seconds", "seconds",
                "Main threads' time waiting for block I/O (delay accounting); the column is its "
                "share of the time the tree's processes were alive, so an idle process beside a "
                "stalled one lowers it.",
                column="io_delay_percent", per="process_seconds", scale=100.0,
                label="proc I/O delay", pane=R.WAITING_PANE, roles=(R.WAITING, tree),
                key="io_delay_percent", rank=15),
        counter(p, "process_seconds", "seconds", "Live process time (io delay denominator).",
                column=None),
        gauge(p, "uss_bytes", "bytes", "Unique set size: pages private to each process.",
              label="tree USS", roles=(tree,)),
        gauge(p, "anon_bytes", "bytes", "Anonymous memory (PSS share where the kernel says).",
              label="tree anon", roles=(tree,)),
        gauge(p, "file_bytes", "bytes", "File-backed and shared memory, e.g. mmapped data sets.",
              label="tree file-backed", roles=(tree,)),
        gauge(p, "swap_bytes", "bytes", "The tree's memory swapped out.",
              label="tree swapped", roles=(tree,)),
        counter(p, "minor_faults", "count", "Page faults served from memory.",
                column="minor_faults_per_second", label="minor faults", roles=(tree,)),
        gauge(p, "threads", "count", "Threads in the tree.", label="threads", roles=(tree,)),
        gauge(p, "open_files", "count", "Open file descriptors in the tree.",
              label="open files", roles=(tree,)),
        gauge(p, "unread_memory_count", "count",
              "Live processes of the tree whose memory map memmap could not read (ptrace "
              "denied): the PSS, USS, anon, file-backed and swap sums leave them out. 0: whole.",
              label="memory unread", roles=(R.PARTIAL, tree)),
        gauge(p, "unread_io_count", "count",
              "Live processes of the tree whose I/O counters memmap could not read (ptrace "
              "denied): the read/write byte rates leave them out. 0: whole.",
              label="I/O unread", roles=(R.PARTIAL, tree)),
        counter(p, "read_calls", "count", "read() calls of the tree (syscr).",
                column="read_calls_per_second", label="read calls", pane=R.PROCESS,
                roles=(R.READ_CALLS, tree), notes=(("proc.read_bytes_per_call", "of {}"),),
                rank=4),
        counter(p, "write_calls", "count", "write() calls of the tree (syscw).",
                column="write_calls_per_second", label="write calls",
                roles=(R.WRITE_CALLS, tree)),
        ratio_gauge(p, "read_bytes_per_call", "bytes",
                    "Bytes per read() call over the interval (rchar / syscr): small calls at a "
                    "high rate are the small-file signature.",
                    ratios=[("proc.read_bytes", "proc.read_calls")], label="bytes per read",
                    roles=(R.READ_CALL_SIZE, tree)),
        ratio_gauge(p, "write_bytes_per_call", "bytes",
                    "Bytes per write() call over the interval (wchar / syscw).",
                    ratios=[("proc.write_bytes", "proc.write_calls")], label="bytes per write",
                    roles=(R.WRITE_CALL_SIZE, tree)),
        gauge(p, "uninterruptible_count", "count",
              "Live processes of the tree in uninterruptible sleep (state D: waiting in the "
              "kernel, mostly for I/O) at the tick.",
              label="in D state", roles=(R.UNINTERRUPTIBLE, tree)),
        gauge(p, "top_thread_cpu_percent", "percent",
              "CPU of the tree's busiest thread over the last second, % of one core (100: a "
              "thread that never left the CPU; one loader thread at its limit).",
              label="busiest thread", pane=R.CPU, roles=(R.THREAD_MAX, tree),
              key="busiest_thread_percent", rank=5, lag=THREAD_SECONDS),
        gauge(p, "top_process_cpu_percent", "percent",
              "CPU of the tree's busiest process over the last second, its threads summed, % of "
              "one core (200: two cores).",
              label="busiest proc", pane=R.CPU, roles=(R.PROCESS_MAX, tree),
              notes=(("proc.top_process_busy_threads", "busy threads: {}"),), rank=6,
              lag=THREAD_SECONDS),
        gauge(p, "top_process_busy_threads", "count",
              f"Threads of the busiest process that used at least {BUSY_THREAD_SHARE:.0f} % of a "
              "core over the last second: several busy threads that together never pass one "
              "core are serialised, as by Python's GIL.",
              label="busy threads", roles=(R.BUSY_THREADS, tree), lag=THREAD_SECONDS),
    ]
