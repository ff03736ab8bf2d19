"""The diagnosis's rules, one cause and its neighbours at a time, on windows of role figures.

These tests feed means straight into `diagnose` through schemas built from the collectors'
catalogues (the same columns a recording has) or from synthetic specs that carry only roles,
which shows that the diagnosis reads roles, not names. The real-workload tests that prove each
cause on this machine are in tests/test_diagnosis_workloads.py.
"""

from __future__ import annotations

import math
from typing import Dict, List

import pytest

from memmap_tui import roles as R
from memmap_tui import thresholds as T
from memmap_tui.catalog import schema_for_columns
from memmap_tui.figures import Figures
from memmap_tui.model import GAUGE, MetricSpec, Schema, gauge
from memmap_tui.verdict import (
    CAUSES,
    Verdict,
    diagnose,
    needed_columns,
    waiting_share,
    window_from_rows,
)


def judge(means: Dict[str, float]) -> Verdict:
    """The verdict on recorded columns (one mean each), understood through the catalogues."""
    return diagnose({c: [v] for c, v in means.items()}, schema_for_columns(list(means)))


def spec(name: str, *roles: str, labels=(), **meaning) -> MetricSpec:  # type: ignore[no-untyped-def]
    return MetricSpec(name=name, unit="", kind=GAUGE, help="", labels=labels, roles=roles,
                      **meaning)


def judge_specs(specs: List[MetricSpec], means: Dict[str, float]) -> Verdict:
    return diagnose({c: [v] for c, v in means.items()}, Schema(specs))


GPU0 = spec("x.gpu0.util_percent", R.GPU_UTIL, R.DEVICE, labels=(("gpu", "0"),))
TREE_CPU = spec("x.tree_cpu_percent", R.CPU_CORES, R.TREE, label="tree CPU")
THREAD = spec("x.thread_percent", R.THREAD_MAX, R.TREE, label="busiest thread")
HOST_CPU = spec("x.cpus_percent", R.CPU_BUSY, R.HOST, label="all CPUs")
TREE_WAIT = spec("x.tree_wait_percent", R.WAITING, R.TREE, label="proc I/O delay")
HOST_WAIT = spec("x.host_wait_percent", R.WAITING, R.HOST, label="I/O pressure")
READ = spec("x.read_bytes_per_second", R.BYTES_READ, R.TREE)
CALLS = spec("x.read_calls_per_second", R.READ_CALLS, R.TREE, label="read calls")
CALL_SIZE = spec("x.read_bytes_per_call", R.READ_CALL_SIZE, R.TREE)
DISK = (("device", "sda"),)
BUSY = spec("x.sda.busy_percent", R.DEVICE_BUSY, R.DEVICE, labels=DISK, label="sda busy")
REQUESTS = spec("x.sda.reads_per_second", R.DEVICE_READS, R.DEVICE, labels=DISK)
REQUEST_SIZE = spec("x.sda.read_request_bytes", R.READ_REQUEST_SIZE, R.DEVICE, labels=DISK)
DISK_RATE = spec("x.sda.read_bytes_per_second", R.STORAGE_READ, R.DEVICE, labels=DISK)
ALL = [GPU0, TREE_CPU, THREAD, HOST_CPU, TREE_WAIT, HOST_WAIT, READ, CALLS, CALL_SIZE, BUSY,
       REQUESTS, REQUEST_SIZE, DISK_RATE]


def quiet(**changes: float) -> Dict[str, float]:
    """A tree that reads 50 MB/s in big calls and waits little, then `changes`."""
    base = {"x.gpu0.util_percent": 70.0, "x.tree_cpu_percent": 40.0, "x.thread_percent": 40.0,
            "x.cpus_percent": 30.0, "x.tree_wait_percent": 2.0, "x.host_wait_percent": 2.0,
            "x.read_bytes_per_second": 50e6, "x.read_calls_per_second": 50.0,
            "x.read_bytes_per_call": 1e6, "x.sda.busy_percent": 20.0,
            "x.sda.reads_per_second": 50.0, "x.sda.read_request_bytes": 1e6,
            "x.sda.read_bytes_per_second": 50e6}
    base.update({f"x.{k.replace('__', '.')}": v for k, v in changes.items()})
    return base


def test_every_cause_is_a_stable_word() -> None:
    assert CAUSES == ("storage", "small-files", "cpu", "cpu-thread", "memory", "network",
                      "host-to-device", "gpu", "none")


def test_a_quiet_pipeline_has_no_cause() -> None:
    v = judge_specs(ALL, quiet())
    assert v.cause == "none" and v.level == "ok" and v.evidence == ()


def test_a_busy_device_is_storage_with_its_numbers() -> None:
    v = judge_specs(ALL, quiet(tree_wait_percent=45.0, sda__busy_percent=97.0,
                               gpu0__util_percent=30.0))
    assert v.cause == "storage" and v.level == "bad"
    assert v.text.startswith("GPU 0 idle 70 % — storage: sda 97 % busy, 50.0 MB/s read")
    assert "proc I/O delay 45 %" in v.text
    assert {e.column for e in v.evidence} >= {"x.sda.busy_percent", "x.tree_wait_percent"}


def test_a_device_busy_writing_is_storage_with_its_write_numbers() -> None:
    """A checkpoint or an output writer: the evidence names what the device was busy with,
    the bytes written and the time a write took, not the trickle of reads beside them."""
    written = spec("x.sda.write_bytes_per_second", R.STORAGE_WRITTEN, R.DEVICE, labels=DISK)
    write_wait = spec("x.sda.write_await_seconds", R.WRITE_AWAIT, R.DEVICE, labels=DISK)
    read_wait = spec("x.sda.read_await_seconds", R.READ_AWAIT, R.DEVICE, labels=DISK)
    means = quiet(tree_wait_percent=60.0, sda__busy_percent=95.0, sda__read_bytes_per_second=2e4)
    means.update({"x.sda.write_bytes_per_second": 400e6, "x.sda.write_await_seconds": 0.025,
                  "x.sda.read_await_seconds": 0.001})
    v = judge_specs(ALL + [written, write_wait, read_wait], means)
    assert v.cause == "storage"
    assert "sda 95 % busy, 400 MB/s written" in v.text and "25.0 ms a write" in v.text, v.text
    assert "read" not in v.evidence[0].text
    # reads that moved more bytes than the writes are still what is said
    means["x.sda.read_bytes_per_second"] = 500e6
    v = judge_specs(ALL + [written, write_wait, read_wait], means)
    assert "500 MB/s read" in v.text and "1.0 ms a read" in v.text, v.text


FAULTS = spec("x.major_faults_per_second", R.MAJOR_FAULTS, R.TREE)


