"""One native read per tick for a whole process tree: every member's stat (and io) in one row.

Read one by one, each process of the tree costs a call into the field reader, a list, a head and
a Stat per tick, then its own accounting: about 20 µs of Python per process, more than its read.
A TreeRead opens every member's /proc/PID/stat (and io, where that member reads it) in one
FieldReader (memmap_tui/fieldread.py), its slots laid out field-major (slot = field * n + index,
fields as in collectors/procfs.py): a field of every member is one contiguous slice, a member's
row is `values[index::n]`, and heads() gives each member's "PID (name) S".

When nothing happened but counting (`steady`: the same processes, none recycled, reparented,
exec'd or turned zombie, no counter gone back, io still readable), the tree's growth is a
difference of per-field sums and no member is read or accounted one by one (the sums and
the steady check loop over the row in C where built: `_fieldread.column_sums`,
`steady_rows`); only each member's RSS is handed on (the PSS budget weighs it). Anything
else goes the per-member way (collectors/process.py), fed this read where a member is
covered, after `sync` has given every member the state it would have had reading itself: the
totals are the same either way.

Sources and units are those of collectors/procfs.py (stat: clock ticks and pages; io: bytes and
calls). The descriptors are the tree reader's own (each member's ProcFiles keeps its own for the
per-member ticks): two more per process, so a tree above MAX_MEMBERS is read the per-member way.
"""

from __future__ import annotations

import math
import os
from array import array
from operator import lt
from typing import Any, Dict, List, Optional, Sequence

from memmap_tui import fieldread
from memmap_tui.fieldread import AFTER_PAREN

try:  # the loops over the row in C (memmap_tui/_fieldread.c), when built
    from memmap_tui._fieldread import column_sums, steady_rows  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - a build without the extension
    column_sums = steady_rows = None

from .member import Member
from .procfs import (
    CLK_TCK,
    CPU_TICKS,
    DELAY_TICKS,
    IO_RULES,
    MAJOR,
    MINOR,
    OWN_TICKS,
    PAGE_BYTES,
    RCHAR,
    READ_BYTES,
    READ_CALLS,
    RSS_PAGES,
    STAT_RULES,
    THREADS,
    TICK_WIDTH,
    WCHAR,
    WRITE_BYTES,
    WRITE_CALLS,
    name_and_state,
)

NAN = math.nan
MAX_MEMBERS = 512  # two descriptors each, beside the members' own
# The collector's counters (collectors/member.py COUNTERS), as fields of the row and their scale.
COUNTER_FIELDS = (CPU_TICKS, RCHAR, WCHAR, READ_BYTES, WRITE_BYTES, MAJOR, MINOR, READ_CALLS,
                  WRITE_CALLS)
COUNTER_UNITS = (CLK_TCK,) + (1.0,) * (len(COUNTER_FIELDS) - 1)  # divisors, as procfs.Stat
FIRST_COUNTER = CPU_TICKS  # fields from here on only grow (CPU, faults, I/O wait, io)
GONE_STATES = (b"Z", b"X")


