"""What a recording's columns mean, where no collector runs: `memmap report` and `replay`.

A CSV holds only column names. Every registered collector lists the metrics it can declare as
templates (`Collector.catalog()`, the device part written as `model.DEVICE`); a column is matched
against them and gets the template's label, pane and roles, so the report, the replay and the
diagnosis read a recording exactly as they read a live run. Columns a collector used to write
under another name (`Collector.renamed()`) are read under their current name. A column no
collector knows keeps its name and has no role: it is listed in the report, drawn in no pane.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import replace
from typing import Dict, List, Optional, Pattern, Sequence, Tuple

from .collector import available_names, collector_class
from .figures import denominator, is_count_rate
from .model import DEVICE, GAUGE, MetricSpec, Schema

log = logging.getLogger("memmap_tui")


def _pattern(template: str) -> Pattern[str]:
    return re.compile("^" + re.escape(template).replace(re.escape(DEVICE), "([^.]+)") + "$")


@functools.lru_cache(maxsize=1)
def _templates() -> Tuple[Dict[str, MetricSpec], Tuple[Tuple[MetricSpec, Pattern[str]], ...]]:
    """Every collector's templates: those without a device part by column, and the others
    with their column's pattern."""
    exact: Dict[str, MetricSpec] = {}
    patterned: List[Tuple[MetricSpec, Pattern[str]]] = []
    for name in available_names():
        try:
            specs = collector_class(name).catalog()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop a report
            log.info("collector %s has no catalogue here: %s", name, exc)
            continue
        for spec in specs:
            if spec.column and DEVICE in spec.column:
                patterned.append((spec, _pattern(spec.column)))
            elif spec.column:
                exact.setdefault(spec.column, spec)
    return exact, tuple(patterned)


@functools.lru_cache(maxsize=1)
def _names() -> Tuple[Dict[str, MetricSpec], Tuple[Tuple[MetricSpec, Pattern[str]], ...]]:
    """The same templates by metric name: exact, and with their name's pattern."""
    exact, patterned = _templates()
    return ({t.name: t for t in exact.values()},
            tuple((t, _pattern(t.name)) for t, _ in patterned))


def _lookup(key: str, exact: Dict[str, MetricSpec],
            patterned: Sequence[Tuple[MetricSpec, Pattern[str]]]) -> Optional[MetricSpec]:
    """The template `key` names exactly, else the first whose pattern it matches, filled in
    for its device; None when none does."""
    found = exact.get(key)
    if found is None:
        for template, pattern in patterned:
            m = pattern.match(key)
            if m:
                return template.for_device(m.group(1))
    return found


def _template_named(name: str) -> Optional[MetricSpec]:
    return _lookup(name, *_names())


def _weight(spec: MetricSpec) -> str:
    """The column of the count that weighs `spec` (a template filled in for its device) over a
    window (memmap_tui.figures.count_weights); "" when it is no ratio of a count."""
    name = denominator(spec)
    base = _template_named(name) if name else None
    if base is None or not is_count_rate(base):
        return ""
    return base.column or ""


@functools.lru_cache(maxsize=1)
def _renames() -> Tuple[Tuple[Pattern[str], str], ...]:
    found = []
    for name in available_names():
        try:
            renamed = collector_class(name).renamed()
        except Exception:  # noqa: BLE001
            continue
        found += [(_pattern(old), new) for old, new in renamed.items()]
    return tuple(found)


def current_name(column: str) -> str:
    """The name a column has today (`tegra.ram.used_bytes` of an old recording -> its new name)."""
    for pattern, new in _renames():
        m = pattern.match(column)
        if m:
            return new.replace(DEVICE, m.group(1)) if m.groups() else new
    return column


def spec_for_column(column: str) -> MetricSpec:
    """A recording's column as a gauge spec, with the meaning of the template it matches."""
    found = _lookup(column, *_templates())
    if found is None:
        return MetricSpec(name=column, unit="", kind=GAUGE, help="")
    return replace(found, name=column, kind=GAUGE, column=column, per=None, scale=1.0,
                   ratios=(), share=False, family=column, weight=_weight(found))


def schema_for_columns(columns: Sequence[str]) -> Schema:
    """A Schema over a recording's metric columns (timestamp left out), each with its meaning."""
    return Schema([spec_for_column(c) for c in columns])


def known_columns() -> Dict[str, MetricSpec]:
    """Every catalogue template by its column (`host.disk.{device}.read_bytes_per_second`)."""
    exact, patterned = _templates()
    return {**exact, **{t.column: t for t, _ in patterned if t.column}}
