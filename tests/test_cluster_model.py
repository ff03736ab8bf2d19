"""The cluster view's model: stragglers against their job's median, worst first, the plain
table of --once, untrusted label values made safe, and the PromQL's job filter and escaping."""

from __future__ import annotations

import math

import pytest

from memmap_tui.cluster import promql as Q
from memmap_tui.cluster.view import (
    HEADERS,
    MIN_WAITING,
    Node,
    Snapshot,
    cells,
    mark_stragglers,
    safe,
    sort_worst_first,
    table_text,
)


def node(name: str, job: str = "7", flow: float = 1e9, wait: float = 1.0,
         level: str = "ok", down: bool = False, cause: str = "none") -> Node:
    return Node(name, job, "alice", {"disk": flow / 2, "network": flow / 2, "interconnect": 0.0,
                                     "waiting": wait}, cause, level, down)


def marks(*nodes: Node) -> dict:
    rows = list(nodes)
    mark_stragglers(rows)
    return {n.instance: n.straggler for n in rows}


def test_a_node_under_half_the_median_throughput_is_slow() -> None:
    got = marks(node("a"), node("b"), node("c", flow=0.4e9), node("d", flow=1.2e9))
    assert got == {"a": "", "b": "", "c": "slow", "d": ""}


def test_a_node_waiting_over_twice_the_median_waits() -> None:
    got = marks(node("a", wait=4), node("b", wait=5), node("c", wait=12), node("d", wait=6))
    assert got == {"a": "", "b": "", "c": "wait", "d": ""}


def test_waiting_noise_on_an_idle_job_is_no_straggler() -> None:
    assert marks(node("a", wait=0.1), node("b", wait=0.1), node("c", wait=0.5))["c"] == ""
    assert marks(node("a", wait=0.0), node("b", wait=0.0),
                 node("c", wait=MIN_WAITING + 1))["c"] == "wait"


def test_two_nodes_can_only_be_slow() -> None:
    """With two the median is their mean: one can be under half of it, none over twice it."""
    assert marks(node("a", flow=0.1e9), node("b"))["a"] == "slow"
    assert set(marks(node("a", wait=0), node("b", wait=90)).values()) == {""}


def test_an_idle_job_has_no_slow_node() -> None:
    assert set(marks(node("a", flow=1e3), node("b", flow=1e5)).values()) == {""}


def test_nodes_are_compared_within_their_job_only() -> None:
    got = marks(node("a", job="1", flow=10e9), node("b", job="1", flow=10e9),
                node("c", job="2", flow=1e9), node("d", job="2", flow=1e9))
    assert set(got.values()) == {""}


def test_one_node_alone_is_never_a_straggler() -> None:
    assert marks(node("a", flow=0.0, wait=90)) == {"a": ""}


def test_down_nodes_are_left_out_of_the_median() -> None:
    got = marks(node("a"), node("b"), node("c", flow=0.45e9), node("x", flow=0.0, down=True),
                node("y", flow=0.0, down=True))
    assert got == {"a": "", "b": "", "c": "slow", "x": "", "y": ""}  # the median of a, b, c


def test_worst_first() -> None:
    rows = [node("ok-busy", wait=30), node("fine"), node("bad", level="bad"),
            node("gone", down=True), node("warn", level="warn")]
    rows.append(node("slow", flow=0.1e9))
    mark_stragglers(rows)
    assert [n.instance for n in sort_worst_first(rows)] == [
        "gone", "ok-busy", "slow", "bad", "warn", "fine"]  # ok-busy waits: a straggler too


@pytest.mark.parametrize("text, want", [
    ("node01:9464", "node01:9464"),
    ("\x1b[2Jx", "\\x1b[2Jx"),
    ("[bold red]x[/]", "[bold red]x[/]"),  # kept as text: it never reaches Rich as markup
    ("a\u202eb", "a\\u202eb"),              # a bidi override
    ("line\nbreak", "line\\x0abreak"),
])
def test_label_values_are_made_safe(text: str, want: str) -> None:
    assert safe(text) == want


def test_long_label_values_are_cut() -> None:
    assert len(safe("n" * 500)) == 64 and safe("n" * 500).endswith("…")


def test_cells_format_each_column_in_its_unit() -> None:
    n = Node("node01", "4711", "", {"disk": 1.234e9, "network": 0.0, "interconnect": 12.5e9,
                                    "pcie": math.nan, "gpu": 99.7, "waiting": 3.25,
                                    "memory": 40 * 2**30}, "storage", "warn", straggler="slow")
    assert dict(zip(HEADERS, cells(n))) == {
        "instance": "node01", "job": "4711", "disk": "1.23", "net": "0", "IB": "12.5",
        "PCIe": "-", "GPU": "100", "wait": "3.2", "mem": "40.0", "cause": "storage",
        "mark": "slow"}


def test_once_prints_every_instance_whole_and_aligned() -> None:
    rows = [node("a-very-long-host-name.cluster.example.org:9464"), node("n2", wait=40),
            node("n3")]
    mark_stragglers(rows)
    lines = table_text(Snapshot(sort_worst_first(rows), 1.7e9, "1m", None), "http://p:9090")
    assert lines[0].startswith("memmap cluster · http://p:9090 · 3 nodes · ")
    assert "GB/s over 1m" in lines[1]
    assert lines[2].split() == list(HEADERS)
    assert "a-very-long-host-name.cluster.example.org:9464" in lines[4]
    assert lines[3].split()[-1] == "wait"
    job = lines[2].index("job")  # the second column starts at one place on every line
    assert all(line[job - 2:job] == "  " and line[job] == "7" for line in lines[3:])


def test_no_node_says_so() -> None:
    lines = table_text(Snapshot([], math.nan, "1m", "4711"), "http://p:9090")
    assert lines[-1] == "(no node runs memmap serve for job 4711)"


# -- the PromQL ------------------------------------------------------------------------------
@pytest.mark.parametrize("value, literal", [
    ("4711", '"4711"'),
    ('a"b', '"a\\"b"'),
    ("a\\b", '"a\\\\b"'),
    ("a\nb", '"a\\nb"'),
])
def test_a_job_id_is_a_promql_string(value: str, literal: str) -> None:
    assert Q.string_literal(value) == literal


def test_the_job_filter_joins_on_instance() -> None:
    assert Q.query(Q.MEMORY, "1m", "4711") == (
        '(max by (instance) (memmap_host_mem_used_bytes)) and on (instance) '
        'memmap_job_info{hpc_job="4711"}')
    assert "[30s]" in Q.query(Q.DISK, "30s") and "{window}" not in Q.query(Q.WAITING)


def test_nodes_and_gone_queries_of_a_job() -> None:
    assert Q.nodes_query(None) == "memmap_job_info"
    assert Q.nodes_query("4711") == 'memmap_job_info{hpc_job="4711"}'
    assert 'max_over_time(memmap_job_info{hpc_job="4711"}[10m])' in Q.gone_query("4711")


@pytest.mark.parametrize("text, ok", [("1m", True), ("30s", True), ("1h30m", True),
                                      ("500ms", True), ("1", False), ("1x", False), ("", False),
                                      ("1m]", False)])
def test_rate_windows_are_prometheus_durations(text: str, ok: bool) -> None:
    assert Q.valid_window(text) == ok
