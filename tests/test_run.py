"""`memmap run -- CMD`: exit status pass-through, the summary, its JSON and CSV, and signals;
run as a real subprocess launching real commands."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env

PY = sys.executable


def memmap_run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*memmap_cmd(), "run", *args], cwd=cwd, env=memmap_env(),
                          timeout=timeout, capture_output=True, text=True)


@pytest.mark.parametrize("command, code", [
    (["true"], 0),
    ([PY, "-c", "raise SystemExit(3)"], 3),
    ([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], 128 + 9),
    ([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"], 128 + 15),
])
def test_the_command_exit_status_is_passed_through(tmp_path: Path, command: list,
                                                   code: int) -> None:
    out = memmap_run("--interval", "0.1", "--", *command, cwd=tmp_path)
    assert out.returncode == code, out.stderr
    assert "memmap run:" in out.stderr and "Traceback" not in out.stderr


def test_a_command_that_is_not_found_exits_127_with_one_line(tmp_path: Path) -> None:
    out = memmap_run("--", "no-such-command-memmap", cwd=tmp_path)
    assert out.returncode == 127
    assert out.stderr.strip() == "memmap: command not found: no-such-command-memmap"


@pytest.mark.parametrize("args", [[], ["--"], ["--interval", "0.1"]])
def test_no_command_is_a_usage_error(tmp_path: Path, args: list) -> None:
    out = memmap_run(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("memmap: error: no command to run")
    assert len(out.stderr.strip().splitlines()) == 1


READS = """
import sys, time
x = bytearray(200 * 2**20)
for i in range(0, len(x), 4096):
    x[i] = 1
total, t = 0, time.time()
while time.time() - t < 1.5:
    total += len(open(sys.argv[1], "rb").read())
