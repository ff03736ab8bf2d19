"""TegrastatsCollector through a real subprocess: tests/replay_tegrastats.py prints real lines.

No Jetson is needed: the replay stands in for `tegrastats` (same `--interval MS` argument, same
lines), and the board model is a fake `device-tree/model` file.
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
from memmap_tui.collectors.tegrastats import NOT_FOUND, TegrastatsCollector, column_name

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
    made: List[TegrastatsCollector] = []

    def make(cmd: Optional[str], **kwargs) -> TegrastatsCollector:
        kwargs.setdefault("interval", 0.1)
        kwargs.setdefault("proc_root", str(proc_root))
        collector = TegrastatsCollector(cmd=cmd, **kwargs)
        made.append(collector)
        collector.open()
        return collector

    yield make
    for collector in made:
        collector.close()


def reading(collector: TegrastatsCollector) -> Dict[str, float]:
    return {spec.name: value for spec, value in zip(collector.metrics(), collector.collect())}


def test_values_appear_from_the_replayed_agx_orin(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    values = reading(collector)
    assert values["tegra.ram.used_bytes"] == 18207 * 2**20
    assert values["tegra.ram.total_bytes"] == 62841 * 2**20
    assert values["tegra.swap.used_bytes"] == 86 * 2**20
    assert values["tegra.gpu.util_percent"] == 0.0
    assert values["tegra.emc.util_percent"] == 3.0
    assert values["tegra.emc.freq_mhz"] == 2133.0
    assert values["tegra.cpu0.freq_mhz"] == 2188.0
    assert values["tegra.cpu11.util_percent"] == 10.0
    assert values["tegra.temp.tj.celsius"] == 52.562


def test_the_replay_script_itself_is_a_tegrastats_stand_in(open_collector):
    collector = open_collector(str(REPLAY))
    assert wait_for(lambda: not math.isnan(reading(collector)["tegra.ram.used_bytes"]))


def test_contract_columns_exist_and_names_are_unique(open_collector, wrapper):
    collector = open_collector(wrapper("--model", "AGX Orin Developer Kit"))
    names = [spec.name for spec in collector.metrics()]
    Schema(collector.metrics())  # raises on duplicates
    for column in (
        "tegra.ram.used_bytes",
        "tegra.gpu.util_percent",
        "tegra.emc.util_percent",
        "tegra.emc.bytes_per_second",
        "tegra.power.vdd_gpu_soc.watts",
        "tegra.power.vdd_cpu_cv.watts",
        "tegra.power.vin_sys_5v0.watts",
    ):
        assert column in names


def test_devices_are_labels_for_prometheus(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    specs = {spec.name: spec for spec in collector.metrics()}
    assert specs["tegra.power.vdd_gpu_soc.watts"].labels == (("rail", "vdd_gpu_soc"),)
    assert specs["tegra.power.vdd_gpu_soc.watts"].family == "tegra.power.watts"
    assert specs["tegra.temp.tj.celsius"].labels == (("sensor", "tj"),)
    assert specs["tegra.cpu3.util_percent"].labels == (("cpu", "3"),)
    assert specs["tegra.cpu3.util_percent"].family == "tegra.cpu.core_util_percent"
    assert specs["tegra.cpu.util_percent"].labels == ()
    assert specs["tegra.engine.nvenc.util_percent"].labels == (("engine", "nvenc"),)


def test_power_is_converted_from_milliwatts_to_watts(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "31_lesomnus_78"))
    values = reading(collector)
    assert values["tegra.power.vin_sys_5v0.watts"] == pytest.approx(4.607)
    assert values["tegra.power.vdd_gpu_soc.watts"] == pytest.approx(2.412)


def test_cpu_mean_leaves_offline_cores_out(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "34_les_r39_orin"))
    values = reading(collector)
    online = [78, 33, 46, 55, 49, 48, 37, 57]
    assert values["tegra.cpu.util_percent"] == pytest.approx(sum(online) / len(online))
    assert math.isnan(values["tegra.cpu11.util_percent"])
    assert math.isnan(values["tegra.cpu11.freq_mhz"])


def test_engines_read_busy_and_clock_and_off_as_zero(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    values = reading(collector)
    assert values["tegra.engine.nvenc.util_percent"] == 79.0
    assert values["tegra.engine.nvenc.freq_mhz"] == 166.0
    assert values["tegra.engine.nvdec.util_percent"] == 0.0
    assert values["tegra.engine.ape.freq_mhz"] == 174.0
    assert "tegra.engine.ape.util_percent" not in values


def test_thor_gpu_prints_clocks_only_so_util_is_nan(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "35_lesomnus_168"))
    values = reading(collector)
    assert math.isnan(values["tegra.gpu.util_percent"])
    assert values["tegra.gpu.freq_mhz"] == 0.0


def test_emc_estimate_uses_the_device_tree_model(open_collector, wrapper):
    collector = open_collector(wrapper("--id", "30_lesomnus_37"))
    assert collector.model == AGX_ORIN
    expected = 0.03 * 2133e6 * 204.8e9 / 3199e6
    assert reading(collector)["tegra.emc.bytes_per_second"] == pytest.approx(expected)


def test_emc_estimate_is_nan_for_an_unknown_model(open_collector, wrapper, tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\0")
    collector = open_collector(wrapper("--id", "30_lesomnus_37"), model_path=str(model))
    values = reading(collector)
    assert values["tegra.emc.util_percent"] == 3.0
    assert math.isnan(values["tegra.emc.bytes_per_second"])


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
    assert not math.isnan(reading(collector)["tegra.ram.used_bytes"])


def test_tegrastats_that_exits_is_restarted_with_backoff(open_collector, wrapper, caplog):
    caplog.set_level(logging.DEBUG, logger="memmap_tui.tegrastats")
    collector = open_collector(wrapper("--count", "1"))
    process = collector.process
    started = time.monotonic()
    assert wait_for(lambda: process.starts >= 3, timeout=6.0)
    # Waits of 0.5 s then 1 s between the starts: a backoff, not a busy loop.
    assert time.monotonic() - started >= 1.2
    assert not math.isnan(reading(collector)["tegra.ram.used_bytes"])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "restarting" in warnings[0].getMessage()


def test_a_field_missing_from_a_later_line_reads_nan(open_collector, wrapper):
    # The root line (EMC, engines) first, then the non-root line without them, in turn.
    collector = open_collector(wrapper("--id", "30_lesomnus_37,33_dd_orin"))
    names = [spec.name for spec in collector.metrics()]
    assert wait_for(lambda: math.isnan(reading(collector)["tegra.emc.util_percent"]))
    assert [spec.name for spec in collector.metrics()] == names
    assert math.isnan(reading(collector)["tegra.engine.nvenc.util_percent"])


def test_lines_that_are_not_readings_are_ignored(open_collector, tmp_path, caplog):
    noisy = tmp_path / "noisy"
    noisy.write_text("#!/bin/sh\nwhile true; do echo 'Error: not permitted'; sleep 0.05; done\n")
    noisy.chmod(0o755)
    collector = open_collector(str(noisy), first_line_timeout=0.3)
    assert all(math.isnan(v) for v in collector.collect())
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
    collector = TegrastatsCollector(cmd=str(REPLAY))
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


def test_no_line_in_time_gives_the_base_set_all_nan(open_collector, tmp_path):
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexec sleep 300\n")
    silent.chmod(0o755)
    collector = open_collector(str(silent), first_line_timeout=0.3)
    names = [spec.name for spec in collector.metrics()]
    assert "tegra.ram.used_bytes" in names and "tegra.emc.bytes_per_second" in names
    assert not any(name.startswith(("tegra.power.", "tegra.temp.")) for name in names)
    assert all(math.isnan(v) for v in collector.collect())


def test_stale_values_become_nan(open_collector, wrapper):
    collector = open_collector(wrapper("--count", "1", after="sleep 300"), stale_after=0.4)
    assert not math.isnan(reading(collector)["tegra.ram.used_bytes"])
    assert wait_for(lambda: math.isnan(reading(collector)["tegra.ram.used_bytes"]), timeout=3.0)


def test_collect_never_waits_for_the_subprocess(open_collector, wrapper):
    collector = open_collector(wrapper())
    started = time.monotonic()
    for _ in range(100):
        collector.collect()
    assert time.monotonic() - started < 0.5


def test_missing_executable_is_unavailable_with_a_reason(tmp_path):
    availability = TegrastatsCollector(cmd=str(tmp_path / "no-tegrastats")).probe()
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
    assert TegrastatsCollector.from_options(CollectorOptions()).cmd == str(REPLAY)
    assert TegrastatsCollector.from_options(CollectorOptions()).probe().available
    options = CollectorOptions(tegrastats_cmd="/opt/x/tegrastats", interval=0.25)
    collector = TegrastatsCollector.from_options(options)
    assert collector.cmd == "/opt/x/tegrastats"
    assert collector.interval_ms == 250


def test_tegrastats_on_path_is_found(monkeypatch, tmp_path):
    fake = tmp_path / "tegrastats"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert TegrastatsCollector().probe().available


@pytest.mark.parametrize(
    "printed, column", [("VDD_GPU_SOC", "vdd_gpu_soc"), ("CV0", "cv0"), ("soc012", "soc012")]
)
def test_names_become_lower_case_columns(printed, column):
    assert column_name(printed) == column
