"""Median wall time of repeated calls, for benchmarks that print ratios from one run."""

from __future__ import annotations

import time

import numpy as np


def median_ms(fn, n: int) -> float:
    """Median of n timed calls after one warm-up call, in milliseconds."""
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1e3)
