"""The collector contract, the options collectors are built from, and the entry-point registry.

A collector reads one source and returns raw values aligned with its metric specs: gauges as
they are, counters as cumulative totals. It never formats, sleeps or talks to a sink.
Collectors are found through the entry-point group `memmap_tui.collectors`; third-party
packages can add their own there.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Type

from .model import MetricSpec
from .usage import UsageError as UsageError  # raised here; its home keeps the CLI light

log = logging.getLogger("memmap_tui")

ENTRY_POINT_GROUP = "memmap_tui.collectors"

# Our own entry points name the same targets; these are found without scanning the installed
# distributions, and also where the package runs from a source tree never installed.
BUILTIN_COLLECTORS: Dict[str, str] = {
    "host": "memmap_tui.collectors.host:HostCollector",
    "process": "memmap_tui.collectors.process:ProcessCollector",
    "nvml": "memmap_tui.collectors.nvml:NvmlCollector",
    "jetson": "memmap_tui.collectors.jetson:JetsonCollector",
    "tegrastats": "memmap_tui.collectors.jetson:TegrastatsCollector",
    "jtop": "memmap_tui.collectors.jetson:JtopCollector",
    "netfs": "memmap_tui.collectors.netfs:NetfsCollector",
    "interconnect": "memmap_tui.collectors.interconnect:InterconnectCollector",
    "cgroup": "memmap_tui.collectors.cgroup:CgroupCollector",
}


class CollectorError(Exception):
    """A source is broken right now (the sampler backs off and shows the collector degraded)."""


class SourceEnded(CollectorError):
    """The watched thing is gone for good (the attached process exited): the run ends.

    `values`, when given, are the collector's last reading (aligned with its metrics): the
    sampler writes them in the final frame instead of NaN, so the last moments are recorded.
    """

    def __init__(self, message: str, values: Optional[Sequence[float]] = None) -> None:
        super().__init__(message)
        self.values = values


class BatchDrift(Exception):
    """A collector cannot replay the rest of a batch (its files changed under it): the sampler
    drops the batch's remaining ticks as missed and goes on tick by tick."""


@dataclass
class BatchPart:
    """A collector's share of a batch of ticks that one C reader reads for several collectors
    (memmap_tui/batch.py, PartsBatch).

    `files` and `rules` are as fieldread.FieldReader takes them, with slots counted in this
    part's own `width` slots of the batch's row (every slot must have a rule). The batch stops
    before a tick at which a `hold` slot ((slot, value) pairs) no longer holds its value, a
    file of `names` (one per file: the b"PID (name) " its head must keep, or None) changed
    head or exited, or a read failed: that tick is then the collector's own. `until`: the
    batch ends with the first tick due at or after this monotonic time, replayed last, right
    after it was read (so that work done once a second, such as reading each thread's CPU,
    happens in that replay at about its own time). `replay(now, values, states)` returns
    the collector's values for one tick of the batch, read at `now` (values: its slots of that
    tick's row; states: one state byte per file), as collect() would have; it may raise
    BatchDrift. `key` names the files, so that a reader made for the same keys is reused.
    """

    key: Tuple[Any, ...]
    files: Sequence[Tuple[Any, ...]]  # (path, key_token[, period])
    rules: Sequence[Tuple[int, str, int, int, float]]
    width: int
    replay: Callable[[float, Sequence[float], bytes], Sequence[float]]
    hold: Sequence[Tuple[int, float]] = ()
    names: Optional[Sequence[Optional[bytes]]] = None
    until: float = math.inf


class Availability(NamedTuple):
    """What `probe()` says: whether the source exists here, and if not, why (with a hint)."""

    available: bool
    reason: str = ""


@dataclass
class CollectorOptions:
    """Everything a collector may be built from; each collector takes what it needs."""

    pid: Optional[int] = None
    interval: float = 0.5
    proc_root: str = "/proc"
    sys_root: str = "/sys"
    tegrastats_cmd: Optional[str] = None
    # When the watched thing goes for good (the --pid process exits): True ends the run
    # (SourceEnded: `record`, `run`, `serve`); False goes on sampling the rest and the collector
    # says what went in `ended` (the live TUI).
    stop_when_gone: bool = True
    # memmap started the watched process itself (`run`): every process of the tree was born
    # while watched, so its counters count from zero and what it did before the first sample
    # is not lost (a command that ends within one interval still shows its bytes and CPU).
    launched: bool = False


