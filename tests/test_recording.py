"""Reading recordings back: files the real CsvSink wrote (whole, and cut by a kill), and files
that are not memmap recordings at all."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import DATA
from memmap_tui.collectors.host import HostCollector

from memmap_tui.collector import UsageError
from memmap_tui.csvread import NotARecording, load_recording
from memmap_tui.sampler import Sampler
from memmap_tui.sinks.csv import CsvSink


def recorded(path: Path, samples: int = 5) -> Path:
    """A recording written by the real sampler and CSV sink from the fixture /proc tree."""
    sink = CsvSink(str(path), flush_seconds=0.0)
    sampler = Sampler([HostCollector(str(DATA / "proc_a"), str(DATA / "sys_a"))], 0.05, [sink])
    sampler.open()
    for _ in range(samples):
        sampler.sample()
    sampler.close()
    return path


def test_reads_columns_and_rows_as_written(tmp_path: Path) -> None:
    path = recorded(tmp_path / "r.csv")
    rec = load_recording(str(path))
    header = path.read_text().splitlines()[0].split(",")
    assert rec.columns == header and rec.columns[0] == "timestamp"
    assert len(rec) == 5 and not rec.cut
    used = rec.column("host.mem.used_bytes")
    assert len(set(used)) == 1 and used[0] > 0  # the fixture's meminfo does not move
    assert math.isnan(rec.column("host.disk.read_bytes_per_second")[0])  # first rate: none yet
    assert rec.row(2)[0] == rec.timestamps[2] and len(rec.row(2)) == len(header)
    assert rec.duration == pytest.approx(rec.timestamps[-1] - rec.timestamps[0])


def test_a_cut_last_line_is_left_out_and_flagged(tmp_path: Path) -> None:
    path = recorded(tmp_path / "r.csv")
    data = path.read_bytes()
    (tmp_path / "cut.csv").write_bytes(data[:-7])
    rec = load_recording(str(tmp_path / "cut.csv"))
    assert rec.cut and len(rec) == 4
    assert list(map(repr, rec.row(3))) == list(map(repr, load_recording(str(path)).row(3)))


def test_a_file_cut_right_after_a_row_is_whole(tmp_path: Path) -> None:
    path = recorded(tmp_path / "r.csv")
    lines = path.read_bytes().splitlines(keepends=True)
    (tmp_path / "three.csv").write_bytes(b"".join(lines[:4]))
    rec = load_recording(str(tmp_path / "three.csv"))
    assert len(rec) == 3 and not rec.cut


def test_trailing_blank_lines_and_crlf_are_read(tmp_path: Path) -> None:
    path = recorded(tmp_path / "r.csv")
    text = path.read_text().replace("\n", "\r\n") + "\r\n\r\n"
    (tmp_path / "crlf.csv").write_bytes(("\ufeff" + text).encode())
    rec = load_recording(str(tmp_path / "crlf.csv"))
    assert len(rec) == 5 and rec.columns == load_recording(str(path)).columns


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("data, words", [
    (b"name,age\nbob,3\n", "first column is 'name'"),
    (b"garbage,,,\n\x00\x01", "first column is 'garbage'"),
    (b"timestamp,a\n1,2\n\x00\x01", "binary data on line 3"),
    (b"timestamp,a\n1.0,\x00\n", "binary"),
    (b"timestamp,a\n1.0,\xff\xfe\n", "not UTF-8"),
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"timestamp,a\n1.0,2\n2.0,abc\n3.0,4\n", "'abc' in column a is not a number"),
    (b"timestamp,a\n1.0,2,3\n2.0,4\n", "3 cells, the header has 2"),
    (b"timestamp,a\n,2\n", "no timestamp"),
    (b"timestamp,a,a\n1,2,3\n", "'a' appears twice"),
    (b"timestamp,,b\n1,2,3\n", "empty column name"),
    (b"timestamp\n1\n", "no metric columns"),
    (b"timestamp,a", "cut short"),
])
def test_foreign_or_broken_files_are_refused_in_one_line(tmp_path: Path, data: bytes,
                                                          words: str) -> None:
    with pytest.raises(NotARecording) as err:
        load_recording(write(tmp_path, data))
    assert words in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, UsageError)  # the CLI turns it into exit 2


def test_missing_file_and_directory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotARecording, match="no such file"):
        load_recording(str(tmp_path / "missing.csv"))
    with pytest.raises(NotARecording, match="directory"):
        load_recording(str(tmp_path))


def test_a_header_only_recording_has_no_rows(tmp_path: Path) -> None:
    rec = load_recording(write(tmp_path, b"timestamp,host.mem.used_bytes\n"))
    assert len(rec) == 0 and not rec.cut and rec.metrics == ["host.mem.used_bytes"]


def test_a_neutralised_header_cell_reads_back_as_the_name(tmp_path: Path) -> None:
    rec = load_recording(write(tmp_path, b"timestamp,'=cpu.busy_percent,\"'-a,b\"\n1,2,3\n"))
    assert rec.columns == ["timestamp", "=cpu.busy_percent", "-a,b"]
