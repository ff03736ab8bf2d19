"""The ring buffer contract (DESIGN.md, "Ring buffer"), held against both implementations.

Every test taking `ring_type` runs once for the C type (`c`, skipped when the extension is not
built) and once for the pure-Python twin (`python`).
"""

from __future__ import annotations

import gc
import importlib.util
import math
import os
import sys
from array import array
from collections import deque, namedtuple
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memmap_tui.ring
from memmap_tui.ring import IMPLEMENTATION, NamedRing, PyRingBuffer, RingBuffer

try:
    from memmap_tui._ringbuf import RingBuffer as CRingBuffer
except ImportError:
    CRingBuffer = None

NOT_BUILT = (
    "C extension memmap_tui._ringbuf is not built here "
    "(python setup.py build_ext --inplace builds it)"
)
c_only = pytest.mark.skipif(CRingBuffer is None, reason=NOT_BUILT)
IMPLEMENTATIONS = [
    pytest.param(CRingBuffer, id="c", marks=c_only),
    pytest.param(PyRingBuffer, id="python"),
]
each_implementation = pytest.mark.parametrize("ring_type", IMPLEMENTATIONS)


@pytest.fixture(params=IMPLEMENTATIONS)
def ring_type(request: pytest.FixtureRequest) -> Any:
    return request.param


def filled(ring_type: Any, columns: int, capacity: int, rows: int) -> Any:
    """A ring that was pushed row_of(i) for i in range(rows)."""
    ring = ring_type(columns, capacity)
    for i in range(rows):
        ring.push(row_of(i, columns))
    return ring


def row_of(i: int, columns: int) -> tuple:
    """Row i of `filled`: (i, i + 1/2, i + 2/3, ...)."""
    return tuple(i + j / (j + 1) for j in range(columns))


# --- push and read --------------------------------------------------------------------------


def test_latest_returns_rows_oldest_first_newest_last(ring_type: Any) -> None:
    ring = filled(ring_type, 3, 8, 3)
    assert ring.latest(3) == [row_of(0, 3), row_of(1, 3), row_of(2, 3)]


def test_wraparound_keeps_only_the_newest_capacity_rows(ring_type: Any) -> None:
    ring = filled(ring_type, 3, 4, 10)
    assert ring.latest(4) == [row_of(i, 3) for i in range(6, 10)]


def test_column_reads_across_the_wrap_newest_last(ring_type: Any) -> None:
    ring = filled(ring_type, 3, 4, 6)
    assert ring.column(1, 4) == [i + 0.5 for i in range(2, 6)]


def test_len_counts_rows_held_up_to_capacity(ring_type: Any) -> None:
    ring = ring_type(2, 3)
    lengths = []
    for i in range(5):
        lengths.append(len(ring))
        ring.push((i, i))
    assert lengths + [len(ring)] == [0, 1, 2, 3, 3, 3]


def test_capacity_one_holds_only_the_last_row(ring_type: Any) -> None:
    ring = filled(ring_type, 2, 1, 5)
    assert (len(ring), ring.latest(5), ring.column(0, 5)) == (1, [row_of(4, 2)], [4.0])


@pytest.mark.parametrize("n", [4, 5, 10**30], ids=["len+1", "len+2", "huge"])
def test_n_above_len_returns_every_row_held(ring_type: Any, n: int) -> None:
    ring = filled(ring_type, 2, 8, 3)
    assert (ring.latest(n), ring.column(1, n)) == (ring.latest(3), ring.column(1, 3))


@pytest.mark.parametrize("n", [0, -1, -(10**30)])
def test_n_zero_or_negative_returns_empty_lists(ring_type: Any, n: int) -> None:
    ring = filled(ring_type, 2, 8, 3)
    assert (ring.latest(n), ring.column(0, n)) == ([], [])


def test_empty_ring_reads_as_empty_lists(ring_type: Any) -> None:
    ring = ring_type(2, 8)
    assert (len(ring), ring.latest(5), ring.column(0, 5)) == (0, [], [])


def test_latest_returns_tuples_of_exact_floats(ring_type: Any) -> None:
    ring = ring_type(3, 4)
    ring.push([1, True, Decimal("2.5")])
    rows = ring.latest(1)
    assert type(rows) is list and type(rows[0]) is tuple
    assert [type(value) for value in rows[0]] == [float, float, float]
    assert rows[0] == (1.0, 1.0, 2.5)


