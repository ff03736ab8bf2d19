"""Per-process GPU memory: which NVML function, which struct, and unknown is never 0 B.

Against the real nvidia-ml-py over the stand-in library of tests/fakenvml.py, which writes process
entries as raw bytes in the driver's layout (nvml.h): 24 bytes {uint pid; ull usedGpuMemory; uint
gpuInstanceId; uint computeInstanceId} for the _v2/_v3 symbols (32 for drivers 535.x before
535.98), 16 bytes {uint pid; ull usedGpuMemory} for the unversioned one. "R470" is a driver without
the _v3 symbols (they came with R510); "R450" one without _v2 either.
"""

from __future__ import annotations

import ctypes
import math
import re
from pathlib import Path

import pytest
from fakenvml import R470_LACKS, FakeGpu, load_pynvml, openers, reading, standin, wheel_version
from fakenvml import proc as _proc

from memmap_tui.tables import tree_gpu_memory_bytes, with_gpu_memory

NV = load_pynvml()
ROOT = Path(__file__).resolve().parent.parent
R450_LACKS = R470_LACKS + ("nvmlDeviceGetComputeRunningProcesses_v2",
                           "nvmlDeviceGetGraphicsRunningProcesses_v2")
PROCESSES = [_proc(4242, 3 * 2**30), _proc(4343, 2**20), _proc(4444, None)]
EXPECTED = [(4242, 3 * 2**30), (4343, 2**20), (4444, None)]


@pytest.fixture
def nvml():
    yield from openers()


def _rows(collector):
    return [(r["pid"], r["used_gpu_memory_bytes"]) for r in collector.table()]


def test_per_process_table_merges_compute_and_graphics_per_gpu(nvml):
    gpu0 = FakeGpu(compute=[_proc(100, 2**30), _proc(200, None)], graphics=[_proc(100, 2**30)])
    gpu1 = FakeGpu(name="NVIDIA A100", compute=[_proc(100, 3 * 2**30)])
    collector, _, _ = nvml(gpu0, gpu1)
    collector.collect()
    rows = sorted(collector.table(), key=lambda r: (r["gpu"], r["pid"]))
    assert rows == [
        {"gpu": 0, "name": "NVIDIA H100 80GB HBM3", "pid": 100,
         "used_gpu_memory_bytes": 2**30, "type": "C+G"},
        {"gpu": 0, "name": "NVIDIA H100 80GB HBM3", "pid": 200,
         "used_gpu_memory_bytes": None, "type": "C"},
        {"gpu": 1, "name": "NVIDIA A100", "pid": 100,
         "used_gpu_memory_bytes": 3 * 2**30, "type": "C"},
    ]
    assert collector.gpu_memory_bytes({100, 999}) == 4 * 2**30


# -- item 1: drivers older than 510 ---------------------------------------------------------------

def test_on_r470_the_wheels_own_call_fails_where_memmap_reads_v2():
    module = standin([FakeGpu(compute=PROCESSES)], driver="470.256.02", hidden=R470_LACKS)
    module.nvmlInit()
    handle = module.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(Exception) as raised:  # the wheel's unversioned call maps to _v3
        module.nvmlDeviceGetComputeRunningProcesses(handle)
    assert type(raised.value).__name__ in ("NVMLLibraryMismatchError",
                                           "NVMLError_FunctionNotFound")


def test_on_r470_every_column_and_the_processes_are_read(nvml):
    collector, lib, _ = nvml(FakeGpu(compute=PROCESSES), driver="470.256.02", hidden=R470_LACKS)
    for _ in range(2):
        r = reading(collector)  # does not raise
    assert r["nvml.gpu0.util_percent"] == 42 and r["nvml.gpu0.mem_used_bytes"] > 0
    assert _rows(collector) == EXPECTED
    assert lib.calls[("nvmlDeviceGetComputeRunningProcesses_v2", 0)] == 4  # count + fill, twice
    assert lib.calls[("lookup", "nvmlDeviceGetComputeRunningProcesses_v3")] == 1  # probed once


def test_without_v2_either_the_unversioned_function_is_read_with_its_own_struct(nvml):
    collector, _, _ = nvml(FakeGpu(compute=PROCESSES), driver="450.248.02", hidden=R450_LACKS)
    collector.collect()
    assert _rows(collector) == EXPECTED