def walk(**changes: float) -> Dict[str, float]:
    """A cold `du`: 35 MB/s from storage, no read call, 5 k device requests/s of 7 KiB,
    14 % I/O pressure, 80 % of a core (stat is kernel work). STORED is defined below."""
    means = quiet(host_wait_percent=14.0, tree_wait_percent=float("nan"),
                  read_bytes_per_second=0.0, read_calls_per_second=0.0,
                  read_bytes_per_call=float("nan"), sda__busy_percent=40.0,
                  sda__reads_per_second=5000.0, sda__read_request_bytes=7000.0,
                  sda__read_bytes_per_second=35e6, tree_cpu_percent=80.0,
                  thread_percent=80.0)
    means.update({"x.tree_storage_read_bytes_per_second": 35e6, "x.major_faults_per_second": 0.0})
    means.update({f"x.{k}": v for k, v in changes.items()})
    return means


def test_a_cold_metadata_walk_is_small_files() -> None:
    """du or find on a cold cache: storage reads that no read call and no fault explains, in
    small requests, are directory and inode blocks; the wait is under input_bound."""
    v = judge_specs(ALL + [STORED, FAULTS], walk())
    assert v.cause == "small-files", v
    assert "35.0 MB/s from storage, 0 % through read calls" in v.text, v.text
    assert "sda 5.0 k requests/s of 6.84 KiB" in v.text, v.text
    assert {e.column for e in v.evidence} >= {"x.tree_storage_read_bytes_per_second",
                                              "x.sda.reads_per_second"}


def test_storage_reads_that_calls_or_faults_explain_are_no_metadata_walk() -> None:
    """The neighbours: the same bytes through read calls (a reader of big chunks), through
    major faults (a memory-mapped data set), in big device requests (readahead of a big
    file), or no bytes from storage at all (a warm cache) are not a metadata walk."""
    specs = ALL + [STORED, FAULTS]
    calls = judge_specs(specs, walk(read_bytes_per_second=30e6, read_calls_per_second=30.0,
                                    read_bytes_per_call=1e6))
    assert "through read calls" not in calls.text
    faults = judge_specs(specs, walk(major_faults_per_second=5000.0))
    assert faults.cause != "small-files" and "through read calls" not in faults.text
    big = judge_specs(specs, walk(**{"sda.read_request_bytes": 512e3,
                                     "sda.reads_per_second": 70.0}))
    assert big.cause != "small-files", big
    warm = judge_specs(specs, walk(tree_storage_read_bytes_per_second=0.0,
                                   **{"sda.read_bytes_per_second": 0.0}))
    assert warm.cause != "small-files", warm


def async_reader(**changes: float) -> Dict[str, float]:
    """fio libaio 1 MiB direct reads: sda 88 % busy with 2.6 GB/s, all of it the tree's, at
    18 % of a core; no read call, and no waiting signal (io_getevents is neither iowait nor
    I/O pressure)."""
    means = quiet(host_wait_percent=0.0, tree_wait_percent=float("nan"),
                  read_bytes_per_second=700.0, read_calls_per_second=16.0,
                  read_bytes_per_call=42.0, sda__busy_percent=88.0,
                  sda__reads_per_second=2500.0, sda__read_request_bytes=1048576.0,
                  sda__read_bytes_per_second=2.6e9, tree_cpu_percent=18.0, thread_percent=17.0)
    means.update({"x.tree_storage_read_bytes_per_second": 2.6e9, "x.major_faults_per_second": 0.0})
    means.update({f"x.{k}": v for k, v in changes.items()})
    return means


def test_a_reader_that_keeps_its_device_busy_without_waiting_signals_is_storage() -> None:
    """Asynchronous or direct I/O: nothing counts its wait, but the device is busy with the
    tree's own bytes and the tree is not busy on a CPU. The evidence says so in place of a
    0 % wait."""
    v = judge_specs(ALL + [STORED, FAULTS], async_reader())
    assert v.cause == "storage", v
    assert "sda 88 % busy, 2.60 GB/s read" in v.text, v.text
    assert "the tree's 2.60 GB/s are 100 % of sda's" in v.text, v.text
    assert "tree on CPU 18 % of a core" in v.text and "pressure 0 %" not in v.text, v.text
    assert {e.column for e in v.evidence} >= {"x.sda.busy_percent",
                                              "x.tree_storage_read_bytes_per_second",
                                              "x.tree_cpu_percent"}
    # in small requests too (fio libaio 4 KiB blocks of one file): nothing waits in a read,
    # so it is no metadata walk, and the device is the limit
    small = judge_specs(ALL + [STORED, FAULTS], async_reader(
        tree_storage_read_bytes_per_second=150e6, **{"sda.read_bytes_per_second": 150e6,
                                                     "sda.reads_per_second": 36000.0,
                                                     "sda.read_request_bytes": 4096.0}))
    assert small.cause == "storage" and "through read calls" not in small.text, small
    assert "the tree's 150 MB/s are 100 % of sda's" in small.text, small.text


def test_a_metadata_walk_is_one_the_tree_waits_for() -> None:
    """The same small storage reads without read calls, but waited for (du, find: each
    directory and inode block is a synchronous read) are small-files from SIGNATURE_WAIT."""
    small = {"sda.read_bytes_per_second": 150e6, "sda.reads_per_second": 36000.0,
             "sda.read_request_bytes": 4096.0}
    below = async_reader(tree_storage_read_bytes_per_second=150e6,
                         host_wait_percent=T.SIGNATURE_WAIT - 0.5, **small)
    assert judge_specs(ALL + [STORED, FAULTS], below).cause == "storage"
    on = async_reader(tree_storage_read_bytes_per_second=150e6,
                      host_wait_percent=T.SIGNATURE_WAIT, **small)
    v = judge_specs(ALL + [STORED, FAULTS], on)
    assert v.cause == "small-files" and "(metadata, one request at a time" in v.text, v


def test_small_reads_without_calls_held_many_at_a_time_are_storage() -> None:
    """io_uring counts its waits as iowait, so the wait is no tell; the requests in flight
    are: a walk holds about one at a time (WALK_QUEUE), a submitter of 4 KiB reads at depth 8
    several."""
    queue = spec("x.sda.queue_depth", R.QUEUE_DEPTH, R.DEVICE, labels=DISK)
    specs = ALL + [STORED, FAULTS, queue]
    on = walk(**{"sda.queue_depth": T.WALK_QUEUE})
    assert judge_specs(specs, on).cause == "small-files"
    assert "queue 1.5)" in judge_specs(specs, on).text
    deep = walk(**{"sda.queue_depth": 4.0, "sda.busy_percent": 90.0,
                   "sda.read_bytes_per_second": 190e6, "sda.reads_per_second": 48000.0,
                   "sda.read_request_bytes": 4096.0,
                   "tree_storage_read_bytes_per_second": 190e6, "host_wait_percent": 48.0})
    v = judge_specs(specs, deep)
    assert v.cause == "storage" and "queue 4.0" in v.text, v


