"""The jtop collector with a fake client.

The jtop service is faked at one thin adapter, the client object (`FakeClient`: connect,
snapshot, close) that the collector is given instead of a `JtopAdapter` over jetson-stats; its
snapshots have the shape jetson-stats 4.x gives (`processes` rows as lists, `engine` as
{group: {engine: {"online", "cur" (kHz), ...}}}). One test drives the real `JtopAdapter` over a
fake `jtop` module with jetson-stats' public client API.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import types
from typing import Any, Dict, List, Optional

import pytest
from memmap_tui.collectors.jtop import EXTRA_HINT, SERVICE_HINT, JtopAdapter, JtopCollector

from memmap_tui.collector import CollectorError

# pid, user, gpu, type, priority, state, cpu %, rss kB, gpu mem kB, name
PROCESSES = [
    [4242, "ml", "I", "Graphic", 20, "S", 87.5, 2_000_000, 1_048_576, "python3"],
    [4300, "ml", "I", "Graphic", 20, "R", 12.0, 500_000, 262_144, "python3"],
    [77, "root", "I", "Graphic", 20, "S", 0.1, 10_000, 1024, "Xorg"],
]
ENGINES = {
    "APE": {"APE": {"online": False, "cur": 150000}},
    "DLA0": {"DLA0_CORE": {"online": True, "cur": 1408000, "max": 1600000, "min": 0},
             "DLA0_FALCON": {"online": False, "cur": 640000}},
    "NVENC": {"NVENC": {"online": True, "cur": 1113600}},
}


class FakeClient:
    def __init__(self, processes: Optional[List[Any]] = None,
                 engines: Optional[Dict[str, Any]] = None,
                 connect_error: Optional[BaseException] = None, hang: bool = False) -> None:
        self.processes = PROCESSES if processes is None else processes
        self.engines = ENGINES if engines is None else engines
        self.connect_error = connect_error
        self.hang = threading.Event() if hang else None
        self.connected = False
        self.closed = 0
        self.lost = False

    def connect(self) -> None:
        if self.hang is not None:
            self.hang.wait(10)
        if self.connect_error is not None:
            raise self.connect_error
        self.connected = True

    def snapshot(self) -> Dict[str, Any]:
        if self.lost:
            raise ConnectionError("lost the connection to the jtop service")
        return {"processes": self.processes, "engines": self.engines}

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def socket_path(tmp_path):
    path = tmp_path / "jtop.sock"
    path.write_text("")
    return str(path)


def opened(socket_path: str, client: Optional[FakeClient] = None) -> JtopCollector:
    c = JtopCollector(client=client or FakeClient(), socket_path=socket_path, timeout=1.0)
    c.open()
    return c


def test_probe_without_the_extra_says_install_it(monkeypatch, socket_path):
    monkeypatch.setitem(sys.modules, "jtop", None)  # `from jtop import jtop` raises ImportError
    avail = JtopCollector(socket_path=socket_path).probe()
    assert not avail.available
    assert avail.reason == EXTRA_HINT
    assert "pip install memmap-tui[jetson]" in avail.reason


def test_probe_without_the_socket_says_start_the_service(tmp_path):
    client = FakeClient()
    avail = JtopCollector(client=client, socket_path=str(tmp_path / "none.sock")).probe()
    assert not avail.available
    assert avail.reason.startswith(SERVICE_HINT)
    assert "sudo systemctl start jtop" in avail.reason
    assert not client.connected  # the socket is checked before trying


def test_probe_when_the_service_refuses_says_start_the_service(socket_path):
    client = FakeClient(connect_error=ConnectionRefusedError(111, "Connection refused"))
    avail = JtopCollector(client=client, socket_path=socket_path).probe()
    assert not avail.available
    assert avail.reason.startswith(SERVICE_HINT) and "refused" in avail.reason


def test_probe_never_hangs_on_a_silent_service(socket_path):
    client = FakeClient(hang=True)
    started = time.monotonic()
    avail = JtopCollector(client=client, socket_path=socket_path, timeout=0.2).probe()
    assert time.monotonic() - started < 2.0
    assert not avail.available and "no answer within 0.2 s" in avail.reason
    client.hang.set()


def test_probe_with_a_running_service_is_available_and_closes_its_client(socket_path):
    client = FakeClient()
    assert JtopCollector(client=client, socket_path=socket_path).probe().available
    assert client.closed == 1


def test_open_when_the_service_is_down_raises_with_the_hint(socket_path):
    client = FakeClient(connect_error=OSError("jetson_stats.service is not active"))
    with pytest.raises(CollectorError, match="sudo systemctl start jtop"):
        JtopCollector(client=client, socket_path=socket_path).open()
    assert client.closed == 1


def test_table_rows_carry_per_process_gpu_memory_in_bytes(socket_path):
    c = opened(socket_path)
    c.collect()
    assert c.table()[0] == {"gpu": 0, "pid": 4242, "name": "python3", "user": "ml",
                            "used_gpu_memory_bytes": 1_048_576 * 1024,
                            "rss_bytes": 2_000_000 * 1024, "cpu_percent": 87.5}
    assert [row["pid"] for row in c.table()] == [4242, 4300, 77]
    assert c.gpu_memory_bytes([4242, 4300]) == (1_048_576 + 262_144) * 1024


def test_malformed_process_rows_are_skipped(socket_path):
    c = opened(socket_path, FakeClient(processes=[PROCESSES[0], [1, "x"], None, "junk"]))
    c.collect()
    assert [row["pid"] for row in c.table()] == [4242]


def test_engines_become_online_and_clock_gauges(socket_path):
    c = opened(socket_path)
    r = dict(zip((s.name for s in c.metrics()), c.collect()))
    assert r == {
        "jtop.gpu.process_memory_bytes": (1_048_576 + 262_144 + 1024) * 1024,
        "jtop.engine.ape.online": 0.0, "jtop.engine.ape.freq_mhz": 150.0,
        "jtop.engine.dla0_core.online": 1.0, "jtop.engine.dla0_core.freq_mhz": 1408.0,
        "jtop.engine.dla0_falcon.online": 0.0, "jtop.engine.dla0_falcon.freq_mhz": 640.0,
        "jtop.engine.nvenc.online": 1.0, "jtop.engine.nvenc.freq_mhz": 1113.6,
    }
    spec = next(s for s in c.metrics() if s.name == "jtop.engine.nvenc.freq_mhz")
    assert spec.family == "jtop.engine.freq_mhz" and spec.labels == (("engine", "nvenc"),)


def test_an_engine_gone_later_reads_nan(socket_path):
    client = FakeClient()
    c = opened(socket_path, client)
    client.engines = {"APE": ENGINES["APE"]}
    r = dict(zip((s.name for s in c.metrics()), c.collect()))
    assert math.isnan(r["jtop.engine.nvenc.freq_mhz"])
    assert len(r) == len(c.metrics())


def test_lost_connection_raises_collector_error(socket_path):
    client = FakeClient()
    c = opened(socket_path, client)
    client.lost = True
    with pytest.raises(CollectorError, match="lost the connection"):
        c.collect()


def test_close_is_idempotent(socket_path):
    client = FakeClient()
    c = opened(socket_path, client)
    c.close()
    c.close()
    assert client.closed == 1


def test_adapter_over_the_public_jtop_client_api(monkeypatch):
    class FakeJtop:
        def __init__(self, interval: float = 0.5) -> None:
            self.interval, self.started, self.closed = interval, False, False
            self.processes = PROCESSES
            self.engine = ENGINES

        def start(self) -> None:
            self.started = True

        def ok(self) -> bool:
            return True

        def is_alive(self) -> bool:
            return self.started and not self.closed

        def close(self) -> None:
            self.closed = True

    monkeypatch.setitem(sys.modules, "jtop", types.SimpleNamespace(jtop=FakeJtop))
    adapter = JtopAdapter(interval=1.0)
    adapter.connect()
    snap = adapter.snapshot()
    assert snap["processes"] == PROCESSES
    assert snap["engines"]["DLA0"]["DLA0_CORE"]["cur"] == 1408000
    adapter.close()
    with pytest.raises(ConnectionError):
        adapter.snapshot()
