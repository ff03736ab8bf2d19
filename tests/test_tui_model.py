"""The TUI's model without Textual: graph history, pane specs, row views, layout and sources."""

from __future__ import annotations

import math
import os
import time
from argparse import Namespace

import pytest

from memmap_tui import roles as R
from memmap_tui.catalog import schema_for_columns
from memmap_tui.model import GAUGE, MetricSpec, Schema, counter, gauge
from memmap_tui.tui.history import BUCKETS, History
from memmap_tui.tui.monitor import INTERVAL_STEPS, Monitor, SelfMeter, SelfUsage, next_interval
from memmap_tui.tui.panes import (
    BAR,
    CPU,
    GPU,
    MEMORY,
    PANE_ORDER,
    PROCESS,
    RATE,
    THROUGHPUT,
    WAITING,
    PaneSpec,
    Row,
    build_panes,
    find_pane,
    is_count,
)
from memmap_tui.tui.render import (
    LINUX_GLYPHS,
    UNICODE_GLYPHS,
    console_glyphs,
    graph_lines,
    graph_text,
    layout_rows,
    table_columns,
)
from memmap_tui.tui.source import FrameStore, LiveSource, RecordingSource, ring_capacity
from memmap_tui.tui.view import EXITED, LEVELS, pane_view, process_lines, row_view, tree_order

NAN = math.nan
HOST = ["host.cpu.util_percent", "host.cpu.iowait_percent", "host.mem.total_bytes",
        "host.mem.used_bytes", "host.mem.available_bytes", "host.mem.cached_bytes",
        "host.swap.used_bytes", "host.swap.total_bytes", "host.disk.read_bytes_per_second",
        "host.disk.write_bytes_per_second", "host.net.rx_bytes_per_second",
        "host.net.tx_bytes_per_second", "host.psi.io_some_percent"]
GPU0 = ["nvml.gpu0.util_percent", "nvml.gpu0.mem_used_bytes", "nvml.gpu0.mem_total_bytes",
        "nvml.gpu0.pcie_rx_bytes_per_second", "nvml.gpu0.pcie_link_max_bytes_per_second"]


def panes_of(columns, tables=()):
    """The panes for recorded columns, understood through the collectors' catalogues."""
    return build_panes(schema_for_columns(columns), tables)


def history_of(values, column="x", window=60.0, start=1000.0, step=0.5):
    h = History([column], [column], window)
    h.feed([(start + i * step, v) for i, v in enumerate(values)])
    return h


# -- history -------------------------------------------------------------------------------
def test_series_is_the_window_as_means_oldest_first():
    h = history_of([float(i) for i in range(240)])  # 120 s at 0.5 s, window 60 s
    series = h.series("x", 60)
    assert len(series) == 60
    assert series == sorted(series)  # a rising ramp stays rising
    assert 110 < series[0] < 125 and 230 < series[-1] < 240  # only the last minute


def test_complete_cells_keep_their_values_as_time_goes_on():
    h = history_of([math.sin(i / 7) for i in range(200)])
    before = h.series("x", 40)
    h.feed([(1000.0 + (200 + i) * 0.5, 5.0) for i in range(30)])  # 15 s more: 10 cells of 1.5 s
    after = h.series("x", 40)
    assert after[:30] == before[10:]  # the graph scrolled; old cells did not change
    assert after[-1] == 5.0


def test_a_pause_leaves_a_gap_but_a_slow_interval_does_not():
    slow = history_of([1.0] * 40, step=2.0)  # one sample per 2 s: buckets of 0.5 s are carried
    assert not any(math.isnan(v) for v in slow.series("x", 30)[-20:])
    paused = History(["x"], ["x"], 60.0)
    paused.feed([(1000.0 + i * 0.5, 1.0) for i in range(40)])
    paused.feed([(1040.0 + i * 0.5, 1.0) for i in range(4)])  # 20 s of silence before these
    cells = paused.series("x", BUCKETS)
    assert any(math.isnan(v) for v in cells[-40:-4])


def test_current_is_the_mean_of_the_last_redraw_period():
    h = history_of([10.0] * 100 + [30.0, 50.0])  # the last second: 30 and 50
    h.current_seconds = 1.0
    assert h.current("x") == pytest.approx(40.0)
    assert math.isnan(h.current("no.such.column"))


def test_recent_window_holds_ten_seconds_for_the_verdict():
    h = history_of([float(i) for i in range(100)])  # 50 s
    window = h.recent_window(["x"])["x"]
    assert len(window) == 20 and window[-1] == 99.0


