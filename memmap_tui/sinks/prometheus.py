"""The Prometheus exporter: a sink that keeps the latest frame, and ONE custom collector that turns
it into metric families at scrape time.

Every family comes from the collectors' metric tables (see `prom_names`): nothing is declared by
hand but the exporter's own few (`memmap_collector_up`, memmap's CPU seconds and RSS, the time of
the latest sample, and two info series: the job this node runs, the diagnosis of the last
VERDICT_SECONDS). The sampler's thread hands frames over with `write()`; a scrape, on the HTTP
server's thread, takes the latest one under a lock, so it never sees half a frame. A value that is
not available (NaN) is left out of the scrape rather than exported as NaN, and an entity that is
gone from a table (a process that exited) simply has no series in the next scrape.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import deque
from typing import Any, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .. import verdict as diagnosis
from ..model import COUNTER, Frame, Schema
from .prom_names import (
    RAW,
    TABLE_LABEL_KEYS,
    Family,
    is_table_measure,
    plan_families,
    table_family_name,
    table_help,
)

log = logging.getLogger("memmap_tui.prometheus")

Tables = Dict[str, List[Dict[str, Any]]]
OWN_FAMILIES = (  # the only names not generated from metric tables: about memmap itself
    ("memmap_collector_up", "gauge",
     "1 while the collector's readings work, 0 while it is failing and backed off."),
    ("memmap_self_cpu_seconds_total", "counter",
     "CPU time (user + system) that memmap itself has used, in seconds."),
    ("memmap_self_resident_memory_bytes", "gauge",
     "Resident memory of the memmap process itself, in bytes."),
    ("memmap_sample_timestamp_seconds", "gauge",
     "Unix time of the latest sample: a stalled sampler shows as a value that stops moving."),
    ("memmap_job_info", "gauge",
     "Always 1; its labels say which job this node runs (hpc_job: a Slurm job id, a pod's uid, "
     "a container, a unit; user; scheduler) and carry --label: join on instance."),
    ("memmap_verdict_info", "gauge",
     "Always 1; its labels are the diagnosis of the last seconds: cause (storage, small-files, "
     "cpu, cpu-thread, memory, network, host-to-device, gpu, none) and level (ok, warn, bad)."),
)
VERDICT_SECONDS = 10.0  # the window the diagnosis reads, as the TUI's headline
VERDICT_FRAMES = 100    # at most this many frames in it (a fast --interval keeps every n-th)


def diagnosis_of(window: Mapping[str, Sequence[float]], schema: Schema) -> Tuple[str, str]:
    """(cause, level) of the diagnosis over `window`: the one place the exporter asks
    memmap_tui.verdict. `cause` is the stable word; an older Verdict without it has `kind`."""
    found = diagnosis.diagnose(window, schema)
    return str(getattr(found, "cause", "") or getattr(found, "kind", "")), str(found.level)


class RecentFrames:
    """The frames of the last VERDICT_SECONDS (at most VERDICT_FRAMES of them), for the
    diagnosis; the sampler's thread adds, a scrape reads a copy."""

    def __init__(self) -> None:
        self.frames: Deque[Frame] = deque()

    def add(self, frame: Frame) -> None:
        frames = self.frames
        if frames and frame.timestamp - frames[-1].timestamp < VERDICT_SECONDS / VERDICT_FRAMES:
            return
        frames.append(frame)
        while frames and (frame.timestamp - frames[0].timestamp > VERDICT_SECONDS
                          or len(frames) > VERDICT_FRAMES):
            frames.popleft()

    def window(self, columns: Sequence[str]) -> Dict[str, List[float]]:
        frames = list(self.frames)
        return {c: [f.values[i] for f in frames] for i, c in enumerate(columns)}


class PrometheusSink:
    """Keeps the latest frame for scrapes; `registry` holds the one collector that reads it.

    states: the sampler's per-collector states (name -> object with `.ok`), read at scrape time
    for `memmap_collector_up`; give `sampler.states` (the same dict is filled in on open).
    job_labels: the labels of `memmap_job_info` (hpc_job, user, scheduler, --label ones); an
    empty value is left out.
    """

    def __init__(self, states: Optional[Mapping[str, Any]] = None,
                 job_labels: Optional[Mapping[str, str]] = None) -> None:
        self.states: Mapping[str, Any] = states if states is not None else {}
        self.job_labels = {k: v for k, v in (job_labels or {}).items() if v}
        self.families: List[Family] = []
        self.schema = Schema([])
        self._lock = threading.Lock()
        self._frame: Optional[Frame] = None
        self._tables: Tables = {}
        self._recent = RecentFrames()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MemmapCollector(self))

    def open(self, schema: Schema) -> None:
        families = plan_families(schema)
        with self._lock:
            self.families, self.schema = families, schema

    def write(self, frame: Frame) -> None:
        # Copy the table rows: a collector may reuse its row dicts on the next tick while a
        # scrape is still reading them on another thread.
        tables = {name: [dict(row) for row in rows] for name, rows in frame.reading.tables.items()}
        with self._lock:
            self._frame, self._tables = frame, tables
            self._recent.add(frame)

    def close(self) -> None:
        """Nothing to flush: a scrape after close still sees the last frame."""

    def latest(self) -> Tuple[Optional[Frame], Tables, List[Family]]:
        with self._lock:
            return self._frame, self._tables, self.families

    def recent(self) -> Tuple[Dict[str, List[float]], Schema]:
        """The diagnosis's window (column -> values of the last seconds) and its schema."""
        with self._lock:
            return self._recent.window(self.schema.columns), self.schema