def test_a_walk_beside_other_readers_is_told_by_its_new_names() -> None:
    """Another reader deepens the device's queue past WALK_QUEUE; the names the walk looks up
    for the first time (NEW_FILES of the device's requests) still say a walk."""
    queue = spec("x.sda.queue_depth", R.QUEUE_DEPTH, R.DEVICE, labels=DISK)
    names = spec("x.names_added_per_second", R.NEW_NAMES, R.HOST, label="new names")
    specs = ALL + [STORED, FAULTS, queue, names]
    busy = walk(**{"sda.queue_depth": 3.0, "names_added_per_second": 5000.0 * T.NEW_FILES / 100})
    v = judge_specs(specs, busy)
    assert v.cause == "small-files", v
    assert "(metadata)" in v.text and "500 new file names/s" in v.text, v.text
    few = walk(**{"sda.queue_depth": 3.0,
                  "names_added_per_second": 5000.0 * (T.NEW_FILES - 1) / 100})
    assert judge_specs(specs, few).cause != "small-files"
    # io_uring 4 KiB reads of one file at depth 1: one request at a time, waited for (its
    # completions count as iowait), but no new names: not a walk
    one_file = walk(**{"sda.queue_depth": 0.8, "names_added_per_second": 20.0})
    assert judge_specs(specs, one_file).cause != "small-files"


def test_an_asynchronous_writer_names_its_written_bytes() -> None:
    """A checkpoint written with O_DIRECT and libaio: the tree's share is of the device's
    bytes both ways, and the figure behind it is the tree's written bytes."""
    tree_written = spec("x.tree_storage_write_bytes_per_second", R.STORAGE_WRITTEN, R.TREE)
    written = spec("x.sda.write_bytes_per_second", R.STORAGE_WRITTEN, R.DEVICE, labels=DISK)
    means = async_reader(tree_storage_read_bytes_per_second=1e6,
                         **{"sda.read_bytes_per_second": 1e6})
    means.update({"x.tree_storage_write_bytes_per_second": 900e6,
                  "x.sda.write_bytes_per_second": 900e6})
    v = judge_specs(ALL + [STORED, FAULTS, tree_written, written], means)
    assert v.cause == "storage", v
    assert "the tree's 901 MB/s are 100 % of sda's" in v.text, v.text
    share = next(e for e in v.evidence if "the tree's" in e.text)
    assert share.column == "x.tree_storage_write_bytes_per_second" and share.value == 900e6


@pytest.mark.parametrize("changes", [
    {"tree_storage_read_bytes_per_second": 0.5e9},   # someone else keeps the device busy
    {"sda.busy_percent": 40.0},                      # a device with room to spare
    {"tree_storage_read_bytes_per_second": 0.0},     # a tree that reads nothing itself
], ids=["others-bytes", "device-not-busy", "tree-reads-nothing"])
def test_a_busy_device_is_not_the_trees_limit_unless_it_is_busy_with_the_tree(
        changes: Dict[str, float]) -> None:
    v = judge_specs(ALL + [STORED, FAULTS], async_reader(**changes))
    assert v.cause == "none", v


QUEUE = spec("x.sda.queue_depth", R.QUEUE_DEPTH, R.DEVICE, labels=DISK)


def low_depth_reader(**changes: float) -> Dict[str, float]:
    """fio libaio 4 KiB random direct reads at depth 1: sda 66 % busy (queue 0.7) with
    55 MB/s, all the tree's, at 44 % of a core, and no waiting signal."""
    return async_reader(**{"sda.busy_percent": 66.0, "sda.queue_depth": 0.7,
                           "sda.read_bytes_per_second": 55e6, "sda.reads_per_second": 13500.0,
                           "sda.read_request_bytes": 4096.0,
                           "tree_storage_read_bytes_per_second": 55e6, "tree_cpu_percent": 44.0,
                           "thread_percent": 44.0, **changes})


def test_a_reader_at_a_low_depth_takes_turns_with_its_device_and_is_storage() -> None:
    """Under DEVICE_BUSY, but the device is busy with the tree's requests longer than the tree
    is on a CPU, and the two fill DEVICE_TURNS of the time: the tree works or waits for its
    device, and nothing else."""
    v = judge_specs(ALL + [STORED, FAULTS, QUEUE], low_depth_reader())
    assert v.cause == "storage", v
    assert "sda 66 % busy" in v.text and "queue 0.7" in v.text, v.text
    assert "the tree's 55.0 MB/s are 100 % of sda's" in v.text, v.text
    assert "tree on CPU 44 % of a core" in v.text, v.text


@pytest.mark.parametrize("changes", [
    {"tree_cpu_percent": 70.0, "thread_percent": 70.0},  # on a CPU longer than the device
    {"sda.busy_percent": 45.0, "sda.queue_depth": 0.5,   # idle a third of the time: it paces
     "tree_cpu_percent": 20.0, "thread_percent": 20.0},  # itself (a rate limit, a consumer)
    {"sda.busy_percent": 89.0, "sda.queue_depth": 0.2,   # %util of sparse short reads:
     "tree_cpu_percent": 26.0, "thread_percent": 26.0},  # a jiffy for each, the queue says
], ids=["cpu-longer", "paced", "sparse-requests"])
def test_a_low_depth_reader_that_does_not_take_turns_has_no_cause(
        changes: Dict[str, float]) -> None:
    v = judge_specs(ALL + [STORED, FAULTS, QUEUE], low_depth_reader(**changes))
    assert v.cause == "none", v


def test_busy_counts_at_most_the_queue_only_where_the_queue_is_measured() -> None:
    """Without a queue column, %util is taken as it is (as before); with one, in flight
    0.2 of the time is not 89 % busy."""
    sparse = {"sda.busy_percent": 89.0, "sda.queue_depth": 0.2}
    assert judge_specs(ALL + [STORED, FAULTS], async_reader(**sparse)).cause == "storage"
    assert judge_specs(ALL + [STORED, FAULTS, QUEUE], async_reader(**sparse)).cause == "none"


def test_a_pinned_thread_beside_a_busy_device_is_cpu_thread_not_storage() -> None:
    """A decompressor reading its input with O_DIRECT: its thread at a full core is the
    limit, whatever keeps the device busy."""
    v = judge_specs(ALL + [STORED, FAULTS], async_reader(thread_percent=100.0,
                                                         tree_cpu_percent=105.0))
    assert v.cause == "cpu-thread", v


def test_many_small_reads_are_small_files_not_storage() -> None:
    v = judge_specs(ALL, quiet(tree_wait_percent=35.0, read_calls_per_second=21000.0,
                               read_bytes_per_call=4096.0, sda__busy_percent=90.0,
                               sda__reads_per_second=9000.0, sda__read_request_bytes=8192.0))
    assert v.cause == "small-files"
    assert "21 k reads/s of 4.00 KiB" in v.text and "sda 9.0 k requests/s of 8.00 KiB" in v.text


