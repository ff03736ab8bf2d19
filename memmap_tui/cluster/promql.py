"""The PromQL of `memmap cluster`, as data: one instant query per column, each a vector by
`instance`. docs/prometheus.md quotes the same strings (with the window 1m) and the tests run
each of them against a real Prometheus scraping `memmap serve`.

Every query is about the node as a whole: disk and network are the host's totals (physical
devices, each byte once), the interconnect is every RDMA port, PCIe every GPU's link both ways
(the byte counters where the driver has them, else NVML's sampled throughput), GPU busy the mean
over the node's GPUs of their SM activity where the GPUs give it, else their utilisation (as the
diagnosis reads them). The waiting share follows the diagnosis (memmap_tui/verdict.py): the
watched tree's own I/O delay where there is one, else its job's cgroup I/O pressure, else the
most of the host's I/O pressure and iowait. `{window}` is the rate window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple

WINDOW = "1m"
_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")

NODES = "memmap_job_info"
GONE = ("max by (instance, hpc_job, user) (max_over_time(memmap_job_info[10m])) "
        "unless on (instance) memmap_job_info")


def _both(counter: str) -> str:
    """rx + tx (or read + write) of a whole-node counter pair, as bytes/s."""
    a, b = counter.split("|")
    return f"sum by (instance) (rate({a}[{{window}}]) + rate({b}[{{window}}]))"


DISK = _both("memmap_host_disk_all_read_bytes_total|memmap_host_disk_all_write_bytes_total")
NETWORK = _both("memmap_host_net_all_rx_bytes_total|memmap_host_net_all_tx_bytes_total")
INTERCONNECT = _both("memmap_rdma_all_rx_bytes_total|memmap_rdma_all_tx_bytes_total")
PCIE = (_both("memmap_nvml_gpu_pcie_rx_bytes_total|memmap_nvml_gpu_pcie_tx_bytes_total")
        + " or sum by (instance) (memmap_nvml_gpu_pcie_rx_bytes_per_second"
          " + memmap_nvml_gpu_pcie_tx_bytes_per_second)")
GPU_BUSY = ("avg by (instance) (memmap_nvml_gpu_sm_active_percent)"
            " or avg by (instance) (memmap_nvml_gpu_util_percent)"
            " or avg by (instance) (memmap_jetson_gpu_util_percent)")
WAITING = (
    "max by (instance) (100 * rate(memmap_proc_io_delay_seconds_total[{window}])"
    " / rate(memmap_proc_process_seconds_total[{window}]))"
    " or max by (instance) (100 * rate(memmap_job_psi_io_some_stall_seconds_total[{window}]))"
    " or max by (instance) ("
    "label_replace(100 * rate(memmap_host_psi_io_some_stall_seconds_total[{window}]),"
    ' "signal", "psi", "", "")'
    " or label_replace(100 * rate(memmap_host_cpu_iowait_seconds_total[{window}])"
    " / rate(memmap_host_cpu_total_seconds_total[{window}]),"
    ' "signal", "iowait", "", ""))'
)
MEMORY = "max by (instance) (memmap_host_mem_used_bytes)"
CAUSE = "max by (instance, cause, level) (memmap_verdict_info)"

RATE, PERCENT, BYTES, LABELS = "rate", "percent", "bytes", "labels"


@dataclass(frozen=True)
class Column:
    """One column of the cluster view: its key, header, query and what its number is."""

    key: str
    title: str
    query: str
    unit: str


COLUMNS: Tuple[Column, ...] = (
    Column("disk", "disk", DISK, RATE),
    Column("network", "net", NETWORK, RATE),
    Column("interconnect", "IB", INTERCONNECT, RATE),
    Column("pcie", "PCIe", PCIE, RATE),
    Column("gpu", "GPU", GPU_BUSY, PERCENT),
    Column("waiting", "wait", WAITING, PERCENT),
    Column("memory", "mem", MEMORY, BYTES),
    Column("cause", "cause", CAUSE, LABELS),
)


def valid_window(text: str) -> bool:
    """A Prometheus duration such as 30s, 1m, 1h30m."""
    return bool(_DURATION.match(text))


def string_literal(value: str) -> str:
    """`value` as a PromQL double-quoted string: backslashes, quotes and line ends escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def job_selector(job: str) -> str:
    """The info series of the nodes that run job `job`."""
    return f"memmap_job_info{{hpc_job={string_literal(job)}}}"


def query(template: str, window: str = WINDOW, job: Optional[str] = None) -> str:
    """A column's query with its rate window, limited to the nodes of `job` when given."""
    text = template.replace("{window}", window)
    return f"({text}) and on (instance) {job_selector(job)}" if job is not None else text


def nodes_query(job: Optional[str] = None) -> str:
    """One series per node (its job, user and --label labels)."""
    return job_selector(job) if job is not None else NODES


def gone_query(job: Optional[str] = None) -> str:
    """Nodes seen in the last 10 minutes that are not scraped now."""
    if job is None:
        return GONE
    return GONE.replace("memmap_job_info[10m]", f"{job_selector(job)}[10m]")
