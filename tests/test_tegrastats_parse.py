"""parse_line against every real tegrastats line of the shared fixtures, field by field; fuzzing.

The lines live in `<project>/../shared/fixtures/tegrastats/lines.jsonl` (see its README); they are
read from there through conftest's `tegrastats_rows`, never copied into the project.
"""

from __future__ import annotations

import re
import time
from typing import Any, Dict, List

import pytest
from conftest import TEGRASTATS_LINES, tegrastats_rows
from hypothesis import given, settings
from hypothesis import strategies as st
from memmap_tui.collectors.jetson import parse_line

LINES_FILE = TEGRASTATS_LINES
CONTRACT_KEYS = {
    "ram_used_bytes",
    "ram_total_bytes",
    "swap_used_bytes",
    "swap_total_bytes",
    "swap_cached_bytes",
    "cpu_util_percent",
    "cpu_freq_mhz",
    "gpu_util_percent",
    "gpu_freq_mhz",
    "emc_util_percent",
    "emc_freq_mhz",
    "temps_celsius",
    "power_milliwatts",
    "engines",
}


ROWS: List[Dict[str, Any]] = tegrastats_rows()
ROW_IDS = [f"{row['id']}-{row['model'].split(' (')[0]}" for row in ROWS]


def _row(row_id: str) -> Dict[str, Any]:
    return next(row for row in ROWS if row["id"] == row_id)


def test_the_shared_fixture_is_present_and_complete():
    assert LINES_FILE.exists(), f"shared tegrastats fixture missing: {LINES_FILE}"
    assert len(ROWS) >= 28
    for row in ROWS:
        assert set(row["expect"]) == CONTRACT_KEYS - {"engines"}, row["id"]


def _same(parsed: Any, expected: Any) -> bool:
    """Equal, and None stays None: 0 is not an absent field (ints and floats may mix)."""
    if (parsed is None) != (expected is None):
        return False
    return bool(parsed == expected)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_every_contract_field_matches_the_hand_read_values(row):
    parsed = parse_line(row["line"])
    wrong = {
        field: (parsed[field], expected)
        for field, expected in row["expect"].items()
        if not _same(parsed[field], expected)
    }
    assert not wrong, f"{row['id']} ({row['source']}): field -> (parsed, expected): {wrong}"


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_result_has_exactly_the_contract_keys_and_shapes(row):
    parsed = parse_line(row["line"])
    assert set(parsed) == CONTRACT_KEYS
    assert len(parsed["cpu_util_percent"]) == len(parsed["cpu_freq_mhz"])
    assert all(isinstance(v, float) for v in parsed["temps_celsius"].values())
    assert all(len(pair) == 2 for pair in parsed["power_milliwatts"].values())
    for engine in parsed["engines"].values():
        assert set(engine) == {"util_percent", "freq_mhz", "off"}


def test_line_with_trailing_newline_parses_like_the_bare_line():
    row = _row("30_lesomnus_37")
    assert parse_line(row["line"] + "\n") == parse_line(row["line"])


def test_engine_with_load_and_clock():
    engines = parse_line(_row("30_lesomnus_37")["line"])["engines"]
    assert engines["NVENC"] == {"util_percent": 79, "freq_mhz": 166, "off": False}
    assert engines["VIC"] == {"util_percent": 36, "freq_mhz": 115, "off": False}


def test_engine_printed_off():
    engines = parse_line(_row("30_lesomnus_37")["line"])["engines"]
    for name in ("NVDEC", "NVJPG", "NVJPG1", "OFA", "NVDLA0", "NVDLA1", "PVA0"):
        assert engines[name] == {"util_percent": None, "freq_mhz": None, "off": True}, name


def test_engine_names_lose_the_freq_suffix():
    engines = parse_line(_row("29_mux_24")["line"])["engines"]
    assert list(engines) == ["VIC", "NVDLA0", "APE"]
    assert engines["VIC"] == {"util_percent": None, "freq_mhz": 115, "off": False}
    assert engines["NVDLA0"] == {"util_percent": None, "freq_mhz": 1600, "off": False}


def test_ape_is_a_clock_in_mhz():
    engines = parse_line(_row("01_tx1_998")["line"])["engines"]
    assert engines == {"APE": {"util_percent": None, "freq_mhz": 25, "off": False}}


def test_thor_engines_print_clocks_only():
    engines = parse_line(_row("35_lesomnus_168")["line"])["engines"]
    assert engines["NVENC0"] == {"util_percent": None, "freq_mhz": 0, "off": False}
    assert engines["NVDEC1"] == {"util_percent": None, "freq_mhz": 0, "off": False}
    assert engines["VIC"]["off"] is True
    assert engines["APE"]["freq_mhz"] == 300


def test_denver_mts_load_is_an_engine_percent():
    engines = parse_line(_row("19_waggle_13")["line"])["engines"]
    assert engines["MTS_FG"] == {"util_percent": 1, "freq_mhz": None, "off": False}
    assert engines["MTS_BG"] == {"util_percent": 9, "freq_mhz": None, "off": False}


def test_lines_without_engines_have_an_empty_map():
    assert parse_line(_row("33_dd_orin")["line"])["engines"] == {}


