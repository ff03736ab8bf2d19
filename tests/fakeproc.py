"""A fake /proc tree in a directory, for the process collector's tests of what the real
kernel will not do on demand (a recycled PID, another user's unreadable io, delay accounting
on). Files are rewritten in place, so descriptors the collector keeps open see new contents."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Optional

SMAPS = """55f1-7ffe ---p 00000000 00:00 0                          [rollup]
Rss:               {rss} kB
Pss:               {pss} kB
Pss_Anon:          {anon} kB
Pss_File:          {file} kB
Pss_Shmem:             0 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:     {uss} kB
Anonymous:         {anon} kB
Swap:              {swap} kB
"""


class FakeProc:
    """Writes <root>/<pid>/{stat,io,smaps_rollup,status,cmdline,fd/}, loadavg and the
    task_delayacct sysctl."""

    def __init__(self, root: Path, delayacct: Optional[int] = 0) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.last_pid = 1
        self.write("loadavg", "0.00 0.00 0.00 1/100 1\n")
        if delayacct is not None:
            self.write("sys/kernel/task_delayacct", f"{delayacct}\n")

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "r+" if path.exists() else "w") as f:  # in place: same inode
            f.write(text)
            f.truncate()

    def process(self, pid: int, ppid: int, name: str = "worker", start: int = 1000,
                utime: int = 0, rchar: int = 0, rss_pages: int = 256, delay_ticks: int = 0,
                threads: int = 1, state: str = "S", tgid: Optional[int] = None,
                io: bool = True) -> None:
        """Create or rewrite one process's files."""
        fields: Dict[int, object] = {3: state, 4: ppid, 14: utime, 20: threads, 22: start,
                                     24: rss_pages, 42: delay_ticks}
        rest = " ".join(str(fields.get(n, 0)) for n in range(3, 53))
        self.write(f"{pid}/stat", f"{pid} ({name}) {rest}\n")
        if io:
            self.write(f"{pid}/io", f"rchar: {rchar}\nwchar: 0\nsyscr: 0\nsyscw: 0\n"
                                    f"read_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n")
        kb = rss_pages * 4
        self.write(f"{pid}/smaps_rollup", SMAPS.format(rss=kb, pss=kb // 2, anon=kb // 4,
                                                        file=kb // 4, uss=kb // 4, swap=0))
        self.write(f"{pid}/status", f"Name:\t{name}\nTgid:\t{tgid or pid}\nPid:\t{pid}\n")
        self.write(f"{pid}/cmdline", f"{name}\0--flag\0")
        (self.root / str(pid) / "fd").mkdir(exist_ok=True)
        self.bump(pid)

    def bump(self, pid: int) -> None:
        """Move /proc/loadavg's last-PID field on, as the kernel does on fork."""
        self.last_pid = max(self.last_pid, pid)
        self.write("loadavg", f"0.00 0.00 0.00 1/100 {self.last_pid}\n")

    def make_io_a_directory(self, pid: int) -> None:
        os.unlink(self.root / str(pid) / "io")
        (self.root / str(pid) / "io").mkdir()
