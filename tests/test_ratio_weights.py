"""A ratio of two counts (bytes per request, seconds per request, bytes per call) is, over a
window, the numerator's total over the denominator's: in the diagnosis's figures, the run
summary, its phases, the TUI's last seconds and a recording read back alike.

The case (found running a loader against iostat): a loader makes 20,000 reads/s of 4 KiB for
nine tenths of a second, then one 4 MiB read in the tenth after. A mean of the per-interval
ratios says 413 KiB a request, and small-files turned into storage so; the reads are 4.2 KiB
each. A stalled interval's one slow write likewise weighed as much as thousands
of quick ones (a 497 ms await against the true 201 ms).
"""

from __future__ import annotations

import math
from typing import Dict, List

import pytest
from memmap_tui.collectors.host import HostCollector
from memmap_tui.collectors.process import ProcessCollector

from memmap_tui.catalog import schema_for_columns
from memmap_tui.figures import Figures, count_weights, weighted_mean
from memmap_tui.model import NAN, Frame, Reading, Schema
from memmap_tui.phases import Timeline
from memmap_tui.sinks.summary import RunSummary
from memmap_tui.tui.recent import RecentMeans

SIZE, REQUESTS = "host.disk.vda.read_request_bytes", "host.disk.vda.reads_per_second"
AWAIT = "host.disk.vda.read_await_seconds"
CALL_SIZE, CALLS = "proc.read_bytes_per_call", "proc.read_calls_per_second"
COLUMNS = [REQUESTS, SIZE, AWAIT, CALLS, CALL_SIZE, "host.disk.vda.busy_percent"]
SCHEMA = schema_for_columns(COLUMNS)

# per 0.1 s interval: (requests/s, bytes a request, seconds a request); calls as requests
BUSY = (20_000.0, 4096.0, 0.0001)
QUIET = (10.0, 4 << 20, 0.05)
PATTERN = [BUSY] * 9 + [QUIET]
COUNTS = [r * 0.1 for r, _, _ in PATTERN]
TRUE_SIZE = sum(c * s for c, (_, s, _) in zip(COUNTS, PATTERN)) / sum(COUNTS)
TRUE_AWAIT = sum(c * a for c, (_, _, a) in zip(COUNTS, PATTERN)) / sum(COUNTS)
NAIVE_SIZE = sum(s for _, s, _ in PATTERN) / len(PATTERN)


def rows(repeats: int = 3) -> List[List[float]]:
    """Rows of COLUMNS at 10 Hz (the first column the time), PATTERN over and over."""
    out, t = [], 100.0
    for _ in range(repeats):
        for requests, size, wait in PATTERN:
            t += 0.1
            out.append([t, requests, size, wait, requests, size, 50.0])
    return out


def test_the_case_is_one_where_the_mean_of_ratios_misleads() -> None:
    assert TRUE_SIZE < 4400 < 64 << 10 < NAIVE_SIZE
    assert TRUE_AWAIT < 0.000103


def test_a_ratio_of_two_counts_weighs_by_its_denominator_in_a_recordings_columns() -> None:
    assert count_weights(SCHEMA) == {SIZE: REQUESTS, AWAIT: REQUESTS, CALL_SIZE: CALLS}


def test_a_live_schema_weighs_the_same_columns_by_the_same_counts() -> None:
    host, proc = HostCollector(), ProcessCollector(1)
    schema = Schema([*host.catalog(), *proc.catalog()])
    weights = count_weights(schema)
    recorded = count_weights(schema_for_columns(schema.columns))
    assert weights == recorded
    for count in weights.values():
        assert count.endswith(("reads_per_second", "writes_per_second", "calls_per_second"))
    assert "proc.read_bytes_per_call" in weights and "proc.io_delay_percent" not in weights
    assert not any(c.endswith(("util_percent", "busy_percent")) for c in weights)


def test_weighted_mean_leaves_out_unmeasured_values_and_empty_weights() -> None:
    assert weighted_mean([1.0, NAN, 5.0, 7.0], [1.0, 3.0, 3.0, 0.0]) == 4.0
    assert math.isnan(weighted_mean([NAN], [1.0]))
    assert math.isnan(weighted_mean([2.0], [0.0]))


