"""Phases of a run: where the cause changes (loading, training, evaluation, checkpoints).

One verdict over a whole run says little when the run reads from disk for a while and then
compresses in one thread. A `Timeline` keeps, per bucket of PHASE_BUCKET seconds, the sums of
the columns the diagnosis reads (bounded: past MAX_BUCKETS, neighbouring buckets are merged and
the bucket doubles, so a week-long run costs the same memory as an hour). `phases()` judges each
bucket with memmap_tui.verdict.diagnose, merges stretches shorter than PHASE_MIN into their
neighbours (a blip is noise, not a phase), and gives each phase its span, its cause and the
evidence, judged again over the whole phase. A column measured over the second before and held
(MetricSpec.lag: the busiest thread) counts in the bucket of the time it describes, `lag`
before its row's: else the second after a loader turns from reading to compressing shows a
busy tree with a quiet busiest thread, is judged `none`, and a 6 s phase could lose enough
buckets to be merged away. `memmap run`, `memmap report` and `memmap replay`
all cut a run this way.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from . import thresholds as T
from .figures import count_positions, weight_in
from .model import Schema
from .verdict import Verdict, diagnose, needed_columns

MAX_BUCKETS = 4096


class Phase(NamedTuple):
    """A stretch of the run with one cause: start and end in seconds from the run's start."""

    start: float
    end: float
    verdict: Verdict

    @property
    def cause(self) -> str:
        return self.verdict.cause

    def as_dict(self) -> Dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "cause": self.cause,
                "text": self.verdict.text,
                "evidence": [e.as_dict() for e in self.verdict.evidence]}


class _Bucket:
    __slots__ = ("start", "end", "sums", "weights")

    def __init__(self, start: float, width: int) -> None:
        self.start = self.end = start
        self.sums = [0.0] * width
        self.weights = [0.0] * width

    def absorb(self, other: _Bucket) -> None:
        self.end = max(self.end, other.end)
        for i, (s, w) in enumerate(zip(other.sums, other.weights)):
            self.sums[i] += s
            self.weights[i] += w


class Timeline:
    """Per-bucket means of the diagnosis's columns over a run, in bounded memory."""

    def __init__(self, schema: Schema, bucket: float = T.PHASE_BUCKET) -> None:
        self.schema = schema
        self.columns = needed_columns(schema)
        self._index = [schema.column_index[c] for c in self.columns]
        self._counted_by = count_positions(schema, self.columns)  # a ratio: by its count
        lags = [getattr(schema.spec(c), "lag", 0.0) for c in self.columns]
        self._lagged = [(k, lag) for k, lag in enumerate(lags) if lag > 0]
        self._now = [k for k, lag in enumerate(lags) if not lag > 0]
        self.bucket = bucket
        self.origin: Optional[float] = None
        self._buckets: List[_Bucket] = []

    def add(self, t: float, values: Sequence[float], weight: float = 1.0) -> None:
        """One frame: `t` its time in seconds (any origin), `values` the schema's columns,
        `weight` the seconds it stands for (the first frame, whose rates are NaN, has none)."""
        if not weight > 0 or t != t:
            return
        if self.origin is None:
            self.origin = t
        at = t - self.origin
        key = math.floor(at / self.bucket)
        if not self._buckets or math.floor(self._buckets[-1].start / self.bucket) != key:
            if self._buckets and key * self.bucket < self._buckets[-1].start:
                return  # time went backwards: the frame is left out
            self._buckets.append(_Bucket(key * self.bucket, len(self.columns)))
            if len(self._buckets) > MAX_BUCKETS:
                self._coarsen()
        last = self._buckets[-1]
        last.end = at
        for k in self._now:
            self._put(last, k, values, weight)
        for k, lag in self._lagged:
            earlier = self._bucket_at(at - lag)
            if earlier is not None:
                self._put(earlier, k, values, weight)

    def _put(self, bucket: _Bucket, k: int, values: Sequence[float], weight: float) -> None:
        v = values[self._index[k]]
        if v == v:
            w = weight_in(values, self._counted_by[k], weight)
            if w > 0.0:
                bucket.sums[k] += v * w
                bucket.weights[k] += w

    def _bucket_at(self, at: float) -> Optional[_Bucket]:
        """The bucket that holds the time `at` (seconds from the origin), None before the
        first; buckets are few seconds apart here, so the search from the end is short."""
        if at < 0:
            return None
        key = math.floor(at / self.bucket)
        for b in reversed(self._buckets):
            found = math.floor(b.start / self.bucket)
            if found == key:
                return b
            if found < key:
                return None  # a gap in the run: nothing there
        return None

    def _coarsen(self) -> None:
        """Merge neighbouring buckets pairwise and double the bucket's length."""
        self.bucket *= 2
        merged: List[_Bucket] = []
        for b in self._buckets:
            if merged and math.floor(merged[-1].start / self.bucket) == math.floor(
                    b.start / self.bucket):
                merged[-1].absorb(b)
            else:
                b.start = math.floor(b.start / self.bucket) * self.bucket
                merged.append(b)
        self._buckets = merged

    def window(self, buckets: Sequence[_Bucket]) -> Dict[str, List[float]]:
        """{column: [its weighted mean over `buckets`]}, the window a verdict takes."""
        window: Dict[str, List[float]] = {}
        for k, column in enumerate(self.columns):
            s = sum(b.sums[k] for b in buckets)
            w = sum(b.weights[k] for b in buckets)
            window[column] = [s / w if w > 0 else math.nan]
        return window

    def buckets(self) -> List[_Bucket]:
        return list(self._buckets)

    def _judge(self, buckets: Sequence[_Bucket]) -> Verdict:
        return diagnose(self.window(buckets), self.schema)

    def phases(self, minimum: float = T.PHASE_MIN) -> List[Phase]:
        """The run cut where its cause changes, stretches under `minimum` s merged away."""
        if not self._buckets:
            return []
        runs: List[List[Any]] = []  # [cause, first bucket, last bucket]
        for i, b in enumerate(self._buckets):
            cause = self._judge([b]).cause
            if runs and runs[-1][0] == cause:
                runs[-1][2] = i
            else:
                runs.append([cause, i, i])
        runs = _merge_short(runs, self._buckets, self.bucket, minimum)
        phases: List[Phase] = []
        for k, (_, first, last) in enumerate(runs):
            chosen = self._buckets[first:last + 1]
            judged = self._judge(chosen)
            # phases tile the run: one ends where the next begins, the last at its last sample
            start = chosen[0].start
            end = (self._buckets[runs[k + 1][1]].start if k + 1 < len(runs)
                   else max(chosen[-1].end, chosen[-1].start))
            if phases and phases[-1].cause == judged.cause:  # judged alike once merged
                start = phases.pop().start
                judged = self._judge([b for b in self._buckets
                                      if start <= b.start <= chosen[-1].start])
            phases.append(Phase(start, end, judged))
        return phases


