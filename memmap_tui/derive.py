"""derive(): the one pure step from raw readings to frames.

Gauges pass through. Counters become rates over the monotonic clock: scale * d(value)/dt, or
scale * d(value)/d(per) for ratio counters (CPU % = busy jiffies over all jiffies). A counter
that goes backwards (reset, device unplugged, wrap) gives NaN for that interval, never a negative
or huge rate; the first frame's rates are NaN. A gauge with `ratios` (MetricSpec.ratios) is the
largest of several such ratios (the busiest CPU; with one pair, bytes per read request): pairs
whose numerator went backwards or whose denominator did not grow are left out, NaN if all are.
A share (MetricSpec.share: a part over its whole, busy CPU time over all of it, or a disk's busy
seconds over the seconds that went by) is held at most at scale: the float delta of two large
counters, or a kernel's own ticks against the sampler's clock, can land a hair above the whole.
It is never below 0, as a numerator that went backwards is NaN already.

A share of time (a disk's busy seconds, PSI's stall seconds) steps as the kernel counts it: a
disk's io_ticks in jiffies (4 ms at HZ=250), added when the next request starts or ends. Over
intervals shorter than the step, one interval sees the whole step (200 % at 2 ms) and the next
none, so holding each at 100 % alone would lose half of a busy disk at 500 Hz. With a `carry`
(one number a column, kept by whoever derives one tick after another), the excess over an
interval is carried into the next: the shares then add up to the seconds the kernel counted,
late by at most a step. At most CARRY_LIMIT seconds are carried (a counter that leapt forward
reads 100 % for at most that long); a gap (a value NaN or backwards, or no time elapsed)
forgets it.

The plan is 5 numbers per column, the same for this function and its C twin
`_fieldread.derive_rows` (see plan_array):
  kind   0 gauge, 1 rate, 2 ratio, 3 max of ratios; 4 share and 5 max of shares: kinds 2
         and 3 with each d(numerator)/d(denominator) taken as at most 1 before the scale;
         6 share of time: kind 1 with d(value)/dt taken as at most 1 before the scale
  raw    the raw index (kinds 3 and 5: of the first numerator)
  per    the denominator's raw index (kinds 2 and 4; 3 and 5: of the first denominator); else -1
  scale  multiplies the result
  count  how many (numerator, denominator) pairs: kind 3's and 5's numerators are
         raw .. raw+count-1 and their denominators per .. per+count-1; 1 for the other kinds
"""

from __future__ import annotations

import struct
from array import array
from typing import Any, List, MutableSequence, Optional, Tuple

from .model import COUNTER, NAN, Frame, Reading, Schema

try:  # the C twin of derive() (memmap_tui/_fieldread.c), when built
    from ._fieldread import derive_rows as _derive_rows  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a build without the extension
    _derive_rows = None

GAUGE_KIND, RATE_KIND, RATIO_KIND, MAX_RATIO_KIND, SHARE_KIND, MAX_SHARE_KIND = 0, 1, 2, 3, 4, 5
TIME_SHARE_KIND = 6
PLAN_WIDTH = 5  # numbers per column in plan_array
CARRY_LIMIT = 1.0  # seconds of a share of time's excess carried, at most (and the C twin's)
Plan = List[Tuple[int, int, int, float, int]]


def _plan(schema: Schema) -> Plan:
    cached: Optional[Plan] = getattr(schema, "_derive_plan", None)
    if cached is not None:
        return cached
    plan: Plan = []
    for spec in schema.column_specs:
        i = schema.raw_index[spec.name]
        if spec.ratios:  # two runs of consecutive metrics (Schema checks it)
            tops, bases = (schema.raw_index[name] for name in spec.ratios[0])
            plan.append((MAX_SHARE_KIND if spec.share else MAX_RATIO_KIND, tops, bases,
                         spec.scale, len(spec.ratios)))
        elif spec.kind != COUNTER:
            plan.append((GAUGE_KIND, i, -1, spec.scale, 1))
        elif spec.per is not None:
            plan.append((SHARE_KIND if spec.share else RATIO_KIND, i,
                         schema.raw_index[spec.per], spec.scale, 1))
        else:
            plan.append((TIME_SHARE_KIND if spec.share else RATE_KIND, i, -1, spec.scale, 1))
    schema._derive_plan = plan  # type: ignore[attr-defined]
    return plan


def _max_ratio(now: List[float], before: List[float], tops: int, bases: int, scale: float,
               count: int, share: bool) -> float:
    best = NAN
    for k in range(count):
        top = now[tops + k] - before[tops + k]
        base = now[bases + k] - before[bases + k]
        if top >= 0.0 and base > 0.0:
            ratio = top / base
            if share and ratio > 1.0:
                ratio = 1.0
            ratio *= scale
            if not best >= ratio:  # best is NaN until a pair counts
                best = ratio
    return best


def _carried(k: float) -> float:
    """A carry's number as derive() takes it: positive up to CARRY_LIMIT, else 0 (NaN too)."""
    return (k if k < CARRY_LIMIT else CARRY_LIMIT) if k > 0.0 else 0.0


