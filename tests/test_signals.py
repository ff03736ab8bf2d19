"""Stop signals from memmap's first line to its last (memmap_tui/signals.py).

Real `memmap record` subprocesses, signalled at many moments of their start-up and run; what
is on disk is read back. A stop signal never leaves a temporary file or a half-replaced output;
SIGHUP ignored when memmap started (nohup) stays ignored, SIGINT and SIGTERM always stop it.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env

from memmap_tui import cli, launch
from memmap_tui.csvread import load_recording
from memmap_tui.signals import StopSignal, stop_signal_in


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
    outcomes: list = []
    for step in range(40):  # until the sweep reached a running recorder (start-up takes
        if outcomes.count(0) >= 2:  # 0.17-0.28 s on a loaded CI machine)
            break
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


def test_nohup_keeps_a_recorder_through_the_hang_up(tmp_path: Path) -> None:
    """`nohup memmap record` (SIGHUP ignored at start) survives the hang-up; SIGTERM still
    stops it, every row written."""
    proc = record(tmp_path, ignore=(signal.SIGHUP,))
    time.sleep(1.0)
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.7)
    assert proc.poll() is None, "SIGHUP stopped a recorder started under nohup"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert len(load_recording(str(tmp_path / "k.csv"))) >= 20


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_a_recorder_that_started_with_them_ignored(
        tmp_path: Path, sig: int) -> None:
    """A script's background job starts with SIGINT ignored (POSIX); `kill -INT $pid` to it
    is still a request to stop, and so is SIGTERM: a clean stop, exit 0."""
    proc = record(tmp_path, ignore=(sig,))
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert len(load_recording(str(tmp_path / "k.csv"))) >= 15


# Signals that land at a chosen step of `record`: the step is wrapped to send them to memmap
# itself (real signals, delivered by the kernel as any other), then memmap's own main runs.
INJECT = """
import os, signal, sys
from memmap_tui import pipeline
from memmap_tui.commands import output, record
from memmap_tui.cli import main
step, when, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
if step == "exit":  # as Python shuts down, after memmap returned
    import atexit
    atexit.register(lambda: [os.kill(os.getpid(), getattr(signal, n)) for n in names])
    raise SystemExit(main(sys.argv[4:], exiting=True))
owner, name = {"open": (pipeline, "open_sampler"), "publish": (output.PendingFile, "publish"),
               "close": (record.Sampler, "close")}[step]
original = getattr(owner, name)
def send():
    for signame in names:
        os.kill(os.getpid(), getattr(signal, signame))
def wrapped(*args):
    if when == "before":
        send()
    result = original(*args)
    if when == "after":
        send()
    return result
setattr(owner, name, wrapped)
if step == "open":
    record.open_sampler = wrapped
raise SystemExit(main(sys.argv[4:], exiting=True))
"""


def inject(folder: Path, step: str, when: str, names: str, *more: str
           ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", INJECT, step, when, names, "record", "-o",
                           "k.csv", "--force", "--interval", "0.05", *more], cwd=folder,
                          env=memmap_env(), capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("names", ["SIGTERM", "SIGHUP,SIGTERM", "SIGINT,SIGHUP"])
def test_signals_during_start_up_end_it_once_with_the_old_file_kept(
        tmp_path: Path, names: str) -> None:
    """One signal or several back to back while the collectors open: the first ends memmap
    (one line, 128 + N), the others cannot cut the clean-up (no traceback, no temporary file)."""
    (tmp_path / "k.csv").write_text("precious\n")
    out = inject(tmp_path, "open", "after", names)
    first = getattr(signal, names.split(",")[0])
    assert out.returncode == 128 + first, out.stderr
    assert out.stderr.strip() == f"memmap: stopped by {signal.Signals(first).name}"
    assert (tmp_path / "k.csv").read_text() == "precious\n"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_signal_as_the_file_is_put_in_place_stops_the_run_cleanly(
        tmp_path: Path, when: str) -> None:
    """Putting the file in place and routing the signals to the run's stop are one step: a
    signal there stops the run cleanly (exit 0, a recording that loads), never leaves the old
    file replaced by a bare header with a failure status."""
    (tmp_path / "k.csv").write_text("precious\n")
    out = inject(tmp_path, "publish", when, "SIGTERM")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "recorded" in out.stderr
    assert load_recording(str(tmp_path / "k.csv")).columns[0] == "timestamp"
    assert leftovers(tmp_path) == []


def test_signals_while_a_recording_closes_do_not_cut_it(tmp_path: Path) -> None:
    """A run that ended (its --duration) gets SIGTERM and SIGINT as it closes: the close and
    the summary finish, exit 0, every row in the file."""
    out = inject(tmp_path, "close", "before", "SIGTERM,SIGINT", "--duration", "1")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    rows = len(load_recording(str(tmp_path / "k.csv")))
    assert f"recorded {rows} rows" in out.stderr and rows >= 15


def test_signals_as_python_shuts_down_after_a_finished_recording_do_not_kill_it(
        tmp_path: Path) -> None:
    """Python gives its handlers back to the default action as it shuts down: a Ctrl-C or a
    SIGTERM then would kill memmap after its work was done (exit -2 or -15)."""
    out = inject(tmp_path, "exit", "-", "SIGINT,SIGTERM", "--duration", "0.5")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert len(load_recording(str(tmp_path / "k.csv"))) >= 5


@pytest.mark.parametrize("names", [("SIGTERM", "SIGHUP"), ("SIGINT", "SIGTERM")])
def test_two_signals_that_land_together_stop_the_run_once_without_a_word(
        tmp_path: Path, names: tuple) -> None:
    """Sent while the recorder is stopped (SIGSTOP), both are pending when it goes on: the
    first stops the run, the second is ignored without Python's "ignored due to race
    condition" traceback."""
    proc = record(tmp_path)
    time.sleep(1.0)
    proc.send_signal(signal.SIGSTOP)
    for name in names:
        proc.send_signal(getattr(signal, name))
    time.sleep(0.1)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err and "race" not in err, err
    assert len(load_recording(str(tmp_path / "k.csv"))) >= 10