def test_recent_means_are_the_means_of_the_recent_window_as_rows_come():
    h = History(["x", "y"], ["x"], 60.0)
    h.track_recent(["x", "y", "no.such.column"])
    for k in range(40):  # 20 s in refreshes of a few rows, some NaN
        h.feed([(1000.0 + (3 * k + i) * 0.5 / 3, float((3 * k + i) % 11), NAN) for i in range(3)])
        window = h.recent_window(["x"])["x"]
        assert h.recent_means()["x"] == [pytest.approx(sum(window) / len(window))]
        assert h.recent_means()["y"] == []  # no value in the window: no mean
    assert set(h.recent_means()) == {"x", "y"}


def test_recent_means_of_zeros_are_exactly_zero_once_the_big_values_left():
    h = History(["x"], ["x"], 60.0)
    h.track_recent(["x"])
    h.feed([(1000.0 + i * 0.1, 0.1 * 3 ** (i % 9)) for i in range(50)])
    h.feed([(1005.0 + i * 0.1, 0.0) for i in range(120)])  # 12 s of zeros: the rest left
    assert h.recent_means() == {"x": [0.0]}




@pytest.mark.parametrize("seed", range(6))
def test_recent_means_are_the_means_of_the_rows_in_their_window(seed: int) -> None:
    import random

    from memmap_tui.tui.recent import RecentMeans
    rng = random.Random(seed)
    followed = [("b", 2), ("d", 4)] if seed % 3 else [("d", 4)]  # one column: a tuple too
    means, rows, t = RecentMeans(followed, 5.0), [], 0.0
    for _ in range(40):
        block = []
        for _ in range(rng.randint(1, 30)):
            t += rng.choice([0.1, 0.1, 0.5, 2.0])
            block.append((t, *(rng.choice([math.nan, rng.uniform(0, 100)]) for _ in range(4))))
        means.add(block)
        rows += block
        window = [r for r in rows if r[0] > t - 5.0]
        for name, position in followed:
            values = [r[position] for r in window if r[position] == r[position]]
            want = [sum(values) / len(values)] if values else []
            assert means.means()[name] == pytest.approx(want)

@pytest.mark.parametrize("seed", range(8))
def test_history_fed_in_blocks_equals_history_fed_row_by_row(seed: int) -> None:
    """A refresh hands History a block of rows; the block is summed bucket by bucket at once.
    It must give what feeding the rows one at a time gives: gaps, a clock stepped back, NaNs,
    blocks that span several buckets, columns not graphed."""
    import random
    rng = random.Random(seed)
    columns = ["a", "b", "c"]
    rows, t = [], 1000.0
    for _ in range(600):
        t += rng.choice([0.1, 0.1, 0.1, 0.25, 0.5, 3.0, 40.0, -0.2])
        rows.append((t, *(rng.choice([math.nan, rng.uniform(-5, 1e6)]) for _ in columns)))
    whole, single = History(columns, ["a", "c"], 60.0), History(columns, ["a", "c"], 60.0)
    k = 0
    while k < len(rows):
        n = rng.randint(1, 40)
        whole.feed(rows[k:k + n])
        for row in rows[k:k + n]:
            single.feed([row])
        k += n
        for column in ("a", "c"):
            for cells in (30, 120):
                assert whole.series(column, cells) == pytest.approx(
                    single.series(column, cells), rel=1e-12, nan_ok=True)
            assert whole.current(column) == pytest.approx(single.current(column), nan_ok=True)


def test_a_graph_scrolls_cell_by_cell_as_if_drawn_anew():
    rows = [(1000.0 + i * 0.5, float(i % 5)) for i in range(240)]
    rows += [(1200.0 + i * 0.5, 7.0) for i in range(120)]  # after a pause: all new cells
    h = History(["x"], ["x"], 60.0)
    h.feed(rows[:200])
    first = h.series("x", 40)
    assert h.series("x", 40) is first  # no cell completed: the same list
    seen = 200
    for end in (203, 240, 245, 360):
        h.feed(rows[seen:end])
        seen = end
        anew = History(["x"], ["x"], 60.0)
        anew.feed(rows[:end])
        # the oldest cell may have lost buckets off the window since it was worked out
        assert _nan_as_none(h.series("x", 40))[1:] == _nan_as_none(anew.series("x", 40))[1:]


