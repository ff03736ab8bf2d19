"""Stop signals from memmap's first line to its last (memmap_tui/signals.py).

Real `memmap record` subprocesses, signalled at many moments of their start-up and run; what
is on disk is read back. A stop signal never leaves a temporary file or a half-replaced output,
and a signal ignored when memmap started (nohup's SIGHUP, a script's background job's SIGINT)
stays ignored.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env

from memmap_tui.csvread import load_recording


def record(folder: Path, *more: str, ignore: tuple = ()) -> subprocess.Popen:
    def ignored() -> None:
        for sig in ignore:
            signal.signal(sig, signal.SIG_IGN)
    return subprocess.Popen([*memmap_cmd(), "record", "-o", "k.csv", "--interval", "0.05",
                             *more], cwd=folder, env=memmap_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=ignored)


def leftovers(folder: Path) -> list:
    return [p.name for p in folder.iterdir() if ".memmap-" in p.name]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_during_start_up_leaves_the_old_file_or_a_whole_recording(
        tmp_path: Path, sig: int) -> None:
    """Across the start-up (the temporary file made, collectors opened, the file put in place),
    a stop signal ends memmap with 128 + N or a clean stop (0): the old file is still there
    whole or replaced by a recording that loads, and no temporary file is left."""
    outcomes = []
    for step in range(14):
        folder = tmp_path / f"s{step}"
        folder.mkdir()
        (folder / "k.csv").write_text("precious\n")
        proc = record(folder, "--force")
        time.sleep(0.02 + 0.015 * step)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
        assert "Traceback" not in err, err
        assert leftovers(folder) == []
        text = (folder / "k.csv").read_text()
        if proc.returncode == -sig:  # before Python ran memmap's first line: nothing touched
            assert text == "precious\n"
        elif proc.returncode == 128 + sig:  # during the start-up: the old file stays
            assert text == "precious\n" and err.strip() == \
                f"memmap: stopped by {signal.Signals(sig).name}"
        else:  # the run had begun: a clean stop
            assert proc.returncode == 0, err
            assert load_recording(str(folder / "k.csv")).columns[0] == "timestamp"
        outcomes.append(proc.returncode)
    assert 0 in outcomes  # the sweep reached a running recorder


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT])
def test_a_signal_ignored_at_start_stays_ignored(tmp_path: Path, sig: int) -> None:
    """`nohup memmap record` survives the hang-up; a script's background job ignores SIGINT
    (POSIX); SIGTERM still stops it, every row written."""
    proc = record(tmp_path, ignore=(sig,))
    time.sleep(1.0)
    proc.send_signal(sig)
    time.sleep(0.7)
    assert proc.poll() is None, f"{signal.Signals(sig).name} stopped a recorder that ignores it"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert len(load_recording(str(tmp_path / "k.csv"))) >= 20
