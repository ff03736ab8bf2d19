"""A Linux terminal driver whose input thread sleeps until a key arrives.

Textual's stock LinuxDriver wakes its input thread every 0.1 s even when nothing happens (to
time out a lone Escape and to notice exit), which costs a monitor that should be nearly free
about 0.1 % of a core. This driver subclasses the public LinuxDriver and replaces only its
input thread (`run_input_thread`): it blocks in select() on stdin and a wake-up pipe, with a
timeout only while the parser holds half a sequence (a lone Escape is still delivered after the
escape delay), and the driver's `exit_event` writes to the pipe when set. Keys are parsed by
memmap_tui.tui.keyboard, with public Textual APIs only. Output, modes and signals stay the
stock driver's.

`TEXTUAL_DRIVER` (Textual's own variable, `module:Class`) overrides the choice: the benchmark
runs the stock driver that way (`bench/tui_overhead.py`).
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from typing import Any, Callable, Optional, Tuple, Type

from textual.message import Message

from .keyboard import InputParser

_WAKE, _INPUT = "wake", "input"
READ_BYTES = 4096


class WakingEvent(threading.Event):
    """An Event whose set() also writes a byte to a pipe, to wake a select() on it."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd: Optional[int] = wake_fd
        self._lock = threading.Lock()

    def set(self) -> None:
        super().set()
        with self._lock:
            if self._wake_fd is None:
                return
            try:
                os.write(self._wake_fd, b"x")
            except OSError:
                pass  # the pipe is full: a wake-up is already waiting

    def detach(self) -> None:
        """Stop writing to the pipe (it is about to be closed)."""
        with self._lock:
            self._wake_fd = None


def wake_pipe() -> Tuple[int, int]:
    """The (read, write) ends of the pipe that wakes the input thread, both non-blocking.

    Textual resumes application mode on SIGCONT, which a terminal's hangup sends along with
    SIGHUP, and so starts a second input thread beside the first. At exit a thread that takes
    the wake-up byte leaves the other asleep in select(), and the exit, which joins it, waits
    for ever, the terminal gone and the sampler still running: so once the exit event is set,
    read_input leaves the byte in the pipe, and no read of it ever blocks."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    return read_end, write_end


def read_input(fd: int, wake_fd: int, stop: threading.Event, parser: InputParser,
               post: Callable[[Message], None]) -> None:
    """Read `fd` until `stop` is set, posting what `parser` makes of it; block while idle.

    The only timeout is the parser's deadline (half a sequence waiting for the escape delay).
    End of file or a read error (the terminal hung up) stops the reading, not the waiting.
    """
    with selectors.SelectSelector() as selector:  # select(): works on ttys, pipes, /dev/null
        selector.register(fd, selectors.EVENT_READ, _INPUT)
        selector.register(wake_fd, selectors.EVENT_READ, _WAKE)
        while not stop.is_set():
            deadline = parser.deadline()
            timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            for key, _mask in selector.select(timeout):
                if key.data == _WAKE:
                    if stop.is_set():  # the byte stays, for any other input thread to see
                        break
                    try:
                        os.read(wake_fd, 64)
                    except BlockingIOError:
                        pass  # another input thread took it
                    continue
                try:
                    data = os.read(fd, READ_BYTES)
                except OSError:
                    data = b""
                if not data:  # nothing more will come from here
                    selector.unregister(fd)
                    continue
                for message in parser.feed(data):
                    post(message)
            for message in parser.tick():
                post(message)


def quiet(base: Type[Any]) -> Type[Any]:
    """A subclass of the driver class `base` (LinuxDriver) with the sleeping input thread."""
    from textual import constants

    class QuietDriver(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._wake_read, self._wake_write = wake_pipe()
            self.exit_event = WakingEvent(self._wake_write)

        def run_input_thread(self) -> None:
            read_input(self.fileno, self._wake_read, self.exit_event,
                       InputParser(constants.ESCAPE_DELAY), self.process_message)

        def close(self) -> None:
            super().close()
            self.exit_event.detach()
            for fd in (self._wake_read, self._wake_write):
                try:
                    os.close(fd)
                except OSError:
                    pass

    QuietDriver.__name__ = QuietDriver.__qualname__ = f"Quiet{base.__name__}"
    return QuietDriver


def quiet_driver_class() -> Optional[Type[Any]]:
    """The quiet full-screen Linux driver; None (Textual chooses) where it does not apply:
    not a POSIX system, or TEXTUAL_DRIVER names another driver."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return None
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # no termios: not a POSIX system
        return None
    return quiet(LinuxDriver)
