"""The one door to NVML: every pynvml call the nvml collector makes goes through `NvmlCalls.call`.

It decides, per error class, what an NVML failure means (codes from nvml.h's nvmlReturn_t; pynvml
raises one NVMLError subclass per code, NVMLError_<Name>):
  NotSupported (3), NoPermission (4), ArgumentVersionMismatch (25)
        that field on that GPU is NaN, logged once, asked again only after a long backoff
        (slow.Backoff from UNSUPPORTED_RETRY_SECONDS): on a MIG GPU what is supported changes
        as instances come and go, without a restart
  FunctionNotFound (13), a name this nvidia-ml-py lacks, or NVMLLibraryMismatchError (the plain
  Exception that nvidia-ml-py >= 12.550 raises when an unversioned call maps to a versioned
  symbol the driver lacks)
        "missing": logged once, never asked again on any GPU
  GpuIsLost (15), ResetRequired (16)
        DeviceLost: that GPU is degraded, the others go on
  LibraryNotFound (12), DriverNotLoaded (9), Uninitialized (1), LibRmVersionMismatch (18)
        CollectorError with a hint
  anything else (Unknown 999, Timeout 10, NotFound 6, ...)
        NaN this time, logged once, asked again next time
A global call (no GPU) that fails for any reason but "unsupported"/"missing" is a CollectorError.

Also here: reading nvmlFieldValue_t unions (`field_number`, `field_bits`, `field_seconds`).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, Optional, Set, Tuple, Union

from memmap_tui.collector import CollectorError
from memmap_tui.slow import Backoff

log = logging.getLogger("memmap_tui.nvml")

IMPORT_HINT = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
DRIVER_HINT = "install the NVIDIA driver"
UNSUPPORTED_RETRY_SECONDS = 30.0  # first re-ask of an unsupported field; doubles up to 10 min
UNSUPPORTED_RETRY_MAX_SECONDS = 600.0

# Error class name -> what it means. NVMLLibraryMismatchError is not an NVMLError subclass.
ERROR_KINDS = {
    "NVMLError_NotSupported": "unsupported",
    "NVMLError_NoPermission": "unsupported",
    "NVMLError_ArgumentVersionMismatch": "unsupported",
    "NVMLError_FunctionNotFound": "missing",
    "NVMLLibraryMismatchError": "missing",
    "NVMLError_GpuIsLost": "lost",
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

# nvml.h nvmlValueType_t -> the nvmlValue_t union member that holds it.
VALUE_MEMBERS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
NARROW_BITS = {1: 32, 6: 16}  # NVML_VALUE_TYPE_UNSIGNED_INT, NVML_VALUE_TYPE_UNSIGNED_SHORT

Function = Union[str, Callable[..., Any]]


class DeviceLost(Exception):
    """A GPU stopped answering (GpuIsLost / ResetRequired): only that GPU is degraded."""


def error_kind(exc: BaseException) -> Optional[str]:
    """'unsupported', 'missing', 'lost', 'broken' or 'other' for an NVML error; None otherwise."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    if "NVMLError" not in names and "NVMLLibraryMismatchError" not in names:
        return None
    return next((ERROR_KINDS[n] for n in names if n in ERROR_KINDS), "other")


def field_number(fv: Any) -> float:
    """The number in an nvmlFieldValue_t, read from the union member its valueType names."""
    vtype = int(getattr(fv, "valueType", 3))
    member = VALUE_MEMBERS[vtype] if 0 <= vtype < len(VALUE_MEMBERS) else "ullVal"
    return float(getattr(fv.value, member))


def field_bits(fv: Any) -> Optional[int]:
    """The width of an unsigned field value narrower than 64 bits (uint 32, ushort 16), or None."""
    return NARROW_BITS.get(int(getattr(fv, "valueType", 3)))


def field_seconds(fv: Any, fallback: float) -> float:
    """nvmlFieldValue_t.timestamp ("CPU timestamp of this value in microseconds since 1970",
    nvml.h) in seconds; `fallback` where the driver left it 0."""
    stamp = int(getattr(fv, "timestamp", 0) or 0)
    return stamp / 1e6 if stamp > 0 else fallback


def text(value: Any) -> str:
    """NVML strings arrive as str or bytes depending on the pynvml version."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class NvmlCalls:
    """Holds the pynvml module (given, or imported on first use) and the per-field memory.

    `device` arguments are anything with `.index` (int) and `.skip` (a dict of field key ->
    slow.Backoff, the fields answered "unsupported" and when to ask them again).
    """

    def __init__(self, module: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._module = module
        self._clock = clock
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

    def is_missing(self, key: str) -> bool:
        """True once `key`'s function turned out not to exist (old driver or nvidia-ml-py)."""
        return key in self._missing

    def call(self, device: Any, key: str, fn: Function, *args: Any, **kw: Any) -> Any:
        """`pynvml.<fn>(*args, **kw)` (or `fn(*args)` for a callable), or None where the field
        is unsupported, missing or failed this time (-> NaN).

        `key` names the field for the "asked once" memory. Raises DeviceLost for a lost GPU,
        CollectorError for a broken library or driver; non-NVML exceptions propagate.
        """
        if key in self._missing or not self._due(device, key):
            return None
        name = fn if isinstance(fn, str) else getattr(fn, "__name__", key)
        target = getattr(self.module, fn, None) if isinstance(fn, str) else fn
        if target is None:
            return self._failed(device, key, name, "missing", "not in this nvidia-ml-py")
        try:
            value = target(*args, **kw)
        except Exception as exc:  # classified below; non-NVML errors re-raised
            kind = error_kind(exc)
            if kind is None:
                raise
            return self._failed(device, key, name, kind, exc)
        self._answered(device, key)
        return value

    def note(self, device: Any, key: str, status: str) -> None:
        """Record why a field is empty (or 'ok, ...') for check_nvml.py's report."""
        self.status[(device.index if device is not None else None, key)] = status

    def log_once(self, key: Tuple[Any, ...], message: str) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message)

    def _due(self, device: Any, key: str) -> bool:
        backoff = device.skip.get(key) if device is not None else None
        return backoff is None or backoff.due(self._clock())

    def _answered(self, device: Any, key: str) -> None:
        if device is not None and device.skip.pop(key, None) is not None:
            log.info("GPU %d: %s answers again", device.index, key)
        self.note(device, key, "ok")

    def _failed(self, device: Any, key: str, fn_name: str, kind: str, exc: Any) -> None:
        index = device.index if device is not None else None
        where = f"GPU {index}" if device is not None else "NVML"
        self.note(device, key, f"{kind}: {exc}")
        if kind == "missing":
            self._missing.add(key)
            self.log_once(("missing", key), f"{fn_name} not available ({exc}): {key} stays empty")
        elif kind == "unsupported" and device is not None:
            backoff = device.skip.setdefault(
                key, Backoff(UNSUPPORTED_RETRY_SECONDS, UNSUPPORTED_RETRY_MAX_SECONDS))
            backoff.failed(self._clock())
            self.log_once(("unsupported", index, key), f"{where}: {key} not supported ({exc})")
        elif kind == "lost" and device is not None:
            raise DeviceLost(f"{where}: {fn_name} failed: {exc}")
        elif kind == "other" and device is not None:
            self.log_once(("other", index, key, str(exc)), f"{where}: {fn_name} failed: {exc}")
        elif kind != "unsupported":
            hint = HINTS.get(type(exc).__name__, "")
            raise CollectorError(f"{fn_name} failed: {exc}" + (f" ({hint})" if hint else ""))
        return None
