"""The live TUI: `memmap` with no subcommand (and `--inline` for a strip under the prompt).

The app never samples. A Source (the Sampler on its own thread, or a recording) fills a ring;
every --refresh seconds the app pulls the new rows into the Monitor and the screen redraws the
lines that changed. Keys go upstream as source commands (pause, interval) or view changes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from typing import Any, Callable, Dict, Optional, Set, Union

from textual.app import App
from textual.binding import Binding

from ..collector import UsageError
from ..signals import held_signals, route_to_loop, unroute_from_loop
from .driver import quiet_driver_class
from .monitor import Monitor, SelfUsage, next_interval
from .panes import PANE_ORDER, PANE_TITLES
from .render import console_glyphs
from .screens.help import HelpScreen
from .screens.inline import InlineScreen
from .screens.overview import OverviewScreen
from .source import Source
from .widgets.status import Status, usage_texts

MainScreen = Union[OverviewScreen, InlineScreen]
BATCH_SECONDS = 0.5  # the most a frame waits to reach the screen's ring (see LiveSource)


def _pane_bindings() -> list:
    keys = []
    for number, key in enumerate(PANE_ORDER, start=1):
        keys.append(Binding(str(number), f"toggle_pane('{key}')", "Panes",
                            key_display=f"1-{len(PANE_ORDER)}", show=number == 1))
    return keys


class MemmapApp(App):
    """Draws a Source's frames; `refresh` is the redraw period in seconds."""

    CSS_PATH = "app.tcss"
    TITLE = "memmap"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("p", "pause", "Pause"),
        Binding("plus", "interval(1)", "Interval", key_display="+/-"),
        Binding("minus", "interval(-1)", "Interval", key_display="-", show=False),
        *_pane_bindings(),
        Binding("g", "window", "Window"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(self, source: Source, refresh: float = 1.0, inline: bool = False,
                 self_meter: Optional[Callable[[], SelfUsage]] = None, glyphs: str = "") -> None:
        # Native terminal colours: the user's palette, 16-colour terminals, no truecolour pass;
        # an input thread that sleeps until a key comes (see driver.py).
        super().__init__(driver_class=quiet_driver_class(), ansi_color=True)
        self.source = source
        self.refresh_seconds = refresh
        self.inline = inline
        self.glyphs = glyphs or console_glyphs()  # TERM=linux: blocks its font has
        store = source.store if getattr(source, "store", None) is not None else source.open()
        self.monitor = Monitor(source, store, self_meter, current_seconds=refresh)
        self.hidden: Set[str] = set()
        self.log_problem = ""  # why there is no log file, shown once at start
        self._signals: Dict[int, Any] = {}
        self.main: MainScreen = (InlineScreen if inline else OverviewScreen)(self.monitor,
                                                                              self.hidden)

    # -- life cycle ---------------------------------------------------------------------------
    def run(self, *args: Any, **kwargs: Any) -> Any:
        # Textual asks shutil for the terminal size, which believes COLUMNS/LINES before the
        # terminal: exported ones (some shells, test runners) would pin it and lose resizes.
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)
        with held_signals():  # until on_mount routes them: not while the terminal is set up
            return super().run(*args, **kwargs)

    def on_mount(self) -> None:
        self.push_screen(self.main)
        self._catch_signals()
        self.source.start()
        self.set_interval(self.refresh_seconds, self.redraw, name="redraw")
        self.call_after_refresh(self.redraw)
        if self.log_problem:
            self.notify(self.log_problem, severity="warning", timeout=8)
        # Everything built so far lives as long as the app: keep the cyclic GC from walking it
        # again and again (Textual allocates a lot per frame; most of it is short-lived).
        gc.freeze()

    def _catch_signals(self) -> None:
        """SIGINT, SIGTERM and SIGHUP quit cleanly (the terminal is given back, not left raw);
        one that came while the screen was set up (held back by `run`) quits now."""
        self._signals = route_to_loop(asyncio.get_running_loop(), self.exit)

    def on_unmount(self) -> None:
        unroute_from_loop(asyncio.get_running_loop(), self._signals)
        self.source.stop()

    # -- drawing --------------------------------------------------------------------------------
    def status(self) -> Status:
        usage = self.monitor.usage
        cpu, rss = usage_texts(usage.cpu_percent, usage.rss_bytes)
        return Status(self.source.label, self.source.interval, self.refresh_seconds,
                      self.monitor.window_label, self.source.paused, cpu, rss,
                      (*self.source.gone(), *self.source.problems(), *self._ended()))

    def _ended(self) -> tuple:
        ended = self.source.ended
        return (f"{ended}; sampling stopped",) if ended else ()

    def redraw(self) -> None:
        """One refresh: pull new rows, then let the main screen repaint what changed."""
        fresh = self.monitor.update()
        self.main.show(self.monitor, self.status(), panes=fresh)

    # -- keys -----------------------------------------------------------------------------------
    def action_pause(self) -> None:
        paused = self.source.toggle_pause()
        self.main.show(self.monitor, self.status())
        self.notify("paused" if paused else "resumed", timeout=2)

    def action_interval(self, direction: int) -> None:
        current = self.source.interval
        wanted = next_interval(current, faster=direction < 0)
        now = self.source.set_interval(wanted)
        if now == current:
            self.notify(f"sampling stays every {current:g} s", timeout=2)
        self.main.show(self.monitor, self.status())

    def action_toggle_pane(self, key: str) -> None:
        if not any(p.key == key for p in self.monitor.panes):
            self.notify(f"no {PANE_TITLES[key]} pane here (its collector is not running)",
                        timeout=3)
            return
        self.hidden ^= {key}
        self.main.set_hidden(self.hidden)

    def action_window(self) -> None:
        self.monitor.next_window()
        self.main.show(self.monitor, self.status())

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def require_terminal(mode: str, instead: str = "'memmap record -o FILE.csv' or 'memmap serve'"
                     ) -> None:
    """The screen needs a terminal for keys (stdin) and for drawing (Textual draws on stderr).
    Without one (cron, nohup, setsid with stdin on /dev/null) it is a usage error: one line,
    exit 2, pointing at the headless modes."""
    for name, stream in (("stdin", sys.__stdin__), ("stderr", sys.__stderr__)):
        if stream is None or not stream.isatty():
            raise UsageError(f"{mode} needs a terminal, and {name} is not one; without a screen "
                             f"use {instead}")


def run_app(args: Any) -> int:
    """`memmap` (live TUI): build the sampler before taking the screen, so errors stay lines."""
    from ..pipeline import log_to_file
    from .source import LiveSource

    require_terminal("the live monitor")
    _, problem = log_to_file()
    source = LiveSource(args, batch_seconds=min(BATCH_SECONDS, args.refresh / 2))
    try:
        source.open()
    except BaseException:
        source.stop()
        raise
    app = MemmapApp(source, refresh=args.refresh, inline=args.inline)
    app.log_problem = problem
    try:
        app.run(inline=args.inline, mouse=False)
    finally:
        source.stop()
    return app.return_code or 0

