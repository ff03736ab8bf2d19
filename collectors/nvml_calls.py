"""The one door to NVML: every pynvml call the nvml collector makes goes through `NvmlCalls.call`.

It decides, per error class, what an NVML failure means:
  NotSupported, NoPermission, ArgumentVersionMismatch   that field on that GPU is NaN, logged
                                                        once and not asked again
  FunctionNotFound (or a name this pynvml lacks)         logged once, never asked again anywhere
  GpuIsLost, Unknown, ResetRequired                      DeviceLost: that GPU is degraded
  LibraryNotFound, DriverNotLoaded, Uninitialized, ...   CollectorError with a hint
  anything else (Timeout, NotFound, ...)                 NaN this time, logged once, asked again
A global call (no GPU) that fails for any reason but "unsupported"/"missing" is a CollectorError.

Also here: reading nvmlFieldValue_t unions (`field_number`, `field_bits`) and `CounterField`, a
cumulative byte counter that undoes the wraps of a counter narrower than 64 bits.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Set, Tuple

from memmap_tui.collector import CollectorError

log = logging.getLogger("memmap_tui.nvml")

IMPORT_HINT = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
DRIVER_HINT = "install the NVIDIA driver"

# Error class name (pynvml makes one NVMLError subclass per code) -> what it means.
ERROR_KINDS = {
    "NVMLError_NotSupported": "unsupported",
    "NVMLError_NoPermission": "unsupported",
    "NVMLError_ArgumentVersionMismatch": "unsupported",
    "NVMLError_FunctionNotFound": "missing",
    "NVMLError_GpuIsLost": "lost",
    "NVMLError_Unknown": "lost",
    "NVMLError_ResetRequired": "lost",
    "NVMLError_LibraryNotFound": "broken",
    "NVMLError_DriverNotLoaded": "broken",
    "NVMLError_Uninitialized": "broken",
    "NVMLError_LibRmVersionMismatch": "broken",
}
HINTS = {
    "NVMLError_LibraryNotFound": f"libnvidia-ml.so.1 not found: {DRIVER_HINT}",
    "NVMLError_DriverNotLoaded": f"NVIDIA kernel driver not loaded: {DRIVER_HINT}",
    "NVMLError_LibRmVersionMismatch": "NVML and kernel driver versions differ: reboot",
}


class DeviceLost(Exception):
    """A GPU stopped answering (GpuIsLost / Unknown): only that GPU is degraded."""


def error_kind(exc: BaseException) -> Optional[str]:
    """'unsupported', 'missing', 'lost', 'broken' or 'other' for an NVMLError; None otherwise."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    if "NVMLError" not in names:
        return None
    return next((ERROR_KINDS[n] for n in names if n in ERROR_KINDS), "other")


def field_number(fv: Any) -> float:
    """The number in an nvmlFieldValue_t, read from the union member its valueType names."""
    members = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
    vtype = int(getattr(fv, "valueType", 3))
    member = members[vtype] if 0 <= vtype < len(members) else "ullVal"
    return float(getattr(fv.value, member))


def field_bits(fv: Any) -> Optional[int]:
    """The width of an unsigned field value narrower than 64 bits (uint 32, ushort 16), or None."""
    return {1: 32, 6: 16}.get(int(getattr(fv, "valueType", 3)))


def text(value: Any) -> str:
    """NVML strings arrive as str or bytes depending on the pynvml version."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass
class CounterField:
    """A cumulative byte counter read through nvmlDeviceGetFieldValues."""

    quantity: str  # raw counter name part, e.g. "pcie_rx_bytes"
    request: Any  # field id, or (field id, scope id)
    scale: float  # to bytes
    last: float = math.nan  # the last raw reading, to see a narrow counter wrap
    wraps: int = 0

    def total(self, raw: float, bits: Optional[int]) -> float:
        """Cumulative bytes; a counter narrower than 64 bits gets 2**bits added per wrap seen."""
        if bits is None:
            return raw * self.scale
        if raw < self.last:
            self.wraps += 1
        self.last = raw
        return (raw + self.wraps * 2.0**bits) * self.scale


class NvmlCalls:
    """Holds the pynvml module (given, or imported on first use) and the per-field memory.

    `device` arguments are anything with `.index` (int) and `.skip` (a set of field keys).
    """

    def __init__(self, module: Any = None) -> None:
        self._module = module
        self._missing: Set[str] = set()
        self._logged: Set[Tuple[Any, ...]] = set()
        self.status: Dict[Tuple[Optional[int], str], str] = {}

    @property
    def module(self) -> Any:
        """The pynvml module; CollectorError with the pip hint when it cannot be imported."""
        if self._module is None:
            try:
                import pynvml
            except ImportError as exc:
                raise CollectorError(IMPORT_HINT) from exc
            self._module = pynvml
        return self._module

    def call(self, device: Any, key: str, fn_name: str, *args: Any, **kw: Any) -> Any:
        """`pynvml.<fn_name>(*args, **kw)`, or None where the field is unsupported (-> NaN).

        `key` names the field for the "asked once" memory. Raises DeviceLost for a lost GPU,
        CollectorError for a broken library or driver; non-NVML exceptions propagate.
        """
        if key in self._missing or (device is not None and key in device.skip):
            return None
        fn = getattr(self.module, fn_name, None)
        if fn is None:
            return self._failed(device, key, fn_name, "missing", "not in this nvidia-ml-py")
        try:
            value = fn(*args, **kw)
        except Exception as exc:  # classified below; non-NVML errors re-raised
            kind = error_kind(exc)
            if kind is None:
                raise
            return self._failed(device, key, fn_name, kind, exc)
        self.status[(device.index if device is not None else None, key)] = "ok"
        return value

    def log_once(self, key: Tuple[Any, ...], message: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message)

    def _failed(self, device: Any, key: str, fn_name: str, kind: str, exc: Any) -> None:
        index = device.index if device is not None else None
        where = f"GPU {index}" if device is not None else "NVML"
        self.status[(index, key)] = f"{kind}: {exc}"
        if kind == "missing":
            self._missing.add(key)
            self.log_once(("missing", key), f"{fn_name} not available ({exc}): {key} stays empty")
        elif kind == "unsupported" and device is not None:
            device.skip.add(key)
            self.log_once(("unsupported", index, key), f"{where}: {key} not supported ({exc})")
        elif kind == "lost" and device is not None:
            raise DeviceLost(f"{where}: {fn_name} failed: {exc}")
        elif kind == "other" and device is not None:
            self.log_once(("other", index, key, str(exc)), f"{where}: {fn_name} failed: {exc}")
        elif kind != "unsupported":
            hint = HINTS.get(type(exc).__name__, "")
            raise CollectorError(f"{fn_name} failed: {exc}" + (f" ({hint})" if hint else ""))
        return None
