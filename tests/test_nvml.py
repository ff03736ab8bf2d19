"""The nvml collector against the real nvidia-ml-py over a stand-in NVML library.

The hardware is faked at one thin adapter, the shared library beneath nvidia-ml-py
(tests/fakenvml.py): the wheel's own structures, wrappers and error classes run unchanged, and a
symbol a driver lacks is missing as from a real libnvidia-ml.so.1. By default the installed wheel;
MEMMAP_NVML_WHEEL=path/to/nvidia_ml_py-X.whl runs the same tests against another. The last test
runs against the real driver and skips where there is none.
"""

from __future__ import annotations

import logging
import math
import runpy
import sys
from pathlib import Path

import pytest
from fakenvml import FakeClock, FakeGpu, load_pynvml, openers, reading, standin
from fakenvml import proc as _proc
from memmap_tui.collectors.gpu_common import pcie_link_max_bytes_per_second, sum_gpu_memory
from memmap_tui.collectors.nvml import NvmlCollector
from memmap_tui.collectors.nvml_calls import UNSUPPORTED_RETRY_SECONDS, error_kind

from memmap_tui import roles
from memmap_tui.catalog import spec_for_column
from memmap_tui.collector import CollectorError
from memmap_tui.model import DEVICE, Schema

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_nvml.py"
__all__ = ["FakeGpu", "FakeNvml", "_proc"]  # test_prom_docs builds its nvml from these


def FakeNvml(gpus, **lib_options):  # noqa: N802 - the name test_prom_docs imports
    """nvidia-ml-py over a stand-in library with `gpus`."""
    return standin(gpus, **lib_options)


@pytest.fixture
def nvml():
    yield from openers()


NV = load_pynvml()  # the wheel under test, for its constants


def error(name: str) -> int:
    """An nvml.h return code, as the wheel names it (NVML_ERROR_NOT_SUPPORTED...)."""
    return int(getattr(NV, "NVML_ERROR_" + name))


# -- values, names, meaning ------------------------------------------------------------------------

def test_normal_values_arrive_in_base_units_under_contract_names(nvml):
    collector, _, _ = nvml()
    r = reading(collector)
    assert r["nvml.gpu0.util_percent"] == 42
    assert r["nvml.gpu0.mem_util_percent"] == 17
    assert r["nvml.gpu0.mem_used_bytes"] == 30 * 2**30
    assert r["nvml.gpu0.mem_total_bytes"] == 80 * 2**30
    assert r["nvml.gpu0.mem_reserved_bytes"] == 512 * 2**20
    assert r["nvml.gpu0.bar1_used_bytes"] == 12 * 2**20
    assert r["nvml.gpu0.bar1_total_bytes"] == 128 * 2**30
    assert r["nvml.gpu0.pcie_link_gen"] == 5
    assert r["nvml.gpu0.pcie_link_width"] == 16
    assert r["nvml.gpu0.power_watts"] == 312.5
    assert r["nvml.gpu0.temperature_celsius"] == 61
    assert r["nvml.gpu0.sm_clock_mhz"] == 1980
    assert r["nvml.gpu0.mem_clock_mhz"] == 2619


def test_contract_columns_exist_for_every_gpu(nvml):
    collector, _, _ = nvml(FakeGpu(), FakeGpu(pcie_counters=False))
    columns = Schema(collector.metrics()).columns
    for i in (0, 1):
        for quantity in ("util_percent", "mem_used_bytes", "pcie_rx_bytes_per_second",
                         "pcie_tx_bytes_per_second"):
            assert f"nvml.gpu{i}.{quantity}" in columns


def test_specs_carry_gpu_index_and_name_as_labels_for_prometheus(nvml):
    collector, _, _ = nvml()
    spec = next(s for s in collector.metrics() if s.name == "nvml.gpu0.util_percent")
    assert spec.family == "nvml.gpu.util_percent"
    assert dict(spec.labels) == {"gpu": "0", "name": "NVIDIA H100 80GB HBM3"}


def _meaning(collector, column):
    s = Schema(collector.metrics()).spec(column)
    assert s is not None, column
    return s.label, s.pane, s.roles, s.total, s.notes, s.rank


