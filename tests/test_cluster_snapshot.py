"""SVG snapshots of `memmap cluster`'s live view at 80x24, from the fixed table of
tests/cluster_apps.py. Update with `pytest tests/test_cluster_snapshot.py --snapshot-update`."""

from __future__ import annotations

from cluster_apps import cluster_app


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause(0.3)


def test_cluster_at_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(cluster_app(), terminal_size=(80, 24), run_before=settle)


def test_one_job_at_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(cluster_app(job="4711"), terminal_size=(80, 24), run_before=settle)
