"""One Jetson collector over its sources: one column per quantity, from the first source that has
it (sysfs, then tegrastats, then jtop), said once where it comes from; old names still load.

Faked at the hardware boundary only: a sysfs tree laid out as an AGX Orin prints it
(tests/jetson_trees.py), the real `tests/replay_tegrastats.py` subprocess printing captured
lines as tegrastats, and a fake jtop client at the adapter (tests/test_jtop.py's).
"""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path
from typing import Dict, List

import pytest
from jetson_trees import Tree, agx_orin_jp6, orin_nano_8gb
from memmap_tui.collectors.jetson import JetsonCollector, JtopCollector, TegrastatsCollector
from memmap_tui.collectors.jetson.jtop import JtopSource
from memmap_tui.collectors.jetson.sysfs import SysfsSource
from memmap_tui.collectors.jetson.tegrastats import TegrastatsSource
from test_jtop import FakeClient

from memmap_tui import roles
from memmap_tui.catalog import current_name, spec_for_column
from memmap_tui.collector import CollectorOptions, build_collectors
from memmap_tui.csvread import load_recording
from memmap_tui.model import Schema

REPLAY = Path(__file__).resolve().parent / "replay_tegrastats.py"


@pytest.fixture
def tree(tmp_path) -> Tree:
    return agx_orin_jp6(Tree(tmp_path / "board"))


@pytest.fixture
def replay(tmp_path):
    """A tegrastats stand-in printing the captured lines with these ids."""
    def make(line_ids: str) -> str:
        path = tmp_path / f"tegrastats-{line_ids.replace(',', '-')}"
        command = shlex.join([sys.executable, str(REPLAY), "--id", line_ids])
        path.write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        path.chmod(0o755)
        return str(path)

    return make


@pytest.fixture
def opened():
    made: List[JetsonCollector] = []

    def make(collector: JetsonCollector) -> JetsonCollector:
        made.append(collector)
        collector.open()
        return collector

    yield make
    for collector in made:
        collector.close()


def tegrastats(tree: Tree, cmd: str) -> TegrastatsSource:
    return TegrastatsSource(cmd, 0.1, str(tree.root / "proc"), str(tree.root / "sys"))


def reading(c: JetsonCollector) -> Dict[str, float]:
    values = c.collect()
    assert len(values) == len(c.metrics())
    return dict(zip((s.name for s in c.metrics()), values))


def test_each_quantity_has_one_column_taken_from_the_first_source_that_has_it(tree, replay,
                                                                              opened):
    # AGX Orin without root: sysfs has no EMC; tegrastats (a root line) has it, and CPU cores.
    c = opened(JetsonCollector([tegrastats(tree, replay("30_lesomnus_37")), tree.source()]))
    names = [s.name for s in c.metrics()]
    assert len(Schema(c.metrics())) == len(names)  # no column declared twice
    r = reading(c)
    assert r["jetson.ram.used_bytes"] == (64335836 - 45000000) * 1024  # sysfs, not tegrastats'
    assert r["jetson.power.vdd_gpu_soc.watts"] == pytest.approx(48.0)  # sysfs' rail
    assert r["jetson.temp.cpu.celsius"] == 45.5  # sysfs' zone, tegrastats prints 52.562
    assert r["jetson.emc.util_percent"] == 3.0  # only tegrastats reads it here
    assert r["jetson.emc.bytes_per_second"] == pytest.approx(0.03 * 2133e6 * 204.8e9 / 3199e6)
    assert r["jetson.engine.nvenc.util_percent"] == 79.0
    assert c.provenance["jetson.ram.used_bytes"] == "sysfs"
    assert c.provenance["jetson.emc.util_percent"] == "tegrastats"
    assert c.provenance["jetson.cpu3.util_percent"] == "tegrastats"
    assert not [n for n in names if n.startswith(("tegra.", "jtop."))]


def test_the_sources_and_what_none_reads_are_said_once(tree, replay, opened):
    c = opened(JetsonCollector([tree.source(), tegrastats(tree, replay("33_dd_orin"))]))
    assert c.source_notes[0] == (
        "sources: sysfs (RAM, swap, GPU util, GPU clock, power rails, temperatures); "
        "tegrastats (CPU)")
    emc = [n for n in c.source_notes if "EMC" in n]
    assert len(emc) == 1  # sysfs' and tegrastats' reasons, each said once, on one line each
    assert emc[0].startswith("not read: EMC clock, EMC util and bytes/s: the EMC clock")
    assert "readable only by root" in emc[0]
    r = reading(c)
    assert math.isnan(r["jetson.emc.util_percent"]) and math.isnan(r["jetson.emc.freq_mhz"])


def test_a_gap_one_source_has_is_not_said_when_another_fills_it(tree, replay, opened):
    c = opened(JetsonCollector([tree.source(), tegrastats(tree, replay("30_lesomnus_37"))]))
    assert not [n for n in c.source_notes if n.startswith("not read")]


