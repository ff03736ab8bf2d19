"""SVG snapshots of the TUI drawn from the deterministic recording (tests/tui_apps.py).

Update after an intended change of the screens with `pytest tests/test_tui_snapshots.py
--snapshot-update`, look at the SVGs, and regenerate screenshots/ (scripts/make_screenshots.py).
"""

from __future__ import annotations

import runpy

from conftest import ROOT
from tui_apps import recorded_app


async def settle(pilot) -> None:
    """Let the first redraw and the panes' relayout land."""
    await pilot.pause(0.3)


def test_overview_at_80x24(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=settle)


def test_overview_at_160x50(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(160, 50), run_before=settle)


def test_overview_without_gpu_or_process_at_80x24(snap_compare):
    app = recorded_app(drop=("nvml.", "proc."), tables=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_inline_strip(snap_compare):
    assert snap_compare(recorded_app(inline=True), terminal_size=(100, 6), run_before=settle)


def test_help_at_80x24(snap_compare):
    async def open_help(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=open_help)


def test_memory_pane_hidden_at_80x24(snap_compare):
    async def hide_memory(pilot) -> None:
        await settle(pilot)
        await pilot.press("1")
        await pilot.pause(0.2)

    assert snap_compare(recorded_app(), terminal_size=(80, 24), run_before=hide_memory)


def test_the_screenshots_are_the_snapshot_apps_as_they_draw_now():
    """screenshots/ is exported by scripts/make_screenshots.py from these same apps."""
    from textual._doc import take_svg_screenshot

    script = runpy.run_path(str(ROOT / "scripts" / "make_screenshots.py"), run_name="shots")
    for name, (make_app, size) in script["SHOTS"].items():
        svg = take_svg_screenshot(app=make_app(), terminal_size=size, run_before=settle,
                                  title=f"memmap {size[0]}x{size[1]}")
        assert (ROOT / "screenshots" / name).read_text() == svg, (
            f"screenshots/{name} is stale: run scripts/make_screenshots.py")
