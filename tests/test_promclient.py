"""The Prometheus query client against real HTTP servers on loopback: a stand-in that answers
what a real Prometheus answers (a vector, a refused query) and what a wrong or sick one does (an
HTML page, no JSON, a huge answer, no answer in time, a closed port). Each failure is one line."""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Iterator, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

from memmap_tui.cluster.client import PrometheusClient, PrometheusError, check_url
from memmap_tui.collector import UsageError

VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"instance": "node01:9464", "hpc_job": "4711"}, "value": [1700000000.5, "12.5"]},
    {"metric": {"instance": "node02:9464"}, "value": [1700000000.5, "NaN"]},
]}}
Reply = Callable[[BaseHTTPRequestHandler], None]


def _json(status: int, body: object) -> Reply:
    def reply(h: BaseHTTPRequestHandler) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return reply


def _raw(status: int, data: bytes, delay: float = 0.0) -> Reply:
    def reply(h: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        h.send_response(status)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return reply


@pytest.fixture
def server() -> Iterator[Tuple[str, Dict[str, object]]]:
    """A local HTTP server; tests set state["reply"] and read state["asked"]."""
    state: Dict[str, object] = {"reply": _json(200, VECTOR), "asked": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state["asked"].append(self.path)  # type: ignore[attr-defined]
            state["reply"](self)  # type: ignore[operator]

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    httpd.shutdown()
    httpd.server_close()


def test_a_vector_with_its_labels_values_and_time(server) -> None:
    url, state = server
    got = PrometheusClient(url).query("memmap_job_info", at=1700000000.5)
    assert [(s.labels, s.time) for s in got] == [
        ({"instance": "node01:9464", "hpc_job": "4711"}, 1700000000.5),
        ({"instance": "node02:9464"}, 1700000000.5)]
    assert got[0].value == 12.5 and got[1].value != got[1].value  # NaN stays NaN
    path = urlsplit(state["asked"][0])  # type: ignore[index]
    assert path.path == "/api/v1/query"
    assert parse_qs(path.query) == {"query": ["memmap_job_info"], "time": ["1700000000.500"]}


def test_a_path_prefix_is_kept(server) -> None:
    url, state = server
    PrometheusClient(url + "/prometheus/").query("up")
    assert state["asked"][0].startswith("/prometheus/api/v1/query?")  # type: ignore[index]


@pytest.mark.parametrize("reply, words", [
    (_json(400, {"status": "error", "errorType": "bad_data",
                 "error": "1:5: parse error: unexpected\nend of input"}),
     "Prometheus refused the query: bad_data: 1:5: parse error: unexpected end of input"),
    (_raw(404, b"<html>404 page not found</html>"), "is not a Prometheus query API (HTTP 404"),
    (_raw(200, b"<html>hello</html>"), "is not a Prometheus query API (no JSON)"),
    (_json(200, {"status": "success", "data": {"resultType": "matrix", "result": []}}),
     "other than an instant vector"),
    (_json(200, {"status": "success", "data": {"resultType": "vector",
                                               "result": [{"metric": {}}]}}), "malformed"),
    (_raw(200, b"x" * 5000), "answered more than"),
    (_raw(200, b"{}", delay=1.5), "did not answer within 0.5 s"),
])
def test_each_failure_is_one_line(server, reply: Reply, words: str) -> None:
    url, state = server
    state["reply"] = reply
    with pytest.raises(PrometheusError) as err:
        PrometheusClient(url, timeout=0.5, max_bytes=4096).query("up")
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_closed_port_is_one_line() -> None:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PrometheusError, match="cannot reach Prometheus at .*refused"):
        PrometheusClient(f"http://127.0.0.1:{port}").query("up")


def test_a_servers_words_are_made_printable(server) -> None:
    url, state = server
    state["reply"] = _json(422, {"status": "error", "errorType": "execution",
                                 "error": "\x1b]0;pwned\x07 \x1b[31mred"})
    with pytest.raises(PrometheusError) as err:
        PrometheusClient(url).query("up")
    assert "\x1b" not in str(err.value) and "\x07" not in str(err.value)


@pytest.mark.parametrize("url", ["prometheus:9090", "ftp://host", "http://", "http://h:x",
                                 "http://h:9090/?q=1", "/api"])
def test_a_wrong_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError):
        check_url(url)


def test_credentials_never_reach_a_message() -> None:
    client = PrometheusClient("http://alice:secret@127.0.0.1:1")
    with pytest.raises(PrometheusError) as err:
        client.query("up")
    assert "secret" not in str(err.value) and "alice" not in str(err.value)
