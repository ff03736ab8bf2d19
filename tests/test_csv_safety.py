"""CSV text cells cannot become spreadsheet formulas; numbers are written as they are.

Every text cell memmap writes to a CSV goes through sinks.csv.quote (which calls safe_text): today
that is the header (metric names carry device, rail and sensor names that come from the
machine), and any text cell another writer adds must use it too.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memmap_tui.csvread import load_recording
from memmap_tui.model import Frame, Reading, Schema, gauge
from memmap_tui.sinks.csv import (
    FORMULA_LEADERS,
    CsvSink,
    format_row,
    plain_text,
    quote,
    safe_text,
)


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_a_leading_formula_character_gets_a_quote_mark(cell: str) -> None:
    assert safe_text(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["python", "vda", "VDD_GPU", "a=b", "1-2", "'=already"])
def test_other_text_is_left_alone(cell: str) -> None:
    assert safe_text(cell) == cell


def test_numbers_in_rows_are_not_touched() -> None:
    row = format_row(1700000000.5, [-1.5, 2.0, float("nan"), -0.0])
    assert row == "1700000000.500000,-1.5,2,,-0\n"


def test_quote_neutralises_before_it_quotes() -> None:
    assert quote('=HYPERLINK("http://x","y")') == '"\'=HYPERLINK(""http://x"",""y"")"'
    assert quote("plain") == "plain"


@given(st.text(min_size=1))
def test_any_text_cell_parses_back_as_one_harmless_cell(text: str) -> None:
    line = quote(text)
    (cells,) = list(csv.reader(io.StringIO(line, newline="")))
    assert len(cells) == 1
    assert not cells[0].startswith(FORMULA_LEADERS)
    if not text.startswith("'"):
        assert plain_text(cells[0]) == text


def test_the_recorder_header_goes_through_quote(tmp_path: Path) -> None:
    """A device named by the machine (a rail, a sensor) can start a column with '=' or '-'."""
    schema = Schema([gauge("=HYPERLINK(\"http://evil\")", "watts", "watts", "A rail."),
                     gauge("-rail", "watts", "watts", "Another."),
                     gauge("host.mem", "used_bytes", "bytes", "Used.")])
    path = tmp_path / "f.csv"
    sink = CsvSink(str(path), flush_seconds=0.0)
    sink.open(schema)
    values = [-1.5, -2.0, 3.0]
    sink.write(Frame(10.0, values, Reading(0.0, 10.0, values)))
    sink.close()
    header, row = list(csv.reader(path.read_text().splitlines()))
    assert header == ["timestamp", "'=HYPERLINK(\"http://evil\").watts", "'-rail.watts",
                      "host.mem.used_bytes"]
    assert row == ["10.000000", "-1.5", "-2", "3"]  # numbers keep their sign, no quote mark
    rec = load_recording(str(path))
    assert rec.metrics == ["=HYPERLINK(\"http://evil\").watts", "-rail.watts",
                           "host.mem.used_bytes"]
