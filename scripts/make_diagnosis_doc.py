#!/usr/bin/env python3
"""Write the thresholds table of docs/diagnosis.md from memmap_tui/thresholds.py (the one place
the numbers live); tests/test_diagnosis_doc.py fails when the two disagree.

    python scripts/make_diagnosis_doc.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "diagnosis.md"
BEGIN, END = "<!-- thresholds: begin -->", "<!-- thresholds: end -->"


def table() -> str:
    sys.path.insert(0, str(ROOT))
    from memmap_tui.thresholds import TABLE

    lines = ["| name | value | what it means | why | anchor |", "|---|---|---|---|---|"]
    for t in TABLE:
        value = f"{t.value:g} {t.unit}"
        lines.append(f"| `{t.name}` | {value} | {t.meaning} | {t.reasoning} | {t.anchor} |")
    return "\n".join(lines)


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    DOC.write_text(render(DOC.read_text()))
    print(f"wrote the thresholds table of {DOC}")
