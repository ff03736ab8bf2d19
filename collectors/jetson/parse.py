"""Parse one line printed by NVIDIA's `tegrastats` into plain Python values.

`parse_line(line) -> dict` is the contract in DESIGN.md ("Parser"); the Jetson collector package
re-exports it. It reads every format seen from L4T 28 (JetPack 3, TX1) to R39 (JetPack 7.2,
AGX Thor): optional date prefix, `cpu [a%,b%]@F` and `CPU [a%@F,off,...]`, `EMC`/`EMC_FREQ`,
`GR3D`/`GR3D_FREQ` with `X%`, `X%@F`, `X%@[f1,f2]` or `@[f1,f2,f3]`, temperatures `name@XC`
and `name@cur/maxC`, power rails `NAME cur/avg[/max]` with or without `mW`, and engines.

Keys of the returned dict (a field missing from the line is None, an empty list or an empty dict):

- `ram_used_bytes`, `ram_total_bytes`, `swap_used_bytes`, `swap_total_bytes`,
  `swap_cached_bytes`: ints in bytes (tegrastats' MB is MiB; kB and GB are read the same way).
- `cpu_util_percent`, `cpu_freq_mhz`: one entry per core in printed order; None for an `off`
  core; the oldest form `cpu [..]@F` gives every core the shared F; a core printed as `x%`
  without any clock gets None as its clock.
- `gpu_util_percent`, `gpu_freq_mhz`: from `GR3D_FREQ` (or `GR3D`); for the per-GPC array
  `@[f1,f2]` the highest clock. `GR3D2_FREQ` and `GR3D_PCI` go to `engines`.
- `emc_util_percent`, `emc_freq_mhz`: from `EMC_FREQ` (or `EMC`), only what is printed.
- `temps_celsius`: {name as printed: float}; -256C means the sensor is off and is left out;
  for `name@cur/maxC` the current value.
- `power_milliwatts`: {rail as printed: [current, average]} in mW; a third value (max) is
  dropped; `RAM`, `SWAP`, `IRAM` and `APE` are never rails; a rail printed twice keeps its
  first values.
- `engines`: {name: {"util_percent": int|None, "freq_mhz": int|None, "off": bool}} for every
  other `NAME value` pair: NVENC, NVDEC, NVJPG, VIC, OFA, NVDLA0, PVA0, APE, GR3D2, ...
  A trailing `_FREQ` is dropped from the name (`VIC_FREQ 115` -> "VIC", `NVDLA0_FREQ @1600`
  -> "NVDLA0"). A bare number is a clock in MHz (`APE 174`, `VIC_FREQ 115`); `off` gives
  {"util_percent": None, "freq_mhz": None, "off": True}. Denver's `MTS fg X% bg Y%` becomes
  "MTS_FG" and "MTS_BG" with only a percent.

Anything else (`(lfb 3x4MB)`, `IRAM 0/252kB`, dates, tokens from future releases) is skipped.
The parser never raises for any str (or bytes) input.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Match, Optional, Tuple

__all__ = ["parse_line", "empty_result"]

_UNIT_BYTES = {"kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
_NOT_RAILS = frozenset({"RAM", "SWAP", "IRAM", "APE"})
_NOT_ENGINES = frozenset({"RAM", "SWAP", "IRAM", "CPU", "MTS"})

# Digit runs are bounded so that int() stays cheap and within CPython's str-to-int limits.
_D = r"\d{1,12}"
_NUM = r"-?\d{1,12}(?:\.\d{1,12})?"
_END = r"(?=\s|$)"

# Leading `\s*` makes the matches contiguous (no searching over runs of blanks); the last
# alternative eats any token nothing else reads, so a match always starts at a token.
# The patterns are compiled on first use (re's cache), not at import: every `memmap` start
# imports this package to probe for a Jetson, and most machines never parse a line.
_TOKEN = (
    r"\s*(?:"
    + "|".join(
        [
            rf"(?P<ram>RAM\s+(?P<ram_used>{_D})/(?P<ram_total>{_D})(?P<ram_unit>[kKMG]B){_END})",
            rf"(?P<swap>SWAP\s+(?P<swap_used>{_D})/(?P<swap_total>{_D})(?P<swap_unit>[kKMG]B)"
            rf"(?:\s+\(cached\s+(?P<swap_cached>{_D})(?P<swap_cached_unit>[kKMG]B)\))?{_END})",
            rf"(?P<cpu>(?:CPU|cpu)\s+\[(?P<cpu_list>[^\]\s]*)\](?:@(?P<cpu_shared>{_D}))?{_END})",
            rf"(?P<mts>MTS\s+fg\s+(?P<mts_fg>{_D})%\s+bg\s+(?P<mts_bg>{_D})%{_END})",
            # `name@42C` (temperature), `NAME 123mW/456mW` (rail) or `NAME value` (engine):
            # one alternative, so the name is scanned once per token.
            rf"(?P<name>[A-Za-z][\w-]*)(?:(?P<temp>@(?P<temp_value>{_NUM})(?:C|C?/{_NUM}C))"
            rf"|\s+(?:(?P<rail>(?P<rail_cur>{_D})(?:mW)?/(?P<rail_avg>{_D})(?:mW)?"
            rf"(?:/{_D}(?:mW)?)?)|(?=\S)(?P<pair>(?P<pair_off>off)|(?P<pair_clock>{_D})"
            rf"|(?:(?P<pair_util>{_D})%)?(?:@(?:(?P<pair_freq>{_D})"
            rf"|\[(?P<pair_clocks>[\d,]{{0,200}})\]))?))){_END}",
            r"\S+",
        ]
    )
    + ")"
)
# One core of a CPU list: `x%@F`, `x%`, or anything else (`off`) as an empty util.
_CORES = rf"(?:^|,)(?:({_D})%(?:@({_D}))?|[^,]*)(?=,|$)"

# (util_percent, freq_mhz, off)
Value = Tuple[Optional[int], Optional[int], bool]


def empty_result() -> Dict[str, Any]:
    """The contract's dict with every field absent."""
    return {
        "ram_used_bytes": None,
        "ram_total_bytes": None,
        "swap_used_bytes": None,
        "swap_total_bytes": None,
        "swap_cached_bytes": None,
        "cpu_util_percent": [],
        "cpu_freq_mhz": [],
        "gpu_util_percent": None,
        "gpu_freq_mhz": None,
        "emc_util_percent": None,
        "emc_freq_mhz": None,
        "temps_celsius": {},
        "power_milliwatts": {},
        "engines": {},
    }