def test_column_returns_a_list_of_exact_floats(ring_type: Any) -> None:
    ring = ring_type(1, 4)
    ring.push([7])
    values = ring.column(0, 1)
    assert type(values) is list and [type(v) for v in values] == [float]


def test_nan_infinities_and_extremes_round_trip_bit_for_bit(ring_type: Any) -> None:
    special = (math.nan, math.inf, -math.inf, -0.0, 5e-324, sys.float_info.max)
    ring = ring_type(len(special), 2)
    ring.push(special)
    (row,) = ring.latest(1)
    assert [repr(v) for v in row] == [repr(v) for v in special]
    assert math.copysign(1.0, row[3]) == -1.0  # -0.0 keeps its sign


def test_float_like_values_are_converted_as_float_does(ring_type: Any) -> None:
    class Index:
        def __index__(self) -> int:
            return 7

    values = (3, True, Decimal("0.1"), Fraction(1, 3), Index(), 2**53 + 1)
    ring = ring_type(len(values), 1)
    ring.push(values)
    assert ring.latest(1) == [(3.0, 1.0, 0.1, 1 / 3, 7.0, float(2**53 + 1))]


def test_any_iterable_of_the_right_length_is_a_row(ring_type: Any) -> None:
    Pair = namedtuple("Pair", "a b")
    ring = ring_type(2, 8)
    for row in (
        [1.0, 2.0],
        (3, 4),
        range(5, 7),
        (x for x in (7, 8)),
        array("d", [9, 10]),
        Pair(11, 12),
    ):
        ring.push(row)
    assert ring.column(1, 8) == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]


def test_pushed_row_is_copied_not_referenced(ring_type: Any) -> None:
    ring = ring_type(2, 4)
    row = [1.0, 2.0]
    ring.push(row)
    row[0] = 99.0
    assert ring.latest(1) == [(1.0, 2.0)]


def test_total_pushed_counts_every_push_including_overwritten_rows(ring_type: Any) -> None:
    ring = filled(ring_type, 2, 3, 7)
    ring.push_buffer(array("d", [1, 2]))
    assert (ring.total_pushed, len(ring)) == (8, 3)


def test_clear_forgets_rows_but_keeps_counting_total_pushed(ring_type: Any) -> None:
    ring = filled(ring_type, 2, 3, 5)
    ring.clear()
    assert (len(ring), ring.latest(3), ring.column(0, 3), ring.total_pushed) == (0, [], [], 5)


def test_push_after_clear_shows_only_new_rows(ring_type: Any) -> None:
    ring = filled(ring_type, 2, 3, 5)
    ring.clear()
    ring.push((100, 101))
    assert ring.latest(3) == [(100.0, 101.0)]


def test_columns_and_capacity_report_the_sizes(ring_type: Any) -> None:
    ring = ring_type(5, 7)
    assert (ring.columns, ring.capacity) == (5, 7)


@pytest.mark.parametrize("attribute", ["columns", "capacity", "total_pushed"])
def test_size_attributes_are_read_only(ring_type: Any, attribute: str) -> None:
    ring = ring_type(5, 7)
    with pytest.raises(AttributeError):
        setattr(ring, attribute, 1)


def test_repr_shows_sizes_and_length(ring_type: Any) -> None:
    ring = filled(ring_type, 2, 3, 1)
    assert repr(ring).endswith("columns=2 capacity=3 len=1>")


# --- push errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("row", [(), (1.0,), (1.0, 2.0, 3.0, 4.0)], ids=["empty", "short", "long"])
def test_wrong_row_length_raises_value_error_naming_push(ring_type: Any, row: tuple) -> None:
    ring = ring_type(3, 4)
    with pytest.raises(ValueError, match=rf"^RingBuffer\.push: row has {len(row)} values, want 3$"):
        ring.push(row)


@pytest.mark.parametrize(
    ("value", "type_name"),
    [("1.5", "str"), (None, "NoneType"), (1j, "complex"), (object(), "object"), ([1.0], "list")],
)
def test_non_numeric_value_raises_type_error_naming_it(
    ring_type: Any, value: Any, type_name: str
) -> None:
    ring = ring_type(3, 4)
    with pytest.raises(
        TypeError, match=rf"^RingBuffer\.push: value 1 is {type_name}, not a number$"
    ):
        ring.push((1.0, value, 2.0))