def derive(schema: Schema, prev: Optional[Reading], cur: Reading,
           carry: Optional[MutableSequence[float]] = None) -> Frame:
    """Frame for `cur`, with rates over the interval since `prev` (None for the first sample).
    `carry` (one float a column, updated in place; see the module docstring): the excess of
    each share of time over the last interval, for one tick after another."""
    plan = _plan(schema)
    now = cur.values
    if prev is None:
        if carry is not None:
            for c, step in enumerate(plan):
                if step[0] == TIME_SHARE_KIND:
                    carry[c] = 0.0
        values = [now[i] if kind == GAUGE_KIND else NAN for kind, i, _, _, _ in plan]
        return Frame(cur.timestamp, values, cur)
    before = prev.values
    dt = cur.monotonic - prev.monotonic
    values = []
    append = values.append
    for c, (kind, i, per, scale, count) in enumerate(plan):
        if kind == GAUGE_KIND:
            append(now[i] * scale if scale != 1.0 else now[i])
            continue
        if kind == MAX_RATIO_KIND or kind == MAX_SHARE_KIND:
            append(_max_ratio(now, before, i, per, scale, count, kind == MAX_SHARE_KIND))
            continue
        delta = now[i] - before[i]
        base = dt if kind == RATE_KIND or kind == TIME_SHARE_KIND else now[per] - before[per]
        kept = carry if kind == TIME_SHARE_KIND else None  # this column's carry, if any
        if not (delta >= 0.0 and base > 0.0):  # backwards or NaN; nothing elapsed
            append(NAN)
            if kept is not None:
                kept[c] = 0.0  # a gap forgets the excess
            continue
        if kept is not None:
            delta += _carried(kept[c])
        ratio = delta / base
        if ratio > 1.0 and (kind == SHARE_KIND or kind == TIME_SHARE_KIND):
            if kept is not None:
                kept[c] = _carried(delta - base)
            ratio = 1.0
        elif kept is not None:
            kept[c] = 0.0
        append(ratio * scale)
    return Frame(cur.timestamp, values, cur, dt if dt > 0 else NAN)


def plan_array(schema: Schema) -> array:
    """The derive plan as PLAN_WIDTH floats per column (kind, raw index, per index, scale,
    count), for the C twin `_fieldread.derive_rows`."""
    flat = array("d")
    for kind, i, per, scale, count in _plan(schema):
        flat.extend((float(kind), float(i), float(per), scale, float(count)))
    return flat


def new_carry(schema: Schema) -> array:
    """A carry for derive() and its C twin: one float a column, nothing carried yet."""
    return array("d", [0.0]) * len(schema.columns)


class TickDerive:
    """derive() for one tick after another, its arithmetic done by the C twin `derive_rows`
    where it is built: one call instead of Python's loop over the columns. The frames are
    derive()'s, value for value, as floats (derive() passes a gauge's raw object through: an
    int stays an int there). The first frame (no previous reading: derive() leaves its gauges
    unscaled), rows of another width or not all numbers, and a build without the extension
    take derive() itself. The raw rows are packed (struct: one C loop) into two arrays that
    take turns: this reading's, and the last one's for the next tick. `carry` is derive()'s
    (new_carry(schema)), which both ways update: the caller's, shared with its batches."""

    def __init__(self, schema: Schema, carry: Optional[array] = None) -> None:
        self.schema = schema
        self.carry = carry if carry is not None else new_carry(schema)
        self.native = _derive_rows is not None
        self.plan = plan_array(schema)
        self.width = len(schema.specs)
        self.out = array("d", [NAN]) * (len(schema.columns) + 1)
        self.stamps = array("d", [NAN, NAN])
        self._rows = (array("d", [NAN]) * self.width, array("d", [NAN]) * self.width)
        self._pack = struct.Struct(f"{self.width}d").pack_into
        self._last: Optional[Reading] = None  # the reading whose raw row is _last_row
        self._last_row: Any = None

    def __call__(self, prev: Optional[Reading], cur: Reading) -> Frame:
        if (prev is None or not self.native or len(cur.values) != self.width
                or len(prev.values) != self.width):
            return derive(self.schema, prev, cur, self.carry)
        rows = self._rows
        row = rows[1] if self._last_row is rows[0] else rows[0]
        try:
            self._pack(row, 0, *cur.values)
            before = self._last_row if prev is self._last else array("d", prev.values)
        except (TypeError, OverflowError, struct.error):  # not all numbers: derive() says
            self._last = self._last_row = None           # what it makes of them
            return derive(self.schema, prev, cur, self.carry)
        stamps = self.stamps
        stamps[0], stamps[1] = cur.monotonic, cur.timestamp
        _derive_rows(self.plan, before, prev.monotonic, row, stamps, 1, self.out, self.carry)
        self._last, self._last_row = cur, row
        values = self.out.tolist()
        del values[0]  # the wall timestamp
        dt = cur.monotonic - prev.monotonic
        return Frame(cur.timestamp, values, cur, dt if dt > 0 else NAN)
