"""Failed authentications per client address, over a sliding minute (pure, in memory)."""

from __future__ import annotations

from collections import deque

WINDOW_S = 60.0
MAX_CLIENTS = 10_000  # beyond this many addresses, the stalest are forgotten


class AuthThrottle:
    """``limit`` failures from one address within a minute: that address is refused
    (429) until the oldest of them is a minute old."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - WINDOW_S:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def retry_after_s(self, client: str, now: float) -> int:
        """Seconds until ``client`` may try again; 0: it may now."""
        failures = self._recent(client, now)
        if failures is None or len(failures) < self.limit:
            return 0
        return max(1, int(failures[-self.limit] + WINDOW_S - now) + 1)

    def record_failure(self, client: str, now: float) -> None:
        failures = self._recent(client, now)
        if failures is None:
            if len(self._failures) >= MAX_CLIENTS:
                del self._failures[next(iter(self._failures))]
            failures = self._failures[client] = deque(maxlen=self.limit)
        failures.append(now)
