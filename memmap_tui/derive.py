"""derive(): the one pure step from raw readings to frames.

Gauges pass through. Counters become rates over the monotonic clock: scale * d(value)/dt, or
scale * d(value)/d(per) for ratio counters (CPU % = busy jiffies over all jiffies). A counter
that goes backwards (reset, device unplugged, wrap) gives NaN for that interval, never a negative
or huge rate; the first frame's rates are NaN.
"""

from __future__ import annotations

from array import array
from typing import List, Optional, Tuple

from .model import COUNTER, NAN, Frame, Reading, Schema

_GAUGE, _RATE, _RATIO = 0, 1, 2
Plan = List[Tuple[int, int, int, float]]


def _plan(schema: Schema) -> Plan:
    cached: Optional[Plan] = getattr(schema, "_derive_plan", None)
    if cached is not None:
        return cached
    plan: Plan = []
    for spec in schema.column_specs:
        i = schema.raw_index[spec.name]
        if spec.kind != COUNTER:
            plan.append((_GAUGE, i, -1, spec.scale))
        elif spec.per is not None:
            plan.append((_RATIO, i, schema.raw_index[spec.per], spec.scale))
        else:
            plan.append((_RATE, i, -1, spec.scale))
    schema._derive_plan = plan  # type: ignore[attr-defined]
    return plan


def derive(schema: Schema, prev: Optional[Reading], cur: Reading) -> Frame:
    """Frame for `cur`, with rates over the interval since `prev` (None for the first sample)."""
    plan = _plan(schema)
    now = cur.values
    if prev is None:
        values = [now[i] if kind == _GAUGE else NAN for kind, i, _, _ in plan]
        return Frame(cur.timestamp, values, cur)
    before = prev.values
    dt = cur.monotonic - prev.monotonic
    values = []
    append = values.append
    for kind, i, per, scale in plan:
        if kind == _GAUGE:
            append(now[i] * scale if scale != 1.0 else now[i])
            continue
        delta = now[i] - before[i]
        if not delta >= 0.0:  # backwards or NaN
            append(NAN)
            continue
        base = dt if kind == _RATE else now[per] - before[per]
        append(delta / base * scale if base > 0.0 else NAN)
    return Frame(cur.timestamp, values, cur, dt if dt > 0 else NAN)


def plan_array(schema: Schema) -> array:
    """The derive plan as 4 floats per column (kind, raw index, per index, scale), for the C
    twin `_fieldread.derive_rows`."""
    flat = array("d")
    for kind, i, per, scale in _plan(schema):
        flat.extend((float(kind), float(i), float(per), scale))
    return flat