def parse_line(line: Any) -> Dict[str, Any]:
    """Parse one tegrastats line (see the module docstring for the keys); never raises."""
    if not isinstance(line, str):
        line = line.decode("utf-8", "replace") if isinstance(line, (bytes, bytearray)) else ""
    result = empty_result()
    # Without trailing blanks a search always finds a token at once (the `\S+` alternative),
    # so the scan stays linear even for a line of pathological whitespace.
    for match in re.finditer(_TOKEN, line.rstrip(), re.ASCII):
        handler = _HANDLERS.get(match.lastgroup)  # type: ignore[arg-type]
        if handler is not None:
            handler(match, result)
    return result


def _size(number: str, unit: Optional[str]) -> int:
    return int(number) * _UNIT_BYTES.get(unit or "MB", 1024**2)


def _on_ram(m: Match[str], out: Dict[str, Any]) -> None:
    if out["ram_total_bytes"] is None:
        out["ram_used_bytes"] = _size(m["ram_used"], m["ram_unit"])
        out["ram_total_bytes"] = _size(m["ram_total"], m["ram_unit"])


def _on_swap(m: Match[str], out: Dict[str, Any]) -> None:
    if out["swap_total_bytes"] is None:
        out["swap_used_bytes"] = _size(m["swap_used"], m["swap_unit"])
        out["swap_total_bytes"] = _size(m["swap_total"], m["swap_unit"])
        if m["swap_cached"] is not None:
            out["swap_cached_bytes"] = _size(m["swap_cached"], m["swap_cached_unit"])


