"""The collector registry: entry points of installed distributions, built-ins as a fallback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import write_answer_plugin

from memmap_tui import collector as registry
from memmap_tui.collector import (
    CollectorOptions,
    UsageError,
    available_names,
    build_collectors,
    collector_class,
    parse_collector_list,
)


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_answer_plugin(tmp_path, "[console_scripts]\nanswer = nothing:here\n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_points.cache_clear()
    yield
    registry._entry_points.cache_clear()
    sys.modules.pop("memmap_answer_plugin", None)


def test_a_third_party_collector_is_found_through_its_entry_point(plugin_on_path) -> None:
    assert "answer" in available_names()
    cls = collector_class("answer")
    assert cls.__name__ == "Answer" and cls().collect() == [42.0]


def test_entry_points_of_other_groups_are_not_collectors(plugin_on_path) -> None:
    assert "answer" in registry._entry_points()
    assert list(registry._entry_points()).count("answer") == 1


def test_default_set_includes_available_plugins(plugin_on_path) -> None:
    names = [c.name for c in build_collectors(None, CollectorOptions())]
    assert "host" in names and "answer" in names


def test_unknown_collector_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="unknown collector 'nope'.*host"):
        parse_collector_list("host,nope")


def test_empty_collector_name_is_refused() -> None:
    with pytest.raises(UsageError, match="empty"):
        parse_collector_list("host,")


def test_explicitly_named_unavailable_collector_says_why() -> None:
    with pytest.raises(UsageError, match="jetson.*not available here"):
        build_collectors(["jetson"], CollectorOptions(sys_root="/nonexistent",
                                                      proc_root="/nonexistent"))


def test_no_driver_means_nvml_unavailable_without_importing_pynvml(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from memmap_tui.collectors import nvml

    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    monkeypatch.setattr(nvml, "DRIVER_NODES", ("/nonexistent/nvidia",))
    avail = nvml.NvmlCollector().probe()
    assert not avail.available and "no NVIDIA driver loaded" in avail.reason
    assert "pynvml" not in sys.modules


def test_built_in_collectors_are_found_without_scanning_installed_distributions(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan() -> None:
        raise AssertionError("the entry points were scanned for built-in names")

    monkeypatch.setattr(registry, "_entry_points", no_scan)
    assert parse_collector_list("host,process") == ["host", "process"]
    assert collector_class("host").__name__ == "HostCollector"


def test_a_third_party_collector_is_named_beside_built_in_ones(plugin_on_path) -> None:
    assert parse_collector_list("host,answer") == ["host", "answer"]
    names = [c.name for c in build_collectors(["host", "answer"], CollectorOptions())]
    assert names == ["host", "answer"]


def test_a_built_in_name_means_the_built_in_collector(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "aaa_shadow-1.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text("[memmap_tui.collectors]\nhost = nothing:Here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_points.cache_clear()
    try:
        assert collector_class("host").__module__ == "memmap_tui.collectors.host"
    finally:
        registry._entry_points.cache_clear()
