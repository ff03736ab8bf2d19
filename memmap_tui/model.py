"""Metric specs, readings and frames: the data that flows from collectors to sinks.

NaN is the one "not available" value everywhere. A collector declares its metrics once, as
`MetricSpec` data: name, unit, kind and help, and what the metric is for (its label, pane and
roles, memmap_tui.roles). The CSV header, the Prometheus names, the TUI's panes, the diagnosis
and the run summary are all generated from those specs; nothing downstream spells a column name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

NAN = math.nan
GAUGE = "gauge"
COUNTER = "counter"

Labels = Tuple[Tuple[str, str], ...]
Notes = Tuple[Tuple[str, str], ...]
DEVICE = "{device}"  # stands for the device part in a catalogue's template (Collector.catalog)


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a collector.

    name:   the raw value's name. A gauge's name is also its column (`host.mem.used_bytes`);
            a counter's name is the cumulative total (`host.disk.read_bytes`).
    unit:   unit of the raw value in base units: bytes, seconds, percent, celsius, watts,
            hertz, count.
    kind:   GAUGE (reported as is) or COUNTER (cumulative; becomes a rate in the frame).
            A gauge with `ratios` is derived instead (see there).
    help:   one sentence for --help tables and Prometheus HELP.
    column: the frame/CSV column a counter becomes; None when it only serves as another
            counter's denominator. For gauges it is the name.
    per:    for a counter, the name of another counter: the column is scale * d(name)/d(per)
            instead of scale * d(name)/dt (CPU % is busy jiffies over total jiffies).
    scale:  multiplies the derived value (e.g. 100 to turn seconds-per-second into percent).
    ratios: for a gauge derived from other counters: ((numerator, denominator), ...) names of
            counters. Its column is scale * the largest d(numerator)/d(denominator) over the
            interval among the pairs whose numerator did not go backwards and whose
            denominator grew; NaN when no pair did (the first frame, an interval with no
            requests, every CPU offline). One pair is a plain ratio of two counters that have
            columns of their own (bytes per read request = d(read bytes)/d(reads)); many are the
            busiest of a group (the busiest CPU). Its own raw value is not used. The numerators
            must be consecutive metrics, and so must the denominators (derive's plan addresses
            them as two runs).
    share:  the ratio (`per`, or each pair of `ratios`) is a part of its whole: the numerator's
            time or count is part of the denominator's (busy CPU time of all CPU time, throttled
            periods of all periods); for a counter without `per`, its seconds are a part of the
            seconds that went by (a disk's busy time, a PSI stall time). Its column is then held
            within [0, scale]: the float delta of two large counters can land a hair above the
            whole (100.000000073 %), and a kernel's busy time, counted in its own ticks, a
            little more than the interval the sampler measured (iostat holds %util at 100 the
            same way). Not for ratios that may exceed 1 (seconds per request, delay over process
            time, CPU time of several threads). A scale above 0.
    weight: the column whose count weighs this one over a window, for a ratio of two counts
            (bytes per request: the requests; memmap_tui.figures.count_weights). A live spec
            leaves it "" (its `per` or `ratios` say it); a recording's column carries it
            (memmap_tui.catalog), as its ratio's counters are gone there.
    family: the name with the device part taken out, for Prometheus (`host.disk.read_bytes`).
    labels: the device part as labels, for Prometheus ((("device", "sda"),)).

    What it is for (memmap_tui.roles), declared beside it:
    label:  its short name on screen, in the summary and the report ("disk read"); the column
            when empty.
    pane:   the TUI pane that draws it (roles.MEMORY, ...); "" for none.
    roles:  what consumers ask it for (roles.WAITING, roles.TREE, ...).
    key:    its name in the run summary's JSON ("io_delay_percent"); see `summary_key`.
    total:  the column that is its full scale (a memory total, a link's capacity), or a role
            (roles.RAM_TOTAL): the first metric with it, whichever collector declares it; "".
    notes:  other columns drawn after its value, each with a format: ((column, "PSS {}"),).
    rank:   its place among its pane's rows, lower first; ties keep the schema's order.
    instead_of: a role; the metric is drawn only where no other metric has that role (a
            Jetson's unified RAM stands in for host RAM where the host collector is off).
    lag:    seconds: a value measured once every `lag` seconds over the `lag` seconds before,
            and held on the rows until the next measurement (the busiest thread, read once a
            second), describes the time about `lag` before a row's; phases judge it there
            (memmap_tui.phases). 0: a row's value is of its own interval.
    """

    name: str
    unit: str
    kind: str
    help: str
    column: Optional[str] = None
    per: Optional[str] = None
    scale: float = 1.0
    ratios: Tuple[Tuple[str, str], ...] = ()
    share: bool = False
    weight: str = ""
    family: str = ""
    labels: Labels = ()
    label: str = ""
    pane: str = ""
    roles: Tuple[str, ...] = ()
    key: str = ""
    total: str = ""
    notes: Notes = ()
    rank: int = 50
    instead_of: str = ""
    lag: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in (GAUGE, COUNTER):
            raise ValueError(f"MetricSpec {self.name}: kind must be gauge or counter")
        if self.ratios and self.kind != GAUGE:
            raise ValueError(f"MetricSpec {self.name}: only a gauge is derived from ratios")
        if self.share and not self.scale > 0:
            raise ValueError(f"MetricSpec {self.name}: a share needs a scale above 0")
        if self.kind == GAUGE and self.column is None:
            object.__setattr__(self, "column", self.name)
        if not self.family:
            object.__setattr__(self, "family", self.name)

    def has(self, *roles: str) -> bool:
        """True when the metric has every one of `roles`."""
        mine = self.roles  # asked ~200 times a TUI refresh by the diagnosis: a plain loop
        for role in roles:
            if role not in mine:
                return False
        return True

    @property
    def shown_label(self) -> str:
        """The label, or the column (the name) when the collector gave none."""
        return self.label or self.column or self.name

    def for_device(self, device: str) -> MetricSpec:
        """This catalogue template with its `{device}` part filled in (see Collector.catalog)."""
        def fill(text: str) -> str:
            return text.replace(DEVICE, device)

        return replace(
            self, name=fill(self.name), help=fill(self.help),
            column=fill(self.column) if self.column else self.column,
            per=fill(self.per) if self.per else self.per,
            ratios=tuple((fill(a), fill(b)) for a, b in self.ratios),
            labels=tuple((k, fill(v)) for k, v in self.labels), label=fill(self.label),
            total=fill(self.total), notes=tuple((fill(c), t) for c, t in self.notes),
            weight=fill(self.weight))


