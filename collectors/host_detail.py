"""The host collector's finer figures: each CPU (and the busiest of them) and each disk's
requests as `iostat -x` shows them. Specs only, built by the same functions for open() and for
the catalogue; the rules that fill them are in collectors/host.py.

Sources and definitions:
- /proc/stat `cpuN` lines: USER_HZ jiffies of one CPU (busy = all but idle and iowait). An
  offline CPU has no line (Documentation/core-api/cpu_hotplug.rst), so its counters are NaN and
  it is left out of the busiest CPU until it has been online for two samples.
- /sys/block/<disk>/stat or /proc/diskstats (Documentation/admin-guide/iostats.rst fields 1-11;
  sysstat's iostat computes its -x columns from the same fields): r/s = d(reads completed)/dt;
  rareq-sz = d(sectors read) * 512 / d(reads completed) (iostat prints kB, we give bytes);
  r_await = d(ms spent reading)/d(reads completed) (we give seconds); aqu-sz = d(weighted ms
  doing I/O, field 11)/d(ms elapsed); writes likewise. Size and await are NaN over an interval
  with no request of their kind.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import replace
from typing import List, Sequence

from memmap_tui import roles as R
from memmap_tui.model import MetricSpec, counter, device_name, ratio_gauge

_CPU_LINE = re.compile(r"(?m)^cpu(\d+)[ \t]")
MAX_CPUS = 65536


def cpu_numbers(stat: str, sys_root: str) -> List[int]:
    """The CPUs with a `cpuN` line in a /proc/stat text, and those that /sys lists as present
    (offline ones have no line), in order."""
    found = {int(m.group(1)) for m in _CPU_LINE.finditer(stat)}
    try:
        with open(os.path.join(sys_root, "devices/system/cpu/present")) as f:
            found.update(_cpu_list(f.read()))
    except (OSError, ValueError):
        pass
    return sorted(found)


def _cpu_list(text: str) -> List[int]:
    """A kernel CPU list ("0-3,8,10-11") as numbers; ValueError when it is not one."""
    numbers: List[int] = []
    for part in text.strip().split(","):
        if part:
            first, _, last = part.partition("-")
            numbers += range(int(first), int(last or first) + 1)
    if len(numbers) > MAX_CPUS:
        raise ValueError("implausible CPU list")
    return numbers


def core_specs(cpus: Sequence[int], kind: str) -> List[MetricSpec]:
    """Each CPU's busy ("busy") or total ("total") time: counters without a column, labelled
    cpu="N" (memmap_host_cpu_core_busy_seconds_total{cpu="3"})."""
    what = "neither idle nor waiting" if kind == "busy" else "of every kind"
    return [replace(counter("host.cpu", f"{kind}_seconds", "seconds",
                            f"CPU time {what}, of one CPU.", column=None, device=f"cpu{cpu}",
                            label_key="cpu", family_prefix="host.cpu.core"),
                    labels=(("cpu", str(cpu)),))
            for cpu in cpus]


def busiest_cpu_spec(cpus: Sequence[int]) -> MetricSpec:
    """The busiest CPU of the interval: max over CPUs of d(busy)/d(total), percent of it, and
    never below the all-CPUs share. That share (the first `cpu` line) is their weighted mean, so
    the busiest CPU is at least that busy; the kernel formats that line and the `cpuN` lines
    from separate passes over the CPUs (fs/proc/stat.c), a moment apart, and at idle a tick
    landing in between made the busiest CPU read 0 % beside all CPUs at 5 %. The host collector
    has no busiest CPU without `cpuN` lines."""
    return ratio_gauge(
        "host.cpu", "max_core_util_percent", "percent",
        "Busy share of the busiest CPU over the interval (max over CPUs of busy/total time; "
        "never below all CPUs' share, their mean).",
        ratios=[("host.cpu.busy_seconds", "host.cpu.total_seconds"),
                *((device_name("host.cpu", f"cpu{c}", "busy_seconds"),
                   device_name("host.cpu", f"cpu{c}", "total_seconds")) for c in cpus)],
        scale=100.0, share=True, label="busiest CPU", pane=R.CPU,
        roles=(R.CPU_CORE_MAX, R.HOST), rank=2)


def request_specs(disk: str) -> List[MetricSpec]:
    """A disk's requests as `iostat -x` shows them: completed per second, bytes per request,
    await and queue depth (see the module docstring)."""
    what = f"disk {disk}"
    name = functools.partial(device_name, "host.disk", disk)
    return [
        counter("host.disk", "reads", "count", f"Read requests {what} completed (iostat r/s).",
                column="reads_per_second", device=disk, label=f"{disk} reads",
                roles=(R.DEVICE_READS, R.DEVICE)),
        counter("host.disk", "writes", "count",
                f"Write requests {what} completed (iostat w/s).", column="writes_per_second",
                device=disk, label=f"{disk} writes", roles=(R.DEVICE_WRITES, R.DEVICE)),
        counter("host.disk", "read_time_seconds", "seconds",
                f"Time read requests to {what} took, queue included, summed over requests; "
                "per request it is iostat r_await.", column="read_await_seconds", per="reads",
                device=disk, label=f"{disk} read await", roles=(R.READ_AWAIT, R.DEVICE)),
        counter("host.disk", "write_time_seconds", "seconds",
                f"Time write requests to {what} took, queue included, summed over requests; "
                "per request it is iostat w_await.", column="write_await_seconds",
                per="writes", device=disk, label=f"{disk} write await",
                roles=(R.WRITE_AWAIT, R.DEVICE)),
        counter("host.disk", "weighted_io_seconds", "seconds",
                f"Time requests were in flight on {what}, summed over requests; per second it "
                "is the mean queue depth (iostat aqu-sz). The kernel adds a request's time as "
                "it completes, so requests long in flight show when they end.",
                column="queue_depth", device=disk,
                label=f"{disk} queue", roles=(R.QUEUE_DEPTH, R.DEVICE)),
        ratio_gauge("host.disk", "read_request_bytes", "bytes",
                    f"Bytes per read request to {what} over the interval (iostat rareq-sz).",
                    ratios=[(name("read_bytes"), name("reads"))], device=disk,
                    label=f"{disk} read size", roles=(R.READ_REQUEST_SIZE, R.DEVICE)),
        ratio_gauge("host.disk", "write_request_bytes", "bytes",
                    f"Bytes per write request to {what} over the interval (iostat wareq-sz).",
                    ratios=[(name("write_bytes"), name("writes"))], device=disk,
                    label=f"{disk} write size", roles=(R.WRITE_REQUEST_SIZE, R.DEVICE)),
    ]
