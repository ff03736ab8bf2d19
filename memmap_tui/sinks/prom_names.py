"""Prometheus names for memmap's metrics, generated from the collectors' metric tables.

No name is declared by hand here: every family comes from a `MetricSpec` (or, for per-process
series, from the keys of a collector's table rows). The rules, also in docs/prometheus.md:

- `memmap_` + the spec's `family` with dots turned into underscores; the device part of the name
  (`spec.labels`: device, gpu, rail, cpu, sensor...) becomes labels:
  `host.disk.vda.read_bytes` -> `memmap_host_disk_read_bytes_total{device="vda"}`.
- Counters are exported as `_total` counters of the raw cumulative value in base units (bytes,
  seconds, count), so that `rate()` works; gauges as they are, in base units.
- A counter whose frame column is a percent (CPU %, iowait %, PSI stall %, disk busy %) is also
  exported as a gauge named after that column, over the last sample interval:
  `host.cpu.iowait_seconds` -> also `memmap_host_cpu_iowait_percent`.
- A whole-machine total (a spec without labels in a family whose other specs have labels, such as
  `host.disk.read_bytes` beside `host.disk.vda.read_bytes`) goes to a family of its own, with
  `all` where the device would be: `memmap_host_disk_all_read_bytes_total`. Mixed into the
  per-device family it would make every `sum()` count each byte twice.
- Per-entity table rows (the process collector's processes, NVML's GPU processes) become gauges
  `memmap_<collector>_<field>` labelled by their `pid` (and `gpu`, `name` where the rows have
  them): `memmap_process_rss_bytes{pid="4242",name="python"}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

from ..model import COUNTER, GAUGE, MetricSpec, Schema

PREFIX = "memmap_"
RAW, COLUMN = "raw", "column"  # where a series' value lives: Reading.values or Frame.values
TABLE_LABEL_KEYS = ("gpu", "pid", "name")  # table-row keys that identify the entity
TABLE_SKIPPED_KEYS = frozenset({"ppid", "uid", "gid", "tid", "pgid", "sid",  # ids, not measures
                                "depth", "exit_status"})
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")


def prom_name(family: str) -> str:
    """`host.disk.read_bytes` -> `memmap_host_disk_read_bytes` (without a counter's `_total`)."""
    return PREFIX + _INVALID.sub("_", family.replace(".", "_"))


@dataclass(frozen=True)
class Series:
    """One labelled series of a family: where its value is, and its label values."""

    source: str  # RAW (index into Reading.values) or COLUMN (index into Frame.values)
    index: int
    label_values: Tuple[str, ...]


@dataclass
class Family:
    """One exported metric family: name (no `_total`), type, HELP and its series."""

    name: str
    kind: str  # GAUGE or COUNTER
    help: str
    label_names: Tuple[str, ...] = ()
    series: List[Series] = field(default_factory=list)

    @property
    def exposed_name(self) -> str:
        """The name as it appears in a scrape: counters end in `_total`."""
        return self.name + "_total" if self.kind == COUNTER else self.name


def family_help(spec: MetricSpec) -> str:
    """The spec's help with each device named by its label (`disk vda` -> `disk <device>`),
    ignoring case (rail `vdd_gpu` is `VDD_GPU` in its help).

    Purely numeric label values (gpu="0") are left alone: a bare digit in a sentence is more
    likely a number than the device.
    """
    text = spec.help
    for label, value in spec.labels:
        if value and not value.isdigit():
            text = re.sub(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", f"<{label}>", text,
                          flags=re.IGNORECASE)
    return text


def _totals(specs: Sequence[MetricSpec]) -> set:
    """Families that hold labelled specs: an unlabelled spec there is a whole-machine total."""
    return {s.family for s in specs if s.labels}


def _all_family(family: str) -> str:
    prefix, _, quantity = family.rpartition(".")
    return f"{prefix}.all.{quantity}" if prefix else f"all.{quantity}"


def _column_family(spec: MetricSpec) -> str:
    """A counter's column as a family: `host.disk.busy_seconds` -> `host.disk.busy_percent`."""
    prefix = spec.family.rpartition(".")[0]
    quantity = (spec.column or "").rpartition(".")[2]
    return f"{prefix}.{quantity}" if prefix else quantity


def plan_families(schema: Schema) -> List[Family]:
    """Every family the exporter yields for `schema`, in table order, with its series."""
    labelled = _totals(schema.specs)
    families: Dict[Tuple[str, str], Family] = {}
    label_sets: Dict[Tuple[str, str], List[Tuple[MetricSpec, str, int]]] = {}

    def add(family: str, kind: str, help_text: str, spec: MetricSpec, source: str,
            index: int) -> None:
        if not spec.labels and spec.family in labelled:
            family = _all_family(family)
        key = (prom_name(family), kind)
        if key not in families:
            families[key] = Family(key[0], kind, help_text)
            label_sets[key] = []
        label_sets[key].append((spec, source, index))

    for i, spec in enumerate(schema.specs):
        if spec.kind == COUNTER:
            add(spec.family, COUNTER, family_help(spec), spec, RAW, i)
            if spec.column and spec.column.endswith("_percent"):
                help_text = family_help(spec).rstrip(".") + \
                    ", as a percent over the last sample interval."
                add(_column_family(spec), GAUGE, help_text, spec, COLUMN,
                    schema.column_index[spec.column])
        elif spec.column is not None:
            add(spec.family, GAUGE, family_help(spec), spec, COLUMN,
                schema.column_index[spec.column])
    for key, fam in families.items():
        _fill_series(fam, label_sets[key])
    return list(families.values())


def _fill_series(fam: Family, members: List[Tuple[MetricSpec, str, int]]) -> None:
    """Label names are the union over the family's specs (in first-seen order); a spec that lacks
    one gets an empty value, which Prometheus treats as the label being absent."""
    names: List[str] = []
    for spec, _, _ in members:
        names += [k for k, _ in spec.labels if k not in names]
    fam.label_names = tuple(names)
    for spec, source, index in members:
        values = dict(spec.labels)
        fam.series.append(Series(source, index, tuple(values.get(n, "") for n in names)))


def table_family_name(collector: str, key: str) -> str:
    """`("process", "rss_bytes")` -> `memmap_process_rss_bytes`."""
    return prom_name(f"{collector}.{key}")


def table_help(collector: str, key: str, label_names: Sequence[str]) -> str:
    who = "process" if "pid" in label_names else "entity"
    return (f"{key} of each {who} ({', '.join(label_names)} labels), from the {collector} "
            "collector's table; a series goes away when its entity does.")


def is_table_measure(key: str, value: object) -> bool:
    """A row field exported as a gauge: a number (not a bool) that is not an identity."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and key not in TABLE_LABEL_KEYS and key not in TABLE_SKIPPED_KEYS)


__all__ = ["COUNTER", "GAUGE", "Family", "Series", "plan_families", "prom_name",
           "table_family_name", "table_help", "is_table_measure", "PREFIX"]
