"""The `memmap` command: argparse subcommands that build the pipeline for each mode.

Holds no logic: each mode lives in its own module and is imported only when it runs, so that
`memmap record` starts without loading the TUI. Bad arguments exit 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from . import __version__
from .signals import (
    StopSignal,
    hold_until_exit,
    lost_stop,
    restore_signals,
    stop_early,
    stop_signal_in,
    stopped_status,
    taken,
)
from .usage import MAX_INTERVAL, MIN_INTERVAL, UsageError

# The names below are for the type checker only: importing typing costs `memmap --help` a tenth
# of its start-up, and every name here is used in annotations alone.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, NoReturn, Optional

EPILOG_TUI = """examples:
  memmap                          live monitor of this machine
  memmap --pid 4242               ... and of process 4242 with its children
  memmap --inline                 a 6-line strip under the prompt (q quits)
  memmap record -o run.csv --duration 600 --pid 4242
  memmap run -- python train.py   run a command, summarise its I/O and memory at exit
  memmap collectors               which sources exist here, and why not
  memmap cluster --prometheus http://prometheus:9090   one row per node, from Prometheus
"""


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as a UsageError (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


MAX_DURATION = 10 * 366 * 86400.0  # ten years: beyond it a duration is a typo, not a plan
PID_MAX_LIMIT = 4 * 1024 * 1024    # Linux's highest possible pid_max (PID_MAX_LIMIT)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.I | re.A)


def _seconds(text: str) -> float:
    """A number written in ASCII (float() would also take '٣' or '1_0')."""
    if not _NUMBER.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds")
    return float(text)


def _seconds_within(text: str, low: float, high: float) -> float:
    value = _seconds(text)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text} s is outside {low:g}..{high:g} s")
    return value


def interval_seconds(text: str) -> float:
    return _seconds_within(text, MIN_INTERVAL, MAX_INTERVAL)


def positive_seconds(text: str) -> float:
    value = _seconds(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of seconds")
    if value > MAX_DURATION:
        raise argparse.ArgumentTypeError(f"{text} s is more than ten years "
                                         f"(at most {MAX_DURATION:.0f} s)")
    return value


MIN_REFRESH, MAX_REFRESH = 0.1, 60.0


def refresh_seconds(text: str) -> float:
    return _seconds_within(text, MIN_REFRESH, MAX_REFRESH)


def process_id(text: str) -> int:
    """A process id: ASCII digits, 1 to Linux's PID_MAX_LIMIT."""
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a process id (digits 0-9 only)")
    if len(text) > 8 or int(text) > PID_MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"no such process: {text} (process ids go up to "
                                         f"{PID_MAX_LIMIT})")
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a process id (must be > 0)")
    return value


def add_sampling_options(p: argparse.ArgumentParser, interval: float = 0.5) -> None:
    p.add_argument("--interval", type=interval_seconds, default=interval, metavar="S",
                   help=f"seconds between samples, {MIN_INTERVAL:g} to {MAX_INTERVAL:g} "
                        f"(default {interval:g})")
    p.add_argument("--pid", type=process_id, metavar="PID",
                   help="also watch this process and all its descendants")
    p.add_argument("--collectors", metavar="A,B",
                   help="comma-separated collectors to use (default: every one present here; "
                        "see 'memmap collectors')")
    p.add_argument("--tegrastats-cmd", metavar="PATH",
                   help="tegrastats executable (Jetson; its EMC bytes/s is an estimate, see "
                        "'memmap record --help') (default: $MEMMAP_TEGRASTATS, else tegrastats "
                        "on PATH)")


def _lazy(module: str, function: str) -> Callable[[Any], int]:
    def handler(args: Any) -> int:
        import importlib

        return getattr(importlib.import_module(module, __package__), function)(args)

    return handler


