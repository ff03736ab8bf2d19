"""The job's view on this machine's real cgroups. As root a test makes child cgroups in every
hierarchy mounted here (v1 controllers, the unified v2 one, or v2 alone), puts a real process in
them and reads it back with the cgroup collector; everything is removed afterwards. Without root
(or without a writable cgroup mount) these tests skip and say so."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
from memmap_tui.collectors.cgroup import CgroupCollector
from memmap_tui.collectors.cgroupfs import memberships, mounts
from memmap_tui.collectors.job import job_identity

from memmap_tui.collector import CollectorError

HOLD = "import sys\nsys.stdin.readline()\n{}\nsys.stdin.readline()\n"


class Cgroups:
    """Child cgroups named `name` (a relative path) in every mounted hierarchy we can write."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dirs: Dict[str, Path] = {}  # "" for v2, else the v1 mount's controllers
        for mount in mounts():
            if not mount.v2 and not mount.controllers & {"memory", "cpu", "cpuacct", "blkio"}:
                continue
            where = resolve_mount(mount.mountpoint)
            if where is None:
                continue
            path = where / name
            try:
                path.mkdir(parents=True)
            except OSError:
                continue
            key = "" if mount.v2 else ",".join(sorted(mount.controllers - {"rw"}))
            self.dirs[key] = path
        if not self.dirs:
            pytest.skip("no writable cgroup hierarchy here")

    def v1(self, controller: str) -> Path:
        found = [p for k, p in self.dirs.items() if controller in k.split(",")]
        if not found:
            pytest.skip(f"no v1 {controller} hierarchy here")
        return found[0]

    def memory_dir(self) -> Path:
        v2 = self.dirs.get("")
        if v2 is not None and (v2 / "memory.max").exists():
            return v2
        return self.v1("memory")

    def add(self, pid: int) -> None:
        for path in self.dirs.values():
            (path / "cgroup.procs").write_text(f"{pid}\n")

    def remove(self) -> None:
        for path in self.dirs.values():
            for leaf in sorted((p for p in [path, *path.rglob("*")] if p.is_dir()),
                               key=lambda p: -len(p.parts)):
                _empty(leaf)
                try:
                    leaf.rmdir()
                except OSError:
                    pass
            top = path
            while top.parent != top and top.parent.name.startswith("memmap-test"):
                top = top.parent
                try:
                    top.rmdir()
                except OSError:
                    break


def resolve_mount(mountpoint: str) -> Optional[Path]:
    return Path(mountpoint) if os.access(mountpoint, os.W_OK) else None


def _empty(path: Path) -> None:
    """Move whatever is left in a cgroup to the root, so that it can be removed."""
    procs = path / "cgroup.procs"
    if not procs.exists():
        return
    root = path
    while (root.parent / "cgroup.procs").exists():
        root = root.parent
    for pid in procs.read_text().split():
        try:
            (root / "cgroup.procs").write_text(pid)
        except OSError:
            pass


@pytest.fixture
def cgroups(request: pytest.FixtureRequest) -> Iterator[Cgroups]:
    if os.geteuid() != 0:
        pytest.skip("making cgroups needs root")
    made = Cgroups(f"memmap-test-{os.getpid()}/{request.node.name[:40]}")
    yield made
    made.remove()


def held(code: str = "pass") -> subprocess.Popen:
    """A Python child that waits for a line, runs `code`, and waits for another line."""
    return subprocess.Popen([sys.executable, "-c", HOLD.format(code)], stdin=subprocess.PIPE,
                            text=True)


