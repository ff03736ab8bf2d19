"""Reading one process's /proc files: descriptors kept open, re-read with pread, parsed fast.

Used by the process collector. Per process, three files stay open while the PID lives:
- `stat`          state, ppid, faults, CPU ticks (own + reaped children), threads, start time
                  (field 22, clock ticks since boot: it tells a recycled PID from the old one),
                  RSS (field 24, pages) and delayacct_blkio_ticks (field 42, main thread only)
- `io`            rchar/wchar (bytes through read/write calls, page cache hits included) and
                  read_bytes/write_bytes (bytes that went to or came from storage)
- `smaps_rollup`  Rss, Pss, Pss_Anon/File/Shmem, Private_*, Anonymous, Swap, in kB
A descriptor of /proc/PID keeps pointing at that very process: once it is reaped, reads fail
with ESRCH even if the number is reused, so a kept descriptor never silently follows a new
process. `io` and `smaps_rollup` need ptrace read access (same user, or CAP_SYS_PTRACE): for
another user's process they are marked unavailable with the reason, and the rest goes on.
A zombie still has readable `stat` and `io` (its final counters) but no memory map.
"""

from __future__ import annotations

import errno
import os
from typing import Dict, List, NamedTuple, Optional, Tuple

CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
PAGE_BYTES = float(os.sysconf("SC_PAGE_SIZE")) if hasattr(os, "sysconf") else 4096.0
NAN = float("nan")

PTRACE_HINT = "needs ptrace access: run memmap as the process's user or as root"


class ProcessGone(Exception):
    """The process behind a descriptor is gone (reaped), or its PID now names another one."""


class Stat(NamedTuple):
    """The fields of /proc/PID/stat the collector uses, in base units."""

    name: bytes
    state: bytes
    ppid: int
    start_ticks: int
    threads: int
    rss_bytes: float
    cpu_seconds: float        # utime + stime + cutime + cstime: own and reaped children's
    major_faults: int         # majflt + cmajflt
    minor_faults: int         # minflt + cminflt
    io_delay_seconds: float   # delayacct_blkio_ticks (main thread); 0 when accounting is off


