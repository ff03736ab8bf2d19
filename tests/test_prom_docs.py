"""docs/prometheus.md and docs/grafana/memmap.json name only metrics the exporter can produce.

"Can produce" is computed, not listed: the families the exporter plans for the real collectors'
metric tables (host on this machine and on the fixture tree; netfs on its fixture tree; nvml
through its fake `pynvml` module, with and without the PCIe byte counters; tegrastats through the
replay of a captured AGX Orin line; interconnect and cgroup on their fixture trees), the
per-entity families a real scrape makes from table rows, and the exporter's own.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import List, Set

import pytest
from conftest import DATA, ROOT
from memmap_tui.collectors.cgroup import CgroupCollector
from memmap_tui.collectors.host import HostCollector
from memmap_tui.collectors.interconnect import InterconnectCollector
from memmap_tui.collectors.jetson import TegrastatsCollector
from memmap_tui.collectors.jetson.tegrastats import TegrastatsSource
from memmap_tui.collectors.netfs import NetfsCollector
from memmap_tui.collectors.nvml import NvmlCollector
from prometheus_client.exposition import generate_latest
from test_nvml import FakeGpu, FakeNvml, _proc

from memmap_tui.collector import Collector, available_names, collector_class
from memmap_tui.model import Frame, Reading, Schema
from memmap_tui.sinks.prom_names import plan_families
from memmap_tui.sinks.prometheus import PrometheusSink, own_family_names

DASHBOARD = ROOT / "docs" / "grafana" / "memmap.json"
DOC = ROOT / "docs" / "prometheus.md"
# not memmap_tui/..., nor a recorded name's middle (instance:memmap_disk_bytes:rate1m)
NAME = re.compile(r"(?<![\w:])memmap_[a-z0-9_]*[a-z0-9](?![a-z0-9_/:])")
REPLAY = ROOT / "tests" / "replay_tegrastats.py"
AGX_ORIN_LINE = "30_lesomnus_37"
PROCESS_ROW = {"pid": 4242, "name": "python", "rss_bytes": 2**30, "cpu_percent": 50.0}


def _tegrastats(tmp: Path) -> TegrastatsCollector:
    proc = tmp / "proc"
    (proc / "device-tree").mkdir(parents=True, exist_ok=True)
    (proc / "device-tree" / "model").write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\0")
    script = tmp / "tegrastats"
    command = shlex.join([sys.executable, str(REPLAY), "--id", AGX_ORIN_LINE])
    script.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
    script.chmod(0o755)
    return TegrastatsCollector([TegrastatsSource(str(script), 0.1, str(proc))])


def catalogue_names() -> Set[str]:
    """The families of every collector's catalogue (what it can declare on any machine), with a
    device filled in: the Jetson sysfs source, the process tree, whatever runs nowhere here."""
    names: Set[str] = set()
    for name in available_names():
        specs = [s.for_device("0") for s in collector_class(name).catalog()]
        unique = list({s.name: s for s in specs}.values())
        names |= {f.exposed_name for f in plan_families(Schema(unique))}
    return names


def producible_names(tmp: Path) -> Set[str]:
    """Every name a scrape can show, from the real collectors' metric tables."""
    gpus = [FakeGpu(pcie_counters=True, nvlink=True, compute=[_proc(4242, 2**30)]),
            FakeGpu(pcie_counters=False)]
    collectors: List[Collector] = [
        HostCollector(names=True), HostCollector(str(DATA / "proc_a"), str(DATA / "sys_a")),
        NetfsCollector(str(DATA / "netfs" / "proc"), str(DATA / "netfs" / "sys")),
        NvmlCollector(nvml=FakeNvml(gpus)), _tegrastats(tmp),
        InterconnectCollector(str(DATA / "sys_rdma")),
        CgroupCollector(4242, str(DATA / "cgroup_v2" / "proc"), str(DATA / "cgroup_v2" / "sys"))]
    names = set(own_family_names()) | catalogue_names()
    tables = {}
    for c in collectors:
        c.open()
        try:
            names |= {f.exposed_name for f in plan_families(Schema(c.metrics()))}
            c.collect()
            if c.table():
                tables[c.name] = c.table()
        finally:
            c.close()
    tables["process"] = [PROCESS_ROW]  # the process collector's row shape (pid, name, measures)
    sink = PrometheusSink()
    sink.open(Schema([]))
    sink.write(Frame(time.time(), [], Reading(0.0, time.time(), [], tables)))
    scraped = generate_latest(sink.registry).decode()
    names |= {line.split()[2] for line in scraped.splitlines() if line.startswith("# TYPE")}
    return names


@pytest.fixture(scope="module")
def producible(tmp_path_factory: pytest.TempPathFactory) -> Set[str]:
    return producible_names(tmp_path_factory.mktemp("collectors"))


def dashboard_targets() -> List[dict]:
    targets = []

    def walk(panels: list) -> None:
        for p in panels:
            targets.extend(p.get("targets", []))
            walk(p.get("panels", []))

    walk(json.loads(DASHBOARD.read_text())["panels"])
    return targets


def test_producible_set_holds_the_gpu_and_jetson_names(producible: Set[str]) -> None:
    for name in ("memmap_nvml_gpu_util_percent", "memmap_nvml_gpu_pcie_rx_bytes_total",
                 "memmap_nvml_gpu_pcie_rx_bytes_per_second", "memmap_jetson_ram_used_bytes",
                 "memmap_nvml_used_gpu_memory_bytes", "memmap_process_rss_bytes",
                 "memmap_host_disk_read_bytes_total"):
        assert name in producible, name


def test_dashboard_is_valid_json_with_queries_in_every_panel() -> None:
    board = json.loads(DASHBOARD.read_text())
    graphs = [p for p in board["panels"] if p["type"] != "row"]
    assert board["title"] and len(graphs) >= 8
    assert all(p["targets"] and all(t["expr"].strip() for t in p["targets"]) for p in graphs)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_covers_throughput_waiting_memory_and_gpu_per_node() -> None:
    board = json.loads(DASHBOARD.read_text())
    units = {p["fieldConfig"]["defaults"]["unit"] for p in board["panels"] if p["type"] != "row"}
    assert {"Bps", "percent", "bytes"} <= units
    titles = " ".join(p["title"] for p in board["panels"]).lower()
    for word in ("gb/s", "waiting", "memory", "gpu"):
        assert word in titles, word
    assert all("instance" in t["expr"] for t in dashboard_targets())  # per node


def test_every_metric_the_dashboard_names_is_one_the_exporter_makes(
        producible: Set[str]) -> None:
    named = {n for t in dashboard_targets() for n in NAME.findall(t["expr"])}
    assert named and named <= producible, sorted(named - producible)


def test_counters_in_the_dashboard_are_only_used_through_rate() -> None:
    for t in dashboard_targets():
        for name in re.findall(r"memmap_[a-z0-9_]+_total\b", t["expr"]):
            assert re.search(rf"rate\({name}\{{", t["expr"]), t["expr"]


def test_docs_name_only_metrics_the_exporter_makes(producible: Set[str]) -> None:
    named = set(NAME.findall(DOC.read_text()))
    assert named and named <= producible, sorted(named - producible)


def test_docs_table_lists_every_host_and_own_family() -> None:
    text = DOC.read_text()
    host = HostCollector(str(DATA / "proc_a"), str(DATA / "sys_a"))
    host.open()
    try:
        families = plan_families(Schema(host.metrics()))
    finally:
        host.close()
    missing = [f.exposed_name for f in families if f"`{f.exposed_name}`" not in text]
    missing += [n for n in own_family_names() if f"`{n}`" not in text]
    assert not missing
