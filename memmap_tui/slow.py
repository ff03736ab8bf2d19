"""The one mechanism for sources that may hang or fail: a one-slot mailbox and a backoff.

A slow source (a driver call, a subprocess, a socket) runs on a thread of its own and hands over
only its latest value through a `Mailbox`, so the tick never waits for it. A source that fails
is tried again after a `Backoff`: waits double from a first one up to MAX_BACKOFF seconds.
The Sampler uses both for every collector marked `slow`; a collector with failing parts of its
own (one GPU of eight, a tegrastats process that exits) uses the same classes for them.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Deque, Generic, List, Optional, TypeVar

MAX_BACKOFF = 60.0
FIRST_BACKOFF = 0.5
SLOW_KEEP = 64  # results a slow collector's mailbox keeps: a batch of ticks replays at most half

T = TypeVar("T")


class Mailbox(Generic[T]):
    """One slot: the writer replaces, the reader takes the latest. Never blocks for long.
    `keep` > 1 also keeps that many of the latest items, oldest first (`recent()`), for a
    reader that looks back (a batch of ticks replayed after it was read)."""

    def __init__(self, keep: int = 1) -> None:
        self._lock = threading.Lock()
        self._items: Deque[T] = deque(maxlen=max(1, keep))

    def put(self, item: T) -> None:
        with self._lock:
            self._items.append(item)

    def peek(self) -> Optional[T]:
        with self._lock:
            return self._items[-1] if self._items else None

    def recent(self) -> List[T]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def backoff_seconds(failures: int, first: float = FIRST_BACKOFF, most: float = MAX_BACKOFF
                    ) -> float:
    """The wait after `failures` failures in a row: first, 2 x first, 4 x first ... up to most."""
    return min(first * 2.0 ** max(failures - 1, 0), most)


class Backoff:
    """When a failing source is tried again. `failed(now)` counts a failure and sets the time of
    the next try; `succeeded()` starts over; `due(now)` says whether to try now."""

    def __init__(self, first: float = FIRST_BACKOFF, most: float = MAX_BACKOFF) -> None:
        self.first, self.most = first, most
        self.failures = 0
        self.retry_at = 0.0

    def failed(self, now: float) -> float:
        """Count a failure at `now`; returns the seconds until the next try."""
        self.failures += 1
        wait = backoff_seconds(self.failures, self.first, self.most)
        self.retry_at = now + wait
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self.retry_at = 0.0

    def due(self, now: float) -> bool:
        return self.failures == 0 or now >= self.retry_at
