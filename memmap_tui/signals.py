"""Stop signals: SIGINT, SIGTERM and SIGHUP end memmap cleanly, from its start to its end.

- From `main()` on (`stop_early`), each raises StopSignal (a KeyboardInterrupt, as Ctrl-C
  raises): a start-up is unwound by its clean-up (a temporary output file removed, a launched
  command stopped, the terminal given back) instead of the default death, and memmap exits
  with 128 + the signal's number.
- A run routes them to its stop (`stop_on_signals`): the sampler ends its batch, every row read
  is written, the file is closed whole. `record` puts its file in place and routes the signals
  in one step (`held_signals`): a signal just before is a start-up's, just after a run's.
- The first stop signal is the only one: from then on memmap ignores the others until it exits
  (a second Ctrl-C cannot cut the clean-up). As the `memmap` command returns, they are held
  back (`hold_until_exit`): none can kill it while Python shuts down.
- SIGHUP ignored when memmap started stays ignored: `nohup memmap record` survives the
  hang-up (that is what nohup asks). SIGINT and SIGTERM always stop it, ignored at start or
  not: a script's background job starts with SIGINT ignored (POSIX), and `kill -INT $pid` to
  it is a request to stop that a recorder must not drop.
- A StopSignal that Python wraps (raised in a class's __set_name__ as an import defines it: a
  RuntimeError) is found in the causes (`stop_signal_in`); one that it drops (raised in a
  finalizer: a __del__, a weakref callback) is not lost either: a run that begins afterwards
  stops at once, and a command that went on to its end exits as stopped (`lost_stop`).
"""

from __future__ import annotations

import signal
import sys

# For the type checker only: memmap's first line imports this module, and typing (with
# contextlib) would cost `memmap --help` a tenth of its start-up (see cli.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
KEPT_IGNORED = (signal.SIGHUP,)  # left ignored when memmap starts with them ignored (nohup)
_first: List[int] = []  # the stop signal that came, once one came
_raised: List[int] = []  # stop signals raised as StopSignal that nothing has taken yet (taken)


class StopSignal(KeyboardInterrupt):
    """A stop signal before a run routed it to its stop: memmap ends the way Ctrl-C ends it
    (a start-up's clean-up runs), with status 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _ignored(_signum: int, _frame: Any) -> None:
    """A stop signal after the first. A Python handler that does nothing rather than SIG_IGN:
    one that had already come when its handler became SIG_IGN would make Python print
    "Signal N ignored due to race condition" with a traceback."""


def _note(signum: int) -> None:
    if not _first:
        _first.append(signum)


def stopping(signum: int) -> None:
    """A stop signal came: remember the first, and ignore the stop signals memmap handles
    with Python handlers from now on (asyncio's stay: the TUI removes them as it exits)."""
    _note(signum)
    for sig in STOP_SIGNALS:
        handler = signal.getsignal(sig)
        if callable(handler) and handler is not signal.default_int_handler:
            signal.signal(sig, _ignored)


def _raise_stop(signum: int, _frame: Any) -> None:
    stopping(signum)
    _raised.append(signum)
    raise StopSignal(signum)


def taken(stopped: StopSignal) -> StopSignal:
    """`stopped` reached the code that answers it (cli.main, launch.entry)."""
    _raised.clear()
    return stopped


def lost_stop() -> Optional[StopSignal]:
    """A StopSignal raised but never taken: Python drops what a finalizer raises (a __del__,
    a weakref callback such as importlib's module locks'), and the command went on to its end.
    None when there is none."""
    return StopSignal(_raised[0]) if _raised else None


def _hide_lost_stop(unraisable: Any) -> None:
    """sys.unraisablehook: a StopSignal dropped in a finalizer is not a failure to report with
    a traceback (lost_stop answers it); anything else goes to the hook before."""
    if not isinstance(unraisable.exc_value, StopSignal):
        _hook_before[0](unraisable)


_hook_before: List[Any] = [sys.unraisablehook]


def stop_early() -> Dict[int, Any]:
    """From here on the stop signals raise StopSignal, but nohup's ignored SIGHUP and those
    given a handler by whoever runs memmap in-process; returns the previous handlers, for
    `restore_signals`."""
    previous: Dict[int, Any] = {}
    for sig in routed_signals():
        handler = signal.getsignal(sig)
        if handler in (signal.SIG_DFL, signal.SIG_IGN) or handler is signal.default_int_handler:
            previous[sig] = signal.signal(sig, _raise_stop)
    if sys.unraisablehook is not _hide_lost_stop:
        _hook_before[0] = sys.unraisablehook
        sys.unraisablehook = _hide_lost_stop
    return previous


def routed_signals() -> Tuple[int, ...]:
    """The stop signals that stop a run: SIGINT, SIGTERM, and SIGHUP unless it is ignored
    (nohup)."""
    return tuple(sig for sig in STOP_SIGNALS
                 if sig not in KEPT_IGNORED or signal.getsignal(sig) != signal.SIG_IGN)


def stop_on_signals(stop: Callable[[], None]) -> Dict[int, Any]:
    """Route the stop signals (those not ignored) to `stop`; returns the previous handlers.
    A stop signal that came before and was not answered stops the run at once (see
    _answer_early)."""
    def handler(signum: int, _frame: Any) -> None:
        stopping(signum)
        stop()

    previous: Dict[int, Any] = {}
    for sig in routed_signals():
        previous[sig] = signal.signal(sig, handler)
    _answer_early(stop)
    return previous


def _answer_early(stop: Callable[[], None]) -> None:
    """A run begins after a stop signal came: the StopSignal it raised was lost on its way
    (caught by code that turns any failure into an answer, after Python wrapped it: a probe
    that imports a library while the signal lands). Stop the run now; memmap ignored the
    signals that came since, counting on that first one."""
    if _first:
        _raised.clear()  # answered here: the run stops cleanly
        stop()


def restore_signals(previous: Dict[int, Any]) -> None:
    """Give back the handlers `stop_on_signals` or `stop_early` replaced; once a stop signal
    came they stay ignored instead (memmap is on its way out)."""
    if _first:
        return
    for sig, handler in previous.items():
        signal.signal(sig, handler)


class held_signals:  # noqa: N801 - used as a function: `with held_signals():`
    """Hold the stop signals back (blocked in this thread) for a step that must not be cut in
    two; one that came meanwhile is handled as the step ends, by the handlers then in place."""

    def __enter__(self) -> None:
        self._old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)

    def __exit__(self, *_exc: object) -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old)


