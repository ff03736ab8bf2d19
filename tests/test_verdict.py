"""The bottleneck verdict from documented thresholds."""

from __future__ import annotations

import math

from memmap_tui.verdict import verdict, waiting_share, window_from_rows


def test_gpu_idle_while_io_pressure_is_starving() -> None:
    v = verdict({"nvml.gpu0.util_percent": [30, 40, 44], "host.psi.io_some_percent": [40, 40]})
    assert v.kind == "starving" and v.level == "bad"
    assert v.text == "GPU 0 idle 62 % while I/O pressure is 40 %: waiting on data"


def test_memory_pressure_comes_first() -> None:
    v = verdict({"host.psi.memory_some_percent": [12, 12], "host.psi.memory_full_percent": [6, 6],
                 "host.psi.io_some_percent": [50]})
    assert v.text == "memory pressure: reclaim stalls 12 %"


def test_without_a_gpu_it_speaks_of_io_only() -> None:
    v = verdict({"host.psi.io_some_percent": [38, 38], "host.cpu.util_percent": [10]})
    assert v.kind == "io" and "GPU" not in v.text and "38 %" in v.text


def test_quiet_machine_has_no_bottleneck() -> None:
    v = verdict({"host.cpu.util_percent": [5, 7], "host.psi.io_some_percent": [0, 1]})
    assert v.text == "no bottleneck seen" and v.level == "ok"


def test_busy_gpu_is_gpu_bound() -> None:
    v = verdict({"tegra.gpu.util_percent": [95, 97], "host.psi.io_some_percent": [1]})
    assert v.kind == "gpu" and "GPU busy 96 %" in v.text


def test_cpu_bound() -> None:
    assert verdict({"host.cpu.util_percent": [95, 93]}).kind == "cpu"


def test_nan_samples_are_ignored() -> None:
    share, source = waiting_share({"host.psi.io_some_percent": [math.nan, 30, math.nan]})
    assert share == 30 and source == "host.psi.io_some_percent"


def test_process_io_delay_counts_as_waiting() -> None:
    v = verdict({"proc.io_delay_percent": [50, 50], "host.psi.io_some_percent": [10]})
    assert v.kind == "io" and "50 %" in v.text


def test_window_from_rows_is_column_wise() -> None:
    w = window_from_rows(["timestamp", "a"], [(1.0, 2.0), (2.0, 3.0)])
    assert w == {"timestamp": [1.0, 2.0], "a": [2.0, 3.0]}
