"""Per-process GPU memory from NVML, whatever the driver and nvidia-ml-py: which function, which
struct.

The driver writes an array of process entries whose layout depends on the symbol called (nvml.h):
  nvmlDevice{Compute,Graphics}RunningProcesses_v3   nvmlProcessInfo_t, 24 bytes {uint pid; ull
                                                    usedGpuMemory; uint gpuInstanceId; uint
                                                    computeInstanceId} (R510 and later); drivers
                                                    535.x before 535.98 wrote 32 (a trailing ull
                                                    usedGpuCcProtectedMemory, dropped again)
  ..._v2                                            the same 24 bytes (R470 and later)
  the unversioned symbol                            nvmlProcessInfo_v1_t, 16 bytes {uint pid;
                                                    ull usedGpuMemory} (every driver)
nvidia-ml-py's unversioned wrapper calls `_v3` (and since 12.550 raises NVMLLibraryMismatchError,
a plain Exception, where the driver lacks it: R470 and older), and reads the entries with its own
struct, which was 32 bytes in 12.535.77 only. A struct that does not match what the driver writes
scrambles every entry after the first (the second process's PID read as a memory size).

So `ProcessLists` calls the versioned symbols newest first, skips one whose struct in this
nvidia-ml-py differs from what this driver writes (saying why, once), and ends with the
unversioned symbol read through our own 16-byte struct. A list that cannot be read (NoPermission
on a MIG GPU for non-root, NotSupported, no usable symbol) is None: unknown, never an empty list.
"""

from __future__ import annotations

import ctypes
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from .nvml_calls import NvmlCalls, text

KINDS = ("Compute", "Graphics")
V2_BYTES = 24  # nvmlProcessInfo_v2_t / nvmlProcessInfo_t since R470
CC_BYTES = 32  # the same plus usedGpuCcProtectedMemory: drivers 535.x, x < 98
NOT_AVAILABLE = 0xFFFFFFFFFFFFFFFF  # NVML_VALUE_NOT_AVAILABLE for an unsigned long long


class ProcessInfoV1(ctypes.Structure):
    """nvml.h nvmlProcessInfo_v1_t: what the unversioned symbol writes."""

    _fields_ = [("pid", ctypes.c_uint), ("usedGpuMemory", ctypes.c_ulonglong)]


class LegacyProcess:
    """One v1 entry as nvidia-ml-py's friendly objects look: `.pid`, `.usedGpuMemory`."""

    def __init__(self, pid: int, used: Optional[int]) -> None:
        self.pid, self.usedGpuMemory = pid, used


def driver_bytes(symbol_version: str, driver: str) -> int:
    """Bytes per entry that `driver` writes for the `_v3` / `_v2` symbol."""
    m = re.match(r"(\d+)\.(\d+)", driver)
    if symbol_version == "v3" and m and int(m.group(1)) == 535 and int(m.group(2)) < 98:
        return CC_BYTES
    return V2_BYTES


def wheel_bytes(module: Any, symbol_version: str) -> Optional[int]:
    """Bytes per entry nvidia-ml-py reads for the `_v3` / `_v2` wrapper; None without one."""
    names = {"v3": ("c_nvmlProcessInfo_v3_t", "c_nvmlProcessInfo_t"),
             "v2": ("c_nvmlProcessInfo_v2_t",)}[symbol_version]
    struct = next((getattr(module, n) for n in names if hasattr(module, n)), None)
    return ctypes.sizeof(struct) if struct is not None else None


def legacy_reader(module: Any, kind: str) -> Callable[[Any], List[LegacyProcess]]:
    """A reader of the unversioned `nvmlDeviceGet<kind>RunningProcesses` symbol (v1 entries),
    through nvidia-ml-py's own symbol lookup and errors."""
    symbol = f"nvmlDeviceGet{kind}RunningProcesses"

    def read(handle: Any) -> List[LegacyProcess]:
        fn = module._nvmlGetFunctionPointer(symbol)
        count = ctypes.c_uint(0)
        ret = fn(handle, ctypes.byref(count), None)
        if ret == module.NVML_SUCCESS:
            return []
        if ret != module.NVML_ERROR_INSUFFICIENT_SIZE:
            raise module.NVMLError(ret)
        count.value = count.value * 2 + 5  # room for processes started meanwhile
        entries = (ProcessInfoV1 * count.value)()
        module._nvmlCheckReturn(fn(handle, ctypes.byref(count), entries))
        return [LegacyProcess(e.pid, None if e.usedGpuMemory == NOT_AVAILABLE
                              else e.usedGpuMemory) for e in entries[:count.value]]

    read.__name__ = symbol
    return read


class ProcessLists:
    """Reads a GPU's compute and graphics process lists through the one NVML door."""

    def __init__(self, calls: NvmlCalls, driver: str) -> None:
        self._calls = calls
        self._driver = driver
        self._chains: Dict[str, List[Tuple[str, Any]]] = {}

    def read(self, gpu: Any) -> Optional[List[Tuple[Any, str]]]:
        """[(process entry, "C" or "G")], or None when either list is unknown."""
        found: List[Tuple[Any, str]] = []
        for kind in KINDS:
            entries = self._read_list(gpu, kind)
            if entries is None:
                return None
            found += [(e, kind[0]) for e in entries]
        return found

    def _read_list(self, gpu: Any, kind: str) -> Optional[List[Any]]:
        key = kind.lower() + "_processes"
        if kind not in self._chains:
            self._chains[kind] = self._chain(kind)
        for version, fn in self._chains[kind]:
            vkey = f"{key}_{version}"
            if self._calls.is_missing(vkey):
                continue
            entries = self._calls.call(gpu, vkey, fn, gpu.handle)
            if entries is None and self._calls.is_missing(vkey):
                continue
            if entries is None:
                self._calls.note(gpu, key, f"unknown: {vkey} did not answer")
            else:
                self._calls.note(gpu, key, f"ok, {vkey}")
            return entries
        self._calls.note(gpu, key, "unknown: no process function of this driver is readable")
        return None

    def _chain(self, kind: str) -> List[Tuple[str, Any]]:
        """(version, function) newest first, leaving out those whose struct does not match."""
        module = self._calls.module
        chain: List[Tuple[str, Any]] = []
        for version in ("v3", "v2"):
            name = f"nvmlDeviceGet{kind}RunningProcesses_{version}"
            size, wanted = wheel_bytes(module, version), driver_bytes(version, self._driver)
            if not hasattr(module, name) or size is None:
                continue
            if size != wanted:
                cure = ("driver 535.98 or later writes 24" if wanted == CC_BYTES
                        else "install nvidia-ml-py >= 12.555.43")
                self._calls.log_once(("struct", name), (
                    f"{name}: nvidia-ml-py reads {size}-byte entries, driver "
                    f"{text(self._driver)} writes {wanted}: using an older function ({cure})"))
                continue
            chain.append((version, name))
        chain.append(("v1", legacy_reader(module, kind)))
        return chain
