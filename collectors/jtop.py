"""What the jtop service (jetson-stats) knows beyond the sysfs and tegrastats collectors.

jetson-stats is AGPL-3.0, so it stays an optional extra (`pip install memmap-tui[jetson]`) and is
used only through its public client API, `from jtop import jtop`, imported lazily inside a thin
adapter (`JtopAdapter`); tests pass a fake client instead.

Sources and units:
  jetson.processes   per-process GPU memory. The service runs as root and reads the nvmap
                     debugfs tables we cannot read without root. Rows of `table()`:
                     {"gpu": 0, "pid", "name", "user", "used_gpu_memory_bytes", "rss_bytes",
                     "cpu_percent"} (jtop gives kB; we give bytes).
  jetson.engine      the hardware engines (APE, DLA, PVA, VIC, NVENC, NVDEC, NVJPG, OFA, ...):
                     jtop.engine.<name>.online (1/0) and jtop.engine.<name>.freq_mhz (jtop: kHz).
  jtop.gpu.process_memory_bytes   the rows' GPU memory summed.

Engines are listed once, at open(), from the first answer. The client connects on its own
thread with a timeout, after checking that the service socket (/run/jtop.sock) exists, so a dead
service never hangs the caller.

Known gaps: jtop's own sampling interval (0.5 s by default) bounds the freshness; engine names
and process columns follow jetson-stats 4.x; Jetson Thor per-process rows come from NVML inside
jtop (the nvml collector gives them directly).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence

from memmap_tui.collector import Availability, Collector, CollectorError, CollectorOptions
from memmap_tui.model import NAN, MetricSpec, gauge

from .gpu_common import sum_gpu_memory
from .jetson import slug

log = logging.getLogger("memmap_tui.jtop")

SOCKET_PATH = "/run/jtop.sock"
CONNECT_TIMEOUT = 3.0
EXTRA_HINT = "extra not installed (pip install memmap-tui[jetson])"
SERVICE_HINT = "jtop service not running (sudo systemctl start jtop)"

# Columns of a jetson-stats 4.x process row.
PID, USER, GPU, TYPE, PRIORITY, STATE, CPU, MEM_KB, GPU_MEM_KB, NAME = range(10)


class JtopAdapter:
    """The thin adapter over `jtop.jtop`: connect(), snapshot() and close(); nothing else."""

    def __init__(self, interval: float = 0.5) -> None:
        from jtop import jtop  # ImportError when the [jetson] extra is not installed

        self._jetson = jtop(interval=interval)

    def connect(self) -> None:
        self._jetson.start()
        self._jetson.ok()  # waits for the service's first answer

    def snapshot(self) -> Dict[str, Any]:
        if not self._jetson.is_alive():
            raise ConnectionError("lost the connection to the jtop service")
        return {"processes": list(self._jetson.processes), "engines": _plain(self._jetson.engine)}

    def close(self) -> None:
        self._jetson.close()


def _plain(mapping: Any) -> Dict[str, Any]:
    """jtop's dict-like objects as plain nested dicts ({} where one is not dict-like)."""
    try:
        items = dict(mapping).items()
    except (TypeError, ValueError):
        return {}
    return {str(k): _plain(v) if hasattr(v, "keys") else v for k, v in items}


def connect_with_timeout(client: Any, timeout: float) -> Optional[str]:
    """Run client.connect() on a daemon thread; None on success, else why it failed."""
    outcome: Dict[str, BaseException] = {}

    def run() -> None:
        try:
            client.connect()
        except BaseException as exc:  # reported to the caller, never lost
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="memmap-jtop-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"no answer within {timeout:g} s"
    error = outcome.get("error")
    return None if error is None else f"{type(error).__name__}: {error}"


def process_rows(processes: Sequence[Sequence[Any]]) -> List[Dict[str, Any]]:
    """jetson-stats process rows -> our table rows (bytes); malformed rows are skipped."""
    rows = []
    for p in processes:
        try:
            rows.append({
                "gpu": 0, "pid": int(p[PID]), "name": str(p[NAME]), "user": str(p[USER]),
                "used_gpu_memory_bytes": float(p[GPU_MEM_KB]) * 1024,
                "rss_bytes": float(p[MEM_KB]) * 1024, "cpu_percent": float(p[CPU]),
            })
        except (IndexError, TypeError, ValueError):
            log.debug("skipped jtop process row %r", p)
    return rows