def test_the_jtop_source_adds_what_only_its_service_reads(tree, tmp_path, opened):
    sock = tmp_path / "jtop.sock"
    sock.write_text("")
    jtop = JtopSource(client=FakeClient(), socket_path=str(sock), timeout=1.0, interval=0.05)
    c = opened(JetsonCollector([jtop, tree.source()]))
    assert c.provenance["jetson.gpu.process_memory_bytes"] == "jtop"
    assert c.provenance["jetson.ram.used_bytes"] == "sysfs"
    assert [row["pid"] for row in c.table()] == [4242, 4300, 77]
    assert "jtop (GPU memory per process, engines)" in c.source_notes[0]


def test_a_source_that_cannot_open_is_left_out_and_said(tree, tmp_path, opened):
    sock = tmp_path / "jtop.sock"
    sock.write_text("")
    dead = FakeClient(connect_error=ConnectionRefusedError(111, "Connection refused"))
    c = opened(JetsonCollector([tree.source(), JtopSource(client=dead, socket_path=str(sock),
                                                          timeout=0.5)]))
    assert set(c.provenance.values()) == {"sysfs"}
    assert any(n.startswith("jtop: jtop service not running") for n in c.source_notes)


def test_the_base_columns_exist_when_no_source_reads_them(tmp_path, opened):
    sock = tmp_path / "jtop.sock"
    sock.write_text("")
    c = opened(JtopCollector([JtopSource(client=FakeClient(), socket_path=str(sock),
                                         timeout=1.0)]))
    r = reading(c)
    for column in ("jetson.ram.used_bytes", "jetson.gpu.util_percent",
                   "jetson.emc.bytes_per_second"):
        assert math.isnan(r[column])


def test_probe_says_the_board_the_sources_and_the_gaps_in_one_line(tree):
    c = JetsonCollector([tree.source()])
    reason = c.probe().reason
    assert reason.startswith("NVIDIA Jetson AGX Orin Developer Kit; sources: sysfs (RAM")
    assert "not read: EMC clock, EMC util and bytes/s: " in reason
    assert "tegra_cactmon_mc_all" in reason


def test_jetson_tegrastats_named_together_join_one_collector(tree, replay):
    options = CollectorOptions(proc_root=str(tree.root / "proc"),
                               sys_root=str(tree.root / "sys"),
                               tegrastats_cmd=replay("30_lesomnus_37"), interval=0.1)
    built = build_collectors(["jetson", "tegrastats"], options)
    assert [c.name for c in built] == ["jetson"]
    assert [s.name for s in built[0].sources] == ["sysfs", "tegrastats", "jtop"]
    built = build_collectors(["tegrastats", "jetson"], options)
    assert [s.name for s in built[0].sources] == ["sysfs", "tegrastats", "jtop"]


def test_the_default_set_has_one_jetson_collector(tree, replay):
    options = CollectorOptions(proc_root=str(tree.root / "proc"),
                               sys_root=str(tree.root / "sys"),
                               tegrastats_cmd=replay("30_lesomnus_37"))
    names = [c.name for c in build_collectors(None, options)]
    assert names.count("jetson") == 1 and "tegrastats" not in names and "jtop" not in names


def test_named_alone_tegrastats_selects_its_source_only():
    c = TegrastatsCollector.from_options(CollectorOptions(tegrastats_cmd=str(REPLAY)))
    assert [s.name for s in c.sources] == ["tegrastats"]
    assert c.probe().reason.endswith("(a source of the jetson collector)")


# -- meaning, catalogue and old names --------------------------------------------------------

def test_every_declared_column_means_the_same_in_a_recording(tree, replay, opened):
    """catalog() is built from the functions the sources use: a recording's column gets the
    meaning the live column has (label, pane, roles, key, total, notes, rank, instead_of)."""
    c = opened(JetsonCollector([tree.source(), tegrastats(tree, replay("30_lesomnus_37"))]))
    for live in c.metrics():
        recorded = spec_for_column(live.name)
        for field in ("unit", "label", "pane", "roles", "key", "total", "notes", "rank",
                      "instead_of", "labels"):
            assert getattr(recorded, field) == getattr(live, field), (live.name, field)


