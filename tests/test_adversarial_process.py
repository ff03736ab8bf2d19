"""Adversarial processes for the process collector: ones that exec (every `memmap run`, shell
wrappers, launchers), kernel threads, other users' processes, and a kernel that leaves lines
out. Real processes and the real /proc, except where a kernel line is taken away (a row).

After exec the kept smaps_rollup descriptor names the released address space; memory must
follow the new one, never read 0 while RSS says otherwise. A line the kernel does not give is
NaN. A sum over processes memmap could not read says so in the CSV and the run summary.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env
from memmap_tui.collectors import procfs
from memmap_tui.collectors.procfs import (
    NO_MEMORY,
    S_ANONYMOUS,
    S_PRIVATE_CLEAN,
    S_PSS,
    S_PSS_ANON,
    S_PSS_FILE,
    S_RSS,
    S_SWAP,
    SMAPS_KEYS,
    ProcFiles,
    memory_from_row,
)

HELD_MIB = 120
HOLD = f"""
import sys, time
buf = bytearray({HELD_MIB} * 2**20)
for i in range(0, len(buf), 4096): buf[i] = 1
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 3)
"""


def hold_script(tmp_path: Path) -> Path:
    path = tmp_path / "hold.py"
    path.write_text(HOLD)
    return path


def rows_of(path: Path) -> list:
    return list(csv.DictReader(open(path)))


def number(row: dict, column: str) -> float:
    return float(row[column]) if row.get(column) else math.nan


def check_memory_follows(rows: list) -> None:
    held = HELD_MIB * 2**20
    pss = [number(r, "proc.pss_bytes") for r in rows]
    uss = [number(r, "proc.uss_bytes") for r in rows]
    assert max(v for v in pss if v == v) >= 0.9 * held
    assert max(v for v in uss if v == v) >= 0.9 * held
    for r in rows:
        rss, p = number(r, "proc.rss_bytes"), number(r, "proc.pss_bytes")
        if rss > 0.9 * held and p == p:
            assert p >= 0.5 * held, f"PSS {p:.0f} while RSS {rss:.0f}"


def test_record_pid_follows_a_shell_that_execs(tmp_path: Path) -> None:
    hold = hold_script(tmp_path)
    shell = subprocess.Popen(["sh", "-c", f"sleep 1; exec {sys.executable} {hold} 2.5"])
    time.sleep(0.2)
    out = subprocess.run([*memmap_cmd(), "record", "-o", "a.csv", "--interval", "0.25",
                          "--pid", str(shell.pid)], cwd=tmp_path, env=memmap_env(),
                         capture_output=True, text=True, timeout=60)
    shell.wait()
    assert out.returncode == 0, out.stderr
    check_memory_follows(rows_of(tmp_path / "a.csv"))


def test_an_exec_that_keeps_the_command_name_is_followed(tmp_path: Path) -> None:
    """python execs python: the name in stat does not change; the kept descriptor's ESRCH
    (or empty rollup) is what shows the exec."""
    hold = hold_script(tmp_path)
    code = (f"import os, sys, time; time.sleep(1); "
            f"os.execv(sys.executable, [sys.executable, {str(hold)!r}, '2.5'])")
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.2)
    out = subprocess.run([*memmap_cmd(), "record", "-o", "b.csv", "--interval", "0.25",
                          "--pid", str(proc.pid)], cwd=tmp_path, env=memmap_env(),
                         capture_output=True, text=True, timeout=60)
    proc.wait()
    assert out.returncode == 0, out.stderr
    check_memory_follows(rows_of(tmp_path / "b.csv"))


def test_run_of_a_launcher_that_execs_reports_the_real_peak(tmp_path: Path) -> None:
    hold = hold_script(tmp_path)
    out = subprocess.run([*memmap_cmd(), "run", "--csv", "c.csv", "--json", "c.json",
                          "--interval", "0.25", "--", "sh", "-c",
                          f"sleep 0.5; exec {sys.executable} {hold} 2"],
                         cwd=tmp_path, env=memmap_env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "c.json").read_text())
    peak_pss = summary["memory"]["peak_pss_bytes"]
    assert peak_pss >= 0.9 * HELD_MIB * 2**20, summary["memory"]
    check_memory_follows(rows_of(tmp_path / "c.csv"))


def test_procfiles_read_the_new_address_space_after_exec(tmp_path: Path) -> None:
    hold = hold_script(tmp_path)
    proc = subprocess.Popen(["sh", "-c", f"read x; exec {sys.executable} {hold} 3"],
                            stdin=subprocess.PIPE)
    try:
        time.sleep(0.2)
        files = ProcFiles("/proc", proc.pid)
        files.sample()
        before = files.memory()
        assert before is not None and 0 < before.pss < 20 * 2**20
        proc.stdin.write(b"go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st, _ = files.sample()
            if st.rss_bytes > HELD_MIB * 2**20:
                break
            time.sleep(0.1)
        after = files.memory()
        assert after is not None and after.pss > 0.9 * HELD_MIB * 2**20, after
        files.close()
    finally:
        proc.kill()
        proc.wait()


def smaps_row(**lines: float) -> array:
    row = array("d", [math.nan]) * len(SMAPS_KEYS)
    for key, value in lines.items():
        row[SMAPS_KEYS.index(key)] = value
    return row


def test_a_line_the_kernel_does_not_give_is_nan_never_zero() -> None:
    empty = memory_from_row(smaps_row())
    assert all(math.isnan(v) for v in empty)
    no_pss = memory_from_row(smaps_row(Rss=4096.0, Private_Clean=0.0, Private_Dirty=8.0,
                                       Anonymous=8.0, Swap=0.0))
    assert math.isnan(no_pss.pss) and no_pss.uss == 8.0 and no_pss.anon == 8.0
    assert no_pss.file == 4088.0 and no_pss.swap == 0.0
    old_kernel = memory_from_row(smaps_row(Rss=100.0, Pss=50.0, Private_Clean=1.0,
                                           Private_Dirty=2.0))
    assert old_kernel.pss == 50.0 and old_kernel.uss == 3.0
    assert math.isnan(old_kernel.anon) and math.isnan(old_kernel.swap)
    assert S_PSS != S_RSS and S_PSS_ANON != S_PSS_FILE and S_ANONYMOUS != S_SWAP
    assert S_PRIVATE_CLEAN >= 0


def kernel_thread_pid() -> int:
    for pid in (2, 3):
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[6]) & procfs.PF_KTHREAD:
            return pid
    pytest.skip("no kernel thread visible here")


def test_a_kernel_thread_owns_no_memory_and_is_not_unreadable() -> None:
    pid = kernel_thread_pid()
    files = ProcFiles("/proc", pid)
    files.sample()
    assert files.memory() == NO_MEMORY and "smaps_rollup" not in files.unavailable
    files.close()


def test_watching_kthreadd_does_not_say_smaps_is_unreadable(tmp_path: Path) -> None:
    pid = kernel_thread_pid()
    out = subprocess.run([*memmap_cmd(), "record", "-o", "k.csv", "--interval", "0.2",
                          "--duration", "0.6", "--pid", str(pid)], cwd=tmp_path,
                         env=memmap_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "smaps_rollup unreadable" not in out.stderr and "No such process" not in out.stderr
    last = rows_of(tmp_path / "k.csv")[-1]
    assert number(last, "proc.pss_bytes") == 0.0 and number(last, "proc.unread_memory_count") == 0


@pytest.mark.parametrize("euid, says_root", [(0, False), (1000, True)])
def test_the_ptrace_hint_does_not_tell_root_to_run_as_root(monkeypatch: pytest.MonkeyPatch,
                                                           euid: int, says_root: bool) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: euid)  # the one adapter faked: who we are
    reason = procfs.unavailable_reason(PermissionError(13, "Permission denied"))
    assert ("or as root" in reason) == says_root
    if not says_root:
        assert "even to root" in reason


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to record as another user (setpriv)")
def test_sums_over_another_users_processes_are_marked_partial() -> None:
    folder = Path(tempfile.mkdtemp(prefix="memmap-partial-"))  # pytest's tmp is root-only
    folder.chmod(0o777)
    owner = subprocess.Popen(["sh", "-c", "sleep 20 & sleep 20 & wait"])  # root's tree
    try:
        time.sleep(0.3)
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              *memmap_cmd(), "record", "-o", str(folder / "p.csv"),
                              "--interval", "0.2", "--duration", "0.6", "--pid",
                              str(owner.pid)], env=memmap_env(), capture_output=True,
                             text=True, timeout=60, cwd=folder)
        if out.returncode != 0 and "Permission denied" in out.stderr:
            pytest.skip("nobody cannot run the test's memmap here")
        assert out.returncode == 0, out.stderr
        rows = rows_of(folder / "p.csv")
    finally:
        owner.kill()
        owner.wait()
        shutil.rmtree(folder, ignore_errors=True)
    assert number(rows[-1], "proc.unread_memory_count") == 3
    assert number(rows[-1], "proc.unread_io_count") == 3


def test_the_run_summary_marks_partial_sums() -> None:
    from memmap_tui.collectors.process import ProcessCollector

    from memmap_tui.model import Frame, Reading, Schema
    from memmap_tui.sinks.summary import RunSummary, render

    schema = Schema(ProcessCollector.catalog())
    summary = RunSummary()
    summary.open(schema)
    for i, unread in enumerate((0.0, 2.0, 1.0)):
        values = [math.nan] * len(schema.columns)
        values[schema.column_index["proc.unread_memory_count"]] = unread
        values[schema.column_index["proc.unread_io_count"]] = 0.0
        raw = [math.nan] * len(schema.specs)
        summary.write(Frame(1_700_000_000.0 + i, values, Reading(float(i), 0.0, raw), 1.0))
    result = summary.result()
    assert result["partial"] == {"unread_memory_count": 2.0, "unread_io_count": 0.0}
    text = render(result, schema, "head")
    partial = [line for line in text.splitlines() if line.strip().startswith("partial")]
    assert len(partial) == 1 and "2 processes" in partial[0]
    assert "proc.unread_memory_count" in partial[0]
