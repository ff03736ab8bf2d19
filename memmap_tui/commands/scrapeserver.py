"""The HTTP side of `memmap serve`: one thread, non-blocking sockets, every resource bounded.

Why not `http.server.ThreadingHTTPServer`: it listens with a backlog of 5 and starts a thread per
connection. 200 concurrent clients overflowed the backlog (clients retried their SYN after 1, 3
and 7 s, and some gave up), and every idle connection held a thread for its whole timeout, so
enough idle connections exhaust threads and memory. Here one thread multiplexes every
connection with `selectors`:

- the listen backlog is LISTEN_BACKLOG (the kernel caps it at net.core.somaxconn);
- a connection costs a socket and a small buffer, no thread; at most `max_connections` are held
  (the descriptor limit is raised to its hard limit first); when full, the connection idle the
  longest is closed to make room, so idle connections never lock a scrape out;
- a request must arrive whole within REQUEST_TIMEOUT of its first byte (or of the connection,
  for the first one) and fit MAX_REQUEST_BYTES; a keep-alive connection may idle KEEPALIVE_IDLE
  between requests; a response must be taken by the client within REQUEST_TIMEOUT;
- responses are written without blocking, so a client that does not read stalls only itself;
- the body comes from `render` (for memmap: the exposition of the latest frame, made once per
  frame), so a scrape between two samples costs a lookup and a send;
- a client that resets or breaks its connection mid-request is logged in one line, at most one
  line per LOG_EVERY seconds (with how many more there were), never a traceback.

Requests: GET and HEAD, HTTP/1.0 and 1.1 with keep-alive and pipelining (the requests of one
read answered in order, in a loop); any path but /favicon.ico is the metrics (as
prometheus_client's own handler does).
"""

from __future__ import annotations

import errno
import logging
import resource
import selectors
import socket
import threading
import time
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

log = logging.getLogger("memmap_tui.serve")

LISTEN_BACKLOG = 4096
MAX_CONNECTIONS = 10_000
MAX_REQUEST_BYTES = 16 * 1024
REQUEST_TIMEOUT = 10.0   # seconds for a request to arrive whole, or a response to be taken
KEEPALIVE_IDLE = 60.0    # seconds a keep-alive connection may wait for its next request
LOG_EVERY = 10.0         # seconds between two lines about broken clients
SWEEP_EVERY = 0.5        # seconds between two looks for connections past their deadline

# render(path, query, headers) -> (status line, headers, body)
Render = Callable[[str, str, Dict[str, str]], Tuple[str, List[Tuple[str, str]], bytes]]
_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 505: "HTTP Version Not Supported"}


def raise_descriptor_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


class _Trouble:
    """One line per LOG_EVERY seconds about clients that broke their connection."""

    def __init__(self) -> None:
        self._next = 0.0
        self._quiet = 0

    def report(self, peer: str, what: str) -> None:
        now = time.monotonic()
        if now < self._next:
            self._quiet += 1
            return
        more = f" ({self._quiet} more broken clients since)" if self._quiet else ""
        log.warning("serve: client %s %s%s", peer, what, more)
        self._next, self._quiet = now + LOG_EVERY, 0


class _Connection:
    __slots__ = ("sock", "peer", "inbox", "outbox", "deadline", "close_after", "served",
                 "started")

    def __init__(self, sock: socket.socket, peer: str, now: float) -> None:
        self.sock, self.peer = sock, peer
        self.inbox = bytearray()
        self.outbox: Optional[memoryview] = None
        self.deadline = now + REQUEST_TIMEOUT
        self.close_after = False
        self.served = 0
        self.started = now  # of the request being read, or of the wait for one

    @property
    def busy(self) -> bool:
        """Mid-request (bytes of one arrived) or mid-response."""
        return bool(self.inbox) or self.outbox is not None