def one_file_blocks(call: float, request: float) -> Dict[str, float]:
    """fio psync reads of one big file (direct, or random through the page cache): 16 k
    calls/s, each one device request, I/O pressure 53 %."""
    return quiet(tree_wait_percent=53.0, read_calls_per_second=16000.0,
                 read_bytes_per_call=call, read_bytes_per_second=16000.0 * call,
                 sda__busy_percent=99.0, sda__reads_per_second=16000.0,
                 sda__read_request_bytes=request)


@pytest.mark.parametrize("size", [4096.0, 16384.0, 65536.0 - 512])
def test_small_blocks_of_one_file_are_storage_not_small_files(size: float) -> None:
    """Calls as big as the device's requests read blocks of one file (fio, a database): the
    device is the limit. Whole small files end in a short or empty read: their calls come
    out smaller than the requests (FILE_CALLS)."""
    v = judge_specs(ALL, one_file_blocks(size * 0.997, size))
    assert v.cause == "storage", v
    assert "sda 99 % busy" in v.text and "reads/s" not in v.text, v.text


def test_small_calls_on_the_file_line_are_small_files() -> None:
    on = judge_specs(ALL, one_file_blocks(4096.0 * T.FILE_CALLS / 100.0, 4096.0))
    assert on.cause == "small-files", on
    over = judge_specs(ALL, one_file_blocks(4096.0 * (T.FILE_CALLS + 1.0) / 100.0, 4096.0))
    assert over.cause == "storage", over


NAMES = spec("x.names_added_per_second", R.NEW_NAMES, R.HOST, label="new names")


def test_small_files_read_in_one_call_each_are_told_by_their_new_names() -> None:
    """A loader that reads each cold 4 KiB file in one call of its size (tar, f.read(4096)):
    calls as big as the requests, as for blocks of one file, but a new name for each file
    (NEW_FILES). Below the line the calls decide, and they say one file."""
    means = one_file_blocks(4096.0, 4200.0)
    on = judge_specs(ALL + [NAMES], {**means, "x.names_added_per_second":
                                     16000.0 * T.NEW_FILES / 100.0})
    assert on.cause == "small-files", on
    assert "1.6 k new file names/s" in on.text, on.text
    assert "x.names_added_per_second" in {e.column for e in on.evidence}
    below = judge_specs(ALL + [NAMES], {**means, "x.names_added_per_second":
                                        16000.0 * (T.NEW_FILES - 1.0) / 100.0})
    assert below.cause == "storage", below
    # no names measured (a run without the column, or the cache shrank): the calls decide
    gone = judge_specs(ALL + [NAMES], {**means, "x.names_added_per_second": float("nan")})
    assert gone.cause == "storage", gone


def test_big_reads_through_small_device_requests_stay_storage() -> None:
    """Sequential reads of a big file in small calls are merged by readahead: the device's
    requests are big, so this is the device's limit, not small files."""
    v = judge_specs(ALL, quiet(tree_wait_percent=35.0, read_calls_per_second=20000.0,
                               read_bytes_per_call=8192.0, sda__busy_percent=95.0,
                               sda__reads_per_second=800.0, sda__read_request_bytes=256e3))
    assert v.cause == "storage"


def test_waiting_below_the_line_is_not_an_io_cause() -> None:
    just = T.INPUT_BOUND - 0.5
    assert judge_specs(ALL, quiet(tree_wait_percent=just, sda__busy_percent=99.0)).cause == "none"
    assert judge_specs(ALL, quiet(tree_wait_percent=T.INPUT_BOUND,
                                  sda__busy_percent=99.0)).cause == "storage"


def test_the_trees_own_waiting_wins_over_the_hosts() -> None:
    """Another job's I/O makes the host wait; this tree waits 3 %: not input-bound."""
    means = quiet(tree_wait_percent=3.0, host_wait_percent=80.0, sda__busy_percent=99.0)
    share, source = waiting_share({c: [v] for c, v in means.items()}, Schema(ALL))
    assert share == 3.0 and source is TREE_WAIT
    assert judge_specs(ALL, means).cause == "none"


def test_a_sleeping_tree_is_not_blamed_for_the_hosts_load() -> None:
    specs = [s for s in ALL if s is not TREE_WAIT]  # no delay accounting: the host's figure
    sleeping = quiet(host_wait_percent=70.0, cpus_percent=99.0, tree_cpu_percent=0.0,
                     thread_percent=0.0, read_bytes_per_second=0.0)
    sleeping.pop("x.tree_wait_percent")
    assert judge_specs(specs, sleeping).cause == "none"


def test_a_page_cache_reader_is_not_blamed_for_another_jobs_disk() -> None:
    """Without delay accounting the host's I/O pressure stands in for the tree's wait. A tree
    that moves 40 MB/s through read and write calls, all from the page cache (gzip in a loop),
    beside another job's disk at 99 %: the pressure is not its wait. The same tree reading
    5 MB/s from storage itself is input-bound on that disk."""
    stored = spec("x.tree_storage_read_bytes_per_second", R.STORAGE_READ, R.TREE)
    specs = [s for s in ALL if s is not TREE_WAIT] + [stored]
    cached = quiet(host_wait_percent=35.0, sda__busy_percent=99.0, tree_cpu_percent=97.0,
                   thread_percent=math.nan, read_bytes_per_second=40e6,
                   tree_storage_read_bytes_per_second=0.4e6)
    cached.pop("x.tree_wait_percent")
    assert judge_specs(specs, cached).cause != "storage"
    cold = dict(cached, **{"x.tree_storage_read_bytes_per_second": 5e6})
    assert judge_specs(specs, cold).cause == "storage"
    own = [s for s in ALL] + [stored]  # the tree's own delay: its page-cache reads may wait
    assert judge_specs(own, dict(cached, **{"x.tree_wait_percent": 35.0})).cause == "storage"


def test_one_pinned_thread_with_free_cpus_is_cpu_thread() -> None:
    v = judge_specs(ALL, quiet(thread_percent=99.0, tree_cpu_percent=102.0, cpus_percent=52.0,
                               gpu0__util_percent=20.0))
    assert v.cause == "cpu-thread"
    assert v.text == ("GPU 0 idle 80 % — one thread: busiest thread 99 % of a core, "
                      "CPUs 52 % busy")


def test_all_cpus_busy_is_cpu_even_with_a_pinned_thread() -> None:
    v = judge_specs(ALL, quiet(thread_percent=100.0, tree_cpu_percent=190.0, cpus_percent=96.0))
    assert v.cause == "cpu" and "CPUs 96 % busy" in v.text


