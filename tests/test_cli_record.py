"""`memmap record` and the CLI's handling of bad input, run as a real subprocess."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env


def memmap(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*memmap_cmd(), *args], cwd=cwd, env=memmap_env(), timeout=timeout,
                          capture_output=True, text=True)


def test_version_names_the_program(tmp_path: Path) -> None:
    out = memmap("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("memmap ")


def test_record_writes_contract_columns_at_the_interval(tmp_path: Path) -> None:
    out = memmap("record", "-o", "r.csv", "--interval", "0.1", "--duration", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert 9 <= len(rows) <= 13
    for column in ("timestamp", "host.cpu.util_percent", "host.mem.used_bytes",
                   "host.disk.read_bytes_per_second", "host.net.tx_bytes_per_second"):
        assert column in rows[0]
    assert rows[0]["host.disk.read_bytes_per_second"] == ""  # first frame: no rate yet
    assert float(rows[-1]["host.mem.used_bytes"]) > 0
    assert "recorded" in out.stderr and "rows" in out.stderr


@pytest.mark.parametrize("args, words", [
    (["record", "-o", "keep.csv", "--duration", "1"], "exists"),
    (["record", "-o", "/nonexistent-dir/x.csv", "--duration", "1"], "cannot write"),
    (["record", "-o", "a.csv", "--interval", "0"], "interval"),
    (["record", "-o", "a.csv", "--interval", "-1"], "interval"),
    (["record", "-o", "a.csv", "--interval", "abc"], "abc"),
    (["record", "-o", "a.csv", "--duration", "-5"], "duration"),
    (["record", "-o", "a.csv", "--pid", "999999999"], "no such process"),
    (["record", "-o", "a.csv", "--pid", "notapid"], "notapid"),
    (["record", "-o", "a.csv", "--collectors", "nosuchcollector"], "nosuchcollector"),
    (["record", "--duration", "1"], "-o"),
    (["nosuchcommand"], "nosuchcommand"),
])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(tmp_path: Path, args: list,
                                                          words: str) -> None:
    (tmp_path / "keep.csv").write_text("precious")
    out = memmap(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr + out.stdout
    lines = out.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 3 and words in out.stderr
    assert (tmp_path / "keep.csv").read_text() == "precious"
    assert not (tmp_path / "a.csv").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_finishes_the_row_flushes_and_exits_0(tmp_path: Path, sig: int) -> None:
    path = tmp_path / "s.csv"
    proc = subprocess.Popen([*memmap_cmd(), "record", "-o", str(path), "--interval", "0.05"],
                            env=memmap_env(), cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (not path.exists() or
                                           len(path.read_text().splitlines()) < 6):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    text = path.read_text()
    assert text.endswith("\n")
    rows = list(csv.reader(text.splitlines()))
    assert len(rows) >= 7 and all(len(r) == len(rows[0]) for r in rows)
    assert f"recorded {len(rows) - 1} rows" in err


def test_collectors_command_lists_host_as_available(tmp_path: Path) -> None:
    out = memmap("collectors", cwd=tmp_path)
    assert out.returncode == 0
    host = [line for line in out.stdout.splitlines() if line.startswith("host ")]
    assert host and " yes " in host[0]


def test_help_teaches_with_examples(tmp_path: Path) -> None:
    out = memmap("record", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "examples:" in out.stdout and "--force" in out.stdout


def test_existing_output_is_replaced_only_with_force(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("old")
    out = memmap("record", "-o", "r.csv", "--duration", "0.3", "--interval", "0.1", "--force",
                 cwd=tmp_path)
    assert out.returncode == 0 and (tmp_path / "r.csv").read_text().startswith("timestamp,")


def test_unwritable_location_fails_before_sampling(tmp_path: Path) -> None:
    (tmp_path / "plainfile").write_text("not a directory")
    out = memmap("record", "-o", str(tmp_path / "plainfile" / "x.csv"), "--duration", "1",
                 cwd=tmp_path)
    assert out.returncode == 2 and "cannot write" in out.stderr
    assert (tmp_path / "plainfile").read_text() == "not a directory"


def test_a_directory_as_output_is_refused(tmp_path: Path) -> None:
    out = memmap("record", "-o", str(tmp_path), "--duration", "1", cwd=tmp_path)
    assert out.returncode == 2 and "directory" in out.stderr