class TreeRead:
    """The stat and io of `members`, read in one call; OSError when a file cannot be opened."""

    def __init__(self, members: Sequence[Member], reader_class: Any) -> None:
        self.members = list(members)
        self.index: Dict[Member, int] = {m: i for i, m in enumerate(self.members)}
        self.reads_io = [m.files.reads_io() for m in self.members]
        n = self.n = len(self.members)
        files: List[tuple] = []
        rules: List[tuple] = []
        self._stat_file: List[int] = []
        for i, m in enumerate(self.members):
            self._stat_file.append(len(files))
            files.append((os.path.join(m.files.base, "stat"), AFTER_PAREN))
            rules += [(len(files) - 1, key, token, slot * n + i, coef)
                      for _, key, token, slot, coef in STAT_RULES]
            if self.reads_io[i]:
                files.append((os.path.join(m.files.base, "io"), 0))
                rules += [(len(files) - 1, key, token, slot * n + i, coef)
                          for _, key, token, slot, coef in IO_RULES]
        self.files, self.rules, self.width = files, rules, n * TICK_WIDTH  # a batch reads them too
        self._io_slots: Optional[List[List[int]]] = None  # per io field, when not all read io
        if not all(self.reads_io):
            readers = [i for i, reads in enumerate(self.reads_io) if reads]
            self._io_slots = [[f * n + i for i in readers] for f in range(RCHAR, TICK_WIDTH)]
        self.reader = reader_class(files, rules, n * TICK_WIDTH)
        # Two rows and two rows of sums, taking turns: this read's, and the read before's (io
        # slots of members without io are never written: NaN).
        self._rows = (array("d", [NAN]) * (n * TICK_WIDTH), array("d", [NAN]) * (n * TICK_WIDTH))
        self._sum_rows = (array("d", [NAN]) * TICK_WIDTH, array("d", [NAN]) * TICK_WIDTH)
        self.values: Sequence[float] = []
        self.heads: List[bytes] = []
        self._states = b""  # the state letters of the heads as a batch gave them (take)
        self.sums: Sequence[float] = []
        self.time = NAN
        self.last: Optional[Sequence[float]] = None  # the read before, for steady() and growth
        self.last_heads: List[bytes] = []
        self.last_sums: Sequence[float] = []
        self.last_time = NAN

    def close(self) -> None:
        self.reader.close()

    def read(self, now: float) -> bool:
        """Read every member's files; False when one failed (a process vanished, or its io
        turned unreadable): the per-member way then finds out which."""
        row = self._spare_row()
        try:
            self.reader.read(row)
        except OSError:
            self.last = None
            return False
        self._took(now, row, self.reader.heads())
        self._states = b""  # heads of a read: a batch's next take makes its own
        return True

    def take(self, now: float, values: Any, states: bytes) -> None:
        """Take a read that a batch made of these files (memmap_tui/batch.py): `values` in
        this reader's slot layout, `states` each file's state letter (the names were held)."""
        row = self._spare_row()
        memoryview(row)[:] = values  # a float64 memoryview of the batch row
        heads = self.heads
        if states != self._states:  # a state letter changed: heads as the reader gives them
            heads = [h[:-1] + states[i:i + 1] if h else h for i, h in enumerate(heads)]
            self._states = states
        self._took(now, row, heads)

    def _spare_row(self) -> Any:
        rows = self._rows
        return rows[1] if self.values is rows[0] else rows[0]  # not this read's: the one before

    def _took(self, now: float, row: Any, heads: List[bytes]) -> None:
        sum_rows = self._sum_rows
        self.last, self.last_heads, self.last_sums, self.last_time = (
            self.values or None, self.heads, self.sums, self.time)
        self.values, self.heads, self.time = row, heads, now
        self.sums = self._sums(row, sum_rows[1] if self.last_sums is sum_rows[0] else sum_rows[0])

    def _sums(self, v: Sequence[float], sums: Any) -> Any:
        """Each field summed over the members into `sums` (io over those that read it; NaN
        when none)."""
        n, io_slots = self.n, self._io_slots
        if column_sums is not None:
            column_sums(v, n, sums if io_slots is None else memoryview(sums)[:RCHAR])
        else:
            for f in range(RCHAR if io_slots is not None else TICK_WIDTH):
                sums[f] = sum(v[f * n:(f + 1) * n])
        if io_slots is not None:
            for f, slots in enumerate(io_slots, RCHAR):
                sums[f] = sum(v[k] for k in slots) if slots else NAN
        return sums

    def member_row(self, i: int) -> tuple:
        """(values, head) of member i from the last read, as ProcFiles.take wants them."""
        return self.values[i::self.n], self.heads[self._stat_file[i]]

    # -- the fast path -------------------------------------------------------------------------
    def steady(self) -> bool:
        """Whether this read differs from the last only by counting: the same processes (start
        times), parents, names; no zombie; no counter back; every stat whole, every io read."""
        v, p, n = self.values, self.last, self.n
        # PPID and START lead the row; the counters follow
        if p is None or not _steady_rows(v, p, 2 * n, FIRST_COUNTER * n):
            return False
        rss = self.sums[RSS_PAGES]
        if rss != rss:
            return False
        io = self.sums[RCHAR:]
        if any(s != s for s in io) and any(self.reads_io):
            return False  # an io line went missing: the member's ProcFiles drops it
        return self.heads == self.last_heads or self._only_states_changed()

    def _only_states_changed(self) -> bool:
        for new, old in zip(self.heads, self.last_heads):
            if new != old:
                try:
                    name, state = name_and_state(new)
                    if state in GONE_STATES or name != name_and_state(old)[0]:
                        return False
                except ValueError:
                    return False
        return True

    def growth(self) -> List[float]:
        """The tree's counters' growth since the last read, in COUNTERS order and units."""
        now, before = self.sums, self.last_sums
        return [(now[f] - before[f]) / unit for f, unit in zip(COUNTER_FIELDS, COUNTER_UNITS)]

    def delay_growth(self) -> tuple:
        """(main threads' I/O wait grown, process seconds) since the last read, as the members'
        account_delay() would sum them; (NaN, NaN) when a member's field is missing."""
        grown = (self.sums[DELAY_TICKS] - self.last_sums[DELAY_TICKS]) / CLK_TCK
        if grown != grown:
            return NAN, NAN
        dt = self.time - self.last_time
        return grown, self.n * dt if dt > 0 else 0.0

    def rss_and_threads(self) -> tuple:
        """(RSS bytes, threads) summed over the tree; each member's RSS is handed on."""
        n, last = self.n, self.last
        rss = self.values[RSS_PAGES * n:(RSS_PAGES + 1) * n]
        if last is None or rss != last[RSS_PAGES * n:(RSS_PAGES + 1) * n]:
            for m, pages in zip(self.members, rss):
                m.rss_bytes = pages * PAGE_BYTES
        return self.sums[RSS_PAGES] * PAGE_BYTES, self.sums[THREADS]

    def faults(self) -> float:
        """The members' major and minor faults (reaped children's included) at the last read."""
        return self.sums[MAJOR] + self.sums[MINOR]

    def threads_and_own_cpu(self) -> List[tuple]:
        """Each member's (threads, utime + stime in seconds) at the last read."""
        n, v = self.n, self.values
        return [(int(t), own / CLK_TCK) for t, own in
                zip(v[THREADS * n:(THREADS + 1) * n], v[OWN_TICKS * n:(OWN_TICKS + 1) * n])]

    def states(self) -> List[bytes]:
        """Each member's state letter at the last read."""
        return [name_and_state(self.heads[k])[1] for k in self._stat_file]

    # -- the members' state, for the ticks that need it ------------------------------------------
    def sync(self, delay_on: bool) -> None:
        """Give every member the state of the last read, as if it had read and accounted itself
        (its rates over the read before); the tree had counted for it."""
        before, n = self.last, self.n
        dt = self.time - self.last_time
        for i, m in enumerate(self.members):
            values, head = self.member_row(i)
            m.read(self.time, values, head)
            if before is None:
                m.settle(self.time, None, NAN, dt, delay_on)
            else:
                row = before[i::n]
                m.settle(self.time, _counters(row), row[DELAY_TICKS] / CLK_TCK, dt, delay_on)

    def sync_last(self, delay_on: bool) -> None:
        """Give every member the state of the read before the last (this read is about to be
        handed to them one by one)."""
        now = self.values, self.heads, self.sums, self.time, self.last
        self.values, self.heads, self.sums, self.time = (
            self.last or [], self.last_heads, self.last_sums, self.last_time)
        self.last = None
        try:
            self.sync(delay_on)
        finally:
            self.values, self.heads, self.sums, self.time, self.last = now


