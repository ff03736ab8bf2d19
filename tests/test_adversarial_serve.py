"""Adversarial clients of `memmap serve`: a crowd, connections that reset, idle, trickle, send
junk or never read, and listen addresses a hostile user can type. Real sockets on loopback; the
exporter as a real subprocess where its output matters, in-process where a limit is made small.
"""

from __future__ import annotations

import gzip
import http.client
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
from conftest import memmap_cmd, memmap_env
from test_serve import free_port, start_serve, wait_for_metrics

from memmap_tui.commands import scrapeserver
from memmap_tui.commands.scrapeserver import ScrapeServer


@pytest.fixture
def served() -> Iterator[Tuple[subprocess.Popen, int]]:
    port = free_port()
    proc = start_serve("--listen", f"127.0.0.1:{port}", "--interval", "0.5")
    wait_for_metrics(f"http://127.0.0.1:{port}/metrics", proc)
    yield proc, port
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    return err


def scrape(port: int, timeout: float = 5.0) -> bytes:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read()


def test_200_concurrent_clients_are_all_answered(served) -> None:
    proc, port = served
    errors: List[str] = []
    answered = [0]
    end = time.monotonic() + 3.0

    def client() -> None:
        while time.monotonic() < end:
            try:
                body = scrape(port)
                assert b"memmap_collector_up" in body
                answered[0] += 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"{len(errors)} of {len(errors) + answered[0]} failed: {errors[:3]}"
    assert answered[0] >= 200
    stop(proc)


def test_clients_that_reset_mid_request_cost_one_line_at_most(served) -> None:
    proc, port = served
    for i in range(30):
        c = socket.create_connection(("127.0.0.1", port))
        c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" if i % 2 else b"GET /metr")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    time.sleep(0.5)
    assert b"memmap_collector_up" in scrape(port)
    err = stop(proc)
    trouble = [line for line in err.splitlines() if "client" in line]
    assert len(trouble) <= 1 and all("\n" not in line for line in trouble)


def test_800_idle_connections_do_not_delay_a_scrape(served) -> None:
    proc, port = served
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(800)]
    try:
        started = time.monotonic()
        assert b"memmap_collector_up" in scrape(port)
        assert time.monotonic() - started < 2.0
    finally:
        for c in idle:
            c.close()
    stop(proc)


def test_a_trickling_client_does_not_delay_others(served) -> None:
    proc, port = served
    slow = socket.create_connection(("127.0.0.1", port))
    try:
        for ch in b"GET /metrics HTT":
            slow.send(bytes([ch]))
            started = time.monotonic()
            assert b"memmap_host" in scrape(port)
            assert time.monotonic() - started < 2.0
    finally:
        slow.close()
    stop(proc)


def test_a_client_that_never_reads_does_not_stall_the_exporter(served) -> None:
    proc, port = served
    greedy = socket.create_connection(("127.0.0.1", port))
    greedy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        greedy.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 50)  # pipelined, never read
        for _ in range(5):
            assert b"memmap_host" in scrape(port)
    finally:
        greedy.close()
    stop(proc)


def read_responses(sock: socket.socket, want: int, marker: bytes) -> bytes:
    """Read until `marker` was seen `want` times, the peer closes, or 10 s pass."""
    sock.settimeout(10)
    data = b""
    while data.count(marker) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_1000_pipelined_requests_on_one_connection_are_all_answered(served) -> None:
    proc, port = served
    request = b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    with closing(socket.create_connection(("127.0.0.1", port), timeout=10)) as c:
        sender = threading.Thread(target=c.sendall, args=(request * 1000,))
        sender.start()
        data = read_responses(c, 1000, b"HTTP/1.1 ")
        sender.join()
    assert data.count(b"HTTP/1.1 200 OK") == 1000
    stop(proc)  # and no "internal error" on stderr