def route_to_loop(loop: Any, stop: Callable[[], None]) -> Dict[int, Any]:
    """Route the stop signals to `stop` on a running asyncio loop (the TUIs: in the main thread
    only), and let through those `held_signals` held back while the screen was set up; returns
    the handlers they had, for `unroute_from_loop`."""
    def stop_once(signum: int) -> None:
        _note(signum)
        stop()

    previous: Dict[int, Any] = {}
    for sig in routed_signals():
        handler = signal.getsignal(sig)
        try:
            loop.add_signal_handler(sig, stop_once, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no such signal here
        previous[sig] = handler
    signal.pthread_sigmask(signal.SIG_UNBLOCK, list(previous))
    _answer_early(stop)
    return previous


def unroute_from_loop(loop: Any, previous: Dict[int, Any]) -> None:
    """Take the loop's handlers away again: the previous ones come back, unless a stop signal
    came (then they are ignored while the screen is given back and memmap exits)."""
    for sig, handler in previous.items():
        loop.remove_signal_handler(sig)
        if _first:
            signal.signal(sig, _ignored)
        elif handler is not None:
            signal.signal(sig, handler)


def stop_signal_in(exc: BaseException) -> Optional[StopSignal]:
    """The StopSignal that `exc` stands for, else None. Python wraps what some hooks raise in
    another exception, the first as its cause: a signal that lands while an import defines a
    class (in its fields' __set_name__) comes out as a RuntimeError; and an exception raised
    while a StopSignal was handled has it as its context."""
    seen = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StopSignal):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def hold_until_exit() -> None:
    """The process is about to exit: hold the stop signals back from here on (blocked; the
    kernel drops them with the process). Python gives its handlers back to the default action
    as it shuts down, and a Ctrl-C then would kill memmap after it had finished its work."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def stopped_status(stopped: StopSignal) -> int:
    """Say why memmap ended (after its clean-up's own output) and give its exit status."""
    print(f"memmap: stopped by {signal.Signals(stopped.signum).name}", file=sys.stderr)
    return 128 + stopped.signum
