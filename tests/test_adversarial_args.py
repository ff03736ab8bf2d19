"""Adversarial arguments: absurd numbers, digits that are not ASCII, huge ids. One line, exit 2,
no file left behind (real `memmap` subprocesses)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env


def memmap(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*memmap_cmd(), *args], cwd=cwd, env=memmap_env(), timeout=30,
                          capture_output=True, text=True)


@pytest.mark.parametrize("args, words", [
    (["--duration", "1e308"], "ten years"),
    (["--duration", "4e8"], "ten years"),
    (["--pid", "99999999999999999999"], "no such process"),
    (["--pid", "4194305"], "no such process"),
    (["--pid", "\u0663"], "digits 0-9"),          # ARABIC-INDIC DIGIT THREE
    (["--pid", "+1"], "digits 0-9"),
    (["--pid", " 1"], "digits 0-9"),
    (["--pid", "1_0"], "digits 0-9"),
    (["--interval", "\u0661"], "not a number"),   # ARABIC-INDIC DIGIT ONE
    (["--interval", "1_0"], "not a number"),
    (["--duration", "\uff11"], "not a number"),   # FULLWIDTH DIGIT ONE
    (["--collectors", ""], "no collector named"),  # "$UNSET": not every collector
    (["--collectors", " "], "no collector named"),
])
def test_absurd_or_foreign_numbers_are_one_line_exit_2(tmp_path: Path, args: list,
                                                       words: str) -> None:
    out = memmap("record", "-o", "a.csv", *args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and "internal error" not in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_control_character_in_an_argument_is_echoed_escaped(tmp_path: Path) -> None:
    out = memmap("record", "-o", "a.csv", "--collectors", "\x1b]0;pwned\x07", cwd=tmp_path)
    assert out.returncode == 2 and "\x1b" not in out.stderr and "\\x1b" in out.stderr