def test_a_pinned_thread_is_its_own_limit_when_other_jobs_fill_the_cpus() -> None:
    """On a shared node the other CPUs are busy with someone else's work; the tree still runs
    one thread's worth, and more CPUs would not speed it up."""
    v = judge_specs(ALL, quiet(thread_percent=98.0, tree_cpu_percent=101.0, cpus_percent=99.0))
    assert v.cause == "cpu-thread"


def test_a_busy_thread_is_not_a_busy_disk() -> None:
    """The neighbour that matters most: a compressing thread reads a little and never waits."""
    v = judge_specs(ALL, quiet(thread_percent=100.0, tree_cpu_percent=100.0, cpus_percent=50.0,
                               sda__busy_percent=10.0, tree_wait_percent=0.0))
    assert v.cause == "cpu-thread"


def test_a_thread_that_reads_then_works_in_turn_is_cpu_thread_with_both_numbers() -> None:
    """A loader with no workers: 84 % of a core on a CPU, waiting for its reads 14 % of the
    time (under input_bound): never idle, so the thread is the limit."""
    v = judge_specs(ALL, quiet(thread_percent=84.0, tree_cpu_percent=86.0, cpus_percent=45.0,
                               tree_wait_percent=14.0))
    assert v.cause == "cpu-thread", v
    assert v.text == ("one thread: busiest thread 84 % of a core, proc I/O delay 14 % (reads "
                      "and works in turn), CPUs 45 % busy")


@pytest.mark.parametrize("changes", [
    {"thread_percent": 84.0, "tree_wait_percent": 4.0},    # the wait under input_moderate
    {"thread_percent": 70.0, "tree_wait_percent": 15.0},   # idle 15 % of the time
    {"thread_percent": 12.0, "tree_wait_percent": 19.0},   # waits longer than it works
], ids=["little-wait", "idle-between", "waits-the-longer"])
def test_reading_in_turn_needs_a_wait_a_busier_thread_and_no_idle_time(
        changes: Dict[str, float]) -> None:
    means = quiet(tree_cpu_percent=changes["thread_percent"] + 2.0, cpus_percent=45.0,
                  **changes)
    v = judge_specs(ALL, means)
    assert v.cause != "cpu-thread", v


def test_reading_in_turn_needs_a_wait_that_is_the_trees() -> None:
    """Without delay accounting the wait is the host's I/O pressure: another job's disk when
    the tree moves nothing to or from storage (its reads come from the page cache)."""
    no_own = [s for s in ALL if s is not TREE_WAIT]
    theirs = quiet(thread_percent=84.0, tree_cpu_percent=86.0, cpus_percent=45.0,
                   host_wait_percent=14.0)
    assert judge_specs(no_own, theirs).cause == "cpu-thread"  # 50 MB/s of read calls
    cached = dict(theirs, **{"x.read_bytes_per_second": 0.0, "x.sda.read_bytes_per_second": 0.0,
                             "x.read_calls_per_second": 0.0})
    assert judge_specs(no_own, cached).cause == "none"


PROCESS = spec("x.process_percent", R.PROCESS_MAX, R.TREE, label="busiest process")
BUSY_THREADS = spec("x.busy_threads", R.BUSY_THREADS, R.TREE, label="busy threads")
SERIAL = ALL + [PROCESS, BUSY_THREADS]


def test_busy_threads_that_share_one_core_are_cpu_thread_with_their_numbers() -> None:
    """Four Python threads under the GIL: no thread is pinned, but the process never passes one
    core while a CPU is free."""
    v = judge_specs(SERIAL, quiet(thread_percent=25.0, tree_cpu_percent=96.0,
                                  process_percent=95.0, busy_threads=4.0, cpus_percent=55.0,
                                  gpu0__util_percent=20.0))
    assert v.cause == "cpu-thread"
    assert v.text == ("GPU 0 idle 80 % — one thread: 4 busy threads share one core, process 95 % "
                      "of a core, busiest thread 25 %, CPUs 55 % busy")
    assert [e.column for e in v.evidence][:2] == ["x.busy_threads", "x.process_percent"]


COUNT = spec("x.processes", R.PROCESSES, R.TREE, label="processes")


def chain_window(thread: List[float], **means: float) -> Dict[str, List[float]]:
    """Ten readings of a tree of short tools: `thread` is the busiest thread's and process's
    column (NaN where a process too young to measure was there), `means` the others' values."""
    base = {"x.tree_cpu_percent": 98.0, "x.cpus_percent": 55.0, "x.processes": 2.0,
            "x.tree_wait_percent": 0.0, "x.read_bytes_per_second": 0.0}
    base.update({f"x.{k}": v for k, v in means.items()})
    window = {c: [v] * len(thread) for c, v in base.items()}
    window["x.thread_percent"] = window["x.process_percent"] = thread
    return window


def test_a_full_core_in_tools_too_short_to_measure_is_cpu_thread() -> None:
    """A shell loop of 80 ms compressors: the tree holds one core, the busiest thread is
    unknown at 9 of 10 readings (a process under 0.2 s old was there), 2 processes alive."""
    specs = [TREE_CPU, HOST_CPU, COUNT, TREE_WAIT, READ, THREAD, PROCESS]
    unknown = [math.nan] * 9 + [1.0]
    v = diagnose(chain_window(unknown), Schema(specs))
    assert v.cause == "cpu-thread"
    assert v.text == ("one thread: tree 98 % of a core in short processes, one after another, "
                      "2.0 processes alive, each too short to measure 90 % of the time, "
                      "CPUs 55 % busy")
    # tools of a millisecond are never seen: only the idle shell is measured
    v = diagnose(chain_window([5.0] * 10, tree_cpu_percent=96.0), Schema(specs))
    assert v.cause == "cpu-thread" and "busiest process seen 5 % of a core" in v.text
    # its neighbours: long-lived workers that hold the core between them (two at 45 % beside
    # their parent), a pool of short tasks side by side under a shell (xargs -P2: 3.8 alive),
    # more than a core, a loop that sleeps, a recording that never measured threads
    assert diagnose(chain_window([45.0] * 10, processes=3.0), Schema(specs)).cause == "none"
    assert diagnose(chain_window(unknown, processes=3.8), Schema(specs)).cause == "none"
    # a loop whose test runs a helper (`while [ $(date +%s) ... ]`) has three alive at times
    assert diagnose(chain_window(unknown, processes=3.0), Schema(specs)).cause == "cpu-thread"
    assert diagnose(chain_window(unknown, tree_cpu_percent=180.0), Schema(specs)).cause == "none"
    assert diagnose(chain_window(unknown, tree_cpu_percent=20.0), Schema(specs)).cause == "none"
    no_threads = [s for s in specs if s is not THREAD and s is not PROCESS]
    assert diagnose(chain_window(unknown), Schema(no_threads)).cause == "none"
    # other jobs filling the CPUs do not make a serial loop parallel
    assert diagnose(chain_window(unknown, cpus_percent=99.0), Schema(specs)).cause == "cpu-thread"
    edge = [math.nan] * 5 + [30.0] * 5  # unknown exactly short_lived of the time
    assert T.SHORT_LIVED == 50.0 and T.SHORT_SEEN == 25.0
    assert diagnose(chain_window(edge), Schema(specs)).cause == "cpu-thread"
    assert diagnose(chain_window([math.nan] * 4 + [30.0] * 6), Schema(specs)).cause == "none"
    assert diagnose(chain_window([25.0] * 10), Schema(specs)).cause == "cpu-thread"