open(sys.argv[2], "w").write(str(total))
"""


@pytest.fixture(scope="module")
def summarised(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("run")
    (d / "data.bin").write_bytes(os.urandom(8 * 2**20))
    out = memmap_run("--csv", "run.csv", "--json", "summary.json", "--interval", "0.1", "--",
                     PY, "-c", READS, str(d / "data.bin"), str(d / "truth"), cwd=d)
    return {"out": out, "dir": d, "truth": int((d / "truth").read_text())}


def test_the_summary_answers_throughput_waiting_and_peak_memory(summarised: dict) -> None:
    out = summarised["out"]
    assert out.returncode == 0, out.stderr
    text = out.stderr
    assert "through read() calls" in text and "GB/s" in text or "MB/s" in text
    assert "of wall time waiting for data" in text
    assert "memory    peak" in text and "tree RSS" in text and "tree PSS" in text
    assert "verdict" in text
    # the note that says how to turn delay accounting on, exactly when it is off here
    delayacct = Path("/proc/sys/kernel/task_delayacct")
    off = delayacct.exists() and delayacct.read_text().strip() == "0"
    assert ("sysctl -w kernel.task_delayacct=1" in text) == off


def test_the_json_summary_has_the_bytes_read_and_the_peak_rss(summarised: dict) -> None:
    data = json.loads((summarised["dir"] / "summary.json").read_text())
    truth = summarised["truth"]
    read = data["read"]["calls"]
    assert abs(read["total_bytes"] - truth) / truth <= 0.02
    assert read["p95_bytes_per_second"] >= read["mean_bytes_per_second"] * 0.5
    assert 200 * 2**20 <= data["memory"]["peak_rss_bytes"] <= 200 * 2**20 * 1.15
    assert data["exit_status"] == 0 and data["command"][0] == PY
    assert data["verdict"]["text"]


def test_a_command_that_ends_within_the_first_interval_shows_what_it_read(
        tmp_path: Path) -> None:
    """The tree counts from the launch: a command done before the first sample came is not
    "0 B in all" and "0 % of a core"."""
    (tmp_path / "data.bin").write_bytes(os.urandom(32 * 2**20))
    out = memmap_run("--json", "s.json", "--interval", "2", "--", PY, "-c",
                     "import sys; open(sys.argv[1], 'rb').read()", str(tmp_path / "data.bin"),
                     cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "s.json").read_text())
    read = data["read"]["calls"]["total_bytes"]
    assert 32 * 2**20 <= read <= 40 * 2**20  # the data, and Python's own start-up reads
    assert data["cpu"]["tree_percent"] > 0
    assert data["duration_seconds"] > 0


@pytest.mark.parametrize("chosen", [[], ["--collectors", "host"]])
def test_the_collectors_are_imported_before_the_command_is_launched(tmp_path: Path,
                                                                    chosen: list) -> None:
    """Importing the collectors is most of memmap's time from the launch to the first sample,
    from which the host's figures count (the tree's count from the launch): it is done before
    the launch. Seen from inside a real `memmap run`: which collector modules are loaded when
    it launches the command."""
    from memmap_tui.collector import BUILTIN_COLLECTORS

    wanted = sorted({target.partition(":")[0] for target in BUILTIN_COLLECTORS.values()})
    (tmp_path / "probe.py").write_text(
        "import sys\n"
        "import memmap_tui.commands.run as run\n"
        "real = run.launch\n"
        "def launch(command, forwarder):\n"
        f"    loaded = [m for m in {wanted!r} if m in sys.modules]\n"
        "    print('loaded at launch:', ','.join(loaded), file=sys.stderr)\n"
        "    return real(command, forwarder)\n"
        "run.launch = launch\n"
        "from memmap_tui.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    out = subprocess.run([PY, str(tmp_path / "probe.py"), "run", *chosen, "--interval", "0.1",
                          "--", "true"], cwd=tmp_path, env=memmap_env(), timeout=60,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stderr.splitlines() if x.startswith("loaded at launch:"))
    loaded = line.partition(":")[2].strip().split(",")
    expected = ({"memmap_tui.collectors.host", "memmap_tui.collectors.process"} if chosen
                else set(wanted) - {"memmap_tui.collectors.nvml"})  # nvml needs pynvml
    assert expected <= set(loaded), line


def test_a_launched_tree_counts_from_zero_and_a_watched_one_from_its_first_sample(
        tmp_path: Path) -> None:
    from memmap_tui.collectors.process import ProcessCollector

    (tmp_path / "data.bin").write_bytes(os.urandom(4 * 2**20))
    child = subprocess.Popen(
        [PY, "-c", "import sys, time; open(sys.argv[1], 'rb').read(); print('read', flush=True);"
         " time.sleep(60)", str(tmp_path / "data.bin")], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "read\n"
        got = {}
        for launched in (True, False):
            collector = ProcessCollector(child.pid, launched=launched)
            collector.open()
            names = [spec.name for spec in collector.metrics()]
            got[launched] = collector.collect()[names.index("proc.read_bytes")]
            collector.close()
        assert got[True] >= 4 * 2**20 and got[False] == 0.0
    finally:
        child.kill()
        child.wait()


def test_the_csv_records_the_run_like_record_does(summarised: dict) -> None:
    rows = list(csv.DictReader(open(summarised["dir"] / "run.csv")))
    assert len(rows) >= 10
    assert "proc.read_bytes_per_second" in rows[0] and "host.mem.used_bytes" in rows[0]
    assert rows[-1]["proc.count"] == "0"
    data = json.loads((summarised["dir"] / "summary.json").read_text())
    assert data["csv"] == {"path": "run.csv", "rows": len(rows), "error": None}


def test_existing_output_files_are_refused_before_the_command_runs(tmp_path: Path) -> None:
    (tmp_path / "keep.json").write_text("precious")
    out = memmap_run("--json", "keep.json", "--", "touch", "ran", cwd=tmp_path)
    assert out.returncode == 2 and "exists" in out.stderr
    assert (tmp_path / "keep.json").read_text() == "precious"
    assert not (tmp_path / "ran").exists()


def test_a_missing_command_leaves_no_csv_behind(tmp_path: Path) -> None:
    out = memmap_run("--csv", "r.csv", "--", "no-such-command-memmap", cwd=tmp_path)
    assert out.returncode == 127 and not (tmp_path / "r.csv").exists()


COUNT_SIGNALS = """
import signal, sys, time
got = []
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, lambda n, f: got.append(n))
print("ready", flush=True)
t = time.time()
while time.time() - t < 10 and not got:
    time.sleep(0.01)
time.sleep(0.5)  # a second, doubled signal would arrive here
sys.exit(len(got) * 10 + (got[0] if got else 0))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_sent_to_memmap_reaches_the_command_once(tmp_path: Path, sig: int) -> None:
    proc = subprocess.Popen([*memmap_cmd(), "run", "--interval", "0.1", "--", PY, "-c",
                             COUNT_SIGNALS], cwd=tmp_path, env=memmap_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 10 + sig, err


def test_ctrl_c_in_a_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """The terminal sends SIGINT to the whole foreground group: memmap must not add its own."""
    master, slave = os.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([*memmap_cmd(), "run", "--interval", "0.1", "--", PY, "-c",
                             COUNT_SIGNALS], cwd=tmp_path, env=memmap_env(), stdin=slave,
                            stdout=slave, stderr=slave, preexec_fn=own_terminal)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 20
    while b"ready" not in seen and time.monotonic() < deadline:
        seen += os.read(master, 4096)
    time.sleep(0.3)
    os.write(master, b"\x03")
    code = proc.wait(timeout=20)
    os.close(master)
    assert code == 10 + signal.SIGINT
