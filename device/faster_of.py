"""Choosing between interchangeable ways of doing the same work by what each has cost lately."""
from __future__ import annotations

import collections
from typing import Hashable, Iterable


class FasterOf:
    """Picks the option with the lowest recent cost, and on every `retry_every`-th pick one of the
    others instead, so that a change of conditions is noticed both ways: the incumbent getting
    slower shows at once, a rival getting faster only when it is tried. The incumbent's cost is a
    moving average (one noisy measurement does not switch); a retried rival's is replaced by what it
    cost now (a disturbance that made it look slow is forgotten at its next retry). Options not yet
    recorded are tried first. Not thread-safe: one caller (the daemon's worker loop) picks and records."""

    def __init__(self, options: Iterable[Hashable], retry_every: int = 10, smoothing: float = 0.5):
        self.options = tuple(dict.fromkeys(options))
        if not self.options:
            raise ValueError("FasterOf needs at least one option")
        if retry_every < 2 or not 0 < smoothing <= 1:
            raise ValueError(f"retry_every must be >= 2 and 0 < smoothing <= 1, got {retry_every}, {smoothing}")
        self.retry_every = retry_every  # picks per retry of a rival: the cost of noticing is ~1/retry_every
        self.smoothing = smoothing  # weight of the incumbent's newest cost in its moving average
        self.cost: dict = dict.fromkeys(self.options)  # None until first recorded
        self.picks = collections.Counter()  # how often each option was picked (for the bench and logs)
        self._n = 0
        self._retried = None  # the rival the last pick retried, if it was a retry

    def pick(self) -> Hashable:
        self._n += 1
        untried = [o for o in self.options if self.cost[o] is None]
        if untried:
            choice = untried[0]
        else:
            ranked = sorted(self.options, key=self.cost.__getitem__)
            retry = len(ranked) > 1 and self._n % self.retry_every == 0
            # rivals take turns at the retries, best first
            choice = ranked[1 + (self._n // self.retry_every) % (len(ranked) - 1)] if retry else ranked[0]
            self._retried = choice if retry else None
        self.picks[choice] += 1
        return choice

    def record(self, option: Hashable, cost: float) -> None:
        old = self.cost[option]
        fresh = old is None or option == self._retried
        self.cost[option] = cost if fresh else old + self.smoothing * (cost - old)