# -- item 2: the process struct --------------------------------------------------------------------

def test_the_installed_wheels_process_struct_is_what_current_drivers_write():
    assert ctypes.sizeof(NV.c_nvmlProcessInfo_v3_t) == 24  # nvml.h nvmlProcessInfo_v2_t


def test_pyproject_requires_a_wheel_whose_struct_matches():
    text = (ROOT / "pyproject.toml").read_text()
    low = re.search(r"nvidia-ml-py\s*>=\s*([0-9.]+)", text).group(1)
    assert tuple(int(x) for x in low.split(".")[:2]) >= (12, 555)
    version = tuple(int(x) for x in wheel_version().split(".")[:2])
    assert version >= (12, 555)


def test_a_driver_writing_32_byte_entries_is_read_through_v2(nvml):
    """Drivers 535.x before 535.98 wrote 32-byte _v3 entries: the wheel's own call scrambles."""
    module = standin([FakeGpu(compute=PROCESSES)], driver="535.54.03")
    module.nvmlInit()
    own = module.nvmlDeviceGetComputeRunningProcesses_v3(module.nvmlDeviceGetHandleByIndex(0))
    assert [(p.pid, p.usedGpuMemory) for p in own] != EXPECTED  # what the issue saw
    collector, _, _ = nvml(FakeGpu(compute=PROCESSES), driver="535.54.03")
    collector.collect()
    assert _rows(collector) == EXPECTED


# -- item 3: unknown is not 0 B --------------------------------------------------------------------

@pytest.mark.parametrize("code", ["NO_PERMISSION", "NOT_SUPPORTED", "UNKNOWN"])
def test_process_lists_that_cannot_be_read_are_unknown_not_empty(nvml, code):
    error = getattr(NV, "NVML_ERROR_" + code)
    gpu = FakeGpu(compute=PROCESSES, errors={"nvmlDeviceGetComputeRunningProcesses_v3": error})
    collector, _, _ = nvml(gpu)
    r = reading(collector)
    assert collector.table() is None
    assert math.isnan(collector.gpu_memory_bytes({4242}))
    assert r["nvml.gpu0.mem_used_bytes"] == 30 * 2**30  # the rest of the GPU is read
    assert collector.field_status()[0]["compute_processes"].startswith("unknown")


def test_unknown_gpu_memory_stays_unknown_for_the_watched_tree(nvml):
    gpu = FakeGpu(compute=PROCESSES, errors={"nvmlDeviceGetComputeRunningProcesses_v3":
                                             NV.NVML_ERROR_NO_PERMISSION})
    collector, _, _ = nvml(gpu)
    collector.collect()
    tables = {"process": [{"pid": 4242, "gpu_memory_bytes": math.nan}]}
    if collector.table() is not None:  # the sampler leaves a None table out of the Reading
        tables["nvml"] = collector.table()
    assert math.isnan(tree_gpu_memory_bytes(tables))
    assert math.isnan(with_gpu_memory(tables)[0]["gpu_memory_bytes"])


def test_no_process_function_at_all_is_unknown(nvml):
    hidden = R450_LACKS + ("nvmlDeviceGetComputeRunningProcesses",)
    collector, _, _ = nvml(FakeGpu(compute=PROCESSES), hidden=hidden)
    collector.collect()
    assert collector.table() is None


def test_one_gpu_unreadable_makes_the_whole_table_unknown(nvml):
    refused = FakeGpu(errors={"nvmlDeviceGetGraphicsRunningProcesses_v3":
                              NV.NVML_ERROR_NO_PERMISSION})
    collector, _, _ = nvml(FakeGpu(compute=PROCESSES), refused)
    collector.collect()
    assert collector.table() is None


def test_a_gpu_with_no_processes_is_a_known_zero(nvml):
    collector, _, _ = nvml(FakeGpu())
    collector.collect()
    assert collector.table() == []
    assert collector.gpu_memory_bytes({4242}) == 0.0


def test_a_lost_gpus_processes_are_unknown(nvml):
    collector, lib, _ = nvml(FakeGpu(compute=PROCESSES), FakeGpu())
    lib.gpus[1].lost = True
    collector.collect()
    assert collector.table() is None
