"""Both C extensions refuse what their Python twins refuse, and never crash.

A fuzz over the whole argument space: FieldReader (files, rules, width; read and head on lines
of thousands of tokens; read_schedule's buffers, clock and counts), derive_rows and format_rows
(plans with any kind, NaN and out-of-range indices, huge counts), RowWriter (descriptors closed
or read-only, plans, widths and group sizes of any value) and RingBuffer (extreme sizes,
indices and rows). Each C outcome is held against the Python twin, or against a reference that
states the documented checks. Also: the busy flag of a read_schedule running in another thread,
__init__ called twice, and close().

scripts/sanitize.sh runs this module against ASan/UBSan builds, with MEMMAP_FUZZ_EXAMPLES
examples per fuzz test (the default here keeps the plain test run short).
"""

from __future__ import annotations

import errno
import functools
import math
import operator
import os
import random
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from array import array
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from memmap_tui import fieldread
from memmap_tui.derive import CARRY_LIMIT, PLAN_WIDTH
from memmap_tui.fieldread import AFTER_PAREN, MAX_TOKENS, PyFieldReader
from memmap_tui.ring import PyRingBuffer

try:
    from memmap_tui import _fieldread as c_fieldread  # type: ignore[attr-defined]
except ImportError:
    c_fieldread = None
try:
    from memmap_tui._ringbuf import RingBuffer as CRingBuffer
except ImportError:
    CRingBuffer = None

needs_c = pytest.mark.skipif(c_fieldread is None, reason="C field reader not built here")
needs_c_ring = pytest.mark.skipif(CRingBuffer is None, reason="C ring buffer not built here")
EXAMPLES = int(os.environ.get("MEMMAP_FUZZ_EXAMPLES", "60"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])
HUGE = [2**31, 2**53 + 1, 2**61, 2**62, 2**63 - 1, 2**63, 2**100, -(2**63), -(2**100)]


def outcome(call: Callable[[], Any]) -> Tuple[str, Any]:
    """("ok", result) or ("raised", the exception's type)."""
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return "raised", type(exc)


def same(a: Any, b: Any) -> bool:
    """Float sequences equal value for value, NaN equal to NaN."""
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b))


# --- the build under test -------------------------------------------------------------------


def test_a_sanitizer_run_imports_the_sanitized_builds() -> None:
    tree = os.environ.get("MEMMAP_SANITIZED")
    if not tree:
        pytest.skip("not a scripts/sanitize.sh run")
    assert c_fieldread is not None and CRingBuffer is not None
    for module in (c_fieldread, sys.modules[CRingBuffer.__module__]):
        assert module.__file__.startswith(tree + os.sep), module.__file__


@needs_c
def test_the_twins_share_their_limits() -> None:
    assert (c_fieldread.MAX_TOKENS, c_fieldread.MAX_KEY, c_fieldread.MAX_WIDTH) == \
        (fieldread.MAX_TOKENS, fieldread.MAX_KEY, fieldread.MAX_WIDTH)
    assert c_fieldread.CARRY_LIMIT == CARRY_LIMIT  # derive_rows's and derive()'s


# --- FieldReader: files, rules and width ----------------------------------------------------

