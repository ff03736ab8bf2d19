"""Reading one process's /proc files: descriptors kept open, re-read with pread, parsed in C.

Used by the process collector. Per process, these files stay open while the PID lives, read by
the native field reader (memmap_tui/fieldread.py: numbers parsed in C straight into a float64
row; its Python twin when the extension is not built):
- `stat`          state, ppid, faults, CPU ticks (own + reaped children, and own alone),
                  threads, start time
                  (field 22, clock ticks since boot: it tells a recycled PID from the old one),
                  RSS (field 24, pages) and delayacct_blkio_ticks (field 42, main thread only)
- `io`            rchar/wchar (bytes through read/write calls, page cache hits included),
                  read_bytes/write_bytes (bytes that went to or came from storage) and
                  syscr/syscw (read and write calls: with rchar, the bytes per call)
                  (stat and io are one reader: one call per process per tick)
- `fd/`           open descriptors, once a second: listed, or on Linux >= 6.2 its size (the
                  count) once a listing showed it readable
- `smaps_rollup`  Rss, Pss, Pss_Anon/File/Shmem, Private_*, Anonymous, Swap, in kB (its own
                  reader, read on the collector's budget)
Only the command name and state letter of `stat` become Python objects (from the reader's
head(): "PID (name) S"); the rest stays numbers. `status` is not read per tick: stat carries
its threads and RSS, and its Tgid is read once, when a PID is found (thread_group below).
A descriptor of /proc/PID keeps pointing at that very process: once it is reaped, reads fail
with ESRCH even if the number is reused, so a kept descriptor never silently follows a new
process. `io` and `smaps_rollup` need ptrace read access (same user, or CAP_SYS_PTRACE): for
another user's process they are marked unavailable with the reason, and the rest goes on.
A zombie still has readable `stat` and `io` (its final counters) but no memory map; nor has a
kernel thread (PF_KTHREAD): both own no user memory, so their memory is 0, not "unreadable".

exec: smaps_rollup's descriptor holds the address space it was opened on. After the process
calls exec (every `memmap run`, shell wrappers, launchers) that space is released and the kept
descriptor reads ESRCH (or, on some kernels, an empty rollup); the process's new memory is only
seen by opening the file again. So a read that fails with ESRCH, lacks its Rss line, or shows
Rss 0 while stat counts resident pages, opens smaps_rollup again, once, and keeps the new
descriptor if /proc/PID/stat still names the same process (start time) after it was opened.
A line the kernel does not give is NaN (not available), never 0.
"""

from __future__ import annotations

import errno
import os
from array import array
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from memmap_tui import fieldread
from memmap_tui.fieldread import AFTER_PAREN

CLK_TCK = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
PAGE_BYTES = float(os.sysconf("SC_PAGE_SIZE")) if hasattr(os, "sysconf") else 4096.0
NAN = float("nan")

PTRACE_HINT = "needs ptrace access: run memmap as the process's user or as root"
ROOT_PTRACE_HINT = ("denied even to root: the process is protected from ptrace here (not "
                    "dumpable, another user namespace, or a security module)")
PF_KTHREAD = 0x00200000  # /proc/PID/stat flags (field 9): a kernel thread


class ProcessGone(Exception):
    """The process behind a descriptor is gone (reaped), or its PID now names another one."""


class NoDescriptors(Exception):
    """memmap ran out of file descriptors (EMFILE, ENFILE): the process is there, but its files
    cannot be opened now."""


OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)


def _no_descriptors(pid: int, exc: OSError) -> Optional[NoDescriptors]:
    """NoDescriptors for an open that failed for want of descriptors, else None."""
    return NoDescriptors(f"{pid}: {exc.strerror}") if exc.errno in OUT_OF_DESCRIPTORS else None


class Stat(NamedTuple):
    """The fields of /proc/PID/stat the collector uses, in base units."""

    name: bytes
    state: bytes
    ppid: int
    start_ticks: int
    threads: int
    rss_bytes: float
    cpu_seconds: float        # utime + stime + cutime + cstime: own and reaped children's
    own_cpu_seconds: float    # utime + stime: its own threads' only
    major_faults: float       # majflt + cmajflt
    minor_faults: float       # minflt + cminflt
    io_delay_seconds: float   # delayacct_blkio_ticks (main thread); 0 when accounting is off


# The per-tick row: stat's fields (token numbers count from the state letter after the name,
# field 3 of proc(5)), then io's. Sums are rules adding into one slot; units change in Python.
(PPID, START, THREADS, RSS_PAGES, CPU_TICKS, OWN_TICKS, MAJOR, MINOR, DELAY_TICKS,
 RCHAR, WCHAR, READ_BYTES, WRITE_BYTES, READ_CALLS, WRITE_CALLS) = range(15)
