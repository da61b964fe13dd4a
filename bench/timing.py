"""Timing primitives shared by every benchmark: batched per-call samples and their statistics.

Standard library only: this module also runs inside the isolated Airflow interpreter.

A *sample* is the mean time per call over a batch of calls (batches keep timer overhead out of
microsecond-scale figures). Warm-up batches are run and discarded before sampling.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Stat", "calibrate_batch", "percentile", "sample_calls", "stat_of"]

#: Aim for batches of about this long, so perf_counter overhead is negligible.
TARGET_BATCH_S = 0.0005


@dataclass(frozen=True)
class Stat:
    """Median and 99th percentile of a set of samples, in the samples' unit.

    Attributes:
        median: The median sample.
        p99: The 99th percentile (nearest-rank) sample.
        n: How many samples were taken.
    """

    median: float
    p99: float
    n: int


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (``pct`` in 0-100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def stat_of(samples: Sequence[float]) -> Stat:
    """The :class:`Stat` of ``samples`` (must not be empty)."""
    return Stat(statistics.median(samples), percentile(samples, 99), len(samples))


def calibrate_batch(fn: Callable[[], object], target_s: float = TARGET_BATCH_S) -> int:
    """How many calls of ``fn`` take about ``target_s`` (at least 1); the calls also warm it up."""
    calls = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < target_s * 2 and calls < 100_000:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
    per_call = elapsed / calls
    return max(1, min(10_000, round(target_s / per_call))) if per_call > 0 else 10_000


def sample_calls(
    fn: Callable[[], object],
    *,
    samples: int,
    warmup: int = 5,
    batch: int | None = None,
) -> list[float]:
    """Time ``fn``: ``warmup`` discarded batches, then ``samples`` batches.

    Args:
        fn: The operation, called with no arguments.
        samples: Number of samples to return.
        warmup: Number of batches run first and thrown away.
        batch: Calls per batch (default: calibrated to about 0.5 ms per batch).

    Returns:
        Seconds per call, one value per batch.
    """
    if batch is None:
        batch = calibrate_batch(fn)
    perf = time.perf_counter
    loop = range(batch)
    for _ in range(warmup):
        for _ in loop:
            fn()
    out: list[float] = []
    for _ in range(samples):
        start = perf()
        for _ in loop:
            fn()
        out.append((perf() - start) / batch)
    return out