def test_int_beyond_float64_range_raises_value_error(ring_type: Any) -> None:
    ring = ring_type(2, 4)
    with pytest.raises(ValueError, match=r"^RingBuffer\.push: value 0 is out of float64 range$"):
        ring.push((10**400, 1.0))


@pytest.mark.parametrize("row", [5, 2.5, None], ids=["int", "float", "None"])
def test_row_that_is_not_iterable_raises_type_error(ring_type: Any, row: Any) -> None:
    ring = ring_type(1, 4)
    with pytest.raises(TypeError, match=r"^RingBuffer\.push: row must be a sequence of numbers"):
        ring.push(row)


@pytest.mark.parametrize(
    "bad_row",
    [(9.0, 9.0, "x"), (9.0, 9.0), (9, 9, 10**400)],
    ids=["bad value last", "short", "overflow last"],
)
def test_failed_push_leaves_a_full_ring_unchanged(ring_type: Any, bad_row: tuple) -> None:
    ring = filled(ring_type, 3, 2, 5)
    before = (ring.latest(2), len(ring), ring.total_pushed)
    with pytest.raises((TypeError, ValueError)):
        ring.push(bad_row)
    assert (ring.latest(2), len(ring), ring.total_pushed) == before


def test_list_changed_by_a_values_float_raises_value_error(ring_type: Any) -> None:
    row: List[Any] = []

    class Shrinker:
        def __float__(self) -> float:
            row.clear()
            return 1.0

    row.extend([Shrinker(), 2.0, 3.0])
    ring = filled(ring_type, 3, 2, 2)
    before = ring.latest(2)
    with pytest.raises(ValueError, match=r"^RingBuffer\.push: row changed size"):
        ring.push(row)
    assert ring.latest(2) == before


@pytest.mark.parametrize("inner_row", [(7.0, 8.0), (7, 8)], ids=["floats", "ints"])
def test_value_whose_float_pushes_into_the_same_ring_lands_after_that_push(
    ring_type: Any, inner_row: tuple
) -> None:
    ring = ring_type(2, 4)

    class Reentrant:
        def __float__(self) -> float:
            ring.push(inner_row)
            return 2.0

    ring.push((1, Reentrant()))
    assert ring.latest(4) == [(7.0, 8.0), (1.0, 2.0)]


# --- push_buffer ----------------------------------------------------------------------------


def test_push_buffer_appends_a_row_of_float64(ring_type: Any) -> None:
    ring = ring_type(3, 4)
    ring.push_buffer(array("d", [1.5, math.nan, -2.0]))
    ring.push_buffer(memoryview(array("d", [4.0, 5.0, 6.0])))
    assert _bits(ring.latest(2)) == _bits([(1.5, math.nan, -2.0), (4.0, 5.0, 6.0)])


@pytest.mark.parametrize(
    ("buffer", "fmt"),
    [(b"\0" * 24, "B"), (array("f", [1, 2, 3]), "f"), (array("q", [1, 2, 3]), "q")],
    ids=["bytes", "float32", "int64"],
)
def test_push_buffer_rejects_other_formats_with_type_error(
    ring_type: Any, buffer: Any, fmt: str
) -> None:
    ring = ring_type(3, 4)
    with pytest.raises(
        TypeError, match=rf"^RingBuffer\.push_buffer: want a float64 buffer, got format '{fmt}'$"
    ):
        ring.push_buffer(buffer)


def test_push_buffer_rejects_a_non_buffer_with_type_error(ring_type: Any) -> None:
    ring = ring_type(3, 4)
    with pytest.raises(TypeError, match=r"^RingBuffer\.push_buffer: .* not list$"):
        ring.push_buffer([1.0, 2.0, 3.0])


def test_push_buffer_rejects_a_strided_buffer_with_type_error(ring_type: Any) -> None:
    ring = ring_type(3, 4)
    strided = memoryview(array("d", range(6)))[::2]
    with pytest.raises(TypeError, match=r"^RingBuffer\.push_buffer: buffer must be C-contiguous$"):
        ring.push_buffer(strided)


def test_push_buffer_wrong_size_raises_value_error(ring_type: Any) -> None:
    ring = ring_type(3, 4)
    with pytest.raises(ValueError, match=r"^RingBuffer\.push_buffer: buffer has 2 values, want 3$"):
        ring.push_buffer(array("d", [1.0, 2.0]))
    assert len(ring) == 0


