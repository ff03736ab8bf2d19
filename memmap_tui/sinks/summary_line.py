"""`memmap run --json-line`: the run summary as one JSON line of at most 1 KB.

Sized for a scheduler's per-job comment field: Princeton's jobstats keeps its per-job summary in
Slurm's AdminComment, and a job epilog can do the same with this line
(`scontrol update job=$SLURM_JOB_ID AdminComment="$(memmap run --json-line ... | tail -1)"`).
ASCII only (anything else is escaped), no spaces, numbers to 3 significant digits; when the whole
would pass LIMIT bytes the least needed fields go first (the headline text, the GPUs beyond the
first, the flows, the command), so the line always fits.

Fields: memmap (the line's version), job, user, scheduler, cmd, exit, s (seconds), read and write
({"calls": B/s through read()/write(), "storage": B/s from/to storage}), flows ({key: mean B/s}),
wait (% of the time waiting for data), peak ({figure: bytes}), gpu ({name: mean util %}), cause,
level, text.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict

LIMIT = 1024
VERSION = 1
DROP_ORDER = ("text", "gpu", "flows", "cmd", "peak", "write")


def _num(value: Any) -> Any:
    """A number to 3 significant digits (an int when whole), None for NaN or a non-number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if not math.isfinite(value):
        return None
    if value == 0:
        return 0
    rounded = float(f"{value:.3g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def _mean(flow: Any) -> Any:
    return _num(flow.get("mean_bytes_per_second")) if isinstance(flow, dict) else None


def summary_fields(result: Dict[str, Any]) -> Dict[str, Any]:
    """The line's fields from `memmap run`'s summary (RunSummary.result() plus command, exit
    status and job)."""
    job = result.get("job") or {}
    memory = result.get("memory") or {}
    verdict = result.get("verdict") or {}
    command = " ".join(str(a) for a in result.get("command") or [])
    return {
        "memmap": VERSION,
        "job": job.get("id") or None, "user": job.get("user") or None,
        "scheduler": job.get("scheduler") or None,
        "cmd": command[:200], "exit": result.get("exit_status"),
        "s": _num(result.get("duration_seconds")),
        "read": {k: _mean(v) for k, v in (result.get("read") or {}).items()
                 if k in ("calls", "storage")},
        "write": {k: _mean(v) for k, v in (result.get("write") or {}).items()
                  if k in ("calls", "storage")},
        "flows": {k: _mean(v) for k, v in (result.get("flows") or {}).items()},
        "wait": _num((result.get("waiting") or {}).get("share_percent")),
        "peak": {k[len("peak_"):-len("_bytes")]: _num(v) for k, v in memory.items()
                 if k.startswith("peak_") and k.endswith("_bytes") and _num(v) is not None},
        "gpu": {k: _num(v) for k, v in
                ((result.get("gpu") or {}).get("mean_util_percent") or {}).items()},
        "cause": verdict.get("cause") or verdict.get("kind"), "level": verdict.get("level"),
        "text": verdict.get("text"),
    }


def _dump(fields: Dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def json_line(result: Dict[str, Any], limit: int = LIMIT) -> str:
    """One line of JSON, at most `limit` bytes (see the module docstring)."""
    fields = summary_fields(result)
    for name in DROP_ORDER:
        if len(_dump(fields)) <= limit:
            return _dump(fields)
        gpus = fields.get("gpu") or {}
        if name == "gpu" and len(gpus) > 1:
            fields["gpu"] = dict(list(gpus.items())[:1])
            if len(_dump(fields)) <= limit:
                return _dump(fields)
        fields.pop(name, None)
    for name in ("user", "job", "scheduler"):  # escaped non-ASCII ids can still be long
        while len(_dump(fields)) > limit and fields.get(name):
            fields[name] = fields[name][: len(fields[name]) // 2]
    return _dump(fields)
