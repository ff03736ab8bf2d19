"""Keep one `tegrastats` subprocess running and hold its latest parsed line.

`TegrastatsProcess` starts the command in its own process group (its own session), reads its
stdout on a daemon thread, parses each line and keeps only the newest result in a
`memmap_tui.slow.Mailbox`, so a reader of `latest()` never waits for the subprocess. When the
command exits or cannot be started it is started again after a `memmap_tui.slow.Backoff`
(0.5 s, 1 s, 2 s ... up to 30 s; back to 0.5 s after a run that lasted 10 s or more); the
first failure is logged as a warning, later ones at debug level.

`stop()` sends SIGTERM to the process group, SIGKILL after a short grace period, and reaps the
child: no zombie is left, nor a member of its group. It is idempotent.

Only the reader thread reaps the child, and every signal is sent under a lock while the child
is known not to be reaped, so a signal can never reach a process that reused its id.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from memmap_tui.slow import Backoff, Mailbox

from .parse import parse_line

log = logging.getLogger("memmap_tui.tegrastats")

Parsed = Dict[str, Any]


class TegrastatsProcess:
    """A self-restarting `tegrastats` subprocess with a one-slot mailbox of parsed lines.

    argv: the full command line (no shell). parse: str -> dict; a result without RAM or CPU
    (an error message, a banner) is not a reading and does not replace the latest one.
    """

    def __init__(
        self,
        argv: List[str],
        parse: Callable[[str], Parsed] = parse_line,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        healthy_after: float = 10.0,
        kill_grace: float = 1.0,
    ) -> None:
        self.argv = list(argv)
        self._parse = parse
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._healthy_after = healthy_after
        self._kill_grace = kill_grace
        self._lock = threading.Lock()  # guards _proc: no signal reaches a reaped child's pid
        self._latest: Mailbox[Tuple[Parsed, float]] = Mailbox()
        self._first = threading.Event()
        self._stopping = threading.Event()
        self._proc: Optional[subprocess.Popen[str]] = None
        self._thread: Optional[threading.Thread] = None
        self._warned_exit = False
        self._warned_line = False
        self.starts = 0
        self.last_exit: Optional[int] = None

    # -- public API -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader thread, which starts the command (idempotent while running)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="tegrastats-reader", daemon=True)
        self._thread.start()

    def wait_first(self, timeout: float) -> Optional[Parsed]:
        """Wait up to `timeout` seconds for the first reading; None if none came."""
        self._first.wait(timeout)
        latest = self.latest()
        return latest[0] if latest else None

    def latest(self) -> Optional[Tuple[Parsed, float]]:
        """(parsed line, time.monotonic() when it arrived), or None before the first one."""
        return self._latest.peek()

    @property
    def pid(self) -> Optional[int]:
        """The running child's process id (None between restarts and after stop)."""
        with self._lock:
            return self._proc.pid if self._proc is not None else None

    def stop(self) -> None:
        """Terminate and reap the child, end the reader thread; safe to call twice."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        self._signal_child(signal.SIGTERM)
        thread.join(self._kill_grace)
        if thread.is_alive():
            self._signal_child(signal.SIGKILL)
            thread.join(self._kill_grace + 2.0)
        if thread.is_alive():  # the pipe is held open by something outside the group
            self._reap_here()
        self._thread = None

    # -- reader thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._keep_running()
        except Exception:  # a bug here must be seen, not leave the columns silently NaN
            log.exception("tegrastats reader stopped")

    def _keep_running(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            proc = self._spawn()
            if proc is not None:
                self._pump(proc)
                self.last_exit = self._finish(proc)
            if self._stopping.is_set():
                return
            now = time.monotonic()
            if now - started >= self._healthy_after:
                self._backoff.succeeded()  # a long run: the next wait starts over
            delay = self._backoff.failed(now)
            self._report_exit(delay)
            self._stopping.wait(delay)

    def _spawn(self) -> Optional[subprocess.Popen[str]]:
        with self._lock:  # stop() cannot slip between the check and the start
            if self._stopping.is_set():
                return None
            try:
                proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    bufsize=1,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    start_new_session=True,
                    close_fds=True,
                )
            except OSError as exc:
                self.last_exit = None
                self._warn_exit_once(f"cannot start {self.argv[0]}: {exc}")
                return None
            self._proc = proc
            self.starts += 1
            return proc

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                if self._stopping.is_set():
                    return
                self._offer(line)
        except (OSError, ValueError):  # the pipe was closed under us
            return

    def _offer(self, line: str) -> None:
        parsed = self._parse(line)
        if parsed.get("ram_total_bytes") is None and not parsed.get("cpu_util_percent"):
            if line.strip() and not self._warned_line:
                self._warned_line = True
                log.warning("tegrastats printed a line that is not a reading: %r", line[:200])
            return
        self._latest.put((parsed, time.monotonic()))
        self._first.set()

    def _finish(self, proc: subprocess.Popen[str]) -> Optional[int]:
        """Kill what is left of the child's group, then reap the child."""
        with self._lock:
            self._proc = None
            _signal_group(proc, signal.SIGKILL)  # not reaped yet, so the group id is still ours
        if proc.stdout is not None:
            proc.stdout.close()
        try:
            return proc.wait(timeout=self._kill_grace + 5.0)
        except subprocess.TimeoutExpired:  # unkillable (uninterruptible sleep): give up on it
            log.error("tegrastats (pid %d) did not exit after SIGKILL", proc.pid)
            return None

    def _report_exit(self, delay: float) -> None:
        status = "could not start" if self.last_exit is None else f"exited with {self.last_exit}"
        self._warn_exit_once(f"{self.argv[0]} {status}; restarting in {delay:.1f} s")

    def _warn_exit_once(self, message: str) -> None:
        if self._warned_exit:
            log.debug("%s", message)
        else:
            self._warned_exit = True
            log.warning("%s (further restarts are logged at debug level)", message)

    # -- stop() helpers ---------------------------------------------------------------------

    def _signal_child(self, sig: int) -> None:
        with self._lock:
            if self._proc is not None:
                _signal_group(self._proc, sig)

    def _reap_here(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                log.error("tegrastats (pid %d) could not be reaped", proc.pid)


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    """Signal the child's process group (it leads its own session) if it is not reaped."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