def test_specs_say_what_each_metric_is_for(nvml):
    collector, _, _ = nvml(FakeGpu(), FakeGpu(nvlink=True))
    g = "nvml.gpu1"
    flow = (roles.THROUGHPUT_FLOW, roles.DEVICE)
    pcie = (roles.THROUGHPUT_FLOW, roles.HOST_TO_DEVICE, roles.DEVICE)
    assert _meaning(collector, f"{g}.mem_used_bytes") == (
        "GPU1 mem", roles.MEMORY, (roles.GPU_MEMORY, roles.DEVICE), f"{g}.mem_total_bytes", (), 40)
    for d in ("rx", "tx"):
        assert _meaning(collector, f"{g}.pcie_{d}_bytes_per_second") == (
            f"GPU1 PCIe {d}", roles.THROUGHPUT, pcie, f"{g}.pcie_link_max_bytes_per_second", (),
            20)
        assert _meaning(collector, f"{g}.nvlink_{d}_bytes_per_second") == (
            f"GPU1 NVLink {d}", roles.THROUGHPUT, flow, "", (), 21)
    gpu = roles.GPU
    assert _meaning(collector, f"{g}.util_percent") == (
        "GPU1 util", gpu, (roles.GPU_UTIL, roles.DEVICE), "", (), 10)
    assert _meaning(collector, f"{g}.mem_util_percent")[:2] == ("GPU1 mem util", gpu)
    assert _meaning(collector, f"{g}.mem_util_percent")[5] == 11
    assert _meaning(collector, f"{g}.power_watts") == (
        "GPU1 power", gpu, (roles.DEVICE,), "", ((f"{g}.temperature_celsius", "{}"),), 12)
    assert _meaning(collector, f"{g}.sm_clock_mhz") == (
        "GPU1 clocks", gpu, (roles.DEVICE,), "", ((f"{g}.mem_clock_mhz", "mem {}"),), 13)
    assert _meaning(collector, f"{g}.sm_active_percent") == (
        "GPU1 SM active", gpu, (roles.GPU_ACTIVITY, roles.DEVICE), "", (), 10)
    assert _meaning(collector, f"{g}.dram_bw_util_percent")[:3] == (
        "GPU1 DRAM bw", gpu, (roles.GPU_DRAM_BW, roles.DEVICE))


def test_catalog_is_what_open_declares_for_a_gpu_that_has_everything(nvml):
    collector, _, _ = nvml(FakeGpu(nvlink=True, name=""))
    live = [s.name.replace("gpu0", "gpu" + DEVICE) for s in collector.metrics()]
    assert [s.name for s in NvmlCollector.catalog()] == live
    assert all(DEVICE in s.name for s in NvmlCollector.catalog())


def test_a_recordings_gpu_columns_get_their_meaning_without_a_gpu():
    spec = spec_for_column("nvml.gpu3.pcie_rx_bytes_per_second")
    assert (spec.label, spec.pane, spec.total) == (
        "GPU3 PCIe rx", roles.THROUGHPUT, "nvml.gpu3.pcie_link_max_bytes_per_second")
    assert spec_for_column("nvml.gpu2.sm_active_percent").has(roles.GPU_ACTIVITY)
    assert spec_for_column("nvml.gpu0.power_watts").notes == (
        ("nvml.gpu0.temperature_celsius", "{}"),)


def test_every_role_used_is_in_the_vocabulary():
    used = {r for s in NvmlCollector.catalog() for r in s.roles}
    assert used <= set(roles.ROLES)


# -- what each NVML error means (nvml_calls) -------------------------------------------------------

def test_not_supported_field_is_nan_and_asked_only_once(nvml):
    collector, lib, _ = nvml(FakeGpu(errors={"nvmlDeviceGetPowerUsage": error("NOT_SUPPORTED")}))
    for _ in range(3):
        r = reading(collector)
        assert math.isnan(r["nvml.gpu0.power_watts"])
        assert r["nvml.gpu0.util_percent"] == 42
    assert lib.calls[("nvmlDeviceGetPowerUsage", 0)] == 1


def test_an_unsupported_field_is_asked_again_after_a_long_backoff(nvml):
    """On MIG, what a GPU supports changes as instances come and go: no restart needed."""
    gpu = FakeGpu(errors={"nvmlDeviceGetPowerUsage": error("NOT_SUPPORTED")})
    collector, lib, clock = nvml(gpu)
    reading(collector)
    clock.now += UNSUPPORTED_RETRY_SECONDS / 2
    reading(collector)
    assert lib.calls[("nvmlDeviceGetPowerUsage", 0)] == 1
    del gpu.errors["nvmlDeviceGetPowerUsage"]
    clock.now += UNSUPPORTED_RETRY_SECONDS
    assert reading(collector)["nvml.gpu0.power_watts"] == 312.5
    assert lib.calls[("nvmlDeviceGetPowerUsage", 0)] == 2


