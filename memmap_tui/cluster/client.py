"""A small client of Prometheus's HTTP query API (`/api/v1/query`), on the standard library.

Every request has a deadline (connect and the whole answer), every answer a size bound, and every
failure becomes one PrometheusError line: cannot connect, too slow, not a Prometheus (no JSON, an
HTTP error page), a query Prometheus refused (its own errorType and error, shortened), an answer
too large. Text that comes from the server (error messages, label values) is untrusted: callers
get it as strings and escape it before a terminal sees it (memmap_tui/cluster/view.py `safe`).
Proxies from the environment are used as urllib does, except for loopback addresses.
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .. import __version__
from ..collector import UsageError

TIMEOUT = 5.0
MAX_RESPONSE = 16 * 2**20  # bytes of one answer (a cluster of thousands of nodes is ~1 MiB)
CHUNK = 65536
MAX_ERROR = 200  # characters of a server's error message kept


class PrometheusError(Exception):
    """Prometheus could not answer: the message is one line for a person."""


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector: its labels, value and evaluation time."""

    labels: Dict[str, str]
    value: float
    time: float


def check_url(url: str) -> str:
    """The base URL of a Prometheus server (`http://host:9090`, a path prefix allowed);
    UsageError naming what is wrong with it."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--prometheus '{_shown(url)}': want a URL such as "
                         "http://prometheus:9090")
    if parts.query or parts.fragment:
        raise UsageError(f"--prometheus '{_shown(url)}': give the server's URL, without a query")
    try:
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        raise UsageError(f"--prometheus '{_shown(url)}': bad port") from None
    return url.rstrip("/")


def _shown(url: str) -> str:
    """`url` without credentials, printable, short: safe in a message."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None or parts.username is not None:
        netloc = parts.netloc.rpartition("@")[2]
        url = urllib.parse.urlunsplit(parts._replace(netloc=f"...@{netloc}"))
    return "".join(c if c.isprintable() else "?" for c in url)[:MAX_ERROR]


def _untrusted(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:MAX_ERROR]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PrometheusClient:
    """Instant queries against one Prometheus; `timeout` bounds each request as a whole."""

    def __init__(self, url: str, timeout: float = TIMEOUT,
                 max_bytes: int = MAX_RESPONSE) -> None:
        self.url = check_url(url)
        self.timeout, self.max_bytes = timeout, max_bytes
        host = urllib.parse.urlsplit(self.url).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if _loopback(host) else []
        self._opener = urllib.request.build_opener(*handlers)

    @property
    def shown(self) -> str:
        return _shown(self.url)

    def query(self, promql: str, at: Optional[float] = None) -> List[Sample]:
        """An instant query's vector (at Unix time `at`, else the server's now)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        body = self._get("/api/v1/query?" + urllib.parse.urlencode(params))
        return _vector(_answer(body, self.shown))

    def _get(self, path: str) -> bytes:
        deadline = time.monotonic() + self.timeout
        request = urllib.request.Request(self.url + path, headers={
            "Accept": "application/json", "User-Agent": f"memmap/{__version__}"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return self._read(response, deadline)
        except urllib.error.HTTPError as exc:
            return self._http_error(exc, deadline)
        except urllib.error.URLError as exc:
            raise PrometheusError(f"cannot reach Prometheus at {self.shown}: "
                                  f"{_reason(exc.reason)}") from None
        except (socket.timeout, TimeoutError):
            raise self._too_slow() from None
        except (OSError, ValueError) as exc:  # a reset connection, a malformed status line
            raise PrometheusError(f"Prometheus at {self.shown}: {_reason(exc)}") from None

    def _read(self, response: Any, deadline: float) -> bytes:
        chunks: List[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise self._too_slow()
            chunk = response.read(CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise PrometheusError(f"Prometheus at {self.shown} answered more than "
                                      f"{self.max_bytes // 2**20} MiB; not read")
            chunks.append(chunk)

    def _http_error(self, exc: urllib.error.HTTPError, deadline: float) -> bytes:
        """Prometheus answers a refused query with 400/422/503 and a JSON error: say that;
        anything else is not a Prometheus API."""
        try:
            body = self._read(exc, deadline)
        except PrometheusError:
            body = b""
        finally:
            exc.close()
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and answer.get("status") == "error":
            return body
        raise PrometheusError(f"{self.shown} is not a Prometheus query API "
                              f"(HTTP {exc.code} {_untrusted(str(exc.reason))})")

    def _too_slow(self) -> PrometheusError:
        return PrometheusError(f"Prometheus at {self.shown} did not answer within "
                               f"{self.timeout:g} s")


def _reason(reason: Any) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return _untrusted(str(reason)) or type(reason).__name__


def _answer(body: bytes, shown: str) -> Dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        raise PrometheusError(f"{shown} is not a Prometheus query API (no JSON)") from None
    if not isinstance(answer, dict):
        raise PrometheusError(f"{shown} is not a Prometheus query API")
    if answer.get("status") != "success":
        kind = _untrusted(str(answer.get("errorType", "error")))
        raise PrometheusError(f"Prometheus refused the query: {kind}: "
                              f"{_untrusted(str(answer.get('error', '')))}")
    return answer


def _vector(answer: Dict[str, Any]) -> List[Sample]:
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        raise PrometheusError("Prometheus answered something other than an instant vector")
    samples = []
    for item in data.get("result") or []:
        try:
            labels = {str(k): str(v) for k, v in item["metric"].items()}
            stamp, value = item["value"]
            samples.append(Sample(labels, float(value), _evaluation_time(stamp)))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PrometheusError("Prometheus answered a malformed vector") from None
    return samples


def _evaluation_time(stamp: Any) -> float:
    """A sample's evaluation time in Unix seconds; ValueError unless it is finite and a time
    the local clock can show. A real Prometheus never answers 1e20, inf or -1e18; whatever
    does is broken, and the view must say so in one line rather than fail at its header
    (time.localtime raises OverflowError or OSError for such times)."""
    when = float(stamp)
    if not math.isfinite(when):
        raise ValueError(f"evaluation time {when}")
    try:
        time.localtime(when)
    except (OverflowError, OSError):
        raise ValueError(f"evaluation time {when}") from None
    return when
