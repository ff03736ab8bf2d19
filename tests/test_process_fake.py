"""The process collector on a fake /proc: recycled PIDs, unreadable files, delay accounting,
finding new children. The kernel will not stage these on demand; the real thing is in
test_process_real.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeproc import FakeProc
from memmap_tui.collectors.process import ProcessCollector

from memmap_tui.collector import SourceEnded
from memmap_tui.derive import derive
from memmap_tui.model import Reading, Schema


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def collector(root: Path, pid: int, clock: Clock) -> ProcessCollector:
    c = ProcessCollector(pid, proc_root=str(root), clock=clock)
    c.open()
    return c


def column(c: ProcessCollector, values, name: str) -> float:  # type: ignore[no-untyped-def]
    names = [s.name for s in c.metrics()]
    return values[names.index(name)]


@pytest.fixture
def fake(tmp_path: Path) -> FakeProc:
    proc = FakeProc(tmp_path / "proc")
    proc.process(100, 1, name="train")
    proc.process(101, 100, name="loader")
    return proc


def test_children_found_at_start_are_followed(fake: FakeProc) -> None:
    c = collector(fake.root, 100, Clock())
    values = c.collect()
    assert column(c, values, "proc.count") == 2
    assert [row["pid"] for row in c.table()] == [100, 101]
    assert c.table()[1]["cmdline"] == "loader --flag"


def test_a_recycled_child_pid_is_not_followed(fake: FakeProc) -> None:
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    fake.process(101, 1, name="stranger", start=5000)  # 101 died; the number went elsewhere
    clock.now += 1
    values = c.collect()
    assert column(c, values, "proc.count") == 1
    rows = {row["pid"]: row for row in c.table()}
    assert rows[101]["exited"] and rows[101]["name"] == "loader"


def test_a_recycled_root_pid_ends_the_run_and_says_so(fake: FakeProc) -> None:
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    fake.process(100, 1, name="other", start=9000)
    clock.now += 1
    with pytest.raises(SourceEnded, match="100 exited.*now names another process"):
        c.collect()


def test_unreadable_io_is_reported_with_its_reason_and_the_rest_has_values(
        fake: FakeProc) -> None:
    fake.make_io_a_directory(100)
    fake.make_io_a_directory(101)
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    clock.now += 1
    values = c.collect()
    assert column(c, values, "proc.read_bytes") != column(c, values, "proc.read_bytes")  # NaN
    assert column(c, values, "proc.rss_bytes") == 2 * 256 * 4096
    assert column(c, values, "proc.pss_bytes") == 2 * 512 * 1024
    assert "io" in c.unavailable and "2 of 2" in c.unavailable["io"]
    assert "directory" in c.table()[0]["unavailable"]["io"].lower()


def test_missing_io_on_one_process_leaves_the_others_counted(fake: FakeProc) -> None:
    (fake.root / "101" / "io").unlink()
    fake.process(102, 100, io=False)
    clock = Clock()
    c = ProcessCollector(100, proc_root=str(fake.root), clock=clock)
    c.open()
    c.collect()
    fake.process(100, 1, name="train", rchar=5000)
    clock.now += 1
    values = c.collect()
    assert column(c, values, "proc.read_bytes") == 5000
    assert "1 of" not in c.unavailable["io"] and "2 of 3" in c.unavailable["io"]
    assert c.table()[1]["unavailable"]["io"] == "not provided by this kernel"


def test_delay_accounting_off_leaves_io_delay_empty_and_names_the_sysctl(
        fake: FakeProc) -> None:
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    clock.now += 1
    values = c.collect()
    delay = column(c, values, "proc.io_delay_seconds")
    assert delay != delay
    assert "sysctl -w kernel.task_delayacct=1" in c.unavailable["io_delay"]


def test_io_delay_percent_is_the_mean_share_of_wall_time_waiting(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc", delayacct=1)
    fake.process(100, 1)
    fake.process(101, 100)
    clock = Clock()
    c = collector(fake.root, 100, clock)
    schema = Schema(c.metrics())
    first = Reading(clock.now, 0.0, list(c.collect()))
    fake.process(100, 1, delay_ticks=50)   # 0.5 s of the next 1 s waiting (USER_HZ 100)
    fake.process(101, 100, delay_ticks=10)  # 0.1 s
    clock.now += 1
    second = Reading(clock.now, 1.0, list(c.collect()))
    frame = derive(schema, first, second)
    assert schema.get(frame, "proc.io_delay_percent") == pytest.approx(30.0)
    assert c.table()[0]["io_delay_percent"] == pytest.approx(50.0)
    assert "io_delay" not in c.unavailable


def test_a_new_child_is_found_when_the_last_pid_moves(fake: FakeProc) -> None:
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    fake.process(105, 101, name="grandchild")
    clock.now += 1
    values = c.collect()
    assert column(c, values, "proc.count") == 3
    assert c.table()[2]["depth"] == 2


def test_a_new_thread_of_a_member_is_not_taken_for_a_child(fake: FakeProc) -> None:
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    fake.process(106, 100, name="pt_thread", tgid=101)  # a thread of 101: ppid is 101's parent
    clock.now += 1
    assert column(c, c.collect(), "proc.count") == 2


def test_a_child_born_while_watched_counts_from_zero(fake: FakeProc) -> None:
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    fake.process(107, 100, rchar=7000)  # born and read 7000 bytes since the last tick
    clock.now += 1
    values = c.collect()
    assert column(c, values, "proc.read_bytes") == 7000


def test_an_unreadable_source_is_logged_once_however_the_counts_change(
        fake: FakeProc, caplog: pytest.LogCaptureFixture) -> None:
    fake.make_io_a_directory(100)
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    fake.process(108, 100)
    fake.make_io_a_directory(108)
    clock.now += 1
    c.collect()
    assert "2 of 3" in c.unavailable["io"]
    assert sum("io unreadable" in r.getMessage() for r in caplog.records) == 1


def test_io_that_turns_unreadable_keeps_what_was_counted_for_the_exit_fold(
        fake: FakeProc) -> None:
    clock = Clock()
    c = collector(fake.root, 100, clock)
    c.collect()
    fake.process(101, 100, rchar=1000)
    clock.now += 1
    c.collect()
    fake.write("101/io", "")            # unreadable from now on (as after a setuid exec)
    clock.now += 1
    c.collect()
    assert "unexpected format" in c.unavailable["io"]
    fake.process(101, 1, start=7777)    # it exited; its final 1500 bytes fold into 100
    fake.process(100, 1, name="train", rchar=1500)
    clock.now += 1
    values = c.collect()
    assert column(c, values, "proc.read_bytes") == 1500
