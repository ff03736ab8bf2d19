"""The one pipeline builder every mode uses: collectors -> Sampler -> the mode's sinks.

Modes differ only in which sinks they attach. Also holds the small pieces every mode shares:
checking a --pid and where logs go (stop signals: memmap_tui.signals).
"""

from __future__ import annotations

import logging
import os
import resource
from typing import Any, List, Optional, Sequence, Tuple

from .collector import (
    Collector,
    CollectorError,
    CollectorOptions,
    UsageError,
    available_names,
    build_collectors,
    collector_class,
    env_tegrastats_cmd,
    parse_collector_list,
)
from .safetext import printable
from .sampler import Sampler, Sink

OPEN_FILES_WANTED = 1 << 16  # raise_open_files_limit(): enough for trees of thousands


def check_pid(pid: Optional[int]) -> None:
    """UsageError "no such process: N" unless `pid` names a live process (or is None)."""
    if pid is None:
        return
    if pid <= 0:
        raise UsageError(f"--pid must be a positive process id, not {pid}")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise UsageError(f"no such process: {pid}") from None
    except PermissionError:
        pass  # another user's process: it exists; the collector says what it cannot read


def collector_options(args: Any, stop_when_gone: bool = True) -> CollectorOptions:
    return CollectorOptions(
        pid=getattr(args, "pid", None),
        interval=args.interval,
        tegrastats_cmd=getattr(args, "tegrastats_cmd", None) or env_tegrastats_cmd(),
        stop_when_gone=stop_when_gone,
        launched=bool(getattr(args, "launched", False)),
    )


def chosen_collectors(args: Any, stop_when_gone: bool = True) -> List[Collector]:
    """The collectors named by --collectors (plus `process` with --pid), or the default set.

    With --pid the process collector is never skipped quietly: a process that exited while
    memmap started is "no such process" (UsageError), not a recording without its columns."""
    given = getattr(args, "collectors", None)  # '' (an unset variable) is refused, not all
    names = parse_collector_list(given) if given is not None else None
    if names is not None and getattr(args, "pid", None) is not None and "process" not in names:
        names.append("process")
    options = collector_options(args, stop_when_gone)
    built = build_collectors(names, options)
    if options.pid is not None and not any(c.name == "process" for c in built):
        built += build_collectors(["process"], options)  # named: raises with the probe's why
    return built


def import_collectors(args: Any) -> None:
    """Import the modules of the collectors chosen_collectors(args) may build, without building
    any. `run` calls it before it launches the command: imports are most of the time from the
    launch to the first sample (about 45 ms, against 10 ms with them done before), and the
    host's figures count from that sample while the command's tree counts from the launch. A
    module that fails to import is left to build_collectors, which says so as it would have."""
    given = getattr(args, "collectors", None)
    names = parse_collector_list(given) if given is not None else available_names()
    for name in dict.fromkeys([*names, "process"]):
        try:
            collector_class(name)
        except ImportError:
            pass


def build_sampler(args: Any, sinks: Sequence[Sink] = (), stop_when_gone: bool = True) -> Sampler:
    """Check the arguments, pick the collectors and wire them to `sinks`.

    `stop_when_gone`: the run ends when the watched process exits (record, run, serve); False
    (the live TUI) goes on sampling the rest, and the collector's `ended` says it exited."""
    check_pid(getattr(args, "pid", None))
    if getattr(args, "pid", None) is not None:
        raise_open_files_limit()
    return Sampler(chosen_collectors(args, stop_when_gone), args.interval, sinks)


def raise_open_files_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise this process's soft limit on open files toward its hard limit (at most `wanted`);
    returns the soft limit now. A process tree is read through descriptors kept open, a few per
    process (and a batch reader's two more): at the common default of 1024, a tree of a few
    hundred processes would run out, and a process whose files cannot be opened cannot be
    watched. Needs no privilege. A command `memmap run` launched keeps the limit it started
    with (it is launched before)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        return soft
    except (OSError, ValueError):
        return -1


def open_sampler(sampler: Sampler) -> None:
    """Open the collectors and sinks. A collector that cannot open (the watched process is
    gone, a driver refuses) is a failed start: UsageError with its reason, all closed again."""
    try:
        sampler.open()
    except CollectorError as exc:
        sampler.close()
        raise UsageError(str(exc) or type(exc).__name__) from None
    except BaseException:  # a stop signal during the start-up: close what was opened
        sampler.close()
        raise


def log_to_stderr(level: int = logging.WARNING) -> None:
    """Headless modes: one line per warning on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("memmap: %(message)s"))
    root = logging.getLogger("memmap_tui")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def log_to_file(path: Optional[str] = None) -> Tuple[Optional[str], str]:
    """Screen-owning modes: logs go to a file (default ~/.cache/memmap/memmap.log).

    Returns (the path, "") or, when it cannot be written (a read-only HOME, an XDG_CACHE_HOME
    that is a file), (None, why): the screen still runs, without a log file."""
    if path is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(base, "memmap", "memmap.log")
    root = logging.getLogger("memmap_tui")
    root.propagate = False
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path)
    except OSError as exc:
        root.handlers[:] = [logging.NullHandler()]
        return None, f"no log file: cannot write {printable(str(path))} ({exc.strerror or exc})"
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return path, ""