# --- construction and read errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "capacity", "what"),
    [(0, 4, "columns"), (-1, 4, "columns"), (4, 0, "capacity"), (4, -(2**70), "capacity")],
)
def test_non_positive_sizes_raise_value_error(
    ring_type: Any, columns: int, capacity: int, what: str
) -> None:
    with pytest.raises(ValueError, match=rf"^RingBuffer\(\): {what} must be positive"):
        ring_type(columns, capacity)


@pytest.mark.parametrize(("columns", "capacity"), [(1.5, 4), (4, "8"), (None, 4)])
def test_non_int_sizes_raise_type_error(ring_type: Any, columns: Any, capacity: Any) -> None:
    with pytest.raises(TypeError, match=r"^RingBuffer\(\): \w+ must be an int"):
        ring_type(columns, capacity)


@pytest.mark.parametrize(("columns", "capacity"), [(2**40, 2**40), (1, sys.maxsize), (2**80, 1)])
def test_sizes_whose_product_overflows_raise_memory_error(
    ring_type: Any, columns: int, capacity: int
) -> None:
    with pytest.raises(MemoryError, match=r"^RingBuffer\(\): cannot allocate"):
        ring_type(columns, capacity)


@pytest.mark.parametrize("index", [-1, 3, 10**30])
def test_column_bad_index_raises_index_error(ring_type: Any, index: int) -> None:
    ring = filled(ring_type, 3, 4, 2)
    with pytest.raises(IndexError, match=rf"^RingBuffer\.column: index {index} out of range"):
        ring.column(index, 1)


@pytest.mark.parametrize(("index", "n"), [(0.0, 1), ("0", 1), (0, 1.0), (0, None)])
def test_column_non_int_arguments_raise_type_error(ring_type: Any, index: Any, n: Any) -> None:
    ring = filled(ring_type, 3, 4, 2)
    with pytest.raises(TypeError, match=r"^RingBuffer\.column: (index|n) must be an int"):
        ring.column(index, n)


@pytest.mark.parametrize("n", [1.0, "1", None])
def test_latest_non_int_n_raises_type_error(ring_type: Any, n: Any) -> None:
    ring = filled(ring_type, 3, 4, 2)
    with pytest.raises(TypeError, match=r"^RingBuffer\.latest: n must be an int"):
        ring.latest(n)


# --- the two implementations agree ---------------------------------------------------------


ERROR_CASES: List[Callable[[Any], Any]] = [
    lambda t: t(0, 1),
    lambda t: t(1, -5),
    lambda t: t(2.0, 1),
    lambda t: t(2**62, 2**62),
    lambda t: t(3, 4).push((1, 2)),
    lambda t: t(3, 4).push((1, "2", 3)),
    lambda t: t(3, 4).push((1, 2, 10**400)),
    lambda t: t(3, 4).push(7),
    lambda t: t(3, 4).push("abc"),
    lambda t: t(3, 4).push_buffer(b"x" * 24),
    lambda t: t(3, 4).push_buffer(array("d", [1.0])),
    lambda t: t(3, 4).push_buffer(memoryview(array("d", range(6)))[::2]),
    lambda t: t(3, 4).push_buffer(3.0),
    lambda t: t(3, 4).latest(0.5),
    lambda t: t(3, 4).column(3, 1),
    lambda t: t(3, 4).column(-1, 1),
    lambda t: t(3, 4).column(0, "1"),
]


def _outcome(call: Callable[[Any], Any], ring_type: Any) -> Any:
    try:
        return ("returned", call(ring_type))
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return (type(exc).__name__, str(exc))


@c_only
@pytest.mark.parametrize("case", range(len(ERROR_CASES)))
def test_both_implementations_raise_the_same_error_and_message(case: int) -> None:
    call = ERROR_CASES[case]
    c_outcome = _outcome(call, CRingBuffer)
    assert c_outcome[0] != "returned"
    assert c_outcome == _outcome(call, PyRingBuffer)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)
numbers = st.one_of(finite_or_not, st.integers(-(2**60), 2**60))


