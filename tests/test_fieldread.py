"""The native /proc reader and its Python twin give the same values from the same files: the
host's files and the per-process ones (stat, io, status, smaps_rollup), from fake trees and from
snapshots of the real /proc; and the native reader's short reads give the values of whole ones."""

from __future__ import annotations

import csv
import math
import os
import random
import shutil
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Any, List

import pytest
from conftest import memmap_cmd, memmap_env
from fakeproc import FakeProc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memmap_tui.collectors.host import STAT_PERIOD, HostCollector
from memmap_tui.collectors.process import ProcessCollector
from memmap_tui.collectors.procfs import PAGE_BYTES, ProcFiles

from memmap_tui import fieldread
from memmap_tui.fieldread import AFTER_PAREN, PyFieldReader, RowPlan

IMPLEMENTATIONS = [pytest.param(PyFieldReader, id="python")]
if fieldread.IMPLEMENTATION == "c":
    IMPLEMENTATIONS.append(pytest.param(fieldread.FieldReader, id="c"))
else:
    IMPLEMENTATIONS.append(pytest.param(None, id="c", marks=pytest.mark.skip(
        reason="C extension not built in this checkout (pip install . builds it)")))

HOST_FILES = ["stat", "meminfo", "vmstat", "diskstats", "net/dev", "pressure/io",
              "pressure/memory", "pressure/cpu"]


def same(a: List[float], b: List[float]) -> bool:
    return all((math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b)) and \
        len(a) == len(b)


def host_row(proc: Path, sys_root: Path, reader: Any) -> List[float]:
    host = HostCollector(str(proc), str(sys_root), reader_class=reader)
    host.open()
    try:
        return list(host.collect())
    finally:
        host.close()


def snapshot_real_proc(dest: Path) -> Path:
    for rel in HOST_FILES:
        src = Path("/proc") / rel
        try:
            text = src.read_bytes()
        except OSError:
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(text)
    return dest


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_fake_tree_matches_the_python_twin(reader: Any, data_dir: Path) -> None:
    proc, sys_root = data_dir / "proc_a", data_dir / "sys_a"
    assert same(host_row(proc, sys_root, reader), host_row(proc, sys_root, PyFieldReader))


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_snapshot_of_the_real_proc_matches_the_python_twin(reader: Any, tmp_path: Path) -> None:
    proc = snapshot_real_proc(tmp_path / "proc")
    row = host_row(proc, Path("/sys"), reader)
    assert same(row, host_row(proc, Path("/sys"), PyFieldReader))
    assert not math.isnan(row[0])  # CPU seconds were found


