"""The Jetson collector: one collector composed of sources, each quantity from the first source
that has it (sysfs, then tegrastats, then jtop). See the package docstring for why."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

from memmap_tui.collector import (
    Availability,
    Collector,
    CollectorError,
    CollectorOptions,
    env_tegrastats_cmd,
)
from memmap_tui.model import NAN, MetricSpec

from . import columns as col
from .jtop import JtopSource
from .source import Gap, Source
from .sysfs import SysfsSource
from .tegrastats import TegrastatsSource

log = logging.getLogger("memmap_tui.jetson")

ORDER = ("sysfs", "tegrastats", "jtop")  # precedence: a column comes from the first that has it


def make_source(name: str, options: CollectorOptions) -> Source:
    """The source called `name` ("sysfs", "tegrastats", "jtop"), built from the options."""
    if name == "sysfs":
        return SysfsSource(options.proc_root, options.sys_root,
                           getattr(options, "debugfs_root", None))
    if name == "tegrastats":
        return TegrastatsSource(options.tegrastats_cmd or env_tegrastats_cmd(),
                                options.interval, options.proc_root, options.sys_root)
    if name == "jtop":
        return JtopSource(interval=options.interval)
    raise ValueError(f"no Jetson source {name!r}")


class JetsonCollector(Collector):
    """A Jetson's memory, GPU, EMC, CPU, rails, temperatures and engines from its sources.

    `provenance` ({column: source}) and `source_notes` (lines: which source gives which
    quantity, and what no source can read here and why) say once where the columns come from;
    `memmap collectors` shows the same before open() (from probe()).
    """

    name = "jetson"
    sources_named: Tuple[str, ...] = ORDER  # the sources this entry point selects

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources: List[Source] = _ordered(sources)
        self.provenance: Dict[str, str] = {}
        self.source_notes: List[str] = []
        self._open: List[Source] = []
        self._specs: List[MetricSpec] = []
        self._plan: List[Tuple[int, int]] = []  # per column: (index in _open or -1, index)

    @classmethod
    def from_options(cls, options: CollectorOptions) -> JetsonCollector:
        return cls([make_source(name, options) for name in cls.sources_named])

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return col.catalog()

    @classmethod
    def renamed(cls) -> Dict[str, str]:
        return dict(col.RENAMED)

    def absorb(self, other: Collector) -> bool:
        """`--collectors jetson,tegrastats` names parts of one collector: take the other's
        sources (the Schema refuses a column declared twice)."""
        if not isinstance(other, JetsonCollector):
            return False
        names = {s.name for s in self.sources}
        self.sources = _ordered(self.sources + [s for s in other.sources if s.name not in names])
        return True

    def probe(self) -> Availability:
        """Available when one of the sources is; the reason names the board, which source
        would give which quantity, and what none can read here (and why)."""
        quick = len(self.sources) > 1  # no round trip to the jtop service for the whole set
        found = [(s, s.probe(quick=quick)) for s in self.sources]
        usable = [s for s, avail in found if avail.available]
        if not usable:
            return Availability(False, "; ".join(f"{s.name}: {a.reason}" for s, a in found)
                                if len(found) > 1 else found[0][1].reason)
        first = next(a.reason for s, a in found if a.available)
        if self.sources_named != ORDER:  # `tegrastats`, `jtop`: the jetson row says the rest
            return Availability(True, f"{first} (a source of the jetson collector)")
        taken: Dict[str, str] = {}
        for source in usable:
            for quantity in source.expected():
                taken.setdefault(quantity, source.name)
        notes = [sources_line(taken)] + gap_lines(
            [g for s in usable for g in s.gaps()], set(), taken_quantities=set(taken))
        return Availability(True, "; ".join([first] + notes))

    def open(self) -> None:
        self._open, failures = [], []
        for source in self.sources:
            if len(self.sources) > 1 and not source.probe(quick=True).available:
                continue  # not here (no tegrastats, no jtop): `memmap collectors` says why
            try:
                source.open()
            except CollectorError as exc:
                failures.append(f"{source.name}: {exc}")
                source.close()
                continue
            self._open.append(source)
        if not self._open:
            raise CollectorError("; ".join(failures) or "no Jetson source here")
        self._take_columns()
        self.source_notes = [sources_line(self._quantities())] + gap_lines(
            [g for s in self._open for g in s.gaps()], set(self.provenance))
        self.source_notes += [f"{f} (left out)" for f in failures]
        for note in self.source_notes:
            log.info("jetson: %s", note)

    def notes(self) -> List[str]:
        return list(self.source_notes)

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def collect(self) -> Sequence[float]:
        parts = [s.read() for s in self._open]
        return [parts[i][j] if i >= 0 else NAN for i, j in self._plan]

    def table(self) -> Optional[List[Dict[str, Any]]]:
        rows = [r for s in self._open for r in (s.table() or [])]
        return rows if any(s.name == "jtop" for s in self._open) else None

    def close(self) -> None:
        for source in self._open:
            try:
                source.close()
            except Exception as exc:  # noqa: BLE001 - closing goes on for the rest
                log.warning("closing the %s source: %s", source.name, exc)
        self._open = []

    # -- which source gives which column -------------------------------------------------------

    def _take_columns(self) -> None:
        """Each column from the first source that declares it; the base columns always."""
        self.provenance, self._specs, self._plan = {}, [], []
        for i, source in enumerate(self._open):
            for j, spec in enumerate(source.metrics()):
                if spec.name not in self.provenance:
                    self.provenance[spec.name] = source.name
                    self._specs.append(spec)
                    self._plan.append((i, j))
        for make in col.BASE:
            spec = make()
            if spec.name not in self.provenance:  # no source reads it here: NaN, and said why
                self._specs.append(spec)
                self._plan.append((-1, 0))

    def _quantities(self) -> Dict[str, str]:
        taken: Dict[str, str] = {}
        for column, source in self.provenance.items():
            taken.setdefault(col.quantity(column), source)
        return taken


class TegrastatsCollector(JetsonCollector):
    """`--collectors tegrastats`: the Jetson collector with its tegrastats source only."""

    name = "tegrastats"
    default = False  # the jetson collector runs it where it is found
    sources_named = ("tegrastats",)


class JtopCollector(JetsonCollector):
    """`--collectors jtop`: the Jetson collector with its jtop source only."""

    name = "jtop"
    default = False
    sources_named = ("jtop",)


def _ordered(sources: Sequence[Source]) -> List[Source]:
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(sources, key=lambda s: rank.get(s.name, len(ORDER)))


def sources_line(taken: Dict[str, str]) -> str:
    """"sources: sysfs (RAM, swap, ...); tegrastats (CPU, engines)" from {quantity: source}."""
    by_source: Dict[str, List[str]] = {}
    for quantity, source in taken.items():
        by_source.setdefault(source, []).append(quantity)
    return "sources: " + "; ".join(f"{s} ({', '.join(q)})" for s, q in by_source.items())


def gap_lines(gaps: Sequence[Gap], provided: set, taken_quantities: Optional[set] = None
              ) -> List[str]:
    """One line per reason, for the gaps no source fills: "not read: EMC clock, EMC util and
    bytes/s: the EMC clock ... readable only by root". A gap is filled when a source provides
    one of its columns (after open) or its quantity (before open, `taken_quantities`); a gap
    several sources have is said with the first source's reason (sysfs knows the root cause)."""
    chosen: Dict[str, str] = {}
    for gap in gaps:
        filled = any(c in provided for c in gap.columns) or (
            taken_quantities is not None
            and any(col.quantity(c) in taken_quantities for c in gap.columns))
        if not filled:
            chosen.setdefault(gap.what, gap.why)
    why: Dict[str, List[str]] = {}
    for what, reason in chosen.items():
        why.setdefault(reason, []).append(what)
    return [f"not read: {', '.join(whats)}: {reason}" for reason, whats in why.items()]