TICK_WIDTH = 15
IO_FIELDS = WRITE_CALLS + 1 - RCHAR
_STAT_TOKENS = ((1, PPID), (19, START), (17, THREADS), (21, RSS_PAGES),
                (11, CPU_TICKS), (12, CPU_TICKS), (13, CPU_TICKS), (14, CPU_TICKS),
                (11, OWN_TICKS), (12, OWN_TICKS),
                (9, MAJOR), (10, MAJOR), (7, MINOR), (8, MINOR), (39, DELAY_TICKS))
STAT_RULES = [(0, "", token, slot, 1.0) for token, slot in _STAT_TOKENS]
IO_RULES = [(1, key, 1, slot, 1.0) for key, slot in (
    ("rchar", RCHAR), ("wchar", WCHAR), ("read_bytes", READ_BYTES), ("write_bytes", WRITE_BYTES),
    ("syscr", READ_CALLS), ("syscw", WRITE_CALLS))]

# smaps_rollup: `Key: value kB` lines after a header line; values in bytes.
SMAPS_KEYS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Private_Clean",
              "Private_Dirty", "Private_Hugetlb", "Anonymous", "Swap")
(S_RSS, S_PSS, S_PSS_ANON, S_PSS_FILE, S_PSS_SHMEM, S_PRIVATE_CLEAN, S_PRIVATE_DIRTY,
 S_PRIVATE_HUGETLB, S_ANONYMOUS, S_SWAP) = range(len(SMAPS_KEYS))
SMAPS_RULES = [(0, key, 1, slot, 1024.0) for slot, key in enumerate(SMAPS_KEYS)]


def name_and_state(head: bytes) -> Tuple[bytes, bytes]:
    """The command name and state letter from the reader's head (b"PID (name) S")."""
    close = head.rfind(b")")
    if close < 0:
        raise ValueError("short stat line")
    return head[head.find(b"(") + 1:close], head[close + 1:].strip()


def stat_from_values(name: bytes, state: bytes, values: List[float]) -> Stat:
    """A Stat from the name, the state and the reader's row as a list; ValueError when the
    stat line was short."""
    ppid, start, threads, rss_pages, cpu_ticks, own_ticks, major, minor, delay_ticks = (
        values[:RCHAR])
    if rss_pages != rss_pages:
        raise ValueError("short stat line")
    return Stat(name, state, int(ppid), int(start), int(threads), rss_pages * PAGE_BYTES,
                cpu_ticks / CLK_TCK, own_ticks / CLK_TCK, major, minor, delay_ticks / CLK_TCK)


class Memory(NamedTuple):
    """From smaps_rollup, bytes. anon/file split the PSS where the kernel gives Pss_Anon
    (Linux >= 5.9); before that they split the RSS."""

    pss: float
    uss: float
    anon: float
    file: float
    swap: float


NO_MEMORY = Memory(0.0, 0.0, 0.0, 0.0, 0.0)  # no memory map: a zombie, a kernel thread


def _or_zero(value: float) -> float:
    return value if value == value else 0.0


def memory_from_row(row: Any) -> Memory:
    """A Memory from a smaps_rollup row. A figure whose lines the kernel did not give is NaN
    (not available); only lines that are optional parts of a sum (Pss_Shmem beside Pss_File,
    Private_Hugetlb) count as 0 when missing."""
    if row[S_PSS_ANON] == row[S_PSS_ANON]:  # Linux >= 5.9: PSS split by kind
        anon, file = row[S_PSS_ANON], row[S_PSS_FILE] + _or_zero(row[S_PSS_SHMEM])
    else:
        anon = row[S_ANONYMOUS]
        file = row[S_RSS] - anon
    uss = row[S_PRIVATE_CLEAN] + row[S_PRIVATE_DIRTY] + _or_zero(row[S_PRIVATE_HUGETLB])
    return Memory(row[S_PSS], uss, anon, file, row[S_SWAP])


