"""docs/diagnosis.md shows the thresholds table exactly as memmap_tui/thresholds.py holds it,
and every threshold is used somewhere in the product."""

from __future__ import annotations

import importlib.util

from conftest import ROOT

from memmap_tui import thresholds


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_diagnosis_doc",
                                                  ROOT / "scripts" / "make_diagnosis_doc.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_doc_shows_the_table_as_the_code_holds_it() -> None:
    doc = (ROOT / "docs" / "diagnosis.md").read_text()
    assert _script().render(doc) == doc, "run scripts/make_diagnosis_doc.py"


def test_every_threshold_has_a_reason_and_an_anchor_and_is_read() -> None:
    product = "\n".join(p.read_text() for p in (ROOT / "memmap_tui").rglob("*.py")
                        if p.name != "thresholds.py")
    for t in thresholds.TABLE:
        assert t.meaning and t.reasoning and t.anchor, t.name
        constant = next(k for k, v in vars(thresholds).items()
                        if k.isupper() and v == t.value and k.lower() == t.name)
        assert f"T.{constant}" in product or constant in product, f"{t.name} is never used"


def test_the_names_are_unique() -> None:
    names = [t.name for t in thresholds.TABLE]
    assert len(names) == len(set(names))
