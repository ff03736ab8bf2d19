"""units: one formatter for TUI, report and summary."""

from __future__ import annotations

import math

import pytest

from memmap_tui.units import fmt_bytes, fmt_in, fmt_rate, format_value, unit_label


@pytest.mark.parametrize("value, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.00 KiB"),
                                         (3 * 2**30, "3.00 GiB"), (math.nan, "-")])
def test_sizes_are_binary(value: float, text: str) -> None:
    assert fmt_bytes(value) == text


@pytest.mark.parametrize("value, text", [(0, "0 B/s"), (999, "999 B/s"), (1500, "1.50 kB/s"),
                                         (2.5e9, "2.50 GB/s"), (123.4e6, "123 MB/s"),
                                         (45.6e6, "45.6 MB/s"), (math.nan, "-")])
def test_rates_are_decimal(value: float, text: str) -> None:
    assert fmt_rate(value) == text


def test_format_value_goes_by_the_column_name() -> None:
    assert format_value("host.disk.read_bytes_per_second", 2e9) == "2.00 GB/s"
    assert format_value("host.mem.used_bytes", 2**30) == "1.00 GiB"
    assert format_value("host.cpu.util_percent", 12.345) == "12.3 %"
    assert format_value("tegra.power.vdd_gpu.watts", 3.21) == "3.2 W"
    assert format_value("host.vm.major_faults_per_second", 5) == "5/s"


def test_unit_label() -> None:
    assert unit_label("nvml.gpu0.pcie_rx_bytes_per_second") == "B/s"
    assert unit_label("nvml.gpu0.temperature_celsius") == "°C"


def test_times_under_a_second_read_in_milliseconds() -> None:
    assert format_value("host.disk.vda.read_await_seconds", 0.00257) == "2.6 ms"
    assert format_value("netfs.nfs.home.read_rtt_seconds", 2.5e-5) == "25 µs"
    assert format_value("host.disk.vda.read_await_seconds", 1.5) == "1.5 s"
    assert format_value("host.disk.vda.read_await_seconds", math.nan) == "-"


def test_bytes_per_call_are_sizes() -> None:
    assert format_value("netfs.nfs.home.read_bytes_per_op", 131344) == "128.27 KiB"
    assert unit_label("netfs.nfs.home.read_bytes_per_op") == "bytes"


def test_a_count_takes_its_noun_in_the_singular_only_for_one() -> None:
    from memmap_tui.units import fmt_counted

    assert [fmt_counted(n, "row") for n in (0, 1, 2)] == ["0 rows", "1 row", "2 rows"]


def test_fmt_in_keeps_to_four_characters_up_to_9999_units() -> None:
    assert [fmt_in(v * 1e9, 1e9) for v in (1.234, 12.34, 123.4, 0.0)] == ["1.23", "12.3", "123",
                                                                        "0"]
    values = [x / 1000 for x in range(0, 9_999_500, 997)] + [9.994, 9.995, 99.94, 99.95,
                                                              9999.4, 9999.49]
    assert max(len(fmt_in(v, 1.0)) for v in values) == 4
    assert fmt_in(12345.0, 1.0) == "12345"  # above: whole units, wider
    assert fmt_in(float("nan"), 1.0) == fmt_in(None, 1.0)  # type: ignore[arg-type]