def unavailable_reason(exc: OSError) -> str:
    """Why a per-process file cannot be read, in words."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = ROOT_PTRACE_HINT if os.geteuid() == 0 else PTRACE_HINT
        return f"permission denied ({hint})"
    if exc.errno == errno.ENOENT:
        return "not provided by this kernel"
    return exc.strerror or str(exc)


def _gone(exc: OSError) -> bool:
    return exc.errno in (errno.ESRCH, errno.ENOENT)


class ProcFiles:
    """The kept-open files of one process, and what could not be read, with why.

    `reader_class` is the field reader to use (the C one when built, else its Python twin).
    """

    def __init__(self, proc_root: str, pid: int, reader_class: Any = None) -> None:
        self.base = os.path.join(proc_root, str(pid))
        self.proc_root, self.pid = proc_root, pid
        self.unavailable: Dict[str, str] = {}
        self.no_memory_map = False  # a kernel thread (or a zombie when first seen)
        self.start_ticks: Optional[int] = None  # from the first stat read
        self._reader_class = reader_class or fieldread.FieldReader
        self._stat_path = os.path.join(self.base, "stat")
        self._io_path = os.path.join(self.base, "io")
        self._row = array("d", [NAN]) * TICK_WIDTH
        self._tick: Any = None
        self._head = b""
        self._name_state = (b"", b"")
        self._io_dropped = False
        self._fd_listed = False  # fd/ could be listed last time (its size may stand in)
        self._open_tick()
        self._memory: Any = None
        self._memory_row = array("d", [NAN]) * len(SMAPS_KEYS)
        try:
            self._memory = self._open_memory()
        except OSError as exc:
            short = _no_descriptors(self.pid, exc)
            if short is not None:
                self.close()
                raise short from None
            if exc.errno == errno.ESRCH or _kernel_thread(self.base):
                self.no_memory_map = True  # no address space to read: it owns no user memory
            else:
                self.unavailable["smaps_rollup"] = unavailable_reason(exc)

    def _open_memory(self) -> Any:
        return self._reader_class([(os.path.join(self.base, "smaps_rollup"), 0)], SMAPS_RULES,
                                  len(SMAPS_KEYS))

    def _open_tick(self) -> None:
        """The reader of stat and, unless it is unavailable, io; ProcessGone without stat,
        NoDescriptors when memmap has none left to open them with."""
        if self._tick is not None:
            self._tick.close()
            self._tick = None
        if "io" not in self.unavailable:
            try:
                self._tick = self._reader_class(
                    [(self._stat_path, AFTER_PAREN), (self._io_path, 0)], STAT_RULES + IO_RULES,
                    TICK_WIDTH)
                return
            except OSError as exc:
                if exc.filename != self._io_path or exc.errno in OUT_OF_DESCRIPTORS:
                    raise (_no_descriptors(self.pid, exc)
                           or ProcessGone(f"{self.pid}: {exc.strerror}")) from None
                self.unavailable["io"] = unavailable_reason(exc)
        self._io_dropped = True
        try:
            self._tick = self._reader_class([(self._stat_path, AFTER_PAREN)], STAT_RULES,
                                            TICK_WIDTH)
        except OSError as exc:
            raise (_no_descriptors(self.pid, exc)
                   or ProcessGone(f"{self.pid}: {exc.strerror}")) from None

    def sample(self) -> Tuple[Stat, Optional[Tuple[float, ...]]]:
        """stat, and the io counters (rchar, wchar, read_bytes, write_bytes, syscr, syscw) or
        None when they are unavailable (the reason lands in `unavailable`); ProcessGone once
        it is reaped."""
        row = self._row
        tick = self._tick
        if tick is None:
            raise ProcessGone(f"{self.pid}: closed")
        try:
            tick.read(row)
        except OSError as exc:
            if exc.filename != self._io_path or _gone(exc):
                raise ProcessGone(f"{self.pid}: {exc.strerror}") from None
            self._drop_io(unavailable_reason(exc))
            return self.sample()
        return self.take(row.tolist(), tick.head())

    def take(self, values: List[float], head: bytes) -> Tuple[Stat, Optional[Tuple[float, ...]]]:
        """What sample() gives, from a row of TICK_WIDTH values and the stat head read by
        another reader (collectors/treeread.py reads a whole tree at once); its io values are
        ignored when this process's io is unavailable."""
        try:
            if head != self._head:  # the state letter changed, or the name (exec)
                self._name_state = name_and_state(head)
                self._head = head
            st = stat_from_values(*self._name_state, values)
        except ValueError:
            raise ProcessGone(f"{self.pid}: unreadable stat") from None
        if self.start_ticks is None:
            self.start_ticks = st.start_ticks
        if self._io_dropped:
            return st, None
        io = values[RCHAR:]
        if not all(v == v for v in io):
            self._drop_io("unexpected format")
            return st, None
        return st, tuple(io)

    def reads_io(self) -> bool:
        """Whether io is read with stat (not unavailable, not dropped)."""
        return not self._io_dropped

    def stat(self) -> Stat:
        return self.sample()[0]

    def _drop_io(self, reason: str) -> None:
        self.unavailable["io"] = reason
        self._open_tick()

    def has_memory(self) -> bool:
        """Whether smaps_rollup is open (not denied, not dropped)."""
        return self._memory is not None

    def memory(self) -> Optional[Memory]:
        """smaps_rollup: NO_MEMORY for a process without a memory map (a zombie, a kernel
        thread), None when unavailable. Follows an exec (see the module docstring)."""
        if self._memory is None:
            return NO_MEMORY if self.no_memory_map else None
        row = self._memory_row
        try:
            self._memory.read(row)
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                return self._reopen_memory()  # exec'd (a new address space), or no mm left
            if _gone(exc):
                return NO_MEMORY
            return self._drop_memory(unavailable_reason(exc))
        if row[S_RSS] != row[S_RSS] or (row[S_RSS] == 0.0 and self._row[RSS_PAGES] > 0):
            return self._reopen_memory()  # an emptied rollup: the old address space
        return memory_from_row(row)

    def _reopen_memory(self) -> Optional[Memory]:
        """Open smaps_rollup again (once) and read it; the new descriptor is kept only when
        /proc/PID/stat, read after it was opened, still names this process."""
        try:
            fresh = self._open_memory()
        except OSError as exc:
            if _gone(exc):
                return NO_MEMORY  # no address space now: a zombie, or gone
            return self._drop_memory(unavailable_reason(exc))  # e.g. exec'd a setuid program
        now = stat_ppid_start(self.proc_root, self.pid)
        if now is None or (self.start_ticks is not None and now[1] != self.start_ticks):
            fresh.close()
            return NO_MEMORY  # the PID is gone or names another process now
        self._memory.close()
        self._memory = fresh
        row = self._memory_row
        try:
            fresh.read(row)
        except OSError as exc:
            if _gone(exc):
                return NO_MEMORY
            return self._drop_memory(unavailable_reason(exc))
        return memory_from_row(row)

    def _drop_memory(self, reason: str) -> Optional[Memory]:
        """Mark smaps_rollup unavailable for `reason` and stop reading it; None."""
        self.unavailable["smaps_rollup"] = reason
        if self._memory is not None:
            self._memory.close()
            self._memory = None
        return None

    def open_files(self) -> Optional[int]:
        """Count of open descriptors, None when fd/ cannot be listed. Once a listing worked,
        the real /proc's fd/ size is taken instead where it gives the count (Linux >= 6.2; a
        third of the cost of listing), the listing again where it says 0."""
        fd_dir = os.path.join(self.base, "fd")
        if self._fd_listed and self.proc_root == "/proc":
            try:
                n = os.stat(fd_dir).st_size
            except OSError:
                n = 0
            if n > 0:
                return n
        try:
            n = len(os.listdir(fd_dir))
        except OSError as exc:
            if not _gone(exc):
                self.unavailable["fd"] = unavailable_reason(exc)
            self._fd_listed = False
            return None
        self.unavailable.pop("fd", None)
        self._fd_listed = True
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
        for reader in (self._tick, self._memory):
            if reader is not None:
                reader.close()
        self._tick = self._memory = None


