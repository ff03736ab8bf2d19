"""Stop signals: SIGINT, SIGTERM and SIGHUP end memmap cleanly, from its start to its end.

- From `main()` on (`stop_early`), SIGTERM and SIGHUP raise StopSignal, as SIGINT raises
  KeyboardInterrupt: a start-up is unwound by its clean-up (a temporary output file removed, a
  launched command stopped, the terminal given back) instead of the default death, and memmap
  exits with 128 + the signal's number.
- Once a run has started, `stop_on_signals(stop)` routes them to the run's stop: the sampler
  ends its batch, every row read is written, the file is closed whole.
- A signal ignored when memmap started stays ignored (POSIX shells do the same): `nohup memmap
  record` survives the hang-up, and a script's background job is not stopped by Ctrl-C meant
  for the script (its SIGINT is ignored).
"""

from __future__ import annotations

import signal
from typing import Any, Callable, Dict, Tuple

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP before a run routed it to its stop (stop_on_signals): memmap ends the
    way Ctrl-C ends it (the clean-up of a start-up runs: a temporary file is removed), with
    status 128 + the signal's number instead of the default death."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_stop(signum: int, _frame: Any) -> None:
    raise StopSignal(signum)


def stop_early() -> None:
    """From memmap's start on, SIGTERM and SIGHUP raise StopSignal (SIGINT already raises
    KeyboardInterrupt); a signal ignored when memmap started (nohup's SIGHUP) stays ignored."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _raise_stop)


def routed_signals() -> Tuple[int, ...]:
    """The stop signals that stop a run: SIGINT, SIGTERM and SIGHUP, but those ignored when
    memmap started (nohup ignores SIGHUP, a script's background job SIGINT: POSIX shells keep
    ignored signals ignored, and so does memmap)."""
    return tuple(sig for sig in STOP_SIGNALS if signal.getsignal(sig) != signal.SIG_IGN)


def stop_on_signals(stop: Callable[[], None]) -> Dict[int, Any]:
    """Route SIGINT, SIGTERM and SIGHUP (those not ignored) to `stop`; returns the previous
    handlers."""
    previous: Dict[int, Any] = {}
    for sig in routed_signals():
        previous[sig] = signal.signal(sig, lambda _signum, _frame: stop())
    return previous


def restore_signals(previous: Dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)