@st.composite
def scenarios(draw: Any) -> Any:
    """A ring size and a sequence of operations on it."""
    columns = draw(st.integers(1, 4))
    capacity = draw(st.integers(1, 6))
    n = st.integers(-2, capacity + 2)
    operation = st.one_of(
        st.tuples(st.just("push"), st.lists(numbers, min_size=columns, max_size=columns)),
        st.tuples(
            st.just("push_buffer"), st.lists(finite_or_not, min_size=columns, max_size=columns)
        ),
        st.tuples(st.just("latest"), n),
        st.tuples(st.just("column"), st.integers(0, columns - 1), n),
        st.tuples(st.just("clear")),
    )
    return columns, capacity, draw(st.lists(operation, max_size=40))


def _bits(value: Any) -> Any:
    """Floats compared as repr, so that NaN equals NaN and -0.0 differs from 0.0."""
    if isinstance(value, (list, tuple)):
        return [_bits(v) for v in value]
    return repr(value)


def _model_window(model: deque, n: int) -> List[Any]:
    return list(model)[len(model) - min(max(n, 0), len(model)) :]


@each_implementation
@settings(max_examples=300, deadline=None, database=None)
@given(scenario=scenarios())
def test_random_operations_match_a_deque_model(ring_type: Any, scenario: Any) -> None:
    columns, capacity, operations = scenario
    ring = ring_type(columns, capacity)
    model: deque = deque(maxlen=capacity)
    total = 0
    for operation in operations:
        kind = operation[0]
        if kind in ("push", "push_buffer"):
            row = tuple(float(v) for v in operation[1])
            if kind == "push":
                ring.push(operation[1])
            else:
                ring.push_buffer(array("d", operation[1]))
            model.append(row)
            total += 1
        elif kind == "latest":
            assert _bits(ring.latest(operation[1])) == _bits(_model_window(model, operation[1]))
        elif kind == "column":
            index, n = operation[1], operation[2]
            expected = [row[index] for row in _model_window(model, n)]
            assert _bits(ring.column(index, n)) == _bits(expected)
        else:
            ring.clear()
            model.clear()
        assert (len(ring), ring.total_pushed) == (len(model), total)


# --- memory ---------------------------------------------------------------------------------


def _rss_bytes() -> Optional[int]:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _churn(ring_type: Any, ring: Any, rows: int) -> None:
    """Pushes and reads `rows` rows through every path, errors included, and makes rings."""
    columns = ring.columns
    float_row = tuple(float(i) for i in range(columns))
    int_row = list(range(columns))
    buffer_row = array("d", float_row)
    bad_row = (1.0,) * (columns - 1) + ("x",)
    for i in range(rows):
        kind = i % 3
        if kind == 0:
            ring.push(float_row)
        elif kind == 1:
            ring.push(int_row)
        else:
            ring.push_buffer(buffer_row)
        ring.latest(2)
        ring.column(i % columns, 8)
        if i % 50 == 0:
            ring.latest(600)
            for bad_call in (
                lambda: ring.push(bad_row),
                lambda: ring.push(float_row[1:]),
                lambda: ring.push_buffer(b"x"),
                lambda: ring.column(-1, 1),
            ):
                try:
                    bad_call()
                except (TypeError, ValueError, IndexError):
                    pass
        if i % 100 == 0:  # a ring made, filled (so its pages count in RSS) and dropped
            small = ring_type(columns, 64)
            for _ in range(64):
                small.push_buffer(buffer_row)


def test_push_and_reads_keep_no_reference_to_the_row_or_its_values(ring_type: Any) -> None:
    value = 12345.678  # float objects that no cache shares
    big = 10**20
    float_row = (value,) * 4
    mixed_row = [value, big, Decimal(3), value]
    things = (value, big, float_row, mixed_row)
    counts = [sys.getrefcount(thing) for thing in things]
    ring = ring_type(4, 8)
    for _ in range(1000):
        ring.push(float_row)
        ring.push(mixed_row)
        ring.latest(8)
        ring.column(0, 8)
    assert [sys.getrefcount(thing) for thing in things] == counts


