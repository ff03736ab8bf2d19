"""`memmap collectors`: the table of collectors, whether each is available here, and why not."""

from __future__ import annotations

from typing import Any, List, Tuple

from ..collector import available_names, collector_class
from ..pipeline import collector_options


def availability_rows(args: Any) -> List[Tuple[str, bool, str]]:
    rows = []
    options = collector_options(args)
    for name in available_names():
        try:
            cls = collector_class(name)
        except Exception as exc:  # noqa: BLE001 - a broken plugin is a row, not a crash
            rows.append((name, False, f"cannot load: {exc}"))
            continue
        if cls.needs_pid and options.pid is None:
            rows.append((name, True, "needs --pid"))
            continue
        avail = cls.from_options(options).probe()
        rows.append((name, avail.available, avail.reason))
    return rows


def run_collectors(args: Any) -> int:
    rows = availability_rows(args)
    width = max(len(name) for name, _, _ in rows)
    print(f"{'collector':<{width}}  here  why")
    for name, ok, reason in rows:
        print(f"{name:<{width}}  {'yes' if ok else 'no ':<4}  {reason}")
    return 0

