"""The jtop source: what the jtop service (jetson-stats) knows beyond sysfs and tegrastats.

jetson-stats is AGPL-3.0, so it stays an optional extra (`pip install memmap-tui[jetson]`) and is
used only through its public client API, `from jtop import jtop`, imported lazily inside a thin
adapter (`JtopAdapter`); tests pass a fake client instead.

What it gives (the columns of `columns`):
  per-process GPU memory: the service runs as root and reads the nvmap debugfs tables we cannot
      read without root. Rows of `table()`: {"gpu": 0, "pid", "name", "user",
      "used_gpu_memory_bytes", "rss_bytes", "cpu_percent"} (jtop gives kB; we give bytes), and
      their sum, jetson.gpu.process_memory_bytes.
  the hardware engines (APE, DLA, PVA, VIC, NVENC, NVDEC, NVJPG, OFA, ...):
      jetson.engine.<name>.online (1/0) and jetson.engine.<name>.freq_mhz (jtop: kHz).

The client runs on a thread of its own (`memmap_tui.slow`): it connects, then takes a snapshot
every interval into a `Mailbox`; a lost or refused connection is tried again after a `Backoff`.
`read()` only looks at the mailbox, so a dead service never holds up a tick: its columns turn
NaN once the last snapshot is older than `stale_after`. Engines are listed once, at open(), from
the first answer (open waits for it up to `timeout`, after checking that the service socket,
/run/jtop.sock, exists).

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
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from memmap_tui.collector import Availability, CollectorError
from memmap_tui.model import NAN, MetricSpec
from memmap_tui.slow import FIRST_BACKOFF, Backoff, Mailbox

from ..gpu_common import sum_gpu_memory
from . import columns as col
from .source import Source

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
    """jtop's {group: {engine: state}} -> {column_part(engine): state}.

    {"DLA0": {"DLA0_CORE": {...}}, "APE": {"APE": {...}}} -> {"dla0_core": {...}, "ape": {...}}
    """
    flat: Dict[str, Dict[str, Any]] = {}
    for group in engines.values():
        for name, state in (group.items() if isinstance(group, dict) else ()):
            if isinstance(state, dict):
                flat.setdefault(col.column_part(name), state)
    return flat


class JtopSource(Source):
    """Per-process GPU memory and engine clocks from the jtop service."""

    name = "jtop"

    def __init__(self, client: Any = None, socket_path: str = SOCKET_PATH,
                 timeout: float = CONNECT_TIMEOUT, interval: float = 0.5,
                 client_factory: Optional[Callable[[], Any]] = None,
                 stale_after: Optional[float] = None) -> None:
        self._given = client
        self._factory = client_factory or (lambda: JtopAdapter(interval))
        self.socket_path = socket_path
        self.timeout = timeout
        self.interval = interval
        self.stale_after = max(2.0, 4 * interval) if stale_after is None else stale_after
        self._latest: Mailbox[Tuple[Dict[str, Any], float]] = Mailbox()
        self._backoff = Backoff(max(interval, FIRST_BACKOFF))
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._engines: List[str] = []
        self._specs: List[MetricSpec] = []
        self._last: Optional[Tuple[Dict[str, Any], List[float], List[Dict[str, Any]]]] = None
        self._warned = False

    def probe(self, quick: bool = False) -> Availability:
        if self._given is None and importlib.util.find_spec("jtop") is None:
            return Availability(False, EXTRA_HINT)
        if not os.path.exists(self.socket_path):
            return Availability(False, f"{SERVICE_HINT}: no {self.socket_path}")
        if quick:
            return Availability(True, f"jtop service socket {self.socket_path}")
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

    def expected(self) -> List[str]:
        return ["GPU memory per process", "engines"]

    def open(self) -> None:
        """Connect (up to `timeout`), learn the engines from the first answer, then keep
        reading on the source's thread."""
        try:
            client = self._new_client()
        except ImportError as exc:
            raise CollectorError(EXTRA_HINT) from exc
        if not os.path.exists(self.socket_path):
            raise CollectorError(f"{SERVICE_HINT}: no {self.socket_path}")
        error = connect_with_timeout(client, self.timeout)
        try:
            first = None if error else dict(client.snapshot())
        except Exception as exc:  # noqa: BLE001 - reported below, with the hint
            error, first = f"{type(exc).__name__}: {exc}", None
        if first is None:
            _close_quietly(client)
            raise CollectorError(f"{SERVICE_HINT}: {error}")
        self._latest.put((first, time.monotonic()))
        self._engines = sorted(flatten_engines(first.get("engines", {})))
        self._specs = [col.gpu_process_memory()]
        for name in self._engines:
            self._specs += [col.engine_online(name), col.engine_freq(name)]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(client,), name="memmap-jtop",
                                        daemon=True)
        self._thread.start()

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def read(self) -> Sequence[float]:
        fresh = self._fresh()
        return fresh[1] if fresh else [NAN] * len(self._specs)

    def table(self) -> Optional[List[Dict[str, Any]]]:
        fresh = self._fresh()
        return list(fresh[2]) if fresh else []

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(self.timeout + 1.0)
        self._last = None

    # -- inside --------------------------------------------------------------------------------

    def _new_client(self) -> Any:
        return self._given if self._given is not None else self._factory()

    def _fresh(self) -> Optional[Tuple[Dict[str, Any], List[float], List[Dict[str, Any]]]]:
        """(snapshot, values, rows) of the latest snapshot, None when there is none or it is
        stale."""
        latest = self._latest.peek()
        if latest is None or time.monotonic() - latest[1] > self.stale_after:
            return None
        snap = latest[0]
        if self._last is None or self._last[0] is not snap:
            rows = process_rows(snap.get("processes", ()))
            engines = flatten_engines(snap.get("engines", {}))
            values = [sum_gpu_memory(rows, {r["pid"] for r in rows})]
            for name in self._engines:
                state = engines.get(name, {})
                online = state.get("online")
                values += [NAN if online is None else float(bool(online)), _mhz(state.get("cur"))]
            self._last = (snap, values, rows)
        return self._last

    def _run(self, client: Any) -> None:
        """The source's thread: a snapshot every interval; reconnect after a backoff."""
        while not self._stopping.wait(self.interval):
            if client is None:
                client = self._reconnect()
                continue
            try:
                self._latest.put((dict(client.snapshot()), time.monotonic()))
                self._backoff.succeeded()
            except Exception as exc:  # noqa: BLE001 - a lost service: reconnect later
                self._failed(f"{type(exc).__name__}: {exc}")
                _close_quietly(client)
                client = None
        if client is not None:
            _close_quietly(client)

    def _reconnect(self) -> Any:
        if not self._backoff.due(time.monotonic()):
            return None
        try:
            client = self._new_client()
        except Exception as exc:  # noqa: BLE001
            self._failed(str(exc))
            return None
        error = connect_with_timeout(client, self.timeout)
        if error:
            _close_quietly(client)
            self._failed(error)
            return None
        log.info("jtop service answers again")
        self._warned = False
        return client

    def _failed(self, why: str) -> None:
        wait = self._backoff.failed(time.monotonic())
        if not self._warned:
            self._warned = True
            log.warning("jtop: %s; trying again (next in %.1f s)", why, wait)

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
