"""A window's figures, looked up by role: the means the diagnosis, the run summary and the
report read, and which metric says how busy each GPU is.

A window is column -> values (NaN allowed, for "not measured"); a figure is the mean of a
column's measured values. Lookups go by role (memmap_tui.roles), never by column name.
"""

from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from . import roles as R
from .model import MetricSpec, Schema

Window = Mapping[str, Sequence[float]]
Pick = Tuple[float, Optional[MetricSpec]]  # a mean and the metric it is of


def mean(values: Sequence[float]) -> float:
    """Mean of the values that are not NaN; NaN when there are none."""
    good = [v for v in values if not math.isnan(v)]
    return sum(good) / len(good) if good else math.nan


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
            found = self._means[spec.column] = mean(self.window.get(spec.column, ()))
        return found

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
