"""Which cgroup a process is in, where that cgroup's files are, and which job it names.

Sources (all readable without root):
- /proc/PID/cgroup: `ID:controllers:path` per hierarchy. cgroup v2 is the one line `0::/path`;
  v1 has a line per hierarchy (`4:memory:/slurm/uid_1000/job_4711/step_0`); a hybrid machine
  has both. Paths are relative to the reader's cgroup namespace: inside a container it is often
  just `0::/`, the container's own cgroup.
- /proc/self/mountinfo: where each hierarchy is mounted (v2 `cgroup2`; v1 `cgroup` with its
  controllers in the super options), and which part of it (the root field: a container may see
  its own subtree mounted as `/`). Octal escapes (`\\040` for a space) are undone.

A job is named after the first of these found in the process's cgroup paths: a Slurm job
(`job_<id>`, cgroup v1 and v2 plugins), a Kubernetes pod (`kubepods...pod<uid>`, both the
cgroupfs and the systemd driver's spelling), a container (docker, containerd, CRI-O, podman:
the id's first 12 hex digits, as `docker ps` shows it), a systemd unit (`train.service`, a
`systemd-run` scope; not login sessions, init or user managers).
A process that exits while being read gives an empty answer, never an exception.

Also here: the job's cgroup directories in each hierarchy (JobDirs; the real root cgroup left
out, and on a hybrid Slurm node the hierarchies whose path is not the job's) and the formats of
the files the cgroup collector reads (io.stat, blkio, *.pressure, memory.max, v1 limits).
"""

from __future__ import annotations

import math
import os
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from .host import whole_disks
from .kernfs import NAN, read_small

V2 = ""  # the controllers field of the v2 line
_OCTAL = re.compile(r"\\([0-7]{3})")
_SLURM = re.compile(r"/job_([0-9]+)(?=/|$)")
SLURM_UID = re.compile(r"/uid_([0-9]+)(?=/)")
_POD = re.compile(r"kubepods[^/]*/(?:[^/]*/)*?[^/]*pod([0-9a-fA-F]{8}[-_][0-9a-fA-F_-]{27})"
                  r"(?:\.slice)?(?=/|$)")
_CONTAINER = re.compile(r"(?:^|/)(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{12,64})\.scope"
                        r"|/(?:docker|libpod)/([0-9a-f]{64})(?=/|$)")
_UNIT = re.compile(r"(?:^|/)([^/]+\.(?:service|scope))$")
_NOT_A_JOB_UNIT = re.compile(r"^(?:init\.scope|session-[^/]*\.scope|user@\d+\.service)$")


class Membership(NamedTuple):
    """One line of /proc/PID/cgroup: the hierarchy's controllers ("" for v2) and the path."""

    controllers: str
    path: str

    @property
    def v2(self) -> bool:
        return self.controllers == V2


class Mount(NamedTuple):
    """A mounted cgroup hierarchy: where, which part of it, and its controllers (v1)."""

    mountpoint: str
    root: str
    v2: bool
    controllers: frozenset = frozenset()


def parse_cgroup_file(text: str) -> List[Membership]:
    """/proc/PID/cgroup as memberships; malformed lines are skipped."""
    found = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[2].startswith("/"):
            found.append(Membership(parts[1], parts[2]))
    return found