HOST_STALL = spec("x.host_cpu_stall", R.CPU_STALL, R.HOST, label="CPU pressure")
JOB_STALL = spec("x.job_cpu_stall", R.CPU_STALL, R.JOB, label="job CPU pressure")
THROTTLED = spec("x.throttled", R.CPU_THROTTLED, R.JOB, label="job CPU throttled")
SHORT = ALL + [HOST_STALL, JOB_STALL, THROTTLED]


def test_a_run_short_of_cpus_with_idle_cpus_is_cpu() -> None:
    """Two workers masked to one of two CPUs: the host is half idle, no thread is pinned, but
    the runnable threads wait for their CPU; a job at its CPU quota waits with CPUs free."""
    masked = quiet(tree_cpu_percent=98.0, thread_percent=49.0, cpus_percent=52.0,
                   host_cpu_stall=97.0)
    masked.pop("x.job_cpu_stall", None)
    specs = [s for s in SHORT if s is not JOB_STALL and s is not THROTTLED]
    v = judge_specs(specs, masked)
    assert v.cause == "cpu"
    assert v.text.startswith("CPU-bound: CPU pressure 97 % (threads waiting for a CPU), tree 98 %")
    quota = quiet(tree_cpu_percent=50.0, thread_percent=50.0, cpus_percent=30.0, throttled=100.0)
    v = judge_specs(SHORT, quota)
    assert v.cause == "cpu" and "job throttled by its CPU quota in 100 % of periods" in v.text
    # neighbours: under the lines; the host's pressure while the tree runs under a core's worth
    # (other jobs' threads may be the ones waiting); the job's own figure, when it has one
    assert judge_specs(SHORT, dict(quota, **{"x.throttled": 20.0})).cause == "none"
    light = dict(masked, **{"x.tree_cpu_percent": 60.0, "x.thread_percent": 30.0})
    assert judge_specs(specs, light).cause == "none"
    calm_job = dict(masked, **{"x.job_cpu_stall": 3.0})
    assert judge_specs(SHORT, calm_job).cause == "none"
    assert judge_specs(SHORT, dict(calm_job, **{"x.job_cpu_stall": 60.0,
                                                "x.tree_cpu_percent": 60.0})).cause == "cpu"
    # two busy threads of one process masked or throttled to one core wait for a CPU, which
    # threads taking turns under a lock (the GIL) do not: cpu, not serialised
    both = SHORT + [PROCESS, BUSY_THREADS]
    turns = quiet(thread_percent=50.0, tree_cpu_percent=99.0, process_percent=99.0,
                  busy_threads=2.0, cpus_percent=52.0)
    assert judge_specs(both, dict(turns, **{"x.throttled": 100.0})).cause == "cpu"
    assert judge_specs(both, dict(turns, **{"x.job_cpu_stall": 95.0})).cause == "cpu"
    assert judge_specs(both, dict(turns, **{"x.job_cpu_stall": 2.0})).cause == "cpu-thread"


def test_threads_that_run_in_parallel_are_not_serialised() -> None:
    """Two threads in C code that releases the GIL use two cores: past one core is not one
    core's worth, and with the CPUs busy it is cpu."""
    v = judge_specs(SERIAL, quiet(thread_percent=95.0 - 1.0, tree_cpu_percent=190.0,
                                  process_percent=188.0, busy_threads=2.0, cpus_percent=97.0))
    assert v.cause == "cpu"
    v = judge_specs(SERIAL, quiet(thread_percent=60.0, tree_cpu_percent=130.0,
                                  process_percent=130.0, busy_threads=3.0, cpus_percent=40.0))
    assert v.cause == "none"


def test_serialised_threads_need_free_cpus_several_threads_and_a_full_core() -> None:
    base = dict(thread_percent=25.0, tree_cpu_percent=96.0, process_percent=95.0,
                busy_threads=4.0, cpus_percent=55.0)
    assert judge_specs(SERIAL, quiet(**base)).cause == "cpu-thread"
    # every CPU busy: it could as well be the CPUs (cpu), so serialisation is not claimed
    assert judge_specs(SERIAL, quiet(**dict(base, cpus_percent=96.0))).cause == "cpu"
    # one busy thread on average: a single thread below its line is not a limit
    assert judge_specs(SERIAL, quiet(**dict(base, busy_threads=1.2))).cause == "none"
    # threads that use most of a core but not all of it are not held by it
    assert judge_specs(SERIAL, quiet(**dict(base, process_percent=T.THREAD_PINNED - 5.0,
                                            tree_cpu_percent=85.0))).cause == "none"
    # just past one core by more than the margin: some of it ran in parallel
    assert judge_specs(SERIAL, quiet(**dict(base, process_percent=T.ONE_CORE + 5.0,
                                            tree_cpu_percent=116.0))).cause == "none"


def test_without_a_tree_the_busiest_cpu_stands_for_the_thread() -> None:
    core = spec("x.core_percent", R.CPU_CORE_MAX, R.HOST, label="busiest CPU")
    v = judge_specs([HOST_CPU, core], {"x.cpus_percent": 51.0, "x.core_percent": 100.0})
    assert v.cause == "cpu-thread" and "busiest CPU 100 % of a core" in v.text


REFAULTS = spec("x.refault_bytes_per_second", R.REFAULTS, R.HOST, label="refaults")
TREE_STORAGE = spec("x.tree_disk_read_bytes_per_second", R.STORAGE_READ, R.TREE)
LIMIT = spec("x.job_memory_limit_percent", R.MEMORY_LIMIT_USED, R.JOB, label="job memory")
THRASH = ALL + [REFAULTS, TREE_STORAGE, LIMIT]


def test_reads_that_are_mostly_refaults_are_memory_with_their_numbers() -> None:
    """A data set that does not stay in memory (a cgroup limit, too little RAM) is read again
    and again from storage: the disk is busy, but memory is what would fix it."""
    v = judge_specs(THRASH, quiet(refault_bytes_per_second=180e6,
                                  tree_disk_read_bytes_per_second=190e6,
                                  job_memory_limit_percent=99.6, tree_wait_percent=30.0,
                                  sda__busy_percent=95.0, gpu0__util_percent=30.0))
    assert v.cause == "memory"
    assert v.text == ("GPU 0 idle 70 % — memory pressure: job memory 100 % of its limit, "
                      "180 MB/s read back after eviction (95 % of reads from storage)")