def window_of(rows_: List[List[float]]) -> Dict[str, List[float]]:
    return {c: [r[i + 1] for r in rows_] for i, c in enumerate(COLUMNS)}


def test_the_figures_of_a_window_of_rows_are_totals_over_totals() -> None:
    f = Figures(window_of(rows()), SCHEMA)
    assert f.of(SCHEMA.spec(SIZE)) == pytest.approx(TRUE_SIZE)
    assert f.of(SCHEMA.spec(CALL_SIZE)) == pytest.approx(TRUE_SIZE)
    assert f.of(SCHEMA.spec(AWAIT)) == pytest.approx(TRUE_AWAIT)
    assert f.of(SCHEMA.spec("host.disk.vda.busy_percent")) == 50.0  # not a ratio: its mean


def frames(rows_: List[List[float]]) -> List[Frame]:
    raw = [NAN] * len(SCHEMA.specs)
    return [Frame(r[0], r[1:], Reading(r[0], r[0], raw), 0.1) for r in rows_]


def test_the_run_summary_weighs_a_ratio_by_its_count() -> None:
    sink = RunSummary()
    sink.open(SCHEMA)
    for frame in frames(rows()):
        sink.write(frame)
    means = sink.means()
    assert means[SIZE] == [pytest.approx(TRUE_SIZE)]
    assert means[AWAIT] == [pytest.approx(TRUE_AWAIT)]
    assert means["host.disk.vda.busy_percent"] == [pytest.approx(50.0)]


def test_a_stalled_interval_weighs_as_many_requests_as_it_covers() -> None:
    """One interval of 1.5 s (sampling stalled in an fsync) with 0.7 requests/s of 1.7 s each,
    among 0.1 s intervals with 100 requests/s of 0.2 s: 1 request against 10 a tick."""
    sink = RunSummary()
    sink.open(SCHEMA)
    t = 0.0
    for interval, requests, wait in [(0.1, 100.0, 0.2)] * 20 + [(1.5, 1 / 1.5, 1.7)]:
        t += interval
        row = [requests, 4096.0, wait, NAN, NAN, 100.0]
        sink.write(Frame(t, row, Reading(t, t, [NAN] * len(SCHEMA.specs)), interval))
    assert sink.means()[AWAIT] == [pytest.approx((200 * 0.2 + 1 * 1.7) / 201)]


def test_a_phase_weighs_a_ratio_by_its_count() -> None:
    timeline = Timeline(SCHEMA)
    assert SIZE in timeline.columns and REQUESTS in timeline.columns
    for r in rows(6):
        timeline.add(r[0], r[1:], 0.1)
    window = timeline.window(timeline.buckets())
    assert window[SIZE] == [pytest.approx(TRUE_SIZE)]
    assert window[CALL_SIZE] == [pytest.approx(TRUE_SIZE)]


def test_the_tuis_last_seconds_weigh_a_ratio_by_its_count() -> None:
    position = {c: i + 1 for i, c in enumerate(COLUMNS)}
    recent = RecentMeans([(SIZE, position[SIZE]), (AWAIT, position[AWAIT]),
                          (REQUESTS, position[REQUESTS])], 60.0,
                         {SIZE: position[REQUESTS], AWAIT: position[REQUESTS]})
    data = rows()
    for start in range(0, len(data), 7):  # in refresh-sized blocks that cut the pattern
        recent.add(data[start:start + 7])
    means = recent.means()
    assert means[SIZE] == [pytest.approx(TRUE_SIZE)]
    assert means[AWAIT] == [pytest.approx(TRUE_AWAIT)]
    assert means[REQUESTS] == [pytest.approx(sum(r for r, _, _ in PATTERN) / len(PATTERN))]


def test_a_window_without_the_count_falls_back_to_the_mean() -> None:
    window = {SIZE: [4096.0, 4 << 20]}
    assert Figures(window, SCHEMA).of(SCHEMA.spec(SIZE)) == (4096.0 + (4 << 20)) / 2
