"""The nvml collector against several real nvidia-ml-py wheels, over the stand-in library.

The wheels (VERSIONS, from before the _v2 process functions to today's) are fetched once with
`pip download` from the package index the install used, into MEMMAP_NVML_WHEELS if set, else a
cache folder; a wheel that cannot be fetched fails its tests (it is not hardware that is absent).
Each wheel's own structures and error classes meet drivers of every generation: R450 (no _v2
process symbols), R470 (no _v3, no GPM), 535.54 (32-byte _v3 entries), 535.104 and 560 (24 bytes).
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fakenvml import R470_LACKS, FakeGpu, _pynvml_py, openers, reading, wheel_version
from fakenvml import proc as _proc

ROOT = Path(__file__).resolve().parent.parent
FOLDER = Path(os.environ.get("MEMMAP_NVML_WHEELS")
              or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
              / "memmap-tests" / "nvml-wheels")
VERSIONS = ("11.525.150", "12.535.77", "12.535.161", "12.550.52", "12.555.43", "12.560.30",
            "12.570.86", "12.575.51", "13.580.65", "13.590.48", "13.615.71")
R450_LACKS = R470_LACKS + ("nvmlDeviceGetComputeRunningProcesses_v2",
                           "nvmlDeviceGetGraphicsRunningProcesses_v2")
DRIVERS = {"450.248.02": R450_LACKS, "470.256.02": R470_LACKS, "535.54.03": (),
           "535.104.05": (), "560.35.03": ()}
PROCESSES = [_proc(4242, 3 * 2**30), _proc(4343, 2**20), _proc(4444, None)]
EXPECTED = [(4242, 3 * 2**30), (4343, 2**20), (4444, None)]



def fetch(version: str) -> Path:
    """The wheel of nvidia-ml-py `version`, downloaded once into FOLDER."""
    found = sorted(FOLDER.glob(f"nvidia_ml_py-{version}-*.whl"))
    if not found:
        FOLDER.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                              "--only-binary=:all:", "-d", str(FOLDER),
                              f"nvidia-ml-py=={version}"], capture_output=True, text=True,
                             timeout=300)
        found = sorted(FOLDER.glob(f"nvidia_ml_py-{version}-*.whl"))
        assert found, f"cannot download nvidia-ml-py=={version}: {out.stderr.strip()[-300:]}"
    return found[-1]


@pytest.fixture
def nvml():
    yield from openers()


def _ids(path: Path) -> str:
    return wheel_version(str(path))


@pytest.fixture(params=VERSIONS)
def wheel(request: pytest.FixtureRequest) -> Path:
    return fetch(request.param)


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_every_wheel_reads_the_processes_right_on_every_driver(nvml, wheel, driver):
    gpu = FakeGpu(compute=PROCESSES, graphics=[_proc(4242, 3 * 2**30)])
    collector, _, _ = nvml(gpu, source=_pynvml_py(wheel), driver=driver, hidden=DRIVERS[driver])
    r = reading(collector)
    assert r["nvml.gpu0.util_percent"] == 42
    assert sorted((row["pid"], row["used_gpu_memory_bytes"]) for row in collector.table()) == \
        sorted(EXPECTED)


def test_every_wheel_gives_pcie_and_gpm(nvml, wheel):
    collector, _, clock = nvml(FakeGpu(), source=_pynvml_py(wheel))
    clock.now += 0.5
    r = reading(collector)
    version = tuple(int(x) for x in _ids(wheel).split(".")[:2])
    assert collector.pcie_source == ("field_counters" if version >= (12, 555) else "throughput")
    assert r["nvml.gpu0.sm_active_percent"] == 63.5
    assert r["nvml.gpu0.temperature_celsius"] == 61


def test_the_pin_leaves_out_every_wheel_whose_process_struct_differs(wheel):
    from fakenvml import load_pynvml

    module = load_pynvml(_pynvml_py(wheel))
    struct = getattr(module, "c_nvmlProcessInfo_v3_t", None) or module.c_nvmlProcessInfo_t
    text = (ROOT / "pyproject.toml").read_text()
    low = tuple(int(x) for x in re.search(r"nvidia-ml-py\s*>=\s*([0-9.]+)", text).group(1)
                .split(".")[:3])
    if ctypes.sizeof(struct) != 24:
        assert tuple(int(x) for x in _ids(wheel).split(".")[:3]) < low
