"""The smaps_rollup budget: which members' memory is read at a tick (collectors/smaps_budget.py)."""

from __future__ import annotations

import math
from typing import List

from memmap_tui.collectors.smaps_budget import MemoryBudget


class FakeMember:
    """What the budget looks at in a member: its RSS now and at its last read (a fake of
    collectors/member.py's Member, whose swing() rule it copies)."""

    def __init__(self, pid: int, rss: float, memory_rss: float, memory_time: float) -> None:
        self.pid, self.rss_bytes, self.memory_rss = pid, rss, memory_rss
        self.memory, self.memory_time, self.zombie = object(), memory_time, False
        self.swings = 0

    def wants_memory(self) -> bool:
        return True

    def swing(self) -> float:
        self.swings += 1
        moved = max(self.rss_bytes, 4096.0) / max(self.memory_rss, 4096.0)
        return moved if moved >= 1.0 else 1.0 / moved

    def refresh_memory(self, now: float) -> float:
        self.memory_time, self.memory_rss = now, self.rss_bytes
        return 0.002  # CPU seconds: a second of budget (0.003) starts two reads, not three


def reads(members: List[FakeMember], elapsed: float) -> List[int]:
    before = {m.pid: m.memory_time for m in members}
    MemoryBudget().refresh(members, 100.0, elapsed)  # type: ignore[arg-type]
    return [m.pid for m in members if m.memory_time != before[m.pid]]


def test_a_member_whose_rss_did_not_move_is_not_asked_how_far_it_swung() -> None:
    still = FakeMember(1, 32e6, 32e6, 99.0)
    assert reads([still], 0.0) == []
    assert still.swings == 0


def test_a_member_whose_rss_swung_is_read_on_credit() -> None:
    still, grown = FakeMember(1, 32e6, 32e6, 90.0), FakeMember(2, 64e6, 32e6, 99.0)
    assert reads([still, grown], 0.0) == [2]


def test_a_small_move_is_asked_but_not_read_without_credit() -> None:
    moved = FakeMember(1, 33e6, 32e6, 99.0)
    assert reads([moved], 0.0) == []
    assert moved.swings == 1


def test_the_stalest_is_read_while_the_budget_lasts() -> None:
    members = [FakeMember(1, 8e6, 8e6, 50.0), FakeMember(2, 8e6, 8e6, 10.0),
               FakeMember(3, 8e6, 8e6, -math.inf)]
    assert reads(members, 1.0) == [2, 3]


def test_a_still_tree_is_not_read_again_until_it_moves() -> None:
    members = [FakeMember(1, 8e6, 8e6, -math.inf), FakeMember(2, 8e6, 8e6, -math.inf)]
    budget = MemoryBudget()
    budget.refresh(members, 10.0, 0.5)  # type: ignore[arg-type]
    assert [m.memory_time for m in members] == [10.0, -math.inf]  # one read's worth of credit
    budget.refresh(members, 11.0, 0.5, moved=False)  # type: ignore[arg-type]
    assert [m.memory_time for m in members] == [10.0, 11.0]  # read before the move at 10
    for now in (12.0, 13.0, 14.0):  # still: whatever the credit, nothing is read
        budget.refresh(members, now, 0.5, moved=False)  # type: ignore[arg-type]
        assert [m.memory_time for m in members] == [10.0, 11.0]
    assert budget.credit > 0.002
    budget.refresh(members, 15.0, 0.5, moved=True)  # type: ignore[arg-type]
    assert [m.memory_time for m in members] == [15.0, 15.0]  # moved: all may be stale


def test_a_still_tree_is_read_again_after_the_still_max_age() -> None:
    from memmap_tui.collectors.smaps_budget import STILL_MAX_AGE
    member = FakeMember(1, 8e6, 8e6, -math.inf)
    budget = MemoryBudget()
    budget.refresh([member], 10.0, 1.0)  # type: ignore[list-item]
    budget.refresh([member], 10.0 + STILL_MAX_AGE - 1, 1.0, moved=False)  # type: ignore[list-item]
    assert member.memory_time == 10.0
    budget.refresh([member], 10.0 + STILL_MAX_AGE, 1.0, moved=False)  # type: ignore[list-item]
    assert member.memory_time == 10.0 + STILL_MAX_AGE  # what the tree cannot see shows by then


def test_what_was_due_when_the_tree_stopped_moving_is_still_read_as_credit_comes() -> None:
    members = [FakeMember(pid, 8e6, 8e6, -math.inf) for pid in (1, 2, 3)]
    budget = MemoryBudget()
    budget.refresh(members, 10.0, 0.5)  # type: ignore[arg-type]
    read_at = [[m.memory_time for m in members]]
    for now in (11.0, 12.0, 13.0, 14.0):  # still from here on; credit for one read a tick
        budget.refresh(members, now, 0.5, moved=False)  # type: ignore[arg-type]
        read_at.append([m.memory_time for m in members])
    assert read_at == [[10.0, -math.inf, -math.inf], [10.0, 11.0, -math.inf],
                       [10.0, 11.0, 12.0], [10.0, 11.0, 12.0], [10.0, 11.0, 12.0]]
