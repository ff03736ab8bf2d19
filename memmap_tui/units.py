"""One formatter for every place a number meets a person: the TUI, the report, the summary.

Sizes are binary (KiB, MiB, GiB: what memory is sold and reported in); rates are decimal
(kB/s, MB/s, GB/s: what links and disks are rated in). NaN prints as `-`.
"""

from __future__ import annotations

import math
import signal
from typing import Optional

MISSING = "-"
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_DECIMAL_RATE = ("B/s", "kB/s", "MB/s", "GB/s", "TB/s")


def _missing(value: float) -> bool:
    return value is None or math.isnan(value)


def _scaled(value: float, step: float, units: tuple) -> tuple:
    """(|value| in the largest unit it reaches, that unit's index)."""
    size, unit = abs(value), 0
    while size >= step and unit < len(units) - 1:
        size /= step
        unit += 1
    return size, unit


def fmt_bytes(value: float) -> str:
    """4294967296 -> '4.00 GiB'."""
    if _missing(value):
        return MISSING
    size, unit = _scaled(value, 1024, _BINARY)
    sign = "-" if value < 0 else ""
    return f"{sign}{size:.0f} {_BINARY[unit]}" if unit == 0 else f"{sign}{size:.2f} {_BINARY[unit]}"


def fmt_rate(value: float) -> str:
    """1.5e9 -> '1.50 GB/s'."""
    if _missing(value):
        return MISSING
    size, unit = _scaled(value, 1000, _DECIMAL_RATE)
    digits = 0 if unit == 0 else (2 if size < 10 else 1 if size < 100 else 0)
    return f"{'-' if value < 0 else ''}{size:.{digits}f} {_DECIMAL_RATE[unit]}"


def fmt_percent(value: float) -> str:
    return MISSING if _missing(value) else f"{value:.1f} %"


def fmt_celsius(value: float) -> str:
    return MISSING if _missing(value) else f"{value:.0f} °C"


def fmt_watts(value: float) -> str:
    return MISSING if _missing(value) else f"{value:.1f} W"


def fmt_mhz(value: float) -> str:
    return MISSING if _missing(value) else f"{value:.0f} MHz"


def fmt_number(value: float) -> str:
    if _missing(value):
        return MISSING
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


def fmt_count(value: float) -> str:
    """A count or rate in words a person reads at a glance: 950 -> '950', 21400 -> '21 k',
    1.5e6 -> '1.5 M'."""
    if _missing(value):
        return MISSING
    size = abs(value)
    for step, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if size >= step:
            scaled = value / step
            return f"{scaled:.1f}{unit}" if abs(scaled) < 10 else f"{scaled:.0f}{unit}"
    return f"{value:.0f}" if size >= 10 or float(value).is_integer() else f"{value:.1f}"


def fmt_duration(value: float) -> str:
    """Short durations as a person says them: 0.0041 -> '4.1 ms', 2.5e-5 -> '25 µs'."""
    if _missing(value):
        return MISSING
    if value >= 1.0:
        return f"{value:.1f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def fmt_seconds(value: float) -> str:
    if _missing(value):
        return MISSING
    if value < 120:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def fmt_counted(count: int, word: str) -> str:
    """`1 row`, `2 rows`, `0 rows`: a count and its noun (an English plural in 's')."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def fmt_exit(status: Optional[int]) -> str:
    """How a process ended, from its status as subprocess gives it (-N: killed by signal N):
    'exited with status 3', 'was killed by signal 9 (SIGKILL)', or 'exited' when unknown."""
    if status is None:
        return "exited"
    if status < 0:
        try:
            name = f" ({signal.Signals(-status).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {-status}{name}"
    return f"exited with status {status}"


def fmt_time(value: float) -> str:
    """A time a column measures: under a second as fmt_duration says it (a disk's await, a
    round trip: '2.6 ms'), longer ones as fmt_seconds."""
    return fmt_duration(value) if not _missing(value) and abs(value) < 1.0 else fmt_seconds(value)


_BY_SUFFIX = (
    ("_bytes_per_second", fmt_rate),
    ("_per_second", lambda v: MISSING if _missing(v) else f"{fmt_number(v)}/s"),
    ("_bytes_per_op", fmt_bytes),
    ("_percent", fmt_percent),
    ("_bytes", fmt_bytes),
    ("_celsius", fmt_celsius),
    ("_watts", fmt_watts),
    ("_mhz", fmt_mhz),
    ("_seconds", fmt_time),
)


def format_value(column: str, value: float) -> str:
    """Format `value` by what its column name says it is (`..._bytes_per_second` -> GB/s)."""
    for suffix, fmt in _BY_SUFFIX:
        if _ends_with(column, suffix):
            return fmt(value)
    return fmt_number(value)


def unit_label(column: str) -> str:
    """The unit a column is shown in, for table headers: 'B/s', 'bytes', '%', ..."""
    for suffix, label in (("_bytes_per_second", "B/s"), ("_per_second", "/s"), ("_percent", "%"),
                          ("_bytes_per_op", "bytes"), ("_bytes", "bytes"), ("_celsius", "°C"),
                          ("_watts", "W"), ("_mhz", "MHz"), ("_seconds", "s")):
        if _ends_with(column, suffix):
            return label
    return ""


def _ends_with(column: str, suffix: str) -> bool:
    """`x.read_bytes_per_second` and `tegra.power.vdd_gpu.watts` both name their unit last."""
    return column.endswith(suffix) or column.endswith("." + suffix[1:])


def fmt_in(value: float, unit: float) -> str:
    """`value` counted in `unit` (1e9 for a column headed GB/s), three significant digits
    below 100 units and whole units above: 1.234e9 -> '1.23', 12.34e9 -> '12.3', 123.4e9 ->
    '123'. At most 4 characters from 0 to 9999.49 units; a caller with a narrower column or
    larger values bounds the cell itself (cluster/view.py's _bounded)."""
    if _missing(value):
        return MISSING
    scaled = value / unit
    if scaled == 0:
        return "0"
    size = abs(scaled)
    return f"{scaled:.0f}" if size >= 99.95 else f"{scaled:.1f}" if size >= 9.995 \
        else f"{scaled:.2f}"
