"""The bottleneck verdict from documented thresholds, reading metrics by their roles."""

from __future__ import annotations

import math
from typing import Dict, List

from memmap_tui import roles as R
from memmap_tui.catalog import schema_for_columns
from memmap_tui.model import GAUGE, MetricSpec, Schema, gauge
from memmap_tui.verdict import Verdict, verdict, waiting_share, window_from_rows


def judge(window: Dict[str, List[float]]) -> Verdict:
    """The verdict on recorded columns, understood through the collectors' catalogues."""
    return verdict(window, schema_for_columns(list(window)))


def test_gpu_idle_while_io_pressure_is_starving() -> None:
    gpu = MetricSpec(name="acme.gpu0.util_percent", unit="percent", kind=GAUGE, help="",
                     labels=(("gpu", "0"),), roles=(R.GPU_UTIL, R.DEVICE))
    schema = Schema([gpu, *schema_for_columns(["host.psi.io_some_percent"]).specs])
    v = verdict({"acme.gpu0.util_percent": [30, 40, 44], "host.psi.io_some_percent": [40, 40]},
                schema)
    assert v.kind == "starving" and v.level == "bad"
    assert v.text == "GPU 0 idle 62 % while PSI io some is 40 %: waiting on data"


def test_memory_pressure_comes_first() -> None:
    v = judge({"host.psi.memory_some_percent": [12, 12], "host.psi.memory_full_percent": [6, 6],
               "host.psi.io_some_percent": [50]})
    assert v.text == "memory pressure: reclaim stalls 12 %"


def test_without_a_gpu_it_speaks_of_io_only() -> None:
    v = judge({"host.psi.io_some_percent": [38, 38], "host.cpu.util_percent": [10]})
    assert v.kind == "io" and "GPU" not in v.text and "38 %" in v.text


def test_quiet_machine_has_no_bottleneck() -> None:
    v = judge({"host.cpu.util_percent": [5, 7], "host.psi.io_some_percent": [0, 1]})
    assert v.text == "no bottleneck seen" and v.level == "ok"


def test_cpu_bound() -> None:
    assert judge({"host.cpu.util_percent": [95, 93]}).kind == "cpu"


def test_nan_samples_are_ignored() -> None:
    window = {"host.psi.io_some_percent": [math.nan, 30, math.nan]}
    share, source = waiting_share(window, schema_for_columns(list(window)))
    assert share == 30 and source is not None and source.column == "host.psi.io_some_percent"


def test_process_io_delay_counts_as_waiting() -> None:
    v = judge({"proc.io_delay_percent": [50, 50], "host.psi.io_some_percent": [10]})
    assert v.kind == "io" and "50 %" in v.text


def test_a_new_collectors_roles_are_heard_without_a_change() -> None:
    """A metric nobody here knows by name, declared as a waiting signal and a GPU-busy signal
    by a third-party collector, drives the verdict."""
    schema = Schema([gauge("acme.loader", "stall_percent", "percent", "Stalled.",
                           label="loader stall", roles=(R.WAITING,)),
                     gauge("acme.npu", "busy_percent", "percent", "Busy.", roles=(R.GPU_UTIL,))])
    v = verdict({"acme.loader.stall_percent": [60.0], "acme.npu.busy_percent": [10.0]}, schema)
    assert v.kind == "starving" and v.text == (
        "GPU idle 90 % while loader stall is 60 %: waiting on data")


def test_gpm_sm_activity_is_preferred_to_utilisation() -> None:
    """NVML's utilisation says only that a kernel ran; SM activity, where present, decides."""
    util = gauge("x.gpu0", "util_percent", "percent", "", roles=(R.GPU_UTIL,))
    active = gauge("x.gpu0", "sm_active_percent", "percent", "", roles=(R.GPU_ACTIVITY,))
    wait = gauge("x", "wait_percent", "percent", "", roles=(R.WAITING,))
    window = {"x.gpu0.util_percent": [100.0], "x.gpu0.sm_active_percent": [20.0],
              "x.wait_percent": [30.0]}
    assert verdict(window, Schema([util, active, wait])).kind == "starving"
    assert verdict(window, Schema([util, wait])).kind == "io"


def test_window_from_rows_is_column_wise() -> None:
    w = window_from_rows(["timestamp", "a"], [(1.0, 2.0), (2.0, 3.0)])
    assert w == {"timestamp": [1.0, 2.0], "a": [2.0, 3.0]}


def test_the_jobs_own_io_stalls_stand_in_for_the_hosts() -> None:
    """On a shared node the host's PSI is every job's: the job's own cgroup speaks for it."""
    window = {"host.psi.io_some_percent": [60, 60], "host.cpu.iowait_percent": [30],
              "job.psi.io_some_percent": [2, 4]}
    share, source = waiting_share(window, schema_for_columns(list(window)))
    assert share == 3 and source is not None and source.column == "job.psi.io_some_percent"
    assert judge(window).kind == "none"


def test_the_jobs_own_memory_stalls_stand_in_for_the_hosts() -> None:
    assert judge({"host.psi.memory_some_percent": [40], "job.psi.memory_some_percent": [1]}
                 ).kind == "none"
    assert judge({"host.psi.memory_some_percent": [1], "job.psi.memory_some_percent": [30]}
                 ).kind == "memory"


def test_without_the_jobs_own_stalls_the_hosts_count() -> None:
    window = {"host.psi.io_some_percent": [60, 60], "job.mem.used_bytes": [1e9]}
    assert waiting_share(window, schema_for_columns(list(window)))[0] == 60