def test_run_passes_signals_on_after_a_stop_and_continue(tmp_path: Path) -> None:
    """`memmap run` stopped and continued (Ctrl-Z, fg) still passes SIGTERM to its command."""
    proc = subprocess.Popen([*memmap_cmd(), "run", "--", "sleep", "30"], cwd=tmp_path,
                            env=memmap_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGSTOP)
    time.sleep(0.4)
    proc.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 128 + signal.SIGTERM, err  # the command's death, passed on
    assert "Traceback" not in err and "Exception" not in err, err


LOADING = """
import importlib.abc, os, signal, sys
names = sys.argv[1].split(",")
class Send(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname == "memmap_tui.cli":  # the command line starts loading: signal now
            sys.meta_path.remove(self)
            for name in names:
                os.kill(os.getpid(), getattr(signal, name))
        return None
sys.meta_path.insert(0, Send())
sys.argv = ["memmap", *sys.argv[2:]]
from memmap_tui.launch import entry
entry()
"""


@pytest.mark.parametrize("names", ["SIGINT", "SIGTERM", "SIGINT,SIGTERM"])
def test_a_signal_while_memmap_loads_ends_it_in_one_line(tmp_path: Path, names: str) -> None:
    """The `memmap` command catches the stop signals before it loads the command line (half of
    its start-up): a Ctrl-C there printed a KeyboardInterrupt traceback, a SIGTERM killed it."""
    out = subprocess.run([sys.executable, "-c", LOADING, names, "record", "-o", "k.csv"],
                         cwd=tmp_path, env=memmap_env(), capture_output=True, text=True,
                         timeout=30)
    first = getattr(signal, names.split(",")[0])
    assert out.returncode == 128 + first, out.stderr
    assert out.stderr.strip() == f"memmap: stopped by {signal.Signals(first).name}"
    assert list(tmp_path.iterdir()) == []


def _defines_a_class_that_a_signal_interrupts(_args: object) -> int:
    """What a stop signal does when it lands while an import defines a dataclass: it is raised
    in a field's __set_name__, which Python (3.11) wraps in a RuntimeError."""
    class Field:
        def __set_name__(self, owner: type, name: str) -> None:
            raise StopSignal(signal.SIGHUP)

    class State:  # noqa: F841 - defined for its fields' __set_name__
        backoff = Field()
    return 0


def test_a_stop_signal_wrapped_by_a_class_definition_still_stops(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """It was "memmap: internal error: RuntimeError: Error calling __set_name__ ..." and 1."""
    parser = argparse.ArgumentParser()
    parser.set_defaults(handler=_defines_a_class_that_a_signal_interrupts)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main([]) == 128 + signal.SIGHUP
    assert capsys.readouterr().err.strip() == "memmap: stopped by SIGHUP"


def test_a_stop_signal_wrapped_while_the_command_line_loads_still_stops(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def main(exiting: bool = False) -> int:
        return _defines_a_class_that_a_signal_interrupts(None)

    monkeypatch.setattr(cli, "main", main)
    monkeypatch.setattr(launch, "hold_until_exit", lambda: None)  # the test process goes on
    with pytest.raises(SystemExit) as ended:
        launch.entry()
    assert ended.value.code == 128 + signal.SIGHUP
    assert capsys.readouterr().err.strip() == "memmap: stopped by SIGHUP"


def test_stop_signal_in_follows_causes_and_contexts_but_not_forever() -> None:
    stop = StopSignal(signal.SIGTERM)
    try:
        try:
            raise stop
        except StopSignal:
            raise ValueError("during the stop")  # noqa: B904 - its context is the stop
    except ValueError as exc:
        assert stop_signal_in(exc) is stop
    loop = RuntimeError("a")
    loop.__context__ = RuntimeError("b")
    loop.__context__.__context__ = loop
    assert stop_signal_in(loop) is None


def test_a_run_that_begins_after_a_lost_stop_signal_stops_at_once() -> None:
    """A StopSignal swallowed during the start-up (wrapped, then caught as a failure of a
    probe) left memmap recording with the stop signals ignored: it stops as its run begins."""
    from memmap_tui import signals

    previous = signals.stop_early()
    stops: list = []
    try:
        signals.stopping(signal.SIGTERM)  # what the start-up handler does before it raises
        routed = signals.stop_on_signals(lambda: stops.append("stop"))
        assert stops == ["stop"]
    finally:
        signals._first.clear()
        signals.restore_signals(routed)
        signals.restore_signals(previous)
    later: list = []
    routed = signals.stop_on_signals(lambda: later.append("stop"))  # no stop came: it runs
    signals.restore_signals(routed)
    assert later == []