def summary_key(spec: MetricSpec) -> str:
    """The metric's name in the run summary: its `key`, else its column without the source
    (`host.psi.io_some_percent` -> `psi_io_some_percent`)."""
    if spec.key:
        return spec.key
    column = spec.column or spec.name
    return column.partition(".")[2].replace(".", "_") or column


def device_name(prefix: str, device: Optional[str], quantity: str) -> str:
    """`<prefix>[.<device>].<quantity>`: the contract's column naming."""
    return f"{prefix}.{device}.{quantity}" if device else f"{prefix}.{quantity}"


def gauge(
    prefix: str,
    quantity: str,
    unit: str,
    help: str,
    device: Optional[str] = None,
    label_key: str = "device",
    family_prefix: Optional[str] = None,
    **meaning: Any,
) -> MetricSpec:
    """A gauge named `<prefix>[.<device>].<quantity>`, the device also given as a label.

    `meaning`: label, pane, roles, key, total, notes, rank, instead_of, lag (see MetricSpec)."""
    return MetricSpec(
        name=device_name(prefix, device, quantity),
        unit=unit,
        kind=GAUGE,
        help=help,
        family=f"{family_prefix or prefix}.{quantity}",
        labels=((label_key, device),) if device else (),
        **meaning,
    )


def counter(
    prefix: str,
    quantity: str,
    unit: str,
    help: str,
    column: Optional[str],
    device: Optional[str] = None,
    per: Optional[str] = None,
    scale: float = 1.0,
    label_key: str = "device",
    family_prefix: Optional[str] = None,
    share: bool = False,
    **meaning: Any,
) -> MetricSpec:
    """A counter `<prefix>[.<device>].<quantity>`, shown as `<prefix>[.<device>].<column>`;
    `share` when it is a part of `per`, or without `per` a part of the time that went by
    (MetricSpec.share); `meaning` as for gauge()."""
    return MetricSpec(
        name=device_name(prefix, device, quantity),
        unit=unit,
        kind=COUNTER,
        help=help,
        column=device_name(prefix, device, column) if column else None,
        per=device_name(prefix, device, per) if per else None,
        scale=scale,
        share=share,
        family=f"{family_prefix or prefix}.{quantity}",
        labels=((label_key, device),) if device else (),
        **meaning,
    )