def _peer(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = address[0]
        return f"[{host}]:{address[1]}" if ":" in str(host) else f"{host}:{address[1]}"
    return str(address)


def _response(code: int, headers: List[Tuple[str, str]], body: bytes, head_only: bool,
              keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {code} {_REASONS.get(code, 'OK')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


class ScrapeServer:
    """Serves `render`'s answers on `sockaddr` (see the module docstring). Bind happens here, so
    an address in use fails at once (OSError); `serve_forever()` runs the loop until
    `shutdown()`; `server_close()` closes every socket."""

    def __init__(self, family: int, sockaddr: Tuple, render: Render,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.render = render
        limit = raise_descriptor_limit()
        self.max_connections = max(16, min(max_connections, limit - 64))
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind(sockaddr)
            self.listener.listen(LISTEN_BACKLOG)
            self.listener.setblocking(False)
        except OSError:
            self.listener.close()
            raise
        self.server_address = self.listener.getsockname()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.connections: OrderedDict[int, _Connection] = OrderedDict()  # oldest activity first
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._paused_until = 0.0
        self._trouble = _Trouble()

    # -- the loop -----------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = SWEEP_EVERY) -> None:
        self._done.clear()
        try:
            next_sweep = time.monotonic() + SWEEP_EVERY
            while not self._stop.is_set():
                now = time.monotonic()
                wait = min(poll_interval, next_sweep - now)
                if self._paused_until:
                    wait = min(wait, self._paused_until - now)
                for key, mask in self.selector.select(max(0.0, wait)):
                    self._event(key, mask)
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + SWEEP_EVERY
                if self._paused_until and now >= self._paused_until:
                    self._paused_until = 0.0
                    self.selector.register(self.listener, selectors.EVENT_READ, None)
        finally:
            self._done.set()

    def shutdown(self) -> None:
        """Stop serve_forever() and wait for it to return (from another thread)."""
        self._stop.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._done.wait(5.0)

    def server_close(self) -> None:
        for conn in list(self.connections.values()):
            self._close(conn)
        for sock in (self.listener, self._wake_r, self._wake_w):
            try:
                self.selector.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()
        self.selector.close()

    def _event(self, key: selectors.SelectorKey, mask: int) -> None:
        if key.data is None:
            self._accept()
        elif key.data == "wake":
            try:
                self._wake_r.recv(64)
            except OSError:
                pass
        else:
            conn: _Connection = key.data
            try:
                if mask & selectors.EVENT_WRITE:
                    self._send(conn)
                    self._answer_pending(conn)
                if mask & selectors.EVENT_READ and conn.sock.fileno() >= 0:
                    self._receive(conn)
            except OSError as exc:
                self._broken(conn, exc)
            except Exception as exc:  # noqa: BLE001 - one connection must not end the server
                log.warning("serve: dropped client %s after an internal error: %s: %s",
                            conn.peer, type(exc).__name__, exc)
                self._close(conn)

    # -- connections --------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(256):  # a burst at a time, then look at the other sockets
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self._evict():  # out of descriptors: stop accepting for a moment
                        self._paused_until = time.monotonic() + 0.1
                        self.selector.unregister(self.listener)
                        return
                    continue
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue  # the client gave up in the queue
                raise
            if len(self.connections) >= self.max_connections and not self._evict():
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Connection(sock, _peer(address), time.monotonic())
            self.connections[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def _evict(self) -> bool:
        """Close the connection idle the longest (not mid-request); False when none is idle."""
        for conn in self.connections.values():
            if not conn.busy:
                self._close(conn)
                return True
        return False

    def _close(self, conn: _Connection) -> None:
        fd = conn.sock.fileno()
        if fd >= 0:
            try:
                self.selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
            self.connections.pop(fd, None)
        conn.sock.close()

    def _touch(self, conn: _Connection) -> None:
        fd = conn.sock.fileno()
        if fd in self.connections:
            self.connections.move_to_end(fd)

    def _broken(self, conn: _Connection, exc: OSError) -> None:
        if conn.busy:
            what = ("reset the connection mid-request"
                    if exc.errno in (errno.ECONNRESET, errno.EPIPE)
                    else f"broke the connection mid-request ({exc.strerror or exc})")
            self._trouble.report(conn.peer, what)
        self._close(conn)

    def _sweep(self, now: float) -> None:
        """Close connections past their deadline."""
        for conn in [c for c in self.connections.values() if now > c.deadline]:
            if conn.outbox is not None:
                self._trouble.report(conn.peer, f"did not take its response within "
                                                f"{REQUEST_TIMEOUT:g} s")
            elif conn.inbox:
                self._trouble.report(conn.peer, f"did not send a whole request within "
                                                f"{REQUEST_TIMEOUT:g} s")
                self._reply_error(conn, 408)
                continue
            self._close(conn)

    # -- reading and answering ----------------------------------------------------------------
    def _receive(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            if conn.inbox:
                self._trouble.report(conn.peer, "closed the connection mid-request")
            self._close(conn)
            return
        if conn.outbox is not None:
            if len(conn.inbox) + len(data) > MAX_REQUEST_BYTES:  # pipelining beyond reason
                self._close(conn)
                return
            conn.inbox += data
            return
        if not conn.inbox:
            conn.started = time.monotonic()
            conn.deadline = conn.started + REQUEST_TIMEOUT
        conn.inbox += data
        self._touch(conn)
        self._answer_pending(conn)

    def _answer_pending(self, conn: _Connection) -> None:
        """Answer the whole requests in the inbox in order, until a response waits for the
        client to take it or the connection closes. A loop, not recursion through `_send`: one
        read can bring thousands of pipelined requests, far past Python's recursion limit."""
        while conn.outbox is None and conn.sock.fileno() >= 0 and self._answer(conn):
            pass

    def _answer(self, conn: _Connection) -> bool:
        """Answer the request at the head of the inbox, if it is whole; False if it is not."""
        end = conn.inbox.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.inbox) > MAX_REQUEST_BYTES:
                self._trouble.report(conn.peer, f"sent a request over {MAX_REQUEST_BYTES} bytes")
                self._reply_error(conn, 431)
            return False
        head = bytes(conn.inbox[:end]).decode("latin-1")
        del conn.inbox[:end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._reply_error(conn, 400 if len(parts) != 3 else 505)
            return True
        method, target, version = parts
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep = (version == "HTTP/1.1" and "close" not in connection) or (
            version == "HTTP/1.0" and "keep-alive" in connection)
        if headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers:
            keep = False  # a body we do not read: never read it as the next request
        if method not in ("GET", "HEAD"):
            self._reply_error(conn, 405, [("Allow", "GET, HEAD")])
            return True
        path, _, query = target.partition("?")
        if path == "/favicon.ico":
            self._reply(conn, 404, [("Content-Type", "text/plain")], b"", method == "HEAD", keep)
            return True
        try:
            status, extra, body = self.render(path, query, headers)
        except Exception:  # noqa: BLE001 - one bad scrape must not end the exporter
            log.exception("serve: could not render the metrics")
            self._reply_error(conn, 500)
            return True
        self._reply(conn, int(status.split()[0]), extra, body, method == "HEAD", keep)
        return True

    def _reply_error(self, conn: _Connection, code: int,
                     headers: Optional[List[Tuple[str, str]]] = None) -> None:
        conn.inbox.clear()
        body = f"{code} {_REASONS.get(code, '')}\n".encode()
        self._reply(conn, code, [("Content-Type", "text/plain"), *(headers or [])], body,
                    False, False)

    def _reply(self, conn: _Connection, code: int, headers: List[Tuple[str, str]], body: bytes,
               head_only: bool, keep_alive: bool) -> None:
        conn.outbox = memoryview(_response(code, headers, body, head_only, keep_alive))
        conn.close_after = not keep_alive
        conn.deadline = time.monotonic() + REQUEST_TIMEOUT
        try:
            self._send(conn)
        except OSError as exc:
            self._broken(conn, exc)

    def _send(self, conn: _Connection) -> None:
        out = conn.outbox
        while out is not None and len(out):
            try:
                sent = conn.sock.send(out)
            except (BlockingIOError, InterruptedError):
                conn.outbox = out
                self.selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
                return
            out = out[sent:]
        conn.outbox = None
        conn.served += 1
        if conn.close_after:
            self._close(conn)
            return
        now = time.monotonic()
        conn.deadline = now + KEEPALIVE_IDLE
        self._touch(conn)
        self.selector.modify(conn.sock, selectors.EVENT_READ, conn)
        if conn.inbox:  # a pipelined request, or the start of one; `_answer_pending` answers it
            conn.started, conn.deadline = now, now + REQUEST_TIMEOUT