def test_second_gpu_and_pci_gpu_are_engines_not_the_gpu():
    parsed = parse_line("GR3D_FREQ 5%@[100,200] GR3D2_FREQ 7%@[300] GR3D_PCI 9%")
    assert (parsed["gpu_util_percent"], parsed["gpu_freq_mhz"]) == (5, 200)
    assert parsed["engines"]["GR3D2"] == {"util_percent": 7, "freq_mhz": 300, "off": False}
    assert parsed["engines"]["GR3D_PCI"] == {"util_percent": 9, "freq_mhz": None, "off": False}


def test_sensor_at_minus_256_is_off_and_left_out():
    assert parse_line("PMIC@-256C GPU@40.5C CPU@-40C")["temps_celsius"] == {
        "GPU": 40.5,
        "CPU": -40.0,
    }


def test_temperature_with_max_keeps_the_current_value():
    assert parse_line("cpu@50.7/60C gpu@49C/52.5C")["temps_celsius"] == {"cpu": 50.7, "gpu": 49.0}


def test_rail_printed_twice_keeps_its_first_values():
    assert parse_line("NC 1mW/2mW VDD_IN 5/6 NC 3mW/4mW")["power_milliwatts"] == {
        "NC": [1, 2],
        "VDD_IN": [5, 6],
    }


def test_fields_in_an_unknown_shape_are_not_engines():
    assert parse_line("RAM 12 SWAP 3 IRAM 4 CPU 5% MTS 6")["engines"] == {}


def test_ram_swap_iram_and_ape_are_never_rails():
    parsed = parse_line("IRAM 0/252 APE 10/20 RAM 1/2 SWAP 3/4 VDD_IN 7/8")
    assert parsed["power_milliwatts"] == {"VDD_IN": [7, 8]}


def test_sizes_in_kb_and_gb():
    parsed = parse_line("RAM 512/1024kB SWAP 1/2GB (cached 3kB)")
    assert parsed["ram_used_bytes"] == 512 * 1024
    assert parsed["swap_total_bytes"] == 2 * 1024**3
    assert parsed["swap_cached_bytes"] == 3 * 1024


def test_core_without_clock_or_shared_clock_has_no_clock():
    parsed = parse_line("CPU [5%,off,7%@900]")
    assert parsed["cpu_util_percent"] == [5, None, 7]
    assert parsed["cpu_freq_mhz"] == [None, None, 900]


def test_empty_line_gives_every_field_absent():
    parsed = parse_line("")
    assert parsed["ram_used_bytes"] is None and parsed["gpu_freq_mhz"] is None
    assert parsed["cpu_util_percent"] == [] and parsed["cpu_freq_mhz"] == []
    assert parsed["temps_celsius"] == {} and parsed["power_milliwatts"] == {}
    assert parsed["engines"] == {}


def test_bytes_are_decoded():
    row = _row("22_waggle_40")
    assert parse_line(row["line"].encode()) == parse_line(row["line"])


# Tokens that no tegrastats field looks like: they must change nothing around them.
UNKNOWN_TOKENS = [
    "(lfb",
    "12x4MB)",
    "weird:token",
    "@@",
    "[1,2,3]",
    "12/34kB",
    "-",
    "%",
    "5%",
    "@100",
    "lowercase_name 12%",
    "@[1,2]",
    "ümlaut@5",
    "10-10-2030",
]


def _starts_a_field(word: str) -> bool:
    """`RAM`, `CPU`, `VDD_IN`, `NVENC`, `gpu@40C`...: a name, not a value like `off` or `fg`."""
    return bool(re.fullmatch(r"[A-Za-z][\w-]*(@.*)?", word)) and word not in ("off", "fg", "bg")


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_unknown_tokens_between_fields_are_skipped(row):
    noisy = []
    for i, word in enumerate(row["line"].split()):
        if _starts_a_field(word):
            noisy.append(UNKNOWN_TOKENS[i % len(UNKNOWN_TOKENS)])
        noisy.append(word)
    noisy.append("(lfb 2x4MB)")
    assert parse_line(" ".join(noisy)) == parse_line(row["line"])


# Fragments of real lines, so that fuzzing reaches the interesting paths.
FRAGMENTS = sorted({w for row in ROWS for w in row["line"].split()} | set(UNKNOWN_TOKENS))


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_fuzz_any_text_never_raises(text):
    parsed = parse_line(text)
    assert set(parsed) == CONTRACT_KEYS


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from(FRAGMENTS or ["x"]), st.text(max_size=12)),
        max_size=60,
    ),
    st.sampled_from([" ", "  ", "\t", " \n "]),
)
def test_fuzz_shuffled_real_fragments_never_raise(words, separator):
    parsed = parse_line(separator.join(words))
    assert set(parsed) == CONTRACT_KEYS
    assert len(parsed["cpu_util_percent"]) == len(parsed["cpu_freq_mhz"])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes_never_raise(data):
    assert set(parse_line(data)) == CONTRACT_KEYS


def test_pathological_whitespace_is_parsed_in_linear_time():
    start = time.perf_counter()
    parse_line("RAM 1/2MB" + " " * 200_000)
    parse_line("A " * 100_000)
    assert time.perf_counter() - start < 2.0
