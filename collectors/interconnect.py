"""Interconnect collector: RDMA ports (InfiniBand, RoCE) and how full each link is.

Sources (sysfs, readable by any user; the layout is the kernel's
Documentation/ABI/stable/sysfs-class-infiniband, printed by drivers/infiniband/core/sysfs.c for
mlx5 and every other RDMA driver):
- /sys/class/infiniband/<dev>/ports/<n>/counters/port_rcv_data, port_xmit_data: data octets
  divided by 4, so bytes = value x 4. ib_core fills them from the 64-bit PortCountersExtended
  where the device has them (mlx5 does), else from the 32-bit PortCounters, which stop at
  2^32 - 1 instead of wrapping: a counter stuck there reads NaN. The legacy 64-bit files of older
  mlx4 stacks, counters_ext/port_{rcv,xmit}_data_64, are preferred where present.
- .../ports/<n>/rate: "200 Gb/sec (4X HDR)", the port's rate (SDR, DDR and QDR quote it before
  their 8b/10b encoding, so 80 % of it carries data); state: "4: ACTIVE"; link_layer:
  InfiniBand, or Ethernet for RoCE.
- /sys/class/net/<if>/speed: an Ethernet link's Mb/s (-1, or EINVAL, while it is down or when it
  is virtual) and .../statistics/{rx,tx}_bytes, for the physical NICs (host.physical_nics).
RDMA traffic (NCCL over InfiniBand or RoCE, GPUDirect Storage) bypasses the kernel's network
stack and never shows in /proc/net/dev: these port counters are the only place it does.

Columns: per port (`rdma.<dev>:<port>.`) rx/tx bytes/s, the link's bytes/s and the share of it in
use each way; rx/tx summed over every port (`rdma.rx_bytes_per_second`); per physical NIC with a
speed (`nic.<if>.`), its link's bytes/s and the share in use each way. A share is the bytes
moved since the collector's previous read over what the link could have carried meanwhile (so
over the sample interval), NaN while the link is down or its speed unknown. Link state and speed
are read at most once a second.
Known gaps: the ports and NICs are fixed at open(); a saturated 32-bit counter stays NaN until
someone resets it (`perfquery -R`); IPoIB traffic (ib0) is in both its port's counters and
/proc/net/dev (the host's network columns).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass, replace
from typing import Callable, List, Optional, Sequence, Tuple

from memmap_tui import roles as R
from memmap_tui.collector import Availability, Collector, CollectorOptions
from memmap_tui.model import DEVICE, MetricSpec, counter, gauge

from .host import has_device
from .kernfs import NAN, KernFiles

log = logging.getLogger("memmap_tui.interconnect")

WORD_BYTES = 4.0  # port_{rcv,xmit}_data count octets divided by 4
SATURATED_32 = float(2**32 - 1)
LINK_SECONDS = 1.0  # state, rate and speed are read at most this often
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*Gb/sec(?:\s*\((\d+)X\s*([A-Z0-9]*)\))?")
_8B10B = {"", "SDR", "DDR", "QDR"}  # signalling rates quoted before 8b/10b encoding


@dataclass
class Port:
    """One RDMA port: `dev:num`, its directory, and whether it has the legacy 64-bit files."""

    device: str
    number: str
    path: str
    legacy: bool

    @property
    def name(self) -> str:
        return f"{self.device}:{self.number}"

    @property
    def counters(self) -> Tuple[str, str]:
        if self.legacy:
            return "counters_ext/port_rcv_data_64", "counters_ext/port_xmit_data_64"
        return "counters/port_rcv_data", "counters/port_xmit_data"


def rdma_ports(sys_root: str) -> List[Port]:
    """Every port of every RDMA device under <sys_root>/class/infiniband, sorted."""
    base = os.path.join(sys_root, "class", "infiniband")
    ports = []
    for dev in _listdir(base):
        for num in _listdir(os.path.join(base, dev, "ports")):
            path = os.path.join(base, dev, "ports", num)
            if "." in dev or not os.path.isdir(path):
                continue  # a device part may not hold a dot (the column naming)
            legacy = os.path.exists(os.path.join(path, "counters_ext", "port_rcv_data_64"))
            ports.append(Port(dev, num, path, legacy))
    return ports


def _listdir(path: str) -> List[str]:
    try:
        return sorted(os.listdir(path), key=_natural)
    except OSError:
        return []


def _natural(name: str) -> Tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def link_bytes_per_second(rate: Optional[str]) -> float:
    """A port's `rate` file ("200 Gb/sec (4X HDR)") as data bytes per second; NaN if unknown."""
    m = _RATE.match(rate or "")
    if not m:
        return NAN
    bits = float(m.group(1)) * 1e9
    if m.group(2) and m.group(3) in _8B10B:
        bits *= 0.8
    return bits / 8.0 if bits > 0 else NAN