def test_first_reads_and_other_jobs_refaults_are_not_memory() -> None:
    busy_disk = dict(tree_wait_percent=30.0, sda__busy_percent=95.0)
    # a first pass over the data: nothing was evicted yet, the disk is the limit
    first = quiet(refault_bytes_per_second=0.0, tree_disk_read_bytes_per_second=190e6,
                  job_memory_limit_percent=99.0, **busy_disk)
    assert judge_specs(THRASH, first).cause == "storage"
    # refaults a third of the tree's reads: most of what it reads is new to memory
    third = quiet(refault_bytes_per_second=60e6, tree_disk_read_bytes_per_second=190e6,
                  job_memory_limit_percent=99.0, **busy_disk)
    assert judge_specs(THRASH, third).cause == "storage"
    # the host refaults, but the tree reads nothing from storage: another job's, not this one's
    other = quiet(refault_bytes_per_second=180e6, tree_disk_read_bytes_per_second=0.0,
                  job_memory_limit_percent=99.0)
    assert judge_specs(THRASH, other).cause == "none"
    # refaults without a full limit: data evicted long ago (yesterday's run) read again
    unlimited = quiet(refault_bytes_per_second=180e6, tree_disk_read_bytes_per_second=190e6,
                      **busy_disk)
    assert judge_specs(THRASH, unlimited).cause == "storage"
    roomy = dict(unlimited, **{"x.job_memory_limit_percent": 40.0})
    assert judge_specs(THRASH, roomy).cause == "storage"


def test_reclaim_stalls_come_first() -> None:
    v = judge({"host.psi.memory_some_percent": 25.0, "host.psi.memory_full_percent": 6.0,
               "host.psi.io_some_percent": 50.0, "host.cpu.util_percent": 99.0})
    assert v.cause == "memory" and v.level == "bad"
    assert v.text == "memory pressure: reclaim stalls 25 %, all tasks stalled 6 %"


def test_a_busy_gpu_is_gpu_bound() -> None:
    v = judge_specs(ALL, quiet(gpu0__util_percent=96.0))
    assert v.cause == "gpu" and v.text == "GPU 0 busy 96 %: GPU-bound, data keeps up"


def test_an_input_bound_run_is_not_gpu_bound_however_busy_the_gpu() -> None:
    v = judge_specs(ALL, quiet(gpu0__util_percent=95.0, tree_wait_percent=40.0,
                               sda__busy_percent=99.0))
    assert v.cause == "storage"


def test_gpm_sm_activity_is_preferred_to_utilisation() -> None:
    """NVML's utilisation says only that a kernel ran; SM activity, where present, decides."""
    active = spec("x.gpu0.sm_active_percent", R.GPU_ACTIVITY, R.DEVICE, labels=(("gpu", "0"),))
    means = quiet(gpu0__util_percent=100.0, gpu0__sm_active_percent=20.0)
    assert judge_specs(ALL + [active], means).cause == "none"
    assert "GPU 0 idle 80 %" in judge_specs(ALL + [active], means).text
    assert judge_specs(ALL, means).cause == "gpu"


def test_a_full_pcie_link_while_the_gpu_waits_is_host_to_device() -> None:
    v = judge({"nvml.gpu0.util_percent": 40.0, "nvml.gpu0.pcie_rx_bytes_per_second": 26e9,
               "nvml.gpu0.pcie_link_max_bytes_per_second": 31.5e9})
    assert v.cause == "host-to-device"
    assert "GPU0 PCIe rx 83 % of its link" in v.text and v.text.startswith("GPU 0 idle 60 %")


def test_a_saturated_nic_is_network() -> None:
    nic = spec("x.eth0.rx_link_percent", R.LINK_SHARE, R.DEVICE, label="eth0 rx")
    v = judge_specs(ALL + [nic], quiet(eth0__rx_link_percent=93.0))
    assert v.cause == "network" and "eth0 rx 93 % of its speed" in v.text


def test_network_file_system_round_trips_are_network_and_metadata_storms_small_files() -> None:
    trips = spec("x.nfs.rtt_percent", R.ROUND_TRIP_SHARE, R.DEVICE, label="NFS round trips")
    meta = spec("x.nfs.metadata_per_second", R.METADATA_OPS, R.DEVICE, label="NFS metadata")
    specs = ALL + [trips, meta]
    v = judge_specs(specs, quiet(tree_wait_percent=30.0, nfs__rtt_percent=70.0,
                                 nfs__metadata_per_second=10.0))
    assert v.cause == "network" and "NFS round trips 70 % of the time" in v.text
    v = judge_specs(specs, quiet(tree_wait_percent=30.0, nfs__rtt_percent=10.0,
                                 nfs__metadata_per_second=5000.0))
    assert v.cause == "small-files" and "5.0 k metadata ops/s" in v.text


def test_memory_mapped_reads_count_as_input() -> None:
    """numpy memmap, Arrow, LMDB: the tree reads through page faults, not read calls."""
    faults = spec("x.major_faults_per_second", R.MAJOR_FAULTS, R.TREE)
    means = quiet(tree_wait_percent=40.0, read_bytes_per_second=0.0, major_faults_per_second=3e3,
                  sda__busy_percent=92.0)
    v = judge_specs(ALL + [faults], means)
    assert v.cause == "storage" and "3.0 k major faults/s (memory-mapped reads)" in v.text


STORED = spec("x.tree_storage_read_bytes_per_second", R.STORAGE_READ, R.TREE)


def cold_small_files(**changes: float) -> Dict[str, float]:
    """A loader of cold small files on a fast disk: 15 k calls/s of 2 KiB, their bytes from
    storage in 4 KiB requests, waiting 9 % (each read is quick; the per-file work fills the
    rest), its one thread 70 % busy."""
    figures = dict(tree_wait_percent=9.0, host_wait_percent=9.0, tree_cpu_percent=70.0,
                   thread_percent=70.0, read_calls_per_second=15000.0,
                   read_bytes_per_call=2048.0, read_bytes_per_second=30e6,
                   tree_storage_read_bytes_per_second=30e6, sda__busy_percent=60.0,
                   sda__reads_per_second=7300.0, sda__read_request_bytes=4096.0)
    return quiet(**{**figures, **changes})


def test_cold_small_files_on_a_fast_disk_are_small_files_below_the_input_line() -> None:
    v = judge_specs(ALL + [STORED], cold_small_files())
    assert v.cause == "small-files", v
    assert "15 k reads/s of 2.00 KiB" in v.text and "proc I/O delay 9 %" in v.text


