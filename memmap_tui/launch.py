"""The `memmap` command (and `python -m memmap_tui`): its stop signals are caught first.

Loading the command line takes about half of memmap's start-up; a Ctrl-C (or SIGTERM, SIGHUP)
in that time used to end it with a KeyboardInterrupt traceback (or the default death). Here the
signals raise StopSignal (memmap_tui/signals.py) before anything else loads, so it ends with
"memmap: stopped by SIGINT" and 128 + N from its first line of Python on; only the
interpreter's own start-up comes before. Nothing but the signals module is imported first.
"""

from __future__ import annotations

from .signals import (
    StopSignal,
    hold_until_exit,
    stop_early,
    stop_signal_in,
    stopped_status,
    taken,
)


def entry() -> None:
    stop_early()
    try:
        from .cli import main

        status = main(exiting=True)
    except StopSignal as stopped:  # before main took over (it answers its own)
        hold_until_exit()
        status = stopped_status(taken(stopped))
    except Exception as exc:  # a stop signal wrapped by an import (see stop_signal_in)
        wrapped = stop_signal_in(exc)
        if wrapped is None:
            raise
        hold_until_exit()
        status = stopped_status(taken(wrapped))
    raise SystemExit(status)
