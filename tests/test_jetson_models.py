"""The Jetson module table: model strings, the EMC bytes-per-second estimate, read_model."""

from __future__ import annotations

import math

import pytest
from memmap_tui.collectors.jetson.models import (
    MODULES,
    emc_bytes_per_second,
    find_module,
    read_device_tree,
    read_model,
)

GIB = 1024**3


@pytest.mark.parametrize(
    "model, expected",
    [
        ("NVIDIA Jetson AGX Orin Developer Kit", "Jetson AGX Orin"),
        ("Jetson AGX Orin", "Jetson AGX Orin"),
        ("NVIDIA Jetson Orin NX Engineering Reference Developer Kit", "Jetson Orin NX"),
        ("NVIDIA Jetson Xavier NX Developer Kit", "Jetson Xavier NX"),
        ("Jetson-AGX", "Jetson AGX Xavier"),
        ("NVIDIA Jetson AGX Xavier Developer Kit", "Jetson AGX Xavier"),
        ("NVIDIA Jetson Nano Developer Kit", "Jetson Nano"),
        ("NVIDIA Jetson Nano 2GB Developer Kit", "Jetson Nano"),
        ("quill", "Jetson TX2"),
        ("NVIDIA Jetson TX2 Developer Kit", "Jetson TX2"),
        ("NVIDIA Jetson TX2 NX Developer Kit", "Jetson TX2 NX"),
        ("lanai-3636", "Jetson TX2 NX"),  # L4T 32.6/32.7 (jetson-stats issue #515)
        ("jetson_tx1", "Jetson TX1"),
        ("NVIDIA Jetson AGX Thor Developer Kit", "Jetson AGX Thor (T5000)"),
    ],
)
def test_model_strings_find_their_module(model, expected):
    module = find_module(model)
    assert module is not None and module.name == expected


@pytest.mark.parametrize(
    "name, bytes_per_clock",
    [
        ("Jetson AGX Orin", 64.0),
        ("Jetson Orin NX", 32.0),
        ("Jetson Orin Nano 8GB", 32.0),
        ("Jetson Orin Nano 4GB", 16.0),
        ("Jetson AGX Xavier", 64.0),
        ("Jetson Xavier NX", 32.0),
        ("Jetson TX2", 32.0),
        ("Jetson TX1", 16.0),
        ("Jetson Nano", 16.0),
        ("Jetson AGX Thor (T5000)", 64.0),
    ],
)
def test_bytes_per_emc_clock_follows_the_bus_width(name, bytes_per_clock):
    """Peak / max EMC clock comes out as 2 x bus width in bytes (within 1 %)."""
    module = next(m for m in MODULES if m.name == name)
    assert module.bytes_per_emc_clock == pytest.approx(bytes_per_clock, rel=0.01)


def test_agx_orin_at_full_clock_and_load_is_the_data_sheet_peak():
    value = emc_bytes_per_second("NVIDIA Jetson AGX Orin Developer Kit", 100, 3199)
    assert value == pytest.approx(204.8e9)


def test_estimate_scales_with_util_and_clock():
    value = emc_bytes_per_second("NVIDIA Jetson AGX Orin Developer Kit", 3, 2133)
    assert value == pytest.approx(0.03 * 2133e6 * 204.8e9 / 3199e6)


def test_orin_nano_needs_the_ram_size_to_tell_4gb_from_8gb():
    model = "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"
    assert find_module(model) is None
    assert math.isnan(emc_bytes_per_second(model, 50, 2133))
    assert find_module(model, ram_total_bytes=7620 * 2**20).name == "Jetson Orin Nano 8GB"
    assert find_module(model, ram_total_bytes=3.4 * GIB).name == "Jetson Orin Nano 4GB"
    assert emc_bytes_per_second(model, 100, 2133, ram_total_bytes=7.4 * GIB) == pytest.approx(68e9)


def test_thor_with_less_ram_than_a_t5000_is_not_guessed():
    assert find_module("NVIDIA Jetson AGX Thor Developer Kit", ram_total_bytes=122 * GIB)
    assert find_module("NVIDIA Jetson AGX Thor Developer Kit", ram_total_bytes=60 * GIB) is None


@pytest.mark.parametrize("model", [None, "", "Raspberry Pi 4 Model B Rev 1.4", "Jetson Orin"])
def test_unknown_module_gives_nan_never_a_guess(model):
    assert math.isnan(emc_bytes_per_second(model, 50, 2133))


def test_missing_util_or_clock_gives_nan():
    model = "NVIDIA Jetson AGX Orin Developer Kit"
    assert math.isnan(emc_bytes_per_second(model, None, 2133))
    assert math.isnan(emc_bytes_per_second(model, 5, None))


def test_read_model_strips_the_trailing_nul(tmp_path):
    (tmp_path / "device-tree").mkdir()
    (tmp_path / "device-tree" / "model").write_bytes(b"NVIDIA Jetson AGX Orin Developer Kit\x00")
    assert read_model(str(tmp_path)) == "NVIDIA Jetson AGX Orin Developer Kit"


def test_read_model_falls_back_to_the_firmware_device_tree(tmp_path):
    base = tmp_path / "sys" / "firmware" / "devicetree" / "base"
    base.mkdir(parents=True)
    (base / "model").write_bytes(b"jetson_tx1\x00\n")
    assert read_model(str(tmp_path / "proc"), str(tmp_path / "sys")) == "jetson_tx1"


def test_compatible_strings_are_joined_by_spaces(tmp_path):
    (tmp_path / "device-tree").mkdir()
    (tmp_path / "device-tree" / "compatible").write_bytes(
        b"nvidia,p3737-0000+p3701-0005\x00nvidia,tegra234\x00")
    assert read_device_tree("compatible", str(tmp_path), str(tmp_path)) == (
        "nvidia,p3737-0000+p3701-0005 nvidia,tegra234")


def test_read_model_without_a_device_tree_is_empty(tmp_path):
    assert read_model(str(tmp_path), str(tmp_path)) == ""
