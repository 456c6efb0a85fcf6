"""What a node must publish, held while Redis is unreachable: bounded, oldest dropped first, counted."""

from __future__ import annotations

from collections import deque


class Outbox:
    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: deque[tuple[str, bytes]] = deque()
        self.dropped = 0

    def put(self, stream: str, payload: bytes) -> None:
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self.dropped += 1
        self._items.append((stream, payload))

    def peek(self, n: int) -> list[tuple[str, bytes]]:
        return [self._items[i] for i in range(min(n, len(self._items)))]

    def pop(self, n: int) -> None:
        for _ in range(min(n, len(self._items))):
            self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)
