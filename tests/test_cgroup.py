"""The job's cgroup and identity on fake trees laid out as the kernel documents them
(Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/*.rst): tests/data/cgroup_v2 is a Slurm job
under the cgroup/v2 plugin, cgroup_v1 the same job under the v1 plugin on a hybrid node, cgroup_ns
a container that sees its own cgroup as `0::/`. The files' formats are the kernel's."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from conftest import DATA
from memmap_tui.collectors.cgroup import CgroupCollector
from memmap_tui.collectors.cgroupfs import (
    Membership,
    io_bytes,
    job_in_path,
    parse_cgroup_file,
    parse_mountinfo,
    psi_total,
    resolve,
)
from memmap_tui.collectors.job import JobIdentity, clean, job_identity, job_in_mounts

from memmap_tui import roles as R
from memmap_tui.collector import CollectorError
from memmap_tui.derive import derive
from memmap_tui.model import Reading, Schema

V2, V1, NS = DATA / "cgroup_v2", DATA / "cgroup_v1", DATA / "cgroup_ns"
JOB_V2 = "sys/fs/cgroup/system.slice/slurmstepd.scope/job_4711"
POD = "0c6e4a2b-9f1d-4c55-8a3e-2f4b5c6d7e8f"
CONTAINER = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"


def _collector(tree: Path, pid=4242) -> CgroupCollector:  # type: ignore[no-untyped-def]
    c = CgroupCollector(pid, str(tree / "proc"), str(tree / "sys"))
    c.open()
    return c


def _values(c: CgroupCollector) -> dict:
    return dict(zip((s.name for s in c.metrics()), c.collect()))


# -- /proc/PID/cgroup and mountinfo ------------------------------------------------------------
def test_cgroup_file_lines_of_v1_v2_and_hybrid() -> None:
    text = ("12:cpu,cpuacct:/slurm/uid_1000/job_4711\n1:name=systemd:/user.slice\n"
            "0::/a b/c:d\nnot a line\n3:memory:relative\n")
    assert parse_cgroup_file(text) == [Membership("cpu,cpuacct", "/slurm/uid_1000/job_4711"),
                                       Membership("name=systemd", "/user.slice"),
                                       Membership("", "/a b/c:d")]


def test_mountinfo_finds_cgroup_mounts_and_undoes_escapes() -> None:
    text = ("22 1 0:20 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup "
            "rw,cpu,cpuacct\n"
            "23 1 0:21 /docker/ab /my\\040cgroups rw master:1 - cgroup2 cgroup2 rw\n"
            "24 1 0:22 / /proc rw - proc proc rw\n")
    v1, v2 = parse_mountinfo(text)
    assert (v1.mountpoint, v1.v2, {"cpu", "cpuacct"} <= v1.controllers) == (
        "/sys/fs/cgroup/cpu,cpuacct", False, True)
    assert (v2.mountpoint, v2.root, v2.v2) == ("/my cgroups", "/docker/ab", True)


def test_a_mount_of_a_subtree_maps_paths_below_it_only() -> None:
    (mount,) = parse_mountinfo("23 1 0:21 /docker/ab /cg rw - cgroup2 cgroup2 rw\n")
    assert resolve(Membership("", "/docker/ab/sub"), [mount]) == ("/cg/sub", "/cg")
    assert resolve(Membership("", "/docker/ab"), [mount]) == ("/cg", "/cg")
    assert resolve(Membership("", "/docker/abc"), [mount]) is None
    assert resolve(Membership("memory", "/docker/ab"), [mount]) is None  # a v1 line


# -- which job a path names -------------------------------------------------------------------
@pytest.mark.parametrize("path, want", [
    ("/slurm/uid_1000/job_4711/step_0/task_0", ("slurm", "4711", "/slurm/uid_1000/job_4711")),
    ("/system.slice/slurmstepd.scope/job_4711/step_batch/user/task_0",
     ("slurm", "4711", "/system.slice/slurmstepd.scope/job_4711")),
    ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
     f"{POD.replace('-', '_')}.slice/cri-containerd-{CONTAINER}.scope",
     ("kubernetes", POD, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
      f"{POD.replace('-', '_')}.slice")),
    (f"/kubepods/besteffort/pod{POD}/{CONTAINER}",
     ("kubernetes", POD, f"/kubepods/besteffort/pod{POD}")),
    (f"/system.slice/docker-{CONTAINER}.scope",
     ("container", CONTAINER[:12], f"/system.slice/docker-{CONTAINER}.scope")),
    (f"/docker/{CONTAINER}", ("container", CONTAINER[:12], f"/docker/{CONTAINER}")),
    (f"/machine.slice/libpod-{CONTAINER}.scope/container",
     ("container", CONTAINER[:12], f"/machine.slice/libpod-{CONTAINER}.scope")),
    ("/system.slice/train.service", ("systemd", "train.service", "/system.slice/train.service")),
    ("/user.slice/user-1000.slice/user@1000.service/app.slice/run-u42.scope",
     ("systemd", "run-u42.scope",
      "/user.slice/user-1000.slice/user@1000.service/app.slice/run-u42.scope")),
    ("/user.slice/user-1000.slice/session-3.scope", ("", "", "")),
    ("/user.slice/user-1000.slice/user@1000.service", ("", "", "")),
    ("/init.scope", ("", "", "")),
    ("/", ("", "", "")),
    ("/slurm/job_47x1", ("", "", "")),
])
def test_job_named_by_a_cgroup_path(path: str, want: tuple) -> None:
    assert job_in_path(path) == want


def test_job_of_a_process_from_its_cgroup() -> None:
    found = job_identity(4242, str(V2 / "proc"), environ={})
    assert (found.job, found.scheduler) == ("4711", "slurm")
    assert found.cgroup == "/system.slice/slurmstepd.scope/job_4711/step_0/user/task_0"
    assert found.user  # the owner of /proc/4242 here


def test_slurm_v1_path_gives_the_jobs_user_id() -> None:
    found = job_identity(4242, str(V1 / "proc"), environ={})
    assert found.job == "4711" and found.user in ("1000",) + tuple(_user(1000))


def _user(uid: int) -> tuple:
    import pwd

    try:
        return (pwd.getpwuid(uid).pw_name,)
    except KeyError:
        return ()


def test_memmaps_own_job_from_slurm_job_id() -> None:
    found = job_identity(None, str(V2 / "proc"),
                         environ={"SLURM_JOB_ID": "4711", "SLURM_JOB_USER": "alice"})
    assert found == JobIdentity("4711", "alice", "slurm", "")


def test_memmaps_own_systemd_unit_is_not_a_job() -> None:
    found = job_identity(None, str(V2 / "proc"), environ={})  # slurmd.service
    assert found.job == "" and found.scheduler == ""


def test_a_process_that_is_gone_gives_what_the_environment_says(tmp_path: Path) -> None:
    assert job_identity(99999, str(tmp_path), environ={}).job == ""
    assert job_identity(99999, str(tmp_path), environ={"SLURM_JOB_ID": "12"}).job == "12"


def test_untrusted_ids_are_made_printable_and_short() -> None:
    assert clean("47\x1b[31m11\n") == "47?[31m11?"
    assert len(clean("9" * 500)) == 128
    found = job_identity(None, "/nonexistent", environ={"SLURM_JOB_ID": "4711\x07"})
    assert found.job == "4711?"


# -- the job's figures ------------------------------------------------------------------------
def test_v2_memory_against_the_lowest_limit_on_the_way_up() -> None:
    v = _values(_collector(V2))
    assert v["job.mem.used_bytes"] == 28 * 2**30
    assert v["job.mem.limit_bytes"] == 32 * 2**30  # not the 60 GiB of system.slice
    assert v["job.mem.limit_used_percent"] == pytest.approx(87.5)
    assert v["job.mem.oom_kills"] == 2


def test_v2_cpu_quota_throttling_and_psi() -> None:
    v = _values(_collector(V2))
    assert v["job.cpu.used_seconds"] == pytest.approx(12.0)
    assert v["job.cpu.limit_percent"] == pytest.approx(400.0)
    assert (v["job.cpu.periods"], v["job.cpu.throttled_periods"]) == (200, 50)
    assert v["job.cpu.throttled_seconds"] == pytest.approx(3.0)
    assert v["job.psi.io_some_stall_seconds"] == pytest.approx(2.5)
    assert v["job.psi.memory_full_stall_seconds"] == pytest.approx(0.1)
    assert v["job.psi.cpu_some_stall_seconds"] == pytest.approx(0.7)


def test_v2_io_per_physical_disk_and_in_all() -> None:
    c = _collector(V2)
    v = _values(c)
    assert c.disks == {"259:0": "nvme0n1", "8:0": "sda"}  # dm-0 is stacked on nvme0n1
    assert v["job.disk.nvme0n1.read_bytes"] == 10 * 2**20
    assert v["job.disk.sda.read_bytes"] == 0  # no line: no I/O from the job yet
    assert v["job.disk.read_bytes"] == 10 * 2**20  # dm-0's bytes are not counted twice
    assert v["job.disk.write_bytes"] == 2 * 2**20


def test_v1_gives_the_same_figures_from_its_own_files() -> None:
    v = _values(_collector(V1))
    assert v["job.mem.used_bytes"] == 28 * 2**30 and v["job.mem.limit_bytes"] == 32 * 2**30
    assert v["job.mem.oom_kills"] == 3
    assert v["job.cpu.used_seconds"] == pytest.approx(12.0)
    assert v["job.cpu.limit_percent"] == pytest.approx(400.0)
    assert v["job.cpu.throttled_seconds"] == pytest.approx(3.0)
    assert v["job.disk.nvme0n1.read_bytes"] == 10 * 2**20
    assert v["job.disk.write_bytes"] == 2 * 2**20


def test_hybrid_node_takes_no_psi_from_a_v2_cgroup_that_is_not_the_job() -> None:
    c = _collector(V1)  # its v2 line is slurmd.service, which has PSI files
    assert c.dirs.v2 is None
    assert not any(s.name.startswith("job.psi.") for s in c.metrics())


def test_a_container_sees_its_own_cgroup_as_the_root() -> None:
    c = _collector(NS, pid=None)
    v = _values(c)
    assert v["job.mem.limit_bytes"] == 8 * 2**30 and v["job.mem.used_bytes"] == 2**30
    assert math.isnan(v["job.cpu.limit_percent"])  # cpu.max says "max"


def test_the_real_root_cgroup_is_not_a_job(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    shutil.copytree(NS, tree)
    (tree / "sys/fs/cgroup/cgroup.type").unlink()  # the machine's own root has no cgroup.type
    got = CgroupCollector(None, str(tree / "proc"), str(tree / "sys")).probe()
    assert not got.available


def test_without_pid_memmap_outside_a_job_has_no_job_view() -> None:
    got = CgroupCollector(None, str(V2 / "proc"), str(V2 / "sys")).probe()
    assert not got.available and "--pid" in got.reason


@pytest.mark.parametrize("state, flags, kept", [
    ("R", 0x4 | 0x400000, True),   # PF_EXITING: do_exit() began, the state still R
    ("Z", 0x400000, True),         # a zombie
    ("R", 0x400000, False),        # running, moved to the root cgroups: no job
])
def test_a_process_that_begins_to_exit_after_probe_keeps_the_probed_cgroup(
        tmp_path: Path, state: str, flags: int, kept: bool) -> None:
    """v1 shows a task in the root cgroups from PF_EXITING on (proc_cgroup_show in
    kernel/cgroup/cgroup.c), before it is a zombie: a command that ends while memmap opens is
    read at the cgroup the probe found. /proc/PID/stat as fs/proc/array.c do_task_stat prints
    it: pid (comm) state ppid pgrp session tty_nr tpgid flags ..."""
    tree = tmp_path / "t"
    shutil.copytree(V1, tree)
    c = CgroupCollector(4242, str(tree / "proc"), str(tree / "sys"))
    assert c.probe().available
    cgroup = tree / "proc/4242/cgroup"
    cgroup.write_text("".join(f"{line.rsplit(':', 1)[0]}:/\n"
                              for line in cgroup.read_text().splitlines()))
    (tree / "proc/4242/stat").write_text(
        f"4242 (python3) {state} 1 4242 4242 0 -1 {flags} 120 0 0 0 3 1 0 0 20 0 1 0 900\n")
    if kept:
        c.open()
        assert _values(c)["job.mem.used_bytes"] > 0
    else:
        with pytest.raises(CollectorError, match="no cgroup of its own"):
            c.open()


def test_a_process_that_does_not_exist_is_refused_by_probe(tmp_path: Path) -> None:
    got = CgroupCollector(99999, str(tmp_path), str(tmp_path)).probe()
    assert not got.available and "99999" in got.reason


def test_throttled_share_and_stall_percent_come_from_derive(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    shutil.copytree(V2, tree)
    c = _collector(tree)
    schema = Schema(c.metrics())
    first = Reading(0.0, 0.0, list(c.collect()))
    job = tree / JOB_V2
    (job / "cpu.stat").write_text((job / "cpu.stat").read_text()
                                  .replace("nr_periods 200", "nr_periods 210")
                                  .replace("nr_throttled 50", "nr_throttled 54"))
    (job / "io.pressure").write_text((job / "io.pressure").read_text()
                                     .replace("total=2500000", "total=3000000"))
    second = Reading(2.0, 2.0, list(c.collect()))
    frame = derive(schema, first, second)
    assert schema.get(frame, "job.cpu.throttled_percent") == pytest.approx(40.0)
    assert schema.get(frame, "job.psi.io_some_percent") == pytest.approx(25.0)


def test_roles_put_the_jobs_own_stalls_and_memory_where_they_are_asked_for() -> None:
    schema = Schema(_collector(V2).metrics())
    assert [s.column for s in schema.having(R.WAITING, R.JOB)] == ["job.psi.io_some_percent"]
    assert schema.first(R.MEMORY_STALL, R.JOB).column == "job.psi.memory_some_percent"
    assert schema.first(R.MEMORY_LIMIT_USED).column == "job.mem.limit_used_percent"
    assert schema.first(R.CPU_THROTTLED).column == "job.cpu.throttled_percent"
    assert schema.first(R.MEMORY_PEAK, R.JOB).total == "job.mem.limit_bytes"


@pytest.mark.parametrize("text, v2, want", [
    ("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n", True, {"8:0": (10.0, 20.0)}),
    ("8:0 Read 10\n8:0 Write 20\n8:0 Total 30\nTotal 30\n", False, {"8:0": (10.0, 20.0)}),
    ("", True, {}),
])
def test_io_files_of_both_versions(text: str, v2: bool, want: dict) -> None:
    assert io_bytes(text, v2) == want


def test_psi_total_is_seconds_of_the_asked_line() -> None:
    text = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\nfull avg10=0 total=20\n"
    assert psi_total(text, "some") == pytest.approx(1.5)
    assert psi_total(text, "full") == pytest.approx(2e-5)
    assert math.isnan(psi_total("", "some"))


def test_a_namespaced_container_is_named_by_its_runtimes_bind_mounts() -> None:
    found = job_identity(None, str(NS / "proc"), environ={})
    assert (found.scheduler, found.job) == ("container", "9d7c6a01f2e3")


def test_a_pods_bind_mounts_name_its_uid_and_a_hosts_volumes_do_not() -> None:
    pod = (f"900 890 254:1 /var/lib/kubelet/pods/{POD}/etc-hosts /etc/hosts rw - ext4 /dev/sda rw\n"
           f"901 890 254:1 /var/lib/containerd/sandboxes/{CONTAINER}/hostname /etc/hostname rw"
           " - ext4 /dev/sda rw\n")
    assert job_in_mounts(pod) == ("kubernetes", POD)
    host = (f"80 20 0:50 / /var/lib/kubelet/pods/{POD}/volumes/kubernetes.io~empty-dir/x rw"
            " - tmpfs tmpfs rw\n"
            f"81 20 254:1 /var/lib/kubelet/pods/{POD}/volume-subpaths/c/0 /srv/x rw"
            " - ext4 /dev/sda rw\n")
    assert job_in_mounts(host) == ("", "")


# -- ticks read in a batch (memmap_tui/batch.py PartsBatch) ----------------------------------
def _replayed(c: CgroupCollector) -> list:
    """A tick as a batch reads it: the part's files through the C reader, then replayed."""
    fieldread = pytest.importorskip("memmap_tui._fieldread")
    part = c.batch_part(0.0)
    assert part is not None
    reader = fieldread.FieldReader(part.files, sorted(part.rules, key=lambda r: r[0]),
                                   max(part.width, 1))
    from array import array
    row = array("d", [math.nan]) * max(part.width, 1)
    reader.read(row)
    reader.close()
    return list(part.replay(0.0, memoryview(row)[:part.width], bytes(len(part.files))))


