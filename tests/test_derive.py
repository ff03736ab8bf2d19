"""derive(): gauges pass through, counters become rates, backwards counters give NaN."""

from __future__ import annotations

import math
from array import array
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memmap_tui.catalog import known_columns
from memmap_tui.derive import CARRY_LIMIT, derive, new_carry, plan_array
from memmap_tui.model import MetricSpec, Reading, Schema, counter, gauge, ratio_gauge

SCHEMA = Schema([
    gauge("t.mem", "used_bytes", "bytes", "used"),
    counter("t.disk", "read_bytes", "bytes", "read", column="read_bytes_per_second"),
    counter("t.cpu", "busy_seconds", "seconds", "busy", column="util_percent",
            per="total_seconds", scale=100.0),
    counter("t.cpu", "total_seconds", "seconds", "all", column=None),
])

values = st.floats(min_value=0, max_value=1e15, allow_nan=False)
steps = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False)


def reading(t: float, mem: float, read: float, busy: float, total: float) -> Reading:
    return Reading(t, 1_700_000_000 + t, [mem, read, busy, total])


def test_columns_skip_denominators() -> None:
    assert SCHEMA.columns == ["t.mem.used_bytes", "t.disk.read_bytes_per_second",
                              "t.cpu.util_percent"]


@given(values, values, values)
def test_first_frame_has_gauges_and_nan_rates(mem: float, read: float, busy: float) -> None:
    frame = derive(SCHEMA, None, reading(5.0, mem, read, busy, busy + 1))
    assert frame.values[0] == mem
    assert math.isnan(frame.values[1]) and math.isnan(frame.values[2])


@given(values, st.floats(min_value=0, max_value=1e12), steps)
def test_counter_rate_is_delta_over_elapsed(start: float, delta: float, dt: float) -> None:
    a = reading(10.0, 1, start, 0, 1)
    b = reading(10.0 + dt, 1, start + delta, 0, 1)
    rate = derive(SCHEMA, a, b).values[1]
    assert math.isclose(rate, ((start + delta) - start) / ((10.0 + dt) - 10.0), rel_tol=1e-9)
    assert rate >= 0


@given(st.floats(min_value=0, max_value=1e12), st.floats(min_value=1.0, max_value=1e12), steps)
def test_counter_going_backwards_is_nan(start: float, drop: float, dt: float) -> None:
    a = reading(0.0, 1, start + drop, 0, 1)
    b = reading(dt, 1, start, 0, 1)
    assert math.isnan(derive(SCHEMA, a, b).values[1])


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=1e-3, max_value=1e6))
def test_ratio_counter_is_bounded_share(busy_delta: float, idle_delta: float) -> None:
    a = reading(0.0, 1, 0, 100.0, 1000.0)
    b = reading(0.1, 1, 0, 100.0 + busy_delta, 1000.0 + busy_delta + idle_delta)
    util = derive(SCHEMA, a, b).values[2]
    assert 0.0 <= util <= 100.0
    assert math.isclose(util, 100 * busy_delta / (busy_delta + idle_delta), rel_tol=1e-6,
                        abs_tol=1e-9)


def test_ratio_with_no_elapsed_denominator_is_nan() -> None:
    a = reading(0.0, 1, 0, 5.0, 10.0)
    b = reading(0.1, 1, 0, 5.0, 10.0)
    assert math.isnan(derive(SCHEMA, a, b).values[2])


def test_zero_elapsed_time_gives_nan_rate() -> None:
    a = reading(3.0, 1, 10, 0, 1)
    assert math.isnan(derive(SCHEMA, a, reading(3.0, 1, 20, 0, 1)).values[1])


def test_nan_counter_gives_nan_rate_not_error() -> None:
    a = reading(0.0, 1, math.nan, 0, 1)
    assert math.isnan(derive(SCHEMA, a, reading(1.0, 1, 5, 0, 1)).values[1])


@given(st.lists(st.tuples(steps, st.floats(min_value=-1e9, max_value=1e9)), min_size=2,
                max_size=30))
def test_rates_are_never_negative_or_infinite(walk: list) -> None:
    t, total, prev = 0.0, 1e9, None
    for dt, change in walk:
        t += dt
        total = max(total + change, 0.0)
        cur = reading(t, 1, total, 0, 1)
        rate = derive(SCHEMA, prev, cur).values[1]
        assert math.isnan(rate) or (0 <= rate < math.inf)
        prev = cur


def test_derive_is_pure() -> None:
    a = reading(0.0, 1, 10, 1, 2)
    b = reading(1.0, 2, 30, 2, 4)
    before = (list(a.values), list(b.values))
    first = derive(SCHEMA, a, b).values
    assert derive(SCHEMA, a, b).values == first
    assert (a.values, b.values) == before


