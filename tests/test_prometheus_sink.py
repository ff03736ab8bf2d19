"""The exporter's sink and collector: a real Sampler feeds it (the host collector on the fixture
/proc tree, real child processes for per-process series) and prometheus_client's own parser
reads what a scrape says."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Sequence

import psutil
import pytest
from conftest import DATA
from memmap_tui.collectors.host import HostCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from memmap_tui.collector import Availability, Collector
from memmap_tui.model import Frame, MetricSpec, Reading, Schema, gauge
from memmap_tui.sampler import Sampler
from memmap_tui.sinks.prometheus import (
    VERDICT_FRAMES,
    VERDICT_SECONDS,
    PrometheusSink,
    RecentFrames,
    own_family_names,
)
from memmap_tui.verdict import CAUSES


def scrape(sink: PrometheusSink) -> Dict[str, Dict[tuple, float]]:
    """{sample name: {sorted label items: value}} as Prometheus' text parser reads the scrape."""
    out: Dict[str, Dict[tuple, float]] = {}
    text = generate_latest(sink.registry).decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def fixture_host() -> HostCollector:
    return HostCollector(str(DATA / "proc_a"), str(DATA / "sys_a"))


def started(*collectors: Collector) -> tuple:
    sink = PrometheusSink()
    sampler = Sampler(list(collectors), 0.05, [sink])
    sink.states = sampler.states
    sampler.open()
    return sampler, sink


def test_counters_are_raw_totals_labelled_by_device() -> None:
    sampler, sink = started(fixture_host())
    sampler.sample()
    sampler.sample()
    got = scrape(sink)
    sampler.close()
    # /proc/diskstats in the fixture: nvme0n1 read 20000 sectors, sda 100; 512 bytes a sector
    reads = got["memmap_host_disk_read_bytes_total"]
    assert reads == {(("device", "nvme0n1"),): 20000 * 512.0, (("device", "sda"),): 100 * 512.0}
    assert got["memmap_host_disk_all_read_bytes_total"] == {(): 20100 * 512.0}


def test_gauges_and_percent_gauges_come_from_the_latest_frame() -> None:
    sampler, sink = started(fixture_host())
    sampler.sample()
    frame = sampler.sample()
    got = scrape(sink)
    sampler.close()
    used = sampler.schema.get(frame, "host.mem.used_bytes")
    assert got["memmap_host_mem_used_bytes"] == {(): used}
    # the fixture does not move between samples, so iowait over the interval is not a number
    # (0/0) and is left out rather than exported as NaN
    assert "memmap_host_cpu_iowait_percent" not in got
    assert all(not math.isnan(v) for series in got.values() for v in series.values())


def test_percent_gauges_are_exported_where_the_frame_has_them() -> None:
    sampler, sink = started(HostCollector())  # the real /proc: CPU jiffies move
    sampler.sample()
    sum(i * i for i in range(300_000))
    sampler.sample()
    got = scrape(sink)
    sampler.close()
    (iowait,) = got["memmap_host_cpu_iowait_percent"].values()
    assert 0.0 <= iowait <= 100.0


def test_scrape_before_the_first_frame_has_only_memmap_itself_and_its_job() -> None:
    sink = PrometheusSink(job_labels={"hpc_job": "4711"})
    got = scrape(sink)
    assert set(got) == {"memmap_self_cpu_seconds_total", "memmap_self_resident_memory_bytes",
                        "memmap_job_info"}
    assert got["memmap_self_resident_memory_bytes"][()] > 1e6
    assert got["memmap_job_info"] == {(("hpc_job", "4711"),): 1.0}


def test_job_info_carries_the_job_and_constant_labels_but_no_empty_one() -> None:
    sink = PrometheusSink(job_labels={"hpc_job": "", "user": "alice", "rack": 'r7 "b"\n'})
    got = scrape(sink)
    assert got["memmap_job_info"] == {(("rack", 'r7 "b"\n'), ("user", "alice")): 1.0}


def test_the_diagnosis_is_an_info_series_with_its_cause_and_level() -> None:
    sampler, sink = started(HostCollector())
    for _ in range(3):
        sampler.sample()
        time.sleep(0.05)
    got = scrape(sink)
    sampler.close()
    ((labels, value),) = got["memmap_verdict_info"].items()
    labels = dict(labels)
    assert value == 1.0 and labels["cause"] in CAUSES and labels["level"] in ("ok", "warn", "bad")


def test_the_diagnosis_reads_the_last_seconds_only() -> None:
    recent = RecentFrames()
    for t in range(0, 30):
        recent.add(Frame(float(t), [float(t)], Reading(t, t, [])))
    window = recent.window(["x"])["x"]
    assert window[0] == 30 - 1 - VERDICT_SECONDS and window[-1] == 29
    fast = RecentFrames()
    for k in range(5000):  # 1 kHz for 5 s: every n-th frame, at most VERDICT_FRAMES
        fast.add(Frame(k / 1000, [0.0], Reading(0, 0, [])))
    assert len(fast.frames) <= VERDICT_FRAMES


