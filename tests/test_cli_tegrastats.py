"""`memmap record` and `memmap collectors` with the tegrastats source driven by the replay of real
captured lines (read at run time from the shared fixture)."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

from conftest import ROOT, TEGRASTATS_LINES, memmap_cmd, memmap_env, tegrastats_row

REPLAY = ROOT / "tests" / "replay_tegrastats.py"
LINES = TEGRASTATS_LINES


def expected(line_id: str) -> dict:
    return tegrastats_row(line_id)["expect"]


def test_record_writes_the_jetson_columns_from_the_replayed_lines(tmp_path: Path) -> None:
    env = memmap_env()
    env["MEMMAP_TEGRASTATS_LINES"] = str(LINES)
    wrapper = tmp_path / "tegrastats"  # one AGX Orin line, as a real board would print
    wrapper.write_text(f"#!/bin/sh\nexec {REPLAY} --id 29_mux_24 \"$@\"\n")
    wrapper.chmod(0o755)
    out = subprocess.run([*memmap_cmd(), "record", "-o", "t.csv", "--collectors",
                          "host,tegrastats", "--tegrastats-cmd", str(wrapper), "--interval", "0.2",
                          "--duration", "1.5"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    want = expected("29_mux_24")
    last = rows[-1]
    assert float(last["jetson.ram.used_bytes"]) == want["ram_used_bytes"]
    assert float(last["jetson.gpu.util_percent"]) == want["gpu_util_percent"]
    assert float(last["jetson.emc.util_percent"]) == want["emc_util_percent"]
    assert "host.mem.used_bytes" in last
    assert last["jetson.emc.bytes_per_second"] == ""  # not a known module here: no guess
    assert not [c for c in last if c.startswith(("tegra.", "jtop."))]


def test_environment_variable_names_the_executable(tmp_path: Path) -> None:
    env = memmap_env()
    env["MEMMAP_TEGRASTATS"] = str(REPLAY)
    out = subprocess.run([*memmap_cmd(), "collectors"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=30)
    line = [x for x in out.stdout.splitlines() if x.startswith("tegrastats")][0]
    assert " yes " in line, out.stdout
    assert os.access(REPLAY, os.X_OK)


def test_collectors_says_once_which_source_gives_which_quantity(tmp_path: Path) -> None:
    env = memmap_env()
    env["MEMMAP_TEGRASTATS"] = str(REPLAY)
    out = subprocess.run([*memmap_cmd(), "collectors"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=30)
    rows = {line.split()[0]: line for line in out.stdout.splitlines()[1:]}
    assert "sources: tegrastats (RAM, swap, CPU, GPU util" in rows["jetson"], out.stdout
    assert "a source of the jetson collector" in rows["tegrastats"]
    assert out.stdout.count("sources:") == 1