def test_keep_alive_gzip_and_openmetrics_are_served(served) -> None:
    proc, port = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
    first = conn.getresponse()
    assert first.getheader("Content-Encoding") == "gzip"
    assert b"memmap_collector_up" in gzip.decompress(first.read())
    conn.request("GET", "/metrics", headers={"Accept": "application/openmetrics-text; "
                                                       "version=1.0.0"})
    second = conn.getresponse()
    assert "openmetrics" in second.getheader("Content-Type", "")
    assert second.read().rstrip().endswith(b"# EOF")
    conn.request("HEAD", "/metrics")
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    conn.request("POST", "/metrics", body=b"x")
    assert conn.getresponse().status == 405
    conn.close()
    stop(proc)


@pytest.mark.parametrize("listen", ["127.0.0.1:+80", "127.0.0.1:\u0668\u0660", "127.0.0.1: 80",
                                    "127.0.0.1:80_80", "127.0.0.1:0x50", "127.0.0.1:999999"])
def test_a_port_that_is_not_plain_digits_is_refused(tmp_path: Path, listen: str) -> None:
    out = subprocess.run([*memmap_cmd(), "serve", "--listen", listen], cwd=tmp_path,
                         env=memmap_env(), capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr


# -- in-process, with limits made small ------------------------------------------------------
def answer(path: str, query: str, headers: Dict[str, str]):
    return "200 OK", [("Content-Type", "text/plain")], b"ok\n" * 10


@pytest.fixture
def small_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScrapeServer]:
    monkeypatch.setattr(scrapeserver, "REQUEST_TIMEOUT", 0.5)
    server = ScrapeServer(socket.AF_INET, ("127.0.0.1", 0), answer, max_connections=16)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def get(port: int) -> bytes:
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)) as c:
        c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_when_full_the_longest_idle_connection_makes_room(small_server: ScrapeServer) -> None:
    port = small_server.server_address[1]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    try:
        time.sleep(0.2)
        assert get(port).endswith(b"ok\n")
        assert len(small_server.connections) <= 16
    finally:
        for c in idle:
            c.close()


def test_a_request_that_does_not_arrive_in_time_is_closed(small_server: ScrapeServer) -> None:
    port = small_server.server_address[1]
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)) as c:
        c.sendall(b"GET /metrics HTTP/1.1\r\n")
        reply = c.recv(4096)
        assert reply.startswith(b"HTTP/1.1 408")


def test_an_idle_connection_is_closed_after_the_timeout(small_server: ScrapeServer) -> None:
    port = small_server.server_address[1]
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)) as c:
        assert c.recv(4096) == b""  # closed by the server, nothing sent


def test_an_oversized_request_is_refused(small_server: ScrapeServer) -> None:
    port = small_server.server_address[1]
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)) as c:
        c.sendall(b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 20000)
        assert c.recv(4096).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize("request_line", [b"\x16\x03\x01\x02\x00\r\n\r\n",
                                          b"GET / SPDY/3\r\n\r\n", b"GARBAGE\r\n\r\n"])
def test_junk_is_answered_with_an_error_not_a_traceback(small_server: ScrapeServer,
                                                         request_line: bytes) -> None:
    port = small_server.server_address[1]
    with closing(socket.create_connection(("127.0.0.1", port), timeout=5)) as c:
        c.sendall(request_line)
        assert c.recv(4096).split(b" ")[1] in (b"400", b"505")
    assert get(port).endswith(b"ok\n")


def echo_path(path: str, query: str, headers: Dict[str, str]):
    return "200 OK", [("Content-Type", "text/plain")], f"{path}\n".encode()


def test_pipelined_requests_are_answered_in_order() -> None:
    server = ScrapeServer(socket.AF_INET, ("127.0.0.1", 0), echo_path, max_connections=16)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with closing(socket.create_connection(("127.0.0.1", port), timeout=10)) as c:
            c.sendall(b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(1000)))
            data = read_responses(c, 1000, b"HTTP/1.1 ")
        bodies = [part.split(b"\r\n\r\n", 1)[1] for part in data.split(b"HTTP/1.1 ")[1:]]
        assert bodies == [b"/%d\n" % i for i in range(1000)]
    finally:
        server.shutdown()
        server.server_close()
