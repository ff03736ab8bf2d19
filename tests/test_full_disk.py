"""A file that takes no more rows (a full disk, a quota, an I/O error) ends at its last whole row.

Real `memmap` subprocesses under a file-size limit (RLIMIT_FSIZE, which needs no root: a write
past it fails with EFBIG after a partial write, as ENOSPC does on a full disk; Python ignores
SIGXFSZ). `record` stops with one line naming the file and its summary, exit 1; `run` says so
once and watches its command to the end: summary, --json and the command's status.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
from pathlib import Path

from conftest import memmap_cmd, memmap_env

from memmap_tui.csvread import load_recording

LIMIT = 24_000  # bytes: a few dozen rows of the host's columns


def limited(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    return subprocess.run([*memmap_cmd(), *args], cwd=cwd, env=memmap_env(), timeout=60,
                          capture_output=True, text=True, preexec_fn=cap)


def whole_rows(path: Path) -> int:
    """The file's data rows; asserts it ends in a whole row and loads as a recording."""
    data = path.read_bytes()
    assert 0 < len(data) <= LIMIT and data.endswith(b"\n"), data[-80:]
    widths = {line.count(b",") for line in data.splitlines()}
    assert len(widths) == 1, widths  # no row cut short
    rows = data.count(b"\n") - 1
    assert len(load_recording(str(path)).timestamps) == rows
    return rows


def test_record_stops_at_the_last_whole_row_and_says_so(tmp_path: Path) -> None:
    """The C writer's path: rows written in blocks as the batch reads them."""
    out = limited("record", "-o", "r.csv", "--interval", "0.01", "--collectors", "host",
                  "--duration", "20", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    rows = whole_rows(tmp_path / "r.csv")
    lines = out.stderr.strip().splitlines()
    assert lines[0] == (f"memmap: cannot write r.csv: File too large; the file ends at its last "
                        f"whole row ({rows} rows), the rest was not recorded"), out.stderr
    assert lines[1].startswith(f"memmap: recorded {rows} rows over "), out.stderr
    assert len(lines) == 2, out.stderr


def test_run_keeps_watching_its_command_when_its_csv_is_full(tmp_path: Path) -> None:
    """The Python writer's path (several sinks): the CSV ends, the watch goes on to the
    command's end; the summary and --json come out and the command's status is passed on."""
    started = time.monotonic()
    out = limited("run", "--csv", "r.csv", "--json", "s.json", "--interval", "0.02", "--",
                  "sh", "-c", "sleep 3; exit 3", cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    assert time.monotonic() - started >= 3  # the command ran to its end, watched
    rows = whole_rows(tmp_path / "r.csv")
    failures = [line for line in out.stderr.splitlines() if "cannot write" in line]
    said = (f"cannot write r.csv: File too large; the file ends at its last whole row "
            f"({rows} rows), the rest was not recorded")
    # at the moment, and again in the summary at the end (the command's output came between)
    assert failures == [f"memmap: {said}", f"  note      {said}"], out.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["exit_status"] == 3 and summary["samples"] > rows, summary["samples"]
    assert summary["csv"] == {"path": "r.csv", "rows": rows, "error": "File too large"}
    assert "exited with status 3" in out.stderr