def test_the_meaning_the_panes_and_summary_ask_for(tree, opened):
    c = opened(JetsonCollector([orin_nano_8gb(Tree(tree.root.parent / "nano")).source()]))
    specs = {s.name: s for s in c.metrics()}
    used = specs["jetson.ram.used_bytes"]
    assert (used.pane, used.label, used.key, used.rank) == (roles.MEMORY, "unified",
                                                            "unified_used", 5)
    assert used.roles == (roles.RAM_USED, roles.MEMORY_PEAK, roles.HOST)
    assert used.instead_of == roles.RAM_USED and used.total == "jetson.ram.total_bytes"
    assert specs["jetson.swap.used_bytes"].instead_of == roles.SWAP_USED
    gpu = specs["jetson.gpu.util_percent"]
    assert gpu.roles == (roles.GPU_UTIL, roles.DEVICE) and gpu.rank == 10
    assert gpu.notes == (("jetson.gpu.freq_mhz", "{}"), ("jetson.temp.gpu.celsius", "{}"))
    assert specs["jetson.ram.cpu_used_bytes"].rank == 6
    assert specs["jetson.ram.gpu_shared_bytes"].rank == 7
    emc = spec_for_column("jetson.emc.bytes_per_second")
    assert (emc.pane, emc.label, emc.roles, emc.rank) == (roles.THROUGHPUT, "EMC",
                                                          (roles.THROUGHPUT_FLOW,), 30)
    assert emc.notes == (("jetson.emc.util_percent", "{} busy"),)
    cpu = spec_for_column("jetson.cpu.util_percent")
    assert cpu.has(roles.CPU_BUSY, roles.HOST) and cpu.instead_of == roles.CPU_BUSY


@pytest.mark.parametrize("old, new", [
    ("tegra.ram.used_bytes", "jetson.ram.used_bytes"),
    ("tegra.swap.used_bytes", "jetson.swap.used_bytes"),
    ("tegra.gpu.util_percent", "jetson.gpu.util_percent"),
    ("tegra.emc.bytes_per_second", "jetson.emc.bytes_per_second"),
    ("tegra.cpu.util_percent", "jetson.cpu.util_percent"),
    ("tegra.cpu3.util_percent", "jetson.cpu3.util_percent"),
    ("tegra.power.vdd_gpu_soc.watts", "jetson.power.vdd_gpu_soc.watts"),
    ("tegra.temp.tj.celsius", "jetson.temp.tj.celsius"),
    ("tegra.engine.nvenc.util_percent", "jetson.engine.nvenc.util_percent"),
    ("jtop.gpu.process_memory_bytes", "jetson.gpu.process_memory_bytes"),
    ("jtop.engine.dla0_core.online", "jetson.engine.dla0_core.online"),
    ("jtop.engine.dla0_core.freq_mhz", "jetson.engine.dla0_core.freq_mhz"),
    ("jetson.temp.cpu_thermal.celsius", "jetson.temp.cpu.celsius"),
    ("jetson.temp.gpu_therm.celsius", "jetson.temp.gpu.celsius"),
    ("jetson.temp.tboard_tegra.celsius", "jetson.temp.tboard.celsius"),
    ("jetson.temp.thermal_fan_est.celsius", "jetson.temp.thermal.celsius"),
    ("jetson.ram.used_bytes", "jetson.ram.used_bytes"),
    ("jetson.temp.cpu.celsius", "jetson.temp.cpu.celsius"),
])
def test_old_column_names_are_read_under_the_new_ones(old, new):
    assert current_name(old) == new


def test_an_old_recording_with_both_sysfs_and_tegrastats_columns_loads(tmp_path):
    """Before: the default set on a Jetson recorded `jetson.*` (sysfs) beside `tegra.*`."""
    path = tmp_path / "old.csv"
    path.write_text(
        "timestamp,jetson.ram.used_bytes,jetson.emc.util_percent,jetson.temp.cpu_thermal.celsius,"
        "tegra.ram.used_bytes,tegra.emc.util_percent,tegra.temp.cpu.celsius,"
        "tegra.power.vdd_in.watts,jtop.engine.nvenc.freq_mhz\n"
        "1.0,100,,40,101,3,41,5.5,1113.6\n2.0,100,,40,101,4,41,5.5,1113.6\n")
    rec = load_recording(str(path))
    assert rec.column("jetson.ram.used_bytes")[1] == 100.0  # sysfs' keeps the name
    assert rec.column("jetson.emc.util_percent")[1] == 4.0  # the empty one gives way
    assert rec.column("jetson.temp.cpu.celsius")[1] == 40.0
    assert rec.column("jetson.power.vdd_in.watts")[1] == 5.5
    assert rec.column("jetson.engine.nvenc.freq_mhz")[1] == 1113.6
    assert len(set(rec.columns)) == len(rec.columns)


@pytest.mark.jetson
def test_real_jetson_collector_says_its_sources():
    c = JetsonCollector.from_options(CollectorOptions())
    if not c.probe().available:
        pytest.skip("not a Jetson")
    c.open()
    try:
        assert c.source_notes[0].startswith("sources: ")
        assert len(Schema(c.metrics())) == len(c.metrics())
    finally:
        c.close()


def test_sysfs_source_is_the_first_whatever_the_order_given(tree):
    c = JetsonCollector([JtopSource(), TegrastatsSource(), SysfsSource()])
    assert [s.name for s in c.sources] == ["sysfs", "tegrastats", "jtop"]
