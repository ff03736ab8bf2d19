"""Benchmarks measure what users run: the installed package, with its C extensions.

Every bench script calls `require_built()` before it imports memmap_tui. Where memmap_tui is
installed (as the README says: `pip install .`), the source tree this script sits in is taken off
sys.path, so that a clone's unbuilt sources never stand in for the install; where it is not, the
source tree is used (with extensions built in place). Either way, a package without its C
extensions is refused: the script exits 2 with one line saying how to build them.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parent.parent


def _is_source_tree(entry: str) -> bool:
    try:
        return Path(entry or os.getcwd()).resolve() == SOURCE_TREE
    except OSError:
        return False


def require_built() -> None:
    """Import memmap_tui from the install (else this source tree); exit 2 unless both C
    extensions are what it uses."""
    sys.path[:] = [entry for entry in sys.path if not _is_source_tree(entry)]
    if importlib.util.find_spec("memmap_tui") is None:  # not installed: this tree, if built
        sys.path.append(str(SOURCE_TREE))
    from memmap_tui import fieldread, ring

    if (fieldread.IMPLEMENTATION, ring.IMPLEMENTATION) != ("c", "c"):
        script = os.path.basename(sys.argv[0] or "bench")
        print(f"{script}: memmap_tui at {Path(fieldread.__file__).parent} has no C extensions "
              f"(field reader: {fieldread.IMPLEMENTATION}, ring: {ring.IMPLEMENTATION}); "
              "install it with a compiler (pip install .) or build them in place "
              "(python setup.py build_ext --inplace)", file=sys.stderr)
        sys.exit(2)