def test_the_glue_takes_an_older_verdicts_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    from memmap_tui.sinks import prometheus as exporter

    class Old:
        kind, level = "io", "warn"

    monkeypatch.setattr(exporter.diagnosis, "diagnose", lambda window, schema: Old())
    assert exporter.diagnosis_of({}, Schema([])) == ("io", "warn")


def test_a_diagnosis_that_fails_never_breaks_a_scrape(monkeypatch: pytest.MonkeyPatch) -> None:
    from memmap_tui.sinks import prometheus as exporter

    def broken(window, schema):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(exporter.diagnosis, "diagnose", broken)
    sampler, sink = started(fixture_host())
    sampler.sample()
    got = scrape(sink)
    sampler.close()
    assert "memmap_verdict_info" not in got and "memmap_host_mem_used_bytes" in got


def test_own_metrics_describe_memmap_itself() -> None:
    sampler, sink = started(fixture_host())
    frame = sampler.sample()
    got = scrape(sink)
    sampler.close()
    me = psutil.Process()
    assert got["memmap_collector_up"] == {(("collector", "host"),): 1.0}
    assert 0 < got["memmap_self_cpu_seconds_total"][()] <= sum(me.cpu_times()[:2]) + 0.01
    assert got["memmap_sample_timestamp_seconds"][()] == pytest.approx(frame.timestamp)
    assert set(own_family_names()) <= set(got)


class Broken(Collector):
    name = "broken"

    def probe(self) -> Availability:
        return Availability(True)

    def metrics(self) -> List[MetricSpec]:
        return [gauge("broken", "thing_bytes", "bytes", "Never read.")]

    def collect(self) -> Sequence[float]:
        raise OSError("device went away")


def test_a_failing_collector_shows_as_down_and_its_series_go() -> None:
    sampler, sink = started(fixture_host(), Broken())
    sampler.sample()
    got = scrape(sink)
    sampler.close()
    assert got["memmap_collector_up"] == {(("collector", "host"),): 1.0,
                                          (("collector", "broken"),): 0.0}
    assert "memmap_broken_thing_bytes" not in got


class Children(Collector):
    """Stands in for the process collector (being written elsewhere): real child processes of
    this test, as table rows shaped like its rows {"pid", "name", "rss_bytes", ...}."""

    name = "process"

    def __init__(self) -> None:
        self.rows: Optional[List[Dict[str, Any]]] = None

    def probe(self) -> Availability:
        return Availability(True)

    def metrics(self) -> List[MetricSpec]:
        return []

    def collect(self) -> Sequence[float]:
        self.rows = []
        for child in psutil.Process().children():
            try:
                self.rows.append({"pid": child.pid, "name": child.name(),
                                  "rss_bytes": child.memory_info().rss,
                                  "cmdline": child.cmdline(), "ppid": child.ppid()})
            except psutil.Error:
                continue
        return []

    def table(self) -> Optional[List[Dict[str, Any]]]:
        return self.rows


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_per_process_series_come_and_go_with_the_processes() -> None:
    first, second = sleeper(), sleeper()
    sampler, sink = started(Children())
    try:
        sampler.sample()
        rss = scrape(sink)["memmap_process_rss_bytes"]
        pids = {dict(labels)["pid"] for labels in rss}
        assert {str(first.pid), str(second.pid)} <= pids
        assert all(v > 0 for v in rss.values())
        second.kill()
        second.wait()
        sampler.sample()
        pids = {dict(k)["pid"] for k in scrape(sink)["memmap_process_rss_bytes"]}
        assert str(first.pid) in pids and str(second.pid) not in pids
    finally:
        for p in (first, second):
            p.kill()
            p.wait()
        sampler.close()


def test_table_fields_that_are_ids_or_text_are_not_series() -> None:
    child = sleeper()
    sampler, sink = started(Children())
    try:
        sampler.sample()
        got = scrape(sink)
    finally:
        child.kill()
        child.wait()
        sampler.close()
    assert "memmap_process_ppid" not in got and "memmap_process_cmdline" not in got
    labels = dict(next(iter(got["memmap_process_rss_bytes"])))
    assert set(labels) == {"pid", "name"}


def test_scrapes_during_fast_sampling_always_parse() -> None:
    sampler, sink = started(fixture_host(), Children())
    child = sleeper()
    sampler.sample()
    errors: List[BaseException] = []
    scrapes = [0]
    done = threading.Event()

    def scrape_loop() -> None:
        while not done.is_set():
            try:
                got = scrape(sink)
                assert "memmap_host_mem_used_bytes" in got
                assert str(child.pid) in {dict(k)["pid"] for k in got["memmap_process_rss_bytes"]}
                scrapes[0] += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            time.sleep(0.001)  # a tight loop would starve the sampler of the GIL

    threads = [threading.Thread(target=scrape_loop) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while scrapes[0] < 50 and not errors and time.monotonic() < deadline:
            sampler.sample()
    finally:
        done.set()
        for t in threads:
            t.join()
        child.kill()
        child.wait()
        sampler.close()
    assert not errors, errors[0]
    assert scrapes[0] >= 50
