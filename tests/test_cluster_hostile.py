"""`memmap cluster --once` as a real subprocess against a stand-in Prometheus on loopback that
answers well-formed JSON vectors with wild numbers: evaluation times no clock can show, values
far beyond any node's. A broken server is one line and exit 2, a wild value a narrow cell."""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
from conftest import memmap_cmd, memmap_env


def vector(stamp: object, value: str) -> bytes:
    """Two nodes of one job, the answer to every query; `stamp` goes into the JSON as written,
    so that 1e999 reaches the client as text, as a broken server would send it."""
    result = [{"metric": {"instance": name, "hpc_job": "j1", "cause": "io", "level": "bad"},
               "value": ["STAMP", value]} for name in ("node1:9464", "node2:9464")]
    body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
    return body.replace('"STAMP"', str(stamp)).encode()


class FakePrometheus:
    """What the stand-in answers to every query (`answer`) and where it listens (`url`)."""

    def __init__(self) -> None:
        self.answer = vector(1700000000.0, "1")
        self.url = ""


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(fake.answer)))
            self.end_headers()
            self.wfile.write(fake.answer)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()


def once(fake: FakePrometheus, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*memmap_cmd(), "cluster", "--prometheus", fake.url, "--once"],
                          env=memmap_env(), cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("stamp", ["1e20", "1e999", "-1e999", "-1e18", '"NaN"'])
def test_an_evaluation_time_no_clock_can_show_is_a_malformed_vector(
        prometheus: FakePrometheus, tmp_path: Path, stamp: str) -> None:
    prometheus.answer = vector(stamp, "1")
    out = once(prometheus, tmp_path)
    assert out.returncode == 2 and out.stdout == "", out.stderr
    assert out.stderr == "memmap: error: Prometheus answered a malformed vector\n"


@pytest.mark.parametrize("value, shown", [("1e308", "1e+299"), ("-1e20", "-1e+11"),
                                          ("+Inf", "inf")])
def test_a_wild_value_is_a_narrow_cell(prometheus: FakePrometheus, tmp_path: Path, value: str,
                                       shown: str) -> None:
    prometheus.answer = vector(1700000000.0, value)
    out = once(prometheus, tmp_path)
    assert out.returncode == 0, out.stderr
    table = out.stdout.splitlines()[2:]
    assert len(table) == 3 and max(len(line) for line in table) < 120, out.stdout
    assert shown in table[1].split()