def port_active(state: Optional[str]) -> bool:
    """A port's `state` file ("4: ACTIVE") says it carries traffic."""
    return bool(state) and state.split(":")[-1].strip().startswith("ACTIVE")  # type: ignore


def nic_bytes_per_second(speed: Optional[str]) -> float:
    """/sys/class/net/<if>/speed (Mb/s; -1 when down) as bytes per second; NaN if unknown."""
    try:
        mbits = float((speed or "").strip())
    except ValueError:
        return NAN
    return mbits * 1e6 / 8.0 if mbits > 0 else NAN


class Share:
    """Percent of a link's capacity that one direction used since the previous read."""

    def __init__(self) -> None:
        self.previous: Optional[Tuple[float, float]] = None

    def update(self, now: float, total: float, capacity: float) -> float:
        before, self.previous = self.previous, (now, total) if total == total else None
        if before is None or total != total or not capacity > 0:
            return NAN
        dt, moved = now - before[0], total - before[1]
        return 100.0 * moved / dt / capacity if dt > 0 and moved >= 0 else NAN


@dataclass
class _Link:
    """What the collector keeps per port or NIC between reads."""

    name: str
    files: KernFiles
    capacity: float = NAN
    rx: Share = None  # type: ignore[assignment]
    tx: Share = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.rx, self.tx = Share(), Share()


