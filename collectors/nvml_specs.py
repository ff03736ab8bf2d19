"""The nvml collector's metric table: every per-GPU metric, with what it is for, declared once.

`gpu_specs` builds one GPU's specs; the collector's `open()` calls it for each GPU with what that
GPU answers, and `catalog()` with the device part as model.DEVICE and everything present, so a
recording's columns are understood without a GPU (memmap report, memmap replay).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

from memmap_tui import roles
from memmap_tui.model import COUNTER, GAUGE, MetricSpec

from .gpm import GPM_METRICS
from .nvml_pcie import NVLINK_FIELDS, PCIE_FIELDS, time_quantity

_GPU_PANE = dict(pane=roles.GPU)
# (quantity, unit, help, meaning) of every per-GPU gauge, in column order; "{i}" is the index.
GPU_GAUGES: Tuple[Tuple[str, str, str, Dict[str, Any]], ...] = (
    ("util_percent", "percent", "Percent of the last sample period a kernel ran on the GPU",
     dict(_GPU_PANE, label="GPU{i} util", roles=(roles.GPU_UTIL, roles.DEVICE), rank=10)),
    ("mem_util_percent", "percent", "Percent of the last sample period device memory was busy",
     dict(_GPU_PANE, label="GPU{i} mem util", roles=(roles.DEVICE,), rank=11)),
    ("mem_used_bytes", "bytes", "Device memory in use",
     dict(pane=roles.MEMORY, label="GPU{i} mem", roles=(roles.GPU_MEMORY, roles.DEVICE),
          total="nvml.gpu{i}.mem_total_bytes", rank=40)),
    ("mem_total_bytes", "bytes", "Device memory in total", {}),
    ("mem_reserved_bytes", "bytes", "Device memory reserved by the driver (NVML memory v2)", {}),
    ("bar1_used_bytes", "bytes", "BAR1 aperture in use (host-mapped device memory)", {}),
    ("bar1_total_bytes", "bytes", "BAR1 aperture size", {}),
    ("pcie_link_gen", "count", "Current PCIe link generation", {}),
    ("pcie_link_width", "count", "Current PCIe link width in lanes", {}),
    ("pcie_link_max_bytes_per_second", "bytes/s", "Theoretical payload rate of the current link",
     {}),
    ("power_watts", "watts", "Board power draw",
     dict(_GPU_PANE, label="GPU{i} power", roles=(roles.DEVICE,), rank=12,
          notes=(("nvml.gpu{i}.temperature_celsius", "{}"),))),
    ("temperature_celsius", "celsius", "GPU die temperature", {}),
    ("sm_clock_mhz", "MHz", "Current SM clock",
     dict(_GPU_PANE, label="GPU{i} clocks", roles=(roles.DEVICE,), rank=13,
          notes=(("nvml.gpu{i}.mem_clock_mhz", "mem {}"),))),
    ("mem_clock_mhz", "MHz", "Current memory clock", {}),
)
_FLOW = (roles.THROUGHPUT_FLOW, roles.DEVICE)
_PCIE_FLOW = (roles.THROUGHPUT_FLOW, roles.HOST_TO_DEVICE, roles.DEVICE)
# (bus, help, meaning) of the byte flows; "{d}" is rx or tx.
FLOWS = (
    ("pcie", "PCIe bytes {} the GPU", dict(pane=roles.THROUGHPUT, label="GPU{i} PCIe {d}",
                                           roles=_PCIE_FLOW, rank=20, key="gpu{i}_pcie_{d}",
                                           total="nvml.gpu{i}.pcie_link_max_bytes_per_second")),
    ("nvlink", "NVLink data bytes {} the GPU, all links",
     dict(pane=roles.THROUGHPUT, label="GPU{i} NVLink {d}", roles=_FLOW, rank=21,
          key="gpu{i}_nvlink_{d}")),
)
GPM_SPECS = {
    "sm_active_percent": ("Percent of SMs busy (GPM SM activity)",
                          dict(_GPU_PANE, label="GPU{i} SM active", rank=10,
                               roles=(roles.GPU_ACTIVITY, roles.DEVICE))),
    "dram_bw_util_percent": ("Percent of the peak DRAM bandwidth in use (GPM)",
                             dict(_GPU_PANE, label="GPU{i} DRAM bw", rank=11,
                                  roles=(roles.GPU_DRAM_BW, roles.DEVICE))),
}
ALL_COUNTERS = tuple(q for q, _, _ in PCIE_FIELDS + NVLINK_FIELDS)


def _fill(value: Any, index: str, direction: str = "") -> Any:
    """A meaning's text with "{i}" (and "{d}") filled in; tuples of texts alike."""
    if isinstance(value, str):
        return value.replace("{i}", index).replace("{d}", direction)
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return tuple(tuple(_fill(v, index, direction) for v in pair) for pair in value)
    return value


def _spec(index: str, name: str, quantity: str, unit: str, help_text: str,
          meaning: Dict[str, Any], kind: str = GAUGE, column: Optional[str] = None,
          per: Optional[str] = None, direction: str = "") -> MetricSpec:
    # Built directly (not with model.gauge) so the label value is "0", not "gpu0",
    # as the Prometheus contract asks: memmap_nvml_gpu_util_percent{gpu="0"}.
    prefix = f"nvml.gpu{index}"
    return MetricSpec(
        name=f"{prefix}.{quantity}", unit=unit, kind=kind, help=help_text,
        column=f"{prefix}.{column}" if column else None,
        per=f"{prefix}.{per}" if per else None,
        family=f"nvml.gpu.{quantity}", labels=(("gpu", index), ("name", name)),
        **{k: _fill(v, index, direction) for k, v in meaning.items()})


def _flow_specs(index: str, name: str, counters: Sequence[str]) -> List[MetricSpec]:
    """PCIe (always: counters, else throughput gauges) and NVLink (counters only) rx/tx."""
    specs = []
    for bus, template, meaning in FLOWS:
        for direction, word in (("rx", "into"), ("tx", "out of")):
            raw, help_text = f"{bus}_{direction}_bytes", template.format(word)
            rate = raw + "_per_second"
            if raw in counters:
                stamp = time_quantity(raw)
                specs.append(_spec(index, name, raw, "bytes", help_text, meaning, COUNTER,
                                   column=rate, per=stamp, direction=direction))
                specs.append(_spec(index, name, stamp, "seconds",
                                   f"NVML's timestamp of {raw}, Unix seconds (its rate's time "
                                   "base)", {}, COUNTER))
            elif bus == "pcie":
                specs.append(_spec(index, name, rate, "bytes/s", help_text, meaning,
                                   direction=direction))
    return specs


def gpu_specs(index: str, name: str, counters: Sequence[str], gpm: bool) -> List[MetricSpec]:
    """Every spec of one GPU, in column order: gauges, PCIe and NVLink flows, GPM where present.
    `index` is NVML's index ("0") or model.DEVICE for the catalogue; `counters` the byte counter
    quantities the GPU answers (PCIe falls back to throughput gauges without them)."""
    specs = [_spec(index, name, q, unit, h, m) for q, unit, h, m in GPU_GAUGES]
    specs += _flow_specs(index, name, counters)
    if gpm:
        specs += [_spec(index, name, q, "percent", GPM_SPECS[q][0], GPM_SPECS[q][1])
                  for q, _, _ in GPM_METRICS]
    return specs
