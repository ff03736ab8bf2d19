"""The native /proc reader and its Python twin give the same values from the same files."""

from __future__ import annotations

import math
import shutil
from array import array
from pathlib import Path
from typing import Any, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.host import HostCollector
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
def test_closed_reader_gives_nan(reader: Any, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x 1\n")
    r = reader([(str(path), 0)], [(0, "x", 1, 0, 1.0)], 1)
    r.close()
    r.close()
    row = array("d", [0.0])
    r.read(row)
    assert math.isnan(row[0])


line = st.text(alphabet=st.sampled_from("ab:= \t0123456789.-xyz)("), max_size=40)


@pytest.mark.skipif(fieldread.IMPLEMENTATION != "c", reason="C extension not built here")
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line, max_size=12), st.sampled_from([0, 1, 2, AFTER_PAREN]))
def test_c_and_python_agree_on_any_text(tmp_path: Path, lines: list, key_token: int) -> None:
    path = tmp_path / "fuzz"
    path.write_text("\n".join(lines))
    keys = ["a", "b", "x", "0", ""] if key_token != AFTER_PAREN else [""]
    rules = [(k, t, 1.0) for k in keys for t in range(4)]
    rows = []
    for reader in (fieldread.FieldReader, PyFieldReader):
        plan = plan_for(path, key_token, rules)
        row = plan.new_row()
        plan.reader(reader).read(row)
        rows.append(list(row))
    assert same(rows[0], rows[1])


def test_host_collector_uses_the_native_reader_when_built(data_dir: Path, tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    shutil.copytree(data_dir / "proc_a", proc)
    host = HostCollector(str(proc), str(data_dir / "sys_a"))
    host.open()
    assert type(host._reader) is fieldread.FieldReader
    host.close()