def _nan_as_none(values):
    return [None if math.isnan(v) else v for v in values]


# -- panes -----------------------------------------------------------------------------------
def test_a_host_alone_has_memory_throughput_waiting_and_cpu_panes():
    keys = [p.key for p in panes_of(HOST)]
    assert keys == [MEMORY, THROUGHPUT, WAITING, CPU]
    assert [p.number for p in panes_of(HOST)] == [1, 2, 3, 4]


def test_gpu_columns_bring_the_gpu_pane_and_gpu_rows_elsewhere():
    panes = panes_of(HOST + GPU0)
    assert GPU in [p.key for p in panes]
    memory = [r.column for r in find_pane(panes, MEMORY).rows]
    throughput = find_pane(panes, THROUGHPUT).rows
    assert "nvml.gpu0.mem_used_bytes" in memory
    pcie = next(r for r in throughput if r.column == "nvml.gpu0.pcie_rx_bytes_per_second")
    assert pcie.total == "nvml.gpu0.pcie_link_max_bytes_per_second"


def test_process_columns_or_a_process_table_bring_the_process_pane():
    assert PROCESS in [p.key for p in panes_of(HOST + ["proc.cpu_percent"])]
    assert PROCESS in [p.key for p in panes_of(HOST, tables=["process"])]
    assert PROCESS not in [p.key for p in panes_of(HOST)]


def test_rows_appear_only_for_columns_that_exist():
    panes = panes_of(["host.mem.used_bytes", "host.mem.total_bytes"])
    assert [p.key for p in panes] == [MEMORY]
    assert [r.label for r in panes[0].rows] == ["RAM used"]


def test_jetson_unified_memory_is_split_into_cpu_and_gpu_shared_parts():
    cols = HOST + ["jetson.ram.total_bytes", "jetson.ram.used_bytes",
                   "jetson.ram.gpu_shared_bytes", "jetson.ram.cpu_used_bytes",
                   "jetson.gpu.util_percent", "jetson.emc.bytes_per_second"]
    panes = panes_of(cols)
    labels = [r.label for r in find_pane(panes, MEMORY).rows]
    assert "CPU part" in labels and "GPU shared" in labels
    assert "unified" not in labels  # the host's RAM row says the same where the host runs
    assert any(r.column == "jetson.emc.bytes_per_second"
               for r in find_pane(panes, THROUGHPUT).rows)
    assert [r.column for r in find_pane(panes, GPU).rows] == ["jetson.gpu.util_percent"]
    alone = panes_of(cols[len(HOST):])
    assert "unified" in [r.label for r in find_pane(alone, MEMORY).rows]


# -- views -----------------------------------------------------------------------------------
def test_a_memory_row_shows_its_part_of_the_total_and_turns_red_when_nearly_full():
    cols = ["host.mem.used_bytes", "host.mem.total_bytes"]
    h = History(cols, cols, 60.0)
    h.feed([(1000.0 + i, 29e9, 32e9) for i in range(5)])
    row = Row("RAM used", "host.mem.used_bytes", BAR, "host.mem.total_bytes", warn=80, bad=90)
    view = row_view(row, h, 10)
    assert view.bar == 91 and view.level == "bad"
    assert view.value == "27.01 GiB" and view.note == "of 29.80 GiB"


def test_a_pcie_row_says_its_share_of_the_link():
    cols = ["rx", "link"]
    h = History(cols, cols, 60.0)
    h.feed([(1000.0 + i, 8e9, 32e9) for i in range(5)])
    view = row_view(Row("PCIe rx", "rx", RATE, "link"), h, 10)
    assert view.value == "8.00 GB/s" and view.note == "25 % of link"


def test_graph_levels_scale_to_the_rows_full_scale_and_nan_is_blank():
    h = history_of([NAN] * 100 + [50.0] * 20, column="p")  # the minute: 50 s of NaN, then 50
    view = row_view(Row("x", "p", "percent"), h, 12)  # cells of 5 s
    assert view.levels[:2] == (-1, -1) and view.levels[-1] == LEVELS // 2