def parse_stat(raw: bytes) -> Stat:
    """Parse /proc/PID/stat. The name may hold spaces and parentheses: split at the last ')'."""
    close = raw.rfind(b")")
    f = raw[close + 2:].split()
    if len(f) < 22:
        raise ValueError("short stat line")
    return Stat(
        raw[raw.find(b"(") + 1:close], f[0], int(f[1]), int(f[19]), int(f[17]),
        int(f[21]) * PAGE_BYTES,
        (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / CLK_TCK,
        int(f[9]) + int(f[10]), int(f[7]) + int(f[8]),
        int(f[39]) / CLK_TCK if len(f) > 39 else NAN,
    )


IO_KEYS = (b"rchar:", b"wchar:", b"read_bytes:", b"write_bytes:")


def parse_io(raw: bytes) -> Tuple[float, float, float, float]:
    """(rchar, wchar, read_bytes, write_bytes) from /proc/PID/io, bytes."""
    t = raw.split()
    if len(t) >= 12 and t[0] == b"rchar:" and t[8] == b"read_bytes:":  # the usual layout
        return float(t[1]), float(t[3]), float(t[9]), float(t[11])
    fields = dict(zip(t[0::2], t[1::2]))
    return tuple(float(fields[k]) for k in IO_KEYS)  # type: ignore[return-value]


class Memory(NamedTuple):
    """From smaps_rollup, bytes. anon/file split the PSS where the kernel gives Pss_Anon
    (Linux >= 5.9); before that they split the RSS."""

    pss: float
    uss: float
    anon: float
    file: float
    swap: float


NO_MEMORY = Memory(0.0, 0.0, 0.0, 0.0, 0.0)


def parse_smaps_rollup(raw: bytes) -> Memory:
    """Parse smaps_rollup (a header line, then `Key: value kB` lines)."""
    tokens = raw.split()
    start = tokens.index(b"Rss:") if b"Rss:" in tokens else len(tokens)
    kb = dict(zip(tokens[start::3], tokens[start + 1::3]))

    def get(key: bytes) -> float:
        value = kb.get(key)
        return float(value) * 1024.0 if value is not None else 0.0

    if b"Pss_Anon:" in kb:
        anon, file = get(b"Pss_Anon:"), get(b"Pss_File:") + get(b"Pss_Shmem:")
    else:
        anon = get(b"Anonymous:")
        file = get(b"Rss:") - anon
    uss = get(b"Private_Clean:") + get(b"Private_Dirty:") + get(b"Private_Hugetlb:")
    return Memory(get(b"Pss:"), uss, anon, file, get(b"Swap:"))


def read_all(fd: int) -> bytes:
    """The whole file behind `fd`, read again from the start."""
    chunk = os.pread(fd, 8192, 0)
    if len(chunk) < 8192:
        return chunk
    parts, offset = [chunk], len(chunk)
    while chunk:
        chunk = os.pread(fd, 65536, offset)
        parts.append(chunk)
        offset += len(chunk)
    return b"".join(parts)


def unavailable_reason(exc: OSError) -> str:
    """Why a per-process file cannot be read, in words."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied ({PTRACE_HINT})"
    if exc.errno == errno.ENOENT:
        return "not provided by this kernel"
    return exc.strerror or str(exc)


def _gone(exc: OSError) -> bool:
    return exc.errno in (errno.ESRCH, errno.ENOENT)


class ProcFiles:
    """The kept-open descriptors of one process and what could not be opened, with why."""

    def __init__(self, proc_root: str, pid: int) -> None:
        self.base = os.path.join(proc_root, str(pid))
        self.pid = pid
        self.unavailable: Dict[str, str] = {}
        self.fds: Dict[str, int] = {}
        try:
            self.fds["stat"] = self._open("stat")
        except OSError as exc:
            raise ProcessGone(f"{pid}: {exc.strerror}") from None
        for name in ("io", "smaps_rollup"):
            try:
                self.fds[name] = self._open(name)
            except OSError as exc:
                self.unavailable[name] = unavailable_reason(exc)
        self._stat_fd = self.fds["stat"]
        self._io_fd = self.fds.get("io", -1)

    def _open(self, name: str) -> int:
        return os.open(os.path.join(self.base, name), os.O_RDONLY | os.O_CLOEXEC)

    def stat(self) -> Stat:
        """Read stat (always well under 4 KiB); ProcessGone once the process is reaped."""
        try:
            return parse_stat(os.pread(self._stat_fd, 4096, 0))
        except OSError as exc:
            raise ProcessGone(f"{self.pid}: {exc.strerror}") from None
        except (ValueError, IndexError):
            raise ProcessGone(f"{self.pid}: unreadable stat") from None

    def io(self) -> Optional[Tuple[float, float, float, float]]:
        """The io counters, or None when unavailable (the reason lands in `unavailable`)."""
        if self._io_fd < 0:
            return None
        try:
            return parse_io(os.pread(self._io_fd, 4096, 0))
        except OSError as exc:
            self._failed("io", exc)
        except (ValueError, KeyError, IndexError):
            self._drop("io", "unexpected format")
        return None

    def memory(self) -> Optional[Memory]:
        """smaps_rollup, NO_MEMORY for a zombie (no memory map), None when unavailable."""
        fd = self.fds.get("smaps_rollup")
        if fd is None:
            return None
        try:
            return parse_smaps_rollup(read_all(fd))
        except OSError as exc:
            if _gone(exc):
                return NO_MEMORY
            self._failed("smaps_rollup", exc)
        except (ValueError, KeyError, IndexError):
            self._drop("smaps_rollup", "unexpected format")
        return None

    def _failed(self, name: str, exc: OSError) -> None:
        if _gone(exc):
            raise ProcessGone(f"{self.pid}: {exc.strerror}") from None
        self._drop(name, unavailable_reason(exc))

    def _drop(self, name: str, reason: str) -> None:
        self.unavailable[name] = reason
        fd = self.fds.pop(name, None)
        if fd is not None:
            os.close(fd)
        if name == "io":
            self._io_fd = -1

    def open_files(self) -> Optional[int]:
        """Count of open descriptors (a listing of fd/), None when it cannot be listed."""
        try:
            n = len(os.listdir(os.path.join(self.base, "fd")))
        except OSError as exc:
            if not _gone(exc):
                self.unavailable["fd"] = unavailable_reason(exc)
            return None
        self.unavailable.pop("fd", None)
        return n

    def cmdline(self, fallback: str) -> str:
        """The command line with spaces between arguments; `[name]` when it is empty."""
        try:
            with open(os.path.join(self.base, "cmdline"), "rb") as f:
                raw = f.read(4096)
        except OSError:
            raw = b""
        text = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
        return text or f"[{fallback}]"

    def close(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {}
        self._stat_fd = self._io_fd = -1


def read_text(path: str) -> Optional[str]:
    """A small file's text, None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(65536).decode("utf-8", "replace")
    except OSError:
        return None


def thread_group(proc_root: str, pid: int) -> int:
    """The process (thread group) a PID belongs to: itself, unless it is a thread's id."""
    text = read_text(os.path.join(proc_root, str(pid), "status")) or ""
    for line in text.splitlines():
        if line.startswith("Tgid:"):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                break
    return pid


def stat_ppid_start(proc_root: str, pid: int) -> Optional[Tuple[int, int]]:
    """(ppid, start ticks) of a PID read by path, None when it is not there."""
    try:
        fd = os.open(f"{proc_root}/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    f = raw[raw.rfind(b")") + 2:].split()
    try:
        return int(f[1]), int(f[19])
    except (IndexError, ValueError):
        return None


def numeric_entries(proc_root: str) -> List[int]:
    """The process ids listed in proc_root (threads are not listed, only thread groups)."""
    try:
        return [int(n) for n in os.listdir(proc_root) if n.isdigit()]
    except OSError:
        return []