# -- the busiest of a group: a gauge derived as the largest of several counter ratios ----------
def _core(n: int, kind: str, prefix: str = "t.cpu") -> MetricSpec:
    return counter(prefix, f"{kind}_seconds", "seconds", kind, column=None, device=f"cpu{n}")


CORES = 3


def group_specs(prefix: str, share: bool = False) -> list:
    """CORES busy counters, CORES total counters, then their busiest share."""
    return [*(_core(n, "busy", prefix) for n in range(CORES)),
            *(_core(n, "total", prefix) for n in range(CORES)),
            ratio_gauge(prefix, "max_core_util_percent", "percent", "busiest",
                        ratios=[(f"{prefix}.cpu{n}.busy_seconds", f"{prefix}.cpu{n}.total_seconds")
                                for n in range(CORES)], scale=100.0, share=share)]


GROUP_SCHEMA = Schema(group_specs("t.cpu"))


def cores(t: float, busy: list, total: list) -> Reading:
    return Reading(t, t, [*busy, *total, 0.0])


def busiest(before: Reading, after: Reading) -> float:
    return derive(GROUP_SCHEMA, before, after).values[0]


core_step = st.tuples(st.floats(min_value=0, max_value=1e6), st.floats(min_value=1e-3,
                                                                         max_value=1e6))


@given(st.lists(core_step, min_size=CORES, max_size=CORES))
def test_busiest_is_the_largest_share(steps: list) -> None:
    before = cores(0.0, [10.0] * CORES, [100.0] * CORES)
    after = cores(1.0, [10.0 + b for b, _ in steps], [100.0 + b + i for b, i in steps])
    shares = [((10.0 + b) - 10.0) / ((100.0 + b + i) - 100.0) * 100.0 for b, i in steps]
    assert busiest(before, after) == max(shares)


def test_an_offline_core_is_left_out() -> None:
    before = cores(0.0, [0.0, 0.0, 0.0], [10.0, 10.0, 10.0])
    after = cores(1.0, [5.0, math.nan, 1.0], [20.0, math.nan, 20.0])
    assert busiest(before, after) == 50.0
    back = cores(2.0, [6.0, 30.0, 2.0], [30.0, 80.0, 30.0])  # online again: needs two samples
    assert busiest(after, back) == 10.0


def test_a_core_that_went_backwards_or_did_not_tick_is_left_out() -> None:
    before = cores(0.0, [50.0, 5.0, 5.0], [100.0, 10.0, 10.0])
    after = cores(1.0, [10.0, 5.0, 6.0], [200.0, 10.0, 20.0])
    assert busiest(before, after) == 10.0


def test_no_core_to_judge_is_nan_never_zero() -> None:
    before = cores(0.0, [1.0] * CORES, [2.0] * CORES)
    assert math.isnan(busiest(before, cores(1.0, [1.0] * CORES, [2.0] * CORES)))
    assert math.isnan(derive(GROUP_SCHEMA, None, before).values[0])


def test_one_pair_is_the_plain_ratio_of_two_counters() -> None:
    schema = Schema([
        counter("t.disk", "read_bytes", "bytes", "b", column="read_bytes_per_second"),
        counter("t.disk", "reads", "count", "n", column="reads_per_second"),
        ratio_gauge("t.disk", "read_request_bytes", "bytes", "size",
                    ratios=[("t.disk.read_bytes", "t.disk.reads")])])
    frame = derive(schema, Reading(0.0, 0.0, [0.0, 0.0, 0.0]),
                   Reading(2.0, 2.0, [65536.0 * 10, 10.0, 0.0]))
    assert frame.values == [327680.0, 5.0, 65536.0]
    idle = derive(schema, Reading(0.0, 0.0, [5.0, 1.0, 0.0]), Reading(1.0, 1.0, [5.0, 1.0, 0.0]))
    assert math.isnan(idle.values[2])


def test_pairs_that_are_not_two_runs_are_refused() -> None:
    specs = [_core(0, "busy"), _core(0, "total"), _core(1, "busy"), _core(1, "total"),
             ratio_gauge("t.cpu", "max_core_util_percent", "percent", "busiest",
                         ratios=[(f"t.cpu.cpu{n}.busy_seconds", f"t.cpu.cpu{n}.total_seconds")
                                 for n in range(2)])]
    with pytest.raises(ValueError, match="consecutive"):
        Schema(specs)


