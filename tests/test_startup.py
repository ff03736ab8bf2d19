"""What starting `memmap` loads: the headless modes never import the screen's libraries, and
third-party collectors are still found through their entry points, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from conftest import write_answer_plugin

SCREEN_LIBRARIES = ("textual", "rich", "plotext", "memmap_tui.tui")


def _main_in_a_new_python(argv: List[str], cwd: Path, env: Optional[Dict[str, str]] = None
                          ) -> Tuple[int, List[str]]:
    """memmap's main(argv) in a fresh interpreter: its exit status and the modules it loaded.
    `cwd` keeps the checkout off sys.path (`python -c` puts the working folder first), so that
    the installed package runs, as for a user, not the unbuilt source tree."""
    code = ("import sys\nfrom memmap_tui.cli import main\n"
            f"status = main({argv!r})\n"
            "print(status, ' '.join(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env, cwd=cwd)
    assert done.stdout.strip(), done.stderr
    status, _, modules = done.stdout.strip().splitlines()[-1].partition(" ")
    return int(status), modules.split()


def _screen_modules(modules: List[str]) -> List[str]:
    return [m for m in modules if m.startswith(tuple(lib + "." for lib in SCREEN_LIBRARIES))
            or m in SCREEN_LIBRARIES]


def test_record_imports_no_screen_library(tmp_path: Path) -> None:
    status, modules = _main_in_a_new_python(
        ["record", "-o", str(tmp_path / "r.csv"), "--interval", "0.01", "--duration", "0.05"],
        tmp_path)
    assert status == 0
    assert _screen_modules(modules) == []


def test_run_imports_no_screen_library(tmp_path: Path) -> None:
    status, modules = _main_in_a_new_python(["run", "--interval", "0.01", "--", "true"],
                                            tmp_path)
    assert status == 0
    assert _screen_modules(modules) == []


def test_help_loads_neither_the_collectors_nor_the_sampler(tmp_path: Path) -> None:
    code = ("import sys\nfrom memmap_tui.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    modules = done.stdout.strip().splitlines()[-1].split()
    assert "memmap_tui.collector" not in modules and "memmap_tui.sampler" not in modules


def _plugin_environment(tmp_path: Path) -> Dict[str, str]:
    write_answer_plugin(tmp_path)
    path = os.pathsep.join([str(tmp_path)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {**os.environ, "PYTHONPATH": path}


def test_memmap_collectors_lists_a_third_party_collector(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "memmap_tui", "collectors"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env=_plugin_environment(tmp_path))
    assert done.returncode == 0
    assert any(line.split()[:3] == ["answer", "yes", "always"]
               for line in done.stdout.splitlines())


def test_record_runs_a_third_party_collector_named_beside_a_built_in_one(tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    status, _ = _main_in_a_new_python(
        ["record", "-o", str(out), "--interval", "0.01", "--duration", "0.05",
         "--collectors", "host,answer"], tmp_path, env=_plugin_environment(tmp_path))
    assert status == 0
    header, first = out.read_text().splitlines()[:2]
    column = header.split(",").index("answer.value_count")
    assert float(first.split(",")[column]) == 42.0
