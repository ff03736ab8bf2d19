"""`memmap replay`: a recording drives the monitor's panes; pause, seek, speed and quit (Pilot),
and the real command in a terminal after a real `memmap record`."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import DATA, memmap_cmd, memmap_env

from memmap_tui.csvread import load_recording
from memmap_tui.tui.replay import ReplayApp, ReplaySource

RECORDING = DATA / "tui_recording.csv"


def replay_source(speed: float = 1.0) -> ReplaySource:
    recording = load_recording(str(RECORDING))
    rows = [tuple(r) for r in recording.rows()]
    source = ReplaySource(recording.metrics, rows, label="tui_recording.csv", speed=speed)
    source.open()
    return source


def drive(source: ReplaySource, keys: list, check) -> None:
    async def scenario() -> None:
        app = ReplayApp(source, refresh=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            for key in keys:
                await pilot.press(key)
                await pilot.pause(0.1)
            check(app)
            await pilot.press("q")
        assert app.return_code in (0, None)

    try:
        asyncio.run(scenario())
    finally:
        source.stop()


def test_playback_starts_at_the_beginning_and_moves_on() -> None:
    source = replay_source(speed=60.0)
    drive(source, [], lambda app: None)
    assert source.position > 0
    assert source.store.pushed > 1


def test_right_seeks_ten_seconds_and_left_back() -> None:
    source = replay_source()
    positions = []
    drive(source, ["p", "right", "right"], lambda app: positions.append(source.position))
    assert 19.0 <= positions[0] <= 21.5
    source = replay_source()
    drive(source, ["p", "right", "right", "left"], lambda app: positions.append(source.position))
    assert 9.0 <= positions[1] <= 11.5


def test_end_and_home_jump_and_graphs_follow() -> None:
    source = replay_source()
    seen = {}

    def at_end(app: ReplayApp) -> None:
        seen["end"] = source.position
        seen["history_last"] = app.monitor.store.latest(1)[0][0]

    drive(source, ["end"], at_end)
    assert seen["end"] == pytest.approx(source.duration)
    assert seen["history_last"] == pytest.approx(source._times[-1])
    assert source.ended == "end of the recording"
    source = replay_source()
    drive(source, ["end", "home", "p"], lambda app: seen.update(home=source.position))
    assert seen["home"] < 1.0 and source.ended is None


def test_speed_cycles_one_ten_sixty_and_stays() -> None:
    source = replay_source()
    speeds = []
    drive(source, ["s"], lambda app: speeds.append(source.speed))
    drive(source, ["s", "s", "s"], lambda app: speeds.append(source.speed))
    drive(source, ["minus"], lambda app: speeds.append(source.speed))
    assert speeds == [10.0, 60.0, 10.0]


def test_pause_stops_the_rows() -> None:
    source = replay_source(speed=10.0)
    counts = []

    def paused(app: ReplayApp) -> None:
        counts.append(source.store.pushed)
        time.sleep(0.5)
        counts.append(source.store.pushed)

    drive(source, ["p"], paused)
    assert source.paused and counts[0] == counts[1]


def test_replay_of_a_foreign_file_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("name,age\nbob,3\n")
    out = subprocess.run([*memmap_cmd(), "replay", "f.csv"], cwd=tmp_path, env=memmap_env(),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed here")
def test_record_then_replay_in_a_real_terminal(tmp_path: Path) -> None:
    env = memmap_env()
    subprocess.run([*memmap_cmd(), "record", "-o", "r.csv", "--interval", "0.1", "--duration",
                    "2"], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=30)
    session = f"memmap-replay-{time.monotonic_ns()}"
    command = " ".join([*memmap_cmd(), "replay", "r.csv"])
    tmux = ["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-c",
            str(tmp_path), "-e", f"PYTHONPATH={env.get('PYTHONPATH', '')}",
            f"{command}; echo EXITED:$? > exit; sleep 3"]
    subprocess.run(tmux, check=True)
    try:
        time.sleep(3)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                capture_output=True, text=True).stdout
        assert "B/s" in screen and "Memory" in screen and "replay r.csv" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (tmp_path / "exit").exists():
            time.sleep(0.1)
        assert (tmp_path / "exit").read_text().strip() == "EXITED:0"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