def test_no_permission_is_treated_like_not_supported(nvml):
    collector, lib, _ = nvml(FakeGpu(errors={"nvmlDeviceGetBAR1MemoryInfo":
                                             error("NO_PERMISSION")}))
    for _ in range(2):
        assert math.isnan(reading(collector)["nvml.gpu0.bar1_used_bytes"])
    assert lib.calls[("nvmlDeviceGetBAR1MemoryInfo", 0)] == 1


def test_a_symbol_the_driver_lacks_is_logged_once_and_not_retried(nvml, caplog):
    with caplog.at_level(logging.WARNING, logger="memmap_tui.nvml"):
        collector, lib, _ = nvml(FakeGpu(), FakeGpu(), hidden=["nvmlDeviceGetMemoryInfo_v2"])
        for _ in range(3):
            r = reading(collector)
    assert len([m for m in caplog.messages if "memory_v2" in m]) == 1
    assert lib.calls[("lookup", "nvmlDeviceGetMemoryInfo_v2")] == 1  # looked up once, for GPU 0
    assert r["nvml.gpu1.mem_used_bytes"] == 30 * 2**30 + 512 * 2**20  # v1 counts reserved as used
    assert math.isnan(r["nvml.gpu1.mem_reserved_bytes"])


def test_a_function_missing_from_the_wheel_is_nan_not_an_error():
    module = standin([FakeGpu()])
    del module.nvmlDeviceGetBAR1MemoryInfo
    collector = NvmlCollector(nvml=module)
    collector.open()
    try:
        r = reading(collector)
    finally:
        collector.close()
    assert math.isnan(r["nvml.gpu0.bar1_used_bytes"])
    assert r["nvml.gpu0.util_percent"] == 42


def test_unknown_from_one_field_blanks_that_field_only_and_is_asked_again(nvml):
    collector, lib, _ = nvml(FakeGpu(errors={"nvmlDeviceGetUtilizationRates": error("UNKNOWN")}))
    for _ in range(3):
        r = reading(collector)
        assert math.isnan(r["nvml.gpu0.util_percent"])
        assert r["nvml.gpu0.mem_used_bytes"] == 30 * 2**30
    assert collector.degraded_gpus == []
    assert lib.calls[("nvmlDeviceGetUtilizationRates", 0)] == 3


@pytest.mark.parametrize("code", ["GPU_IS_LOST", "RESET_REQUIRED"])
def test_lost_gpu_is_degraded_while_the_other_goes_on_then_recovers(nvml, code):
    collector, lib, clock = nvml(FakeGpu(), FakeGpu(util=7))
    lib.gpus[1].errors["nvmlDeviceGetUtilizationRates"] = error(code)
    r = reading(collector)
    assert r["nvml.gpu0.util_percent"] == 42
    assert math.isnan(r["nvml.gpu1.util_percent"])
    assert math.isnan(r["nvml.gpu1.mem_used_bytes"])
    assert collector.degraded_gpus == [1]

    before = lib.calls[("handle", 1)]
    reading(collector)  # within the backoff: GPU 1 is not asked at all
    assert lib.calls[("handle", 1)] == before

    del lib.gpus[1].errors["nvmlDeviceGetUtilizationRates"]
    clock.now += 1.0
    assert reading(collector)["nvml.gpu1.util_percent"] == 7
    assert collector.degraded_gpus == []


def test_lost_gpu_backoff_grows_while_it_stays_lost(nvml):
    collector, lib, clock = nvml(FakeGpu())
    lib.gpus[0].lost = True
    collector.collect()
    retries = []
    for _ in range(8):
        clock.now += 1.1
        collector.collect()
        retries.append(lib.calls[("handle", 0)])
    assert retries == sorted(retries)
    assert retries[-1] - retries[0] < 6  # asked at 0.5, 1, 2, 4 ... s, not every tick


def test_broken_driver_during_collect_raises_collector_error(nvml):
    collector, _, _ = nvml(FakeGpu(errors={"nvmlDeviceGetUtilizationRates":
                                           error("DRIVER_NOT_LOADED")}))
    with pytest.raises(CollectorError, match="install the NVIDIA driver"):
        collector.collect()


def test_other_nvml_errors_are_nan_this_time_and_asked_again(nvml):
    collector, lib, _ = nvml(FakeGpu(errors={"nvmlDeviceGetClockInfo": error("TIMEOUT")}))
    for _ in range(2):
        assert math.isnan(reading(collector)["nvml.gpu0.sm_clock_mhz"])
    assert lib.calls[("nvmlDeviceGetClockInfo", 0)] == 4  # SM and memory clock, twice


