"""Adversarial: outputs are checked before anything runs and replaced only once the run started.

Real files, real `memmap` subprocesses. The old file survives every failed start (`--force`
included), no temporary file is left behind, links are followed to their target, and what is
not a regular file is never written, truncated or removed.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env

from memmap_tui.csvread import load_recording


def memmap(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*memmap_cmd(), *args], cwd=cwd, env=memmap_env(), timeout=timeout,
                          capture_output=True, text=True)


def one_line_exit_2(out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def leftovers(folder: Path) -> list:
    return [p.name for p in folder.iterdir() if ".memmap-" in p.name]


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("args", [
    ["record", "-o", "k.csv", "--force", "--collectors", "bogus"],
    ["record", "-o", "k.csv", "--force", "--pid", "DEAD"],
    ["record", "-o", "k.csv", "--force", "--collectors", "nvml,jtop"],
    ["record", "-o", "k.csv", "--force", "--duration", "1e308"],
    ["run", "--csv", "k.csv", "--force", "--collectors", "bogus", "--", "true"],
])
def test_a_failed_start_with_force_keeps_the_old_file(tmp_path: Path, args: list) -> None:
    (tmp_path / "k.csv").write_text("precious\n")
    args = [str(dead_pid()) if a == "DEAD" else a for a in args]
    out = memmap(*args, cwd=tmp_path)
    one_line_exit_2(out)
    assert (tmp_path / "k.csv").read_text() == "precious\n"
    assert leftovers(tmp_path) == []


def test_run_of_a_missing_command_with_force_keeps_the_old_csv(tmp_path: Path) -> None:
    (tmp_path / "k.csv").write_text("precious\n")
    out = memmap("run", "--csv", "k.csv", "--force", "--", "/nonexistent", cwd=tmp_path)
    assert out.returncode == 127 and "Traceback" not in out.stderr
    assert (tmp_path / "k.csv").read_text() == "precious\n"
    assert leftovers(tmp_path) == []


def test_force_replaces_the_file_once_the_run_started(tmp_path: Path) -> None:
    (tmp_path / "k.csv").write_text("old\n")
    out = memmap("record", "-o", "k.csv", "--force", "--duration", "0.3", "--interval", "0.1",
                 cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "k.csv").read_text().startswith("timestamp,")
    assert leftovers(tmp_path) == []


def test_a_link_is_followed_to_its_target_and_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to("real.csv")
    out = memmap("record", "-o", "link.csv", "--force", "--duration", "0.2", "--interval",
                 "0.1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text().startswith("timestamp,")


def test_a_link_through_which_a_failed_start_goes_keeps_its_target(tmp_path: Path) -> None:
    (tmp_path / "real.csv").write_text("precious\n")
    (tmp_path / "link.csv").symlink_to("real.csv")
    out = memmap("record", "-o", "link.csv", "--force", "--collectors", "bogus", cwd=tmp_path)
    one_line_exit_2(out)
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real.csv").read_text() == "precious\n"


def test_a_link_to_nothing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dangling.csv").symlink_to("nowhere/x.csv")
    out = memmap("record", "-o", "dangling.csv", "--duration", "0.2", cwd=tmp_path)
    one_line_exit_2(out)
    assert "does not exist" in out.stderr and (tmp_path / "dangling.csv").is_symlink()


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_force_keeps_the_replaced_files_mode(tmp_path: Path, mode: int) -> None:
    """The new recording takes the old file's permissions: one made private stays private."""
    old = tmp_path / "r.csv"
    old.write_text("old\n")
    old.chmod(mode)
    out = memmap("record", "-o", "r.csv", "--force", "--duration", "0.3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert old.read_text().startswith("timestamp,")
    assert stat.S_IMODE(old.stat().st_mode) == mode


def test_a_fifo_is_refused_at_once_even_with_force(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    out = memmap("record", "-o", "fifo", "--force", "--duration", "0.2", cwd=tmp_path,
                 timeout=15)
    one_line_exit_2(out)
    assert "FIFO" in out.stderr and stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


def test_a_socket_is_refused(tmp_path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        out = memmap("record", "-o", "sock", "--force", "--duration", "0.2", cwd=tmp_path)
        one_line_exit_2(out)
        assert stat.S_ISSOCK(os.lstat(tmp_path / "sock").st_mode)
    finally:
        sock.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_node_is_refused_and_kept(tmp_path: Path) -> None:
    node = tmp_path / "full"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # what /dev/full is
    out = memmap("record", "-o", str(node), "--force", "--duration", "0.2", cwd=tmp_path)
    one_line_exit_2(out)
    assert "character device" in out.stderr and stat.S_ISCHR(os.lstat(node).st_mode)


@pytest.mark.parametrize("how", ["same", "dot", "symlink", "hardlink"])
def test_run_refuses_one_file_for_csv_and_json(tmp_path: Path, how: str) -> None:
    other = {"same": "x.out", "dot": "./x.out", "symlink": "l.out", "hardlink": "h.out"}[how]
    force = []
    if how in ("symlink", "hardlink"):
        (tmp_path / "x.out").write_text("precious\n")
        if how == "symlink":
            (tmp_path / "l.out").symlink_to("x.out")
        else:
            os.link(tmp_path / "x.out", tmp_path / "h.out")
        force = ["--force"]
    out = memmap("run", *force, "--csv", "x.out", "--json", other, "--", "touch", "ran",
                 cwd=tmp_path)
    one_line_exit_2(out)
    assert "same file" in out.stderr and not (tmp_path / "ran").exists()
    if force:
        assert (tmp_path / "x.out").read_text() == "precious\n"
    else:
        assert not (tmp_path / "x.out").exists()


def test_a_second_recorder_with_force_is_refused_while_the_first_records(tmp_path: Path) -> None:
    first = subprocess.Popen([*memmap_cmd(), "record", "-o", "r.csv", "--interval", "0.1",
                              "--duration", "4"], cwd=tmp_path, env=memmap_env(),
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (tmp_path / "r.csv").exists():
            time.sleep(0.05)
        out = memmap("record", "-o", "r.csv", "--force", "--duration", "0.3", cwd=tmp_path)
        one_line_exit_2(out)
        assert "another memmap" in out.stderr
    finally:
        _, err = first.communicate(timeout=20)
    assert first.returncode == 0, err
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert len(rows) > 20 and rows[0].startswith("timestamp,")


def test_two_recorders_started_together_do_not_both_succeed(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("old\n")
    procs = [subprocess.Popen([*memmap_cmd(), "record", "-o", "r.csv", "--force", "--interval",
                               "0.1", "--duration", "1.5"], cwd=tmp_path, env=memmap_env(),
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = sorted(p.wait(timeout=30) for p in procs)
    for p in procs:
        p.stderr.close()  # type: ignore[union-attr]
    # both may succeed only one after the other (the first finished before the second began)
    assert codes in ([0, 2], [0, 0])
    assert (tmp_path / "r.csv").read_text().startswith("timestamp,")
    assert leftovers(tmp_path) == []


def test_a_process_that_exits_during_start_up_is_never_a_silent_host_only_run(
        tmp_path: Path) -> None:
    for i in range(6):
        victim = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({i} * 0.02)"])
        out = memmap("record", "-o", f"r{i}.csv", "--pid", str(victim.pid), "--duration", "0.3",
                     "--interval", "0.1", cwd=tmp_path)
        victim.wait()
        assert "Traceback" not in out.stderr and "internal error" not in out.stderr
        if out.returncode == 0:
            assert "proc.count" in (tmp_path / f"r{i}.csv").read_text().splitlines()[0]
        else:
            assert out.returncode == 2 and "no such process" in out.stderr
            assert not (tmp_path / f"r{i}.csv").exists()


def test_the_process_collector_of_a_gone_pid_fails_the_start_with_one_line() -> None:
    from memmap_tui.collectors.process import ProcessCollector

    from memmap_tui.collector import UsageError
    from memmap_tui.pipeline import open_sampler
    from memmap_tui.sampler import Sampler

    sampler = Sampler([ProcessCollector(dead_pid())], 0.1)
    with pytest.raises(UsageError, match="no such process"):
        open_sampler(sampler)


def test_a_name_at_the_length_limit_still_records(tmp_path: Path) -> None:
    name = "r" * 251 + ".csv"  # 255 bytes: NAME_MAX; the temporary name must fit as well
    out = memmap("record", "-o", name, "--duration", "0.2", "--interval", "0.1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / name).read_text().startswith("timestamp,")
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to act as another user (setpriv)")
def test_force_does_not_replace_a_file_its_user_cannot_write() -> None:
    folder = Path(tempfile.mkdtemp(prefix="memmap-ro-"))  # pytest's tmp is root-only
    try:
        folder.chmod(0o777)
        kept = folder / "kept.csv"
        kept.write_text("precious\n")
        kept.chmod(0o444)
        os.chown(kept, 65534, 65534)
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                              *memmap_cmd(), "record", "-o", str(kept), "--force",
                              "--duration", "0.2"], env=memmap_env(), cwd=folder,
                             capture_output=True, text=True, timeout=30)
        if "Permission denied" in out.stderr and "kept.csv" not in out.stderr:
            pytest.skip("nobody cannot run the test's memmap here")
        one_line_exit_2(out)
        assert "not writable" in out.stderr and kept.read_text() == "precious\n"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_name_ending_in_a_slash_is_not_made_a_file(tmp_path: Path) -> None:
    out = memmap("record", "-o", "newdir/", "--duration", "0.2", cwd=tmp_path)
    one_line_exit_2(out)
    assert "names a directory" in out.stderr and list(tmp_path.iterdir()) == []


def _emptied_while_recording(tmp_path: Path, *args: str) -> bytes:
    """Start a recording of `args` to out.csv, empty the file the way logrotate's copytruncate
    does while memmap writes it, and return what the file holds when the run has ended."""
    out = tmp_path / "out.csv"
    child = subprocess.Popen([*memmap_cmd(), *args], cwd=tmp_path, env=memmap_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (out.exists() and out.stat().st_size > 2000) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.exists() and out.stat().st_size > 2000, "the recording did not start"
    shutil.copyfile(out, tmp_path / "out.csv.1")
    os.truncate(out, 0)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 0 and "Traceback" not in err, err
    return out.read_bytes()


@pytest.mark.parametrize("args", [
    # the C writer of `record` (the CSV is its only sink) and the Python sink of `run`
    ["record", "-o", "out.csv", "--interval", "0.05", "--duration", "3"],
    ["run", "--csv", "out.csv", "--interval", "0.05", "--", sys.executable, "-c",
     "import time; time.sleep(3)"],
])
def test_a_recording_emptied_while_written_starts_again_with_its_header(
        tmp_path: Path, args: list) -> None:
    data = _emptied_while_recording(tmp_path, *args)
    assert b"\0" not in data  # no hole where the old rows were
    header = (tmp_path / "out.csv.1").read_bytes().split(b"\n", 1)[0] + b"\n"
    assert data.startswith(header) and data.count(header) == 1
    recording = load_recording(str(tmp_path / "out.csv"))
    assert len(recording) == data.count(b"\n") - 1 >= 10


def test_the_summary_shows_a_hostile_file_name_escaped_on_one_line(tmp_path: Path) -> None:
    """The name may hold a newline or ESC (a glob, a script): the summary is still one line,
    with them as visible escapes, as every error about the same name is."""
    name = "e\x1b]2;RECPWN\x07\nname.csv"
    out = memmap("record", "-o", name, "--duration", "0.3", "--interval", "0.1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / name).read_text().startswith("timestamp,")
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "\x1b" not in out.stderr, out.stderr
    assert "to e\\x1b]2;RECPWN\\x07\\x0aname.csv (" in lines[0], lines[0]
