"""A Linux terminal driver whose input thread sleeps until a key arrives.

Textual's stock LinuxDriver polls stdin every 0.1 s even when nothing happens (to time out a
lone Escape and to notice exit), which costs a monitor that should be nearly free about 0.1 %
of a core. This driver blocks in select() on stdin and a wake-up pipe instead; it polls only
for a short while after input (so a lone Escape is still delivered after ESCDELAY), and stop
writes to the pipe. Everything else is the stock driver's.

It leans on driver internals (`exit_event`, `fileno`, `process_message`) and on Textual's
xterm parser; `quiet_driver_class()` returns None when those are not what it expects, and the
app then keeps the stock driver.
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from codecs import getincrementaldecoder
from typing import Any, Optional, Type

_WAKE, _INPUT = "wake", "input"


class WakingEvent(threading.Event):
    """An Event whose set() also writes a byte to a pipe, to wake a select() on it."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        try:
            os.write(self._wake_fd, b"x")
        except OSError:
            pass  # the pipe is full (already woken) or closed


def _input_loop(driver: Any, parser: Any, wake_fd: int, escape_delay: float) -> None:
    """Read keys until the driver's exit_event is set; block while idle."""
    decode = getincrementaldecoder("utf-8")().decode
    polling_until = 0.0
    with selectors.DefaultSelector() as selector:
        selector.register(driver.fileno, selectors.EVENT_READ, _INPUT)
        selector.register(wake_fd, selectors.EVENT_READ, _WAKE)
        while not driver.exit_event.is_set():
            now = time.monotonic()
            timeout = min(escape_delay, polling_until - now) if now < polling_until else None
            for key, _mask in selector.select(timeout):
                if key.data == _WAKE:
                    os.read(wake_fd, 64)
                    continue
                data = decode(os.read(driver.fileno, 4096))
                if not data:  # stdin closed: nothing more will come
                    selector.unregister(driver.fileno)
                    continue
                polling_until = time.monotonic() + 3 * escape_delay + 0.1
                for message in parser.feed(data):
                    driver.process_message(message)
            for message in parser.tick():
                driver.process_message(message)


def quiet(base: Type[Any]) -> Optional[Type[Any]]:
    """A subclass of the driver class `base` with the sleeping input thread, or None."""
    try:
        from textual import constants
        from textual._xterm_parser import XTermParser
    except ImportError:
        return None
    if not hasattr(base, "run_input_thread") or not hasattr(XTermParser, "tick"):
        return None

    class QuietDriver(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._wake_read, self._wake_write = os.pipe()
            os.set_blocking(self._wake_write, False)
            self.exit_event = WakingEvent(self._wake_write)

        def run_input_thread(self) -> None:
            _input_loop(self, XTermParser(), self._wake_read, constants.ESCAPE_DELAY)

        def close(self) -> None:
            super().close()
            for fd in (self._wake_read, self._wake_write):
                try:
                    os.close(fd)
                except OSError:
                    pass

    QuietDriver.__name__ = f"Quiet{base.__name__}"
    return QuietDriver


def quiet_driver_class() -> Optional[Type[Any]]:
    """The quiet full-screen Linux driver, or None where it does not apply."""
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # not a POSIX system
        return None
    return quiet(LinuxDriver)