def _kernel_thread(base: str) -> bool:
    """Whether /proc/PID (at `base`) is a kernel thread (PF_KTHREAD in stat's flags)."""
    text = read_text(os.path.join(base, "stat")) or ""
    fields = text[text.rfind(")") + 2:].split()
    try:
        return bool(int(fields[6]) & PF_KTHREAD)
    except (IndexError, ValueError):
        return False


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


def _stat_fields(proc_root: str, pid: int) -> Optional[List[bytes]]:
    """The fields of /proc/PID/stat after the command name (the state first), None when it is
    not there."""
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
    close = raw.rfind(b")")
    return raw[close + 2:].split() if close >= 0 else None


def stat_ppid_start(proc_root: str, pid: int) -> Optional[Tuple[int, int]]:
    """(ppid, start ticks) of a PID read by path, None when it is not there."""
    f = _stat_fields(proc_root, pid)
    try:
        return (int(f[1]), int(f[19])) if f is not None else None
    except (IndexError, ValueError):
        return None


PF_EXITING = 0x4  # include/linux/sched.h: a task's flag from the start of do_exit()


def alive(pid: int, proc_root: str = "/proc") -> bool:
    """Whether `pid` is a process that has not begun to exit: listed, not a zombie, and without
    PF_EXITING in its flags (/proc/PID/stat's ninth field). From PF_EXITING on, while its state
    still reads R or D, its /proc/PID/cgroup already names the root cgroups on v1
    (proc_cgroup_show in kernel/cgroup/cgroup.c)."""
    f = _stat_fields(proc_root, pid)
    if not f or f[0][:1] in (b"Z", b"X"):
        return False
    try:
        return not int(f[6]) & PF_EXITING  # fields after the name: state ppid ... tpgid flags
    except (IndexError, ValueError):
        return True  # a stat line without flags: listed and not a zombie


def numeric_entries(proc_root: str) -> List[int]:
    """The process ids listed in proc_root (threads are not listed, only thread groups)."""
    try:
        return [int(n) for n in os.listdir(proc_root) if n.isdigit()]
    except OSError:
        return []


def exit_status(proc_root: str, pid: int) -> Optional[int]:
    """The exit status of a process that exited unreaped, when memmap is its parent (a
    negative number: the signal that ended it); None otherwise or on a fake /proc."""
    if proc_root != "/proc":
        return None
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except (ChildProcessError, OSError):
        return None
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