def test_ratios_must_name_counters() -> None:
    with pytest.raises(ValueError, match="not a counter"):
        Schema([gauge("t.a", "x", "count", "x"),
                ratio_gauge("t.a", "y", "count", "y", ratios=[("t.a.x", "t.a.x")])])
    with pytest.raises(ValueError, match="not a counter"):
        Schema([ratio_gauge("t.a", "y", "count", "y", ratios=[("t.a.nope", "t.a.nope")])])


def test_plan_array_has_five_numbers_per_column() -> None:
    plan = plan_array(GROUP_SCHEMA)
    assert list(plan) == [3.0, 0.0, 3.0, 100.0, 3.0]
    assert list(plan_array(SCHEMA))[:5] == [0.0, 0.0, -1.0, 1.0, 1.0]


# -- shares: a part over its whole (MetricSpec.share) stays within [0, scale] ------------------
SHARE_SCHEMA = Schema([
    counter("t.share", "busy_seconds", "seconds", "busy", column="util_percent",
            per="total_seconds", scale=100.0, share=True),
    counter("t.share", "total_seconds", "seconds", "all", column=None),
    *group_specs("t.share", share=True),
])
# the same numbers, not declared shares
NOT_SHARE_SCHEMA = Schema([replace(spec, share=False) for spec in SHARE_SCHEMA.specs])

# A fully busy CPU's counters at 1 kHz, 10 ms on: as float deltas the busy time comes out
# 100.00000007275958 % of all time (0.010000000002037268 s over 0.00999999999476131 s).
BUSY, TOTAL, STEP = 50000.0, 80000.0, 0.01
OVER = ((BUSY + STEP) - BUSY) / ((TOTAL + STEP) - TOTAL) * 100.0


def share_readings(busiest_core: int) -> tuple:
    """Before and after: all CPUs, and `busiest_core`, fully busy over STEP; the other cores
    half busy."""
    def row(step: float) -> list:
        busy = [BUSY + step if n == busiest_core else 1.0 + step / 2 for n in range(CORES)]
        total = [TOTAL + step if n == busiest_core else 2.0 + step for n in range(CORES)]
        return [BUSY + step, TOTAL + step, *busy, *total, 0.0]
    return Reading(0.0, 0.0, row(0.0)), Reading(STEP, STEP, row(STEP))


def test_the_numbers_round_above_the_whole() -> None:
    assert OVER > 100.0
    before, after = share_readings(1)
    assert derive(NOT_SHARE_SCHEMA, before, after).values == [OVER, OVER]


def test_a_share_that_rounds_above_its_whole_is_exactly_scale() -> None:
    before, after = share_readings(1)
    assert derive(SHARE_SCHEMA, before, after).values[0] == 100.0


# A disk's busy time (io_ticks, counted by the kernel in its own time) can grow a little more
# than the interval the sampler measured: seen at saturation, 100.35 % for one second.
TIME_SHARE_SCHEMA = Schema([
    counter("t.disk", "busy_seconds", "seconds", "busy", column="busy_percent", scale=100.0,
            share=True),
    counter("t.disk", "stall_seconds", "seconds", "a rate, not declared a share",
            column="stall_percent", scale=100.0),
])
BUSY_OVER_TIME = (5.1035 - 5.0) / (10.1 - 10.0) * 100.0


def time_share_readings() -> tuple:
    return Reading(10.0, 10.0, [5.0, 5.0]), Reading(10.1, 10.1, [5.1035, 5.1035])


def test_a_share_of_time_above_the_interval_is_exactly_scale() -> None:
    assert BUSY_OVER_TIME > 100.3
    assert derive(TIME_SHARE_SCHEMA, *time_share_readings()).values == [100.0, BUSY_OVER_TIME]


def test_a_share_of_time_within_the_interval_is_its_rate() -> None:
    before, after = Reading(10.0, 10.0, [5.0, 5.0]), Reading(10.5, 10.5, [5.2, 5.2])
    got = derive(TIME_SHARE_SCHEMA, before, after).values
    assert got[0] == got[1] == pytest.approx(40.0)
    backwards = Reading(11.0, 11.0, [4.0, 4.0])
    assert all(math.isnan(v) for v in derive(TIME_SHARE_SCHEMA, after, backwards).values)


def test_plan_array_gives_a_share_of_time_its_kind() -> None:
    assert list(plan_array(TIME_SHARE_SCHEMA)) == [6.0, 0.0, -1.0, 100.0, 1.0,
                                                   1.0, 1.0, -1.0, 100.0, 1.0]


@pytest.mark.parametrize("busiest_core", range(CORES))
def test_a_busiest_share_that_rounds_above_its_whole_is_exactly_scale(busiest_core: int) -> None:
    before, after = share_readings(busiest_core)
    assert derive(SHARE_SCHEMA, before, after).values[1] == 100.0


