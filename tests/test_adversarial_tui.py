"""Adversarial surroundings for the screen modes: no terminal at all (cron, nohup, setsid with
stdin on /dev/null), a log folder that cannot be written, recordings a replay must refuse.

Without a terminal `memmap` and `memmap replay` are a usage error (one line, exit 2, a hint at
the headless modes), never a traceback or a silent exit 0. Without a writable log folder the
screen runs anyway and says, once, that it keeps no log. Real subprocesses and a real tmux.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env

RECORDING = b"timestamp,host.mem.used_bytes\n1796000000,1\n1796000001,2\n"
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def headless(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`setsid memmap ... </dev/null >out 2>&1`: no terminal anywhere."""
    with open(cwd / "out", "wb") as out:
        proc = subprocess.run(["setsid", *memmap_cmd(), *args], cwd=cwd, env=memmap_env(),
                              stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                              timeout=30)
    proc.stdout = (cwd / "out").read_text()
    return proc


@pytest.mark.parametrize("args, hint", [([], "memmap record"), (["--inline"], "memmap record"),
                                        (["replay", "r.csv"], "memmap report")])
def test_without_a_terminal_the_screen_modes_say_so_in_one_line(tmp_path: Path, args: list,
                                                                hint: str) -> None:
    (tmp_path / "r.csv").write_bytes(RECORDING)
    out = headless(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout
    assert len(out.stdout.strip().splitlines()) == 1 and "needs a terminal" in out.stdout
    assert hint in out.stdout and "Traceback" not in out.stdout


def test_stdin_from_dev_null_in_a_pipeline_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run([*memmap_cmd()], cwd=tmp_path, env=memmap_env(), timeout=30,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert proc.returncode == 2 and "stdin is not one" in proc.stderr


def test_a_bad_recording_is_refused_before_the_terminal_is_looked_at(tmp_path: Path) -> None:
    (tmp_path / "nan.csv").write_bytes(b"timestamp,host.mem.used_bytes\nnan,1\n1796000000,2\n")
    out = headless("replay", "nan.csv", cwd=tmp_path)
    assert out.returncode == 2 and "not Unix seconds" in out.stdout


class Pane:
    def __init__(self, tmp: Path, args: list, env: dict) -> None:
        self.name = f"memmap-adv-{os.getpid()}-{time.monotonic_ns()}"
        self.exit_file = tmp / "exit"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = " ".join(shlex.quote(a) for a in [*memmap_cmd(), *args])
        line = f"export {exports}; {command}; echo EXITED:$? > {shlex.quote(str(self.exit_file))}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "100", "-y", "30",
                        f"{line}; sleep 30"], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-S", "-", "-t", self.name],
                              capture_output=True, text=True).stdout

    def wait(self, condition, seconds: float = 20.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.screen()
            if condition(text):
                return text
            time.sleep(0.2)
        return self.screen()

    def exit_status(self, seconds: float = 10.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.exit_file.exists():
            time.sleep(0.1)
        return self.exit_file.read_text().strip() if self.exit_file.exists() else "none"

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def env_with(**more: str) -> dict:
    env = {k: v for k, v in memmap_env().items() if k in ("PYTHONPATH", "PATH")}
    env.update(more)
    return env


@needs_tmux
@pytest.mark.parametrize("where", ["cache-is-a-file", "read-only-home"])
def test_the_monitor_runs_without_a_log_file_and_says_so(tmp_path: Path, where: str) -> None:
    (tmp_path / "cachefile").write_text("not a folder")
    env = (env_with(XDG_CACHE_HOME=str(tmp_path / "cachefile")) if where == "cache-is-a-file"
           else env_with(HOME="/proc/self", XDG_CACHE_HOME=""))
    pane = Pane(tmp_path, ["--interval", "0.2"], env)
    try:
        text = pane.wait(lambda s: "no log file" in s and "Memory" in s)
        assert "no log file" in text and "Memory" in text, text
        subprocess.run(["tmux", "send-keys", "-t", pane.name, "q"], check=True)
        assert pane.exit_status() == "EXITED:0"
        assert "Traceback" not in pane.screen()
    finally:
        pane.close()


@needs_tmux
def test_replay_with_a_nan_timestamp_in_a_terminal_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "nan.csv").write_bytes(b"timestamp,host.mem.used_bytes\nnan,1\n1796000000,2\n")
    pane = Pane(tmp_path, ["replay", str(tmp_path / "nan.csv")], env_with())
    try:
        assert pane.exit_status() == "EXITED:2"
        assert "Traceback" not in pane.screen() and "not Unix seconds" in pane.screen()
    finally:
        pane.close()


@needs_tmux
def test_replay_of_markup_names_and_a_clock_set_back_plays_and_quits(tmp_path: Path) -> None:
    path = tmp_path / "[bold]m[red].csv"
    path.write_bytes(b"timestamp,[/bold]x,host.mem.used_bytes,[red]y[/red]\n1796000005,1,5,3\n"
                     b"1796000001,2,6,4\n1796000002,2,7,4\n")
    pane = Pane(tmp_path, ["replay", str(path)], env_with(XDG_CACHE_HOME=str(tmp_path / "c")))
    try:
        text = pane.wait(lambda s: "[bold]m[red].csv" in s and "RAM used" in s)
        assert "[bold]m[red].csv" in text and "RAM used" in text, text
        subprocess.run(["tmux", "send-keys", "-t", pane.name, "q"], check=True)
        assert pane.exit_status() == "EXITED:0"
        assert "Traceback" not in pane.screen()
    finally:
        pane.close()


def test_the_no_log_file_notice_shows_a_hostile_cache_path_escaped(tmp_path: Path) -> None:
    """XDG_CACHE_HOME is the user's environment, but may come from anywhere: its control
    characters are shown as escapes in the notice, never sent to the terminal."""
    import logging

    from memmap_tui.pipeline import log_to_file

    hostile = tmp_path / "cache\x1b]2;PWNED\x07"
    hostile.write_text("a file, so no folder can be made in it")
    ours = logging.getLogger("memmap_tui")
    handlers, propagate = list(ours.handlers), ours.propagate
    try:
        path, problem = log_to_file(str(hostile / "memmap" / "memmap.log"))
    finally:
        ours.handlers[:], ours.propagate = handlers, propagate
    assert path is None and problem.startswith("no log file: cannot write"), problem
    assert "\x1b" not in problem and "\x07" not in problem
    assert "cache\\x1b]2;PWNED\\x07" in problem, problem