def build_parser() -> Parser:
    parser = Parser(prog="memmap", epilog=EPILOG_TUI,
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Live memory and data-movement monitor for people who feed GPUs: "
                                "GB/s moved, time spent waiting for data, memory growth. The "
                                "screen needs a terminal (stdin and stderr); without one (cron, "
                                "nohup) it exits 2 with one line: use 'memmap record' or "
                                "'memmap serve' there.")
    parser.add_argument("--version", action="version", version=f"memmap {__version__}")
    add_sampling_options(parser)
    parser.add_argument("--refresh", type=refresh_seconds, default=1.0, metavar="S",
                        help=f"seconds between redraws of the screen, {MIN_REFRESH:g} to "
                             f"{MAX_REFRESH:g} (default 1); sampling keeps its own --interval")
    parser.add_argument("--inline", action="store_true",
                        help="a live strip of at most 6 lines under the prompt instead of the "
                             "full screen (for a tmux pane beside a job)")
    parser.set_defaults(handler=_lazy(".tui.app", "run_app"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    rec = sub.add_parser(
        "record", help="record samples to a CSV file, headless",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Record one CSV row per sample until --duration, Ctrl-C, SIGTERM or SIGHUP "
                    "(each finishes the row, flushes and exits 0). The recording goes to a "
                    "temporary file beside FILE.csv and replaces it only once sampling has "
                    "started, so a failed start never costs the old file (--force included). "
                    "Rows reach the file within half a second; SIGKILL loses at most that.",
        epilog="examples:\n  memmap record -o run.csv --duration 600\n"
               "  memmap record -o job.csv --pid 4242 --interval 0.1\n"
               "  memmap record -o fast.csv --interval 0.001 --collectors host\n\n"
               "Columns are <source>.<thing>[.<device>].<quantity>_<unit> in base units; "
               "an empty cell means not available.\n"
               "On a Jetson, jetson.emc.bytes_per_second is an ESTIMATE of memory-controller "
               "traffic: EMC util % x EMC clock x bytes per clock of the module (from a table "
               "keyed by /proc/device-tree/model); empty for a module not in the table.")
    rec.add_argument("-o", "--output", required=True, metavar="FILE.csv",
                     help="the CSV file to write: a regular file or a new one (a link is "
                          "followed; refuses to overwrite without --force)")
    rec.add_argument("--duration", type=positive_seconds, metavar="S",
                     help="stop after this many seconds, at most ten years (default: until "
                          "interrupted)")
    rec.add_argument("--force", action="store_true",
                     help="replace FILE.csv if it exists, once the recording has started "
                          "(never while another memmap is recording to it)")
    add_sampling_options(rec)
    rec.set_defaults(handler=_lazy(".commands.record", "run_record"))

    add_run(sub)
    add_serve_report_replay(sub)

    add_cluster(sub)

    col = sub.add_parser("collectors", help="which collectors are available here, and why not")
    add_sampling_options(col)
    col.set_defaults(handler=_lazy(".commands.collectors", "run_collectors"))
    return parser


# -- run (launch a command and summarise it) --------------------------------------------------
def add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run", help="run a command, watch its process tree, print a summary at exit",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start CMD (no shell), watch it and all its descendants with the same "
                    "collectors as the monitor, and print at exit: GB/s read and written, the "
                    "share of time spent waiting for data, peak memory and its growth, GPU "
                    "use, and a verdict. SIGINT/SIGTERM/SIGHUP are passed on to CMD. Exits "
                    "with CMD's status (128+N if signal N killed it, 127 if not found, 126 if "
                    "it exists but cannot start: no execute permission, a missing #! "
                    "interpreter). --csv and --json must name two files.",
        epilog="examples:\n  memmap run -- python train.py --epochs 3\n"
               "  memmap run --csv run.csv --json summary.json --interval 0.1 -- ./loader")
    run.add_argument("--csv", metavar="FILE", help="also record every sample to this CSV file")
    run.add_argument("--json", metavar="FILE", help="also write the summary to this JSON file")
    run.add_argument("--json-line", action="store_true",
                     help="also print the summary on stdout as one JSON line of at most 1 KB "
                          "(fits Slurm's AdminComment)")
    run.add_argument("--force", action="store_true",
                     help="replace FILE(s) if they exist, once the run has started")
    run.add_argument("--interval", type=interval_seconds, default=0.5, metavar="S",
                     help="seconds between samples (default 0.5)")
    run.add_argument("--collectors", metavar="A,B",
                     help="collectors besides `process` (default: every one present here)")
    run.add_argument("--tegrastats-cmd", metavar="PATH", help="tegrastats executable")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]",
                     help="the command to run and its arguments")
    run.set_defaults(handler=_lazy(".commands.run", "run_command"))