def flatten_engines(engines: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """jtop's {group: {engine: state}} -> {slug(engine): state}.

    {"DLA0": {"DLA0_CORE": {...}}, "APE": {"APE": {...}}} -> {"dla0_core": {...}, "ape": {...}}
    """
    flat: Dict[str, Dict[str, Any]] = {}
    for group in engines.values():
        for name, state in (group.items() if isinstance(group, dict) else ()):
            if isinstance(state, dict):
                flat.setdefault(slug(name), state)
    return flat


class JtopCollector(Collector):
    """Per-process GPU memory and engine clocks from the jtop service."""

    name = "jtop"
    slow = True  # a socket round trip to another process

    def __init__(self, client: Any = None, socket_path: str = SOCKET_PATH,
                 timeout: float = CONNECT_TIMEOUT, interval: float = 0.5,
                 client_factory: Optional[Callable[[], Any]] = None) -> None:
        self._given = client
        self._factory = client_factory or (lambda: JtopAdapter(interval))
        self.socket_path = socket_path
        self.timeout = timeout
        self._client: Any = None
        self._engines: List[str] = []
        self._specs: List[MetricSpec] = []
        self._rows: List[Dict[str, Any]] = []

    @classmethod
    def from_options(cls, options: CollectorOptions) -> JtopCollector:
        return cls(interval=options.interval)

    def probe(self) -> Availability:
        if self._given is None and importlib.util.find_spec("jtop") is None:
            return Availability(False, EXTRA_HINT)
        if not os.path.exists(self.socket_path):
            return Availability(False, f"{SERVICE_HINT}: no {self.socket_path}")
        try:
            client = self._new_client()
        except ImportError:
            return Availability(False, EXTRA_HINT)
        except Exception as exc:  # probe never raises
            return Availability(False, f"jtop client failed: {exc}")
        error = connect_with_timeout(client, self.timeout)
        _close_quietly(client)
        if error:
            return Availability(False, f"{SERVICE_HINT}: {error}")
        return Availability(True, "jtop service answers")

    def open(self) -> None:
        try:
            client = self._new_client()
        except ImportError as exc:
            raise CollectorError(EXTRA_HINT) from exc
        if not os.path.exists(self.socket_path):
            raise CollectorError(f"{SERVICE_HINT}: no {self.socket_path}")
        error = connect_with_timeout(client, self.timeout)
        if error:
            _close_quietly(client)
            raise CollectorError(f"{SERVICE_HINT}: {error}")
        self._client = client
        first = self._snapshot()
        self._engines = sorted(flatten_engines(first.get("engines", {})))
        self._specs = self._build_specs()

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def collect(self) -> Sequence[float]:
        snap = self._snapshot()
        self._rows = process_rows(snap.get("processes", ()))
        engines = flatten_engines(snap.get("engines", {}))
        values = [sum_gpu_memory(self._rows, {r["pid"] for r in self._rows})]
        for name in self._engines:
            state = engines.get(name, {})
            online = state.get("online")
            values += [NAN if online is None else float(bool(online)), _mhz(state.get("cur"))]
        return values

    def table(self) -> Optional[List[Dict[str, Any]]]:
        return list(self._rows)

    def gpu_memory_bytes(self, pids: Sequence[int]) -> float:
        """GPU memory held by `pids` at the last collect (see gpu_common.sum_gpu_memory)."""
        return sum_gpu_memory(self._rows, pids)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)

    # -- inside --------------------------------------------------------------------------------

    def _new_client(self) -> Any:
        return self._given if self._given is not None else self._factory()

    def _snapshot(self) -> Dict[str, Any]:
        if self._client is None:
            raise CollectorError("jtop collector is not open")
        try:
            return dict(self._client.snapshot())
        except Exception as exc:
            raise CollectorError(f"jtop: {exc}") from exc

    def _build_specs(self) -> List[MetricSpec]:
        specs = [gauge("jtop.gpu", "process_memory_bytes", "bytes",
                       "GPU memory of all processes, as the jtop service reads it from nvmap")]
        for name in self._engines:
            specs.append(gauge("jtop.engine", "online", "count",
                               f"Engine {name} clocked on (1) or off (0)", name, "engine"))
            specs.append(gauge("jtop.engine", "freq_mhz", "MHz", f"Engine {name} clock", name,
                               "engine"))
        return specs


def _mhz(khz: Any) -> float:
    try:
        value = float(khz) / 1000.0
    except (TypeError, ValueError):
        return NAN
    return value if math.isfinite(value) else NAN


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception as exc:  # closing a half-open client must not raise
        log.debug("jtop close: %s", exc)
