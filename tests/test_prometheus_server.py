"""A real Prometheus server scrapes a real `memmap serve` every second and answers a rate() query
through its HTTP API. Needs the prometheus binary (/usr/bin/prometheus; .ci/run installs it with
apt): on a developer machine without it the test skips and says so; under CI (CI=true) a missing
binary is a failure, not a skip."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from typing import Iterator, Tuple

import pytest
from test_prom_docs import dashboard_targets
from test_serve import free_port, start_serve, wait_for_metrics

QUERY = "rate(memmap_host_disk_read_bytes_total[5s])"


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI is set but the prometheus binary is missing (.ci/run installs it)")
    pytest.skip("prometheus is not installed here (apt install prometheus); CI runs this test")


def query(port: int, promql: str) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    return json.loads(urllib.request.urlopen(url, timeout=5).read())


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[int, subprocess.Popen]]:
    """`memmap serve` sampling every 0.5 s, and a real Prometheus scraping it every second."""
    binary = prometheus_binary()
    tmp = tmp_path_factory.mktemp("prometheus")
    memmap_port, prom_port = free_port(), free_port()
    serve = start_serve("--listen", f"127.0.0.1:{memmap_port}", "--interval", "0.5")
    config = tmp / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                      "scrape_configs:\n"
                      "  - job_name: memmap\n"
                      f"    static_configs: [{{targets: ['127.0.0.1:{memmap_port}']}}]\n")
    prom = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_metrics(f"http://127.0.0.1:{memmap_port}/metrics", serve)
        yield prom_port, prom
    finally:
        prom.send_signal(signal.SIGTERM)
        serve.send_signal(signal.SIGTERM)
        prom.communicate(timeout=20)
        serve.communicate(timeout=10)
    assert serve.returncode == 0


@pytest.mark.slow
def test_real_prometheus_scrapes_serve_and_answers_rate(prometheus) -> None:
    port, prom = prometheus
    result = _wait_for_result(prom, port, QUERY, timeout=40)
    devices = {r["metric"].get("device") for r in result}
    assert devices and None not in devices  # per-device series, no unlabelled one mixed in
    assert all(float(r["value"][1]) >= 0 for r in result)
    up = query(port, 'memmap_collector_up{collector="host"}')["data"]["result"]
    assert [float(r["value"][1]) for r in up] == [1.0]
    assert query(port, 'up{job="memmap"}')["data"]["result"][0]["value"][1] == "1"


@pytest.mark.slow
def test_every_dashboard_query_runs_on_real_prometheus(prometheus) -> None:
    """Grafana's variables filled in as Grafana would; host panels must have data here."""
    port, prom = prometheus
    _wait_for_result(prom, port, QUERY, timeout=40)
    for target in dashboard_targets():
        promql = (target["expr"].replace("$__rate_interval", "5s").replace("$instance", ".+")
                  .replace("$job", ".*"))
        answer = query(port, promql)
        assert answer["status"] == "success", (promql, answer)
        if "memmap_host_" in promql or "memmap_self_" in promql:
            assert answer["data"]["result"], promql


def _wait_for_result(prom: subprocess.Popen, port: int, promql: str, timeout: float) -> list:
    """A query answers 'success' with an empty result until scrapes are in: wait for data."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prom.poll() is not None:
            raise AssertionError(f"prometheus exited: {prom.communicate()[1][-500:]}")
        try:
            answer = query(port, promql)
            if answer["status"] == "success" and answer["data"]["result"]:
                return list(answer["data"]["result"])
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prometheus returned no data for {promql} within {timeout} s")


def test_ci_marker_is_honoured_by_the_binary_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the binary is missing, CI=true turns the skip into a failure."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(os, "access", lambda *_: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        prometheus_binary()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        prometheus_binary()

