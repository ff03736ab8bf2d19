"""The tegrastats source through a real subprocess: tests/replay_tegrastats.py prints real lines.

No Jetson is needed: the replay stands in for `tegrastats` (same `--interval MS` argument, same
lines, read at run time from the shared fixture), and the board model is a fake
`device-tree/model` file.
"""

from __future__ import annotations

import logging
import math
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
from conftest import tegrastats_row, tegrastats_rows
from memmap_tui.collectors.jetson import TegrastatsCollector, parse_line
from memmap_tui.collectors.jetson.columns import column_part
from memmap_tui.collectors.jetson.tegrastats import NOT_FOUND, TegrastatsSource, build_plan

from memmap_tui.collector import CollectorOptions
from memmap_tui.model import Schema

REPLAY = Path(__file__).resolve().parent / "replay_tegrastats.py"
AGX_ORIN = "NVIDIA Jetson AGX Orin Developer Kit"


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def gone(pid: int) -> bool:
    """True once `pid` no longer exists, not even as a zombie."""
    return not os.path.exists(f"/proc/{pid}")


def dead(pid: int) -> bool:
    """True once `pid` is not running: gone, or a zombie left for init to reap (not our child)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    """A fake /proc with an AGX Orin device-tree model."""
    root = tmp_path / "proc"
    (root / "device-tree").mkdir(parents=True)
    (root / "device-tree" / "model").write_bytes(AGX_ORIN.encode() + b"\0")
    return root


@pytest.fixture
def wrapper(tmp_path: Path) -> Callable[..., str]:
    """An executable that runs the replay with extra arguments (the collector adds --interval)."""
    counter = [0]

    def make(*replay_args: str, before: str = "", after: str = "") -> str:
        counter[0] += 1
        path = tmp_path / f"tegrastats-{counter[0]}"
        command = shlex.join([sys.executable, str(REPLAY), *replay_args])
        run = f'{command} "$@"' if after else f'exec {command} "$@"'
        path.write_text(f"#!/bin/sh\n{before}\n{run}\n{after}\n")
        path.chmod(0o755)
        return str(path)

    return make


@pytest.fixture
def open_collector(proc_root: Path):
    """Opens tegrastats sources (named `collector` in these tests)."""
    made: List[TegrastatsSource] = []

    def make(cmd: Optional[str], **kwargs) -> TegrastatsSource:
        kwargs.setdefault("interval", 0.1)
        kwargs.setdefault("proc_root", str(proc_root))
        kwargs.setdefault("sys_root", str(proc_root.parent / "sys"))
        collector = TegrastatsSource(cmd=cmd, **kwargs)
        made.append(collector)
        collector.open()
        return collector

    yield make
    for collector in made:
        collector.close()


def reading(collector: TegrastatsSource) -> Dict[str, float]:
    return {spec.name: value for spec, value in zip(collector.metrics(), collector.read())}


def test_values_appear_from_the_replayed_agx_orin(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    values = reading(collector)
    assert values["jetson.ram.used_bytes"] == 18207 * 2**20
    assert values["jetson.ram.total_bytes"] == 62841 * 2**20
    assert values["jetson.swap.used_bytes"] == 86 * 2**20
    assert values["jetson.gpu.util_percent"] == 0.0
    assert values["jetson.emc.util_percent"] == 3.0
    assert values["jetson.emc.freq_mhz"] == 2133.0
    assert values["jetson.cpu0.freq_mhz"] == 2188.0
    assert values["jetson.cpu11.util_percent"] == 10.0
    assert values["jetson.temp.tj.celsius"] == 52.562


def expected_columns(expect: dict) -> Dict[str, float]:
    """What each captured line's hand-read fields (the fixture's `expect`) become as columns."""
    want: Dict[str, float] = {}
    for key, column in (("ram_used_bytes", "jetson.ram.used_bytes"),
                        ("ram_total_bytes", "jetson.ram.total_bytes"),
                        ("swap_used_bytes", "jetson.swap.used_bytes"),
                        ("swap_total_bytes", "jetson.swap.total_bytes"),
                        ("swap_cached_bytes", "jetson.swap.cached_bytes"),
                        ("gpu_util_percent", "jetson.gpu.util_percent"),
                        ("gpu_freq_mhz", "jetson.gpu.freq_mhz")):
        if expect[key] is not None:
            want[column] = expect[key]
    if expect["emc_freq_mhz"] is not None:  # EMC without a clock is not a reading
        want["jetson.emc.freq_mhz"] = expect["emc_freq_mhz"]
        want["jetson.emc.util_percent"] = expect["emc_util_percent"]
    online = [u for u in expect["cpu_util_percent"] if u is not None]
    if expect["cpu_util_percent"]:
        want["jetson.cpu.util_percent"] = sum(online) / len(online) if online else math.nan
    for i, (util, mhz) in enumerate(zip(expect["cpu_util_percent"], expect["cpu_freq_mhz"])):
        want[f"jetson.cpu{i}.util_percent"] = math.nan if util is None else util
        want[f"jetson.cpu{i}.freq_mhz"] = math.nan if mhz is None else mhz
    for sensor, celsius in expect["temps_celsius"].items():
        if "pmic" not in sensor.lower():  # PMIC reads a constant: left out
            want[f"jetson.temp.{sensor.lower()}.celsius"] = celsius
    for rail, (current, _) in expect["power_milliwatts"].items():
        want[f"jetson.power.{rail.lower()}.watts"] = current / 1000.0
    return want


@pytest.mark.parametrize("row", tegrastats_rows(), ids=lambda row: row["id"])
def test_every_field_of_every_captured_line_reaches_its_column(row):
    parsed = parse_line(row["line"])
    values = {spec.name: read(parsed) for spec, read in build_plan(parsed, "")}
    values.pop("jetson.emc.bytes_per_second", None)  # the estimate: tested below
    engines = {k for k in values if k.startswith("jetson.engine.")}
    got = {k: v for k, v in values.items() if k not in engines}
    want = expected_columns(row["expect"])
    assert got.keys() == want.keys()
    for column, value in want.items():
        assert got[column] == pytest.approx(value, nan_ok=True), column


def test_a_replayed_line_reaches_the_columns_through_the_subprocess(open_collector, wrapper):
    values = reading(open_collector(wrapper("--id", "22_waggle_40")))
    want = expected_columns(tegrastats_row("22_waggle_40")["expect"])
    assert {k: values[k] for k in want} == pytest.approx(want)


def test_the_replay_script_itself_is_a_tegrastats_stand_in(open_collector):
    collector = open_collector(str(REPLAY))
    assert wait_for(lambda: not math.isnan(reading(collector)["jetson.ram.used_bytes"]))


def test_contract_columns_exist_and_names_are_unique(open_collector, wrapper):
    collector = open_collector(wrapper("--model", "AGX Orin Developer Kit"))
    names = [spec.name for spec in collector.metrics()]
    Schema(collector.metrics())  # raises on duplicates
    for column in (
        "jetson.ram.used_bytes",
        "jetson.gpu.util_percent",
        "jetson.emc.util_percent",
        "jetson.emc.bytes_per_second",
        "jetson.power.vdd_gpu_soc.watts",
        "jetson.power.vdd_cpu_cv.watts",
        "jetson.power.vin_sys_5v0.watts",
    ):
        assert column in names


def test_devices_are_labels_for_prometheus(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    specs = {spec.name: spec for spec in collector.metrics()}
    assert specs["jetson.power.vdd_gpu_soc.watts"].labels == (("rail", "vdd_gpu_soc"),)
    assert specs["jetson.power.vdd_gpu_soc.watts"].family == "jetson.power.watts"
    assert specs["jetson.temp.tj.celsius"].labels == (("sensor", "tj"),)
    assert specs["jetson.cpu3.util_percent"].labels == (("cpu", "3"),)
    assert specs["jetson.cpu3.util_percent"].family == "jetson.cpu.core_util_percent"
    assert specs["jetson.cpu.util_percent"].labels == ()
    assert specs["jetson.engine.nvenc.util_percent"].labels == (("engine", "nvenc"),)


def test_power_is_converted_from_milliwatts_to_watts(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "31_lesomnus_78"))
    values = reading(collector)
    assert values["jetson.power.vin_sys_5v0.watts"] == pytest.approx(4.607)
    assert values["jetson.power.vdd_gpu_soc.watts"] == pytest.approx(2.412)


def test_cpu_mean_leaves_offline_cores_out(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "34_les_r39_orin"))
    values = reading(collector)
    online = [78, 33, 46, 55, 49, 48, 37, 57]
    assert values["jetson.cpu.util_percent"] == pytest.approx(sum(online) / len(online))
    assert math.isnan(values["jetson.cpu11.util_percent"])
    assert math.isnan(values["jetson.cpu11.freq_mhz"])


def test_engines_read_busy_and_clock_and_off_as_zero(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    values = reading(collector)
    assert values["jetson.engine.nvenc.util_percent"] == 79.0
    assert values["jetson.engine.nvenc.freq_mhz"] == 166.0
    assert values["jetson.engine.nvdec.util_percent"] == 0.0
    assert values["jetson.engine.ape.freq_mhz"] == 174.0
    assert "jetson.engine.ape.util_percent" not in values


def test_thor_gpu_prints_clocks_only_so_util_is_not_declared_and_said(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "35_lesomnus_168"))
    values = reading(collector)
    assert "jetson.gpu.util_percent" not in values
    assert values["jetson.gpu.freq_mhz"] == 0.0
    assert "clocks only" in {g.what: g.why for g in collector.gaps()}["GPU util"]


def test_pmic_at_a_constant_100_c_is_left_out(open_collector, wrapper):
    assert "PMIC@100C" in tegrastats_row("13_dd_nano")["line"]
    values = reading(open_collector(wrapper("--id", "13_dd_nano")))
    assert not [k for k in values if "pmic" in k]
    assert values["jetson.temp.gpu.celsius"] == 36.0


@pytest.mark.parametrize("line_id", ["15_aiblox_113", "33_dd_orin", "27_matan"])
def test_without_root_there_is_no_emc_column_and_the_gap_says_why(open_collector, wrapper,
                                                                  line_id):
    collector = open_collector(wrapper("--id", line_id))
    assert not [k for k in reading(collector) if k.startswith("jetson.emc.")]
    assert "root" in {g.what: g.why for g in collector.gaps()}["EMC clock"]


def test_emc_estimate_uses_the_device_tree_model(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    assert collector.model == AGX_ORIN
    expected = 0.03 * 2133e6 * 204.8e9 / 3199e6
    assert reading(collector)["jetson.emc.bytes_per_second"] == pytest.approx(expected)


def test_emc_estimate_is_not_declared_for_an_unknown_model(open_collector, wrapper, tmp_path):
    other = tmp_path / "other-proc"
    (other / "device-tree").mkdir(parents=True)
    (other / "device-tree" / "model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    collector = open_collector(wrapper("--id", "30_lesomnus_37"), proc_root=str(other))
    values = reading(collector)
    assert values["jetson.emc.util_percent"] == 3.0
    assert "jetson.emc.bytes_per_second" not in values
    assert "Raspberry Pi" in {g.what: g.why for g in collector.gaps()}["EMC bytes/s"]


def test_orin_nano_8gb_estimate_is_told_by_the_line_s_ram_total(open_collector, wrapper,
                                                                tmp_path):
    nano = tmp_path / "nano-proc"
    (nano / "device-tree").mkdir(parents=True)
    (nano / "device-tree" / "model").write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\0")
    values = reading(open_collector(wrapper("--id", "24_beszel_369"), proc_root=str(nano)))
    assert values["jetson.emc.bytes_per_second"] == pytest.approx(0.43 * 2133e6 * 68e9 / 2133e6)


def test_killed_tegrastats_is_restarted_and_values_keep_flowing(open_collector, wrapper):
    collector = open_collector(wrapper("--model", "AGX Orin Developer Kit"))
    process = collector.process
    first_pid = process.pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    assert wait_for(lambda: gone(first_pid)), "the killed child was not reaped"
    assert wait_for(lambda: process.pid not in (None, first_pid))
    assert wait_for(lambda: process.latest()[1] > killed_at), "no line after the restart"
    assert process.starts == 2
    assert not math.isnan(reading(collector)["jetson.ram.used_bytes"])


def test_tegrastats_that_exits_is_restarted_with_backoff(open_collector, wrapper, caplog):
    caplog.set_level(logging.DEBUG, logger="memmap_tui.tegrastats")
    collector = open_collector(wrapper("--count", "1"))
    process = collector.process
    started = time.monotonic()
    assert wait_for(lambda: process.starts >= 3, timeout=6.0)
    # Waits of 0.5 s then 1 s between the starts: a backoff, not a busy loop.
    assert time.monotonic() - started >= 1.2
    assert not math.isnan(reading(collector)["jetson.ram.used_bytes"])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "restarting" in warnings[0].getMessage()


def test_a_field_missing_from_a_later_line_reads_nan(open_collector, wrapper):
    # The root line (EMC, engines) first, then the non-root line without them, in turn.
    collector = open_collector(wrapper("--id", "30_lesomnus_37,33_dd_orin"))
    names = [spec.name for spec in collector.metrics()]
    assert wait_for(lambda: math.isnan(reading(collector)["jetson.emc.util_percent"]))
    assert [spec.name for spec in collector.metrics()] == names
    assert math.isnan(reading(collector)["jetson.engine.nvenc.util_percent"])


def test_lines_that_are_not_readings_are_ignored(open_collector, tmp_path, caplog):
    noisy = tmp_path / "noisy"
    noisy.write_text("#!/bin/sh\nwhile true; do echo 'Error: not permitted'; sleep 0.05; done\n")
    noisy.chmod(0o755)
    collector = open_collector(str(noisy), first_line_timeout=0.3)
    assert all(math.isnan(v) for v in collector.read())
    assert sum("not a reading" in r.getMessage() for r in caplog.records) == 1


def test_close_leaves_no_zombie_and_no_orphan(open_collector, wrapper, tmp_path):
    pidfile = tmp_path / "helper.pid"
    # A helper in tegrastats' process group must go with it.
    cmd = wrapper(before=f"sleep 300 & echo $! > {shlex.quote(str(pidfile))}")
    collector = open_collector(cmd)
    pid = collector.process.pid
    helper = int(pidfile.read_text())
    assert not gone(pid) and not gone(helper)
    collector.close()
    assert gone(pid), "tegrastats left behind (zombie or alive)"
    assert wait_for(lambda: dead(helper)), "a process of its group was orphaned"


def test_close_is_idempotent_and_safe_before_open():
    collector = TegrastatsSource(cmd=str(REPLAY))
    collector.close()
    collector.open()
    collector.close()
    collector.close()
    assert collector.process is None


def test_child_ignoring_sigterm_is_killed(open_collector, wrapper):
    collector = open_collector(wrapper(before="trap '' TERM", after="sleep 300"))
    pid = collector.process.pid
    started = time.monotonic()
    collector.close()
    assert gone(pid)
    assert time.monotonic() - started < 5.0


def test_no_line_in_time_gives_the_base_set_all_nan_and_says_so(tmp_path):
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexec sleep 300\n")
    silent.chmod(0o755)
    collector = TegrastatsCollector([TegrastatsSource(str(silent), 0.1,
                                                      first_line_timeout=0.3)])
    collector.open()
    try:
        names = [spec.name for spec in collector.metrics()]
        assert "jetson.ram.used_bytes" in names and "jetson.emc.bytes_per_second" in names
        assert not any(name.startswith(("jetson.power.", "jetson.temp.")) for name in names)
        assert all(math.isnan(v) for v in collector.collect())
        assert any("no line from tegrastats within 0.3 s" in n for n in collector.source_notes)
    finally:
        collector.close()


def test_stale_values_become_nan(open_collector, wrapper):
    collector = open_collector(wrapper("--count", "1", after="sleep 300"), stale_after=0.4)
    assert not math.isnan(reading(collector)["jetson.ram.used_bytes"])
    assert wait_for(lambda: math.isnan(reading(collector)["jetson.ram.used_bytes"]), timeout=3.0)


def test_collect_never_waits_for_the_subprocess(open_collector, wrapper):
    collector = open_collector(wrapper())
    started = time.monotonic()
    for _ in range(100):
        collector.read()
    assert time.monotonic() - started < 0.5


def test_missing_executable_is_unavailable_with_a_reason(tmp_path):
    availability = TegrastatsSource(cmd=str(tmp_path / "no-tegrastats")).probe()
    assert not availability.available
    assert "no-tegrastats" in availability.reason


def test_no_tegrastats_on_path_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MEMMAP_TEGRASTATS", raising=False)
    collector = TegrastatsCollector.from_options(CollectorOptions())
    availability = collector.probe()
    assert not availability.available
    assert availability.reason == "tegrastats not found (not a Jetson? set --tegrastats-cmd)"
    assert availability.reason == NOT_FOUND


def test_command_from_options_then_environment(monkeypatch):
    monkeypatch.setenv("MEMMAP_TEGRASTATS", str(REPLAY))
    assert TegrastatsCollector.from_options(CollectorOptions()).sources[0].cmd == str(REPLAY)
    assert TegrastatsCollector.from_options(CollectorOptions()).probe().available
    options = CollectorOptions(tegrastats_cmd="/opt/x/tegrastats", interval=0.25)
    source = TegrastatsCollector.from_options(options).sources[0]
    assert source.cmd == "/opt/x/tegrastats"
    assert source.interval_ms == 250


def test_tegrastats_on_path_is_found(monkeypatch, tmp_path):
    fake = tmp_path / "tegrastats"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert TegrastatsSource().probe().available


@pytest.mark.parametrize(
    "printed, column", [("VDD_GPU_SOC", "vdd_gpu_soc"), ("CV0", "cv0"), ("soc012", "soc012")]
)
def test_names_become_lower_case_columns(printed, column):
    assert column_part(printed) == column
