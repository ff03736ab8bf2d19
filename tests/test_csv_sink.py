"""The CSV recorder: header, whole rows, NaN as empty, batching, formula-safe text."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memmap_tui import fieldread
from memmap_tui.model import Frame, Reading, Schema, gauge
from memmap_tui.sinks import csv as csv_sink
from memmap_tui.sinks.csv import CsvSink, RowFormatter, format_row, safe_text

SCHEMA = Schema([gauge("a", "x_bytes", "bytes", "x"), gauge("a", "y_percent", "percent", "y")])


def frame(t: float, x: float, y: float) -> Frame:
    return Frame(1_700_000_000.0 + t, [x, y], Reading(t, 1_700_000_000.0 + t, [x, y]))


def test_header_then_one_row_per_frame(tmp_path: Path) -> None:
    sink = CsvSink(str(tmp_path / "r.csv"))
    sink.open(SCHEMA)
    sink.write(frame(0, 1, 2.5))
    sink.write(frame(1, 3, math.nan))
    sink.close()
    rows = list(csv.reader(open(tmp_path / "r.csv")))
    assert rows[0] == ["timestamp", "a.x_bytes", "a.y_percent"]
    assert rows[1] == ["1700000000.000000", "1", "2.5"]
    assert rows[2] == ["1700000001.000000", "3", ""]


def test_byte_counts_keep_every_digit() -> None:
    assert format_row(0.5, [123456789012.0]) == "0.500000,123456789012\n"


def test_no_row_waits_longer_than_the_flush_period(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    sink = CsvSink(str(path), flush_seconds=1.0)
    sink.open(SCHEMA)

    def write(t: float) -> int:
        sink.write(Frame(1_700_000_000.0 + t, [t, t], Reading(t, 0.0, [t, t]), 0.3))
        return len(path.read_text().splitlines()) - 1

    assert write(0.0) == 1  # the first row goes out at once
    assert write(0.3) == 1 and write(0.6) == 1 and write(0.9) == 1
    assert write(1.2) == 5  # at the next tick the row of 0.3 s would be more than 1 s old
    assert write(1.5) == 5
    sink.close()
    assert len(path.read_text().splitlines()) == 7 and path.read_text().endswith("\n")


def test_the_default_flush_period_is_half_a_second(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    sink = CsvSink(str(path))
    sink.open(SCHEMA)
    for i in range(12):  # 10 Hz: a row at most 0.5 s old when the file is written
        sink.write(Frame(1_700_000_000.0 + i / 10, [i, i], Reading(i / 10, 0.0, [i, i]), 0.1))
        written = len(path.read_text().splitlines()) - 1
        assert (i + 1) - written <= 5
    sink.close()


def test_existing_file_is_refused_without_force(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("precious")
    with pytest.raises(FileExistsError):
        CsvSink(str(path)).open(SCHEMA)
    assert path.read_text() == "precious"


def test_force_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("old")
    sink = CsvSink(str(path), force=True)
    sink.open(SCHEMA)
    sink.close()
    assert path.read_text().startswith("timestamp,")


@pytest.mark.parametrize("text", ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_text_that_could_be_a_formula_is_neutralised(text: str) -> None:
    assert safe_text(text) == "'" + text


def test_plain_text_is_untouched() -> None:
    assert safe_text("python train.py") == "python train.py"


ODD_VALUES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e300, -1e300, 5e-324, 1e-7,
              999999999999.0, 1e12, -1e12, 1e12 + 1, 2.0**53 + 2, -(2.0**63), 2.0**63,
              123456789012.5, 0.1 + 0.2, -1.5, 1 / 3, 7, -7, True]
ODD_TIMESTAMPS = [1_700_000_000.123456, 0.0, -0.0, -1.5, 1e15 - 1, 1e15, -1e15, 1e20,
                  math.inf, -math.inf, math.nan, 5e-324]
needs_c = pytest.mark.skipif(fieldread.IMPLEMENTATION != "c",
                             reason="C extension not built in this checkout")


@pytest.mark.parametrize("timestamp", ODD_TIMESTAMPS)
def test_a_frame_row_is_format_rows_text_on_odd_values(timestamp: float) -> None:
    assert RowFormatter(len(ODD_VALUES))(timestamp, ODD_VALUES) == format_row(timestamp, ODD_VALUES)


@needs_c
def test_a_frame_row_is_made_in_c_where_it_is_built() -> None:
    assert csv_sink._format_rows is not None


@settings(max_examples=300)
@given(st.floats(), st.lists(st.floats(), max_size=40))
def test_a_frame_row_is_format_rows_text_for_any_floats(timestamp: float, values: list) -> None:
    assert RowFormatter(len(values))(timestamp, values) == format_row(timestamp, values)


def test_a_frame_row_without_the_extension_is_format_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_sink, "_format_rows", None)
    assert RowFormatter(len(ODD_VALUES))(0.5, ODD_VALUES) == format_row(0.5, ODD_VALUES)


def test_the_sink_writes_format_row_text_on_odd_values(tmp_path: Path) -> None:
    schema = Schema([gauge("a", f"v{i}_bytes", "bytes", "v") for i in range(len(ODD_VALUES))])
    sink = CsvSink(str(tmp_path / "r.csv"))
    sink.open(schema)
    reading = Reading(0.0, 1_700_000_000.25, list(ODD_VALUES))
    sink.write(Frame(1_700_000_000.25, list(ODD_VALUES), reading))
    sink.close()
    lines = (tmp_path / "r.csv").read_text().splitlines(keepends=True)
    assert lines[1] == format_row(1_700_000_000.25, ODD_VALUES)


def test_a_row_of_another_width_is_format_row_text() -> None:
    assert RowFormatter(3)(0.5, ODD_VALUES) == format_row(0.5, ODD_VALUES)
    assert RowFormatter(30)(0.5, [1.0, 2.0]) == format_row(0.5, [1.0, 2.0])


def test_a_row_that_is_not_all_numbers_fails_as_format_row_does() -> None:
    for values in ([1.0, None], [1.0, "2"], [10**400, 1.0]):
        with pytest.raises(Exception) as want:
            format_row(0.5, values)  # type: ignore[arg-type]
        with pytest.raises(want.type):
            RowFormatter(2)(0.5, values)  # type: ignore[arg-type]
