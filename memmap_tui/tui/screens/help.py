"""The help: a modal screen listing the keys and what the panes and the verdict mean."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...thresholds import GPU_STARVING, INPUT_BOUND

KEYS = (
    ("q", "quit"),
    ("p", "pause / resume sampling"),
    ("+ / -", "sample less / more often"),
    ("1-5", "show or hide a pane: 1 memory, 2 throughput, 3 waiting, 4 GPU, 5 process"),
    ("g", "graph window: 1 min, 10 min, 1 h"),
    ("?", "this help; Esc closes it"),
    ("ctrl+p", "command palette"),
)

ABOUT = (
    "The headline names what limits the pipeline over the last 10 s, in one word (storage, "
    "small files, CPU-bound, one thread, memory pressure, network, host-to-device copies, "
    "GPU-bound), with the numbers behind it. Waiting for data "
    f"{INPUT_BOUND:.0f} % of the time or more is input-bound; a GPU at or under "
    f"{GPU_STARVING:.0f} % busy meanwhile is starving. Every threshold: docs/diagnosis.md. "
    "Rates are decimal (GB/s), sizes binary (GiB). Sampling and redrawing are separate: "
    "--interval and --refresh."
)


def help_text() -> Group:
    """The keys as a two-column grid (long lines wrap under their own column), then ABOUT."""
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for key, what in KEYS:
        keys.add_row(key, what)
    return Group(Text("memmap keys", style="bold"), Text(""), keys, Text(""), Text(ABOUT))


class HelpScreen(ModalScreen[None]):
    """Keys and meanings; Esc (or ?) closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80%; max-width: 90; height: auto; max-height: 90%;
        border: solid $accent; background: $surface; padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape", "close", "Close"), Binding("question_mark", "close", "Close",
                                                             show=False)]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
