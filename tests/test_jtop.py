"""The jtop source (and `--collectors jtop`) with a fake client.

The jtop service is faked at one thin adapter, the client object (`FakeClient`: connect,
snapshot, close) that the source is given instead of a `JtopAdapter` over jetson-stats; its
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
from memmap_tui.collectors.jetson import JtopCollector
from memmap_tui.collectors.jetson.jtop import EXTRA_HINT, SERVICE_HINT, JtopAdapter, JtopSource

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


@pytest.fixture
def opened(socket_path):
    made: List[JtopCollector] = []

    def make(client: Optional[FakeClient] = None, **kwargs: Any) -> JtopCollector:
        kwargs.setdefault("interval", 0.05)
        c = JtopCollector([JtopSource(client=client or FakeClient(), socket_path=socket_path,
                                      timeout=1.0, **kwargs)])
        made.append(c)
        c.open()
        return c

    yield make
    for c in made:
        c.close()


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def values(c: JtopCollector) -> Dict[str, float]:
    return dict(zip((s.name for s in c.metrics()), c.collect()))


def test_probe_without_the_extra_says_install_it(monkeypatch, socket_path):
    monkeypatch.setitem(sys.modules, "jtop", None)  # `from jtop import jtop` raises ImportError
    avail = JtopSource(socket_path=socket_path).probe()
    assert not avail.available
    assert avail.reason == EXTRA_HINT
    assert "pip install memmap-tui[jetson]" in avail.reason


def test_probe_without_the_socket_says_start_the_service(tmp_path):
    client = FakeClient()
    avail = JtopSource(client=client, socket_path=str(tmp_path / "none.sock")).probe()
    assert not avail.available
    assert avail.reason.startswith(SERVICE_HINT)
    assert "sudo systemctl start jtop" in avail.reason
    assert not client.connected  # the socket is checked before trying


def test_probe_when_the_service_refuses_says_start_the_service(socket_path):
    client = FakeClient(connect_error=ConnectionRefusedError(111, "Connection refused"))
    avail = JtopSource(client=client, socket_path=socket_path).probe()
    assert not avail.available
    assert avail.reason.startswith(SERVICE_HINT) and "refused" in avail.reason


def test_probe_never_hangs_on_a_silent_service(socket_path):
    client = FakeClient(hang=True)
    started = time.monotonic()
    avail = JtopSource(client=client, socket_path=socket_path, timeout=0.2).probe()
    assert time.monotonic() - started < 2.0
    assert not avail.available and "no answer within 0.2 s" in avail.reason
    client.hang.set()


def test_probe_with_a_running_service_is_available_and_closes_its_client(socket_path):
    client = FakeClient()
    assert JtopSource(client=client, socket_path=socket_path).probe().available
    assert client.closed == 1


def test_open_when_the_service_is_down_raises_with_the_hint(socket_path):
    client = FakeClient(connect_error=OSError("jetson_stats.service is not active"))
    with pytest.raises(CollectorError, match="sudo systemctl start jtop"):
        JtopCollector([JtopSource(client=client, socket_path=socket_path)]).open()
    assert client.closed == 1


def test_table_rows_carry_per_process_gpu_memory_in_bytes(opened):
    c = opened()
    c.collect()
    assert c.table()[0] == {"gpu": 0, "pid": 4242, "name": "python3", "user": "ml",
                            "used_gpu_memory_bytes": 1_048_576 * 1024,
                            "rss_bytes": 2_000_000 * 1024, "cpu_percent": 87.5}
    assert [row["pid"] for row in c.table()] == [4242, 4300, 77]


def test_malformed_process_rows_are_skipped(opened):
    c = opened(FakeClient(processes=[PROCESSES[0], [1, "x"], None, "junk"]))
    c.collect()
    assert [row["pid"] for row in c.table()] == [4242]


def test_engines_become_online_and_clock_gauges_beside_the_base_columns(opened):
    c = opened()
    r = values(c)
    own = {k: v for k, v in r.items() if c.provenance.get(k) == "jtop"}
    assert own == {
        "jetson.gpu.process_memory_bytes": (1_048_576 + 262_144 + 1024) * 1024,
        "jetson.engine.ape.online": 0.0, "jetson.engine.ape.freq_mhz": 150.0,
        "jetson.engine.dla0_core.online": 1.0, "jetson.engine.dla0_core.freq_mhz": 1408.0,
        "jetson.engine.dla0_falcon.online": 0.0, "jetson.engine.dla0_falcon.freq_mhz": 640.0,
        "jetson.engine.nvenc.online": 1.0, "jetson.engine.nvenc.freq_mhz": 1113.6,
    }
    others = set(r) - set(own)  # RAM, GPU, EMC: declared, NaN, since jtop alone reads none
    assert "jetson.ram.used_bytes" in others and all(math.isnan(r[k]) for k in others)
    spec = next(s for s in c.metrics() if s.name == "jetson.engine.nvenc.freq_mhz")
    assert spec.family == "jetson.engine.freq_mhz" and spec.labels == (("engine", "nvenc"),)


def test_an_engine_gone_later_reads_nan(opened):
    client = FakeClient()
    c = opened(client)
    client.engines = {"APE": ENGINES["APE"]}
    assert wait_for(lambda: math.isnan(values(c)["jetson.engine.nvenc.freq_mhz"]))
    assert len(values(c)) == len(c.metrics())


def test_collect_reads_the_mailbox_and_never_waits_for_the_service(opened):
    client, hung = FakeClient(), threading.Event()
    c = opened(client, interval=0.01)
    client.snapshot = lambda: hung.wait(10)  # a service that hangs from now on
    time.sleep(0.05)
    started = time.monotonic()
    for _ in range(100):
        c.collect()
    assert time.monotonic() - started < 0.5
    hung.set()


def test_a_lost_connection_goes_stale_then_reconnects_after_a_backoff(opened):
    client = FakeClient()
    c = opened(client, stale_after=0.3)
    client.lost = True
    assert wait_for(lambda: math.isnan(values(c)["jetson.gpu.process_memory_bytes"]))
    assert c.table() == []
    closed_before = client.closed
    assert closed_before >= 1  # the lost client was closed before reconnecting
    client.lost = False
    assert wait_for(lambda: not math.isnan(values(c)["jetson.gpu.process_memory_bytes"]))


def test_close_is_idempotent(opened):
    client = FakeClient()
    c = opened(client)
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
