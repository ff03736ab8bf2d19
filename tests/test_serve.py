"""`memmap serve` as a real subprocess on a real socket: what it serves, where, how it stops, and
how it refuses a bad --listen."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Iterator, Tuple

import pytest
from conftest import memmap_cmd, memmap_env
from prometheus_client.parser import text_string_to_metric_families

from memmap_tui.cli import build_parser

CONTRACT_SERIES = ("memmap_host_disk_read_bytes_total", "memmap_host_net_rx_bytes_total",
                   "memmap_host_mem_used_bytes", "memmap_host_cpu_iowait_percent",
                   "memmap_collector_up")


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*memmap_cmd(), "serve", *args], env=memmap_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_metrics(url: str, proc: subprocess.Popen, want: str = "memmap_host_cpu_iowait_percent",
                     timeout: float = 15.0) -> str:
    """The first scrape that has `want` (percent gauges need two samples)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            text = urllib.request.urlopen(url, timeout=2).read().decode()
            if f"\n{want}" in text:
                return text
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no {want} at {url} within {timeout} s")


@pytest.fixture
def served() -> Iterator[Tuple[subprocess.Popen, str]]:
    port = free_port()
    proc = start_serve("--listen", f"127.0.0.1:{port}", "--interval", "0.2")
    yield proc, f"http://127.0.0.1:{port}/metrics"
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


def test_default_listen_is_loopback_9464() -> None:
    assert build_parser().parse_args(["serve"]).listen == "127.0.0.1:9464"


def test_serves_the_contract_names_on_the_given_address(served) -> None:
    proc, url = served
    text = wait_for_metrics(url, proc)
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert set(CONTRACT_SERIES) <= names
    assert "# TYPE memmap_host_disk_read_bytes_total counter" in text


def test_counters_grow_between_scrapes(served) -> None:
    proc, url = served
    first = wait_for_metrics(url, proc)
    time.sleep(0.5)
    second = wait_for_metrics(url, proc)

    def busy(text: str) -> float:
        (line,) = [x for x in text.splitlines() if x.startswith("memmap_host_cpu_total_seconds")]
        return float(line.split()[-1])

    assert busy(second) > busy(first)


def test_only_metrics_on_stdout_and_one_line_on_stderr(served) -> None:
    proc, url = served
    wait_for_metrics(url, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert out == ""
    assert err.strip().splitlines() == [
        f"memmap: serving metrics on {url} every 0.2 s (Ctrl-C stops)"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_stop_it_cleanly_with_exit_0(served, sig: int) -> None:
    proc, url = served
    wait_for_metrics(url, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_listening_beyond_loopback_warns_in_one_line() -> None:
    port = free_port()
    proc = start_serve("--listen", f"0.0.0.0:{port}")
    try:
        wait_for_metrics(f"http://127.0.0.1:{port}/metrics", proc,
                         want="memmap_host_mem_used_bytes")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "other machines" in warnings[0]


def test_loopback_does_not_warn(served) -> None:
    proc, url = served
    wait_for_metrics(url, proc, want="memmap_host_mem_used_bytes")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert "warning" not in err


@pytest.mark.parametrize("listen, words", [
    ("127.0.0.1:99999", "out of range"),
    ("127.0.0.1:0", "out of range"),
    ("localhost", "HOST:PORT"),
    ("127.0.0.1:", "HOST:PORT"),
    (":9464", "HOST:PORT"),
    ("127.0.0.1:http", "not a number"),
    ("::1:9464", "brackets"),
    ("192.0.2.1:9464", "not an address of this machine"),  # TEST-NET-1: never local
    ("no-such-host.invalid:9464", "cannot resolve"),
])
def test_bad_listen_is_one_line_exit_2(tmp_path: Path, listen: str, words: str) -> None:
    out = subprocess.run([*memmap_cmd(), "serve", "--listen", listen], env=memmap_env(),
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and words in out.stderr


def test_a_port_in_use_is_one_line_exit_2(tmp_path: Path) -> None:
    with closing(socket.socket()) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([*memmap_cmd(), "serve", "--listen", f"127.0.0.1:{port}"],
                             env=memmap_env(), cwd=tmp_path, capture_output=True, text=True,
                             timeout=30)
    assert out.returncode == 2 and "already in use" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_ipv6_loopback_in_brackets_serves() -> None:
    if not socket.has_ipv6:
        pytest.skip("this Python has no IPv6")
    try:
        with closing(socket.socket(socket.AF_INET6)) as s:
            s.bind(("::1", 0))
            port = s.getsockname()[1]
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    proc = start_serve("--listen", f"[::1]:{port}")
    try:
        text = wait_for_metrics(f"http://[::1]:{port}/metrics", proc,
                                want="memmap_host_mem_used_bytes")
        assert "memmap_host_mem_used_bytes" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert "warning" not in err


def test_the_job_and_constant_labels_are_an_info_series() -> None:
    port = free_port()
    env = dict(memmap_env(), SLURM_JOB_ID="4711", SLURM_JOB_USER="alice")
    proc = subprocess.Popen([*memmap_cmd(), "serve", "--listen", f"127.0.0.1:{port}",
                             "--label", "rack=r7", "--label", "site=Zürich \"b\""], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        text = wait_for_metrics(f"http://127.0.0.1:{port}/metrics", proc,
                                want="memmap_verdict_info")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    (info,) = [s for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "memmap_job_info"]
    assert info.labels == {"hpc_job": "4711", "user": "alice", "scheduler": "slurm",
                           "rack": "r7", "site": 'Zürich "b"'}
    assert info.value == 1.0


@pytest.mark.parametrize("label, words", [
    ("rack", "KEY=VALUE"),
    ("1rack=a", "not a Prometheus label name"),
    ("__x=a", "not a Prometheus label name"),
    ("job=a", "Prometheus sets 'job' itself"),
    ("instance=a", "Prometheus sets 'instance' itself"),
    ("rack=a\x07", "printable"),
])
def test_a_bad_label_is_one_line_exit_2(tmp_path: Path, label: str, words: str) -> None:
    out = subprocess.run([*memmap_cmd(), "serve", "--listen", f"127.0.0.1:{free_port()}",
                          "--label", label], env=memmap_env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and words in out.stderr


def test_the_same_label_twice_is_refused() -> None:
    from memmap_tui.collector import UsageError
    from memmap_tui.commands.serve import parse_labels

    assert parse_labels(["hpc_job=9", "rack=r7"]) == {"hpc_job": "9", "rack": "r7"}
    with pytest.raises(UsageError, match="twice"):
        parse_labels(["rack=a", "rack=b"])
