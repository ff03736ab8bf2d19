"""Adversarial commands for `memmap run`: files that exist but cannot start. Real files, real
subprocesses. "command not found" (127) is only for a command that is not there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import memmap_cmd, memmap_env


def run(*args: str, cwd: Path, path: str = "") -> subprocess.CompletedProcess:
    env = memmap_env()
    if path:
        env["PATH"] = f"{path}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([*memmap_cmd(), "run", "--", *args], cwd=cwd, env=env, timeout=30,
                          capture_output=True, text=True)


def script(tmp_path: Path, first_line: str) -> Path:
    path = tmp_path / "job.sh"
    path.write_text(f"{first_line}\necho ran > ran\n")
    path.chmod(0o755)
    return path


def test_a_script_whose_interpreter_is_missing_names_the_interpreter(tmp_path: Path) -> None:
    script(tmp_path, "#!/nonexistent/python9 -u")
    out = run("./job.sh", cwd=tmp_path)
    assert out.returncode == 126, out.stderr
    assert "/nonexistent/python9" in out.stderr and "not found" in out.stderr
    assert "command not found" not in out.stderr and not (tmp_path / "ran").exists()
    assert len(out.stderr.strip().splitlines()) == 1


def test_the_same_script_found_on_path(tmp_path: Path) -> None:
    script(tmp_path, "#!/nonexistent/sh")
    out = run("job.sh", cwd=tmp_path, path=str(tmp_path))
    assert out.returncode == 126 and "interpreter /nonexistent/sh" in out.stderr


def test_a_command_that_is_not_there_is_still_not_found(tmp_path: Path) -> None:
    out = run("./no-such-job", cwd=tmp_path)
    assert out.returncode == 127 and "command not found: ./no-such-job" in out.stderr


def test_a_file_without_execute_permission_is_126(tmp_path: Path) -> None:
    path = script(tmp_path, "#!/bin/sh")
    path.chmod(0o644)
    out = run("./job.sh", cwd=tmp_path)
    if os.geteuid() == 0 and out.returncode == 0:
        return  # root may execute it anyway on some file systems
    assert out.returncode == 126 and "permission denied" in out.stderr


def test_control_characters_in_the_command_are_shown_escaped(tmp_path: Path) -> None:
    """A glob's file name can hold ESC, BEL, CR: the summary's headline and the one-line
    errors show them as visible escapes, never as terminal control."""
    hostile = "\x1b]0;pwn\x07\x1b[31mred\r"
    out = run("sh", "-c", "exit 0", hostile, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stderr and "\x07" not in out.stderr and "\r" not in out.stderr
    assert "\\x1b]0;pwn\\x07" in out.stderr, out.stderr
    missing = run(f"./no-such{hostile}", cwd=tmp_path)
    assert missing.returncode == 127 and "\x1b" not in missing.stderr, missing.stderr
    assert "command not found: './no-such\\x1b]0;pwn" in missing.stderr, missing.stderr
    denied = tmp_path / f"job{hostile}"
    denied.write_text("#!/bin/sh\n")
    denied.chmod(0o644)
    out = run(f"./{denied.name}", cwd=tmp_path)
    assert "\x1b" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_an_empty_command_name_is_not_found_as_a_shell_says(tmp_path: Path) -> None:
    out = run("", cwd=tmp_path)
    assert out.returncode == 127, out.stderr
    assert out.stderr.strip() == "memmap: command not found: ''", out.stderr
