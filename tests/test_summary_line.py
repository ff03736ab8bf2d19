"""`memmap run --json-line`: the summary as one JSON line of at most 1 KB (Slurm's AdminComment),
from a summary shaped as RunSummary.result() gives it, and from a real `memmap run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import memmap_cmd, memmap_env

from memmap_tui.sinks.summary_line import LIMIT, json_line

FLOW = {"mean_bytes_per_second": 1234567.0, "p95_bytes_per_second": 2e6, "total_bytes": 5e8}


def result(**over) -> dict:  # type: ignore[no-untyped-def]
    base = {
        "command": ["python", "train.py", "--epochs", "3"], "exit_status": 0,
        "duration_seconds": 612.345, "samples": 1224,
        "job": {"id": "4711", "user": "alice", "scheduler": "slurm", "cgroup": "/x"},
        "read": {"calls": FLOW, "storage": FLOW, "page_cache_percent": 12.0},
        "write": {"calls": FLOW, "storage": FLOW},
        "flows": {"disk_read": FLOW, "net_rx": FLOW},
        "waiting": {"share_percent": 37.25, "source": "x"},
        "memory": {"peak_rss_bytes": 3.5e9, "peak_gpu_bytes": None, "gpu_scope": None,
                   "rss_growth_bytes_per_minute": 1.0},
        "gpu": {"mean_util_percent": {"GPU 0": 41.44}},
        "verdict": {"level": "bad", "cause": "storage", "text": "storage: nvme0n1 busy 97 %"},
    }
    base.update(over)
    return base


def test_the_line_holds_the_job_the_flows_and_the_cause() -> None:
    got = json.loads(json_line(result()))
    assert (got["job"], got["user"], got["scheduler"], got["exit"]) == ("4711", "alice", "slurm", 0)
    assert got["s"] == 612 and got["wait"] == float(f"{37.25:.3g}")
    assert got["read"] == {"calls": 1230000, "storage": 1230000}
    assert got["flows"] == {"disk_read": 1230000, "net_rx": 1230000}
    assert got["peak"] == {"rss": 3500000000}  # a peak that is not known is left out
    assert got["gpu"] == {"GPU 0": 41.4}
    assert (got["cause"], got["level"]) == ("storage", "bad")


def test_the_line_is_one_ascii_line_of_at_most_1_kb_whatever_it_holds() -> None:
    huge = result(command=["x" * 5000], job={"id": "é" * 128, "user": "ü" * 128,
                                             "scheduler": "slurm"},
                  gpu={"mean_util_percent": {f"GPU {i}": 50.0 for i in range(64)}},
                  flows={f"flow{i}": FLOW for i in range(50)},
                  verdict={"level": "warn", "cause": "network", "text": "y\n" * 400})
    line = json_line(huge)
    assert len(line.encode()) <= LIMIT and line.isascii() and "\n" not in line
    got = json.loads(line)
    assert got["cause"] == "network" and got["memmap"] == 1


def test_nan_never_reaches_the_json() -> None:
    line = json_line(result(duration_seconds=float("nan"),
                            waiting={"share_percent": float("inf")}))
    got = json.loads(line)
    assert got["s"] is None and got["wait"] is None


def test_memmap_run_prints_the_line_last_on_stdout(tmp_path: Path) -> None:
    env = dict(memmap_env(), SLURM_JOB_ID="4711", SLURM_JOB_USER="alice")
    out = subprocess.run([*memmap_cmd(), "run", "--json-line", "--interval", "0.1", "--",
                          sys.executable, "-c", "print('hello')"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "hello" and len(lines) == 2 and len(lines[1].encode()) <= LIMIT
    got = json.loads(lines[1])
    assert (got["job"], got["user"], got["scheduler"]) == ("4711", "alice", "slurm")
    assert got["cmd"].endswith("print('hello')") and got["exit"] == 0
    assert "job       slurm 4711 (alice)" in out.stderr


def test_without_the_option_stdout_is_the_commands_alone(tmp_path: Path) -> None:
    env = {k: v for k, v in memmap_env().items() if not k.startswith("SLURM_")}
    out = subprocess.run([*memmap_cmd(), "run", "--", sys.executable, "-c", "print('x')"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == "x\n"
