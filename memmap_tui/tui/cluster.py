"""`memmap cluster`'s live view: the header, the table of nodes, the footer with the keys.

The app never talks HTTP on its own thread: every --refresh seconds (or on `r`) a thread worker
asks Prometheus (memmap_tui/cluster/view.py `fetch`) and hands the app the new Snapshot, or the
one-line
reason it failed, through call_from_thread. A failure keeps the last table and says why in the
header's second line until a refresh succeeds. Label values reach the table as plain Text (no
markup), escaped by `cluster.safe`.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Callable, Dict, List, Optional

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import DataTable, Footer, Static

from ..cluster.client import PrometheusClient, PrometheusError
from ..cluster.view import HEADERS, LEGEND, RIGHT, Snapshot, cells, fetch, header_line
from ..signals import held_signals, route_to_loop, unroute_from_loop
from .driver import quiet_driver_class

MARK_STYLES = {"down": "bold red", "slow": "bold yellow", "wait": "bold yellow"}
LEVEL_STYLES = {"bad": "red", "warn": "yellow"}
# Widths at 80 columns leave 15 for the instance ("10.100.200.30:9464" gets an ellipsis, a
# host name with its port fits); a wider terminal gives the instance the rest. With --job the job
# column is left out (it is the same on every row).
FIXED_WIDTH = {"job": 7, "disk": 4, "net": 4, "IB": 4, "PCIe": 4, "GPU": 4, "wait": 4,
               "mem": 4, "cause": 14, "mark": 4}
MIN_INSTANCE = 12


class ClusterApp(App):
    """Draws Snapshots of the cluster; `refresh_seconds` apart, from `client`."""

    CSS_PATH = "cluster.tcss"
    TITLE = "memmap cluster"
    BINDINGS = [Binding("q", "quit", "Quit"), Binding("r", "refresh_now", "Refresh")]

    snapshot: reactive[Optional[Snapshot]] = reactive(None, always_update=True)
    problem: reactive[str] = reactive("")

    def __init__(self, client: PrometheusClient, first: Snapshot, job: Optional[str] = None,
                 window: str = "1m", refresh: float = 5.0,
                 local: Callable[[float], time.struct_time] = time.localtime) -> None:
        super().__init__(driver_class=quiet_driver_class(), ansi_color=True)
        self.client, self.job, self.window, self.local = client, job, window, local
        self.refresh_seconds = refresh
        self._first = first
        self._failed_at = ""
        self._signals: Dict[int, Any] = {}
        self._widths = dict(FIXED_WIDTH, instance=MIN_INSTANCE)
        self._columns_made = False
        self._fetching = False

    def run(self, *args: Any, **kwargs: Any) -> Any:
        for name in ("COLUMNS", "LINES"):  # as MemmapApp: they would pin the size
            os.environ.pop(name, None)
        with held_signals():  # as MemmapApp: until on_mount routes them
            return super().run(*args, **kwargs)

    def compose(self) -> ComposeResult:
        yield Static(id="cluster-header")
        yield Static(id="cluster-status")
        yield DataTable(id="nodes", cursor_type="row", zebra_stripes=True, cell_padding=0)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._columns()
        self._columns_made = True
        self.snapshot = self._first
        self.set_interval(self.refresh_seconds, self.action_refresh_now, name="refresh")
        # SIGTERM and SIGHUP quit cleanly, as Ctrl-C (q) does
        self._signals = route_to_loop(asyncio.get_running_loop(), self.exit)

    def on_unmount(self) -> None:
        unroute_from_loop(asyncio.get_running_loop(), self._signals)

    def _shown(self) -> List[str]:
        return [t for t in HEADERS if not (t == "job" and self.job is not None)]

    def _columns(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        shown = self._shown()
        rest = sum(FIXED_WIDTH[t] + 1 for t in shown if t in FIXED_WIDTH)
        self._widths = dict(FIXED_WIDTH, instance=max(MIN_INSTANCE, self.size.width - rest - 1))
        for title in shown:
            table.add_column(self._cell(title, title), width=self._widths[title] + 1, key=title)

    def _cell(self, title: str, text: str, style: str = "") -> Text:
        """A cell as wide as its column, a space after it; numbers to the right, words cut
        with an ellipsis."""
        width = self._widths[title]
        if title in RIGHT:
            text = text.rjust(width)
        elif len(text) > width:
            text = text[: width - 1] + "…"
        return Text(text.ljust(width) + " ", style=style, no_wrap=True)

    # -- refreshing -----------------------------------------------------------------------------
    def action_refresh_now(self) -> None:
        if self._fetching:  # a slow Prometheus: one question at a time
            return
        self._fetching = True
        self.run_worker(self._fetch, thread=True, group="fetch")

    def _fetch(self) -> None:
        try:
            found = fetch(self.client, self.job, self.window)
        except PrometheusError as exc:
            self.call_from_thread(self._failed, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the view: said in its header
            self.call_from_thread(self._failed, f"internal error: {type(exc).__name__}: {exc}")
            return
        self.call_from_thread(self._got, found)

    def _got(self, found: Snapshot) -> None:
        self._fetching = False
        self.problem = ""
        self.snapshot = found

    def _failed(self, reason: str) -> None:
        self._fetching = False
        self._failed_at = time.strftime("%H:%M:%S", self.local(time.time()))
        self.problem = reason

    # -- drawing --------------------------------------------------------------------------------
    def watch_snapshot(self, snapshot: Optional[Snapshot]) -> None:
        if snapshot is None:
            return
        table = self.query_one(DataTable)
        table.clear()
        shown = self._shown()
        for node in snapshot.nodes:
            row = []
            for title, text in zip(HEADERS, cells(node)):
                if title not in shown:
                    continue
                style = MARK_STYLES.get(text, "") if title == "mark" else \
                    LEVEL_STYLES.get(node.level, "") if title == "cause" else ""
                row.append(self._cell(title, text, style))
            table.add_row(*row)
        self._header()

    def watch_problem(self, _: str) -> None:
        self._header()

    def _header(self) -> None:
        if self.snapshot is None:
            return
        self.query_one("#cluster-header", Static).update(
            Text(header_line(self.snapshot, self.client.shown, self.local), no_wrap=True,
                 overflow="ellipsis"))
        status = self.query_one("#cluster-status", Static)
        if self.problem:
            status.set_class(True, "-problem")
            status.update(Text(f"{self._failed_at} {self.problem}; the table is of the last "
                               "answer", no_wrap=True, overflow="ellipsis"))
        else:
            status.set_class(False, "-problem")
            status.update(Text(LEGEND.format(window=self.window), no_wrap=True,
                               overflow="ellipsis"))

    def on_resize(self, _: Any) -> None:
        if self._columns_made:
            self._columns()
            self.watch_snapshot(self.snapshot)


def run_cluster_app(client: PrometheusClient, first: Snapshot, job: Optional[str],
                    window: str, refresh: float) -> int:
    """The live view, until q or a signal."""
    from ..pipeline import log_to_file

    log_to_file()
    app = ClusterApp(client, first, job, window, refresh)
    app.run(mouse=False)
    return app.return_code or 0