def test_a_ratio_that_is_not_a_share_is_not_held_at_scale() -> None:
    before = reading(0.0, 1.0, 0.0, BUSY, TOTAL)
    after = reading(STEP, 1.0, 0.0, BUSY + STEP, TOTAL + STEP)
    assert derive(SCHEMA, before, after).values[2] == OVER
    assert busiest(cores(0.0, [BUSY] * CORES, [TOTAL] * CORES),
                   cores(STEP, [BUSY + STEP] * CORES, [TOTAL + STEP] * CORES)) == OVER


share_value = st.one_of(st.floats(min_value=-1e13, max_value=1e13), st.just(math.nan),
                        st.sampled_from([BUSY, TOTAL, BUSY + STEP, TOTAL + STEP]))


@given(st.lists(share_value, min_size=len(SHARE_SCHEMA.specs), max_size=len(SHARE_SCHEMA.specs)),
       st.lists(share_value, min_size=len(SHARE_SCHEMA.specs), max_size=len(SHARE_SCHEMA.specs)))
def test_a_share_is_the_same_ratio_at_most_scale(before: list, after: list) -> None:
    """Only the part above the whole changes: NaN stays NaN, a ratio within [0, scale] stays."""
    a, b = Reading(0.0, 0.0, before), Reading(1.0, 1.0, after)
    shares = derive(SHARE_SCHEMA, a, b).values
    ratios = derive(NOT_SHARE_SCHEMA, a, b).values
    for share, ratio in zip(shares, ratios):
        assert (math.isnan(share) and math.isnan(ratio)) or share == min(ratio, 100.0)
        assert math.isnan(share) or 0.0 <= share <= 100.0


def test_plan_array_gives_shares_their_own_kinds() -> None:
    plan = list(plan_array(SHARE_SCHEMA))
    assert plan == [4.0, 0.0, 1.0, 100.0, 1.0, 5.0, 2.0, 5.0, 100.0, 3.0]
    assert list(plan_array(NOT_SHARE_SCHEMA))[::5] == [2.0, 3.0]


def test_a_share_needs_a_scale_above_0() -> None:
    with pytest.raises(ValueError, match="share"):
        counter("t.a", "x", "seconds", "x", column="x_percent", scale=0.0, share=True)
    with pytest.raises(ValueError, match="share"):
        counter("t.a", "x", "count", "x", column="x_percent", per="y", scale=0.0, share=True)
    with pytest.raises(ValueError, match="share"):
        ratio_gauge("t.a", "z", "percent", "z", ratios=[("t.a.x", "t.a.y")], scale=-100.0,
                    share=True)


def test_the_shares_of_every_collector_are_parts_of_a_whole() -> None:
    """CPU busy and iowait time of all CPU time, the busiest CPU's busy time of its own,
    throttled CFS periods of all periods; of the time that went by, a disk's busy time and the
    PSI stall times (host and job). Not await (seconds per request), sizes per request, the
    tree's I/O delay (delay accounting over process time the tick counts: two sources), CPU
    time of several threads or cores (the tree's, the job's), nor NFS round trips (RPCs
    overlap), which stay as derived."""
    shares = sorted(column for column, spec in known_columns().items() if spec.share)
    psi = [f"{resource}_{kind}_percent" for resource in ("cpu", "io", "memory")
           for kind in ("full", "some")]
    assert shares == ["host.cpu.iowait_percent", "host.cpu.max_core_util_percent",
                      "host.cpu.util_percent", "host.disk.{device}.busy_percent",
                      *(f"host.psi.{name}" for name in psi), "job.cpu.throttled_percent",
                      *(f"job.psi.{name}" for name in psi)]
    for column in ("proc.cpu_percent", "job.cpu.used_percent", "proc.io_delay_percent"):
        assert not known_columns()[column].share


# -- a share of time's excess over its interval is carried into the next ----------------------
# A disk's io_ticks steps a jiffy at a time (4 ms at HZ=250): recorded every 2 ms, a disk busy
# all along shows a 4 ms step every other interval.
JIFFY, TICK = 0.004, 0.002