@pytest.mark.parametrize("tree", [V2, V1, NS], ids=["v2", "v1", "namespace"])
def test_a_batched_tick_reads_what_collect_reads(tree: Path, tmp_path: Path) -> None:
    """Without per-disk io files (no io controller for the job: the usual case), every group
    reads through rules, and a replayed tick equals collect()'s values; with them, io.stat's
    device keys cannot be rules, and the cgroup's ticks stay its own."""
    copy = tmp_path / "tree"
    shutil.copytree(tree, copy, symlinks=True)
    with_io = _collector(copy, pid=None if tree is NS else 4242)
    has_io = any(s.name.startswith("job.disk.") for s in with_io.metrics())
    assert (with_io.batch_part(0.0) is None) == has_io
    for io_file in list(copy.rglob("io.stat")) + list(copy.rglob("blkio.throttle.*")):
        io_file.unlink()
    c = _collector(copy, pid=None if tree is NS else 4242)
    assert not any(s.name.startswith("job.disk.") for s in c.metrics())
    want = list(c.collect())
    got = _replayed(c)
    assert len(got) == len(want) and all(
        (a != a and b != b) or a == pytest.approx(b) for a, b in zip(got, want)), (got, want)
    assert any(v == v for v in got)  # numbers, not a row of NaN