# -- serve, report, replay (the exporter and the readers of recordings) ---------------------------
def add_serve_report_replay(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="Prometheus exporter (127.0.0.1:9464 by default)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Sample this machine and serve the latest values as Prometheus metrics "
                    "until Ctrl-C, SIGTERM or SIGHUP (exit 0). Names: docs/prometheus.md.",
        epilog="examples:\n  memmap serve\n  memmap serve --listen 0.0.0.0:9464 --interval 5\n"
               "  curl -s http://127.0.0.1:9464/metrics | grep memmap_host_disk")
    serve.add_argument("--listen", default="127.0.0.1:9464", metavar="HOST:PORT",
                       help="address to serve on (default 127.0.0.1:9464, loopback only; "
                            "anything else is reachable from other machines)")
    serve.add_argument("--label", action="append", metavar="KEY=VALUE",
                       help="a constant label on memmap_job_info (repeat for more), e.g. "
                            "rack=r7, or hpc_job=$PBS_JOBID where the scheduler is not Slurm")
    add_sampling_options(serve, interval=1.0)
    serve.set_defaults(handler=_lazy(".commands.serve", "run_serve"))

    report = sub.add_parser(
        "report", help="summary table and terminal plots of a recording, or two side by side",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Summarise a CSV written by 'memmap record': the verdict (what limits the "
                    "pipeline, with its numbers) and its phases, per metric mean, p50, p95 and "
                    "max, plots of memory, throughput and waiting over time. With two files, "
                    "compare them side by side: throughput, waiting share, CPU, memory peak and "
                    "growth, cause, each change in %.\n\n"
                    "A file that is not a recording is refused with one line (exit 2): not a "
                    "regular file, a timestamp that is not Unix seconds, a cell that is not a "
                    "number, lines longer than a recording's. Values that are infinite or beyond "
                    "1e30 are read as not available, and the report says how many. Timestamps "
                    "that go backwards (a clock set back while recording) are kept in order and "
                    "count as no time passing in spans and plots; the report says how often.",
        epilog="examples:\n  memmap report run.csv\n"
               "  memmap report before.csv after.csv   what did my change to the loader do?")
    report.add_argument("file", metavar="FILE.csv", help="a recording from 'memmap record'")
    report.add_argument("other", metavar="OTHER.csv", nargs="?",
                        help="a second recording to compare with the first")
    report.add_argument("--columns", metavar="A,B",
                        help="only these columns in the table and plots; names or shell "
                             "patterns, e.g. 'host.disk.*,host.mem.used_bytes'")
    report.set_defaults(handler=_lazy(".commands.report", "run_report"))

    replay = sub.add_parser(
        "replay", help="the live monitor's panes, driven by a recording",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Play a CSV written by 'memmap record' through the monitor's panes. Keys: "
                    "p/space pause, left/right seek 10 s, Home/End start/end, s or +/- speed "
                    "(1x, 10x, 60x), q quit. Needs a terminal; a step where the recording's "
                    "clock went back plays as no time.",
        epilog="examples:\n  memmap replay run.csv\n  memmap replay run.csv --speed 60")
    replay.add_argument("file", metavar="FILE.csv", help="a recording from 'memmap record'")
    replay.add_argument("--speed", type=float, choices=(1.0, 10.0, 60.0), default=1.0,
                        help="playback speed: 1, 10 or 60 (default 1)")
    replay.add_argument("--refresh", type=interval_seconds, default=1.0, metavar="S",
                        help="seconds between redraws (default 1)")
    replay.set_defaults(handler=_lazy(".tui.replay", "run_replay"))


# -- cluster (one row per node, from Prometheus) -----------------------------------------------
def add_cluster(sub: Any) -> None:
    cluster = sub.add_parser(
        "cluster", help="one row per node that runs memmap serve, from Prometheus",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A live table of the nodes that run 'memmap serve', read from Prometheus's "
                    "query API: disk, network, interconnect and PCIe GB/s, GPU busy, waiting "
                    "share, memory used and the diagnosis's cause per node, worst first, "
                    "stragglers marked (under half the median throughput of their job, or "
                    "waiting over twice its median). Keys: r refresh now, q quit.",
        epilog="examples:\n  memmap cluster --prometheus http://prometheus:9090\n"
               "  memmap cluster --prometheus http://prometheus:9090 --job 4711\n"
               "  memmap cluster --prometheus http://prometheus:9090 --once > nodes.txt")
    cluster.add_argument("--prometheus", required=True, metavar="URL",
                         help="the Prometheus server that scrapes the nodes, e.g. "
                              "http://prometheus:9090")
    cluster.add_argument("--job", metavar="ID",
                         help="only the nodes of this job (memmap_job_info's hpc_job)")
    cluster.add_argument("--once", action="store_true",
                         help="print the table once and exit (for scripts and cron)")
    cluster.add_argument("--refresh", type=refresh_seconds, default=5.0, metavar="S",
                         help="seconds between refreshes of the live view (default 5)")
    cluster.add_argument("--window", default="1m", metavar="DURATION",
                         help="the rate window, a Prometheus duration (default 1m)")
    cluster.add_argument("--timeout", type=positive_seconds, default=5.0, metavar="S",
                         help="seconds Prometheus may take to answer a query (default 5)")
    cluster.set_defaults(handler=_lazy(".commands.cluster", "run_cluster"))


def main(argv: Optional[List[str]] = None, exiting: bool = False) -> int:
    """memmap's command line; `exiting`: the process ends when it returns (the `memmap`
    command), so the stop signals stay held back from then on instead of given back."""
    previous = stop_early()
    try:
        status = _run(argv)
        lost = lost_stop()  # a stop signal Python dropped in a finalizer: the command went on
        return status if lost is None else stopped_status(taken(lost))
    except StopSignal as stopped:  # the clean-up's output, if any, is out: say why it ended
        return stopped_status(taken(stopped))
    finally:
        if exiting:
            hold_until_exit()
        else:
            restore_signals(previous)  # for callers in-process; ignored once a stop came


def _run(argv: Optional[List[str]]) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except UsageError as exc:
        print(f"memmap: error: {_shown(exc)}", file=sys.stderr)
        return 2
    except StopSignal:
        raise
    except KeyboardInterrupt:  # raised by code, not by a signal (those raise StopSignal)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"memmap: error: {_shown(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug still gets one line; MEMMAP_DEBUG=1 shows all
        stopped = stop_signal_in(exc)
        if stopped is not None:  # a stop signal that Python wrapped (an import was under way)
            raise stopped from None
        if os.environ.get("MEMMAP_DEBUG"):
            raise
        print(f"memmap: internal error: {type(exc).__name__}: {_shown(exc)} "
              "(set MEMMAP_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _shown(exc: BaseException) -> str:
    """The error's message as it may reach a terminal: controls escaped, at most 400 characters."""
    from .safetext import printable  # only on the way out with an error

    return printable(str(exc), 400)
