#!/usr/bin/env python3
"""What one Prometheus scrape of `memmap serve` costs, against a node-exporter-style baseline.

- ours: the exporter builds the families from the latest frame the sampler handed over (once
  per frame: a second scrape of the same frame reuses them);
- node-style baseline, measured in the same run: read /proc at scrape time (as node_exporter
  does), derive, then build the same families;
- a whole HTTP scrape over loopback through `memmap serve`'s server (what Prometheus pays),
  which is what the goal of <= 5 ms per scrape is about.

The frame carries the real host collector's metrics and a table of PROCESSES process rows (as
`--pid` on a job with many data-loader workers gives). Prints ms per scrape and the ratios.

Usage: python bench/prom_scrape.py [--scrapes N] [--processes N]
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, List, Optional, Sequence

import _installed  # noqa: E402 - first: the installed package, with its C extensions, or exit 2

_installed.require_built()
from memmap_tui.collectors.host import HostCollector  # noqa: E402
from prometheus_client.exposition import generate_latest  # noqa: E402
from prometheus_client.registry import CollectorRegistry  # noqa: E402

from memmap_tui.collector import Availability, Collector  # noqa: E402
from memmap_tui.commands.serve import ListenAddress, MetricsServer  # noqa: E402
from memmap_tui.sampler import Sampler  # noqa: E402
from memmap_tui.sinks.prometheus import PrometheusSink, spec_metrics, table_metrics  # noqa: E402


class Workers(Collector):
    """A process table like the process collector's: `count` rows of a training job's tree."""

    name = "process"

    def __init__(self, count: int) -> None:
        self.rows = [{"pid": 10000 + i, "name": f"worker-{i}", "rss_bytes": 2**30 + i,
                      "cpu_percent": 50.0, "read_bytes_per_second": 1e8}
                     for i in range(count)]

    def probe(self) -> Availability:
        return Availability(True)

    def metrics(self) -> List[Any]:
        return []

    def collect(self) -> Sequence[float]:
        return []

    def table(self) -> Optional[List[Dict[str, Any]]]:
        return self.rows


class ReadAtScrape:
    """The node-style baseline: every scrape samples /proc first, then builds the families."""

    def __init__(self, sampler: Sampler, sink: PrometheusSink) -> None:
        self.sampler, self.sink = sampler, sink

    def collect(self):  # type: ignore[no-untyped-def]
        frame = self.sampler.sample()
        _, tables, families = self.sink.latest()
        yield from spec_metrics(families, frame)
        yield from table_metrics(tables, {f.name for f in families}, set())


def fresh_frame_ms(sampler: Sampler, registry: CollectorRegistry, count: int) -> float:
    """A scrape of a frame not scraped before (Prometheus every 15 s, sampling every 1 s)."""
    spent = 0.0
    for _ in range(count):
        sampler.sample()
        start = time.perf_counter()
        generate_latest(registry)
        spent += time.perf_counter() - start
    return spent / count * 1000


def per_call_ms(call: Callable[[], Any], count: int) -> float:
    call()
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count * 1000


def http_ms(sink: PrometheusSink, count: int) -> float:
    """A whole scrape through memmap serve's HTTP server on an ephemeral loopback port."""
    address = ListenAddress("127.0.0.1:0", "127.0.0.1", 0, socket.AF_INET, ("127.0.0.1", 0))
    server = MetricsServer(address, sink.registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    try:
        return per_call_ms(lambda: urllib.request.urlopen(url).read(), count)
    finally:
        server.shutdown()
        server.server_close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--processes", type=int, default=32)
    args = parser.parse_args()
    sink = PrometheusSink()
    sampler = Sampler([HostCollector(), Workers(args.processes)], 0.5, [sink])
    sink.states = sampler.states
    sampler.open()
    sampler.sample()
    time.sleep(0.2)
    sampler.sample()
    text = generate_latest(sink.registry).decode()
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    fresh = fresh_frame_ms(sampler, sink.registry, args.scrapes)
    again = per_call_ms(lambda: generate_latest(sink.registry), args.scrapes)
    baseline_registry = CollectorRegistry(auto_describe=False)
    baseline_registry.register(ReadAtScrape(sampler, sink))  # type: ignore[arg-type]
    node = per_call_ms(lambda: generate_latest(baseline_registry), args.scrapes)
    http = http_ms(sink, max(args.scrapes // 5, 50))
    sampler.close()
    print(f"series per scrape: {series} ({args.processes} process rows)")
    print(f"node-style baseline, read /proc at scrape time:  {node:.3f} ms")
    print(f"ours, first scrape of a new frame:               {fresh:.3f} ms  "
          f"{fresh / node:.2f}x the baseline")
    print(f"ours, another scrape of the same frame:          {again:.3f} ms  "
          f"{again / node:.2f}x the baseline")
    verdict = "ok" if http <= 5.0 else "OVER"
    print(f"ours, whole scrape over HTTP on loopback:        {http:.3f} ms  "
          f"goal <= 5 ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