def test_a_row_that_reads_the_same_gets_the_same_view_back_and_a_new_one_when_it_changes():
    """A redraw whose values and graph are unchanged hands back the very RowView it made last
    time (the pane then skips the row); a new value, total or graph cell makes a new one."""
    cols = ["host.mem.used_bytes", "host.mem.total_bytes"]
    h = History(cols, cols, 60.0)
    h.feed([(1000.0 + i * 0.1, 8e9, 32e9) for i in range(10)])
    row = Row("RAM used", "host.mem.used_bytes", BAR, "host.mem.total_bytes")
    first = row_view(row, h, 10)
    h.feed([(1001.0 + i * 0.1, 8e9, 32e9) for i in range(10)])  # the same values, same cell
    assert row_view(row, h, 10) is first
    h.feed([(1002.0 + i * 0.1, 16e9, 32e9) for i in range(10)])
    changed = row_view(row, h, 10)
    assert changed is not first and changed.value == "14.90 GiB" and changed.bar == 50
    h.feed([(1003.0 + i * 0.1, 16e9, 64e9) for i in range(10)])  # only the total moved
    assert row_view(row, h, 10).bar == 25
    before = row_view(row, h, 10)
    h.feed([(1010.0 + i * 0.1, 16e9, 64e9) for i in range(10)])  # cells completed: new graph
    after = row_view(row, h, 10)
    assert after.levels != before.levels and after.value == before.value
    assert pane_view_rows_are_kept(h, row)


def pane_view_rows_are_kept(h: History, row: Row) -> bool:
    """A pane whose rows all came back equals the last PaneView: its widget is not redrawn."""
    spec = PaneSpec("memory", 1, "Memory", (row,))
    return pane_view(spec, h, 10) == pane_view(spec, h, 10)


def test_the_process_tree_puts_children_under_their_parent():
    rows = [{"pid": 20, "ppid": 10, "name": "worker"}, {"pid": 10, "ppid": 1, "name": "main"},
            {"pid": 30, "ppid": 20, "name": "grandchild"}, {"pid": 11, "ppid": 10, "name": "w2"}]
    assert [(d, r["pid"]) for d, r in tree_order(rows)] == [(0, 10), (1, 11), (1, 20), (2, 30)]


def test_process_lines_show_a_dash_for_what_a_collector_does_not_give():
    lines = process_lines([{"pid": 5, "ppid": 1, "name": "job", "cpu_percent": 12.5}],
                          [{"pid": 5, "used_gpu_memory_bytes": 2**30}], limit=5)
    header, job = lines
    assert header[0] == "PID" and job[0] == "5" and job[1] == "job"
    assert job[2] == "12.5 %" and job[3] == "-" and job[8] == "1.00 GiB"


# -- layout and drawing -----------------------------------------------------------------------
def test_rows_that_do_not_fit_go_side_by_side():
    rows = [(f"row {i}", 0, False) for i in range(6)]
    assert layout_rows(160, 3, rows).columns == 2
    tall = layout_rows(100, 20, rows)
    assert tall.columns == 1 and tall.row_height == 3 and tall.shown == 6


def test_rows_that_still_do_not_fit_are_cut_from_the_end():
    lay = layout_rows(40, 2, [(f"row {i}", 0, False) for i in range(6)])
    assert lay.columns == 1 and lay.shown == 2