def go(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()


def finish(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def values(c: CgroupCollector) -> dict:
    return dict(zip((s.name for s in c.metrics()), c.collect()))


def test_memory_used_against_the_limit_set_here(cgroups: Cgroups) -> None:
    memory = cgroups.memory_dir()
    limit = 256 * 2**20
    (memory / ("memory.max" if memory == cgroups.dirs.get("") else
               "memory.limit_in_bytes")).write_text(str(limit))
    child = held("b = b'x' * (48 << 20)")
    try:
        cgroups.add(child.pid)
        go(child)
        time.sleep(0.5)
        c = CgroupCollector(child.pid)
        c.open()
        v = values(c)
        c.close()
    finally:
        finish(child)
    assert v["job.mem.limit_bytes"] == limit
    assert 48 * 2**20 <= v["job.mem.used_bytes"] <= limit
    assert v["job.mem.limit_used_percent"] == pytest.approx(100 * v["job.mem.used_bytes"] / limit)
    assert v["job.mem.oom_kills"] == 0


def test_an_oom_kill_in_the_job_is_counted(cgroups: Cgroups) -> None:
    memory = cgroups.memory_dir()
    if memory == cgroups.dirs.get(""):
        (memory / "memory.max").write_text(str(64 * 2**20))
        if (memory / "memory.swap.max").exists():
            (memory / "memory.swap.max").write_text("0")
    else:
        (memory / "memory.limit_in_bytes").write_text(str(64 * 2**20))
        if (memory / "memory.memsw.limit_in_bytes").exists():
            (memory / "memory.memsw.limit_in_bytes").write_text(str(64 * 2**20))
    victim = held("b = b'x' * (256 << 20)")
    try:
        cgroups.add(victim.pid)
        c = CgroupCollector(victim.pid)
        c.open()
        before = values(c)["job.mem.oom_kills"]
        go(victim)
        assert victim.wait(timeout=30) == -9  # SIGKILL from the OOM killer
        after = values(c)["job.mem.oom_kills"]  # the cgroup is still there
        c.close()
    finally:
        finish(victim)
    assert (before, after) == (0, 1)


def test_cpu_quota_and_throttling(cgroups: Cgroups) -> None:
    v2 = cgroups.dirs.get("")
    if v2 is not None and (v2 / "cpu.max").exists():
        (v2 / "cpu.max").write_text("10000 100000")
    else:
        cpu = cgroups.v1("cpu")
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text("10000")
    spinner = held("import time; t = time.time() + 5\nwhile time.time() < t: pass")
    try:
        cgroups.add(spinner.pid)
        c = CgroupCollector(spinner.pid)
        c.open()
        go(spinner)
        time.sleep(0.3)  # spinning by now
        first = values(c)
        time.sleep(2.0)
        second = values(c)
        c.close()
    finally:
        finish(spinner)
    assert first["job.cpu.limit_percent"] == pytest.approx(10.0)
    periods = second["job.cpu.periods"] - first["job.cpu.periods"]
    throttled = second["job.cpu.throttled_periods"] - first["job.cpu.throttled_periods"]
    # a spinner under a 10 % quota is throttled in most periods it runs in (fewer on a busy
    # machine, where it does not always get its 10 ms)
    assert periods >= 5 and throttled / periods >= 0.5, (periods, throttled)
    used = second["job.cpu.used_seconds"] - first["job.cpu.used_seconds"]
    assert 0 < used < 0.5  # at most about 10 % of 2 s


def test_the_jobs_own_pressure_stalls_where_v2_is_mounted(cgroups: Cgroups) -> None:
    if "" not in cgroups.dirs or not (cgroups.dirs[""] / "io.pressure").exists():
        pytest.skip("no cgroup v2 hierarchy with PSI here")
    child = held()
    try:
        cgroups.add(child.pid)
        c = CgroupCollector(child.pid)
        c.open()
        v = values(c)
        c.close()
    finally:
        finish(child)
    for name in ("job.psi.io_some_stall_seconds", "job.psi.memory_some_stall_seconds",
                 "job.psi.cpu_some_stall_seconds"):
        assert v[name] >= 0.0, name


def test_a_path_with_spaces_and_colons_is_found(cgroups: Cgroups) -> None:
    odd = Cgroups(f"{cgroups.name}/a b:c")
    child = held()
    try:
        odd.add(child.pid)
        paths = {m.path for m in memberships(child.pid)}
        assert any(p.endswith("/a b:c") for p in paths)
        c = CgroupCollector(child.pid)
        assert c.probe().reason.endswith("/a b:c")
        c.open()
        assert not all(math.isnan(x) for x in c.collect())
        c.close()
    finally:
        finish(child)
        odd.remove()


def test_a_slurm_step_is_read_at_its_job(cgroups: Cgroups) -> None:
    step = Cgroups(f"{cgroups.name}/slurm/uid_0/job_4711/step_0/task_0")
    child = held()
    try:
        step.add(child.pid)
        found = job_identity(child.pid, environ={})
        assert (found.job, found.scheduler) == ("4711", "slurm")
        c = CgroupCollector(child.pid)
        assert c.probe().reason.endswith("/slurm/uid_0/job_4711")
    finally:
        finish(child)
        step.remove()


def test_a_process_that_exits_and_a_cgroup_that_goes_read_nan(cgroups: Cgroups) -> None:
    child = held()
    cgroups.add(child.pid)
    c = CgroupCollector(child.pid)
    c.open()
    finish(child)
    after_exit = values(c)  # the cgroup outlives its last process
    assert not all(math.isnan(x) for x in after_exit.values())
    cgroups.remove()
    c._limits_due = -math.inf
    gone = values(c)
    c.close()
    assert all(math.isnan(x) for x in gone.values()), gone


def test_a_process_that_exits_between_probe_and_open_is_read_at_the_probed_cgroup(
        cgroups: Cgroups) -> None:
    """`memmap run` of a command that ends at once: on v1 hierarchies the kernel shows an
    unreaped zombie in the root cgroup (proc_cgroup_show in kernel/cgroup/cgroup.c: "On
    traditional hierarchies, all zombie tasks show up as belonging to the root cgroup"; seen
    on Linux 6.18), which alone would fail open() with "no cgroup of its own"; the job's
    cgroup is still there to read. (v2 keeps showing a zombie's cgroup.)"""
    child = held()
    v1_only(cgroups, child.pid)
    c = CgroupCollector(child.pid)
    found = c.probe()
    assert found.available, found.reason
    go(child)
    go(child)
    _zombie(child)
    assert not CgroupCollector(child.pid).probe().available  # the zombie alone: root cgroups
    c.open()
    try:
        assert c.dirs.path.endswith(cgroups.name)
        assert not all(math.isnan(x) for x in values(c).values())
    finally:
        c.close()
        finish(child)


def test_a_process_gone_before_any_probe_is_still_refused(cgroups: Cgroups) -> None:
    child = held()
    v1_only(cgroups, child.pid)
    go(child)
    go(child)
    _zombie(child)
    with pytest.raises(CollectorError, match="no cgroup of its own"):
        CgroupCollector(child.pid).open()
    finish(child)


def v1_only(cgroups: Cgroups, pid: int) -> None:
    """Put `pid` in the v1 hierarchies only (where zombies show as the root's), and in the
    root of a unified (v2) hierarchy mounted beside them, whatever cgroup pytest sits in."""
    v1 = [p for key, p in cgroups.dirs.items() if key]
    if not v1:
        pytest.skip("no v1 cgroup hierarchy here (a v2 zombie keeps showing its cgroup)")
    for path in v1:
        (path / "cgroup.procs").write_text(f"{pid}\n")
    for mount in mounts():
        if mount.v2 and mount.root == "/":
            Path(mount.mountpoint, "cgroup.procs").write_text(f"{pid}\n")


def _zombie(child: subprocess.Popen) -> None:
    """Wait until `child` has exited, without reaping it."""
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
    stat = Path(f"/proc/{child.pid}/stat").read_text()
    assert stat[stat.rfind(")") + 2] == "Z", stat


def test_what_the_machine_shows_of_this_process(tmp_path: Path) -> None:
    """No root needed: reading our own cgroup never raises; on a v1 node or a v2 node where we
    are not in the root cgroup it is a job view."""
    members: List = memberships(os.getpid())
    assert members
    c = CgroupCollector(os.getpid())
    if c.probe().available:
        c.open()
        assert len(c.collect()) == len(c.metrics())
        c.close()
