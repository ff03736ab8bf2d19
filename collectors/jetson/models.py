"""Jetson modules' DRAM bandwidth, to turn EMC utilisation into an estimated bytes per second.

Sources: NVIDIA module data sheets and product pages (peak DRAM bandwidth, DRAM bus width and
the highest EMC clock); the module is identified from the device tree's `model` (`read_model`,
the one reader of it for every Jetson source), and siblings that share a model string by their
RAM size (MemTotal, or tegrastats' RAM total).

tegrastats prints `EMC_FREQ X%@F`: the external memory controller was busy X% of the time at
F MHz. One EMC clock moves (bus width in bytes x 2) bytes (double data rate), which is the same
as the data sheet's peak bandwidth divided by the highest EMC clock. So

    bytes per second ~= X / 100 * F * 1e6 * peak_bytes_per_second / (max_emc_mhz * 1e6)

This is an estimate: EMC "busy" counts cycles with any traffic, not full bursts, so it reads
high for scattered small accesses. Units: bytes per second; clocks in MHz; RAM in bytes.

Model strings are the device tree's, as boards print them: "NVIDIA Jetson AGX Orin Developer
Kit", "Jetson-AGX" (AGX Xavier, L4T 32), "quill" (TX2), "jetson_tx1", and "lanai-3636" for the
TX2 NX on L4T 32.6/32.7 (its code name and board id p3636; jetson-stats issues #159 and #515).

Known gaps: a module not in `MODULES` (or one whose model string is ambiguous, such as an Orin
Nano whose RAM size is unknown) gives NaN, never a guess. Jetson T4000 and TK1 are not listed.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple, Optional, Tuple

__all__ = [
    "JetsonModule",
    "MODULES",
    "emc_bytes_per_second",
    "find_module",
    "read_device_tree",
    "read_model",
]

GIB = 1024**3


class JetsonModule(NamedTuple):
    """One row of the module table.

    patterns: lower-case substrings of /proc/device-tree/model; any one of them matches.
    peak_bytes_per_second, max_emc_mhz: from the data sheet.
    min_ram_bytes, max_ram_bytes: when the RAM size is known, a module outside this range is
        not this row (siblings with the same model string differ in RAM and bus width).
    needs_ram: the model string alone cannot tell this row from a sibling: no RAM, no answer.
    """

    name: str
    patterns: Tuple[str, ...]
    peak_bytes_per_second: float
    max_emc_mhz: float
    min_ram_bytes: float = 0.0
    max_ram_bytes: float = math.inf
    needs_ram: bool = False

    @property
    def bytes_per_emc_clock(self) -> float:
        """Bytes one EMC clock can move: peak bandwidth over the highest EMC clock."""
        return self.peak_bytes_per_second / (self.max_emc_mhz * 1e6)


# Most specific first: the first row whose pattern matches decides (see find_module).
MODULES: Tuple[JetsonModule, ...] = (
    # T5000: 128 GB LPDDR5X, 256-bit, 4266 MHz, 273 GB/s.
    JetsonModule("Jetson AGX Thor (T5000)", ("thor",), 273e9, 4266, min_ram_bytes=96 * GIB),
    # AGX Orin 32GB / 64GB / Industrial: LPDDR5, 256-bit, 3199 MHz, 204.8 GB/s.
    JetsonModule("Jetson AGX Orin", ("agx orin",), 204.8e9, 3199),
    # Orin NX 8GB / 16GB: LPDDR5, 128-bit, 3199 MHz, 102.4 GB/s.
    JetsonModule("Jetson Orin NX", ("orin nx",), 102.4e9, 3199),
    # Orin Nano 4GB: LPDDR5, 64-bit, 2133 MHz, 34 GB/s. 8GB: 128-bit, 2133 MHz, 68 GB/s
    # (102 GB/s at 3199 MHz in the "Super" modes: the same bytes per clock).
    JetsonModule(
        "Jetson Orin Nano 4GB", ("orin nano",), 34e9, 2133, max_ram_bytes=6 * GIB, needs_ram=True
    ),
    JetsonModule(
        "Jetson Orin Nano 8GB", ("orin nano",), 68e9, 2133, min_ram_bytes=6 * GIB, needs_ram=True
    ),
    # Xavier NX: LPDDR4x, 128-bit, 1866 MHz, 59.7 GB/s.
    JetsonModule("Jetson Xavier NX", ("xavier nx",), 59.7e9, 1866),
    # AGX Xavier (model "Jetson-AGX" on L4T 32): LPDDR4x, 256-bit, 2133 MHz, 137 GB/s.
    JetsonModule("Jetson AGX Xavier", ("agx xavier", "jetson-agx", "xavier"), 137e9, 2133),
    # TX2 NX ("lanai-3636" on L4T 32.6/32.7): LPDDR4, 128-bit, 1600 MHz, 51.2 GB/s.
    JetsonModule("Jetson TX2 NX", ("tx2 nx", "lanai"), 51.2e9, 1600),
    # TX2 ("quill"), TX2i ("lightning"), TX2 4GB ("storm"): LPDDR4, 128-bit, 1866 MHz, 59.7 GB/s.
    JetsonModule("Jetson TX2", ("tx2", "quill", "storm", "lightning"), 59.7e9, 1866),
    # TX1 ("jetson_tx1"): LPDDR4, 64-bit, 1600 MHz, 25.6 GB/s.
    JetsonModule("Jetson TX1", ("tx1",), 25.6e9, 1600),
    # Nano 4GB / 2GB: LPDDR4, 64-bit, 1600 MHz, 25.6 GB/s.
    JetsonModule("Jetson Nano", ("nano",), 25.6e9, 1600),
)


def read_device_tree(name: str, proc_root: str = "/proc", sys_root: str = "/sys") -> str:
    """A device-tree property (`model`, `compatible`) as text, "" where there is none.

    Read from `<proc_root>/device-tree/<name>`, else `<sys_root>/firmware/devicetree/base/<name>`
    (the same node). Its NULs (the kernel ends each string with one) become spaces."""
    for path in (os.path.join(proc_root, "device-tree", name),
                 os.path.join(sys_root, "firmware", "devicetree", "base", name)):
        try:
            with open(path, "rb") as f:
                raw = f.read(4096)
        except OSError:
            continue
        return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return ""


def read_model(proc_root: str = "/proc", sys_root: str = "/sys") -> str:
    """The board's model string ("NVIDIA Jetson AGX Orin Developer Kit"), "" where there is no
    device tree. The one reader of it: the sysfs and tegrastats sources both use it."""
    return read_device_tree("model", proc_root, sys_root)


def find_module(
    model: Optional[str], ram_total_bytes: Optional[float] = None
) -> Optional[JetsonModule]:
    """The table row for a model string, or None when unknown or ambiguous.

    ram_total_bytes (e.g. tegrastats' RAM total or MemTotal) separates siblings that share a
    model string, such as Orin Nano 4GB and 8GB.
    """
    if not model:
        return None
    text = " ".join(model.lower().split())
    ram = ram_total_bytes if ram_total_bytes is not None and ram_total_bytes > 0 else None
    for module in MODULES:
        if not any(p in text for p in module.patterns):
            continue
        if ram is None:
            return None if module.needs_ram else module
        if module.min_ram_bytes <= ram <= module.max_ram_bytes:
            return module
    return None


def emc_bytes_per_second(
    model: Optional[str],
    util_percent: Optional[float],
    freq_mhz: Optional[float],
    ram_total_bytes: Optional[float] = None,
) -> float:
    """Estimated DRAM traffic in bytes per second from EMC utilisation and clock.

    NaN when the module is unknown (never a guess) or either input is missing or NaN.
    """
    module = find_module(model, ram_total_bytes)
    if module is None or util_percent is None or freq_mhz is None:
        return math.nan
    return util_percent / 100.0 * freq_mhz * 1e6 * module.bytes_per_emc_clock