def whole_run(head: Verdict, phases: Sequence[Phase]) -> Verdict:
    """The verdict for a whole run, given the one judged on its means (`head`) and its
    phases. A run that reads from disk and then compresses in one thread averages under both
    lines (a thread at 50 %, a wait at 10 %), and its means say `none` while every phase has
    a cause. So when the means say none and the phases with a cause cover at least half the
    run, the run's cause is the one that held longest, with the evidence of its longest
    phase and how long it held."""
    if head.cause != "none" or not phases:
        return head
    total = phases[-1].end - phases[0].start
    held: Dict[str, float] = {}
    for p in phases:
        if p.cause != "none":
            held[p.cause] = held.get(p.cause, 0.0) + (p.end - p.start)
    if not held or not total > 0 or 2.0 * sum(held.values()) < total:
        return head
    cause = max(held, key=lambda c: held[c])
    longest = max((p for p in phases if p.cause == cause), key=lambda p: p.end - p.start)
    v = longest.verdict
    return Verdict(v.level, cause, f"{v.text} (for {held[cause]:.0f} of {total:.0f} s)",
                   v.evidence)


def _span(run: List[Any], buckets: Sequence[_Bucket], bucket: float) -> float:
    return buckets[run[2]].start + bucket - buckets[run[1]].start


def _merge_short(runs: List[List[Any]], buckets: Sequence[_Bucket], bucket: float,
                 minimum: float) -> List[List[Any]]:
    """Fold the shortest stretch under `minimum` into a neighbour until none is left: into both
    when they share a cause, else into the shorter one. A short stretch between two causes is
    mostly a transition (a bucket that holds the end of one phase and the start of the next):
    given to the shorter side it keeps a phase near the minimum whole, where the longer side
    would take its edges from it, again at the other end, until it fell under the minimum."""
    runs = [list(r) for r in runs]
    while len(runs) > 1:
        spans = [_span(r, buckets, bucket) for r in runs]
        i = min(range(len(runs)), key=lambda k: spans[k])
        if spans[i] >= minimum:
            break
        left = runs[i - 1] if i > 0 else None
        right = runs[i + 1] if i + 1 < len(runs) else None
        if left is not None and right is not None and left[0] == right[0]:
            left[2] = right[2]
            del runs[i:i + 2]
        elif right is None or (left is not None and spans[i - 1] <= spans[i + 1]):
            assert left is not None
            left[2] = runs[i][2]
            del runs[i]
        else:
            right[1] = runs[i][1]
            del runs[i]
    return runs


def phases_of_rows(schema: Schema, rows: Sequence[Sequence[float]]) -> List[Phase]:
    """The phases of a recording's rows (timestamp first, then the schema's columns)."""
    timeline = Timeline(schema)
    previous: Optional[float] = None
    for row in rows:
        t = row[0]
        if previous is not None and t > previous:
            timeline.add(t, row[1:], t - previous)  # each row weighs the time it covers
        if previous is None or t > previous:
            previous = t
    return timeline.phases()
