"""`memmap serve`: the Prometheus exporter.

The Sampler runs on the main thread and hands each frame to the PrometheusSink; the HTTP server
(scrapeserver.py beside this: one thread, non-blocking, every resource bounded, so that a fleet of
Prometheus servers and a curious user with many connections cannot exhaust it) answers scrapes
from the sink's latest frame, its exposition made once per frame and format. It listens on
127.0.0.1:9464 unless `--listen HOST:PORT` says otherwise, and anything but loopback gets a
one-line warning (the metrics have no authentication). A bad --listen is one line and exit 2.
SIGINT, SIGTERM and SIGHUP stop it cleanly: the sampler finishes its tick, the server closes,
exit 0.

`memmap_job_info` names the job this node runs, found at start (collectors/job.py: the watched
process's cgroup, else SLURM_JOB_ID), with the `--label KEY=VALUE` constant labels on top.
"""

from __future__ import annotations

import errno
import gzip
import ipaddress
import re
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs

from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import CollectorRegistry

from ..collector import UsageError
from ..collectors.job import job_identity
from ..pipeline import build_sampler, log_to_stderr, open_sampler
from ..signals import restore_signals, stop_on_signals
from ..sinks.prometheus import PrometheusSink
from .scrapeserver import REQUEST_TIMEOUT, ScrapeServer

DEFAULT_LISTEN = "127.0.0.1:9464"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TARGET_LABELS = ("instance", "job")  # Prometheus sets these per target: theirs would be renamed
MAX_LABEL_VALUE = 256
__all__ = ["REQUEST_TIMEOUT", "MetricsServer", "bind_server", "parse_labels", "parse_listen",
           "run_serve"]


@dataclass(frozen=True)
class ListenAddress:
    """Where to listen: what the user wrote, and what it resolved to."""

    text: str
    host: str
    port: int
    family: int
    sockaddr: Tuple[Any, ...]

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.sockaddr[0].split("%")[0]).is_loopback
        except ValueError:
            return False

    @property
    def url(self) -> str:
        host = f"[{self.sockaddr[0]}]" if self.family == socket.AF_INET6 else self.sockaddr[0]
        return f"http://{host}:{self.port}/metrics"


