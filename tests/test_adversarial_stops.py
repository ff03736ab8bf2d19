"""Adversarial stop signals (pass 17b): real `memmap` processes stopped where the sweeps found
the promises broken.

- A stop signal that lands while Python runs a finalizer (a __del__, a weakref callback such as
  importlib's module-lock `cb`, plotext's `pixel.__del__` in `report`) is raised there as
  StopSignal, and Python swallows it: "Exception ignored in: ... Traceback ... StopSignal" on
  stderr, and the command goes on (`report` and `collectors` to the end, exit 0: the Ctrl-C is
  lost). Sweeps: serve 2 of 150, report 2 of 178.
- A recording that ended by its --duration gets a stop signal while its summary is written:
  the handlers were given back to the start-up's (`restore_signals`), so the finished recording
  ends "stopped by SIGTERM", 143, its summary line lost. Deterministic with a stalled stderr
  (a pipe nobody reads yet: a slow `| tee`, a terminal held by Ctrl-S).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import memmap_cmd, memmap_env

from memmap_tui.csvread import load_recording

# The signal lands inside a finalizer: an object dropped while a memmap module loads sends it
# and keeps running Python code, so the handler runs inside its __del__ (as it did inside
# importlib's module-lock callback and plotext's pixel.__del__ in the sweeps).
IN_FINALIZER = """
import importlib.abc, os, signal, sys
module, signame = sys.argv[1], sys.argv[2]
class Dropped:
    def __del__(self):
        os.kill(os.getpid(), getattr(signal, signame))
        for _ in range(10000):
            pass
class Send(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname == module:
            sys.meta_path.remove(self)
            Dropped()
        return None
sys.meta_path.insert(0, Send())
sys.argv = ["memmap", *sys.argv[3:]]
from memmap_tui.launch import entry
entry()
"""


def test_a_stop_signal_that_lands_in_a_finalizer_still_stops_memmap(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", IN_FINALIZER, "memmap_tui.commands.collectors",
                          "SIGTERM", "collectors"], cwd=tmp_path, env=memmap_env(),
                         capture_output=True, text=True, timeout=30)
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr
    assert out.returncode == 128 + signal.SIGTERM, (out.returncode, out.stderr)
    assert out.stderr.strip() == "memmap: stopped by SIGTERM"


def test_a_finished_recording_keeps_status_0_when_a_signal_comes_as_it_reports(
        tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETFL, os.O_NONBLOCK)
    filled = 0
    try:
        while True:
            filled += os.write(write_end, b"x" * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(write_end, fcntl.F_SETFL, 0)  # memmap's summary will wait for a reader
    proc = subprocess.Popen([*memmap_cmd(), "record", "-o", "k.csv", "--interval", "0.05",
                             "--duration", "0.3"], cwd=tmp_path, env=memmap_env(),
                            stdout=subprocess.DEVNULL, stderr=write_end)
    os.close(write_end)
    try:
        time.sleep(2.0)  # the run is over; memmap waits to write its summary
        assert proc.poll() is None
        rows = len(load_recording(str(tmp_path / "k.csv")))
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        data = b""
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            data += chunk
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(read_end)
    err = data[filled:].decode(errors="replace")
    assert rows >= 3 and "Traceback" not in err, err
    assert proc.returncode == 0, (proc.returncode, err)  # it was 143: "stopped by SIGTERM"
    assert f"recorded {rows} rows" in err, err