def stepping_disk(intervals: int, start: float = 100.0) -> list:
    """Readings of TIME_SHARE_SCHEMA every TICK of a disk busy all along, its busy seconds
    counted a JIFFY at a time (the step lands on every other interval)."""
    return [Reading(start + k * TICK, start + k * TICK, [(k // 2) * JIFFY, 0.0])
            for k in range(intervals + 1)]


def busy_shares(readings: list, carry: Any) -> list:
    return [derive(TIME_SHARE_SCHEMA, a, b, carry).values[0]
            for a, b in zip(readings, readings[1:])]


def test_without_a_carry_a_step_longer_than_the_interval_loses_its_excess() -> None:
    shares = busy_shares(stepping_disk(20), None)
    assert shares == [0.0, 100.0] * 10  # half of a disk busy all along


def test_with_a_carry_the_excess_of_a_step_fills_the_next_interval() -> None:
    carry = new_carry(TIME_SHARE_SCHEMA)
    shares = busy_shares(stepping_disk(20), carry)
    assert shares[0] == 0.0 and shares[1:] == pytest.approx([100.0] * 19)
    assert list(carry) == pytest.approx([JIFFY - TICK, 0.0])  # the last step's other half
    # what was shown, and is still carried, is what the kernel counted
    shown = sum(s / 100.0 * TICK for s in shares)
    assert shown + carry[0] == pytest.approx(10 * JIFFY)


def test_a_carry_is_at_most_carry_limit() -> None:
    carry = new_carry(TIME_SHARE_SCHEMA)
    leap = [Reading(0.0, 0.0, [0.0, 0.0]), Reading(0.1, 0.1, [50.0, 0.0])]
    leap += [Reading(0.1 + 0.1 * k, 0.0, [50.0, 0.0]) for k in range(1, 15)]
    shares = busy_shares(leap, carry)
    assert CARRY_LIMIT == 1.0
    assert shares[:11] == pytest.approx([100.0] * 11)  # the interval, then 1 s carried
    assert shares[11:] == pytest.approx([0.0] * 4)
    assert carry[0] == 0.0


@pytest.mark.parametrize("gap", [math.nan, 0.0])  # a value missing, a counter gone backwards
def test_a_gap_forgets_the_carry(gap: float) -> None:
    carry = new_carry(TIME_SHARE_SCHEMA)
    busy_shares(stepping_disk(2), carry)
    assert carry[0] == pytest.approx(JIFFY - TICK)
    before = Reading(200.0, 200.0, [1.0, 0.0])
    assert math.isnan(derive(TIME_SHARE_SCHEMA, before, Reading(200.1, 200.1, [gap, 0.0]),
                             carry).values[0])
    assert carry[0] == 0.0


def test_a_first_frame_starts_the_carry_afresh_and_other_columns_keep_none() -> None:
    carry = array("d", [0.5, 7.0])
    derive(TIME_SHARE_SCHEMA, None, Reading(0.0, 0.0, [1.0, 1.0]), carry)
    assert list(carry) == [0.0, 7.0]  # the rate column is no share of time: left alone
    a, b = Reading(0.0, 0.0, [1.0, 1.0]), Reading(1.0, 1.0, [1.5, 1.5])
    assert derive(TIME_SHARE_SCHEMA, a, b, carry).values == [50.0, 50.0]
    assert list(carry) == [0.0, 7.0]


@pytest.mark.parametrize("odd", [math.nan, -1.0, math.inf, 5.0])
def test_an_odd_carry_is_taken_as_0_or_carry_limit(odd: float) -> None:
    carry = array("d", [odd, 0.0])
    a, b = Reading(0.0, 0.0, [1.0, 1.0]), Reading(10.0, 10.0, [6.0, 6.0])
    share = derive(TIME_SHARE_SCHEMA, a, b, carry).values[0]
    assert share == pytest.approx(60.0 if odd > 0 else 50.0)


@given(st.lists(st.tuples(st.floats(min_value=1e-4, max_value=0.5),
                          st.floats(min_value=0.0, max_value=0.05)), min_size=1, max_size=60))
def test_carried_shares_add_up_to_the_counter(steps: list) -> None:
    """Any growing busy counter: each share within [0, 100], and the shares over their
    intervals, plus what is still carried, are the counter's growth (no step reaches the
    limit here: a step is at most 50 ms)."""
    carry = new_carry(TIME_SHARE_SCHEMA)
    t, busy = 0.0, 0.0
    prev = Reading(t, t, [busy, 0.0])
    shown = 0.0
    for dt, grew in steps:
        cur = Reading(prev.monotonic + dt, 0.0, [prev.values[0] + grew, 0.0])
        share = derive(TIME_SHARE_SCHEMA, prev, cur, carry).values[0]
        assert 0.0 <= share <= 100.0
        shown += share / 100.0 * (cur.monotonic - prev.monotonic)
        prev = cur
    assert shown + carry[0] == pytest.approx(prev.values[0] - 0.0, rel=1e-9, abs=1e-12)