class TreeTicks:
    """When the tree's one read may count a tick alone, and the members' catching up after.

    The reader is built once the members held still for a whole tick (a tree whose processes
    come and go every tick is read the per-member way, never rebuilt in vain), and dropped when
    its processes or their io change. A tick is the tree's alone when no process came or went
    (`changed`, set by the collector), none was a zombie and no fold was pending after the last
    per-member tick, delay accounting did not switch, and the read is `steady`.
    """

    def __init__(self, reader_class: Any = None) -> None:
        self.reader_class = reader_class  # None: the C field reader when built
        self.tree: Optional[TreeRead] = None
        self.changed = False   # members came or went this tick
        self.counted = 0       # ticks counted by the tree alone
        self.alone = False     # this tick (the last) was counted by the tree alone
        self.built = 0         # trees built so far: names the tree's files for a batch
        self._quiet = False    # no member came or went the tick before
        self._calm = False     # no zombie, no fold pending
        self._ahead = False    # the tree counted ticks the members have not seen

    def close(self) -> None:
        if self.tree is not None:
            self.tree.close()
        self.tree = None
        self._quiet = self._calm = self._ahead = self.changed = False

    def start(self) -> None:
        self.changed = self.alone = False

    def batchable(self) -> Optional[TreeRead]:
        """The tree, when the coming ticks may be read in a batch and replayed: the last tick
        was counted by the tree alone (nothing came, went or was pending)."""
        return self.tree if self.alone and self._calm and self.tree is not None else None

    def tree_for_tick(self, members: Dict[int, Member]) -> Optional[TreeRead]:
        """The tree reader for this tick, built now if the members held still."""
        if self.tree is not None or self.changed or not self._quiet or not (
                0 < len(members) <= MAX_MEMBERS):
            return self.tree
        try:
            self.tree = TreeRead(list(members.values()),
                                 self.reader_class or fieldread.FieldReader)
            self.built += 1
        except OSError:
            self.tree = None  # one just vanished: the per-member tick finds out which
        return self.tree

    def steady(self, tree: TreeRead, delay_unswitched: bool) -> bool:
        """Whether this tick is the tree's alone (see the class docstring)."""
        return self._calm and not self.changed and delay_unswitched and tree.steady()

    def counted_alone(self) -> None:
        self._ahead = self.alone = True
        self.counted += 1

    def ahead(self) -> Optional[TreeRead]:
        """The tree, when its last read counted a tick the members have not seen."""
        return self.tree if self._ahead else None

    def catch_up(self, delay_on: bool) -> None:
        """Give the members the state of the tree's last read (their rows, their threads)."""
        if self._ahead and self.tree is not None:
            self.tree.sync(delay_on)
        self._ahead = False

    def before_member_tick(self, read: Optional[TreeRead], delay_on: bool) -> None:
        """Before the members read or take this tick one by one: give them the tick before
        (`read`: this tick's read, when it succeeded; else the tree's last read is the tick
        before)."""
        if self._ahead and self.tree is not None:
            (self.tree.sync_last if read is not None else self.tree.sync)(delay_on)
        self._ahead = False

    def after_member_tick(self, alive: List[Member]) -> None:
        """Whether the next ticks may be the tree's (see the class docstring)."""
        self._calm = all(not m.zombie and m.carry is None for m in alive)
        tree = self.tree
        if tree is not None and (self.changed or tree.reads_io != [
                m.files.reads_io() for m in tree.members]):
            tree.close()
            self.tree = None
        self._quiet = not self.changed


def _steady_rows_in_python(now: Sequence[float], before: Sequence[float], same: int,
                           grow_from: int) -> bool:
    """steady_rows' twin: the first `same` values equal (NaN equals nothing), none from
    `grow_from` on below the value before."""
    return (list(now[:same]) == list(before[:same])
            and not any(map(lt, now[grow_from:], before[grow_from:])))


_steady_rows = steady_rows if steady_rows is not None else _steady_rows_in_python


def _counters(values: Sequence[float]) -> List[float]:
    """A member's counters (COUNTERS order and units) from its row."""
    return [values[f] / unit for f, unit in zip(COUNTER_FIELDS, COUNTER_UNITS)]