def test_small_files_in_the_page_cache_are_not_an_input_cause() -> None:
    v = judge_specs(ALL + [STORED], cold_small_files(tree_storage_read_bytes_per_second=0.0))
    assert v.cause not in ("small-files", "storage"), v


def test_cold_small_files_that_do_not_wait_are_not_an_input_cause() -> None:
    just = T.SIGNATURE_WAIT - 0.5
    v = judge_specs(ALL + [STORED], cold_small_files(tree_wait_percent=just))
    assert v.cause not in ("small-files", "storage"), v


def test_a_big_cold_file_read_in_small_calls_is_not_input_below_the_line() -> None:
    """Readahead merges the small calls into big requests: the calls are the limit."""
    v = judge_specs(ALL + [STORED], cold_small_files(sda__reads_per_second=400.0,
                                                     sda__read_request_bytes=256e3))
    assert v.cause not in ("small-files", "storage"), v


def test_cold_small_files_on_the_signature_line_are_small_files() -> None:
    v = judge_specs(ALL + [STORED], cold_small_files(tree_wait_percent=T.SIGNATURE_WAIT))
    assert v.cause == "small-files", v


def test_memory_mapped_reads_need_the_moderate_line() -> None:
    faults = spec("x.major_faults_per_second", R.MAJOR_FAULTS, R.TREE)
    means = quiet(tree_wait_percent=T.INPUT_MODERATE - 0.5, read_bytes_per_second=0.0,
                  major_faults_per_second=9e3, sda__busy_percent=65.0)
    assert judge_specs(ALL + [faults], means).cause != "storage"


def test_memory_mapped_reads_are_input_below_the_line() -> None:
    faults = spec("x.major_faults_per_second", R.MAJOR_FAULTS, R.TREE)
    means = quiet(tree_wait_percent=12.0, read_bytes_per_second=0.0,
                  major_faults_per_second=9e3, sda__busy_percent=65.0)
    v = judge_specs(ALL + [faults], means)
    assert v.cause == "storage" and "9.0 k major faults/s" in v.text, v


def test_a_new_collectors_roles_are_heard_without_a_change() -> None:
    """A metric nobody here knows by name, declared as a waiting signal and a GPU-busy signal
    by a third-party collector, drives the diagnosis."""
    schema = Schema([gauge("acme.loader", "stall_percent", "percent", "Stalled.",
                           label="loader stall", roles=(R.WAITING,)),
                     gauge("acme.npu", "busy_percent", "percent", "Busy.", roles=(R.GPU_UTIL,))])
    v = diagnose({"acme.loader.stall_percent": [60.0], "acme.npu.busy_percent": [10.0]}, schema)
    assert v.cause == "storage" and v.text == "GPU idle 90 % — storage: loader stall 60 %"


def test_recorded_columns_are_understood_through_the_catalogue() -> None:
    v = judge({"host.psi.io_some_percent": 38.0, "host.cpu.util_percent": 10.0,
               "host.disk.sda.busy_percent": 99.0})
    assert v.cause == "storage" and v.text == "storage: sda 99 % busy, I/O pressure 38 %"
    assert judge({"host.cpu.util_percent": 95.0}).cause == "cpu"
    assert judge({"host.cpu.util_percent": 5.0, "host.psi.io_some_percent": 1.0}).text == (
        "no bottleneck seen")


def test_nan_samples_are_ignored() -> None:
    window = {"host.psi.io_some_percent": [math.nan, 30, math.nan]}
    share, source = waiting_share(window, schema_for_columns(list(window)))
    assert share == 30 and source is not None and source.column == "host.psi.io_some_percent"


def test_the_verdict_as_json_carries_cause_and_evidence() -> None:
    v = judge_specs(ALL, quiet(tree_wait_percent=45.0, sda__busy_percent=97.0))
    data = v.as_dict()
    assert data["cause"] == "storage" and data["level"] == "warn"
    assert data["evidence"][0] == {"label": "sda busy", "value": 97.0,
                                   "text": "sda 97 % busy, 50.0 MB/s read",
                                   "column": "x.sda.busy_percent"}


def test_window_from_rows_is_column_wise() -> None:
    w = window_from_rows(["timestamp", "a"], [(1.0, 2.0), (2.0, 3.0)])
    assert w == {"timestamp": [1.0, 2.0], "a": [2.0, 3.0]}


def test_the_jobs_own_io_stalls_stand_in_for_the_hosts() -> None:
    """On a shared node the host's PSI is every job's: the job's own cgroup speaks for it."""
    window = {"host.psi.io_some_percent": [60, 60], "host.cpu.iowait_percent": [30],
              "job.psi.io_some_percent": [2, 4]}
    share, source = waiting_share(window, schema_for_columns(list(window)))
    assert share == 3 and source is not None and source.column == "job.psi.io_some_percent"
    assert judge({c: v[0] for c, v in window.items()}).cause == "none"


def test_the_jobs_own_memory_stalls_stand_in_for_the_hosts() -> None:
    assert judge({"host.psi.memory_some_percent": 40, "job.psi.memory_some_percent": 1}
                 ).cause == "none"
    assert judge({"host.psi.memory_some_percent": 1, "job.psi.memory_some_percent": 30}
                 ).cause == "memory"


def test_without_the_jobs_own_stalls_the_hosts_count() -> None:
    window = {"host.psi.io_some_percent": [60, 60], "job.mem.used_bytes": [1e9]}
    assert waiting_share(window, schema_for_columns(list(window)))[0] == 60


def test_the_columns_kept_for_the_verdict_are_every_column_it_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The TUI keeps running means of needed_columns() only: a column the diagnosis reads but
    that list leaves out would be NaN there, and the live headline would differ from `run`'s.
    Each rule's windows are judged while every column the diagnosis looks at is noted."""
    specs = THRASH + [PROCESS, BUSY_THREADS]
    read = set()
    real_of = Figures.of

    def noting(self, spec):  # type: ignore[no-untyped-def]
        if spec is not None and spec.column:
            read.add(spec.column)
        return real_of(self, spec)

    monkeypatch.setattr(Figures, "of", noting)
    windows = [quiet(), quiet(thread_percent=99.0, tree_cpu_percent=102.0, cpus_percent=52.0),
               quiet(thread_percent=25.0, tree_cpu_percent=96.0, process_percent=95.0,
                     busy_threads=4.0, cpus_percent=55.0),
               quiet(tree_wait_percent=45.0, sda__busy_percent=97.0),
               quiet(refault_bytes_per_second=180e6, tree_disk_read_bytes_per_second=190e6,
                     job_memory_limit_percent=99.6)]
    for means in windows:
        judge_specs(specs, means)
    assert read and read <= set(needed_columns(Schema(specs))), read - set(
        needed_columns(Schema(specs)))