def _on_cpu(m: Match[str], out: Dict[str, Any]) -> None:
    if out["cpu_util_percent"]:
        return
    shared = int(m["cpu_shared"]) if m["cpu_shared"] else None
    utils: List[Optional[int]] = []
    freqs: List[Optional[int]] = []
    entries = m["cpu_list"]
    for util, freq in re.findall(_CORES, entries, re.ASCII) if entries else ():
        if util:
            utils.append(int(util))
            freqs.append(int(freq) if freq else shared)
        else:  # `off`, or something we cannot read: the core keeps its place
            utils.append(None)
            freqs.append(None)
    out["cpu_util_percent"] = utils
    out["cpu_freq_mhz"] = freqs


def _on_mts(m: Match[str], out: Dict[str, Any]) -> None:
    engines = out["engines"]
    engines.setdefault("MTS_FG", _engine((int(m["mts_fg"]), None, False)))
    engines.setdefault("MTS_BG", _engine((int(m["mts_bg"]), None, False)))


def _on_temp(m: Match[str], out: Dict[str, Any]) -> None:
    value = float(m["temp_value"])
    if value != -256.0:  # tegrastats prints -256C for a sensor that is switched off
        out["temps_celsius"].setdefault(m["name"], value)


def _on_rail(m: Match[str], out: Dict[str, Any]) -> None:
    name = m["name"]
    if name not in _NOT_RAILS:
        out["power_milliwatts"].setdefault(name, [int(m["rail_cur"]), int(m["rail_avg"])])


def _on_pair(m: Match[str], out: Dict[str, Any]) -> None:
    name = m["name"]
    if not name.isupper():  # engines are printed in capitals; `fg 1%` and the like are not
        return
    value = _read_value(m)
    if name in ("GR3D_FREQ", "GR3D"):
        if out["gpu_util_percent"] is None and out["gpu_freq_mhz"] is None:
            out["gpu_util_percent"], out["gpu_freq_mhz"] = value[0], value[1]
    elif name in ("EMC_FREQ", "EMC"):
        if out["emc_util_percent"] is None and out["emc_freq_mhz"] is None:
            out["emc_util_percent"], out["emc_freq_mhz"] = value[0], value[1]
    elif name not in _NOT_ENGINES:
        if name.endswith("_FREQ") and len(name) > 5:
            name = name[:-5]
        out["engines"].setdefault(name, _engine(value))


def _read_value(m: Match[str]) -> Value:
    """`off`, `N` (a clock), `X%`, `X%@F`, `@F`, `X%@[f1,f2]`, `@[f1,f2]` -> (util, MHz, off)."""
    if m["pair_off"]:
        return None, None, True
    if m["pair_clock"]:
        return None, int(m["pair_clock"]), False
    util = int(m["pair_util"]) if m["pair_util"] else None
    if m["pair_freq"]:
        return util, int(m["pair_freq"]), False
    clocks = [int(f) for f in (m["pair_clocks"] or "").split(",") if f]
    return util, (max(clocks) if clocks else None), False


def _engine(value: Value) -> Dict[str, Any]:
    return {"util_percent": value[0], "freq_mhz": value[1], "off": value[2]}


_HANDLERS: Dict[str, Callable[[Match[str], Dict[str, Any]], None]] = {
    "ram": _on_ram,
    "swap": _on_swap,
    "cpu": _on_cpu,
    "mts": _on_mts,
    "temp": _on_temp,
    "rail": _on_rail,
    "pair": _on_pair,
}