def test_graph_text_draws_eighth_blocks_and_linux_half_blocks():
    assert graph_text([-1, 0, LEVELS // 2, LEVELS], 0, 1, UNICODE_GLYPHS) == "  ▄█"
    assert graph_text([LEVELS // 2, LEVELS], 0, 2, UNICODE_GLYPHS) == " █"  # top line
    assert graph_text([LEVELS // 2, LEVELS], 0, 1, LINUX_GLYPHS) == "▄█"
    assert console_glyphs("linux") == LINUX_GLYPHS
    assert console_glyphs("xterm-256color") == UNICODE_GLYPHS


def test_a_rows_graph_lines_are_graph_texts_lines_right_aligned():
    levels = tuple((i * 7) % (LEVELS + 2) - 1 for i in range(70))  # every level and blanks
    for height in (1, 2, 3):
        for glyphs in (UNICODE_GLYPHS, LINUX_GLYPHS):
            lay = layout_rows(74, 4 * height, [("row", 0, False)] * 4)
            for shown in (levels[:0], levels[:5], levels):
                want = tuple(graph_text(shown[-lay.graph:], line, height, glyphs).rjust(lay.graph)
                             for line in range(height))
                assert graph_lines(shown, lay, glyphs) == want


def test_a_narrow_table_drops_empty_columns_first():
    table = [("PID", "process", "CPU", "RSS", "PSS", "read/s", "write/s", "I/O wait", "GPU mem"),
             ("1", "x", "1 %", "1 GiB", "1 GiB", "1 B/s", "1 B/s", "2 %", "-")]
    assert table_columns(table, 90) == list(range(8))  # GPU mem went first: nobody has it
    assert 4 not in table_columns(table, 80)  # then PSS
    assert table_columns(table, 200) == list(range(9))


# -- sources and the monitor -----------------------------------------------------------------
def test_interval_steps_go_up_and_down_the_ladder():
    assert next_interval(0.5, faster=True) == 0.2
    assert next_interval(0.5, faster=False) == 1.0
    assert next_interval(0.3, faster=True) == 0.2
    assert next_interval(INTERVAL_STEPS[0], faster=True) == INTERVAL_STEPS[0]


def test_ring_capacity_covers_an_hour_within_a_memory_budget():
    assert ring_capacity(0.1, 35) == 36001
    assert ring_capacity(0.001, 35) * 36 * 8 <= 16 * 2**20


def test_frame_store_hands_each_row_once():
    store = FrameStore(schema_for_columns(["a", "b"]), 4)
    for i in range(3):
        store.push(float(i), [i, i * 2])
    seen, rows = store.since(0)
    assert seen == 3 and [r[0] for r in rows] == [0.0, 1.0, 2.0]
    store.push(3.0, [3, 6])
    assert store.since(seen)[1] == [(3.0, 3.0, 6.0)]


def test_self_meter_reads_this_process():
    meter = SelfMeter()
    sum(i * i for i in range(200000))
    meter._shown_at -= SelfMeter.EVERY  # ask for a fresh figure now
    usage = meter()
    assert usage.cpu_percent >= 0 and usage.rss_bytes > 5 * 2**20
    meter.close()


def test_self_meter_asked_less_often_than_its_window_gives_the_mean_since_the_last_call():
    """--refresh 30: each call comes 30 s after the last, longer than the 10 s window; the
    figure is the mean over those 30 s (this divided by zero and ended the screen)."""
    now = [100.0]
    meter = SelfMeter(clock=lambda: now[0])
    for _ in range(3):
        now[0] += 30.0
        usage = meter()
        assert 0.0 <= usage.cpu_percent < 100.0
        assert [t for t, _ in meter._readings] == [now[0] - 30.0, now[0]]
    meter.close()


def test_self_meter_window_starts_at_the_newest_reading_at_least_window_old():
    now = [0.0]
    meter = SelfMeter(clock=lambda: now[0])
    for _ in range(25):
        now[0] += 1.0
        meter()
    assert [t for t, _ in meter._readings][0] == now[0] - SelfMeter.WINDOW
    meter.close()


def test_recording_source_loads_a_recording_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("timestamp,host.mem.used_bytes\n1.0,5\n1.5,6\n2.0,\n")
    source = RecordingSource.from_file(str(path))
    store = source.open()
    assert len(store) == 3 and source.interval == 0.5 and source.label == "r.csv"
    monitor = Monitor(source, store, lambda: SelfUsage(0, 0))
    assert monitor.update()  # "now" is the last second: 1.5 and 2.0 (empty), not 1.0
    assert monitor.history.current("host.mem.used_bytes") == 6.0


def test_live_source_samples_on_its_own_thread_into_the_store():
    args = Namespace(interval=0.05, pid=None, collectors="host", tegrastats_cmd=None)
    source = LiveSource(args)
    store = source.open()
    source.start()
    try:
        deadline = time.monotonic() + 5
        while store.pushed < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.pushed >= 5
        row = store.latest(1)[0]
        assert row[1 + store.columns.index("host.mem.total_bytes")] > 0
    finally:
        source.stop()


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_monitor_update_says_whether_rows_came():
    source = RecordingSource(["x"], [(1.0, 1.0), (2.0, 2.0)])
    monitor = Monitor(source, source.open(), lambda: SelfUsage(0, 0))
    assert monitor.update() is True
    assert monitor.update() is False
    assert monitor.next_window() == "10 min" and monitor.history.window == 600.0


# -- the CPU pane ------------------------------------------------------------------------------
def cpu_spec(name, rank, *roles, pane=R.CPU, label=""):
    return gauge("x.cpu", name, "percent", "", label=label or name, pane=pane, roles=roles,
                 rank=rank)


def test_the_cpu_pane_holds_whatever_declares_it_in_rank_order():
    schema = Schema([cpu_spec("thread_percent", 3, R.THREAD_MAX, R.TREE, label="busiest thread"),
                     cpu_spec("all_percent", 1, R.CPU_BUSY, R.HOST, label="all CPUs"),
                     cpu_spec("core_percent", 2, R.CPU_CORE_MAX, label="busiest core"),
                     cpu_spec("elsewhere_percent", 1, pane="")])
    pane = find_pane(build_panes(schema), CPU)
    assert pane is not None and pane.number == 4 and pane.title == "CPU"
    assert [r.label for r in pane.rows] == ["all CPUs", "busiest core", "busiest thread"]


def test_cpu_rows_turn_red_where_the_diagnosis_speaks_of_cpu():
    schema = Schema([cpu_spec("all_percent", 1, R.CPU_BUSY),
                     cpu_spec("thread_percent", 3, R.THREAD_MAX),
                     cpu_spec("core_percent", 2, R.CPU_CORE_MAX)])
    rows = {r.column: r for r in find_pane(build_panes(schema), CPU).rows}
    assert rows["x.cpu.all_percent"].bad == 90.0 and rows["x.cpu.thread_percent"].bad == 90.0
    assert rows["x.cpu.core_percent"].bad == 0.0  # one busy core alone is not a cause


def test_a_recordings_cpu_column_brings_the_cpu_pane():
    pane = find_pane(panes_of(["host.cpu.util_percent", "host.mem.used_bytes"]), CPU)
    assert pane is not None and [r.label for r in pane.rows] == ["all CPUs"]
    assert CPU not in [p.key for p in panes_of(["host.mem.used_bytes"])]


def test_the_pane_order_is_the_roles_vocabularys():
    assert PANE_ORDER == R.PANES


# -- counts ------------------------------------------------------------------------------------
def test_a_count_is_a_gauge_of_unit_count_not_a_rate_of_counts():
    assert is_count(gauge("proc", "count", "count", ""))
    faults = counter("proc", "major_faults", "count", "", column="major_faults_per_second")
    assert not is_count(faults)
    recorded = MetricSpec("proc.major_faults_per_second", "count", GAUGE, "")  # from a CSV
    assert not is_count(recorded)
    assert not is_count(gauge("proc", "rss_bytes", "bytes", "")) and not is_count(None)


def test_a_count_shows_the_latest_whole_number_never_a_mean():
    cols = ["proc.cpu_percent", "proc.count"]
    schema = schema_for_columns(cols)
    h = History(cols, cols, 60.0)
    h.feed([(1000.0, 50.0, 1.0), (1000.4, 50.0, 1.0), (1000.8, 50.0, 0.0)])  # exited in the last
    row = next(r for p in build_panes(schema) for r in p.rows if r.column == "proc.cpu_percent")
    assert "proc.count" in row.counts
    view = row_view(row, h, 10)
    assert view.note == "processes: 0"  # the mean would be 0.667


def test_a_count_row_shows_its_latest_value():
    schema = Schema([gauge("x", "threads", "count", "", label="threads", pane=R.PROCESS)])
    (pane,) = build_panes(schema)
    h = History(["x.threads"], ["x.threads"], 60.0)
    h.feed([(1000.0, 4.0), (1000.5, 5.0), (1000.9, 7.0)])
    assert row_view(pane.rows[0], h, 10).value == "7"


def test_the_process_pane_says_exited_when_no_process_is_left():
    cols = ["proc.cpu_percent", "proc.count"]
    (pane,) = build_panes(schema_for_columns(cols))
    assert pane.key == PROCESS and pane.alive == "proc.count"
    h = History(cols, cols, 60.0)
    h.feed([(1000.0, 50.0, 2.0)])
    assert pane_view(pane, h, 10).state == ""
    h.feed([(1001.0, 0.0, 0.0)])
    assert pane_view(pane, h, 10).state == EXITED


def test_the_inline_strip_gives_the_cpu_line_away_first():
    from memmap_tui.tui.screens.inline import strip_panes

    panes = panes_of(HOST + GPU0 + ["proc.cpu_percent"])
    assert [p.key for p in panes] == list(PANE_ORDER)
    assert [p.key for p in strip_panes(panes, 5)] == [MEMORY, THROUGHPUT, WAITING, GPU, PROCESS]
    assert [p.key for p in strip_panes(panes, 4)] == [MEMORY, THROUGHPUT, WAITING, GPU]
    assert strip_panes(panes[:4], 5) == panes[:4]