def plan_for(path: Path, key_token: int, rules: list) -> RowPlan:
    plan = RowPlan()
    f = plan.file(str(path), key_token)
    for key, token, coef in rules:
        plan.add(f, key, token, plan.slot(), coef)
    return plan


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_stat_fields_after_the_command_name(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "stat"
    path.write_text("4242 (evil) name (x) S 1 4242 4242 0 -1 4194304 500 0 7 0 25 13\n")
    plan = plan_for(path, AFTER_PAREN, [("", 0, 1.0), ("", 1, 1.0), ("", 11, 1.0)])
    row = plan.new_row()
    plan.reader(reader).read(row)
    assert math.isnan(row[0])  # the state letter is not a number
    assert list(row)[1:] == [1.0, 25.0]


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_a_file_without_a_paren_gives_all_its_tokens(reader: Any, tmp_path: Path) -> None:
    """/sys/block/<disk>/stat: one line of numbers, no key (block/genhd.c part_stat_show
    pads each with spaces to a width of 8)."""
    path = tmp_path / "stat"
    path.write_text("  241139    82347 14470438    93520   363032   243497 27446032   860395"
                    "        0   526068   976548        0        0        0        0    28795"
                    "    22632\n")
    plan = plan_for(path, AFTER_PAREN, [("", 0, 1.0), ("", 2, 512.0), ("", 16, 1.0),
                                        ("", 17, 1.0)])
    row = plan.new_row()
    plan.reader(reader).read(row)
    assert list(row)[:3] == [241139.0, 14470438.0 * 512, 22632.0]
    assert math.isnan(row[3])  # an 18th field (a later kernel's) is not there


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_rules_sum_with_coefficients_into_one_slot(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "meminfo"
    path.write_text("MemTotal: 100 kB\nMemAvailable: 30 kB\n")
    plan = RowPlan()
    f = plan.file(str(path))
    used = plan.slot()
    plan.add(f, "MemTotal", 1, used, 1024.0)
    plan.add(f, "MemAvailable", 1, used, -1024.0)
    row = plan.new_row()
    plan.reader(reader).read(row)
    assert row[0] == 70 * 1024


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_a_missing_key_makes_its_slot_nan(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("a 1\nb 2\n")
    plan = plan_for(path, 0, [("a", 1, 1.0), ("zz", 1, 1.0), ("b", 5, 1.0)])
    row = plan.new_row()
    plan.reader(reader).read(row)
    assert row[0] == 1.0 and math.isnan(row[1]) and math.isnan(row[2])


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_files_larger_than_the_buffer_are_read_whole(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_text("".join(f"filler{i} {i}\n" for i in range(20000)) + "last 77\n")
    plan = plan_for(path, 0, [("last", 1, 1.0), ("filler19999", 1, 1.0)])
    row = plan.new_row()
    plan.reader(reader).read(row)
    assert list(row) == [77.0, 19999.0]


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_reads_again_from_the_start_each_time(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x 1\n")
    plan = plan_for(path, 0, [("x", 1, 1.0)])
    r, row = plan.reader(reader), plan.new_row()
    r.read(row)
    path.write_text("x 2\n")
    r.read(row)
    assert row[0] == 2.0


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_bad_arguments_raise_value_error(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x 1\n")
    with pytest.raises(ValueError):
        reader([(str(path), 0)], [(0, "x", 1, 5, 1.0)], 2)  # slot out of range
    with pytest.raises(ValueError):
        reader([(str(path), 0)], [], 0)
    r = reader([(str(path), 0)], [(0, "x", 1, 0, 1.0)], 1)
    with pytest.raises(ValueError):
        r.read(array("d", [0.0, 0.0]))
    with pytest.raises(ValueError):
        reader([(str(path), 0), (str(path), 0)], [(1, "x", 1, 0, 1.0), (0, "x", 1, 0, 1.0)], 1)


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_a_missing_file_is_an_os_error(reader: Any, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        reader([(str(tmp_path / "nope"), 0)], [], 1)


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_read_after_close_raises_value_error(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x 1\n")
    r = reader([(str(path), 0)], [(0, "x", 1, 0, 1.0)], 1)
    r.close()
    r.close()  # idempotent
    with pytest.raises(ValueError, match="FieldReader.read: the reader is closed"):
        r.read(array("d", [0.0]))


line = st.text(alphabet=st.sampled_from("ab:= \t0123456789.-xyz)("), max_size=40)


@pytest.mark.skipif(fieldread.IMPLEMENTATION != "c", reason="C extension not built here")
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, max_size=12), st.sampled_from([0, 1, 2, AFTER_PAREN]))
def test_c_and_python_agree_on_any_text(tmp_path: Path, lines: list, key_token: int) -> None:
    path = tmp_path / "fuzz"
    path.write_text("\n".join(lines))
    keys = ["a", "b", "x", "0", ""] if key_token != AFTER_PAREN else [""]
    rules = [(k, t, 1.0) for k in keys for t in range(4)]
    rows, heads = [], []
    for reader in (fieldread.FieldReader, PyFieldReader):
        plan = plan_for(path, key_token, rules)
        row, r = plan.new_row(), plan.reader(reader)
        r.read(row)
        rows.append(list(row))
        heads.append((r.head(), r.heads()))
    assert same(rows[0], rows[1])
    assert heads[0] == heads[1]


def test_host_collector_uses_the_native_reader_when_built(data_dir: Path, tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(data_dir / "proc_a", proc)
    host = HostCollector(str(proc), str(data_dir / "sys_a"))
    host.open()
    assert type(host._reader) is fieldread.FieldReader
    host.close()


# -- short reads: once it knows where its lines are, the C reader asks for only that much -------

@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_a_wanted_line_that_moves_past_the_cut_is_still_found(reader: Any,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "vmstat"
    filler = "".join(f"counter_{i} {i}\n" for i in range(400))
    path.write_text("pgfault 5\n" + filler)
    plan = plan_for(path, 0, [("pgfault", 1, 1.0)])
    r, row = plan.reader(reader), plan.new_row()
    r.read(row)
    assert row[0] == 5.0
    path.write_text(filler + "pgfault 6\n")  # now far beyond what the last read needed
    r.read(row)
    assert row[0] == 6.0
    path.write_text("pgfault 7\n" + filler)
    r.read(row)
    assert row[0] == 7.0


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_a_number_cut_by_a_short_read_is_never_taken(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    tail = "".join(f"z{i} {i}\n" for i in range(200))
    plan = plan_for(path, 0, [("key", 1, 1.0)])
    # The line moves down to straddle every byte count the short read may ask for.
    for pad in range(240, 270):
        path.write_text("key 1\n" + tail)
        r, row = plan.reader(reader), plan.new_row()
        r.read(row)  # learns where the line ends
        path.write_text("#" * pad + "\nkey 123456789\n" + tail)
        r.read(row)
        assert row[0] == 123456789.0, pad
        r.close()


@pytest.mark.skipif(fieldread.IMPLEMENTATION != "c", reason="C extension not built here")
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, 40), min_size=3, max_size=8), st.integers(0, 2**40),
       st.integers(0, 2**40), st.randoms(use_true_random=False))
def test_short_reads_give_what_whole_reads_give(tmp_path: Path, sizes: list, first: int,
                                                 second: int, rnd: random.Random) -> None:
    path = tmp_path / "seq"

    def text(value: int) -> str:
        lines = [f"f{i}_{'x' * n} {n}" for i, n in enumerate(sizes * 20)]
        lines.insert(rnd.randrange(len(lines) + 1), f"wanted {value} kB")
        lines.insert(rnd.randrange(len(lines) + 1), f"other: {value // 3}")
        return "\n".join(lines) + "\n"

    path.write_text(text(first))
    plan = plan_for(path, 0, [("wanted", 1, 1.0), ("other", 1, 2.0)])
    c_reader, twin = plan.reader(fieldread.FieldReader), plan.reader(PyFieldReader)
    for value in (first, second, first):
        path.write_text(text(value))
        c_row, twin_row = plan.new_row(), plan.new_row()
        c_reader.read(c_row)
        twin.read(twin_row)
        assert list(c_row) == list(twin_row) == [float(value), 2.0 * (value // 3)]


# -- per-process files --------------------------------------------------------------------------

@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_head_is_the_pid_name_and_state(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "stat"
    path.write_text("4242 (evil) name (x) S 1 4242 4242 0 -1\n")
    r = reader([(str(path), AFTER_PAREN)], [(0, "", 1, 0, 1.0)], 1)
    assert r.head() == b""
    r.read(array("d", [0.0]))
    assert r.head() == b"4242 (evil) name (x) S"


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_heads_gives_each_stat_files_head_and_nothing_for_other_files(reader: Any,
                                                                      tmp_path: Path) -> None:
    first, io, second = tmp_path / "1.stat", tmp_path / "io", tmp_path / "2.stat"
    first.write_text("11 (a b) c) R 1 11\n")
    io.write_text("rchar: 5\n")
    second.write_text("12 (x) D 11 12\n")
    r = reader([(str(first), AFTER_PAREN), (str(io), 0), (str(second), AFTER_PAREN)],
               [(0, "", 1, 0, 1.0), (1, "rchar", 1, 1, 1.0), (2, "", 1, 2, 1.0)], 3)
    assert r.heads() == [b"", b"", b""]
    row = array("d", [0.0]) * 3
    r.read(row)
    assert r.heads() == [b"11 (a b) c) R", b"", b"12 (x) D"]
    assert r.head() == b"12 (x) D"  # head() stays the last one's
    assert list(row) == [1.0, 5.0, 11.0]
    second.write_text("12 (y) Z 11 12\n")
    r.read(row)
    assert r.heads() == [b"11 (a b) c) R", b"", b"12 (y) Z"]


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_a_read_that_fails_keeps_the_heads_of_the_files_it_did_not_reach(reader: Any) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    files = [(f"/proc/{os.getpid()}/stat", AFTER_PAREN), (f"/proc/{child.pid}/stat", AFTER_PAREN),
             ("/proc/1/stat", AFTER_PAREN)]
    r = reader(files, [(i, "", 1, i, 1.0) for i in range(3)], 3)
    r.read(array("d", [0.0]) * 3)
    before = r.heads()
    assert [h.split(b" ")[0] for h in before] == [str(p).encode() for p in
                                                   (os.getpid(), child.pid, 1)]
    child.kill()
    child.wait()  # reaped: its kept descriptor now reads ESRCH
    with pytest.raises(OSError) as failed:
        r.read(array("d", [0.0]) * 3)
    assert failed.value.filename == files[1][0]
    assert r.heads()[1:] == before[1:]


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_a_failed_read_names_its_file(reader: Any, tmp_path: Path) -> None:
    good, bad = tmp_path / "stat", tmp_path / "io"
    good.write_text("1 (a) S 0\n")
    bad.mkdir()  # opens, but reading it fails (EISDIR)
    r = reader([(str(good), AFTER_PAREN), (str(bad), 0)], [(0, "", 1, 0, 1.0)], 1)
    with pytest.raises(OSError) as failed:
        r.read(array("d", [0.0]))
    assert failed.value.filename == str(bad)
    with pytest.raises(OSError) as missing:
        reader([(str(good), 0), (str(tmp_path / "gone"), 0)], [], 1)
    assert missing.value.filename == str(tmp_path / "gone")


def process_values(root: Path, pid: int, reader: Any) -> list:
    """Values and table of a ProcessCollector over `root`, two ticks (the second has rates)."""
    c = ProcessCollector(pid, proc_root=str(root), clock=iter([1.0, 2.0, 3.0, 4.0]).__next__,
                         reader_class=reader)
    c.open()
    try:
        first = list(c.collect())
        return [first, list(c.collect()), c.table()]
    finally:
        c.close()


def same_tables(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return False
        for k in x:
            vx, vy = x[k], y[k]
            if isinstance(vx, float) and isinstance(vy, float):
                if not same([vx], [vy]):
                    return False
            elif vx != vy:
                return False
    return True


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_fake_process_tree_matches_the_python_twin(reader: Any, tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc", delayacct=1)
    fake.process(100, 1, name="train (main)", utime=250, rchar=10_000, rss_pages=900,
                 delay_ticks=7, threads=5)
    fake.process(101, 100, name="loader 1", utime=40, rchar=333, rss_pages=100)
    fake.process(102, 100, name="zombie", state="Z")
    fake.process(103, 101, name="no io", io=False)
    ours = process_values(fake.root, 100, reader)
    twin = process_values(fake.root, 100, PyFieldReader)
    assert same(ours[0], twin[0]) and same(ours[1], twin[1])
    assert same_tables(ours[2], twin[2])
    rows = {row["pid"]: row for row in ours[2]}
    assert rows[100]["name"] == "train (main)" and rows[100]["threads"] == 5
    assert rows[100]["rss_bytes"] == 900 * PAGE_BYTES
    assert rows[102]["state"] == "Z" and rows[103]["unavailable"]["io"]


def snapshot_process(pid: int, dest: Path) -> Path:
    """Copies of /proc/PID/{stat,io,status,smaps_rollup} under dest/PID."""
    (dest / str(pid)).mkdir(parents=True)
    for name in ("stat", "io", "status", "smaps_rollup"):
        try:
            (dest / str(pid) / name).write_bytes((Path("/proc") / str(pid) / name).read_bytes())
        except OSError:
            pass
    return dest


@pytest.fixture
def oddly_named_child():  # type: ignore[no-untyped-def]
    """A live child whose command name holds spaces and parentheses, as stat shows it."""
    code = ("import sys; open('/proc/self/comm', 'w').write('a) (b c'); "
            "print('ready', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    yield child.pid
    assert child.stdin is not None
    child.stdin.close()
    child.wait()


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_snapshot_of_real_process_files_matches_the_twin_and_the_text(
        reader: Any, tmp_path: Path, oddly_named_child: int) -> None:
    for pid in (os.getpid(), oddly_named_child):
        root = snapshot_process(pid, tmp_path / f"snap{pid}")
        ours, twin = ProcFiles(str(root), pid, reader), ProcFiles(str(root), pid, PyFieldReader)
        assert ours.sample() == twin.sample()
        assert ours.memory() == twin.memory()
        stat, io = ours.sample()
        raw = (root / str(pid) / "stat").read_bytes()
        fields = raw[raw.rfind(b")") + 2:].split()
        assert stat.name == raw[raw.find(b"(") + 1:raw.rfind(b")")]
        assert (stat.state, stat.ppid, stat.start_ticks) == (fields[0], int(fields[1]),
                                                             int(fields[19]))
        assert stat.rss_bytes == int(fields[21]) * PAGE_BYTES
        io_text = dict(line.split(": ") for line in
                       (root / str(pid) / "io").read_text().splitlines())
        assert io == (float(io_text["rchar"]), float(io_text["wchar"]),
                      float(io_text["read_bytes"]), float(io_text["write_bytes"]),
                      float(io_text["syscr"]), float(io_text["syscw"]))
        ours.close()
        twin.close()
    assert ProcFiles(str(tmp_path / f"snap{oddly_named_child}"), oddly_named_child,
                     reader).stat().name == b"a) (b c"


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_status_of_a_real_process_is_read_like_its_text(reader: Any, tmp_path: Path) -> None:
    root = snapshot_process(os.getpid(), tmp_path)
    status = root / str(os.getpid()) / "status"
    fields = {k: v.split() for k, v in (line.split(":", 1) for line in
                                        status.read_text().splitlines())}
    keys = [k for k in ("Tgid", "PPid", "Threads", "VmRSS", "RssAnon", "VmSwap") if k in fields]
    plan = plan_for(status, 0, [(k, 1, 1024.0 if k.startswith(("Vm", "Rss")) else 1.0)
                                for k in keys])
    row = plan.new_row()
    plan.reader(reader).read(row)
    expected = [float(fields[k][0]) * (1024.0 if k.startswith(("Vm", "Rss")) else 1.0)
                for k in keys]
    assert list(row) == expected and row[0] == os.getpid()


@pytest.mark.parametrize("reader", IMPLEMENTATIONS)
def test_rules_of_a_key_spread_out_and_lines_out_of_order_are_all_found(reader: Any,
                                                                         tmp_path: Path) -> None:
    """The C reader skips decided rules and ends a key's rules at its last one: rules of one
    key far apart, lines in another order than the rules, a missing line and a repeated one
    still give the twin's values."""
    path = tmp_path / "stat"
    path.write_text("cpu2 7 8\ncpu0 1 2\ncpu10 9 9\ncpu0 5 5\ncpu1 3 4\nother 1\n")
    plan = RowPlan()
    f = plan.file(str(path))
    slots = [plan.slot() for _ in range(4)]
    for key, token, slot in (("cpu0", 1, 0), ("cpu1", 1, 1), ("cpu3", 1, 2), ("cpu0", 2, 3),
                             ("cpu2", 2, 1), ("cpu1", 2, 0), ("cpu0", 1, 3)):
        plan.add(f, key, token, slots[slot])
    row, twin = plan.new_row(), plan.new_row()
    plan.reader(reader).read(row)
    plan.reader(PyFieldReader).read(twin)
    assert same(list(row), list(twin))
    assert row[0] == 1 + 4 and row[1] == 3 + 8 and math.isnan(row[2]) and row[3] == 2 + 1


@pytest.mark.skipif(fieldread.IMPLEMENTATION != "c", reason="C extension not built here")
def test_a_schedule_reads_a_file_with_a_period_only_that_often() -> None:
    """/proc/self/io's rchar grows with every read this process makes, so it differs at every
    read: the file without a period changes every tick, the one with a period of 10 ticks only
    every 10th (its values held between), and read() reads both."""
    from memmap_tui._fieldread import FieldReader

    io = "/proc/self/io"
    reader = FieldReader([(io, 0), (io, 0, 0.01)], [(0, "rchar", 1, 0, 1.0),
                                                    (1, "rchar", 1, 1, 1.0)], 2)
    ticks = 60
    rows, stamps = array("d", [0.0]) * (2 * ticks), array("d", [0.0]) * (2 * ticks)
    done, _, missed = reader.read_schedule(rows, stamps, time.monotonic(), 0.001, 0, ticks)
    assert done == ticks
    every = [rows[2 * t] for t in range(done)]
    held = [rows[2 * t + 1] for t in range(done)]
    assert all(b > a for a, b in zip(every, every[1:]))
    changes = [t for t in range(1, done) if held[t] != held[t - 1]]
    assert changes, held
    # ten ticks apart; fewer rows where late ticks skipped slots (none on an idle machine)
    assert all(b - a >= 10 - missed for a, b in zip(changes, changes[1:])), (changes, missed)
    assert len(changes) >= (done - 10 - missed) // 10
    # read in file order: after file 0 on the ticks it is read, from before it on the others
    assert all((held[t] > every[t]) == (t == 0 or t in changes) for t in range(done))
    row = array("d", [0.0, 0.0])
    reader.read(row)
    again = array("d", [0.0, 0.0])
    reader.read(again)
    assert again[1] > row[1] > held[-1]


def test_host_cpu_columns_are_filled_once_a_stat_period_at_1_khz(tmp_path: Path) -> None:
    """/proc/stat is read once every STAT_PERIOD (0.1 s; its CPU times count kernel ticks):
    at 1 kHz the CPU columns are filled on one row in a hundred, each over the time since the
    last, and never a 1 ms 0 % / 100 %; memory, read every tick, is in every row."""
    out = tmp_path / "k.csv"
    done = subprocess.run([*memmap_cmd(), "record", "-o", str(out), "--interval", "0.001",
                           "--duration", "1", "--collectors", "host"], cwd=tmp_path,
                          env=memmap_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 900
    tick = STAT_PERIOD
    filled = [i for i, row in enumerate(rows) if row["host.cpu.util_percent"] != ""]
    gaps = [b - a for a, b in zip(filled, filled[1:])]
    assert len(filled) <= 1.05 * len(rows) * 0.001 / tick + 2, len(filled)
    assert len(filled) >= 0.5 * len(rows) * 0.001 / tick, len(filled)
    # in time, not rows (a late tick skips whole slots, so the next read comes fewer rows on),
    # and typically: a read due on time after a late one comes less than a tick after it
    seconds = sorted(float(rows[b]["timestamp"]) - float(rows[a]["timestamp"])
                     for a, b in zip(filled, filled[1:]))
    assert seconds[len(seconds) // 2] >= 0.9 * tick, (gaps, seconds)
    assert all(0.0 <= float(rows[i]["host.cpu.util_percent"]) <= 100.0 for i in filled)
    assert sum(row["host.mem.used_bytes"] != "" for row in rows) >= len(rows) - 1


def test_a_held_files_numbers_show_only_as_ratios() -> None:
    """A file with a period holds its numbers between reads: any column made of them must be
    a ratio of two of them (NaN while held), never a per-second rate (0, then all at once)."""
    host = HostCollector()
    host.open()
    try:
        plan, specs = host._plan, host.metrics()
        held = {i for i, (_, _, period) in enumerate(plan.files) if period > 0}
        assert held, plan.files  # /proc/stat
        slots = {rule[3] for rule in plan.rules if rule[0] in held}
        assert slots
        for slot in slots:
            spec = specs[slot]
            assert spec.column is None or spec.per, spec
    finally:
        host.close()
