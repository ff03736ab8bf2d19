"""The nvml collector against several real nvidia-ml-py wheels, over the stand-in library.

Runs where MEMMAP_NVML_WHEELS names a folder of nvidia_ml_py-*.whl files (skipped elsewhere), e.g.
    for v in 11.525.150 12.535.77 12.550.52 12.555.43 13.615.71; do
        pip download -q --no-deps -d /tmp/nvml-wheels nvidia-ml-py==$v; done
    MEMMAP_NVML_WHEELS=/tmp/nvml-wheels pytest tests/test_nvml_wheels.py
Each wheel's own structures and error classes meet drivers of every generation: R450 (no _v2
process symbols), R470 (no _v3, no GPM), 535.54 (32-byte _v3 entries), 535.104 and 560 (24 bytes).
"""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

import pytest
from fakenvml import R470_LACKS, FakeGpu, _pynvml_py, openers, reading, wheel_version
from fakenvml import proc as _proc

ROOT = Path(__file__).resolve().parent.parent
FOLDER = os.environ.get("MEMMAP_NVML_WHEELS")
WHEELS = sorted(Path(FOLDER).glob("nvidia_ml_py-*.whl")) if FOLDER else []
R450_LACKS = R470_LACKS + ("nvmlDeviceGetComputeRunningProcesses_v2",
                           "nvmlDeviceGetGraphicsRunningProcesses_v2")
DRIVERS = {"450.248.02": R450_LACKS, "470.256.02": R470_LACKS, "535.54.03": (),
           "535.104.05": (), "560.35.03": ()}
PROCESSES = [_proc(4242, 3 * 2**30), _proc(4343, 2**20), _proc(4444, None)]
EXPECTED = [(4242, 3 * 2**30), (4343, 2**20), (4444, None)]

pytestmark = pytest.mark.skipif(not WHEELS, reason="MEMMAP_NVML_WHEELS names no folder of wheels")


@pytest.fixture
def nvml():
    yield from openers()


def _ids(path: Path) -> str:
    return wheel_version(str(path))


@pytest.mark.parametrize("wheel", WHEELS, ids=_ids)
@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_wheel_reads_the_processes_right_on_every_driver(nvml, wheel, driver):
    gpu = FakeGpu(compute=PROCESSES, graphics=[_proc(4242, 3 * 2**30)])
    collector, _, _ = nvml(gpu, source=_pynvml_py(wheel), driver=driver, hidden=DRIVERS[driver])
    r = reading(collector)
    assert r["nvml.gpu0.util_percent"] == 42
    assert sorted((row["pid"], row["used_gpu_memory_bytes"]) for row in collector.table()) == \
        sorted(EXPECTED)


@pytest.mark.parametrize("wheel", WHEELS, ids=_ids)
def test_every_wheel_gives_pcie_and_gpm(nvml, wheel):
    collector, _, clock = nvml(FakeGpu(), source=_pynvml_py(wheel))
    clock.now += 0.5
    r = reading(collector)
    version = tuple(int(x) for x in _ids(wheel).split(".")[:2])
    assert collector.pcie_source == ("field_counters" if version >= (12, 555) else "throughput")
    assert r["nvml.gpu0.sm_active_percent"] == 63.5
    assert r["nvml.gpu0.temperature_celsius"] == 61


@pytest.mark.parametrize("wheel", WHEELS, ids=_ids)
def test_the_pin_leaves_out_every_wheel_whose_process_struct_differs(wheel):
    from fakenvml import load_pynvml

    module = load_pynvml(_pynvml_py(wheel))
    struct = getattr(module, "c_nvmlProcessInfo_v3_t", None) or module.c_nvmlProcessInfo_t
    text = (ROOT / "pyproject.toml").read_text()
    low = tuple(int(x) for x in re.search(r"nvidia-ml-py\s*>=\s*([0-9.]+)", text).group(1)
                .split(".")[:3])
    if ctypes.sizeof(struct) != 24:
        assert tuple(int(x) for x in _ids(wheel).split(".")[:3]) < low
