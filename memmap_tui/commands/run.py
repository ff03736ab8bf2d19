"""`memmap run -- CMD ARGS...`: launch a command, watch its process tree, summarise at exit.

The command runs without a shell, in memmap's process group and terminal, with memmap's
environment. The same pipeline as every mode samples it (the process collector on its PID, plus
the default collectors); the run ends when the command exits. memmap does not reap the command
until the collector has read its final counters (a zombie's are still readable).

Signals: SIGINT, SIGTERM and SIGHUP sent to memmap are passed on to the command, which decides
what to do; memmap carries on until the command exits. One that the terminal sent (Ctrl-C, a
hang-up: si_code SI_KERNEL) already reached the command's process group, so it is not sent a
second time. Exit status: the command's; 128+N when a signal N killed it; 127 when it was not
found; 126 when it could not be executed; 2 for bad usage (no command given).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from typing import Any, Dict, List, Optional

from ..collector import UsageError, parse_collector_list
from ..collectors.job import job_identity
from ..pipeline import build_sampler, log_to_stderr
from ..sinks.csv import CsvSink
from ..sinks.summary import RunSummary, render
from ..sinks.summary_line import json_line
from ..units import fmt_exit
from .record import BATCH_BELOW_INTERVAL, open_output

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SI_KERNEL = 0x80  # siginfo code of a signal the kernel sent (a terminal's Ctrl-C or hang-up)
USAGE = "memmap run [--csv FILE] [--json FILE] [--json-line] [--interval S] -- CMD [ARGS...]"


class SignalForwarder:
    """Blocks the forwarded signals in memmap and passes each on to the command from a thread
    (sigtimedwait tells who sent it). Use as a context manager around the whole run."""

    def __init__(self) -> None:
        self.pid: Optional[int] = None
        self.old_mask: Any = set()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> SignalForwarder:
        self.old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        return self

    def child_setup(self) -> None:
        """Runs in the command's process before exec: give it memmap's original mask."""
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old_mask)

    def start(self, pid: int) -> None:
        self.pid = pid
        self._thread = threading.Thread(target=self._forward, name="memmap-signals", daemon=True)
        self._thread.start()

    def _forward(self) -> None:
        while not self._stopping.is_set():
            info = signal.sigtimedwait(FORWARDED, 0.2)
            if info is None or info.si_code == SI_KERNEL or self.pid is None:
                continue
            try:
                os.kill(self.pid, info.si_signo)
            except ProcessLookupError:
                pass

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old_mask)


def check_json_path(path: Optional[str], force: bool) -> None:
    """Fail before launching anything if the JSON summary could not be written."""
    if path is None:
        return
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory, not a file")
    if os.path.exists(path) and not force:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: no such writable directory")


def write_json(path: str, data: Dict[str, Any]) -> None:
    """Write whole or not at all: a temporary file beside `path`, then renamed over it."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(_no_nan(data), f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: not-available values become null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def launch(command: List[str], forwarder: SignalForwarder) -> subprocess.Popen:
    """Start the command (no shell); exits 127/126 with one line when it cannot start."""
    try:
        return subprocess.Popen(command, preexec_fn=forwarder.child_setup)
    except FileNotFoundError:
        raise LaunchFailed(127, f"command not found: {command[0]}") from None
    except PermissionError:
        raise LaunchFailed(126, f"permission denied: {command[0]}") from None
    except OSError as exc:
        raise LaunchFailed(126, f"cannot run {command[0]}: {exc.strerror}") from None


class LaunchFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def exit_code(returncode: int) -> int:
    """The shell's convention: 128+N for a command killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def run_command(args: Any) -> int:
    command = list(args.argv)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise UsageError(f"no command to run: {USAGE}")
    log_to_stderr()
    if args.collectors:
        parse_collector_list(args.collectors)  # a bad name fails before anything starts
    check_json_path(args.json, args.force)
    csv_fd = open_output(args.csv, args.force) if args.csv else None
    with SignalForwarder() as forwarder:
        try:
            child = launch(command, forwarder)
        except LaunchFailed as exc:
            _discard_csv(args.csv, csv_fd)
            print(f"memmap: {exc}", file=sys.stderr)
            return exc.code
        forwarder.start(child.pid)
        return _watch(args, command, child, csv_fd)


def _discard_csv(path: Optional[str], fd: Optional[int]) -> None:
    if path is not None and fd is not None:
        os.close(fd)
        os.unlink(path)  # nothing was recorded: leave no empty file behind


def _watch(args: Any, command: List[str], child: subprocess.Popen, csv_fd: Optional[int]) -> int:
    summary = RunSummary()
    sinks: List[Any] = [summary]
    if args.csv:
        flush = 0.0 if args.interval >= BATCH_BELOW_INTERVAL else 1.0
        sinks.append(CsvSink(args.csv, flush_seconds=flush, fd=csv_fd))
    args.pid = child.pid
    job = job_identity(child.pid)  # now: a command that exits at once takes its cgroup along
    try:
        sampler = build_sampler(args, sinks)
        if not any(c.name == "process" for c in sampler.collectors):
            raise UsageError("the process collector is not available here")
        sampler.open()
    except BaseException:
        _stop_child(child)
        raise
    try:
        stats = sampler.run()
    finally:
        sampler.close()
    child.wait()
    notes = [n for c in sampler.collectors for n in getattr(c, "unavailable", {}).values()]
    return _report(args, command, child.returncode, summary, stats.missed, notes, job.as_dict())


def _report(args: Any, command: List[str], returncode: int, summary: RunSummary, missed: int,
            notes: List[str], job: Dict[str, str]) -> int:
    """Print the summary (stderr, like `time`), write its JSON, print its JSON line (stdout);
    the command's exit code."""
    code = exit_code(returncode)
    result = summary.result()
    result.update(command=command, exit_status=code, missed_ticks=missed, job=job)
    print(render(result, summary.schema, _headline(command, returncode, result), notes), end="",
          file=sys.stderr)
    if args.json:
        write_json(args.json, result)
    if getattr(args, "json_line", False):
        print(json_line(_no_nan(result)), flush=True)
    return code


def _headline(command: List[str], returncode: int, result: Dict[str, Any]) -> str:
    shown = shlex.join(command).replace("\n", "\\n")
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return (f"memmap run: `{shown}` {fmt_exit(returncode)} after "
            f"{result['duration_seconds']:.1f} s ({result['samples']} samples)")


def _stop_child(child: subprocess.Popen) -> None:
    """memmap could not start watching: do not leave the command running unwatched."""
    child.terminate()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
