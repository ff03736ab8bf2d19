"""A wait that another thread, or a signal handler, can end early: a pipe and poll(2).

The Sampler waits here between ticks when it reads tick by tick (a process tree, a slow source).
At 10 Hz the wait is a large share of what a tick costs outside its reads: side by side, one
`threading.Event.wait(0.1)` a tick cost ~0.10 % of a core and `poll` on a pipe ~0.05 %, against
~0.05 % for `time.sleep(0.1)`, which nothing could end early (Event.wait allocates a lock and
goes through a Condition each time; poll is one system call), measured side by side at 10 Hz
on a 2-CPU VM. bench/overhead.py measures the whole recorder.

`set()` may come before `wait()`: the byte stays in the pipe and the wait returns at once, so no
wake is lost, and `wait()` empties the pipe when it returns early. The descriptors are the
object's for its whole life (closed when it is collected), so a late `set()` from a signal
handler never writes into a descriptor number that something else has opened since.
"""

from __future__ import annotations

import os
import select
import weakref
from typing import Optional

DRAIN = 4096  # bytes read at once when emptying the pipe


class Wake:
    """set() ends the wait in progress, or the next one."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()  # not inherited by children (O_CLOEXEC)
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._poll = select.poll()
        self._poll.register(self._read_fd, select.POLLIN)
        weakref.finalize(self, _close, self._read_fd, self._write_fd)

    def set(self) -> None:
        """End the wait (thread-safe, and safe in a signal handler)."""
        try:
            os.write(self._write_fd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wakes already

    def wait(self, timeout: Optional[float]) -> bool:
        """Wait up to `timeout` seconds (None: until set()); True when set() ended it."""
        ms = None if timeout is None else max(0.0, timeout) * 1000.0
        if not self._poll.poll(ms):
            return False
        try:
            while len(os.read(self._read_fd, DRAIN)) == DRAIN:
                pass
        except BlockingIOError:
            pass
        return True


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
