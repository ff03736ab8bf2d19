"""The cluster view drawn from a fixed table of nodes (no Prometheus is asked before the first
refresh, which these apps never reach): what the snapshot test compares and screenshots/ shows.
The nodes are made up; the clock is UTC so that a snapshot does not depend on the machine."""

from __future__ import annotations

import math
import time

from memmap_tui.cluster.client import PrometheusClient
from memmap_tui.cluster.view import Node, Snapshot, mark_stragglers, sort_worst_first
from memmap_tui.tui.cluster import ClusterApp

AT = 1767254400.0  # 2026-01-01 08:00:00 UTC
GB, GIB = 1e9, 2.0**30


def _node(name: str, job: str, disk: float, net: float, ib: float, pcie: float, gpu: float,
          wait: float, mem: float, cause: str, level: str, down: bool = False) -> Node:
    return Node(name, job, "alice", {"disk": disk * GB, "network": net * GB,
                                     "interconnect": ib * GB, "pcie": pcie * GB, "gpu": gpu,
                                     "waiting": wait, "memory": mem * GIB}, cause, level, down)


def nodes() -> list:
    rows = [
        _node("gpu01:9464", "4711", 1.9, 0.4, 21.5, 11.2, 93.0, 2.1, 412, "gpu", "ok"),
        _node("gpu02:9464", "4711", 2.1, 0.4, 22.0, 11.5, 94.0, 1.8, 405, "gpu", "ok"),
        _node("gpu03:9464", "4711", 0.3, 0.1, 3.2, 1.6, 31.0, 41.0, 398, "storage", "bad"),
        _node("gpu04:9464", "4711", 2.0, 0.4, 21.8, 11.0, 92.0, 2.4, 410, "gpu", "ok"),
        _node("gpu05:9464", "4711", math.nan, math.nan, math.nan, math.nan, math.nan,
              math.nan, math.nan, "", "", down=True),
        _node("cpu17:9464", "4790", 0.8, 1.2, 0.0, math.nan, math.nan, 6.5, 180, "network",
              "warn"),
        _node("cpu18:9464", "4790", 0.8, 1.1, 0.0, math.nan, math.nan, 6.1, 176, "network",
              "warn"),
        _node("login1:9464", "", 0.0, 0.01, math.nan, math.nan, math.nan, 0.2, 38,
              "none", "ok"),
    ]
    mark_stragglers(rows)
    return sort_worst_first(rows)


def cluster_app(job: str = None) -> ClusterApp:  # type: ignore[assignment]
    shown = [n for n in nodes() if job is None or n.job == job]
    snapshot = Snapshot(shown, AT, "1m", job)
    return ClusterApp(PrometheusClient("http://prometheus:9090"), snapshot, job=job,
                      refresh=3600.0, local=time.gmtime)