def test_library_mismatch_error_means_missing_not_a_crash():
    module = load_pynvml()
    if not hasattr(module, "NVMLLibraryMismatchError"):
        pytest.skip("this nvidia-ml-py has no NVMLLibraryMismatchError")
    assert error_kind(module.NVMLLibraryMismatchError("x")) == "missing"
    assert error_kind(module.NVMLError(module.NVML_ERROR_UNKNOWN)) == "other"
    assert error_kind(module.NVMLError(module.NVML_ERROR_GPU_IS_LOST)) == "lost"
    assert error_kind(ValueError()) is None


# -- probe, and GPUs NVML refuses ------------------------------------------------------------------

def test_missing_library_makes_probe_unavailable_with_pip_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError
    avail = NvmlCollector().probe()
    assert not avail.available
    assert "pip install nvidia-ml-py" in avail.reason


def test_no_shared_library_makes_probe_unavailable_with_driver_hint():
    module = load_pynvml()  # nvmlLib None: the wheel tries libnvidia-ml.so.1 itself
    avail = NvmlCollector(nvml=module).probe()
    assert not avail.available
    assert "install the NVIDIA driver" in avail.reason


def test_driver_not_loaded_makes_probe_unavailable_with_driver_hint():
    module = standin([FakeGpu()], init_error=error("DRIVER_NOT_LOADED"))
    avail = NvmlCollector(nvml=module).probe()
    assert not avail.available
    assert "install the NVIDIA driver" in avail.reason


def test_probe_with_a_gpu_is_available_and_releases_nvml():
    module = standin([FakeGpu()])
    avail = NvmlCollector(nvml=module).probe()
    assert avail.available and "560.35.03" in avail.reason
    assert module.nvmlLib.initialised == 0


def test_probe_without_gpus_is_unavailable():
    assert not NvmlCollector(nvml=standin([])).probe().available


@pytest.mark.parametrize("code", ["NO_PERMISSION", "GPU_IS_LOST", "INSUFFICIENT_POWER"])
def test_a_gpu_whose_handle_is_refused_is_left_out_and_said_so(nvml, caplog, code):
    with caplog.at_level(logging.WARNING, logger="memmap_tui.nvml"):
        collector, _, _ = nvml(FakeGpu(handle_error=error(code)), FakeGpu(util=7))
    names = [s.name for s in collector.metrics()]
    assert not any(n.startswith("nvml.gpu0.") for n in names)
    assert reading(collector)["nvml.gpu1.util_percent"] == 7  # NVML's index, not renumbered
    assert list(collector.left_out) == [0]
    assert any("GPU 0 left out" in m for m in caplog.messages)
    assert "unknown" not in collector.system_info().values()


def test_probe_says_which_gpu_is_left_out_and_is_unavailable_when_all_are():
    refused = FakeGpu(handle_error=error("NO_PERMISSION"))
    avail = NvmlCollector(nvml=standin([FakeGpu(), refused])).probe()
    assert avail.available and "GPU 1 left out" in avail.reason
    avail = NvmlCollector(nvml=standin([refused])).probe()
    assert not avail.available and "no GPU answers" in avail.reason


# -- temperature -------------------------------------------------------------------------------

def test_temperature_prefers_the_versioned_call(nvml):
    collector, lib, _ = nvml()
    assert reading(collector)["nvml.gpu0.temperature_celsius"] == 61
    if hasattr(NV, "nvmlDeviceGetTemperatureV"):
        assert lib.calls[("nvmlDeviceGetTemperature", 0)] == 0
        assert lib.calls[("nvmlDeviceGetTemperatureV", 0)] == 1


def test_temperature_falls_back_where_the_driver_lacks_the_versioned_call(nvml):
    collector, lib, _ = nvml(hidden=["nvmlDeviceGetTemperatureV"])
    for _ in range(2):
        assert reading(collector)["nvml.gpu0.temperature_celsius"] == 61
    assert lib.calls[("nvmlDeviceGetTemperature", 0)] == 2


# -- links, helpers ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "gen, width, expected",
    [
        (1, 16, 4.0e9),
        (2, 16, 8.0e9),
        (3, 16, 8e9 * 128 / 130 / 8 * 16),
        (4, 16, 16e9 * 128 / 130 / 8 * 16),
        (5, 16, 32e9 * 128 / 130 / 8 * 16),
        (6, 16, 64e9 * 242 / 256 / 8 * 16),
        (4, 8, 16e9 * 128 / 130 / 8 * 8),
    ],
)
def test_link_max_bytes_per_second_table(gen, width, expected):
    assert pcie_link_max_bytes_per_second(gen, width) == pytest.approx(expected)


