"""Whether the kernel's delay accounting is on: what the process collector's I/O delay needs.

Source: /proc/sys/kernel/task_delayacct ("1" on, "0" off; Linux >= 5.14, where it is off unless
turned on). Before 5.14 the sysctl does not exist and accounting is on unless the kernel was
booted with nodelayacct. The file is kept open and looked at once a second (SYSCTL_SECONDS):
someone may switch it while memmap runs, and a tick should not pay for a read each time.
"""

from __future__ import annotations

import math
import os
from typing import Optional

DELAYACCT_HINT = "sysctl -w kernel.task_delayacct=1"
SYSCTL_SECONDS = 1.0  # how often kernel.task_delayacct is looked at


class DelayAccounting:
    """The sysctl under `proc_root`, kept open between open() and close()."""

    def __init__(self, proc_root: str) -> None:
        self.path = os.path.join(proc_root, "sys", "kernel", "task_delayacct")
        self._fd: Optional[int] = None
        self._on = False
        self._due = -math.inf

    def open(self) -> None:
        self.close()
        self._due, self._on = -math.inf, False
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None  # before Linux 5.14: on unless booted with nodelayacct

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def on(self, now: float) -> bool:
        """Whether accounting is on at `now` (the sysctl read at most once a second)."""
        if self._fd is None:
            return True
        if now < self._due:
            return self._on
        self._due = now + SYSCTL_SECONDS
        try:
            self._on = os.pread(self._fd, 16, 0).strip() != b"0"
        except OSError:
            self._on = False
        return self._on
