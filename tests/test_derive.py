"""derive(): gauges pass through, counters become rates, backwards counters give NaN."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from memmap_tui.derive import derive
from memmap_tui.model import Reading, Schema, counter, gauge

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
