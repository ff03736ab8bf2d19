"""The real `memmap` in a real terminal: tmux at 80x24 and 160x50, TERM xterm-256color, xterm
and linux, full screen and --inline. Each starts the command, reads the screen back with
capture-pane, presses keys with send-keys and checks that q exits 0 without a traceback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List

import pytest
from conftest import memmap_cmd, memmap_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None,
                       reason="tmux is not installed: the real-terminal tests need it"),
]


class Tmux:
    """One detached tmux session running `memmap ...`, its exit status written to a file."""

    def __init__(self, tmp: Path, args: List[str], size=(80, 24), term="xterm-256color",
                 prompt: bool = False):
        """`prompt`: type the command at an interactive shell's prompt instead of running it
        as the pane's command (what --inline is for)."""
        self.name = f"memmap-test-{os.getpid()}-{time.monotonic_ns()}"
        self.exit_file = tmp / "exit"
        env = memmap_env()
        env["XDG_CACHE_HOME"] = str(tmp / "cache")
        exports = " ".join(f"{k}={shlex.quote(env[k])}" for k in ("PYTHONPATH", "XDG_CACHE_HOME")
                           if k in env)
        command = " ".join(shlex.quote(a) for a in [*memmap_cmd(), *args])
        line = (f"export {exports}; TERM={term} {command}; "
                f"echo EXITED:$? > {shlex.quote(str(self.exit_file))}")
        pane = "env PS1='$ ' bash --norc --noprofile" if prompt else f"{line}; sleep 30"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(size[0]),
                        "-y", str(size[1]), pane], check=True)
        if prompt:
            self.wait_for(lambda s: "$" in s, 5)
            self.keys("clear; " + line, "Enter")

    def screen(self, history: bool = False) -> str:
        args = ["tmux", "capture-pane", "-p", "-t", self.name] + (["-S", "-"] if history else [])
        return subprocess.run(args, capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, condition: Callable[[str], bool], seconds: float = 15.0) -> str:
        deadline = time.monotonic() + seconds
        text = self.screen()
        while not condition(text) and time.monotonic() < deadline:
            time.sleep(0.2)
            text = self.screen()
        return text

    def exit_status(self, seconds: float = 5.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.exit_file.exists() and self.exit_file.read_text().strip():
                return self.exit_file.read_text().strip()
            time.sleep(0.1)
        return ""

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def tmux_session(tmp_path):
    sessions = []

    def start(*args, **kwargs) -> Tmux:
        sessions.append(Tmux(tmp_path, *args, **kwargs))
        return sessions[-1]

    yield start
    for s in sessions:
        s.close()


def drawn(text: str) -> bool:
    return "Memory" in text and "B/s" in text and "Waiting" in text


@pytest.mark.parametrize("size,term", [((80, 24), "xterm-256color"), ((160, 50), "xterm-256color"),
                                       ((80, 24), "xterm"), ((80, 24), "linux")])
def test_memmap_runs_in_a_terminal_and_quits_on_q(tmux_session, tmp_path, size, term):
    tui = tmux_session(["--interval", "0.2"], size=size, term=term)
    screen = tui.wait_for(drawn)
    assert drawn(screen), screen
    assert "Traceback" not in screen
    assert "GiB" in screen and "%" in screen  # live numbers, not placeholders
    tui.keys("?")
    assert "memmap keys" in tui.wait_for(lambda s: "memmap keys" in s, 5)
    tui.keys("Escape")
    assert "memmap keys" not in tui.wait_for(lambda s: "memmap keys" not in s, 5)
    tui.keys("q")
    assert tui.exit_status() == "EXITED:0"
    assert "Traceback" not in tui.screen(history=True)
    assert (tmp_path / "cache" / "memmap" / "memmap.log").exists()  # logs went to a file


def test_a_resize_below_the_minimum_shows_a_message_and_back(tmux_session):
    tui = tmux_session(["--interval", "0.2"], size=(80, 24))
    assert drawn(tui.wait_for(drawn))
    subprocess.run(["tmux", "resize-window", "-t", tui.name, "-x", "50", "-y", "12"], check=True)
    assert "at least 60x15" in tui.wait_for(lambda s: "at least 60x15" in s, 5)
    subprocess.run(["tmux", "resize-window", "-t", tui.name, "-x", "160", "-y", "50"], check=True)
    assert drawn(tui.wait_for(drawn, 5))
    tui.keys("q")
    assert tui.exit_status() == "EXITED:0"


def test_inline_is_a_strip_under_the_prompt_and_q_leaves_it_clean(tmux_session):
    tui = tmux_session(["--inline", "--interval", "0.2"], size=(100, 20), prompt=True)
    screen = tui.wait_for(lambda s: "1 Memory" in s and "B/s" in s)
    strip = [line for line in screen.splitlines()[2:] if line.strip()]  # below the prompt
    assert "1 Memory" in screen and 2 <= len(strip) <= 6, screen
    tui.keys("q")
    assert tui.exit_status() == "EXITED:0"
    after = tui.wait_for(lambda s: "1 Memory" not in s, 3)
    assert "1 Memory" not in after and "Traceback" not in after  # the strip was cleared
    assert after.rstrip().endswith("$"), after  # and the prompt is back


@pytest.mark.parametrize("args,says", [(["--refresh", "0"], "--refresh"),
                                       (["--pid", "999999999"], "no such process")])
def test_bad_arguments_never_take_the_screen(args, says):
    result = subprocess.run([*memmap_cmd(), *args], capture_output=True, text=True,
                            env=memmap_env(), timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr


# -- keys through a real terminal: the quiet driver's parser, not Pilot's -------------------
REPLAY = str(Path(__file__).resolve().parent / "data" / "tui_recording.csv")


def test_arrow_home_end_keys_reach_the_replay_through_the_terminal(tmux_session):
    tui = tmux_session(["replay", REPLAY], size=(120, 30))
    assert "replay tui_recording.csv" in tui.wait_for(lambda s: "replay tui_recording" in s)
    tui.keys("p")  # pause, so that the position moves only by keys
    tui.wait_for(lambda s: "PAUSED" in s, 5)
    tui.keys("End")
    assert "119.5 s/119.5 s" in tui.wait_for(lambda s: "119.5 s/119.5 s" in s, 5)
    tui.keys("Home")
    assert "0.0 s/119.5 s" in tui.wait_for(lambda s: "0.0 s/119.5 s" in s, 5)
    tui.keys("Right", "Right")
    assert "20.0 s/119.5 s" in tui.wait_for(lambda s: "20.0 s/119.5 s" in s, 5)
    tui.keys("Left")
    assert "10.0 s/119.5 s" in tui.wait_for(lambda s: "10.0 s/119.5 s" in s, 5)
    tui.keys("q")
    assert tui.exit_status() == "EXITED:0"


def test_ctrl_keys_utf8_text_and_a_lone_escape_through_the_terminal(tmux_session):
    tui = tmux_session(["--interval", "0.2"], size=(80, 24))
    assert drawn(tui.wait_for(drawn))
    tui.keys("C-p")  # the command palette, with a text input
    assert "Search for commands" in tui.wait_for(lambda s: "Search for commands" in s, 5)
    tui.keys("-l", "héllo")
    assert "héllo" in tui.wait_for(lambda s: "héllo" in s, 5)
    tui.keys("BSpace", "BSpace")
    assert "hél" in tui.wait_for(lambda s: "hél" in s and "héllo" not in s, 5)
    tui.keys("Escape")  # alone: delivered after the escape delay, closes the palette
    assert "hél" not in tui.wait_for(lambda s: "hél" not in s, 5)
    tui.keys("q")
    assert tui.exit_status() == "EXITED:0"
    assert "Traceback" not in tui.screen(history=True)


def test_a_process_that_names_itself_with_escapes_cannot_reach_the_terminal(tmux_session,
                                                                            tmp_path):
    """Any process sets its own name (/proc/self/comm): one in the watched tree named with an
    OSC title sequence and a screen clear shows as visible escapes in the process pane, and
    the terminal's title is not changed."""
    rename = ("import time; open('/proc/self/comm', 'wb')"
              ".write(b'\\x1b]2;PWNED\\x07\\x1b[2J'); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", rename])
    try:
        time.sleep(0.5)
        assert Path(f"/proc/{child.pid}/comm").read_bytes().startswith(b"\x1b]2;PWNED")
        tui = tmux_session(["--pid", str(child.pid), "--interval", "0.2"], size=(160, 50))
        screen = tui.wait_for(lambda s: "PWNED" in s and drawn(s))
        assert "\\x1b]2;PWNED\\x07" in screen, screen
        title = subprocess.run(["tmux", "display", "-p", "-t", tui.name, "#{pane_title}"],
                               capture_output=True, text=True).stdout
        assert "PWNED" not in title, title
        assert drawn(screen), screen  # not cleared
        tui.keys("q")
        assert tui.exit_status() == "EXITED:0"
    finally:
        child.kill()
        child.wait()
