"""The run summary sink's aggregates, fed synthetic frames through the real derive(), and the
GPU memory join (nvml rows are faked: this machine has no GPU)."""

from __future__ import annotations

import math
import random
import tracemalloc

import pytest

from memmap_tui import roles as R
from memmap_tui.derive import derive
from memmap_tui.model import Reading, Schema, counter, gauge
from memmap_tui.sinks.aggregates import Growth, Histogram, slope
from memmap_tui.sinks.summary import RunSummary, render
from memmap_tui.tables import tree_gpu_memory_bytes, with_gpu_memory

# What the summary reports it finds by role, so these specs need no particular names.
SPECS = [
    gauge("proc", "count", "count", "Processes.", roles=(R.PROCESSES, R.TREE)),
    gauge("proc", "rss_bytes", "bytes", "RSS.", label="RSS", key="rss",
          roles=(R.MEMORY_PEAK, R.MEMORY_GROWTH, R.TREE)),
    counter("proc", "read_bytes", "bytes", "Read.", column="read_bytes_per_second",
            roles=(R.BYTES_READ, R.TREE)),
    counter("host.psi", "io_some_stall_seconds", "seconds", "Stall.", column="io_some_percent",
            scale=100.0, label="PSI io some", roles=(R.WAITING, R.HOST)),
]


def feed(summary: RunSummary, rows: list, tables: list = (),  # type: ignore[assignment]
         specs: list = SPECS) -> None:
    """rows: (monotonic, [raw values]) fed through derive() into the sink."""
    schema = Schema(specs)
    summary.open(schema)
    prev = None
    for k, (t, values) in enumerate(rows):
        reading = Reading(t, 1000.0 + t, values, tables[k] if tables else {})
        summary.write(derive(schema, prev, reading))
        prev = reading


def test_histogram_p95_is_within_one_percent() -> None:
    rng = random.Random(1)
    values = [rng.uniform(1e6, 3e9) for _ in range(20000)]
    h = Histogram()
    for v in values:
        h.add(v, 1.0)
    exact = sorted(values)[int(0.95 * len(values)) - 1]
    assert h.quantile(0.95) == pytest.approx(exact, rel=0.01)


def test_histogram_stays_small_however_many_values() -> None:
    h = Histogram()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(200000):
        h.add(1e9 + (i % 1000) * 1e6, 0.1)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(h.bins) < 200 and grown < 64 * 1024


def test_linear_fit_gives_the_slope() -> None:
    assert slope([(500.0 + t, 1e6 + 2e5 * t) for t in range(10)]) == pytest.approx(2e5)


def test_growth_leaves_out_start_up_and_short_runs() -> None:
    short = Growth()
    for t in range(16):
        short.add(t * 0.1, 1e8 + 1e8 * t)  # 1.6 s of start-up allocation
    value, note = short.per_minute()
    assert math.isnan(value) and note.startswith("too short to tell (1.5 s")
    run = Growth()
    for t in range(600):  # 60 s: 12 s of start-up to 1 GB, then +1 MB/s
        run.add(t * 0.1, 1e9 * min(t / 120, 1.0) + (1e6 * (t - 120) / 10 if t > 120 else 0))
    value, note = run.per_minute()
    assert note == "" and value == pytest.approx(60e6, rel=0.01)


def test_growth_keeps_bounded_memory_however_long_the_run() -> None:
    g = Growth()
    for t in range(100000):
        g.add(float(t), 2.0 * t)
    assert len(g.points) < 2048 and g.per_minute()[0] == pytest.approx(120.0)


def test_mean_throughput_is_bytes_over_seconds_and_growth_ignores_the_exited_frame() -> None:
    rows = [(t * 0.5, [1.0, 100e6 + 10e6 * t, 1e9 * t, 0.01 * t]) for t in range(11)]
    rows.append((5.5, [0.0, 0.0, 1e9 * 10 + 5e8, 0.055]))  # the process has exited
    summary = RunSummary()
    feed(summary, rows)
    result = summary.result()
    calls = result["read"]["calls"]
    assert calls["total_bytes"] == pytest.approx(10.5e9)
    assert calls["mean_bytes_per_second"] == pytest.approx(10.5e9 / 5.5)
    assert calls["p95_bytes_per_second"] == pytest.approx(2e9, rel=0.01)
    assert result["memory"]["peak_rss_bytes"] == 200e6
    assert math.isnan(result["memory"]["rss_growth_bytes_per_minute"])  # 5.5 s: too short
    assert result["memory"]["growth_note"].startswith("too short to tell")
    assert result["waiting"]["psi_io_some_percent"] == pytest.approx(2.0)


def test_the_verdict_speaks_of_waiting_when_io_pressure_is_high() -> None:
    rows = [(float(t), [1.0, 1e8, 1e8 * t, 0.5 * t]) for t in range(5)]
    summary = RunSummary()
    feed(summary, rows)
    result = summary.result()
    assert result["verdict"]["cause"] == "storage"
    assert result["verdict"]["text"] == "storage: PSI io some 50 %"
    text = render(result, summary.schema, "memmap run: `x` exited with status 0")
    assert "50.0 % of wall time waiting for data (PSI io some 50.0 %)" in text
    assert "peak RSS 95.37 MiB" in text


