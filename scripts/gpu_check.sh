#!/usr/bin/env bash
# The GPU side of memmap on real hardware, in one command and under 5 minutes, on a machine with an
# NVIDIA GPU, its driver and PyTorch (the system python's) but no package index. It prints:
#   1. driver, NVML and nvidia-ml-py versions; every NVML field memmap asks for and what it answered
#      (the valueType of fields 197/198, the NVLink all-links aggregate), GPM support and its first
#      values (scripts/check_nvml.py);
#   2. PCIe rx bytes/s as `memmap record` saw it against a pinned host-to-device copy loop that
#      prints its own GB/s (within 5 %?);
#   3. the causes `memmap run --json` named for a small PyTorch training loop fed by a DataLoader
#      that (a) reads many small files in the main process, (b) serves from memory.
# Files it made (CSV, JSON, logs) are left in $OUT (the device tool's) or /tmp/memmap-gpu-check.
#
# Preparation, once, on a machine that can reach a package index:
#     scripts/gpu_check.sh --prepare     # the wheels memmap needs -> .gpu-wheels/ (git-ignored)
# then bring .gpu-wheels along (device tool: carry [".gpu-wheels"]) and run scripts/gpu_check.sh.
# It installs memmap from this tree into .gpu-venv (with the system's site-packages, for PyTorch).
# Without an NVIDIA driver and GPU, or without PyTorch, or without the wheels, it says why in one
# line and exits 2.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
WHEELS=.gpu-wheels VENV=.gpu-venv
say() { printf '%s\n' "$*"; }

if [[ ${1:-} == --prepare ]]; then
  py=${PYTHON:-python3}
  reqs=$("$py" - <<'PY'
import re
text = open("pyproject.toml").read()
deps = re.search(r"^dependencies = \[(.*?)\]", text, re.S | re.M).group(1)
print(" ".join(re.findall(r'"([^"]+)"', deps)))
PY
) || { say "gpu_check --prepare: cannot read the dependencies from pyproject.toml"; exit 2; }
  mkdir -p "$WHEELS"
  for arch in x86_64 aarch64; do  # plotext and psutil have wheels per machine (GH200 is aarch64)
    # shellcheck disable=SC2086 # one word per requirement
    "$py" -m pip download -q --dest "$WHEELS" --only-binary=:all: --platform "manylinux2014_$arch" \
      $reqs "setuptools>=61" wheel || { say "gpu_check --prepare: pip download for $arch failed"; exit 2; }
  done
  say "gpu_check --prepare: $(ls "$WHEELS" | wc -l) wheels ($(du -sh "$WHEELS" | cut -f1)) in $WHEELS"
  exit 0
fi

# -- can it run here? (one line and exit 2 where not) ----------------------------------------------
if [[ ! -e /proc/driver/nvidia/version && ! -e /dev/nvidiactl ]]; then
  say "gpu_check: no NVIDIA driver or GPU here (no /proc/driver/nvidia, no /dev/nvidiactl): nothing to check"
  exit 2
fi
if command -v nvidia-smi >/dev/null && ! nvidia-smi -L >/dev/null 2>&1; then
  say "gpu_check: nvidia-smi -L finds no GPU: $(nvidia-smi -L 2>&1 | head -1)"
  exit 2
fi
PY=""
for candidate in ${PYTHON:-} python3 python; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    PY=$(command -v "$candidate"); break
  fi
done
[[ -n $PY ]] || { say "gpu_check: no python here imports PyTorch with CUDA (set PYTHON=...)"; exit 2; }
START=$SECONDS
OUTDIR=${OUT:-/tmp/memmap-gpu-check}
mkdir -p "$OUTDIR" || exit 2

# -- memmap from this tree, from the carried wheels -------------------------------------------------
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import memmap_tui' 2>/dev/null; then
  [[ -d $WHEELS ]] || { say "gpu_check: no $WHEELS here: run scripts/gpu_check.sh --prepare where pip can download, and carry $WHEELS"; exit 2; }
  "$PY" -m venv --system-site-packages "$VENV" >"$OUTDIR/install.log" 2>&1 \
    && "$VENV/bin/python" -m pip install -q --no-index --find-links "$WHEELS" . >>"$OUTDIR/install.log" 2>&1 \
    || { say "gpu_check: installing memmap from $WHEELS failed: $(tail -1 "$OUTDIR/install.log")"; exit 2; }
fi
VPY=$VENV/bin/python
MEMMAP=("$VENV/bin/memmap")  # not -m memmap_tui: from here that finds the tree, not the install
part() { "$VPY" scripts/gpu_check.py "$@"; }

say "== 1. versions and every NVML field memmap asks for (scripts/check_nvml.py)"
command -v nvidia-smi >/dev/null && say "nvidia-smi: $(nvidia-smi --format=csv,noheader \
  --query-gpu=index,name,driver_version,pcie.link.gen.max,pcie.link.width.max 2>&1 | tr '\n' ';')"
say "python: $PY, torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>&1)"
timeout 60 "$VPY" scripts/check_nvml.py --interval 1 2>&1 | tee "$OUTDIR/check_nvml.txt"

say ""
say "== 2. PCIe rx recorded by memmap against a pinned host-to-device copy loop"
CSV=$OUTDIR/h2d.csv LOG=$OUTDIR/h2d-copies.txt INTERVAL=0.5
rm -f "$CSV"
timeout 60 "$VPY" scripts/gpu_check.py copy 16 "$LOG" >"$OUTDIR/copy.txt" 2>&1 &
copier=$!
sleep 3  # the copies are running
timeout 40 "${MEMMAP[@]}" record -o "$CSV" --interval $INTERVAL --duration 10 --collectors host,nvml \
  >"$OUTDIR/record.txt" 2>&1 || say "memmap record: $(tail -1 "$OUTDIR/record.txt")"
wait $copier
cat "$OUTDIR/copy.txt"
part compare "$CSV" "$LOG" $INTERVAL

say ""
say "== 3. memmap run --json of a small training loop fed by a DataLoader"
FILES=$(mktemp -d "${TMPDIR:-/tmp}/memmap-gpu-files.XXXXXX")
trap 'rm -rf "$FILES"' EXIT
part make-files "$FILES" 40000
if sync && (echo 3 >/proc/sys/vm/drop_caches) 2>/dev/null; then
  say "(page cache dropped: the small files come from storage)"
else
  say "(page cache kept: not root; the small files may come from memory)"
fi
for source in files memory; do
  json=$OUTDIR/run-$source.json
  args=(train "$source"); [[ $source == files ]] && args+=("$FILES")
  timeout 90 "${MEMMAP[@]}" run --json "$json" --interval 0.5 -- "$VPY" scripts/gpu_check.py \
    "${args[@]}" 35 >"$OUTDIR/run-$source.txt" 2>&1
  say "($source) $(grep -m1 '^train' "$OUTDIR/run-$source.txt" || tail -1 "$OUTDIR/run-$source.txt")"
  if [[ -s $json ]]; then say "($source) $(part verdict "$json")"; else say "($source) no JSON written"; fi
done
say ""
say "gpu_check: done in $((SECONDS - START)) s; files in $OUTDIR"
