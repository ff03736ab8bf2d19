"""The diagnosis on real workloads run under `memmap run --json`: each cause, and its neighbours.

Each workload is a real program on this machine: fio reading with direct I/O (the device is the
limit), a loader reading thousands of small files whose pages were just evicted (posix_fadvise
DONTNEED: cold reads without root), one thread compressing (one thread limits), a shell loop of
short compressors (a new process each second, one thread limits all the same), four threads
under the GIL (one core between them), one compressor per CPU (all CPUs busy), a memory-mapped
file read through page faults, a data set re-read under a cgroup memory limit smaller than it
(memory), a sleeper, and a two-phase run. The neighbours are asserted too: a busy thread must
not look like a busy disk, small files must not look like a saturated disk, threads that run in
parallel are not held to one core, a data set that fits in memory is not memory, and a sleeper
is not blamed for anything.
Causes that need hardware this machine lacks (a GPU's PCIe link, a saturated NIC) are proven
on role figures in tests/test_verdict.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import pytest
from conftest import memmap_cmd, memmap_env

PY = sys.executable
pytestmark = pytest.mark.slow

ZIP = """
import os, sys, time, zlib
data = os.urandom(1 << 20); end = time.time() + float(sys.argv[1])
while time.time() < end:
    zlib.compress(data, 6)
"""
POOL = """
import multiprocessing, os, sys, time, zlib
def work(seconds):
    data = os.urandom(1 << 20); end = time.time() + seconds
    while time.time() < end:
        zlib.compress(data, 6)
if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else os.cpu_count()
    with multiprocessing.Pool(n) as pool:
        pool.map(work, [float(sys.argv[1])] * n)
"""
GIL = """
import sys, threading, time
end = time.time() + float(sys.argv[1])
def spin():
    while time.time() < end:
        sum(range(1000))
