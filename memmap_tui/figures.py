"""A window's figures, looked up by role: the means the diagnosis, the run summary and the
report read, and which metric says how busy each GPU is.

A window is column -> values (NaN allowed, for "not measured"); a figure is the mean of a
column's measured values. Lookups go by role (memmap_tui.roles), never by column name.

A column that is one ratio of two counts (bytes per read request, seconds per request, bytes
per read call, bytes and round trip per NFS call: `count_weights`) is, over a window, the
numerator's total over the denominator's: each interval's ratio weighs as many as the requests
or calls it covers. A plain mean of per-interval ratios let a quiet interval with one 4 MiB
request weigh as much as a busy one with 20,000 of 4 KiB (a small-file loader read "50 KiB per
call" where it made 4.6 KiB calls), and a stalled interval's one slow write as much as
thousands of quick ones. Every aggregate of a run (the run summary, its phases, the TUI's last
seconds, a recording read back) weighs such a column by its denominator's count this way.
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from . import roles as R
from .model import COUNTER, MetricSpec, Schema

Window = Mapping[str, Sequence[float]]
Pick = Tuple[float, Optional[MetricSpec]]  # a mean and the metric it is of


def mean(values: Sequence[float]) -> float:
    """Mean of the values that are not NaN; NaN when there are none."""
    good = [v for v in values if not math.isnan(v)]
    return sum(good) / len(good) if good else math.nan


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    """Sum of value * weight over sum of weight, for the pairs where both are measured and the
    weight is above 0; NaN when there are none."""
    total = weight = 0.0
    for v, w in zip(values, weights):
        if v == v and w > 0.0:
            total += v * w
            weight += w
    return total / weight if weight > 0.0 else math.nan


def denominator(spec: MetricSpec) -> Optional[str]:
    """The metric name of the one count `spec` is a ratio of, if it is one: the denominator of
    its one pair of `ratios`, or its `per`; None for shares (parts of a whole, weighed by time)
    and the busiest of several ratios."""
    if spec.share:
        return None
    if len(spec.ratios) == 1:
        return spec.ratios[0][1]
    return spec.per if spec.kind == COUNTER and not spec.ratios else None


def is_count_rate(spec: Optional[MetricSpec]) -> bool:
    """Whether `spec` is a count's rate with a column (requests, calls, operations per second):
    a denominator that can weigh a ratio."""
    return (spec is not None and bool(spec.column) and spec.unit == "count"
            and spec.kind == COUNTER and spec.per is None and not spec.ratios)


def count_weights(schema: Schema) -> Dict[str, str]:
    """{column that is one ratio of two counts: the column of its denominator's rate}: over a
    window such a column weighs by it (see the module docstring). A live schema finds it from
    `per` or `ratios`; a recording's columns carry it as `weight` (memmap_tui.catalog)."""
    cached: Optional[Dict[str, str]] = getattr(schema, "_count_weights", None)
    if cached is not None:
        return cached
    found: Dict[str, str] = {}
    for spec in schema.column_specs:
        if not spec.column:  # (column_specs all have one; this tells the type checker)
            continue
        if spec.weight:
            if spec.weight in schema.column_index:
                found[spec.column] = spec.weight
            continue
        i = schema.raw_index.get(denominator(spec) or "")
        base = schema.specs[i] if i is not None else None
        if is_count_rate(base):
            found[spec.column] = base.column  # type: ignore[union-attr,assignment]
    schema._count_weights = found  # type: ignore[attr-defined]
    return found


def count_positions(schema: Schema, columns: Sequence[str]) -> List[int]:
    """Per column of `columns`, the frame position of the count that weighs it, or -1: for the
    running aggregates that keep sums and weights per column (the run summary, phases)."""
    weights = count_weights(schema)
    return [schema.column_index.get(weights.get(c, ""), -1) for c in columns]


def weight_in(values: Sequence[float], by: int, seconds: float) -> float:
    """What a frame's value weighs in a time-weighted aggregate: its `seconds`, times the
    count in position `by` of `values` for a ratio (count_positions); NaN counts weigh 0."""
    if by < 0:
        return seconds
    w = seconds * values[by]
    return w if w > 0.0 else 0.0


class Figures:
    """A window's means, looked up by role."""

    def __init__(self, window: Window, schema: Schema) -> None:
        self.window, self.schema = window, schema
        self._means: Dict[str, float] = {}

    def of(self, spec: Optional[MetricSpec]) -> float:
        if spec is None or not spec.column:
            return math.nan
        found = self._means.get(spec.column)
        if found is None:
            values = self.window.get(spec.column, ())
            base = count_weights(self.schema).get(spec.column)
            counts = self.window.get(base) if base is not None else None
            found = (weighted_mean(values, counts)
                     if counts is not None and len(counts) == len(values) else mean(values))
            self._means[spec.column] = found
        return found

    def known(self, spec: Optional[MetricSpec]) -> float:
        """The share (0..1) of the window's samples of spec's column that hold a value; NaN
        for an empty window or no such column."""
        values = self.window.get(spec.column or "", ()) if spec is not None else ()
        if not values:
            return math.nan
        return sum(1 for v in values if v == v) / len(values)

    def first(self, *roles: str) -> Pick:
        """The first metric with `roles` that has data in the window."""
        for spec in self.schema.having(*roles):
            value = self.of(spec)
            if not math.isnan(value):
                return value, spec
        return math.nan, None

    def most(self, *roles: str) -> Pick:
        """The metric with `roles` whose mean is the highest."""
        best, found = math.nan, None
        for spec in self.schema.having(*roles):
            value = self.of(spec)
            if not math.isnan(value) and (math.isnan(best) or value > best):
                best, found = value, spec
        return best, found

    def sibling(self, spec: Optional[MetricSpec], *roles: str) -> Pick:
        """The metric with `roles` of the same device as `spec` (the same labels)."""
        if spec is None:
            return math.nan, None
        for other in self.schema.having(*roles):
            if other.labels == spec.labels:
                return self.of(other), other
        return math.nan, None


def gpu_name(spec: MetricSpec) -> str:
    """"GPU 0" for a metric of GPU 0 (its `gpu` label), "GPU" for a board's only GPU."""
    index = dict(spec.labels).get("gpu")
    return f"GPU {index}" if index is not None else "GPU"


def gpu_busy_specs(schema: Schema) -> List[MetricSpec]:
    """Per GPU, the metric that says how busy it is: SM activity where the GPU gives it
    (GPM), else its utilisation (which only says that a kernel ran)."""
    chosen: Dict[str, MetricSpec] = {}
    for spec in schema.having(R.GPU_UTIL):
        chosen.setdefault(gpu_name(spec), spec)
    for spec in schema.having(R.GPU_ACTIVITY):
        chosen[gpu_name(spec)] = spec
    return list(chosen.values())


def gpu_utilisation(window: Window, schema: Schema) -> List[Tuple[str, float]]:
    """[(GPU name, mean busy %)] for every GPU with data in the window."""
    figures = Figures(window, schema)
    found = [(gpu_name(s), figures.of(s)) for s in gpu_busy_specs(schema)]
    return sorted((name, busy) for name, busy in found if not math.isnan(busy))
