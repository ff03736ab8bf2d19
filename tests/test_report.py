"""`memmap report`: its figures (percentiles, column choice, chart scaling) and the real command
on real recordings made by `memmap record`."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
from conftest import memmap_cmd, memmap_env

from memmap_tui.catalog import schema_for_columns
from memmap_tui.collector import UsageError
from memmap_tui.commands.charts import downsample, line_chart
from memmap_tui.commands.report import (
    charts,
    describe,
    headline_lines,
    percentile,
    select_columns,
    summarise,
)
from memmap_tui.csvread import load_recording
from memmap_tui.verdict import verdict


def memmap(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*memmap_cmd(), *args], cwd=cwd, env=memmap_env(), timeout=timeout,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real recording of this machine: 3 s at 10 Hz."""
    where = tmp_path_factory.mktemp("rec")
    out = memmap("record", "-o", "r.csv", "--interval", "0.1", "--duration", "3", cwd=where)
    assert out.returncode == 0, out.stderr
    return where / "r.csv"


def test_percentile_interpolates_between_ranks() -> None:
    ordered = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile(ordered, 0.5) == 3.0
    assert percentile(ordered, 0.95) == pytest.approx(4.8)
    assert percentile([7.0], 0.95) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_summary_ignores_missing_values() -> None:
    s = summarise("x_bytes", [math.nan, 1.0, 3.0, math.nan, 2.0])
    assert (s.mean, s.p50, s.max) == (2.0, 2.0, 3.0)
    assert summarise("x_bytes", [math.nan, math.nan]) is None


def test_a_ratio_of_counts_is_averaged_over_its_counts(tmp_path: Path) -> None:
    """Seconds per request, bytes per request: the mean is the window's (all the requests'
    time over their number), not the mean of the rows: a quiet row with one slow request
    weighs one request, a busy one a thousand. The wall clock stepped an hour forward before
    the last row: rows weigh by their rates, not by the CSV's stamps."""
    path = tmp_path / "await.csv"
    path.write_text("timestamp,host.disk.sda.reads_per_second,host.disk.sda.read_await_seconds,"
                    "host.disk.sda.read_request_bytes\n"
                    "1700000000.0,,,\n"
                    "1700000001.0,1,0.010,1048576\n"      # 1 request of 1 MiB, 10 ms
                    "1700000002.0,1000,0.001,4096\n"      # 1,000 of 4 KiB, 1 ms each
                    "1700003603.0,1,0.100,8192\n"         # 1 of 100 ms, after the step
                    "1700003604.0,,,\n")                   # none: no value
    rec = load_recording(str(path))
    counts = [1.0, 1000.0, 1.0]
    for column, values in (("host.disk.sda.read_await_seconds", [0.010, 0.001, 0.100]),
                           ("host.disk.sda.read_request_bytes", [1048576.0, 4096.0, 8192.0])):
        s = summarise(column, rec.column(column), rec.column("host.disk.sda.reads_per_second"))
        want = sum(v * c for v, c in zip(values, counts)) / sum(counts)
        assert s is not None and s.mean == pytest.approx(want)
        assert s.max == max(values)  # the rows' own figures
    out = memmap("report", str(path), "--columns", "host.disk.sda.read_await*", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "read_await_seconds" in line)
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    assert cells[1:] == ["1.1 ms", "10.0 ms", "91.0 ms", "100.0 ms"], row  # not 37 ms


def test_columns_by_name_or_pattern_keep_recording_order() -> None:
    cols = ["host.cpu.util_percent", "host.disk.read_bytes_per_second", "host.mem.used_bytes"]
    assert select_columns(cols, "host.mem.used_bytes,host.d*") == cols[1:]
    assert select_columns(cols, None) == cols
    with pytest.raises(UsageError, match="no column matches 'gpu.*'"):
        select_columns(cols, "gpu.*")
    with pytest.raises(UsageError, match="names no column"):
        select_columns(cols, " , ")


def test_charts_draw_metrics_by_role_with_their_labels(recording: Path) -> None:
    rec = load_recording(str(recording))
    schema = schema_for_columns(rec.metrics)
    text = "\n".join(charts(rec, schema, rec.metrics, 100, False))
    legends = [line.split() for line in text.splitlines() if line.startswith("    •")]
    assert ["•", "disk", "read", "x", "disk", "write"] == legends[1][:6]  # Throughput, host first
    assert "I/O pressure" in text and "RAM used" in text


def test_downsample_averages_buckets_and_drops_gaps() -> None:
    xs = [float(i) for i in range(10)]
    ys = [1.0, math.nan, 3.0, 3.0, 5.0, 5.0, 7.0, 7.0, 9.0, 9.0]
    out_x, out_y = downsample(xs, ys, 3)
    assert len(out_x) == 3 and all(not math.isnan(y) for y in out_y)
    assert out_y[0] == pytest.approx((1.0 + 3.0 + 3.0) / 3)
    assert downsample(xs[:2], ys[:2], 5) == ([0.0], [1.0])


