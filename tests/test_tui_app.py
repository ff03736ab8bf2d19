"""The live TUI driven through Textual's Pilot: every key binding, pane hiding, sizes, inline.

Apps are fed either by the real sampler on this machine (host collector, real /proc) or by the
deterministic recording in tests/data (tests/tui_apps.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from argparse import Namespace
from typing import Awaitable, Callable

from textual.command import CommandPalette
from textual.widgets import Footer
from textual.widgets._footer import FooterKey
from tui_apps import FIXED_USAGE, recorded_app

from memmap_tui.tui.app import MemmapApp
from memmap_tui.tui.screens.help import HelpScreen
from memmap_tui.tui.screens.inline import InlineScreen
from memmap_tui.tui.screens.overview import OverviewScreen
from memmap_tui.tui.source import LiveSource
from memmap_tui.tui.widgets.pane import Pane
from memmap_tui.tui.widgets.strip import InlineStrip

Scenario = Callable[..., Awaitable[None]]


def run(app: MemmapApp, scenario: Scenario, size=(80, 24)) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(pilot)
    asyncio.run(main())


def live_app(interval: float = 0.5, refresh: float = 0.2) -> MemmapApp:
    args = Namespace(interval=interval, pid=None, collectors="host", tegrastats_cmd=None)
    return MemmapApp(LiveSource(args), refresh=refresh, self_meter=lambda: FIXED_USAGE)


async def until(pilot, condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await pilot.pause(0.05)
    return condition()


def pane(app: MemmapApp, key: str) -> Pane:
    return app.main.query_one(f"#pane-{key}", Pane)


# -- keys -----------------------------------------------------------------------------------
def test_q_quits():
    app = recorded_app()

    async def scenario(pilot):
        await pilot.press("q")
        await pilot.pause()
        assert app._exit

    run(app, scenario)
    assert app.return_code == 0


def test_p_pauses_and_resumes_the_sampler():
    app = live_app(interval=0.05)
    store = app.monitor.store

    async def scenario(pilot):
        assert await until(pilot, lambda: store.pushed >= 3)
        await pilot.press("p")
        assert app.source.paused
        assert await until(pilot, lambda: app.source.sampler.paused)
        await pilot.pause(0.2)  # a tick in flight may still land
        stopped = store.pushed
        await pilot.pause(0.5)
        assert store.pushed == stopped
        assert app.main.query_one("#status").status.paused
        await pilot.press("p")
        assert await until(pilot, lambda: store.pushed > stopped + 2)

    run(app, scenario)


def test_plus_and_minus_change_the_sampling_interval():
    app = live_app(interval=0.5)

    async def scenario(pilot):
        await pilot.press("minus")
        assert app.source.interval == 0.2
        assert await until(pilot, lambda: app.source.sampler.interval == 0.2)
        await pilot.press("plus", "plus")
        assert app.source.interval == 1.0
        assert await until(pilot, lambda: app.source.sampler.interval == 1.0)
        assert app.main.query_one("#status").status.interval == 1.0

    run(app, scenario)


def test_number_keys_hide_a_pane_and_give_its_room_to_the_others():
    app = recorded_app()

    async def scenario(pilot):
        throughput = pane(app, "throughput").size.height
        await pilot.press("1")
        await pilot.pause()
        assert not pane(app, "memory").display
        assert pane(app, "throughput").size.height > throughput
        await pilot.press("1")
        await pilot.pause()
        assert pane(app, "memory").display
        assert pane(app, "throughput").size.height == throughput

    run(app, scenario, size=(80, 40))


def test_every_number_key_toggles_its_pane():
    app = recorded_app()

    async def scenario(pilot):
        for number, key in enumerate(["memory", "throughput", "waiting", "cpu", "gpu",
                                      "process"], 1):
            await pilot.press(str(number))
            await pilot.pause()
            assert not pane(app, key).display, key
        await pilot.press("1", "2", "3", "4", "5", "6")
        await pilot.pause()
        assert all(p.display for p in app.main.query(Pane))

    run(app, scenario)


def test_the_key_of_an_absent_pane_says_so_and_changes_nothing():
    app = recorded_app(drop=("nvml.", "proc."), tables=False)

    async def scenario(pilot):
        await pilot.press("5")
        await pilot.pause()
        assert not app.main.query("#pane-gpu")
        assert any("no GPU pane" in n.message for n in app._notifications)
        assert all(p.display for p in app.main.query(Pane))

    run(app, scenario)


def test_hiding_a_whole_column_gives_the_other_column_the_width():
    app = recorded_app(drop=("nvml.", "proc."), tables=False)  # right: throughput and CPU

    async def scenario(pilot):
        assert pane(app, "memory").size.width < 100
        await pilot.press("2", "4")
        await pilot.pause()
        assert pane(app, "memory").size.width > 150

    run(app, scenario, size=(160, 50))


def test_g_cycles_the_graph_window():
    app = recorded_app()

    async def scenario(pilot):
        status = app.main.query_one("#status")
        assert status.status.window == "1 min"
        for expected, seconds in (("10 min", 600.0), ("1 h", 3600.0), ("1 min", 60.0)):
            await pilot.press("g")
            assert status.status.window == expected
            assert app.monitor.history.window == seconds

    run(app, scenario)


def test_question_mark_opens_the_help_and_escape_closes_it():
    app = recorded_app()

    async def scenario(pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        help_text = app.screen.query_one("#help-text")
        text = "\n".join(s.text for s in help_text.render_lines(help_text.size.region))
        assert "graph window" in text and "1-6" in text and "command palette" in text
        assert "4 CPU" in text
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)

    run(app, scenario)


def test_the_command_palette_stays():
    app = recorded_app()

    async def scenario(pilot):
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)

    run(app, scenario)


def test_the_footer_shows_the_keys():
    app = recorded_app()

    async def scenario(pilot):
        footer = app.main.query_one(Footer)
        keys = {(k.key_display, k.description) for k in footer.query(FooterKey)}
        assert {("q", "Quit"), ("p", "Pause"), ("+/-", "Interval"), ("1-6", "Panes"),
                ("g", "Window"), ("?", "Help")} <= keys

    run(app, scenario)


# -- sizes ----------------------------------------------------------------------------------
def test_below_60x15_a_message_replaces_the_panes():
    app = recorded_app()

    async def scenario(pilot):
        assert app.main.has_class("-too-small")
        assert "at least 60x15" in str(app.main.query_one("#too-small").render())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert not app.main.has_class("-too-small")

    run(app, scenario, size=(50, 12))


def test_a_wide_terminal_has_two_columns_and_a_narrow_one_one():
    app = recorded_app()

    async def scenario(pilot):
        assert len(app.main.query(".column")) == 1
        await pilot.resize_terminal(160, 50)
        await pilot.pause(0.2)
        assert len(app.main.query(".column")) == 2
        assert pane(app, "memory").view.rows  # the new panes were drawn at once
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert len(app.main.query(".column")) == 1

    run(app, scenario)


def test_a_short_terminal_draws_title_rules_instead_of_boxes():
    app = recorded_app()

    async def scenario(pilot):
        assert all(p.compact for p in app.main.query(Pane))
        await pilot.resize_terminal(160, 50)
        await pilot.pause(0.2)
        assert not any(p.compact for p in app.main.query(Pane))

    run(app, scenario)


def test_inline_mode_is_a_strip_of_at_most_six_lines():
    app = recorded_app(inline=True)

    async def scenario(pilot):
        assert isinstance(app.main, InlineScreen)
        strip = app.main.query_one(InlineStrip)
        assert 1 < strip.size.height <= 6
        lines = [strip.render_line(y).text for y in range(strip.size.height)]
        assert "GPU 0 idle 78 % — storage" in lines[0]
        assert any("1 Memory" in line for line in lines)
        await pilot.press("q")

    run(app, scenario, size=(100, 30))


def test_the_live_app_draws_this_machine():
    app = live_app(interval=0.1)

    async def scenario(pilot):
        memory = pane(app, "memory")
        assert await until(pilot, lambda: memory.view.rows and memory.view.rows[0].value != "-")
        assert memory.view.rows[0].label == "RAM used"
        assert memory.view.rows[0].value.endswith("iB")

    run(app, scenario)


def test_at_80x24_every_pane_keeps_its_title_and_a_line_of_rows():
    app = recorded_app()

    async def scenario(pilot):
        for spec in app.monitor.panes:
            shown = pane(app, spec.key)
            assert shown.size.height >= 2 and shown.view.rows, spec.key
        assert pane(app, "cpu").view.rows[0].label == "all CPUs"

    run(app, scenario)


def test_with_pid_the_host_panes_go_on_after_the_process_exits():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    args = Namespace(interval=0.1, pid=proc.pid, collectors="host", tegrastats_cmd=None)
    app = MemmapApp(LiveSource(args), refresh=0.2, self_meter=lambda: FIXED_USAGE)
    store = app.monitor.store

    async def scenario(pilot):
        status = app.main.query_one("#status")
        said = f"process {proc.pid} exited with status 0"
        assert await until(pilot, lambda: said in status.status.problems, 10)
        assert app.source.ended is None  # sampling did not stop
        pushed = store.pushed
        assert await until(pilot, lambda: store.pushed > pushed + 3)
        assert await until(pilot, lambda: pane(app, "process").view.state == "exited")
        assert pane(app, "process").title.startswith("6 Process")
        cpu_row = pane(app, "process").view.rows[0]
        assert cpu_row.note == "processes: 0"

    try:
        run(app, scenario)
    finally:
        proc.wait()


def test_a_narrow_header_keeps_the_pause_the_phase_and_a_gone_process_before_the_cadence():
    from memmap_tui.tui.widgets.status import Status

    app = recorded_app()

    async def scenario(pilot):
        bar = app.main.query_one("#status")
        bar.status = Status("replay run.csv 1x 20.0 s/119.5 s", 0.5, 1.0, "1 min", True,
                            phase="phase 2/4 storage")
        await pilot.pause()
        line = bar.render_lines(bar.size.region)[0].text
        assert line.startswith(" memmap  replay run.csv 1x 20.0 s/119.5 s  PAUSED  · phase 2/4")
        assert "0.5 s" not in line  # the cadence went first
        bar.status = Status("live", 0.5, 1.0, "1 min", problems=("process 4242 exited",))
        await pilot.pause()
        line = bar.render_lines(bar.size.region)[0].text
        assert "process 4242 exited" in line and "0.5 s / 1 s" in line

    run(app, scenario)


def test_a_new_value_repaints_a_tall_graphs_text_line_but_not_its_graph_lines():
    from dataclasses import replace

    app = recorded_app()

    async def scenario(pilot):
        memory = pane(app, "memory")
        assert memory._layout.row_height >= 2
        before = list(memory._content)
        first = memory.view.rows[0]
        memory.view = replace(memory.view, rows=(replace(first, value="1.00 GiB"),
                                                 *memory.view.rows[1:]))
        assert memory._content[0] is not before[0]
        assert memory._content[1:] == before[1:] and memory._content[1] is before[1]
        memory.view = replace(memory.view, rows=(replace(first, levels=(0,) * len(first.levels)),
                                                 *memory.view.rows[1:]))
        assert memory._content[1] is not before[1]  # the graph changed: its lines too

    run(app, scenario, size=(160, 50))
