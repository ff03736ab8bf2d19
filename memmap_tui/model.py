"""Metric specs, readings and frames: the data that flows from collectors to sinks.

NaN is the one "not available" value everywhere. A collector declares its metrics once, as
`MetricSpec` data; the CSV header, the Prometheus names and the TUI labels are generated from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

NAN = math.nan
GAUGE = "gauge"
COUNTER = "counter"

Labels = Tuple[Tuple[str, str], ...]


@dataclass(frozen=True)
class MetricSpec:
    """One metric of a collector.

    name:   the raw value's name. A gauge's name is also its column (`host.mem.used_bytes`);
            a counter's name is the cumulative total (`host.disk.read_bytes`).
    unit:   unit of the raw value in base units: bytes, seconds, percent, celsius, watts,
            hertz, count.
    kind:   GAUGE (reported as is) or COUNTER (cumulative; becomes a rate in the frame).
    help:   one sentence for --help tables and Prometheus HELP.
    column: the frame/CSV column a counter becomes; None when it only serves as another
            counter's denominator. For gauges it is the name.
    per:    for a counter, the name of another counter: the column is scale * d(name)/d(per)
            instead of scale * d(name)/dt (CPU % is busy jiffies over total jiffies).
    scale:  multiplies the derived value (e.g. 100 to turn seconds-per-second into percent).
    family: the name with the device part taken out, for Prometheus (`host.disk.read_bytes`).
    labels: the device part as labels, for Prometheus ((("device", "sda"),)).
    """

    name: str
    unit: str
    kind: str
    help: str
    column: Optional[str] = None
    per: Optional[str] = None
    scale: float = 1.0
    family: str = ""
    labels: Labels = ()

    def __post_init__(self) -> None:
        if self.kind not in (GAUGE, COUNTER):
            raise ValueError(f"MetricSpec {self.name}: kind must be gauge or counter")
        if self.kind == GAUGE and self.column is None:
            object.__setattr__(self, "column", self.name)
        if not self.family:
            object.__setattr__(self, "family", self.name)


def device_name(prefix: str, device: Optional[str], quantity: str) -> str:
    """`<prefix>[.<device>].<quantity>`: the contract's column naming."""
    return f"{prefix}.{device}.{quantity}" if device else f"{prefix}.{quantity}"


def gauge(
    prefix: str,
    quantity: str,
    unit: str,
    help: str,
    device: Optional[str] = None,
    label: str = "device",
    family_prefix: Optional[str] = None,
) -> MetricSpec:
    """A gauge named `<prefix>[.<device>].<quantity>`, the device also given as a label."""
    return MetricSpec(
        name=device_name(prefix, device, quantity),
        unit=unit,
        kind=GAUGE,
        help=help,
        family=f"{family_prefix or prefix}.{quantity}",
        labels=((label, device),) if device else (),
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
    label: str = "device",
    family_prefix: Optional[str] = None,
) -> MetricSpec:
    """A counter `<prefix>[.<device>].<quantity>`, shown as `<prefix>[.<device>].<column>`."""
    return MetricSpec(
        name=device_name(prefix, device, quantity),
        unit=unit,
        kind=COUNTER,
        help=help,
        column=device_name(prefix, device, column) if column else None,
        per=device_name(prefix, device, per) if per else None,
        scale=scale,
        family=f"{family_prefix or prefix}.{quantity}",
        labels=((label, device),) if device else (),
    )


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

    def __len__(self) -> int:
        return len(self.columns)

    def get(self, frame: Frame, column: str) -> float:
        """The value of `column` in `frame`, NaN when the column does not exist."""
        i = self.column_index.get(column)
        return NAN if i is None else frame.values[i]
