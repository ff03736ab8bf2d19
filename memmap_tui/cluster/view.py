"""The cluster view's model, without Textual: one row per node that runs `memmap serve`, every
number from Prometheus (the queries are in promql.py beside this), stragglers marked, worst
first.

A refresh asks Prometheus for the nodes (`memmap_job_info`), takes the evaluation time of that
answer, and evaluates every column's query at that same time: the table is one instant of the
cluster, and a test can ask Prometheus the same PromQL at the same time and get the same numbers.

Marks: `down` (seen in the last 10 minutes, not scraped now), `slow` and `wait` (stragglers).
Stragglers are judged among the nodes of one job (one `hpc_job`; nodes without a job form a group
of their own), by the median of the group (at least two nodes with figures):
- slow: the node moves under half the median of disk + network + interconnect bytes/s (PCIe is
  left out: it carries again what came from those), when the median is at least MIN_FLOW;
- wait: its waiting share is over twice the median, and at least MIN_WAITING (an idle job's
  noise is not a straggler).
Worst first: down nodes, stragglers, then by the diagnosis's level (bad, warn, ok), the waiting
share (highest first) and the name.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from ..units import fmt_in
from . import promql as Q
from .client import PrometheusClient, Sample

NAN = math.nan
MIN_FLOW = 1e6        # bytes/s: below this median a job is idle, nobody is slow
MIN_WAITING = 5.0     # percent: a waiting straggler waits at least this much
MAX_TEXT = 64         # characters of a label value shown
FLOWS = ("disk", "network", "interconnect")
LEVELS = {"bad": 0, "warn": 1, "ok": 2}
DOWN, SLOW, WAITS = "down", "slow", "wait"


def safe(text: str, limit: int = MAX_TEXT) -> str:
    """A label value from Prometheus made fit for a terminal: control, format (bidi) and other
    non-printing characters escaped as \\xNN / \\uNNNN, at most `limit` characters. Callers hand
    it to Rich as plain Text, never as markup."""
    out = []
    for c in text:
        if c.isprintable():
            out.append(c)
        else:
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
                       if code < 0x10000 else f"\\U{code:08x}")
    shown = "".join(out)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@dataclass
class Node:
    """One node's row: its identity (as Prometheus labels it), figures and marks."""

    instance: str
    job: str = ""
    user: str = ""
    values: Dict[str, float] = field(default_factory=dict)
    cause: str = ""
    level: str = ""
    down: bool = False
    straggler: str = ""

    def value(self, key: str) -> float:
        return self.values.get(key, NAN)

    @property
    def throughput(self) -> float:
        """disk + network + interconnect bytes/s, over what is known; NaN if none is."""
        known = [v for v in (self.value(k) for k in FLOWS) if v == v]
        return sum(known) if known else NAN

    @property
    def mark(self) -> str:
        return DOWN if self.down else self.straggler


@dataclass
class Snapshot:
    """The nodes as Prometheus saw them at Unix time `at` (NaN for no node at all)."""

    nodes: List[Node]
    at: float = NAN
    window: str = Q.WINDOW
    job: Optional[str] = None


def _by_instance(samples: Iterable[Sample]) -> Dict[str, Sample]:
    found: Dict[str, Sample] = {}
    for s in samples:
        found.setdefault(s.labels.get("instance", ""), s)
    return found


def fetch(client: PrometheusClient, job: Optional[str] = None, window: str = Q.WINDOW,
          ) -> Snapshot:
    """One refresh (see the module docstring); PrometheusError when any query fails."""
    nodes_now = client.query(Q.nodes_query(job))
    at = nodes_now[0].time if nodes_now else time.time()
    nodes = {s.labels.get("instance", ""): _node(s, down=False) for s in nodes_now}
    for s in client.query(Q.gone_query(job), at):
        nodes.setdefault(s.labels.get("instance", ""), _node(s, down=True))
    for column in Q.COLUMNS:
        found = _by_instance(client.query(Q.query(column.query, window, job), at))
        for instance, node in nodes.items():
            sample = found.get(instance)
            if sample is None:
                continue
            if column.unit == Q.LABELS:
                node.cause = sample.labels.get("cause", "")
                node.level = sample.labels.get("level", "")
            else:
                node.values[column.key] = sample.value
    rows = list(nodes.values())
    mark_stragglers(rows)
    return Snapshot(sort_worst_first(rows), at if nodes_now else NAN, window, job)


