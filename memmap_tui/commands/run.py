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
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from ..collector import UsageError, parse_collector_list
from ..collectors.job import job_identity
from ..pipeline import build_sampler, import_collectors, log_to_stderr, open_sampler
from ..safetext import printable
from ..sinks.csv import CsvSink, failure_reason, write_failure
from ..sinks.summary import RunSummary, render
from ..sinks.summary_line import json_line
from ..units import fmt_counted, fmt_exit
from .output import PendingFile, Target, check_output, same_file, write_whole
from .record import start_recording

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
            # Python 3.11 can hand back an unfilled siginfo when the wait was interrupted
            # (SIGSTOP then SIGCONT) past its deadline: only a signal it waited for is passed on
            if (info is None or info.si_signo not in FORWARDED or info.si_code == SI_KERNEL
                    or self.pid is None):
                continue
            try:
                os.kill(self.pid, info.si_signo)
            except OSError:  # gone (reaped) meanwhile
                pass

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old_mask)


def check_outputs(args: Any) -> Tuple[Optional[Target], Optional[Target]]:
    """Fail before launching anything if --csv or --json could not be written, or if they
    name one file (the summary would overwrite the recording)."""
    csv_target = check_output(args.csv, args.force) if args.csv is not None else None
    json_target = check_output(args.json, args.force) if args.json is not None else None
    if json_target is not None:
        if not os.access(json_target.folder, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {args.json}: its directory is not writable")
        if csv_target is not None and same_file(csv_target, json_target):
            raise UsageError(f"--csv and --json name the same file ({args.json}); give two")
    return csv_target, json_target


def write_json(target: Target, data: Dict[str, Any]) -> None:
    """Write whole or not at all: a temporary file beside the target, then put in place."""
    write_whole(target, (json.dumps(_no_nan(data), indent=2) + "\n").encode())


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
    """Start the command (no shell); exits 127/126 with one line when it cannot start (the
    name shown with its control characters escaped: it may come from a glob)."""
    name = printable(shlex.quote(command[0]), 200)
    if not command[0]:  # as a shell says: no file has an empty name
        raise LaunchFailed(127, f"command not found: {name}")
    try:
        return subprocess.Popen(command, preexec_fn=forwarder.child_setup)
    except FileNotFoundError:
        found = _found(command[0])
        if found is None:
            raise LaunchFailed(127, f"command not found: {name}") from None
        raise LaunchFailed(126, f"cannot run {name}: {_missing_interpreter(found)}") from None
    except PermissionError:
        raise LaunchFailed(126, f"permission denied: {name}") from None
    except OSError as exc:
        raise LaunchFailed(126, f"cannot run {name}: {exc.strerror}") from None


def _found(name: str) -> Optional[str]:
    """The file `name` runs: itself when it holds a '/', else the first on PATH."""
    if "/" in name:
        return name if os.path.exists(name) else None
    return shutil.which(name)


def _missing_interpreter(path: str) -> str:
    """Why a file that exists gave ENOENT: the interpreter on its #! line, or an ELF program's
    loader, is missing (as the shell says 'bad interpreter', exit 126)."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        head = b""
    if head.startswith(b"#!"):
        line = head[2:].split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        interpreter = line.split()[0] if line.split() else "(none)"
        return (f"its interpreter {printable(interpreter, 100)} (the #! line) was not found")
    return "a file it needs to start (its dynamic loader, for a program) was not found"


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
    if args.collectors is not None:
        parse_collector_list(args.collectors)  # a bad name fails before anything starts
    csv_target, json_target = check_outputs(args)
    import_collectors(args)  # now, not between the launch and the first sample
    with SignalForwarder() as forwarder:  # from here on a signal waits for the command
        pending = PendingFile(csv_target) if csv_target is not None else None
        launched = (time.monotonic(), time.time())  # the tree counts from zero from here
        try:
            child = launch(command, forwarder)
        except LaunchFailed as exc:
            if pending is not None:
                os.close(pending.fd)
                pending.discard()
            print(f"memmap: {exc}", file=sys.stderr)
            return exc.code
        forwarder.start(child.pid)
        return _watch(args, command, child, pending, json_target, launched)


def _watch(args: Any, command: List[str], child: subprocess.Popen,
           pending: Optional[PendingFile], json_target: Optional[Target],
           launched: Tuple[float, float]) -> int:
    summary = RunSummary()
    summary.launched(*launched)
    sinks: List[Any] = [summary]
    csv = CsvSink(args.csv, fd=pending.fd) if pending is not None else None
    if csv is not None:  # a file that takes no more rows ends there, said then; the watch goes on
        csv.on_failure = lambda _error: print(f"memmap: {write_failure(csv)}", file=sys.stderr)
        sinks.append(csv)
    args.pid, args.launched = child.pid, True  # every process of its tree is born watched
    job = job_identity(child.pid)  # now: a command that exits at once takes its cgroup along
    try:
        sampler = (start_recording(args, pending, sinks) if pending is not None
                   else _start(args, sinks))
    except BaseException:
        _stop_child(child)
        raise
    try:
        stats = sampler.run()
    finally:
        sampler.close()
    child.wait()
    notes = [n for c in sampler.collectors for n in c.notes()]
    if csv is not None and csv.failed is not None:  # said at the time, and again at the end
        notes.append(write_failure(csv))
    return _report(args, json_target, command, child.returncode, summary, stats.missed, notes,
                   job.as_dict(), _recording(args.csv, csv))


def _recording(path: Optional[str], csv: Optional[CsvSink]) -> Optional[Dict[str, Any]]:
    """The summary's `csv`: the file, its rows, and why it stopped taking them (null: it
    did not)."""
    if csv is None:
        return None
    return {"path": path, "rows": csv.rows, "error": failure_reason(csv)}


def _start(args: Any, sinks: List[Any]) -> Any:
    sampler = build_sampler(args, sinks)
    open_sampler(sampler)
    return sampler


def _report(args: Any, json_target: Optional[Target], command: List[str], returncode: int,
            summary: RunSummary, missed: int, notes: List[str], job: Dict[str, str],
            recording: Optional[Dict[str, Any]] = None) -> int:
    """Print the summary (stderr, like `time`), write its JSON, print its JSON line (stdout);
    the command's exit code."""
    code = exit_code(returncode)
    result = summary.result()
    result.update(command=command, exit_status=code, missed_ticks=missed, job=job)
    if recording is not None:
        result["csv"] = recording
    print(render(result, summary.schema, _headline(command, returncode, result), notes), end="",
          file=sys.stderr)
    if json_target is not None:
        write_json(json_target, result)
    if getattr(args, "json_line", False):
        print(json_line(_no_nan(result)), flush=True)
    return code


def _headline(command: List[str], returncode: int, result: Dict[str, Any]) -> str:
    shown = printable(shlex.join(command))  # an argument may hold ESC, BEL, CR (a glob's file)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return (f"memmap run: `{shown}` {fmt_exit(returncode)} after "
            f"{result['duration_seconds']:.1f} s ({fmt_counted(result['samples'], 'sample')})")


def _stop_child(child: subprocess.Popen) -> None:
    """memmap could not start watching: do not leave the command running unwatched."""
    child.terminate()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
