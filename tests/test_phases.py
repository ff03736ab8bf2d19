"""Phases: a run that alternates reading and compressing is cut where its cause changes.

The rows are made as memmap records them at 10 Hz, with the busiest thread as the process
collector gives it: measured once a second or so (on the first tick a second after the last
reading, so every 1.0-1.1 s) over the time since, and held on the rows until the next
(collectors/threads.py). Found running such a loader: the second after each turn from reading
to compressing showed a busy tree with a quiet busiest thread (the measure of the second
before), was judged `none`, the next edge lost a bucket the same way, and merging the short
stretches into their longer neighbours swallowed a whole 6 s compute phase (2 runs in 2).
"""

from __future__ import annotations

import math
from typing import List, Tuple

import pytest

from memmap_tui.catalog import schema_for_columns
from memmap_tui.phases import Phase, Timeline, phases_of_rows, whole_run
from memmap_tui.verdict import Evidence, Verdict

COLUMNS = ["host.cpu.util_percent", "host.psi.io_some_percent", "host.disk.vda.busy_percent",
           "host.disk.vda.read_bytes_per_second", "host.disk.vda.reads_per_second",
           "host.disk.vda.read_request_bytes", "proc.cpu_percent", "proc.read_bytes_per_second",
           "proc.disk_read_bytes_per_second", "proc.read_calls_per_second",
           "proc.read_bytes_per_call", "proc.top_thread_cpu_percent"]
SCHEMA = schema_for_columns(COLUMNS)
EDGES = [0.15, 6.15, 12.15, 18.15, 24.15]  # reading, compressing, reading, compressing
READING = [35.0, 45.0, 75.0, 600e6, 600.0, 1 << 20, 60.0, 600e6, 600e6, 600.0, 1 << 20]
COMPRESSING = [51.0, 0.0, 0.0, 0.0, 0.0, math.nan, 100.0, 0.0, 0.0, 0.0, math.nan]


def thread_share(t: float) -> float:
    """The busiest thread's true share of a core at time t: 25 % reading, 100 % compressing."""
    k = sum(1 for e in EDGES if e <= t)
    return 100.0 if k in (2, 4) else 25.0


def recording(period: float) -> List[List[float]]:
    """Rows at 10 Hz; the busiest thread measured when `period` has gone by since the last
    measure (on a tick), over that span, and held."""
    rows: List[List[float]] = []
    held, measured_at = math.nan, 0.0
    t = 0.0
    while t < EDGES[-1]:
        t = round(t + 0.1, 6)
        if t - measured_at >= period - 1e-9:
            span = [measured_at + (t - measured_at) * i / 100 for i in range(100)]
            held, measured_at = sum(thread_share(s) for s in span) / len(span), t
        values = COMPRESSING if thread_share(t - 0.05) == 100.0 else READING
        rows.append([100.0 + t, *values, held])
    return rows


def cut(rows: List[List[float]]) -> List[Tuple[float, float, str]]:
    return [(p.start, p.end, p.cause) for p in phases_of_rows(SCHEMA, rows)]


@pytest.mark.parametrize("period", [1.0, 1.05, 1.1])
def test_alternating_reading_and_compressing_gives_four_phases_at_their_edges(
        period: float) -> None:
    phases = cut(recording(period))
    assert [c for _, _, c in phases] == ["storage", "cpu-thread", "storage", "cpu-thread"], phases
    for (start, _, _), truth in zip(phases[1:], EDGES[1:]):
        assert abs(start - truth) <= 1.0, phases
    # they tile the run: no gap between one phase's end and the next one's start
    assert all(end == nxt for (_, end, _), (nxt, _, _) in zip(phases, phases[1:])), phases


def test_the_busiest_thread_counts_in_the_second_it_describes() -> None:
    """With the lag, the bucket after the turn to compressing sees the busy thread."""
    timeline = Timeline(SCHEMA)
    previous = None
    for row in recording(1.0):
        if previous is not None:
            timeline.add(row[0], row[1:], row[0] - previous)
        previous = row[0]
    buckets = timeline.buckets()
    at = {round(b.start): timeline.window([b]) for b in buckets}
    assert at[7]["proc.top_thread_cpu_percent"][0] == pytest.approx(100.0)
    assert at[6]["proc.top_thread_cpu_percent"][0] > 85.0  # mostly the compressing second


def test_a_blip_inside_a_phase_is_still_merged_away() -> None:
    rows = recording(1.0)
    for row in rows:
        if 2.0 <= row[0] - 100.0 < 2.3:  # 0.3 s of compressing inside the first reading phase
            row[1:-1] = COMPRESSING
    causes = [c for _, _, c in cut(rows)]
    assert causes == ["storage", "cpu-thread", "storage", "cpu-thread"]


def test_a_run_whose_phases_have_causes_is_not_none_on_its_means() -> None:
    """Reading 4.5 s, then one thread 10.5 s: the means sit under both lines and say none; the
    run's cause is the one that held longest, with that phase's evidence and its share."""
    none = Verdict("ok", "none", "no bottleneck seen")
    storage = Verdict("warn", "storage", "storage: vda 90 % busy",
                      (Evidence("vda busy", 90.0, "vda 90 % busy"),))
    thread = Verdict("warn", "cpu-thread", "one thread: busiest thread 97 % of a core",
                     (Evidence("busiest thread", 97.0, "busiest thread 97 % of a core"),))
    phases = [Phase(0.0, 4.5, storage), Phase(5.0, 15.5, thread)]
    v = whole_run(none, phases)
    assert v.cause == "cpu-thread" and v.evidence == thread.evidence
    assert v.text == "one thread: busiest thread 97 % of a core (for 10 of 16 s)"
    # the means' own cause stands; phases with causes under half the run leave none
    assert whole_run(storage, phases) is storage
    idle = [Phase(0.0, 5.0, storage), Phase(5.0, 20.0, none)]
    assert whole_run(none, idle) is none
    assert whole_run(none, []) is none
    # a cause held in two phases adds up
    split = [Phase(0.0, 5.0, storage), Phase(5.0, 11.0, thread), Phase(11.0, 18.0, storage)]
    assert whole_run(none, split).cause == "storage"