WIDE_TOKENS = 3000


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Files to point readers at: lines of 3000 tokens, /proc-like ones, a directory (opens,
    fails to read), and one that does not exist."""
    root = tmp_path_factory.mktemp("pool")
    wide = " ".join(f"t{i}" for i in range(WIDE_TOKENS)) + "\n"
    files = {
        "wide": wide * 3,
        "numbers": "".join(f"t{i} {i} {i}.5 x -{i}\n" for i in range(70)),
        "meminfo": "MemTotal:  100 kB\nMemFree: 7 kB\nMemTotal: 5 kB\n",
        "stat": "4242 (a) (b c) S 1 2 3 4 5\n",
        "empty": "",
    }
    paths = {}
    for name, text in files.items():
        (root / name).write_text(text)
        paths[name] = str(root / name)
    (root / "dir").mkdir()
    paths["dir"], paths["missing"] = str(root / "dir"), str(root / "missing")
    return paths


def path_values(pool: dict) -> Any:
    names = st.sampled_from(sorted(pool))
    return st.one_of(
        names.map(lambda n: pool[n]), names.map(lambda n: os.fsencode(pool[n])),
        names.map(lambda n: Path(pool[n])), st.sampled_from(["a\0b", 5, None, b"x\0"]))


ints = st.one_of(st.integers(-3, 1000), st.sampled_from(HUGE),
                 st.sampled_from([1.5, "0", None, True]))
keys = st.one_of(st.sampled_from(["t0", "t5", "t63", "t64", "t200", f"t{WIDE_TOKENS - 1}",
                                  "MemTotal", "MemFree", "", "a b", "a:b", "a=b", "a\tb",
                                  "a\nb", "é", "x" * 63, "x" * 64, "\0"]),
                 st.sampled_from([b"t0", None, 7]))
coefs = st.one_of(st.floats(), st.integers(-10, 10), st.sampled_from([10**400, "1", None]))


@st.composite
def reader_arguments(draw: Any, pool: dict) -> Tuple[list, list, Any]:
    file_item = st.one_of(
        st.tuples(path_values(pool), st.one_of(st.integers(-2, 70), ints)),
        st.sampled_from([[pool["numbers"], 0], (pool["numbers"],), (pool["numbers"], 0, 0)]))
    files = draw(st.lists(file_item, max_size=3))
    width = draw(st.one_of(st.integers(-1, 6), ints))
    slot = st.one_of(st.integers(-1, 7), ints)
    rule = st.one_of(
        st.tuples(st.one_of(st.integers(-1, 3), ints), keys,
                  st.one_of(st.integers(-1, 70), ints), slot, coefs),
        st.sampled_from([[0, "t0", 1, 0, 1.0], (0, "t0", 1, 0)]))
    rules = draw(st.lists(rule, max_size=5))
    if draw(st.booleans()):  # most often grouped by file, as RowPlan sorts them
        rules.sort(key=lambda r: r[0] if isinstance(r, tuple) and isinstance(r[0], int) else 0)
    return files, rules, width


def read_both(readers: List[Any], width: int) -> None:
    """read(), head() and heads() of the C reader and its twin agree (values, or the error's
    type)."""
    rows = [array("d", [1.5]) * width for _ in readers]
    got = [outcome(lambda r=r, row=row: r.read(row)) for r, row in zip(readers, rows)]
    assert got[0][0] == got[1][0]
    if got[0][0] == "raised":
        assert got[0][1] is got[1][1]
    else:
        assert same(rows[0], rows[1]), (list(rows[0]), list(rows[1]))
    assert readers[0].head() == readers[1].head()
    assert readers[0].heads() == readers[1].heads()


@needs_c
@fuzz
@given(data=st.data())
def test_field_reader_arguments_are_refused_as_the_twin_refuses_them(pool: dict,
                                                                     data: Any) -> None:
    files, rules, width = data.draw(reader_arguments(pool))
    made = [outcome(lambda cls=cls: cls(files, rules, width))
            for cls in (c_fieldread.FieldReader, PyFieldReader)]
    assert made[0][0] == made[1][0], (made, files, rules, width)
    if made[0][0] == "raised":
        assert made[0][1] is made[1][1], (made, files, rules, width)
        return
    readers = [made[0][1], made[1][1]]
    if width <= 4096:
        read_both(readers, width)
        read_both(readers, width)
    for reader in readers:
        with pytest.raises(ValueError):
            reader.read(array("d", [0.0]) * (width + 1 if width < 4096 else 1))
        reader.close()
        with pytest.raises(ValueError):
            reader.read(array("d", [0.0]))


HOSTILE = [
    ([("wide", 200)], [(0, "t200", 1, 0, 1.0)], 1),
    ([("wide", 2999)], [(0, "t2999", 1, 0, 1.0)], 1),
    ([("wide", 0)], [(0, "t0", 2500, 0, 1.0)], 1),
    ([("wide", 0)], [(0, "t0", 1, 0, 1.0)], 2**61),
    ([("wide", -2)], [(0, "t0", 1, 0, 1.0)], 1),
    ([("wide", 0)], [(0, "t0", -1, 0, 1.0)], 1),
    ([("wide", 0)], [(0, "t0", 2**63, 0, 1.0)], 1),
    ([("wide", 0)], [(1, "t0", 1, 0, 1.0)], 1),
    ([("wide", 0)], [(0, "t0", 1, 2**63, 1.0)], 1),
    ([("wide", 0)], [(0, "t0" * 40, 1, 0, 1.0)], 1),
]


@pytest.mark.parametrize("cls", [pytest.param(PyFieldReader, id="python"),
                                 pytest.param("c", id="c", marks=needs_c)])
@pytest.mark.parametrize("case", range(len(HOSTILE)))
def test_tokens_keys_slots_and_widths_beyond_the_limits_raise_value_error(
        pool: dict, cls: Any, case: int) -> None:
    cls = c_fieldread.FieldReader if cls == "c" else cls
    files, rules, width = HOSTILE[case]
    with pytest.raises(ValueError, match=r"^FieldReader\(\): "):
        cls([(pool[name], key_token) for name, key_token in files], rules, width)


@pytest.mark.parametrize("cls", [pytest.param(PyFieldReader, id="python"),
                                 pytest.param("c", id="c", marks=needs_c)])
def test_the_last_addressable_token_of_a_very_wide_line_is_read(tmp_path: Path,
                                                                cls: Any) -> None:
    cls = c_fieldread.FieldReader if cls == "c" else cls
    last = MAX_TOKENS - 1
    path = tmp_path / "wide"
    tokens = [str(i) for i in range(WIDE_TOKENS)]
    path.write_text(" ".join(["k", *tokens[1:]]) + "\n" + " ".join(tokens[:last] + ["key"] +
                                                                 tokens[last + 1:]) + "\n")
    row = array("d", [0.0, 0.0, 0.0])
    cls([(str(path), 0)], [(0, "k", last, 0, 1.0)], 1).read(row[:1])
    keyed = cls([(str(path), last)], [(0, "key", 0, 1, 1.0), (0, "key", last - 1, 2, 1.0)], 3)
    keyed.read(row)
    assert list(row)[1:] == [0.0, last - 1.0]
    first = array("d", [0.0])
    cls([(str(path), 0)], [(0, "k", last, 0, 1.0)], 1).read(first)
    assert first[0] == last


# --- FieldReader: any text, thousands of tokens ----------------------------------------------

VOCABULARY = ["k0", "k1", "k2", "k3", "0", "7", "12", "-3", "+4", "0.01", "1.", "-0", "00012",
              "1e5", "0x10", ".5", "--1", "12abc", "3.14159265358979323846264338", "1" * 25,
              "123456789012345678901234567890.5", "9007199254740993", "0.1234567890123456789012",
              "x", "(", ")", "\xff", "\x00", "é"]
SEPARATORS = [" ", "\t", ":", "=", "  ", " : ", "=\t"]


def random_text(rnd: random.Random, lines: int, widths: List[int]) -> bytes:
    out = []
    for _ in range(lines):
        n = rnd.choice(widths)
        tokens = [rnd.choice(VOCABULARY) for _ in range(n)]
        lead = rnd.choice(["", "", " ", ":"])
        line = lead + "".join(t + rnd.choice(SEPARATORS) for t in tokens[:-1])
        out.append(line + (tokens[-1] if tokens else ""))
    text = "\n".join(out) + rnd.choice(["", "\n"])
    return text.encode("utf-8", "surrogateescape")


@needs_c
@fuzz
@given(seed=st.integers(0, 2**32), lines=st.integers(0, 8),
       widths=st.lists(st.sampled_from([0, 1, 2, 3, 10, 63, 64, 65, 300, 3000]), min_size=1,
                       max_size=3),
       key_token=st.one_of(st.integers(-1, 4), st.integers(-1, 1000)),
       tokens=st.lists(st.one_of(st.integers(0, 6), st.integers(0, 1000)), min_size=1,
                       max_size=6),
       slots=st.integers(1, 4))
def test_c_and_python_agree_on_wide_text_read_again_after_changes(
        tmp_path: Path, seed: int, lines: int, widths: List[int], key_token: int,
        tokens: List[int], slots: int) -> None:
    rnd = random.Random(seed)
    path = tmp_path / "fuzz"
    path.write_bytes(random_text(rnd, lines, widths))
    names = ["k0", "k1", "k2", ""] if key_token != AFTER_PAREN else ["", "k0"]
    coef = [1.0, -1.0, 512.0, 0.1, 1e300, 3.0]
    rules = [(0, rnd.choice(names), t, rnd.randrange(slots), rnd.choice(coef)) for t in tokens]
    made = [outcome(lambda cls=cls: cls([(str(path), key_token)], rules, slots))
            for cls in (c_fieldread.FieldReader, PyFieldReader)]
    if key_token >= MAX_TOKENS or max(tokens) >= MAX_TOKENS:
        assert made == [("raised", ValueError)] * 2
        return
    readers = [made[0][1], made[1][1]]
    read_both(readers, slots)
    for _ in range(2):  # the C reader now reads short, from where the lines were
        path.write_bytes(random_text(rnd, lines, widths))
        read_both(readers, slots)


@needs_c
@fuzz
@given(sign=st.sampled_from(["", "-", "+"]), whole=st.text("0123456789", min_size=1, max_size=40),
       fraction=st.one_of(st.none(), st.text("0123456789", max_size=40)),
       tail=st.sampled_from(["", " kB", "e7", "\n", ".", "x"]))
def test_numbers_are_rounded_as_float_rounds_their_text(tmp_path: Path, sign: str, whole: str,
                                                       fraction: Optional[str],
                                                       tail: str) -> None:
    number = sign + whole + ("" if fraction is None else "." + fraction)
    path = tmp_path / "number"
    path.write_text(f"k {number}{tail}")  # often no newline: the buffer ends at the digits
    for cls in (c_fieldread.FieldReader, PyFieldReader):
        row = array("d", [0.0])
        cls([(str(path), 0)], [(0, "k", 1, 0, 1.0)], 1).read(row)
        assert repr(row[0]) == repr(0.0 + float(number)), (cls, number)  # slots sum from 0


@pytest.mark.parametrize("cls", [pytest.param(PyFieldReader, id="python"),
                                 pytest.param("c", id="c", marks=needs_c)])
def test_the_first_line_with_a_key_decides_even_without_a_number(tmp_path: Path,
                                                                  cls: Any) -> None:
    cls = c_fieldread.FieldReader if cls == "c" else cls
    path = tmp_path / "f"
    path.write_text("a x\na 5\nb 1\n")
    reader, row = cls([(str(path), 0)], [(0, "a", 1, 0, 1.0), (0, "b", 1, 1, 1.0)], 2), \
        array("d", [0.0, 0.0])
    reader.read(row)
    assert math.isnan(row[0]) and row[1] == 1.0
    path.write_text("b 2\na 6\na 7\n")
    reader.read(row)
    assert list(row) == [6.0, 2.0]


@pytest.mark.parametrize("cls", [pytest.param(PyFieldReader, id="python"),
                                 pytest.param("c", id="c", marks=needs_c)])
def test_a_file_longer_than_64_mib_is_an_efbig_error(cls: Any) -> None:
    cls = c_fieldread.FieldReader if cls == "c" else cls
    reader = cls([("/dev/zero", 0)], [(0, "k", 1, 0, 1.0)], 1)
    with pytest.raises(OSError) as failed:
        reader.read(array("d", [0.0]))
    assert failed.value.errno == errno.EFBIG and failed.value.filename == "/dev/zero"


# --- FieldReader: __init__ twice, close, and the busy flag ----------------------------------

TWINS = [pytest.param(PyFieldReader, id="python"), pytest.param("c", id="c", marks=needs_c)]


def reader_class(cls: Any) -> Any:
    return c_fieldread.FieldReader if cls == "c" else cls


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("cls", TWINS)
def test_init_again_releases_the_old_files_and_memory(pool: dict, cls: Any) -> None:
    cls = reader_class(cls)
    files = [(pool["numbers"], 0), (pool["meminfo"], 0)]
    rules = [(0, "t1", 1, 0, 1.0), (1, "MemTotal", 1, 1, 1024.0)]
    reader, row = cls(files, rules, 2), array("d", [0.0, 0.0])
    fds = open_fds()
    tracemalloc.start()
    try:
        for _ in range(200):
            reader.__init__(files, rules, 2)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            reader.__init__(files, rules, 2)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert open_fds() == fds and grown < 16384
    reader.read(row)
    assert list(row) == [1.0, 100 * 1024.0]  # the first MemTotal line decides


@pytest.mark.parametrize("cls", TWINS)
def test_a_failed_init_again_leaves_the_reader_closed(pool: dict, cls: Any) -> None:
    cls = reader_class(cls)
    reader = cls([(pool["numbers"], 0)], [(0, "t1", 1, 0, 1.0)], 1)
    fds = open_fds()
    with pytest.raises(ValueError):
        reader.__init__([(pool["numbers"], 0)], [(0, "t1", 1, 5, 1.0)], 1)
    assert open_fds() == fds - 1
    with pytest.raises(ValueError, match="closed"):
        reader.read(array("d", [0.0]))
    reader.__init__([(pool["numbers"], 0)], [(0, "t1", 1, 0, 1.0)], 1)
    reader.read(row := array("d", [0.0]))
    assert row[0] == 1.0


@pytest.mark.parametrize("cls", TWINS)
def test_a_reader_never_initialised_reads_as_closed(cls: Any) -> None:
    cls = reader_class(cls)
    reader = cls.__new__(cls)
    with pytest.raises(ValueError, match="closed"):
        reader.read(array("d", [0.0]))
    assert reader.head() == b""
    assert reader.heads() == []
    reader.close()


@needs_c
def test_read_schedule_after_close_raises_value_error(pool: dict) -> None:
    reader = c_fieldread.FieldReader([(pool["numbers"], 0)], [(0, "t1", 1, 0, 1.0)], 1)
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read_schedule(array("d", [0.0]), array("d", [0.0, 0.0]), time.monotonic(), 0.01,
                             0, 1)


def start_long_batch(reader: Any) -> Tuple[threading.Thread, dict]:
    """A read_schedule of 5 s in another thread; returns once the reader is busy."""
    rows, stamps, result = array("d", [0.0]) * 100, array("d", [0.0]) * 200, {}

    def run() -> None:
        result["value"] = outcome(lambda: reader.read_schedule(rows, stamps, time.monotonic(),
                                                               0.05, 0, 100))
    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            reader.head()
        except RuntimeError:
            return thread, result
        time.sleep(0.001)
    raise AssertionError("the batch never made the reader busy")


@needs_c
def test_a_running_batch_makes_the_other_methods_raise_busy(pool: dict) -> None:
    files, rules = [(pool["numbers"], 0)], [(0, "t1", 1, 0, 1.0)]
    reader = c_fieldread.FieldReader(files, rules, 1)
    thread, result = start_long_batch(reader)
    try:
        for call in (lambda: reader.read(array("d", [0.0])), reader.close, reader.head,
                     reader.heads,
                     lambda: reader.__init__(files, rules, 1),
                     lambda: reader.guard([(0, 1.0)], None), lambda: reader.guard(None, None),
                     lambda: reader.read_schedule(array("d", [0.0]), array("d", [0.0, 0.0]),
                                                  time.monotonic(), 0.01, 0, 1)):
            with pytest.raises(RuntimeError, match="busy"):
                call()
        assert isinstance(reader.wake_fd(), int)  # still usable: how a batch is ended
    finally:
        reader.cancel()
        thread.join(5)
    assert not thread.is_alive()
    status, (done, _, _) = result["value"]
    assert status == "ok" and 0 <= done < 100  # cancelled, maybe before its first read
    reader.read(row := array("d", [0.0]))  # not busy any more; the files still open
    assert row[0] == 1.0
    reader.close()


@needs_c
def test_a_signal_handler_that_uses_the_busy_reader_ends_the_batch_with_its_error(
        pool: dict) -> None:
    reader = c_fieldread.FieldReader([(pool["numbers"], 0)], [(0, "t1", 1, 0, 1.0)], 1)
    previous = signal.signal(signal.SIGUSR1, lambda *_: reader.read(array("d", [0.0])))
    previous_fd = signal.set_wakeup_fd(reader.wake_fd(), warn_on_full_buffer=False)
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    try:
        with pytest.raises(RuntimeError, match="busy"):
            reader.read_schedule(array("d", [0.0]) * 100, array("d", [0.0]) * 200,
                                 time.monotonic(), 0.05, 0, 100)
    finally:
        timer.join()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGUSR1, previous)
    reader.read(array("d", [0.0]))  # the flag went down with the error
    reader.close()


@needs_c
def test_python_code_run_while_the_reader_is_made_cannot_use_it(pool: dict) -> None:
    rules = [(0, "t1", 1, 0, 1.0)]
    reader = c_fieldread.FieldReader([(pool["numbers"], 0)], rules, 1)

    class ClosingPath:
        def __fspath__(self) -> str:
            reader.close()
            return pool["numbers"]

    class RemakingWidth:
        def __index__(self) -> int:
            reader.__init__([(pool["numbers"], 0)], [], 1000)
            return 1

    for files, width in (([(ClosingPath(), 0)], 1), ([(pool["numbers"], 0)], RemakingWidth())):
        with pytest.raises(RuntimeError, match="busy"):
            reader.__init__(files, rules, width)
    reader.__init__([(pool["numbers"], 0)], rules, 1)
    reader.read(row := array("d", [0.0]))
    assert row[0] == 1.0


@needs_c
def test_a_reader_remade_by_an_argument_of_read_schedule_is_checked_as_remade(
        pool: dict) -> None:
    reader = c_fieldread.FieldReader([(pool["numbers"], 0)], [(0, "t1", 1, 0, 1.0)], 1)

    class RemakingTick:
        def __index__(self) -> int:
            reader.__init__([(pool["numbers"], 0)], [(0, "t1", 1, 999, 1.0)], 1000)
            return 0

    with pytest.raises(ValueError, match="buffer of 1000 values"):
        reader.read_schedule(array("d", [0.0]), array("d", [0.0, 0.0]), time.monotonic(), 0.01,
                             RemakingTick(), 1)


# --- read_schedule: every argument ----------------------------------------------------------

NOW = "now"  # a start drawn as NOW is time.monotonic() at the call


def buffers() -> Any:
    sizes = st.sampled_from([0, 1, 2, 3, 4, 7, 8, 16])
    return st.one_of(
        sizes.map(lambda n: array("d", [0.0]) * n),
        sizes.map(lambda n: array("f", [0.0]) * n),
        sizes.map(lambda n: memoryview(array("d", [0.0]) * n).toreadonly()),
        sizes.map(lambda n: memoryview(array("d", [0.0]) * (2 * n))[::2]),
        sizes.map(lambda n: memoryview(array("d", [0.0]) * (2 * n)).cast("B")),
        sizes.map(lambda n: bytearray(8 * n)),
        st.sampled_from([None, 3.0, [0.0, 0.0]]))


def number_problem(value: Any) -> Optional[type]:
    if not isinstance(value, float) and not hasattr(type(value), "__index__") and \
            not hasattr(type(value), "__float__"):
        return TypeError
    try:
        float(value)
    except OverflowError:
        return ValueError
    return None


def clamp(value: int) -> int:
    return max(-sys.maxsize - 1, min(int(value), sys.maxsize))


def buffer_problem(obj: Any, want: int, writable: bool) -> Optional[type]:
    """The error get_doubles() gives for obj as a float64 buffer of at least `want` values."""
    try:
        view = memoryview(obj)
    except TypeError:
        return TypeError
    if (writable and view.readonly) or not view.c_contiguous:
        return TypeError
    if view.format != "d" or view.nbytes // 8 < want:
        return ValueError
    return None


def schedule_problem(width: int, rows: Any, stamps: Any, start: Any, interval: Any, tick: Any,
                     count: Any) -> Optional[type]:
    """What read_schedule must raise for these arguments (None: it must run), in its order."""
    for value in (start, interval):
        if number_problem(value):
            return number_problem(value)
    for value in (tick, count):
        if not hasattr(type(value), "__index__"):
            return TypeError
    if not (math.isfinite(float(start)) and math.isfinite(float(interval)) and interval > 0):
        return ValueError
    if not 0 <= clamp(tick) <= 2**53 or clamp(count) < 0:
        return ValueError
    count = clamp(count)
    if count and count > sys.maxsize // 8 // max(width, 2):
        return ValueError
    return buffer_problem(rows, count * width, True) or buffer_problem(stamps, count * 2, True)


@needs_c
@fuzz
@given(rows=buffers(), stamps=buffers(),
       start=st.one_of(st.just(NOW), st.floats(), st.sampled_from([10**400, "x", None])),
       interval=st.one_of(st.sampled_from([0.001, 0.0, -1.0, 1e-300, 1e300, 10**400, "x"]),
                          st.floats()),
       tick=st.one_of(st.integers(-3, 5), st.sampled_from(HUGE + [2**53, 1.5, None])),
       count=st.one_of(st.integers(-2, 4), st.sampled_from(HUGE + [2.0, None])))
def test_read_schedule_runs_or_refuses_exactly_as_documented(
        pool: dict, rows: Any, stamps: Any, start: Any, interval: Any, tick: Any,
        count: Any) -> None:
    width = 2
    reader = c_fieldread.FieldReader([(pool["numbers"], 0)], [(0, "t3", 1, 1, 1.0)], width)
    start = time.monotonic() if start == NOW else start
    expected = schedule_problem(width, rows, stamps, start, interval, tick, count)
    timer = threading.Timer(0.05, reader.cancel)  # a far-off schedule ends here
    timer.start()
    try:
        got = outcome(lambda: reader.read_schedule(rows, stamps, start, interval, tick, count))
    finally:
        timer.cancel()
        timer.join()
    if expected is not None:
        assert got == ("raised", expected), (got, expected)
        return
    assert got[0] == "ok", got
    done, next_tick, missed = got[1]
    assert 0 <= done <= clamp(count) and next_tick >= tick and missed >= 0
    assert all(value == 3.0 for value in memoryview(rows)[1:2 * done:2])


# --- read_schedule's guard and its states --------------------------------------------------

def states_problem(states: Any, want: int) -> Optional[type]:
    """The error read_schedule gives for `states` (None: no buffer) wanting `want` bytes."""
    if states is None:
        return None
    try:
        view = memoryview(states)
    except TypeError:
        return TypeError
    if view.readonly or not view.c_contiguous:
        return TypeError
    if view.itemsize != 1 or view.nbytes < want:
        return ValueError
    return None


@needs_c
@fuzz
@given(states=st.one_of(
    st.none(), st.integers(0, 12).map(bytearray), st.integers(0, 12).map(bytes),
    st.integers(0, 4).map(lambda n: array("d", [0.0]) * n),
    st.integers(0, 12).map(lambda n: memoryview(bytearray(2 * n))[::2]),
    st.sampled_from(["xx", 3, [0, 0]])), count=st.integers(0, 3))
def test_read_schedule_takes_states_exactly_as_documented(pool: dict, states: Any,
                                                          count: int) -> None:
    reader = c_fieldread.FieldReader([(pool["numbers"], 0), (pool["numbers"], 0)],
                                     [(0, "t1", 1, 0, 1.0)], 1)
    expected = states_problem(states, 2 * count)
    got = outcome(lambda: reader.read_schedule(array("d", [0.0]) * 3, array("d", [0.0]) * 6,
                                               time.monotonic() - 1, 0.001, 0, count, states))
    reader.close()
    if expected is not None:
        assert got == ("raised", expected), (got, expected)
    else:
        assert got[0] == "ok" and got[1][0] == count, got


GUARD_CASES = [
    (([(0, 1.0)], None), None), ((None, None), None), (((), ()), ValueError),
    (([(0, 1.0)], [None, None]), None), (([(1, 1.0)], None), ValueError),
    (([(-1, 1.0)], None), ValueError), (([(0, math.nan)], None), ValueError),
    (([(0, 10**400)], None), ValueError), (([(2**70, 1.0)], None), ValueError),
    (([(0, "x")], None), TypeError), (([("0", 1.0)], None), TypeError),
    (([(0, 1.0, 2.0)], None), TypeError), (([0], None), TypeError), ((3, None), TypeError),
    ((None, [b"1 (x) "]), ValueError), ((None, [b"1 (x) ", None]), ValueError),
    ((None, [None, b"1 (x) "]), None), ((None, [None, "1 (x) "]), TypeError),
    ((None, [None, b"x" * 255]), None), ((None, [None, b"x" * 256]), ValueError),
    ((None, 7), TypeError),
]


@needs_c
@pytest.mark.parametrize("args,error", GUARD_CASES)
def test_guard_checks_every_argument(pool: dict, args: tuple, error: Optional[type]) -> None:
    """guard(hold, names): slots in the row, numbers that are not NaN, one name (bytes, for an
    AFTER_PAREN file, shorter than 256 bytes) or None per file; a refused guard leaves the one
    before in place."""
    reader = c_fieldread.FieldReader([(pool["numbers"], 0), (pool["numbers"], -1)],
                                     [(0, "t1", 1, 0, 1.0)], 1)
    reader.guard([(0, 1.0)], None)  # holds: numbers' t1 line is 1
    got = outcome(lambda: reader.guard(*args))
    assert got[0] == ("ok" if error is None else "raised"), got
    if error is not None:
        assert got[1] is error
        rows = array("d", [0.0]) * 2
        done, _, _ = reader.read_schedule(rows, array("d", [0.0]) * 4, time.monotonic() - 1,
                                          0.001, 0, 2)
        assert done == 2 and reader.stopped() == 0  # the guard before still holds
    reader.close()


@needs_c
def test_a_guard_ends_a_batch_before_the_tick_that_breaks_it(tmp_path: Path) -> None:
    """A held slot that moves, a head whose name changes or whose state is Z, and a read that
    fails each end the batch before that tick, which is read but not counted; stopped() says
    which; without a guard a failed read raises as before."""
    number, stat = tmp_path / "n", tmp_path / "stat"
    number.write_text("n 5\n")
    stat.write_text("42 (a b) S 1 2 3\n")
    reader = c_fieldread.FieldReader([(str(number), 0), (str(stat), -1)],
                                     [(0, "n", 1, 0, 1.0), (1, "", 2, 1, 1.0)], 2)
    rows, stamps, states = array("d", [0.0]) * 20, array("d", [0.0]) * 20, bytearray(20)

    def batch() -> Tuple[int, int]:
        done, next_tick, missed = reader.read_schedule(rows, stamps, time.monotonic() - 1,
                                                       0.001, 0, 5, states)
        assert reader.stopped() == 0 or next_tick - missed == done  # a stopped tick is next
        return done, reader.stopped()

    reader.guard([(0, 5.0)], [None, b"42 (a b) "])
    assert batch() == (5, 0) and states[:10] == b"\0S" * 5
    stat.write_text("42 (a b) D 1 2 3\n")  # a state letter moves: no change of name
    assert batch() == (5, 0) and states[1:2] == b"D"
    number.write_text("n 6\n")
    assert batch() == (0, 1)
    number.write_text("n 5\n")
    stat.write_text("42 (python3) S 1 2 3\n")  # an exec
    assert batch() == (0, 2)
    stat.write_text("42 (a b) Z 1 2 3\n")  # exited, not yet reaped
    assert batch() == (0, 2)
    stat.write_text("42 (a b) R 1 2 3\n")
    assert batch() == (5, 0) and rows[1] == 2.0
    reader.close()
    child = subprocess.Popen(["sleep", "30"])
    reader = c_fieldread.FieldReader([(f"/proc/{child.pid}/stat", -1)], [(0, "", 1, 0, 1.0)], 1)
    child.kill()
    child.wait()  # reaped: its stat reads fail (ESRCH)
    with pytest.raises(OSError):
        reader.read_schedule(rows, stamps, time.monotonic() - 1, 0.001, 0, 3)
    reader.guard(None, [None])
    assert reader.read_schedule(rows, stamps, time.monotonic() - 1, 0.001, 0, 3)[0] == 0
    assert reader.stopped() == 3
    reader.guard(None, None)  # no guard: raises again
    with pytest.raises(OSError):
        reader.read_schedule(rows, stamps, time.monotonic() - 1, 0.001, 0, 3)
    reader.close()


# --- derive_rows and format_rows ------------------------------------------------------------

KINDS = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -1.0, 0.5, 4.5, math.nan, math.inf]


def index_values(width: int) -> Any:
    return st.one_of(st.integers(-1, width).map(float),
                     st.sampled_from([-2.0, 0.5, math.nan, math.inf, -math.inf, 1e300, 2.0**63]))


@st.composite
def derive_arguments(draw: Any) -> tuple:
    width = draw(st.integers(1, 4))
    columns = draw(st.integers(0, 4))
    plan = array("d")
    for _ in range(columns):
        plan.extend([draw(st.sampled_from(KINDS)), draw(index_values(width)),
                     draw(index_values(width)), draw(st.floats()),
                     draw(st.one_of(st.just(1.0), index_values(width)))])  # pairs (kinds 3, 5)
    if draw(st.integers(0, 9)) == 0:
        plan.append(0.0)  # not 5 floats per column
    count = draw(st.one_of(st.integers(-1, 3), st.sampled_from(HUGE + [1.5, None])))
    n = clamp(count) if isinstance(count, int) and 0 <= count < 8 else 2
    values = st.floats(allow_nan=True, allow_infinity=True)

    def sized(want: int, writable: bool) -> Any:
        off = draw(st.sampled_from([0, 0, 0, 0, -1, 1]))
        buf = array("d", draw(st.lists(values, min_size=max(want + off, 0),
                                       max_size=max(want + off, 0))))
        kind = draw(st.integers(0, 12))
        if kind == 0:
            return array("f", [0.0]) * want
        if kind == 1:
            return memoryview(buf).toreadonly()
        return buf
    prev = sized(width, False)
    arguments = (plan, prev, draw(st.one_of(st.floats(), st.sampled_from([10**400, "x"]))),
                 sized(n * width, False), sized(n * 2, False), count,
                 sized(n * (columns + 1), True))
    carry = draw(st.integers(0, 3))  # none, None, a carry (any numbers, any size or kind)
    return arguments + (() if carry == 0 else (None,) if carry == 1 else (sized(columns, True),))


def reference_derive_rows(plan: Any, prev: Any, prev_time: Any, rows: Any, stamps: Any,
                          count: Any, out: Any, carry: Any = None) -> Tuple[Optional[type], list]:
    """derive_rows as documented: its checks in order, then derive() on each row (the carry,
    when given, updated as the C twin must update it: carry's own list is its value after)."""
    if number_problem(prev_time):
        return number_problem(prev_time), []
    if not hasattr(type(count), "__index__"):
        return TypeError, []
    count = clamp(count)
    if count < 0:
        return ValueError, []
    problem = buffer_problem(plan, 0, False)
    if problem or memoryview(plan).nbytes % (8 * PLAN_WIDTH):
        return problem or ValueError, []
    problem = buffer_problem(prev, 1, False)
    if problem:
        return problem, []
    p, before = list(memoryview(plan)), list(memoryview(prev))
    width, columns = len(before), len(p) // PLAN_WIDTH
    if count > sys.maxsize // 8 // max(width, columns + 1, 2):
        return ValueError, []
    for obj, want, writable in ((rows, count * width, False), (stamps, count * 2, False),
                                (out, count * (columns + 1), True)):
        problem = buffer_problem(obj, want, writable)
        if problem:
            return problem, []
    if carry is not None:  # exactly one number a column, one-dimensional
        problem = buffer_problem(carry, columns, True)
        view = memoryview(carry) if problem is None else None
        if problem or view is None or view.nbytes // 8 != columns or view.ndim != 1:
            return problem or ValueError, []

    def whole_in(x: float, low: float, high: float) -> bool:
        return low <= x < high and x == math.floor(x)

    for c in range(columns):
        kind, raw, per, _, pairs = p[PLAN_WIDTH * c:PLAN_WIDTH * (c + 1)]
        if kind in (3, 5):
            ok = whole_in(pairs, 1, width + 1) and whole_in(raw, 0, width - pairs + 1) and \
                whole_in(per, 0, width - pairs + 1)
        else:
            ok = kind in (0, 1, 2, 4, 6) and pairs == 1 and whole_in(raw, 0, width) and \
                whole_in(per, 0 if kind in (2, 4) else -1, width)
        if not ok:
            return ValueError, []
    kept = None if carry is None else list(memoryview(carry))
    values = derive_values(p, before, float(prev_time), list(memoryview(rows)),
                           list(memoryview(stamps)), count, width, kept)
    return None, values + ([] if kept is None else [kept])


def derive_values(p: list, before: list, before_time: float, rows: list, stamps: list,
                  count: int, width: int, carry: Optional[list] = None) -> list:
    out = []
    for i in range(count):
        now = rows[i * width:(i + 1) * width]
        dt = stamps[2 * i] - before_time
        out.append(stamps[2 * i + 1])
        for c in range(len(p) // PLAN_WIDTH):
            kind, at, per, scale, pairs = p[PLAN_WIDTH * c:PLAN_WIDTH * (c + 1)]
            kind, at, per = int(kind), int(at), int(per)
            if kind == 0:
                out.append(now[at] * scale if scale != 1.0 else now[at])
                continue
            # a share's d(numerator)/d(denominator), or d(value)/dt, is at most 1 (kinds 4-6)
            most = 1.0 if kind in (4, 5, 6) else math.inf
            if kind in (3, 5):  # the largest ratio of the pairs that count (derive._max_ratio)
                ratios = [min((now[at + k] - before[at + k]) / (now[per + k] - before[per + k]),
                              most) * scale for k in range(int(pairs))
                          if now[at + k] - before[at + k] >= 0.0
                          and now[per + k] - before[per + k] > 0.0]
                best = math.nan
                for ratio in ratios:
                    if not best >= ratio:
                        best = ratio
                out.append(best)
                continue
            delta = now[at] - before[at]
            base = dt if kind in (1, 6) else now[per] - before[per]
            if kind == 6 and carry is not None:  # its excess goes on into the next interval
                if not (delta >= 0.0 and base > 0.0):
                    carry[c] = 0.0
                else:
                    k = carry[c]
                    delta += min(k, 1.0) if k > 0.0 else 0.0
                    carry[c] = min(delta - base, 1.0) if delta / base > 1.0 else 0.0
            out.append(math.nan if not delta >= 0.0 else
                       min(delta / base, most) * scale if base > 0.0 else math.nan)
        before, before_time = now, stamps[2 * i]
    return out


@needs_c
@fuzz
@given(arguments=derive_arguments())
def test_derive_rows_checks_every_index_and_size_then_derives(arguments: tuple) -> None:
    out = arguments[6]
    snapshot = list(memoryview(out)) if isinstance(out, array) else []
    carry = arguments[7] if len(arguments) > 7 else None
    carried = list(memoryview(carry)) if isinstance(carry, array) else []
    expected, values = reference_derive_rows(*arguments)
    got = outcome(lambda: c_fieldread.derive_rows(*arguments))
    if expected is not None:
        assert got == ("raised", expected)
        assert not snapshot or same(list(out), snapshot)  # nothing written before the checks
        assert not carried or same(list(memoryview(carry)), carried)
        return
    assert got == ("ok", None)
    if carry is not None:
        assert same(list(memoryview(carry)), values.pop())
    assert same(list(out)[:len(values)], values)
    assert same(list(out)[len(values):], snapshot[len(values):])


@needs_c
@fuzz
@given(values=st.lists(st.floats(), max_size=12), timestamps=st.floats(1e9, 2e9),
       count=st.one_of(st.integers(-1, 4), st.sampled_from(HUGE + [1.0, None])),
       width=st.one_of(st.integers(-1, 4), st.sampled_from(HUGE + [1.0, None])))
def test_format_rows_checks_count_and_width_then_formats(values: list, timestamps: float,
                                                         count: Any, width: Any) -> None:
    out = array("d", [timestamps] + values)
    got = outcome(lambda: c_fieldread.format_rows(out, count, width))
    if not hasattr(type(count), "__index__") or not hasattr(type(width), "__index__"):
        assert got == ("raised", TypeError)
        return
    n, w = clamp(count), clamp(width)
    if n < 0 or w < 1 or n > sys.maxsize // 8 // w or n * w > len(out):
        assert got == ("raised", ValueError)
        return
    rows = [out[i * w:(i + 1) * w] for i in range(n)]
    assert got == ("ok", "".join(csv_line(list(r)) for r in rows))


def csv_line(row: List[float]) -> str:
    """What format_row writes for a row whose first value is a timestamp ("%.6f" where it is
    below 1e15), each other value "%.12g", NaN empty."""
    def cell(x: float) -> str:
        return "%.12g" % x if x == x else ""
    first = "%.6f" % row[0] if abs(row[0]) < 1e15 else cell(row[0])
    return ",".join([first] + [cell(v) for v in row[1:]]) + "\n"


# --- RowWriter (read_schedule's writer) --------------------------------------------------------

FD_KINDS = ["file", "file", "file", "read-only", "closed", -1, 2**31, 2**63, 1.0, None]


@st.composite
def writer_arguments(draw: Any) -> tuple:
    """Half the time every argument is valid (a plan of any kind, indices inside the row);
    else each may be anything."""
    if draw(st.booleans()):
        w = draw(st.integers(1, 4))
        plan = array("d")
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
            per = -1.0 if kind in (0.0, 1.0, 6.0) else float(draw(st.integers(0, w - 1)))
            plan.extend([kind, float(draw(st.integers(0, w - 1))), per,
                         draw(st.floats(-1e6, 1e6)), 1.0])
        return "file", plan, w, draw(st.integers(1, 5))
    width = draw(st.one_of(st.integers(-1, 4),
                           st.sampled_from(HUGE + [1.5, None, 2**17, 2**24 + 1])))
    w = clamp(width) if isinstance(width, int) and 1 <= width <= 4 else 2
    plan = array("d")
    for _ in range(draw(st.integers(0, 3))):
        plan.extend([draw(st.one_of(st.sampled_from(KINDS[:7]), st.sampled_from(KINDS))),
                     draw(index_values(w)), draw(index_values(w)), draw(st.floats()),
                     draw(st.one_of(st.just(1.0), index_values(w)))])
    if draw(st.integers(0, 9)) == 0:
        plan.append(0.0)
    odd = draw(st.integers(0, 9))  # a read-only view (fine), no float64 buffer, no buffer
    plan_obj = memoryview(plan).toreadonly() if odd == 0 else b"x" if odd == 1 else \
        None if odd == 2 else plan
    every = draw(st.one_of(st.integers(-1, 5), st.sampled_from(HUGE + [65536, 65537, 2.0])))
    return draw(st.sampled_from(FD_KINDS)), plan_obj, width, every


HEADERS = ["absent", None, b"", b"timestamp,x\n", "timestamp,x\n", bytearray(b"h\n"), 7]


def writer_problem(fd: Any, plan: Any, width: Any, every: Any,
                   header: Any = "absent") -> Optional[type]:
    """What RowWriter(fd, plan, width, every, name[, header]) must raise, in its order of
    checks."""
    if any(not hasattr(type(v), "__index__") for v in (fd, width, every)):
        return TypeError
    fd, width, every = clamp(fd), clamp(width), clamp(every)
    if not 0 <= fd <= 2**31 - 1 or not 1 <= width <= 1 << 24 or not 1 <= every <= 65536:
        return ValueError
    try:
        if _fd_mode(fd) == os.O_RDONLY:
            return OSError
    except OSError:  # no such descriptor
        return OSError
    problem = buffer_problem(plan, 0, False)
    if problem:
        return problem
    p = list(memoryview(plan))
    columns = len(p) // PLAN_WIDTH
    if len(p) % PLAN_WIDTH or columns < 1:
        return ValueError
    if reference_derive_rows(plan, array("d", [0.0]) * width, 0.0, array("d"), array("d"), 0,
                             array("d"))[0] is not None:
        return ValueError  # the plan's checks (derive_rows's)
    if every * ((columns + 1) * 32 + 1) > 256 << 20:
        return ValueError
    if header != "absent" and header is not None and not isinstance(header, bytes):
        return TypeError
    return None


def _fd_mode(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as info:
        flags = int(next(line for line in info if line.startswith("flags:")).split()[1], 8)
    return flags & os.O_ACCMODE


@needs_c
@fuzz
@given(arguments=writer_arguments(), rows=st.lists(st.floats(), min_size=8, max_size=8),
       count=st.integers(0, 2), header=st.sampled_from(HEADERS))
def test_row_writer_checks_every_argument_then_writes_what_derive_and_format_make(
        tmp_path: Path, arguments: tuple, rows: list, count: int, header: Any) -> None:
    fd_kind, plan, width, every = arguments
    path = tmp_path / "w.csv"
    opened = []
    if fd_kind in ("file", "read-only"):
        path.write_text("")
        opened.append(os.open(path, os.O_WRONLY if fd_kind == "file" else os.O_RDONLY))
        fd: Any = opened[0]
    elif fd_kind == "closed":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        os.close(fd)
    else:
        fd = fd_kind
    try:
        expected = writer_problem(fd, plan, width, every, header)
        extra = () if header == "absent" else (header,)
        got = outcome(lambda: c_fieldread.RowWriter(fd, plan, width, every, str(path), *extra))
        event(f"RowWriter: {expected.__name__ if expected else 'made'}")
        if expected is not None:
            assert got == ("raised", expected)
            return
        assert got[0] == "ok"
        writer = got[1]
        w, p = clamp(width), list(memoryview(plan))
        if w > 1 << 16:  # made (its last row is allocated, up to 128 MiB); rows this wide,
            assert writer.rows == 0  # built here in Python, would take too long
            return
        raw = array("d", rows[:w] * 4)[:count * w]
        raw.extend([1.0] * (count * w - len(raw)))
        stamps = array("d", [s for i in range(count) for s in (10.0 + i, 1.7e9 + i)])
        writer.follow(array("d", [0.5] * w), 9.0)
        writer.write(raw, stamps, count)
        # a writer carries a share of time's excess from row to row, from nothing after follow()
        values = derive_values(p, [0.5] * w, 9.0, list(raw), list(stamps), count, w,
                               [0.0] * (len(p) // PLAN_WIDTH))
        cells = len(p) // PLAN_WIDTH + 1
        want = "".join(csv_line(values[i * cells:(i + 1) * cells]) for i in range(count))
        if count and isinstance(header, bytes):  # the file was empty: the header goes first
            want = header.decode() + want
        assert path.read_text() == want and writer.rows == count
        assert outcome(lambda: writer.write(raw, stamps, -1)) == ("raised", ValueError)
        assert outcome(lambda: writer.follow(array("d", [0.0]) * (w + 1), 0.0)) == \
            ("raised", ValueError)
        writer.__init__(fd, plan, width, every, "again")  # made twice: the first state is freed
        assert writer.rows == 0
    finally:
        for f in opened:
            os.close(f)


# --- column_sums and steady_rows (a process tree's row) ---------------------------------------

ODD_ROWS: List[Callable[[], Any]] = [
    lambda: None, lambda: b"12345678", lambda: bytearray(16), lambda: array("f", [1.0] * 4),
    lambda: memoryview(array("d", [1.0] * 8))[::2], lambda: [1.0, 2.0]]
ROWS = st.one_of(st.lists(st.floats(), max_size=12).map(lambda v: array("d", v)),
                 st.sampled_from(ODD_ROWS).map(lambda make: make()))
INDICES = st.one_of(st.integers(-2, 14), st.sampled_from(HUGE + [1.0, None, "1"]))


@needs_c
@fuzz
@given(row=ROWS, n=INDICES, out=ROWS)
def test_column_sums_checks_every_size_then_sums(row: Any, n: Any, out: Any) -> None:
    got = outcome(lambda: c_fieldread.column_sums(row, n, out))
    if not hasattr(type(n), "__index__"):
        assert got == ("raised", TypeError)
        return
    if clamp(n) < 1:
        assert got == ("raised", ValueError)
        return
    problem = buffer_problem(out, 0, True)
    fields = len(memoryview(out)) if problem is None else 0
    if problem is None and clamp(n) > sys.maxsize // 8 // max(fields, 1) and fields:
        problem = ValueError
    problem = problem or buffer_problem(row, fields * clamp(n), False)
    if problem is not None:
        assert got == ("raised", problem)
        return
    n = clamp(n)
    assert got == ("ok", None)
    values = list(row)  # added one by one from 0.0 (Python >= 3.12's sum() compensates)
    want = [functools.reduce(operator.add, values[f * n:(f + 1) * n], 0.0) for f in range(fields)]
    assert same(list(out), want)


@needs_c
@fuzz
@given(now=ROWS, before=ROWS, same_count=INDICES, grow_from=INDICES)
def test_steady_rows_checks_every_index_then_compares(now: Any, before: Any, same_count: Any,
                                                      grow_from: Any) -> None:
    got = outcome(lambda: c_fieldread.steady_rows(now, before, same_count, grow_from))
    if not all(hasattr(type(v), "__index__") for v in (same_count, grow_from)):
        assert got == ("raised", TypeError)
        return
    problem = buffer_problem(now, 0, False)
    width = len(memoryview(now)) if problem is None else 0
    if problem is None:
        problem = buffer_problem(before, width, False)
        if problem is None and len(memoryview(before)) != width:
            problem = ValueError
    if problem is None and not (0 <= clamp(same_count) <= width and 0 <= clamp(grow_from)
                                <= width):
        problem = ValueError
    if problem is not None:
        assert got == ("raised", problem)
        return
    a, b = list(now), list(before)
    want = (all(x == y for x, y in zip(a[:same_count], b[:same_count]))
            and not any(x < y for x, y in zip(a[grow_from:], b[grow_from:])))
    assert got == ("ok", want)


# --- RingBuffer: extreme sizes, indices and rows --------------------------------------------

SIZES = [1, 2, 3, 0, -1, 2**62, 2**63, 2**100, -(2**100), 1.5, "2", None, True]
NS = [-(2**100), -(2**63), -1, 0, 1, 2, 5, 2**63, 2**100, 1.5, "1", None, True]


def strided(columns: int) -> memoryview:
    return memoryview(array("d", [0.0]) * (2 * columns))[::2]


def ring_operations(columns: int) -> Any:
    row_values = st.one_of(st.floats(), st.sampled_from([10**400, "x", None, 7, True]))
    return st.one_of(
        st.tuples(st.just("push"), st.lists(row_values, min_size=max(columns - 1, 0),
                                            max_size=columns + 1)),
        st.tuples(st.just("push_buffer"), st.one_of(
            st.integers(0, columns + 1).map(lambda n: array("d", [0.25]) * n),
            st.sampled_from([b"x" * 8 * columns, array("f", [0.0]) * columns, 3.0, "strided"]
                            ).map(lambda b: strided(columns) if b == "strided" else b))),
        st.tuples(st.just("latest"), st.sampled_from(NS)),
        st.tuples(st.just("column"), st.sampled_from(NS), st.sampled_from(NS)),
        st.tuples(st.just("clear")), st.tuples(st.just("len")),
        st.tuples(st.just("__init__"), st.sampled_from(SIZES), st.sampled_from(SIZES)))


def ring_outcome(ring_obj: Any, operation: tuple) -> Any:
    name, *args = operation
    try:
        if name == "len":
            return "ok", len(ring_obj), ring_obj.total_pushed
        result = getattr(ring_obj, name)(*args)
        return "ok", repr(result)
    except Exception as exc:  # noqa: BLE001 - compared with the twin's
        return type(exc).__name__, str(exc)


@needs_c_ring
@fuzz
@given(data=st.data(), columns=st.sampled_from(SIZES), capacity=st.sampled_from(SIZES))
def test_ring_buffer_twins_agree_on_extreme_arguments(data: Any, columns: Any,
                                                      capacity: Any) -> None:
    made, rings = [], []
    for cls in (CRingBuffer, PyRingBuffer):
        try:
            rings.append(cls(columns, capacity))
            made.append(("ok",))
        except Exception as exc:  # noqa: BLE001
            made.append((type(exc).__name__, str(exc)))
    assert made[0] == made[1]
    if made[0] != ("ok",):
        return
    for operation in data.draw(st.lists(ring_operations(rings[0].columns), max_size=30)):
        assert ring_outcome(rings[0], operation) == ring_outcome(rings[1], operation), operation


# --- FieldReader: a file's period ------------------------------------------------------------

PERIODS = [0, 0.0, 0.001, 0.01, 3600, 3600.0, 3600.5, -0.0, -1e-9, -1, float("nan"),
           float("inf"), -float("inf"), 1e308, 2**63, True, "0.01", None, b"1", [0.01]]


@needs_c
@fuzz
@given(period=st.one_of(st.sampled_from(PERIODS), st.floats(allow_nan=True),
                        st.integers(-(2**70), 2**70)),
       size=st.sampled_from([1, 2, 3, 4]))
def test_c_and_python_take_and_refuse_the_same_periods(tmp_path: Path, period: Any,
                                                       size: int) -> None:
    path = tmp_path / "f"
    path.write_text("x 1\n")
    spec = (str(path), 0, period, 0)[:size]
    made = [outcome(lambda cls=cls: cls([spec], [(0, "x", 1, 0, 1.0)], 1))
            for cls in (c_fieldread.FieldReader, PyFieldReader)]
    assert [m[0] for m in made] == [made[1][0]] * 2
    if made[0][0] == "raised":
        assert made[0][1] is made[1][1]
    ok = size == 2 or (size == 3 and not isinstance(period, (str, bytes, list, type(None)))
                       and 0 <= float(period) <= 3600)
    assert made[0][0] == ("ok" if ok else "raised"), (spec, made)


@needs_c
@fuzz
@given(seed=st.integers(0, 2**32), periods=st.lists(
           st.sampled_from([0.0, 0.0005, 0.002, 0.0035, 0.01, 3600.0]), min_size=1, max_size=4),
       ticks=st.integers(1, 40))
def test_a_schedule_with_periods_gives_the_rows_that_read_gives(
        tmp_path: Path, seed: int, periods: List[float], ticks: int) -> None:
    """Files that do not change between reads: whatever each file's period, every row of a
    schedule is what read() gives, in C and in the twin (held values are the values)."""
    rnd = random.Random(seed)
    files, rules = [], []
    for i, period in enumerate(periods):
        path = tmp_path / f"f{i}"
        path.write_bytes(random_text(rnd, 5, [1, 3, 70]))
        files.append((str(path), rnd.choice([0, 1]), period))
        rules += [(i, rnd.choice(["k0", "k1", "k2"]), rnd.randrange(4), rnd.randrange(3), 1.0)
                  for _ in range(rnd.randrange(1, 4))]
    c_reader, twin = c_fieldread.FieldReader(files, rules, 3), PyFieldReader(files, rules, 3)
    want = array("d", [0.0]) * 3
    twin.read(want)
    for _ in range(2):  # a second schedule goes on from the first one's last reads
        rows, stamps = array("d", [0.0]) * (3 * ticks), array("d", [0.0]) * (2 * ticks)
        done, _, _ = c_reader.read_schedule(rows, stamps, time.monotonic(), 0.0005, 0, ticks)
        assert done == ticks
        for t in range(done):
            assert same(rows[3 * t:3 * t + 3], want), (t, list(rows), list(want))


# -- Python code run in the middle of a call (an argument's __index__, __fspath__, __float__)
# must not change what the C code is walking ------------------------------------------------------

def _nums(tmp_path: Path) -> str:
    path = tmp_path / "nums.txt"
    path.write_text("a 1\nb 2\n")
    return str(path)


@needs_c
def test_rules_a_rule_shrinks_while_they_are_read_are_read_whole(tmp_path: Path) -> None:
    """FieldReader reads its own copy of `rules`: an item's __index__ that empties the
    caller's list (freeing the other items) changes nothing (it read freed memory before)."""
    nums = _nums(tmp_path)
    rules: List[Any] = []

    class Shrink:
        def __index__(self) -> int:
            rules.clear()
            return 0

    rules.extend([(0, "a", 1, Shrink(), 1.0)] + [(0, "b", 1, 1, 1.0)] * 1000)
    reader = c_fieldread.FieldReader([(nums, 0)], rules, 2)
    row = array("d", [0.0, 0.0])
    reader.read(row)
    assert list(row) == [1.0, 2000.0]  # every rule, as given before the list was emptied
    reader.close()


@needs_c
def test_files_a_path_shrinks_while_they_are_read_are_read_whole(tmp_path: Path) -> None:
    nums = _nums(tmp_path)
    files: List[Any] = []

    class Shrinking:
        def __fspath__(self) -> str:
            files.clear()
            return nums

    files.extend([(Shrinking(), 0)] + [(nums, 0)] * 300)
    reader = c_fieldread.FieldReader(files, [], 1)
    assert len(reader.heads()) == 301
    reader.close()


@needs_c
def test_derive_rows_into_its_own_plan_uses_the_plan_it_checked() -> None:
    """`out` sharing the plan's memory: the rows derive from the plan as it was checked, not
    from the indices the first row wrote over it."""
    buf = array("d", [0.0, 0.0, -1.0, 1.0, 1.0])  # one gauge column: raw index 0, scale 1
    c_fieldread.derive_rows(buf, array("d", [0.0]), 0.0, array("d", [1e9, 0.0]),
                            array("d", [1.0, 0.0, 2.0, 0.0]), 2, buf)
    assert list(buf) == [0.0, 1e9, 0.0, 0.0, 1.0]


@needs_c
@pytest.mark.parametrize("method", ["follow", "write"])
def test_a_writer_remade_by_an_arguments_python_code_is_busy(method: str) -> None:
    """An argument's __float__ / __index__ that tries to remake the writer gets RuntimeError
    (busy) instead of leaving the call a writer that is not made (a loop without end, or a
    copy into no memory)."""
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        writer = c_fieldread.RowWriter(fd, array("d", [0, 0, -1, 1, 1]), 1, 1, "null")

        class Remake:
            def __float__(self) -> float:
                writer.__init__(-1, None, 1, 1, "x")
                return 0.0

            def __index__(self) -> int:
                writer.__init__(-1, None, 1, 1, "x")
                return 1

        with pytest.raises(RuntimeError, match="busy"):
            if method == "follow":
                writer.follow(array("d", [0.0]), Remake())
            else:
                writer.write(array("d", [1.0]), array("d", [0.0, 0.0]), Remake())
        writer.write(array("d", [1.0]), array("d", [0.0, 0.0]), 1)  # still made, still works
    finally:
        os.close(fd)