threads = [threading.Thread(target=spin) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
"""
THREADED_ZIP = """
import os, sys, threading, time, zlib
end = time.time() + float(sys.argv[1])
def work():
    data = os.urandom(1 << 20)
    while time.time() < end:
        zlib.compress(data, 6)  # releases the GIL: the threads run in parallel
threads = [threading.Thread(target=work) for _ in range(os.cpu_count())]
for t in threads: t.start()
for t in threads: t.join()
"""
SMALL = """
import os, sys, time
root, end = sys.argv[1], time.time() + float(sys.argv[2])
names = [os.path.join(d, n) for d, _, files in os.walk(root) for n in files]
while time.time() < end:
    for name in names:
        fd = os.open(name, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # cold: the next read goes to disk
        os.close(fd)
    for name in names:
        with open(name, "rb") as f:
            f.read()
        if time.time() >= end:
            break
"""
WARM = """
import os, sys, time
root, end = sys.argv[1], time.time() + float(sys.argv[2])
names = [os.path.join(d, n) for d, _, files in os.walk(root) for n in files]
while time.time() < end:
    for name in names:  # the page cache holds them: nothing waits for the disk
        with open(name, "rb") as f:
            f.read()
"""
MAPPED = """
import mmap, os, sys, time
path, end = sys.argv[1], time.time() + float(sys.argv[2])
with open(path, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    size, total = len(m), 0
    m.madvise(mmap.MADV_RANDOM)  # no readahead: each touched page is one fault
    while time.time() < end:
        m.madvise(mmap.MADV_DONTNEED)  # unmap first: the page cache keeps mapped pages
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)  # then drop them: cold
        for i in range(0, size, 1 << 16):  # one page in every 64 KiB: a random-ish walk
            total += m[(i * 7919) % size]
            if time.time() >= end:
                break
"""

IN_TURN = """
import mmap, os, sys, time
# one thread reads 1 MiB from the disk (direct: no cache), then works `work` times as long as
# the read took, then idles `idle` times as long: a loader with no workers, timed by the disk
path, end = sys.argv[1], time.time() + float(sys.argv[2])
work, idle = float(sys.argv[3]), float(sys.argv[4])
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
size, at, block = os.fstat(fd).st_size, 0, mmap.mmap(-1, 1 << 20)
while time.time() < end:
    start = time.perf_counter()
    os.preadv(fd, [block], at)
    took = time.perf_counter() - start
    at = (at + (1 << 20)) % size
    stop = time.perf_counter() + work * took
    while time.perf_counter() < stop:
        sum(range(200))
    time.sleep(idle * took)
"""

REREAD = """
import sys, time
end = time.time() + float(sys.argv[2])
while time.time() < end:  # epoch after epoch over a data set bigger than the memory it may use
    with open(sys.argv[1], "rb") as f:
        while f.read(1 << 20):
            pass
"""
LIMIT_BYTES = 96 << 20


def hierarchy(controller: str) -> Optional[Tuple[Path, str]]:
    """Where a cgroup with `controller` can be made: the cgroup v1 hierarchy that has it, or a
    cgroup v2 tree whose root offers it (from /proc/self/mountinfo, proc(5))."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, point, options = fields[sep + 1], Path(fields[4]), fields[sep + 3]
        if fstype == "cgroup" and controller in options.split(","):
            return point, "v1"
        controllers = point / "cgroup.controllers"
        if fstype == "cgroup2" and controllers.exists() and \
                controller in controllers.read_text().split():
            return point, "v2"
    return None


def limited_group(controller: str, v1: Dict[str, str], v2: Dict[str, str]) -> Any:
    """A new cgroup under `controller` with the files of `v1` or `v2` written (cgroup v1 or v2
    names); yields its cgroup.procs, removes it after. Skips where no such hierarchy is
    mounted or making one needs root."""
    found = hierarchy(controller)
    if found is None:
        pytest.skip(f"no cgroup {controller} controller is mounted here")
    base, version = found
    group = base / f"memmap-test-{os.getpid()}"
    try:
        group.mkdir()
        if version == "v2":
            (base / "cgroup.subtree_control").write_text(f"+{controller}")
        for name, text in (v1 if version == "v1" else v2).items():
            (group / name).write_text(text)
    except OSError as exc:
        if group.exists():
            group.rmdir()
        pytest.skip(f"cannot make a {controller}-limited cgroup ({exc.strerror}): it needs root")
    yield group / "cgroup.procs"
    for _ in range(50):  # its processes have exited; the kernel lets the folder go soon after
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(0.1)


@pytest.fixture
def memory_limit() -> Any:
    """A cgroup whose memory (page cache included) is limited to LIMIT_BYTES; its cgroup.procs."""
    yield from limited_group("memory", {"memory.limit_in_bytes": str(LIMIT_BYTES)},
                             {"memory.max": str(LIMIT_BYTES)})


@pytest.fixture
def half_a_cpu() -> Any:
    """A cgroup whose CPU quota is half a core (CFS bandwidth: 50 ms of every 100 ms)."""
    yield from limited_group("cpu", {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"},
                             {"cpu.max": "50000 100000"})


def run_json(tmp: Path, *command: str, interval: str = "0.2",
             inside: Sequence[str] = ()) -> Dict[str, Any]:
    """`memmap run --json` of `command`; `inside`: what memmap itself is started by."""
    summary = tmp / "summary.json"
    out = subprocess.run([*inside, *memmap_cmd(), "run", "--json", str(summary), "--force",
                          "--interval", interval, "--", *command],
                         cwd=tmp, env=memmap_env(), capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    data: Dict[str, Any] = json.loads(summary.read_text())
    data["stderr"] = out.stderr
    return data


def script(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work folder on a real disk (not tmpfs): /var/tmp, as the fio workloads need."""
    d = Path(os.environ.get("MEMMAP_DISK_TMP", "/var/tmp")) / f"memmap-diag-{os.getpid()}"
    d.mkdir(parents=True, exist_ok=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def big_file(disk: Path) -> Path:
    path = disk / "big.bin"
    subprocess.run(["fio", "--name=w", "--rw=write", "--bs=1M", "--size=512M",
                    f"--filename={path}", "--direct=1", "--output=/dev/null"], check=True)
    return path


needs_fio = pytest.mark.skipif(shutil.which("fio") is None, reason="fio is not installed "
                               "(.ci/run installs it; apt-get install -y fio)")


@needs_fio
def test_direct_reads_at_the_devices_pace_are_storage(disk: Path, big_file: Path) -> None:
    data = run_json(disk, "fio", "--name=r", "--rw=read", "--bs=1M", f"--filename={big_file}",
                    "--direct=1", "--time_based", "--runtime=6", "--output=/dev/null")
    verdict = data["verdict"]
    assert verdict["cause"] == "storage", verdict
    assert verdict["evidence"] and all(e["text"] for e in verdict["evidence"])


@needs_fio
def test_asynchronous_direct_reads_that_keep_the_device_busy_are_storage(
        disk: Path, big_file: Path) -> None:
    """fio libaio: a few 1 MiB reads in flight, reaped in io_getevents, which neither iowait
    nor the I/O pressure counts; the device busy with the tree's own bytes says it instead."""
    data = run_json(disk, "fio", "--name=r", "--rw=randread", "--bs=1M", "--iodepth=4",
                    "--ioengine=libaio", f"--filename={big_file}", "--direct=1",
                    "--time_based", "--runtime=6", "--output=/dev/null")
    verdict = data["verdict"]
    assert verdict["cause"] == "storage", verdict
    texts = " | ".join(e["text"] for e in verdict["evidence"])
    assert "the tree's" in texts and "tree on CPU" in texts, verdict


@needs_fio
@pytest.mark.parametrize("engine", [("--ioengine=psync",), ("--ioengine=libaio", "--iodepth=16")],
                         ids=["psync", "libaio-16"])
def test_small_random_blocks_of_one_file_are_storage_not_small_files(
        disk: Path, big_file: Path, engine: Tuple[str, ...]) -> None:
    """fio's 4 KiB random reads of one big file, one at a time or 16 in flight: thousands of
    small reads a second, in small requests, but of one file: each call is one device request
    of its own size, where whole small files end in a short or empty read. The device is the
    limit."""
    data = run_json(disk, "fio", "--name=r", "--rw=randread", "--bs=4k", *engine,
                    f"--filename={big_file}", "--direct=1", "--time_based", "--runtime=6",
                    "--output=/dev/null")
    verdict = data["verdict"]
    assert verdict["cause"] == "storage", verdict
    assert "% busy" in verdict["evidence"][0]["text"], verdict


def random_4k_reads(big_file: Path, *extra: str, runtime: int = 6) -> Tuple[str, ...]:
    """fio's 4 KiB random direct reads of `big_file` through libaio, one in flight."""
    return ("fio", "--name=r", "--rw=randread", "--bs=4k", "--iodepth=1", "--ioengine=libaio",
            f"--filename={big_file}", "--direct=1", "--time_based", f"--runtime={runtime}",
            *extra)


@needs_fio
def test_asynchronous_reads_one_at_a_time_are_storage(disk: Path, big_file: Path) -> None:
    """One 4 KiB read in flight at a time: the device idles while fio reaps each and submits
    the next, so it is under device_busy, and nothing counts the wait; but the tree is always
    either on a CPU or waiting for its device, the device the longer (device_turns)."""
    data = run_json(disk, *random_4k_reads(big_file, "--output=/dev/null"))
    verdict = data["verdict"]
    assert verdict["cause"] == "storage", verdict
    texts = " | ".join(e["text"] for e in verdict["evidence"])
    assert "the tree's" in texts and "tree on CPU" in texts, verdict


@needs_fio
def test_the_same_reads_paced_at_a_quarter_of_the_devices_rate_have_no_cause(
        disk: Path, big_file: Path) -> None:
    """The neighbour: the same reads at a quarter of the rate the device gives them (fio
    --rate_iops, as a loader paced by its consumer): %util reads high (a jiffy for each jiffy
    a read starts or ends in), but they are in flight a fraction of the time and the tree
    idles the rest."""
    probe = subprocess.run(random_4k_reads(big_file, "--output-format=json", runtime=2),
                           capture_output=True, text=True, check=True)
    iops = json.loads(probe.stdout)["jobs"][0]["read"]["iops"]
    assert iops > 100, probe.stdout[-500:]
    data = run_json(disk, *random_4k_reads(big_file, f"--rate_iops={int(iops / 4)}",
                                           "--output=/dev/null"))
    assert data["verdict"]["cause"] == "none", (iops, data["verdict"])


@needs_fio
def test_a_thread_that_reads_then_works_in_turn_is_cpu_thread(disk: Path, big_file: Path) -> None:
    """A loader with no workers: each 1 MiB direct read, then 4.5 times as long on a CPU. The
    wait is at most 1/5.5 of the time (18 %, under input_bound) and the thread busy the rest,
    short of thread_pinned by the wait: never idle, the two in turn are its limit."""
    data = run_json(disk, PY, script(disk, "in_turn.py", IN_TURN), str(big_file), "8", "4.5",
                    "0")
    verdict = data["verdict"]
    texts = " | ".join(e["text"] for e in verdict["evidence"])
    assert verdict["cause"] == "cpu-thread", (verdict, data["cpu"], data["waiting"])
    assert "in turn" in texts, verdict  # this rule's, not a pinned thread's
    assert data["waiting"]["share_percent"] >= 5, data["waiting"]


@needs_fio
def test_the_same_reader_idle_a_third_of_the_time_has_no_cause(disk: Path,
                                                               big_file: Path) -> None:
    """The neighbour: the same reads and work, then as long idle (a loader that keeps up with
    its consumer): the thread and its wait together hold well under a core's time."""
    data = run_json(disk, PY, script(disk, "in_turn.py", IN_TURN), str(big_file), "8", "3", "3")
    verdict = data["verdict"]
    assert verdict["cause"] == "none", (verdict, data["cpu"], data["waiting"])
    assert 20 < data["cpu"]["busiest_thread_percent"] < 75, data["cpu"]


@needs_fio
def test_a_sleeper_beside_asynchronous_reads_outside_its_tree_has_no_cause(
        disk: Path, big_file: Path) -> None:
    """The neighbour: the same reads keep the device busy, but they are not the tree's."""
    fio = subprocess.Popen(["fio", "--name=r", "--rw=randread", "--bs=1M", "--iodepth=4",
                            "--ioengine=libaio", f"--filename={big_file}", "--direct=1",
                            "--time_based", "--runtime=8", "--output=/dev/null"])
    try:
        time.sleep(1)
        data = run_json(disk, "sleep", "5")
    finally:
        fio.wait()
    assert data["verdict"]["cause"] == "none", data["verdict"]


@needs_fio
def test_direct_writes_at_the_devices_pace_are_storage_told_as_writes(disk: Path) -> None:
    """A checkpoint writer: the evidence gives the bytes written and the time a write took,
    not the reads beside them."""
    data = run_json(disk, "fio", "--name=w", "--rw=write", "--bs=1M", "--size=512M",
                    f"--filename={disk / 'out.bin'}", "--direct=1", "--time_based",
                    "--runtime=5", "--output=/dev/null")
    verdict = data["verdict"]
    assert verdict["cause"] == "storage", verdict
    assert "written" in verdict["evidence"][0]["text"], verdict
    assert "a write" in verdict["evidence"][0]["text"], verdict


def small_files(root: Path) -> Path:
    """20,000 files of 4 KiB in 20 folders, on the disk."""
    for i in range(20000):
        sub = root / f"{i // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:05d}.bin").write_bytes(os.urandom(4096))
    os.sync()
    return root


def test_thousands_of_small_cold_files_are_small_files(disk: Path) -> None:
    root = small_files(disk / "small")
    data = run_json(disk, PY, script(disk, "small.py", SMALL), str(root), "8")
    verdict = data["verdict"]
    assert verdict["cause"] == "small-files", verdict
    assert "reads/s of" in verdict["text"]
    calls = data["read"]["calls"]
    assert calls["bytes_per_call"] < 64 * 1024 and calls["calls_per_second"] > 500


ONE_CALL = """
import os, sys
root = sys.argv[1]
for _ in range(2):
    with open("/proc/sys/vm/drop_caches", "w") as f:  # names and data cold
        f.write("3")
    for d, _, files in os.walk(root):
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                f.read(4096)  # one call of the file's size: no read at the end
"""


def test_cold_small_files_read_in_one_call_each_are_small_files(disk: Path) -> None:
    """A loader that knows each file's size (tar, a reader of fixed-size records) makes one
    call per file, as big as the device's request: the calls look like blocks of one file.
    The names the kernel looks up for the first time say many files."""
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3")
    except OSError as exc:
        pytest.skip(f"cannot drop the page cache ({exc.strerror}): it needs root, as CI has")
    root = small_files(disk / "one-call")
    data = run_json(disk, PY, script(disk, "one_call.py", ONE_CALL), str(root))
    verdict = data["verdict"]
    assert verdict["cause"] == "small-files", verdict
    assert "new file names/s" in verdict["text"], verdict


WALK = """#!/bin/sh
# du over a cold tree, three times: the page cache, dentries and inodes dropped before each
for i in 1 2 3; do
    sync; echo 3 > /proc/sys/vm/drop_caches
    du -s "$1" > /dev/null
done
"""


@pytest.fixture(scope="module")
def names_tree(disk: Path) -> Path:
    """60,000 empty files in 600 folders: a data set's names without its bytes."""
    root = disk / "names"
    for d in range(600):
        sub = root / f"{d:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(100):
            os.close(os.open(sub / f"{i:03d}.json", os.O_CREAT | os.O_WRONLY, 0o644))
    os.sync()
    return root


def test_a_cold_metadata_walk_is_small_files(disk: Path, names_tree: Path) -> None:
    """`du` on a cold tree reads directory and inode blocks, not files: no read call, few
    faults, yet MB/s from storage in small requests. It is the small-files cause (a bigger disk
    would not fix it), though its wait stays under input_bound."""
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3")
    except OSError as exc:
        pytest.skip(f"cannot drop the page cache ({exc.strerror}): it needs root, as CI has")
    walk = script(disk, "walk.sh", WALK)
    os.chmod(walk, 0o755)
    data = run_json(disk, walk, str(names_tree), interval="0.1")
    verdict = data["verdict"]
    assert verdict["cause"] == "small-files", verdict
    assert "through read calls (metadata" in verdict["text"], verdict


def test_a_warm_metadata_walk_is_not_small_files(disk: Path, names_tree: Path) -> None:
    """The neighbour: the same walk with every name in memory reads nothing from storage."""
    subprocess.run(["du", "-s", str(names_tree)], check=True, capture_output=True)
    data = run_json(disk, "sh", "-c", f"for i in 1 2 3 4 5 6 7 8; do du -s '{names_tree}'; done",
                    interval="0.1")
    assert data["verdict"]["cause"] not in ("small-files", "storage"), data["verdict"]


def test_small_files_in_the_page_cache_are_not_an_input_cause(disk: Path) -> None:
    """The neighbour of cold small files: the same calls served from memory. The loader is
    limited by its own per-file work, never by storage."""
    root = disk / "warm"
    for i in range(2000):
        sub = root / f"{i // 500}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:04d}.bin").write_bytes(os.urandom(4096))
    data = run_json(disk, PY, script(disk, "warm.py", WARM), str(root), "6")
    assert data["verdict"]["cause"] not in ("small-files", "storage"), data["verdict"]
    assert data["read"]["page_cache_percent"] > 90


def test_one_compressing_thread_is_cpu_thread_not_storage(tmp_path: Path) -> None:
    data = run_json(tmp_path, PY, script(tmp_path, "zip.py", ZIP), "6")
    verdict = data["verdict"]
    assert verdict["cause"] == "cpu-thread", verdict
    assert data["cpu"]["busiest_thread_percent"] > 80


def test_a_shell_loop_of_short_compressors_is_cpu_thread(tmp_path: Path) -> None:
    """One tool after another (a loop over files, each a new process living about a second):
    each is one busy thread from its start, and the pipeline is serial."""
    zip_py = script(tmp_path, "zip.py", ZIP)
    data = run_json(tmp_path, "sh", "-c", f"for i in 1 2 3 4 5 6; do '{PY}' '{zip_py}' 1.1; done")
    verdict = data["verdict"]
    assert verdict["cause"] == "cpu-thread", verdict
    assert data["cpu"]["busiest_thread_percent"] > 80


SHORT_ZIP = "import os, zlib; d = os.urandom(1 << 20); [zlib.compress(d, 6) for _ in range(2)]"


def loop_of(seconds: float, *tool: str, parallel: int = 1) -> Tuple[str, ...]:
    """A shell loop that runs `tool` over and over for `seconds`; `parallel` such loops side by
    side, each starting its next tool as its last ends (batches that wait for their slowest
    tool would leave a CPU idle at every batch's end)."""
    one = " ".join(f"'{a}'" for a in tool)
    loop = f"while [ $(date +%s) -lt $end ]; do {one}; done"
    loops = " & ".join([loop] * parallel) + (" & wait" if parallel > 1 else "")
    return ("sh", "-c", f"end=$(($(date +%s) + {int(seconds)})); {loops}")


def test_a_loop_of_tools_too_short_to_measure_is_cpu_thread(tmp_path: Path) -> None:
    """Each compressor lives well under 0.2 s, too short for its thread to be measured, so no
    busiest thread is seen; one after another they hold one core while another is free."""
    data = run_json(tmp_path, *loop_of(8, PY, "-c", SHORT_ZIP), interval="0.5")
    verdict = data["verdict"]
    assert verdict["cause"] == "cpu-thread", verdict
    assert "one after another" in verdict["text"]
    assert 80 <= data["cpu"]["tree_percent"] <= 115, data["cpu"]


def test_a_loop_of_millisecond_tools_is_cpu_thread(tmp_path: Path) -> None:
    """Each tool (cksum of 64 KiB) lives about a millisecond, between two readings: no reading
    ever sees one, only the shell between them, which spends little. The core is in tools
    never measured, one after another."""
    data_file = tmp_path / "small.bin"
    data_file.write_bytes(os.urandom(64 << 10))
    data = run_json(tmp_path, "sh", "-c", f"end=$(($(date +%s) + 8)); while [ $(date +%s) -lt "
                                          f"$end ]; do cksum '{data_file}' >/dev/null; done",
                    interval="0.5")
    verdict = data["verdict"]
    assert verdict["cause"] == "cpu-thread", verdict
    assert "one after another" in verdict["text"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: nothing runs side by side")
def test_short_tools_side_by_side_on_every_cpu_are_cpu(tmp_path: Path) -> None:
    """The neighbour: the same short compressors, one per CPU at a time, fill the CPUs."""
    data = run_json(tmp_path, *loop_of(8, PY, "-c", SHORT_ZIP, parallel=os.cpu_count() or 2),
                    interval="0.5")
    assert data["verdict"]["cause"] == "cpu", data["verdict"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: a mask leaves nothing out")
def test_a_pool_masked_to_one_cpu_is_cpu(tmp_path: Path) -> None:
    """Two compressors allowed one CPU (taskset): half the host's CPUs are idle and no thread is
    pinned, but the pool's threads wait for their CPU. CPU pressure says so."""
    if shutil.which("taskset") is None:
        pytest.skip("no taskset here (util-linux)")
    data = run_json(tmp_path, "taskset", "-c", "0", PY, script(tmp_path, "pool.py", POOL), "8", "2",
                    interval="0.5")
    verdict = data["verdict"]
    assert verdict["cause"] == "cpu", verdict
    assert "waiting for a CPU" in verdict["text"]
    # two threads of one process that release the GIL, masked to one CPU: they take turns
    # on it as threads under a lock would, but they wait for the CPU, not for each other
    data = run_json(tmp_path, "taskset", "-c", "0", PY,
                    script(tmp_path, "tzip.py", THREADED_ZIP), "8", interval="0.5")
    assert data["verdict"]["cause"] == "cpu", data["verdict"]


def test_a_job_throttled_by_its_cpu_quota_is_cpu(tmp_path: Path, half_a_cpu: Path) -> None:
    """One compressing thread under a quota of half a core: it runs at 50 %, so it is not a
    pinned thread, and the CPUs are free; the quota is its limit. memmap starts in the cgroup,
    as inside a Slurm job, and the command inherits it: memmap reads the watched process's
    cgroup once, as it starts, and a command that moves itself there a moment later (as this
    test first did) raced with that read (collectors/cgroup.py, known gaps)."""
    zip_py = script(tmp_path, "zip.py", ZIP)
    data = run_json(tmp_path, PY, zip_py, "8", interval="0.5",
                    inside=("sh", "-c", f'echo $$ > {half_a_cpu}; exec "$0" "$@"'))
    verdict = data["verdict"]
    assert verdict["cause"] == "cpu", verdict
    assert "CPU quota" in verdict["text"]


def test_a_loop_of_short_sleepers_has_no_cause(tmp_path: Path) -> None:
    """The neighbour: a loop of short processes that mostly sleep holds no core."""
    data = run_json(tmp_path, *loop_of(6, "sleep", "0.05"), interval="0.5")
    assert data["verdict"]["cause"] == "none", data["verdict"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: nothing is left free")
def test_four_threads_under_the_gil_are_cpu_thread(tmp_path: Path) -> None:
    """No thread is pinned (each gets a quarter of the turns), yet the loader is held to one
    core while another is free: the GIL is its limit."""
    data = run_json(tmp_path, PY, script(tmp_path, "gil.py", GIL), "6")
    verdict = data["verdict"]
    assert verdict["cause"] == "cpu-thread", verdict
    assert data["cpu"]["busiest_thread_percent"] < 80  # the serialised rule, not a pinned thread
    assert data["cpu"]["busiest_process_busy_threads"] >= 2
    assert "busy threads share one core" in verdict["text"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: threads cannot run in parallel")
def test_threads_that_release_the_gil_fill_the_cpus_and_are_cpu(tmp_path: Path) -> None:
    """The neighbour: one process whose threads compress in parallel is past one core."""
    data = run_json(tmp_path, PY, script(tmp_path, "tzip.py", THREADED_ZIP), "6")
    assert data["verdict"]["cause"] == "cpu", data["verdict"]
    assert data["cpu"]["busiest_process_percent"] > 110


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: a pool is one thread")
def test_one_compressor_per_cpu_is_cpu(tmp_path: Path) -> None:
    data = run_json(tmp_path, PY, script(tmp_path, "pool.py", POOL), "6")
    assert data["verdict"]["cause"] == "cpu", data["verdict"]


def test_a_sleeper_has_no_cause(tmp_path: Path) -> None:
    data = run_json(tmp_path, "sleep", "4")
    assert data["verdict"]["cause"] == "none", data["verdict"]


@needs_fio
def test_a_memory_mapped_data_set_read_through_faults_is_input(disk: Path,
                                                                big_file: Path) -> None:
    data = run_json(disk, PY, script(disk, "mapped.py", MAPPED), str(big_file), "6")
    verdict = data["verdict"]
    assert verdict["cause"] in ("storage", "small-files"), verdict
    assert any("major faults" in e["text"] or "requests/s" in e["text"]
               for e in verdict["evidence"]), verdict


@needs_fio
def test_a_data_set_re_read_under_a_smaller_memory_limit_is_memory(
        disk: Path, big_file: Path, memory_limit: Path) -> None:
    """512 MiB read epoch after epoch in a cgroup that may hold 96 MiB: every epoch reads it
    from storage again, pages evicted before their next use (refaults). A bigger limit would
    fix it; a faster disk only makes re-reading cheaper."""
    reread = script(disk, "reread.py", REREAD)
    data = run_json(disk, PY, reread, str(big_file), "7",  # memmap in the cgroup: see above
                    inside=("sh", "-c", f'echo $$ > {memory_limit}; exec "$0" "$@"'))
    verdict = data["verdict"]
    assert verdict["cause"] == "memory", verdict
    assert verdict["evidence"], verdict  # reclaim stalls, or the limit and the refaults


@needs_fio
def test_a_data_set_that_fits_in_memory_is_not_memory(disk: Path, big_file: Path) -> None:
    """The neighbour: the same epochs without a limit read storage once, then the page cache."""
    reread = script(disk, "reread.py", REREAD)
    data = run_json(disk, PY, reread, str(big_file), "6")
    assert data["verdict"]["cause"] != "memory", data["verdict"]


@needs_fio
def test_reading_then_compressing_is_two_phases(disk: Path, big_file: Path) -> None:
    two = script(disk, "two.sh", f"""#!/bin/sh
fio --name=r --rw=read --bs=1M --filename={big_file} --direct=1 --time_based --runtime=7 \\
    --output=/dev/null
{PY} {script(disk, "zip2.py", ZIP)} 7
""")
    os.chmod(two, 0o755)
    data = run_json(disk, two)
    causes = [p["cause"] for p in data["phases"] if p["cause"] != "none"]
    merged = [c for i, c in enumerate(causes) if i == 0 or c != causes[i - 1]]
    assert merged == ["storage", "cpu-thread"], data["phases"]
    assert all(p["end"] > p["start"] for p in data["phases"])
    assert [p["start"] for p in data["phases"]] == sorted(p["start"] for p in data["phases"])
    assert "phase" in data["stderr"]
    # the whole run has a cause too: the one that held longest, not the means' "none"
    assert data["verdict"]["cause"] in ("storage", "cpu-thread"), data["verdict"]