@pytest.mark.parametrize("gen, width", [(None, 16), (3, None), (0, 16), (9, 16)])
def test_link_max_is_nan_for_unknown_links(gen, width):
    assert math.isnan(pcie_link_max_bytes_per_second(gen, width))


def test_link_max_column_follows_the_current_link(nvml):
    collector, _, _ = nvml(FakeGpu(link_gen=3, link_width=8))
    r = reading(collector)
    assert r["nvml.gpu0.pcie_link_max_bytes_per_second"] == pytest.approx(7.876923e9)


def test_sum_gpu_memory_by_pid_set():
    rows = [{"pid": 1, "used_gpu_memory_bytes": 10}, {"pid": 2, "used_gpu_memory_bytes": None},
            {"pid": 3, "used_gpu_memory_bytes": 5}]
    assert sum_gpu_memory(rows, {1, 3}) == 15
    assert sum_gpu_memory(rows, {4}) == 0.0
    assert math.isnan(sum_gpu_memory(rows, {2}))
    assert sum_gpu_memory(rows, {1, 2}) == 10


def test_collect_matches_metrics_and_close_is_idempotent():
    module = standin([FakeGpu(), FakeGpu(pcie_counters=False, nvlink=True)])
    collector = NvmlCollector(nvml=module, clock=FakeClock())
    collector.open()
    assert len(collector.collect()) == len(collector.metrics())
    collector.close()
    collector.close()
    assert module.nvmlLib.calls[("nvmlShutdown", None)] == 1
    assert module.nvmlLib.initialised == 0


def test_field_status_reports_what_answered(nvml):
    collector, _, _ = nvml(FakeGpu(errors={"nvmlDeviceGetPowerUsage": error("NOT_SUPPORTED")}))
    collector.collect()
    status = collector.field_status()[0]
    assert status["util"] == "ok"
    assert status["power"].startswith("unsupported")
    assert status["pcie_rx_bytes"] == "ok, valueType 3"


# -- scripts/check_nvml.py -------------------------------------------------------------------------

def _script_main():
    return runpy.run_path(str(SCRIPT), run_name="check_nvml")


def test_check_nvml_script_prints_versions_metrics_and_field_status(monkeypatch, capsys):
    module = standin([FakeGpu(errors={"nvmlDeviceGetPowerUsage": error("NOT_SUPPORTED")},
                              compute=[_proc(4242, 2**30)], nvlink=True),
                      FakeGpu(handle_error=error("NO_PERMISSION"))])
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert _script_main()["main"](["--interval", "0.15"]) == 0
    out = capsys.readouterr().out
    assert "driver: 560.35.03" in out and "gpu0: NVIDIA H100 80GB HBM3" in out
    assert "gpu1: left out (no columns): " in out
    assert "pcie_source: field_counters" in out
    assert "-> nvml.gpu0.pcie_rx_bytes_per_second = NaN" in out  # no new field timestamp
    assert "nvml.gpu0.sm_active_percent" in out and "63.5" in out
    assert "pcie_rx_bytes" in out and "ok, valueType 3" in out
    assert "nvlink_rx_bytes" in out and "all links" in out
    assert "unsupported" in out and "'pid': 4242" in out
    assert module.nvmlLib.initialised == 0


def test_check_nvml_script_exits_2_with_one_line_without_a_driver(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynvml", load_pynvml())  # no libnvidia-ml.so.1 here
    assert _script_main()["run"]([]) == 2
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "install the NVIDIA driver" in out[0]


def test_check_nvml_script_says_an_unexpected_error_in_one_line(monkeypatch, capsys):
    module = standin([FakeGpu()])
    module.nvmlDeviceGetCount = lambda: 1 / 0
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert _script_main()["run"]([]) in (1, 2)
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.gpu
def test_real_driver_answers():
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except Exception:
        pytest.skip("no NVIDIA GPU/driver here")
    collector = NvmlCollector()
    assert collector.probe().available
    collector.open()
    try:
        r = dict(zip((s.name for s in collector.metrics()), collector.collect()))
        assert len(r) == len(collector.metrics())
        assert r["nvml.gpu0.mem_total_bytes"] > 0
        assert 0 <= r["nvml.gpu0.util_percent"] <= 100
        assert collector.pcie_source in ("field_counters", "throughput", "mixed")
        assert collector.table() is None or isinstance(collector.table(), list)
    finally:
        collector.close()