class Collector:
    """Base class holding the contract only: no storage, history or rendering.

    Subclasses set `name`, implement `probe`, `open`, `metrics`, `collect` and `close`.
    `slow = True` asks the sampler to call `collect` on its own thread (a driver call that may
    hang); `default = True` puts it in the default set when its probe says it is available;
    `needs_pid = True` means it only makes sense with --pid.
    """

    name: str = ""
    slow: bool = False
    default: bool = True
    needs_pid: bool = False
    ended: Optional[str] = None  # what went for good, when it did ("process 42 exited ...")

    @classmethod
    def from_options(cls, options: CollectorOptions) -> Collector:
        return cls()

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        """Every metric this collector can declare, whatever the machine, as templates whose
        device part is `model.DEVICE` ("{device}"): how a recording's columns are understood
        (label, pane, roles) where no collector runs (`memmap report`, `memmap replay`)."""
        return []

    @classmethod
    def renamed(cls) -> Dict[str, str]:
        """Columns this collector used to write under another name: {old: new}, either may hold
        `model.DEVICE`. Recordings with the old names still load (memmap_tui.catalog)."""
        return {}

    def absorb(self, other: Collector) -> bool:
        """Take `other` in when the two are parts of one collector (`--collectors
        jetson,tegrastats`: sources of the Jetson collector); True when done, and `other` is
        then not used. By default collectors are separate."""
        return False

    def probe(self) -> Availability:
        """Cheap, never raises: does the source exist here?"""
        raise NotImplementedError

    def open(self) -> None:
        """Acquire handles; after this `metrics()` is fixed."""

    def metrics(self) -> List[MetricSpec]:
        raise NotImplementedError

    def collect(self) -> Sequence[float]:
        """One reading aligned with `metrics()`; NaN for an unsupported field; raises if broken."""
        raise NotImplementedError

    def native_reader(self) -> Any:
        """The C FieldReader whose read() fills exactly what collect() returns, if there is
        one: the sampler may then run whole batches of ticks in C (memmap_tui.batch)."""
        return None

    def batch_part(self, now: float) -> Optional[BatchPart]:
        """What this collector reads on the coming ticks, when the sampler may read them in C
        in one batch with the other collectors' and replay them after (BatchPart); None when
        the next tick must be its own (the default: every tick is)."""
        return None

    def table(self) -> Optional[List[Dict[str, Any]]]:
        """Per-entity rows (processes, GPU processes) from the last collect, or None."""
        return None

    def notes(self) -> List[str]:
        """Lines worth saying once at the end of a run (which source gave what, what could not
        be read and why); the run summary prints them."""
        return []

    def close(self) -> None:
        """Release handles; safe to call twice."""


@functools.lru_cache(maxsize=1)
def _entry_points() -> Dict[str, str]:
    """{name: "module:attr"} for the installed collectors, scanned once per process.

    Reads the `entry_points.txt` of each distribution on sys.path directly: importing
    importlib.metadata costs more than the whole of a 1 kHz recorder's first second.
    """
    found: Dict[str, str] = {}
    for base in sys.path:
        try:
            names = sorted(os.listdir(base or "."))
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                for key, target in _group_entries(os.path.join(base or ".", name)):
                    found.setdefault(key, target)
    return found


def _group_entries(dist_dir: str) -> List[Tuple[str, str]]:
    """The (name, target) pairs of our group in one distribution's entry_points.txt."""
    try:
        with open(os.path.join(dist_dir, "entry_points.txt"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    entries, inside = [], False
    for line in lines:
        line = line.strip()
        if line.startswith("["):
            inside = line == f"[{ENTRY_POINT_GROUP}]"
        elif inside and "=" in line and not line.startswith(("#", ";")):
            key, _, target = line.partition("=")
            entries.append((key.strip(), target.split("[")[0].strip()))
    return entries


def _load_target(target: str) -> Type[Collector]:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def available_names() -> List[str]:
    """Every registered collector name, built-ins first in their documented order."""
    names = list(BUILTIN_COLLECTORS)
    names += sorted(n for n in _entry_points() if n not in BUILTIN_COLLECTORS)
    return names


def collector_class(name: str) -> Type[Collector]:
    """The class registered under `name`; UsageError naming the known ones if there is none.

    A built-in name always means the built-in collector (as our own entry points say), so it is
    found without scanning the installed distributions; only other names need the scan."""
    if name in BUILTIN_COLLECTORS:
        return _load_target(BUILTIN_COLLECTORS[name])
    eps = _entry_points()
    if name in eps:
        return _load_target(eps[name])
    raise UsageError(f"unknown collector '{name}' (known: {', '.join(available_names())})")


def parse_collector_list(text: str) -> List[str]:
    """`host,nvml` -> ["host", "nvml"]; UsageError for an empty or unknown name."""
    if not text.strip():
        raise UsageError("--collectors: no collector named (leave the option out for every "
                         "one present here)")
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise UsageError(f"--collectors: empty name in '{text}'")
    if any(n not in BUILTIN_COLLECTORS for n in names):  # a third-party name: scan for it
        known = available_names()
        for n in names:
            if n not in known:
                raise UsageError(f"unknown collector '{n}' (known: {', '.join(known)})")
    return list(dict.fromkeys(names))


def build_collectors(names: Optional[List[str]], options: CollectorOptions) -> List[Collector]:
    """Instantiate the named collectors, or the default set (what is present here) when None.

    A collector named explicitly that is unavailable is a UsageError with its probe's reason;
    an unavailable default one is skipped quietly (`memmap collectors` says why).
    """
    explicit = names is not None
    chosen = names if names is not None else available_names()
    built: List[Collector] = []
    for name in chosen:
        try:
            cls = collector_class(name)
        except ImportError as exc:
            if explicit:
                raise UsageError(f"collector '{name}' cannot load: {exc}") from None
            log.info("collector %s skipped: %s", name, exc)
            continue
        if cls.needs_pid and options.pid is None:
            if explicit:
                raise UsageError(f"collector '{name}' needs --pid")
            continue
        if not explicit and not cls.default:
            continue
        inst = cls.from_options(options)
        avail = inst.probe()
        if not avail.available:
            if explicit:
                raise UsageError(f"collector '{name}' is not available here: {avail.reason}")
            log.info("collector %s skipped: %s", name, avail.reason)
            continue
        if not any(b.absorb(inst) for b in built):
            built.append(inst)
    return built


def env_tegrastats_cmd() -> Optional[str]:
    return os.environ.get("MEMMAP_TEGRASTATS") or None
