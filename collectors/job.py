"""Which job a process belongs to: a Slurm job, a Kubernetes pod, a container, a systemd unit.

Read without root from /proc/PID/cgroup (collectors/cgroupfs.py says which paths name which
job) and, for memmap's own process, the environment's SLURM_JOB_ID (and SLURM_JOB_USER). Inside
a container with its own cgroup namespace the cgroup is just `0::/`; there the files the runtime
bind-mounts say whose it is (/proc/PID/mountinfo: kubelet's `/var/lib/kubelet/pods/<uid>/...`
for /etc/hosts, docker's `/var/lib/docker/containers/<id>/...` for /etc/hostname). The user is
the Slurm path's `uid_<n>`, else the owner of /proc/PID, by name where it has one.
The exporter's `memmap_job_info` series and `memmap run`'s summary carry it.
"""

from __future__ import annotations

import os
import pwd
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from .cgroupfs import SLURM_UID, Membership, find_job, memberships, unescape
from .kernfs import read_small

MAX_LABEL = 128  # longest job id or user name kept (a label value, an AdminComment field)
ALL_KINDS = ("slurm", "kubernetes", "container", "systemd")
_KUBELET_POD = re.compile(r"/kubelet/pods/([0-9a-f]{8}-[0-9a-f-]{27})/")
_CONTAINER_DIR = re.compile(r"/containers/([0-9a-f]{64})/")


@dataclass(frozen=True)
class JobIdentity:
    """Which job a process belongs to. `job` is dcgm-exporter's `hpc_job`: the Slurm job id, a
    pod's uid, a container id, a unit name; "" when none was found."""

    job: str = ""
    user: str = ""
    scheduler: str = ""  # slurm, kubernetes, container, systemd
    cgroup: str = ""     # the cgroup path the job was found in ("" from the environment)

    def as_dict(self) -> Dict[str, str]:
        return {"id": self.job, "user": self.user, "scheduler": self.scheduler,
                "cgroup": self.cgroup}


def clean(text: str, limit: int = MAX_LABEL) -> str:
    """Printable text of at most `limit` characters (ids from paths and the environment are
    untrusted: no control characters reach a label, a terminal or a JSON line)."""
    return "".join(c if c.isprintable() else "?" for c in text)[:limit]


def _user_of(pid: Optional[int], proc_root: str, path: str) -> str:
    m = SLURM_UID.search(path)
    try:
        uid = int(m.group(1)) if m else os.stat(
            os.path.join(proc_root, "self" if pid is None else str(pid))).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


RUNTIME_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")


def job_in_mounts(mountinfo: str) -> Tuple[str, str]:
    """(scheduler, id) that a container runtime's bind mounts of /etc/hosts, /etc/hostname or
    /etc/resolv.conf name, or ("", ""). Only those: a host's own mount table holds every pod's
    volumes, which must not make a host process look like a pod's."""
    roots = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and unescape(fields[4]) in RUNTIME_FILES:
            roots.append(unescape(fields[3]))
    for pattern, scheduler in ((_KUBELET_POD, "kubernetes"), (_CONTAINER_DIR, "container")):
        for root in roots:
            m = pattern.search(root)
            if m:
                return scheduler, m.group(1)[:12] if scheduler == "container" else m.group(1)
    return "", ""


def _namespaced(members: List[Membership]) -> bool:
    return any(m.v2 and m.path == "/" for m in members) and all(m.path == "/" for m in members)


def job_identity(pid: Optional[int], proc_root: str = "/proc",
                 environ: Optional[Mapping[str, str]] = None) -> JobIdentity:
    """The job of process `pid` from its cgroup, else memmap's own job from SLURM_JOB_ID.

    pid None: memmap's own process, whose systemd unit is not a job (a `memmap.service` would
    be memmap itself). Never raises; a process that is gone gives what the environment says.
    """
    env = os.environ if environ is None else environ
    own = pid is None
    members = memberships(pid, proc_root)
    scheduler, job, _, path = find_job(members, ALL_KINDS[:3] if own else ALL_KINDS)
    if not job and _namespaced(members):
        where = os.path.join(proc_root, "self" if own else str(pid), "mountinfo")
        scheduler, job = job_in_mounts(read_small(where) or "")
    from_env = env.get("SLURM_JOB_ID", "")
    if from_env and (own or not job):
        path = path if scheduler == "slurm" else ""
        scheduler, job = "slurm", from_env
    user = env.get("SLURM_JOB_USER", "") if scheduler == "slurm" and not path else ""
    user = user or _user_of(pid, proc_root, path)
    return JobIdentity(clean(job), clean(user), scheduler if job else "", clean(path, 4096))