def test_chart_marks_each_series_and_has_a_legend() -> None:
    text = line_chart("Throughput (MB/s)", [("disk.read", [0, 1, 2], [1.0, 2.0, 3.0]),
                                            ("net.rx", [0, 1, 2], [3.0, 2.0, 1.0])], width=60)
    assert "Throughput (MB/s)" in text and "\x1b[" not in text
    assert text.splitlines()[-1].split() == ["•", "disk.read", "x", "net.rx"]
    assert line_chart("Empty", [("a", [0, 1], [math.nan, math.nan])]) == ""


def test_verdict_line_is_the_verdict_over_the_whole_recording(recording: Path) -> None:
    rec = load_recording(str(recording))
    schema = schema_for_columns(rec.metrics)
    lines = [text for _, text in headline_lines(rec, schema)]
    assert lines[0] == f"Verdict: {verdict(rec.window(), schema).text}"
    assert lines[1].startswith("Waiting for data:")


def test_describe_counts_samples_and_span(recording: Path) -> None:
    rec = load_recording(str(recording))
    line = describe(rec)
    assert f"{len(rec)} samples" in line and "every 0.1 s" in line


def test_report_shows_throughput_memory_waiting_and_plots(recording: Path) -> None:
    out = memmap("report", str(recording), cwd=recording.parent)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Verdict: " in text and "Waiting for data" in text
    assert "host.mem.used_bytes" in text and ("GiB" in text or "MiB" in text)
    assert "B/s" in text
    for title in ("Memory (", "Throughput (", "Waiting for data ("):
        assert title in text
    assert "\x1b[" not in text  # no colour codes into a pipe


def test_report_of_a_cut_recording_says_so(recording: Path, tmp_path: Path) -> None:
    data = recording.read_bytes()
    (tmp_path / "cut.csv").write_bytes(data[:-7])
    out = memmap("report", str(tmp_path / "cut.csv"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "last line was cut" in out.stdout
    assert f"{len(load_recording(str(recording))) - 1} samples" in out.stdout


def test_report_columns_limits_the_table(recording: Path) -> None:
    out = memmap("report", str(recording), "--columns", "host.mem.used_bytes", cwd=recording.parent)
    assert out.returncode == 0, out.stderr
    assert "host.mem.used_bytes" in out.stdout
    assert "host.cpu.util_percent" not in out.stdout
    assert "Throughput (" not in out.stdout and "Memory (" in out.stdout


@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    (b"garbage,,,\n\x00\x01", "not a memmap recording"),
    (b"name,age\nbob,3\n", "first column is 'name'"),
    (b"timestamp,host.mem.used_bytes\n", "no samples"),
    (b"timestamp\n1700000000\n1700000001\n", "it has no metric columns, only 'timestamp'"),
])
def test_report_refuses_what_is_not_a_recording(tmp_path: Path, content: bytes,
                                                words: str) -> None:
    if content is not None:
        (tmp_path / "bad.csv").write_bytes(content)
    out = memmap("report", "bad.csv", cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) == 1 and words in out.stderr


def test_report_unknown_column_is_exit_2(recording: Path) -> None:
    out = memmap("report", str(recording), "--columns", "nosuch.*", cwd=recording.parent)
    assert out.returncode == 2 and "no column matches" in out.stderr


def test_report_of_a_starving_gpu_says_so(tmp_path: Path) -> None:
    """A recording of a GPU at 20 % while tasks wait on I/O 60 % of the time: the TUI's verdict."""
    lines = ["timestamp,host.psi.io_some_percent,nvml.gpu0.util_percent,nvml.gpu0.mem_used_bytes,"
             "host.disk.read_bytes_per_second"]
    for i in range(20):
        lines.append(f"{1700000000 + i * 0.5:.6f},60,20,{8 * 2**30 + i * 2**20},{1.5e9:.12g}")
    (tmp_path / "gpu.csv").write_text("\n".join(lines) + "\n")
    out = memmap("report", "gpu.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Verdict: GPU 0 idle 80 % — storage: I/O pressure 60 %" in out.stdout
    assert "GPU 0: busy 20.0 % on average" in out.stdout
    assert "1.50 GB/s" in out.stdout and "Throughput (GB/s)" in out.stdout
    assert "Memory (GiB)" in out.stdout and "GPU0 mem" in out.stdout


def test_describe_gives_a_fast_recordings_step_in_milliseconds(tmp_path: Path) -> None:
    """1 kHz: the step is "1.0 ms", not "0.0 s"."""
    path = tmp_path / "fast.csv"
    rows = "".join(f"{1700000000 + i * 0.001:.6f},{i}\n" for i in range(200))
    path.write_text("timestamp,host.mem.used_bytes\n" + rows)
    assert "every 1.0 ms" in describe(load_recording(str(path)))


def test_a_comparison_says_what_the_reader_made_of_each_file(tmp_path: Path) -> None:
    """The single-file report's notes (values read as not available, a cut last line), once
    for each file they are about, naming it."""
    (tmp_path / "a.csv").write_text("timestamp,host.mem.used_bytes\n1700000000,1\n"
                                    "1700000001,2\n")
    (tmp_path / "b.csv").write_text("timestamp,host.mem.used_bytes\n1700000000,1e308\n"
                                    "1700000001,inf\n1700000002,3\n1700000003,4")
    out = memmap("report", "a.csv", "b.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    notes = [line for line in out.stdout.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: b.csv: the last line was cut short (was the recorder killed?); it is left out",
        "note: b.csv: 2 values infinite or beyond 1e30 read as not available"]