def parse_listen(text: str) -> Tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:9464`) -> (host, port); UsageError naming what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text:
        raise UsageError(f"--listen '{text}': want HOST:PORT, e.g. {DEFAULT_LISTEN}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"--listen '{text}': write an IPv6 address in brackets, e.g. [::1]:9464")
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise UsageError(f"--listen '{text}': port '{port_text}' is not a number (digits 0-9)")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise UsageError(f"--listen '{text}': port {port} is out of range 1-65535")
    return host, port


def resolve_listen(text: str) -> ListenAddress:
    """Parse and resolve --listen; UsageError when the host has no address."""
    host, port = parse_listen(text)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICSERV)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--listen '{text}': cannot resolve '{host}' ({exc})") from None
    family, _, _, _, sockaddr = infos[0]
    return ListenAddress(text, host, port, family, tuple(sockaddr))


class Exposition:
    """Renders scrapes of `registry`: the text format the client accepts, gzipped when it
    asks, `?name[]=` filtering. The body is made once per (frame, format) and reused until
    `latest()` gives another frame (None: rendered every time)."""

    def __init__(self, registry: CollectorRegistry,
                 latest: Optional[Callable[[], Any]] = None) -> None:
        self.registry, self.latest = registry, latest
        self._frame: Any = None
        self._bodies: Dict[Tuple[str, bool], Tuple[List[Tuple[str, str]], bytes]] = {}

    def __call__(self, path: str, query: str, headers: Dict[str, str]
                 ) -> Tuple[str, List[Tuple[str, str]], bytes]:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        zipped = gzip_accepted(headers.get("accept-encoding", ""))
        names = parse_qs(query).get("name[]") if query else None
        frame = self.latest() if self.latest is not None else None
        key = (content_type, zipped)
        if names is None and frame is not None:
            if frame is not self._frame:
                self._frame, self._bodies = frame, {}
            cached = self._bodies.get(key)
            if cached is not None:
                return "200 OK", cached[0], cached[1]
        registry = self.registry.restricted_registry(names) if names else self.registry
        body = encoder(registry)
        extra = [("Content-Type", content_type)]
        if zipped:
            body = gzip.compress(body, compresslevel=6)
            extra.append(("Content-Encoding", "gzip"))
        if names is None and frame is not None:
            self._bodies[key] = (extra, body)
        return "200 OK", extra, body


class MetricsServer(ScrapeServer):
    """The HTTP server for scrapes (scrapeserver.py) over `registry`; `latest` gives
    the sink's current frame, so that scrapes between two samples reuse one body."""

    def __init__(self, address: ListenAddress, registry: CollectorRegistry,
                 latest: Optional[Callable[[], Any]] = None) -> None:
        super().__init__(address.family, address.sockaddr, Exposition(registry, latest))


def bind_server(address: ListenAddress, registry: CollectorRegistry,
                latest: Optional[Callable[[], Any]] = None) -> MetricsServer:
    """Bind now, before sampling starts, so that a bad address fails first (UsageError)."""
    try:
        return MetricsServer(address, registry, latest)
    except OSError as exc:
        raise UsageError(f"--listen '{address.text}': {_bind_problem(exc, address)}") from None


def _bind_problem(exc: OSError, address: ListenAddress) -> str:
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{address.host} is not an address of this machine"
    if exc.errno == errno.EADDRINUSE:
        return f"port {address.port} is already in use (another memmap serve?)"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on port {address.port} (ports below 1024 need privileges)"
    return exc.strerror or str(exc)


def parse_labels(texts: Optional[Sequence[str]]) -> Dict[str, str]:
    """`--label KEY=VALUE` options as a dict; UsageError naming what is wrong."""
    labels: Dict[str, str] = {}
    for text in texts or ():
        key, sep, value = text.partition("=")
        if not sep:
            raise UsageError(f"--label '{text}': want KEY=VALUE, e.g. rack=r7")
        if not LABEL_NAME.match(key) or key.startswith("__"):
            raise UsageError(f"--label '{text}': '{key}' is not a Prometheus label name "
                             "(letters, digits and _, not starting with a digit or __)")
        if key in TARGET_LABELS:
            raise UsageError(f"--label '{text}': Prometheus sets '{key}' itself; "
                             "use hpc_job for a job id")
        if key in labels:
            raise UsageError(f"--label '{text}': {key} given twice")
        if len(value) > MAX_LABEL_VALUE or not value.isprintable():
            raise UsageError(f"--label '{key}=...': the value must be printable text of at most "
                             f"{MAX_LABEL_VALUE} characters")
        labels[key] = value
    return labels


def job_labels(pid: Optional[int], extra: Dict[str, str]) -> Dict[str, str]:
    """`memmap_job_info`'s labels: the job found at start, overridden by --label."""
    found = job_identity(pid)
    return {"hpc_job": found.job, "user": found.user, "scheduler": found.scheduler, **extra}


def run_serve(args: Any) -> int:
    log_to_stderr()
    address = resolve_listen(args.listen)
    labels = parse_labels(getattr(args, "label", None))
    sink = PrometheusSink(job_labels=job_labels(getattr(args, "pid", None), labels))
    server = bind_server(address, sink.registry, lambda: sink.latest()[0])
    try:
        sampler = build_sampler(args, [sink])
        sink.states = sampler.states
        open_sampler(sampler)  # closes what it opened when it fails
        try:
            previous = stop_on_signals(sampler.stop)  # from here a signal stops the run
        except BaseException:
            sampler.close()
            raise
    except BaseException:
        server.server_close()
        raise
    if not address.loopback:
        print(f"memmap: warning: serving on {address.text}, which other machines can reach; "
              "the metrics have no authentication", file=sys.stderr)
    print(f"memmap: serving metrics on {address.url} every {args.interval:g} s "
          "(Ctrl-C stops)", file=sys.stderr)
    thread = threading.Thread(target=server.serve_forever, name="memmap-http", daemon=True)
    thread.start()  # a signal from here on only stops the run
    try:
        sampler.run()
    finally:
        try:  # closed while a signal still only stops the run
            server.shutdown()
            server.server_close()
            sampler.close()
        finally:
            restore_signals(previous)
    if sampler.ended:
        print(f"memmap: {sampler.ended}; serving stopped", file=sys.stderr)
    return 0
