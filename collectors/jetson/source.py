"""What a Jetson source (sysfs, tegrastats, jtop) gives the Jetson collector.

A source is not a collector: it declares only what it can read here, with the specs of
`columns` (so a quantity has one column whichever source reads it), and `JetsonCollector`
takes each column from the first source that has it. `read()` never blocks and never raises:
a slow source (a subprocess, a socket) reads on a thread of its own and hands over its latest
value through a `memmap_tui.slow.Mailbox`; what it cannot read now is NaN.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from memmap_tui.collector import Availability
from memmap_tui.model import MetricSpec


class Gap(NamedTuple):
    """Columns a source would give but cannot here, and why ("the EMC clock is in debugfs,
    readable only by root"). Said once, by the collector, when no other source fills them."""

    what: str
    columns: Tuple[str, ...]
    why: str


class Source:
    """The contract of a Jetson source; `name` is what `memmap collectors` calls it."""

    name = ""

    def probe(self, quick: bool = False) -> Availability:
        """Cheap, never raises: can this source run here? `quick`: no round trip to a service
        (the collector's own probe), only whether it is installed and present."""
        raise NotImplementedError

    def expected(self) -> List[str]:
        """The quantities (columns.quantity words) this source would give here, before open()."""
        return []

    def open(self) -> None:
        """Start reading; after this `metrics()` is fixed. Raises CollectorError if it cannot."""

    def metrics(self) -> List[MetricSpec]:
        raise NotImplementedError

    def read(self) -> Sequence[float]:
        """The latest values, aligned with `metrics()`; NaN where unknown. Never blocks."""
        raise NotImplementedError

    def gaps(self) -> List[Gap]:
        """What this source cannot read here, and why (valid after probe() or open())."""
        return []

    def table(self) -> Optional[List[Dict[str, Any]]]:
        return None

    def close(self) -> None:
        """Stop reading; safe to call twice."""