def test_failed_calls_keep_no_reference_to_their_arguments(ring_type: Any) -> None:
    bad_value = object()
    calls = [
        ("push", tuple([1.0, 2.0, 3.0])),  # wrong length
        ("push", [1.0, bad_value]),  # not a number
        ("push", (x for x in [1.0, 2.0, 3.0])),  # wrong length, through the iterator path
        ("push_buffer", array("d", [1.0, 2.0, 3.0])),  # wrong size
        ("push_buffer", array("f", [1.0, 2.0])),  # wrong format
        ("push_buffer", memoryview(array("d", range(4)))[::2]),  # not contiguous
    ]
    huge = 10**20  # latest and column: n past the end, index out of range
    watched = [argument for _, argument in calls] + [bad_value, huge]
    gc.collect()
    counts = [sys.getrefcount(thing) for thing in watched]
    ring = ring_type(2, 4)
    for _ in range(100):
        for method, argument in calls:
            with pytest.raises((TypeError, ValueError)):
                getattr(ring, method)(argument)
        ring.latest(huge)
        with pytest.raises(IndexError):
            ring.column(huge, huge)
    del method, argument
    gc.collect()
    assert [sys.getrefcount(thing) for thing in watched] == counts


def test_push_buffer_releases_the_buffer(ring_type: Any) -> None:
    buffer = array("d", [1.0, 2.0])
    count = sys.getrefcount(buffer)
    ring = ring_type(2, 4)
    for _ in range(100):
        ring.push_buffer(buffer)
    buffer.append(3.0)  # an array that is still exported refuses to resize
    assert sys.getrefcount(buffer) == count


@pytest.mark.skipif(_rss_bytes() is None, reason="needs /proc/self/status (Linux)")
@pytest.mark.skipif(bool(os.environ.get("MEMMAP_SANITIZED")),
                    reason="under ASan, RSS measures its allocator's quarantine, not our memory")
def test_memory_stays_flat_over_100k_pushes_and_reads(ring_type: Any) -> None:
    ring = ring_type(32, 4096)
    _churn(ring_type, ring, 20_000)  # warm-up: the ring full, allocators settled
    gc.collect()
    before = _rss_bytes()
    _churn(ring_type, ring, 100_000)
    gc.collect()
    grown = _rss_bytes() - before  # type: ignore[operator]
    assert grown < 2 * 1024 * 1024, f"RSS grew {grown / 1024:.0f} KiB over 10^5 rows"


# --- the facade -----------------------------------------------------------------------------


def test_facade_uses_the_c_type_exactly_when_it_is_built() -> None:
    if CRingBuffer is None:
        assert (IMPLEMENTATION, RingBuffer) == ("python", PyRingBuffer)
    else:
        assert (IMPLEMENTATION, RingBuffer) == ("c", CRingBuffer)


def test_facade_falls_back_to_the_twin_without_the_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "memmap_tui._ringbuf", None)  # makes the import fail
    path = Path(memmap_tui.ring.__file__)
    spec = importlib.util.spec_from_file_location("ring_without_c", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    assert (module.IMPLEMENTATION, module.RingBuffer) == ("python", module.PyRingBuffer)


# --- NamedRing ------------------------------------------------------------------------------

NAMES = ("timestamp", "host.cpu.util_percent", "host.mem.used_bytes")


def test_named_ring_maps_names_to_columns(ring_type: Any) -> None:
    named = NamedRing(ring_type(3, 4), NAMES)
    assert [named.index(name) for name in NAMES] == [0, 1, 2]


def test_named_ring_unknown_name_raises_key_error(ring_type: Any) -> None:
    named = NamedRing(ring_type(3, 4), NAMES)
    with pytest.raises(KeyError, match="no column named 'host.gpu'"):
        named.index("host.gpu")


def test_named_ring_series_is_that_columns_newest_values(ring_type: Any) -> None:
    named = NamedRing(filled(ring_type, 3, 4, 6), NAMES)
    assert named.series("host.cpu.util_percent", 2) == [4.5, 5.5]


def test_named_ring_latest_row_maps_names_to_the_newest_values(ring_type: Any) -> None:
    named = NamedRing(filled(ring_type, 3, 4, 6), NAMES)
    assert named.latest_row() == dict(zip(NAMES, row_of(5, 3)))


def test_named_ring_latest_row_is_none_when_empty(ring_type: Any) -> None:
    assert NamedRing(ring_type(3, 4), NAMES).latest_row() is None


def test_named_ring_needs_one_name_per_column(ring_type: Any) -> None:
    with pytest.raises(ValueError, match="2 names for a ring of 3 columns"):
        NamedRing(ring_type(3, 4), NAMES[:2])


def test_named_ring_rejects_repeated_names(ring_type: Any) -> None:
    with pytest.raises(ValueError, match="repeated names"):
        NamedRing(ring_type(3, 4), ("a", "b", "a"))
