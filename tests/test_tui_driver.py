"""The quiet driver: its input loop over a real pipe (blocks while idle, wakes for a key, for the
escape delay and for exit), its place as a subclass of Textual's public LinuxDriver, and no
private Textual import anywhere in the product."""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from pathlib import Path

import pytest
from textual import events

from memmap_tui.tui import driver as driver_module
from memmap_tui.tui.driver import WakingEvent, quiet_driver_class, read_input, wake_pipe
from memmap_tui.tui.keyboard import InputParser

ROOT = Path(__file__).resolve().parent.parent


class CountingParser(InputParser):
    """Counts how often the loop went round (one tick() per wake-up)."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.rounds = 0

    def tick(self):
        self.rounds += 1
        return super().tick()


class Loop:
    """read_input on a thread, reading the read end of a pipe the test writes keys into."""

    def __init__(self, delay: float = 0.05) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.wake_read, wake_write = wake_pipe()
        self.wake_write = wake_write
        self.stop = WakingEvent(wake_write)
        self.parser = CountingParser(delay)
        self.posted: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=read_input, daemon=True, args=(
            self.read_fd, self.wake_read, self.stop, self.parser, self.posted.put))
        self.thread.start()

    def type(self, data: bytes) -> None:
        os.write(self.write_fd, data)

    def next(self, timeout: float = 2.0):
        return self.posted.get(timeout=timeout)

    def close(self) -> float:
        """Stop the loop; returns how long it took to notice."""
        started = time.monotonic()
        self.stop.set()
        self.thread.join(timeout=2.0)
        took = time.monotonic() - started
        self.stop.detach()
        for fd in (self.read_fd, self.write_fd, self.wake_read, self.wake_write):
            try:
                os.close(fd)
            except OSError:
                pass
        return took


@pytest.fixture
def loop():
    running = Loop()
    yield running
    running.close()


def test_a_key_written_to_the_terminal_is_posted(loop):
    loop.type(b"q")
    message = loop.next()
    assert isinstance(message, events.Key) and message.key == "q"


def test_the_loop_sleeps_while_nothing_comes(loop):
    loop.type(b"q")
    loop.next()
    rounds = loop.parser.rounds
    time.sleep(0.5)  # Textual's stock loop would have woken 5 times
    assert loop.parser.rounds == rounds


def test_a_lone_escape_is_posted_after_the_escape_delay(loop):
    started = time.monotonic()
    loop.type(b"\x1b")
    message = loop.next()
    assert message.key == "escape"
    assert time.monotonic() - started >= loop.parser.escape_delay * 0.9
    rounds = loop.parser.rounds
    time.sleep(0.3)
    assert loop.parser.rounds == rounds  # and then it sleeps again


def test_a_sequence_split_across_two_writes_is_one_key(loop):
    loop.type(b"\x1b[1;")
    time.sleep(0.01)
    loop.type(b"5A")
    assert loop.next().key == "ctrl+up"


def test_setting_the_exit_event_wakes_a_sleeping_loop_at_once(loop):
    time.sleep(0.2)
    assert loop.thread.is_alive()
    assert loop.close() < 0.2
    assert not loop.thread.is_alive()


def test_two_input_threads_on_one_wake_pipe_both_end_at_exit(loop):
    """Textual resumes application mode on SIGCONT (a terminal's hangup sends it with SIGHUP)
    and starts a second input thread beside the first: exit must not wait on either."""
    failed = []

    def second_thread() -> None:
        try:
            read_input(loop.read_fd, loop.wake_read, loop.stop, CountingParser(0.05),
                       loop.posted.put)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            failed.append(exc)

    second = threading.Thread(target=second_thread, daemon=True)
    second.start()
    time.sleep(0.1)
    assert loop.close() < 0.2
    second.join(timeout=2.0)
    assert not loop.thread.is_alive() and not second.is_alive() and failed == []


def test_end_of_input_keeps_waiting_for_exit_without_spinning(loop):
    os.close(loop.write_fd)  # stdin gone (a closed pipe, /dev/null)
    time.sleep(0.3)
    assert loop.parser.rounds <= 2
    assert loop.thread.is_alive()
    assert loop.close() < 0.2


def test_the_waking_event_is_an_event_and_detached_writes_nothing():
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    event = WakingEvent(write_fd)
    event.set()
    assert event.is_set() and os.read(read_fd, 8) == b"x"
    event.clear()
    event.detach()
    event.set()
    assert event.is_set()
    with pytest.raises(BlockingIOError):
        os.read(read_fd, 8)
    os.close(read_fd)
    os.close(write_fd)


def test_the_quiet_driver_subclasses_textuals_public_linux_driver(monkeypatch):
    from textual.drivers.linux_driver import LinuxDriver

    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    quiet = quiet_driver_class()
    assert quiet is not None and issubclass(quiet, LinuxDriver)
    assert quiet.run_input_thread is not LinuxDriver.run_input_thread


def test_textual_driver_in_the_environment_lets_textual_choose(monkeypatch):
    monkeypatch.setenv("TEXTUAL_DRIVER", "textual.drivers.linux_driver:LinuxDriver")
    assert quiet_driver_class() is None


def test_no_private_textual_module_is_imported_by_the_product():
    private = re.compile(r"^\s*(from|import) textual\.(_|[a-z_.]*\._)", re.M)
    hits = [str(p.relative_to(ROOT)) for p in (ROOT / "memmap_tui").rglob("*.py")
            if private.search(p.read_text())]
    assert hits == []
    assert "_xterm_parser" not in Path(driver_module.__file__).read_text()