def unescape(text: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str) -> List[Mount]:
    """The cgroup and cgroup2 mounts in a mountinfo text."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        options = frozenset(tail[2].split(","))
        mounts.append(Mount(unescape(fields[4]), unescape(fields[3]), tail[0] == "cgroup2",
                            options if tail[0] == "cgroup" else frozenset()))
    return mounts


def _matches(mount: Mount, member: Membership) -> bool:
    if member.v2:
        return mount.v2
    return not mount.v2 and set(member.controllers.split(",")) <= mount.controllers


def resolve(member: Membership, mounts: List[Mount], sys_root: str = "/sys"
            ) -> Optional[Tuple[str, str]]:
    """(the directory of `member`'s cgroup, the directory its hierarchy is mounted on), or None
    when no mount reaches it. A mount point under /sys is looked up under `sys_root` (so tests
    can point at a fake tree)."""
    for mount in mounts:
        if not _matches(mount, member):
            continue
        root = mount.root.rstrip("/")
        if member.path != root and not member.path.startswith(root + "/"):
            continue
        base = mount.mountpoint
        if base == "/sys" or base.startswith("/sys/"):
            base = os.path.join(sys_root, base[len("/sys/"):])
        rest = member.path[len(root):].lstrip("/")
        return (os.path.join(base, rest) if rest else base), base
    return None


def is_root(member: Membership, directory: str) -> bool:
    """The cgroup is the hierarchy's real root (so its figures are the whole machine's): a
    path of `/` whose directory lacks `cgroup.type`, which every v2 cgroup but the root has.
    A v1 `/` is the root too, unless a namespace put the process there (then the mount's root
    is not `/` either; resolve() already maps that case)."""
    if member.path != "/":
        return False
    if member.v2:
        return not os.path.exists(os.path.join(directory, "cgroup.type"))
    return True


def memberships(pid: Optional[int], proc_root: str = "/proc") -> List[Membership]:
    """The cgroups of `pid` (None: memmap's own process); [] when it is gone or unreadable."""
    text = read_small(os.path.join(proc_root, "self" if pid is None else str(pid), "cgroup"))
    return parse_cgroup_file(text or "")


def mounts(proc_root: str = "/proc") -> List[Mount]:
    """The cgroup hierarchies mounted in memmap's own mount namespace."""
    return parse_mountinfo(read_small(os.path.join(proc_root, "self", "mountinfo")) or "")


# -- jobs ------------------------------------------------------------------------------------
def job_in_path(path: str) -> Tuple[str, str, str]:
    """(scheduler, job id, the path up to the job) named by a cgroup path, or ("", "", "")."""
    m = _SLURM.search(path)
    if m:
        return "slurm", m.group(1), path[:m.end()]
    m = _POD.search(path)
    if m:
        uid = m.group(1).replace("_", "-").lower()
        return "kubernetes", uid, path[:m.end()]
    m = _CONTAINER.search(path)
    if m:
        return "container", (m.group(1) or m.group(2))[:12], path[:m.end()]
    m = _UNIT.search(path)
    if m and not _NOT_A_JOB_UNIT.match(m.group(1)):
        return "systemd", m.group(1), path
    return "", "", ""


def job_of(members: List[Membership], schedulers: Tuple[str, ...] = ("slurm", "kubernetes",
                                                                     "container", "systemd")
           ) -> Tuple[str, str]:
    """(scheduler, id) of the job the memberships name: the first kind in `schedulers` found."""
    return find_job(members, schedulers)[:2]


def find_job(members: List[Membership], schedulers: Tuple[str, ...]) -> Tuple[str, str, str, str]:
    """(scheduler, id, job path, whole path) of the first kind in `schedulers` found."""
    for wanted in schedulers:
        for member in sorted(members, key=lambda m: not m.v2):
            scheduler, job, job_path = job_in_path(member.path)
            if scheduler == wanted:
                return scheduler, job, job_path, member.path
    return "", "", "", ""


def job_cgroup(member: Membership) -> str:
    """The cgroup that stands for the job: a Slurm job's `job_<id>` (its limit is set there and
    its steps are below it), else the process's own cgroup."""
    scheduler, _, job_path = job_in_path(member.path)
    return job_path if scheduler == "slurm" else member.path


# -- the job's cgroup directories and the formats of their files --------------------------------
class JobDirs:
    """The directories of the job's cgroup: `v2`, and v1 ones by controller."""

    def __init__(self) -> None:
        self.v2: Optional[str] = None
        self.v2_base = ""  # the directory the v2 hierarchy is mounted on
        self.v1: Dict[str, str] = {}
        self.path = ""

    def v2_has(self, name: str) -> bool:
        return self.v2 is not None and os.path.exists(os.path.join(self.v2, name))

    def v1_has(self, controller: str, name: str) -> bool:
        d = self.v1.get(controller)
        return d is not None and os.path.exists(os.path.join(d, name))

    def __bool__(self) -> bool:
        return self.v2 is not None or bool(self.v1)


def job_dirs(members: List[Membership], proc_root: str, sys_root: str) -> JobDirs:
    """Where the job's cgroup is, per hierarchy (the real root cgroup left out)."""
    found = JobDirs()
    mounted = mounts(proc_root)
    named = job_of(members)
    if named[0]:  # a hybrid Slurm node: the v2 line may be slurmd's unit, not the job
        members = [m for m in members if job_in_path(m.path)[:2] == named]
    for member in members:
        job = Membership(member.controllers, job_cgroup(member))
        where = resolve(job, mounted, sys_root)
        if where is None or not os.path.isdir(where[0]) or is_root(job, where[0]):
            continue
        directory, base = where
        if member.v2:
            found.v2, found.v2_base, found.path = directory, base, job.path
        else:
            for controller in member.controllers.split(","):
                found.v1[controller] = directory
            found.path = found.path or job.path
    return found


def bytes_limit(text: Optional[str], unlimited: float = math.inf) -> float:
    """memory.max ("max" or bytes) or a v1 limit as bytes; inf when unlimited."""
    word = (text or "").split()
    if not word:
        return NAN
    if word[0] == "max":
        return math.inf
    try:
        value = float(word[0])
    except ValueError:
        return NAN
    return math.inf if value >= unlimited else value


def finite(value: float) -> float:
    return value if math.isfinite(value) else NAN


def ancestors(directory: str, top: str) -> List[str]:
    """`directory` and its parents up to `top` (the hierarchy's mount), both included."""
    chain = [directory]
    while directory != top and len(directory) > len(top):
        directory = os.path.dirname(directory)
        chain.append(directory)
    return chain


def device_numbers(proc_root: str, sys_root: str) -> Dict[str, str]:
    """{"MAJ:MIN": name} of the physical whole disks (the host collector's choice)."""
    text = read_small(os.path.join(proc_root, "diskstats")) or ""
    found = {}
    for disk in whole_disks(text, sys_root):
        number = (read_small(os.path.join(sys_root, "block", disk, "dev")) or "").strip()
        if number:
            found[number] = disk
    return found


def io_bytes(text: Optional[str], v2: bool) -> Optional[Dict[str, Tuple[float, float]]]:
    """{"MAJ:MIN": (read bytes, written bytes)} from io.stat (v2) or blkio's bytes file (v1)."""
    if text is None:
        return None
    found: Dict[str, List[float]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or ":" not in parts[0]:
            continue
        slot = found.setdefault(parts[0], [0.0, 0.0])
        if v2:
            fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
            slot[0], slot[1] = number(fields.get("rbytes")), number(fields.get("wbytes"))
        elif len(parts) == 3 and parts[1] in ("Read", "Write"):
            slot[0 if parts[1] == "Read" else 1] = number(parts[2])
    return {k: (v[0], v[1]) for k, v in found.items()}


def number(text: Optional[str]) -> float:
    try:
        return float(text) if text is not None else 0.0
    except ValueError:
        return NAN


def psi_total(text: Optional[str], kind: str) -> float:
    """The `total=` microseconds of a PSI file's `some` or `full` line, in seconds."""
    for line in (text or "").splitlines():
        if line.startswith(kind + " "):
            for token in line.split():
                if token.startswith("total="):
                    return number(token[6:]) * 1e-6
    return NAN


def namespaced(dirs: JobDirs, members: List[Membership]) -> bool:
    """memmap sits at the root of a cgroup namespace that is not the machine's (a container)."""
    return dirs.v2 is not None and any(m.v2 and m.path == "/" for m in members)
