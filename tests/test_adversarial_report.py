"""Adversarial recordings: what `memmap report` (and the reader under report and replay) does
with files a hostile user, a broken disk or a clock can produce. Real files, real subprocesses.

Every case ends in one of two ways: a report (exit 0) that says what it made of the file, or
one line and exit 2. Never a traceback, "internal error", a hang, unbounded memory, or bytes
from the file that the terminal would obey.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env

from memmap_tui.csvread import MAX_VALUE, NotARecording, load_recording


def report(path: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*memmap_cmd(), "report", path], cwd=cwd, env=memmap_env(),
                          timeout=timeout, capture_output=True, text=True)


def clean(out: subprocess.CompletedProcess) -> None:
    text = out.stdout + out.stderr
    assert "Traceback" not in text and "internal error" not in text, text
    assert "\x1b" not in text, "an escape sequence reached the terminal"


def one_line_exit_2(out: subprocess.CompletedProcess, words: str = "") -> None:
    clean(out)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert words in out.stderr


def write(tmp_path: Path, name: str, data: bytes) -> str:
    (tmp_path / name).write_bytes(data)
    return name


@pytest.mark.parametrize("stamp", [b"nan", b"inf", b"-inf", b"1e300", b"-5", b"NaN"])
def test_a_timestamp_that_is_not_unix_seconds_is_refused(tmp_path: Path, stamp: bytes) -> None:
    name = write(tmp_path, "t.csv", b"timestamp,host.mem.used_bytes\n1796000000,1\n" + stamp
                 + b",2\n")
    one_line_exit_2(report(name, tmp_path), "not Unix seconds")


@pytest.mark.parametrize("value", [b"inf", b"-inf", b"Infinity", b"1e300", b"-1e308"])
def test_infinite_or_absurd_values_are_left_out_and_said(tmp_path: Path, value: bytes) -> None:
    name = write(tmp_path, "v.csv", b"timestamp,host.mem.used_bytes\n1796000000," + value
                 + b"\n1796000001,5\n1796000002,7\n")
    out = report(name, tmp_path)
    clean(out)
    assert out.returncode == 0, out.stderr
    assert "read as not available" in out.stdout and "7 B" in out.stdout


def test_the_reader_counts_what_it_left_out(tmp_path: Path) -> None:
    name = write(tmp_path, "v.csv", b"timestamp,a,b\n1796000000,inf,1e29\n1796000001,2,-1e31\n")
    rec = load_recording(str(tmp_path / name))
    assert rec.dropped == 2 and rec.column("b")[0] == 1e29 and rec.column("a")[1] == 2
    assert all(abs(v) <= MAX_VALUE for c in rec.metrics for v in rec.column(c) if v == v)


@pytest.mark.parametrize("header", ["[/bold]x", "[red]x[/red]", "[link=file:///etc]x[/link]"])
def test_markup_in_column_names_is_printed_as_text(tmp_path: Path, header: str) -> None:
    name = write(tmp_path, "m.csv", f"timestamp,{header}\n1796000000,1\n1796000001,2\n".encode())
    out = report(name, tmp_path)
    clean(out)
    assert out.returncode == 0 and header in out.stdout


def test_markup_in_the_path_is_printed_as_text(tmp_path: Path) -> None:
    (tmp_path / "[bold]").mkdir()
    name = write(tmp_path, "[bold]/x[red].csv",
                 b"timestamp,a\n1796000000,1\n1796000001,2\n")
    out = report(name, tmp_path)
    clean(out)
    assert out.returncode == 0 and out.stdout.startswith("[bold]/x[red].csv: 2 samples")


@pytest.mark.parametrize("header", [b"\x1b]0;pwned\x07\x1b[2Jx", b"a\xc2\x9bb", b"x\xe2\x80\xaey"])
def test_control_characters_in_column_names_are_refused_and_escaped(tmp_path: Path,
                                                                     header: bytes) -> None:
    name = write(tmp_path, "e.csv", b"timestamp," + header + b"\n1796000000,1\n")
    one_line_exit_2(report(name, tmp_path), "control characters")


def test_control_characters_in_a_bad_cell_are_escaped_in_the_message(tmp_path: Path) -> None:
    name = write(tmp_path, "c.csv", b"timestamp,a\n1796000000,\x1b[2J\n")
    one_line_exit_2(report(name, tmp_path), "\\x1b")


def test_timestamps_that_go_backwards_count_as_no_time_and_are_said(tmp_path: Path) -> None:
    name = write(tmp_path, "d.csv", b"timestamp,host.mem.used_bytes\n1796000005,1\n"
                 b"1796000001,2\n1796000002,3\n")
    out = report(name, tmp_path)
    clean(out)
    assert out.returncode == 0
    assert "3 samples over 1.0 s" in out.stdout and "-4" not in out.stdout.splitlines()[0]
    assert "go back 1 time" in out.stdout


@pytest.mark.parametrize("path, words", [("/dev/zero", "character device"),
                                         ("/dev/null", "character device"),
                                         ("FIFO", "FIFO"), (".", "directory")])
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, path: str,
                                                      words: str) -> None:
    if path == "FIFO":
        os.mkfifo(tmp_path / "fifo")
        path = "fifo"
    one_line_exit_2(report(path, tmp_path, timeout=10), words)


@pytest.mark.parametrize("make, words", [
    (lambda: b"timestamp," + b"x" * (10 << 20) + b"\n1,2\n", "longer than 1 MiB"),
    (lambda: b"timestamp," + b"x" * (200 << 20), "longer than 1 MiB"),
    (lambda: b"timestamp,a," + b"y" * 5000 + b"\n1,2,3\n", "a column name of 5000"),
    (lambda: b"timestamp," + b",".join(b"c%d" % i for i in range(20000)) + b"\n", "20001 col"),
    (lambda: b"timestamp,a\n1796000000," + b"9" * 400 + b"\n", "longer than any memmap row"),
    (lambda: b"timestamp,a\n1796000000," + b"1" * 40 + b"\n", "a cell longer"),
    (lambda: b"timestamp,a,b\n1796000000," + b"1" * 40 + b",\n", "a cell longer"),
    (lambda: b"timestamp,a\n" + b"1796000000,1" * 100000, "longer than any memmap row"),
])
def test_huge_lines_are_refused_quickly(tmp_path: Path, make, words: str) -> None:
    name = write(tmp_path, "h.csv", make())
    one_line_exit_2(report(name, tmp_path, timeout=20), words)


def test_digits_of_other_scripts_are_not_numbers(tmp_path: Path) -> None:
    name = write(tmp_path, "u.csv", "timestamp,a\n1796000000,\u0663\n".encode())
    one_line_exit_2(report(name, tmp_path), "is not a number")


@pytest.mark.parametrize("cell", ["1_000", "1_0.5", "1e1_0"])
def test_python_digit_grouping_is_not_a_number(tmp_path: Path, cell: str) -> None:
    name = write(tmp_path, "g.csv", f"timestamp,host.cpu.util_percent\n1796000000,5\n"
                                    f"1796000001,{cell}\n1796000002,7\n".encode())
    out = report(name, tmp_path)
    one_line_exit_2(out)
    assert out.stderr == (f"memmap: error: g.csv line 3: '{cell}' in column "
                          "host.cpu.util_percent is not a number\n")


def test_every_number_form_memmap_writes_is_read(tmp_path: Path) -> None:
    """%.6f timestamps, %.12g values, integers, empty cells, exponents (the CSV sink's forms)."""
    name = write(tmp_path, "w.csv", b"timestamp,a,b,c\n1796000000.000000,12,1e+20,\n"
                                    b"1796000000.500000,0.333333333333,-2.5e-07,4\n")
    rec = load_recording(str(tmp_path / name))
    assert list(rec.timestamps) == [1796000000.0, 1796000000.5]
    assert list(rec.column("a")) == [12.0, 0.333333333333]
    assert list(rec.column("b")) == [1e20, -2.5e-07]
    assert math.isnan(rec.column("c")[0]) and rec.column("c")[1] == 4.0
    assert rec.dropped == 0 and not rec.cut


def test_the_reader_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f")
    with pytest.raises(NotARecording, match="FIFO"):
        load_recording(str(tmp_path / "f"))


def test_a_real_recording_still_reports(tmp_path: Path) -> None:
    out = subprocess.run([*memmap_cmd(), "record", "-o", "r.csv", "--interval", "0.1",
                          "--duration", "1"], cwd=tmp_path, env=memmap_env(), timeout=30,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rep = report("r.csv", tmp_path)
    clean(rep)
    assert rep.returncode == 0 and re.search(r"r\.csv: \d+ samples over", rep.stdout)
    assert "note:" not in rep.stdout