def _node(sample: Sample, down: bool) -> Node:
    labels = sample.labels
    return Node(labels.get("instance", ""), labels.get("hpc_job", ""), labels.get("user", ""),
                down=down)


def _median(values: Sequence[float]) -> float:
    known = [v for v in values if v == v]
    return statistics.median(known) if len(known) >= 2 else NAN


def mark_stragglers(nodes: List[Node]) -> None:
    """Set each node's `straggler` (SLOW, WAITS or "") against the median of its job."""
    groups: Dict[str, List[Node]] = {}
    for node in nodes:
        node.straggler = ""
        if not node.down:
            groups.setdefault(node.job, []).append(node)
    for members in groups.values():
        flow = _median([n.throughput for n in members])
        wait = _median([n.value("waiting") for n in members])
        for n in members:
            if flow >= MIN_FLOW and n.throughput < flow / 2:
                n.straggler = SLOW
            elif wait == wait and n.value("waiting") > 2 * wait and \
                    n.value("waiting") >= MIN_WAITING:
                n.straggler = WAITS


def sort_worst_first(nodes: List[Node]) -> List[Node]:
    def key(n: Node) -> Tuple:
        waiting = n.value("waiting")
        return (not n.down, not n.straggler, LEVELS.get(n.level, 3),
                -(waiting if waiting == waiting else -1.0), n.instance)

    return sorted(nodes, key=key)


# -- the table as text ----------------------------------------------------------------------------
GB, GIB = 1e9, float(2**30)
HUGE = 1e6  # of a column's unit: a PB/s or a PiB of memory is no node's, but a broken exporter's


def _bounded(show: Callable[[float], str], unit: float = 1.0) -> Callable[[float], str]:
    """`show`, except that HUGE or more of `unit` (1e308 from a broken exporter) is shown as
    '1e+299', at most 7 characters: one wild number must not make the table 300 wide."""
    def cell(value: float) -> str:
        scaled = value / unit
        return f"{scaled:.0e}" if abs(scaled) >= HUGE - 0.5 else show(value)  # not '1000000'
    return cell


FORMATS: Dict[str, Callable[[float], str]] = {
    Q.RATE: _bounded(lambda v: fmt_in(v, GB), GB),
    Q.PERCENT: _bounded(lambda v: "-" if v != v else f"{v:.0f}" if v >= 99.5 else f"{v:.1f}"),
    Q.BYTES: _bounded(lambda v: fmt_in(v, GIB), GIB),
}
HEADERS = ("instance", "job", *(c.title for c in Q.COLUMNS), "mark")
RIGHT = {c.title for c in Q.COLUMNS if c.unit != Q.LABELS}
LEGEND = "GB/s over {window}; GPU busy and waiting in %; memory used in GiB"


def cells(node: Node) -> List[str]:
    """The row's text, label values made safe, in HEADERS order."""
    row = [safe(node.instance), safe(node.job) or "-"]
    for column in Q.COLUMNS:
        if column.unit == Q.LABELS:
            row.append(safe(node.cause, 16) or "-")
        else:
            row.append(FORMATS[column.unit](node.value(column.key)))
    row.append(node.mark)
    return row


def header_line(snapshot: Snapshot, source: str,
                local: Callable[[float], time.struct_time] = time.localtime) -> str:
    """What the table shows: where from, which job, how many nodes, when (`local` turns Unix
    time into the clock shown)."""
    when = time.strftime("%H:%M:%S", local(snapshot.at)) if snapshot.at == snapshot.at else "-"
    job = f" · job {safe(snapshot.job)}" if snapshot.job is not None else ""
    count = len(snapshot.nodes)
    return (f"memmap cluster · {safe(source, 80)}{job} · {count} node{'s' * (count != 1)} · "
            f"{when}")


def table_text(snapshot: Snapshot, source: str) -> List[str]:
    """The whole view as plain lines (for --once): a header, the legend, then the table with
    columns as wide as their widest cell, numbers right-aligned, nothing cut."""
    rows = [list(HEADERS)] + [cells(n) for n in snapshot.nodes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = [header_line(snapshot, source), LEGEND.format(window=snapshot.window)]
    for row in rows:
        parts = [c.rjust(w) if HEADERS[i] in RIGHT else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(parts).rstrip())
    if not snapshot.nodes:
        lines.append("(no node runs memmap serve" +
                     (f" for job {safe(snapshot.job)})" if snapshot.job is not None else ")"))
    return lines