class InterconnectCollector(Collector):
    """RDMA ports and link shares (see the module docstring)."""

    name = "interconnect"

    def __init__(self, sys_root: str = "/sys", clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.sys_root = sys_root
        self.clock = clock
        self.ports: List[Port] = []
        self.nics: List[str] = []
        self._specs: List[MetricSpec] = []
        self._links: List[_Link] = []
        self._nic_links: List[_Link] = []
        self._in_total: List[bool] = []
        self._link_due = -math.inf
        self._told: set = set()

    @classmethod
    def from_options(cls, options: CollectorOptions) -> InterconnectCollector:
        return cls(options.sys_root)

    def probe(self) -> Availability:
        ports = rdma_ports(self.sys_root)
        nics = self._nics_with_speed()
        if not ports and not nics:
            return Availability(False, "no RDMA ports and no physical NIC that reports its speed")
        what = [f"{len(ports)} RDMA port{'s' * (len(ports) != 1)}"] if ports else []
        what += [f"link speed of {', '.join(nics)}"] if nics else []
        return Availability(True, f"reads {' and '.join(what)}")

    def _nics_with_speed(self) -> List[str]:
        """Physical NICs (a device behind them) whose link reports a speed now."""
        net = os.path.join(self.sys_root, "class", "net")
        return [n for n in _listdir(net) if "." not in n and has_device(self.sys_root, n)
                and nic_bytes_per_second(_read(os.path.join(net, n, "speed"))) > 0]

    @classmethod
    def catalog(cls) -> List[MetricSpec]:
        return [*_port_specs(DEVICE), *_port_specs(None), *_nic_specs(DEVICE)]

    def metrics(self) -> List[MetricSpec]:
        return list(self._specs)

    def open(self) -> None:
        self.close()
        self.ports = rdma_ports(self.sys_root)
        self.nics = self._nics_with_speed()
        net = os.path.join(self.sys_root, "class", "net")
        self._links = [_Link(p.name, KernFiles(p.path)) for p in self.ports]
        self._nic_links = [_Link(n, KernFiles(os.path.join(net, n))) for n in self.nics]
        self._in_total = [True] * len(self.ports)
        self._specs = [s for p in self.ports for s in _port_specs(p.name)]
        self._specs += _port_specs(None) if self.ports else []
        self._specs += [s for n in self.nics for s in _nic_specs(n)]
        self._link_due = -math.inf

    def close(self) -> None:
        for link in self._links + self._nic_links:
            link.files.close()
        self._links, self._nic_links = [], []

    def collect(self) -> Sequence[float]:
        now = self.clock()
        if now >= self._link_due:
            self._link_due = now + LINK_SECONDS
            self._read_links()
        values: List[float] = []
        totals = [0.0, 0.0]
        for k, (port, link) in enumerate(zip(self.ports, self._links)):
            rx, tx = (self._counter(port, link, name) for name in port.counters)
            values += [rx, tx, link.capacity, link.rx.update(now, rx, link.capacity),
                       link.tx.update(now, tx, link.capacity)]
            if rx != rx or tx != tx:
                self._in_total[k] = False  # left out of the sum from now on (it would jump)
            elif self._in_total[k]:
                totals[0] += rx
                totals[1] += tx
        if self.ports:
            values += totals if any(self._in_total) else [NAN, NAN]
        for link in self._nic_links:
            rx = link.files.number("statistics/rx_bytes")
            tx = link.files.number("statistics/tx_bytes")
            values += [link.capacity, link.rx.update(now, rx, link.capacity),
                       link.tx.update(now, tx, link.capacity)]
        return values

    def _read_links(self) -> None:
        for link in self._links:
            active = port_active(link.files.read("state"))
            link.capacity = link_bytes_per_second(link.files.read("rate")) if active else NAN
        for link in self._nic_links:
            link.capacity = nic_bytes_per_second(link.files.read("speed"))

    def _counter(self, port: Port, link: _Link, name: str) -> float:
        value = link.files.number(name)
        if value == SATURATED_32 and not port.legacy:
            self._tell(port.name, f"RDMA port {port.name}: its 32-bit data counters are "
                                  "saturated (reset them with perfquery -R); no bytes/s for it")
            return NAN
        return value * WORD_BYTES

    def _tell(self, key: str, message: str) -> None:
        if key not in self._told:
            self._told.add(key)
            log.warning("%s", message)


def _read(path: str) -> Optional[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(256)
    except OSError:
        return None


def _port_labels(port: str) -> Tuple[Tuple[str, str], ...]:
    device, sep, number = port.rpartition(":")
    return (("device", device), ("port", number)) if sep else (("device", port),)


def _port_specs(port: Optional[str]) -> List[MetricSpec]:
    """rx, tx, link bytes/s, rx and tx share of one port (`dev:num`); rx and tx of all (None)."""
    if port is None:
        return [
            counter("rdma", "rx_bytes", "bytes", "Bytes received on all RDMA ports.",
                    column="rx_bytes_per_second", label="RDMA rx", pane=R.THROUGHPUT,
                    roles=(R.THROUGHPUT_FLOW, R.HOST), key="rdma_rx", rank=5),
            counter("rdma", "tx_bytes", "bytes", "Bytes sent on all RDMA ports.",
                    column="tx_bytes_per_second", label="RDMA tx", pane=R.THROUGHPUT,
                    roles=(R.THROUGHPUT_FLOW, R.HOST), key="rdma_tx", rank=6),
        ]
    link = f"rdma.{port}.link_bytes_per_second"
    specs = [
        counter("rdma", "rx_bytes", "bytes",
                "Bytes received on an RDMA port (InfiniBand or RoCE), from its data counter.",
                column="rx_bytes_per_second", device=port, label=f"{port} rx",
                roles=(R.DEVICE,), total=link),
        counter("rdma", "tx_bytes", "bytes",
                "Bytes sent on an RDMA port (InfiniBand or RoCE), from its data counter.",
                column="tx_bytes_per_second", device=port, label=f"{port} tx",
                roles=(R.DEVICE,), total=link),
        gauge("rdma", "link_bytes_per_second", "bytes/s",
              "Data rate of an RDMA port's link while it is active.", device=port,
              label=f"{port} link", roles=(R.DEVICE,)),
        gauge("rdma", "rx_link_percent", "percent",
              "Share of an RDMA port's link in use receiving, over the last sample interval.",
              device=port, label=f"{port} rx link", roles=(R.LINK_SHARE, R.DEVICE)),
        gauge("rdma", "tx_link_percent", "percent",
              "Share of an RDMA port's link in use sending, over the last sample interval.",
              device=port, label=f"{port} tx link", roles=(R.LINK_SHARE, R.DEVICE)),
    ]
    return [replace(s, labels=_port_labels(port)) for s in specs]


def _nic_specs(nic: str) -> List[MetricSpec]:
    """Link bytes/s and rx and tx share of one physical NIC."""
    return [
        gauge("nic", "link_bytes_per_second", "bytes/s",
              f"Data rate of interface {nic}'s link (its speed).", device=nic,
              label=f"{nic} link", roles=(R.DEVICE,)),
        gauge("nic", "rx_link_percent", "percent",
              f"Share of interface {nic}'s link in use receiving, over the last sample "
              "interval.", device=nic, label=f"{nic} rx link", roles=(R.LINK_SHARE, R.DEVICE)),
        gauge("nic", "tx_link_percent", "percent",
              f"Share of interface {nic}'s link in use sending, over the last sample "
              "interval.", device=nic, label=f"{nic} tx link", roles=(R.LINK_SHARE, R.DEVICE)),
    ]


__all__ = ["InterconnectCollector", "Port", "Share", "link_bytes_per_second",
           "nic_bytes_per_second", "port_active", "rdma_ports"]