def test_a_run_that_writes_more_than_it_reads_waits_for_its_writes() -> None:
    """I/O pressure counts waits for writes as for reads: a checkpoint writer is not waiting
    for data. The direction is the tree's bytes to and from storage."""
    specs = SPECS + [
        counter("proc", "disk_read_bytes", "bytes", "Read from storage.",
                column="disk_read_bytes_per_second", roles=(R.STORAGE_READ, R.TREE)),
        counter("proc", "disk_write_bytes", "bytes", "Written to storage.",
                column="disk_write_bytes_per_second", roles=(R.STORAGE_WRITTEN, R.TREE))]
    for read, written, what in ((1e6, 3e8, "writes to storage"), (3e8, 1e6, "data")):
        rows = [(float(t), [1.0, 1e8, 0.0, 0.5 * t, read * t, written * t]) for t in range(5)]
        summary = RunSummary()
        feed(summary, rows, specs=specs)
        text = render(summary.result(), summary.schema, "memmap run: `x` exited with status 0")
        assert f"50.0 % of wall time waiting for {what} (PSI io some 50.0 %)" in text
    # the host waited while the tree read only from the page cache: others' wait
    rows = [(float(t), [1.0, 1e8, 3e8 * t, 0.5 * t, 0.0, 0.0]) for t in range(5)]
    summary = RunSummary()
    feed(summary, rows, specs=specs)
    result = summary.result()
    assert result["waiting"]["the_trees"] is False and result["verdict"]["cause"] == "none"
    text = render(result, summary.schema, "memmap run: `x` exited with status 0")
    assert ("50.0 % of wall time waiting for data (PSI io some 50.0 %; others' wait: the tree "
            "moved little to or from storage)") in text


def test_the_cpu_line_gives_the_busiest_process_and_its_busy_threads() -> None:
    specs = SPECS + [
        gauge("proc", "top_process_cpu_percent", "percent", "Busiest.",
              roles=(R.PROCESS_MAX, R.TREE)),
        gauge("proc", "top_process_busy_threads", "count", "Busy.",
              roles=(R.BUSY_THREADS, R.TREE)),
    ]
    for busy, said in ((4.0, "busiest process 95.0 % over 4 busy threads"),
                       (1.0, "busiest process 95.0 % over 1 busy thread,")):
        summary = RunSummary()
        feed(summary, [(float(t), [1.0, 1e8, 0.0, 0.0, 95.0, busy]) for t in range(4)], specs=specs)
        result = summary.result()
        assert result["cpu"]["busiest_process_percent"] == pytest.approx(95.0)
        assert said in render(result, summary.schema, "memmap run")


def test_peak_gpu_memory_is_the_trees_share_from_nvml_rows() -> None:
    process = [{"pid": 10, "exited": False}, {"pid": 11, "exited": False}]
    nvml = [{"gpu": 0, "pid": 10, "used_gpu_memory_bytes": 3e9},
            {"gpu": 1, "pid": 11, "used_gpu_memory_bytes": 1e9},
            {"gpu": 0, "pid": 99, "used_gpu_memory_bytes": 8e9}]  # someone else's
    tables = [{"process": process, "nvml": nvml}, {"process": process, "nvml": nvml[:1]}]
    summary = RunSummary()
    feed(summary, [(0.0, [2.0, 1e8, 0.0, 0.0]), (1.0, [2.0, 1e8, 0.0, 0.0])], tables)
    assert summary.result()["memory"]["peak_gpu_bytes"] == 4e9
    assert summary.result()["memory"]["gpu_scope"] == "tree"


def test_gpu_memory_unknown_per_process_is_not_taken_for_zero() -> None:
    tables = {"process": [{"pid": 10}], "nvml": [{"gpu": 0, "pid": 10,
                                                   "used_gpu_memory_bytes": None}]}
    assert math.isnan(tree_gpu_memory_bytes(tables))
    assert math.isnan(tree_gpu_memory_bytes({"process": [{"pid": 10}]}))  # no GPU collector
    assert tree_gpu_memory_bytes({"process": [{"pid": 10}], "nvml": []}) == 0.0


def test_process_rows_get_their_gpu_memory_filled_in() -> None:
    tables = {"process": [{"pid": 10, "gpu_memory_bytes": math.nan},
                          {"pid": 12, "gpu_memory_bytes": math.nan}],
              "nvml": [{"gpu": 0, "pid": 10, "used_gpu_memory_bytes": 5.0},
                       {"gpu": 1, "pid": 10, "used_gpu_memory_bytes": 2.0}]}
    rows = with_gpu_memory(tables)
    assert [r["gpu_memory_bytes"] for r in rows] == [7.0, 0.0]
    assert math.isnan(tables["process"][0]["gpu_memory_bytes"])  # the frame's rows untouched
