#!/usr/bin/env bash
# Both C extensions under AddressSanitizer and UndefinedBehaviorSanitizer: builds them (-Werror)
# into a throwaway copy of the package, then runs their tests and a wide fuzz over every argument
# against those builds. Exit 0 only when everything passed and no sanitizer spoke.
#
#   PATH=$VENV/bin:$PATH bash scripts/sanitize.sh      # from the project root; python must have
#                                                      # pytest and hypothesis ('.[test]')
# Needs gcc and the Python headers. Nothing is written into this tree or into an install: the
# sanitized modules live in a temporary copy of the package that is first on sys.path.
# MEMMAP_FUZZ_EXAMPLES sets the examples per fuzz test (default 200 here); MEMMAP_PYTEST_ARGS adds
# pytest arguments (e.g. --durations=10).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
py=$(command -v python || command -v python3) || { echo "sanitize: no python on PATH" >&2; exit 1; }
"$py" -c 'import pytest, hypothesis' 2>/dev/null \
  || { echo "sanitize: $py lacks pytest/hypothesis; pip install '.[test]' first" >&2; exit 1; }
command -v gcc >/dev/null || { echo "sanitize: no gcc" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/memmap-sanitize.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir "$tree"
# The package laid out as it installs: each package of pyproject.toml's [tool.setuptools] from its
# package-dir (collectors/ is memmap_tui.collectors); then the tests.
"$py" - "$tree" <<'PY' || exit 1
import os, shutil, sys
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    setup = tomllib.load(f)["tool"]["setuptools"]
mapping = setup.get("package-dir", {})
for package in setup["packages"]:
    parts = package.split(".")
    prefix = next(n for n in range(len(parts), -1, -1) if ".".join(parts[:n]) in mapping or n == 0)
    base = mapping.get(".".join(parts[:prefix]), "")
    source = os.path.join(base, *parts[prefix:]) if prefix or base else os.path.join(*parts)
    target = os.path.join(sys.argv[1], *parts)
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(source):
        if os.path.isfile(os.path.join(source, name)) and not name.endswith((".so", ".pyc")):
            shutil.copy2(os.path.join(source, name), target)
PY
cp -r pyproject.toml tests "$tree/"
find "$tree" \( -name __pycache__ -o -name .hypothesis \) -prune -exec rm -rf {} +

include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
suffix=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
flags=(-std=c99 -O1 -g -fPIC -shared -Wall -Wextra -Werror
       -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer
       -fno-sanitize-recover=all)
modules=()
while IFS= read -r source; do
  echo "sanitize: building $source"
  gcc "${flags[@]}" -I"$include" "$source" -o "$tree/${source%.c}$suffix"
  module=${source%.c}
  modules+=("${module//\//.}")
done < <(cd "$tree" && find . -name '*.c' -not -path './tests/*' | sed 's|^\./||' | sort)
(( ${#modules[@]} >= 2 )) \
  || { echo "sanitize: expected two C extensions, found ${modules[*]:-none}" >&2; exit 1; }

asan=$(gcc -print-file-name=libasan.so)
[[ -f $asan ]] || { echo "sanitize: gcc has no libasan.so" >&2; exit 1; }
export MEMMAP_SANITIZED=$tree
export MEMMAP_SHARED=${MEMMAP_SHARED:-$(pwd)/../shared}
export MEMMAP_FUZZ_EXAMPLES=${MEMMAP_FUZZ_EXAMPLES:-200}
# Only for python: the interpreter is not built with ASan, so its runtime is preloaded; every
# PyMem block goes through malloc, where ASan sees its bounds; CPython leaks at exit by design;
# a huge allocation is a MemoryError to test, not a report.
sanitized=(env "PYTHONPATH=$tree${PYTHONPATH:+:$PYTHONPATH}" PYTHONMALLOC=malloc
           PYTHONDONTWRITEBYTECODE=1 "LD_PRELOAD=$asan"
           ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)

cd "$tree"
log=$work/log
status=0
{
  "${sanitized[@]}" "$py" - "${modules[@]}" <<'PY' || exit 1
import importlib, os, sys
tree = os.environ["MEMMAP_SANITIZED"]
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if not module.__file__.startswith(tree + os.sep):
        sys.exit(f"sanitize: {name} was imported from {module.__file__}, not the sanitized build")
    print(f"sanitize: {name} <- {module.__file__}")
from memmap_tui import fieldread, ring
if (fieldread.IMPLEMENTATION, ring.IMPLEMENTATION) != ("c", "c"):
    sys.exit("sanitize: the package does not use the C extensions")
PY
  timeout 780 "${sanitized[@]}" "$py" -m pytest -q -p no:cacheprovider tests/test_fieldread.py \
    tests/test_ring.py tests/test_batch.py tests/test_derive.py tests/test_c_safety.py \
    ${MEMMAP_PYTEST_ARGS:-}
} 2>&1 | tee "$log" || status=$?
if grep -qE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$log"; then
  echo "sanitize: a sanitizer reported an error (above)"
  status=1
fi
echo "sanitize: $( ((status == 0)) && echo clean || echo FAILED ) in $((SECONDS - started)) s"
exit "$status"