def ratio_gauge(
    prefix: str,
    quantity: str,
    unit: str,
    help: str,
    ratios: Sequence[Tuple[str, str]],
    device: Optional[str] = None,
    scale: float = 1.0,
    label_key: str = "device",
    family_prefix: Optional[str] = None,
    share: bool = False,
    **meaning: Any,
) -> MetricSpec:
    """A gauge `<prefix>[.<device>].<quantity>` derived from counters: scale * the largest
    d(numerator)/d(denominator) of `ratios` (full metric names; see MetricSpec.ratios);
    `share` when each numerator is a part of its denominator (MetricSpec.share)."""
    return replace(gauge(prefix, quantity, unit, help, device, label_key, family_prefix,
                         **meaning), ratios=tuple((a, b) for a, b in ratios), scale=scale,
                   share=share)


@dataclass
class Reading:
    """Raw values from every collector at one instant, aligned with `Schema.specs`.

    monotonic: time.monotonic() of the sample (rates use it); timestamp: Unix seconds.
    tables: per-entity rows that do not fit fixed columns (processes, GPU processes),
            keyed by collector name; sinks may show them, the ring does not hold them.
    """

    monotonic: float
    timestamp: float
    values: List[float]
    tables: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Frame:
    """Derived values at one instant, aligned with `Schema.columns`; NaN where unknown."""

    timestamp: float
    values: List[float]
    reading: Reading
    interval: float = NAN


class Schema:
    """All collectors' specs joined, with the frame's columns and lookups by name."""

    def __init__(self, specs: Sequence[MetricSpec]) -> None:
        self.specs: List[MetricSpec] = list(specs)
        names = [s.name for s in self.specs]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate metric names: {', '.join(sorted(dup))}")
        self.raw_index: Dict[str, int] = {n: i for i, n in enumerate(names)}
        self.column_specs: List[MetricSpec] = [s for s in self.specs if s.column]
        self.columns: List[str] = [s.column for s in self.column_specs if s.column]
        self.column_index: Dict[str, int] = {c: i for i, c in enumerate(self.columns)}
        for s in self.specs:
            if s.per is not None and s.per not in self.raw_index:
                raise ValueError(f"metric {s.name}: denominator {s.per} is not a metric")
            for name in (n for pair in s.ratios for n in pair):
                if self.raw_index.get(name) is None or self.specs[self.raw_index[name]].kind \
                        != COUNTER:
                    raise ValueError(f"metric {s.name}: {name} in its ratios is not a counter")
            for run in (tuple(a for a, _ in s.ratios), tuple(b for _, b in s.ratios)):
                at = [self.raw_index[name] for name in run]
                if at and at != list(range(at[0], at[0] + len(at))):
                    raise ValueError(f"metric {s.name}: the numerators of its ratios must be "
                                     "consecutive metrics, and so must the denominators")
        # having() is asked the same questions every refresh (the diagnosis reads ~40 roles)
        self._having: Dict[Tuple[str, ...], Tuple[MetricSpec, ...]] = {}

    def __len__(self) -> int:
        return len(self.columns)

    def get(self, frame: Frame, column: str) -> float:
        """The value of `column` in `frame`, NaN when the column does not exist."""
        i = self.column_index.get(column)
        return NAN if i is None else frame.values[i]

    def spec(self, column: str) -> Optional[MetricSpec]:
        """The spec of a frame column, None when there is no such column."""
        i = self.column_index.get(column)
        return None if i is None else self.column_specs[i]

    def _with(self, roles: Tuple[str, ...]) -> Tuple[MetricSpec, ...]:
        found = self._having.get(roles)
        if found is None:
            found = self._having[roles] = tuple(s for s in self.column_specs if s.has(*roles))
        return found

    def having(self, *roles: str) -> List[MetricSpec]:
        """The column specs with every one of `roles`, in schema order."""
        return list(self._with(roles))

    def first(self, *roles: str) -> Optional[MetricSpec]:
        """The first column spec with every one of `roles`, or None."""
        found = self._with(roles)
        return found[0] if found else None