class MemmapCollector(Collector):
    """prometheus_client collector: yields every family from the sink's latest frame."""

    def __init__(self, sink: PrometheusSink) -> None:
        self.sink = sink
        self._me = psutil.Process()
        self._warned: set = set()
        self._cached: Tuple[Optional[Frame], List[Metric]] = (None, [])
        self._cache_lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        frame, tables, families = self.sink.latest()
        if frame is not None:
            yield from self._frame_metrics(frame, tables, families)
        yield from self._own_metrics(frame)

    def _frame_metrics(self, frame: Frame, tables: Tables, families: List[Family]
                       ) -> List[Metric]:
        """The families of `frame`, built once per frame: scrapes between two samples (several
        Prometheus servers, a curl beside one) reuse them."""
        with self._cache_lock:
            if self._cached[0] is frame:
                return self._cached[1]
        metrics = list(spec_metrics(families, frame))
        metrics += table_metrics(tables, {f.name for f in families}, self._warned)
        metrics += self._verdict()
        with self._cache_lock:
            self._cached = (frame, metrics)
        return metrics

    def _verdict(self) -> List[Metric]:
        """`memmap_verdict_info{cause, level}` over the recent frames; none when the diagnosis
        cannot be made (it must never break a scrape: said once in the log)."""
        window, schema = self.sink.recent()
        try:
            cause, level = diagnosis_of(window, schema)
        except Exception as exc:  # noqa: BLE001
            if "verdict" not in self._warned:
                self._warned.add("verdict")
                log.warning("no diagnosis for the exporter: %s: %s", type(exc).__name__, exc)
            return []
        info = GaugeMetricFamily(OWN_FAMILIES[5][0], OWN_FAMILIES[5][2],
                                 labels=["cause", "level"])
        info.add_metric([cause, level], 1.0)
        return [info]

    def _own_metrics(self, frame: Optional[Frame]) -> Iterator[Metric]:
        job = self.sink.job_labels
        info = GaugeMetricFamily(OWN_FAMILIES[4][0], OWN_FAMILIES[4][2], labels=list(job))
        info.add_metric(list(job.values()), 1.0)
        yield info
        up = GaugeMetricFamily(OWN_FAMILIES[0][0], OWN_FAMILIES[0][2], labels=["collector"])
        for name, state in list(self.sink.states.items()):
            up.add_metric([name], 1.0 if state.ok else 0.0)
        yield up
        times = os.times()
        yield CounterMetricFamily(OWN_FAMILIES[1][0], OWN_FAMILIES[1][2],
                                  value=times.user + times.system)
        try:
            rss = float(self._me.memory_info().rss)
        except psutil.Error:
            rss = math.nan
        if rss == rss:
            yield GaugeMetricFamily(OWN_FAMILIES[2][0], OWN_FAMILIES[2][2], value=rss)
        if frame is not None:
            yield GaugeMetricFamily(OWN_FAMILIES[3][0], OWN_FAMILIES[3][2],
                                    value=frame.timestamp)


def spec_metrics(families: Sequence[Family], frame: Frame) -> Iterator[Metric]:
    """The spec-driven families with the frame's values; NaN series are left out."""
    raw, columns = frame.reading.values, frame.values
    for fam in families:
        kind = CounterMetricFamily if fam.kind == COUNTER else GaugeMetricFamily
        metric = kind(fam.name, fam.help, labels=list(fam.label_names))
        for series in fam.series:
            value = raw[series.index] if series.source == RAW else columns[series.index]
            if value == value:
                metric.add_metric(series.label_values, value)
        if metric.samples:
            yield metric


def table_metrics(tables: Tables, taken: set, warned: set) -> Iterator[Metric]:
    """Per-entity gauges from table rows, e.g. memmap_process_rss_bytes{pid, name}.

    Read tolerantly: rows may differ in their keys; a field that is not a number is skipped; two
    rows with the same labels keep the first (a scrape must not repeat a series). A row marked
    "exited" (the process pane keeps them a while) has no series.
    """
    for collector, rows in tables.items():
        rows = [row for row in rows if not row.get("exited")]  # e.g. a process that exited
        label_names = [k for k in TABLE_LABEL_KEYS if any(k in row for row in rows)]
        if not label_names:
            continue
        keys: Dict[str, None] = {}
        for row in rows:
            keys.update((k, None) for k, v in row.items() if is_table_measure(k, v))
        for key in keys:
            name = table_family_name(collector, key)
            if name in taken:
                if name not in warned:
                    warned.add(name)
                    log.warning("table field %s.%s clashes with metric %s; not exported",
                                collector, key, name)
                continue
            metric = _table_family(name, collector, key, label_names, rows)
            if metric.samples:
                yield metric


def _table_family(name: str, collector: str, key: str, label_names: List[str],
                  rows: List[Dict[str, Any]]) -> GaugeMetricFamily:
    metric = GaugeMetricFamily(name, table_help(collector, key, label_names), labels=label_names)
    seen = set()
    for row in rows:
        value = row.get(key)
        if not is_table_measure(key, value) or value != value:
            continue
        labels = tuple("" if row.get(k) is None else str(row.get(k)) for k in label_names)
        if labels not in seen:
            seen.add(labels)
            metric.add_metric(labels, float(value))  # type: ignore[arg-type]
    return metric


def own_family_names() -> List[str]:
    """The exporter's own families, as exposed (for the docs and their tests)."""
    return [name for name, _, _ in OWN_FAMILIES]

