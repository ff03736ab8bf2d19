"""`memmap record` with the tegrastats collector driven by the replay of real captured lines."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

from conftest import ROOT, SHARED, memmap_cmd, memmap_env

REPLAY = ROOT / "tests" / "replay_tegrastats.py"
LINES = SHARED / "fixtures" / "tegrastats" / "lines.jsonl"


def expected(line_id: str) -> dict:
    for raw in LINES.read_text().splitlines():
        entry = json.loads(raw)
        if entry["id"] == line_id:
            return entry["expect"]
    raise KeyError(line_id)


def test_record_writes_tegra_columns_from_the_replayed_lines(tmp_path: Path) -> None:
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
    assert float(last["tegra.ram.used_bytes"]) == want["ram_used_bytes"]
    assert float(last["tegra.gpu.util_percent"]) == want["gpu_util_percent"]
    assert float(last["tegra.emc.util_percent"]) == want["emc_util_percent"]
    assert "host.mem.used_bytes" in last
    assert last["tegra.emc.bytes_per_second"] == ""  # not a known module here: no guess


def test_environment_variable_names_the_executable(tmp_path: Path) -> None:
    env = memmap_env()
    env["MEMMAP_TEGRASTATS"] = str(REPLAY)
    out = subprocess.run([*memmap_cmd(), "collectors"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=30)
    line = [x for x in out.stdout.splitlines() if x.startswith("tegrastats")][0]
    assert " yes " in line, out.stdout
    assert os.access(REPLAY, os.X_OK)
