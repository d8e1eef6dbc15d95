"""Latency statistics and a meter of how much CPU other processes took meanwhile."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np


def latency_stats(ms: Sequence[float], batch_size: int) -> dict[str, float]:
    """p50/p90/p99/mean/min/max/std in ms and items per second (from the mean)."""
    values = np.asarray(ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    mean = float(values.mean())
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "mean_ms": mean,
        "min_ms": float(values.min()),
        "max_ms": float(values.max()),
        "std_ms": float(values.std()),
        "throughput_per_s": batch_size * 1000.0 / mean if mean > 0 else float("nan"),
    }


_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")  # guest time is inside user


class ContentionMeter:
    """Share of the machine's CPU time that *other* processes used between
    :meth:`start` and :meth:`stop`: system busy time minus this process's own,
    over wall time × CPU count. 0 on a quiet machine, 0.5 when another process
    kept half the cores busy."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        self._start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _sample(self) -> tuple[float, float, float]:
        times = self._psutil.cpu_times()
        busy = sum(getattr(times, name, 0.0) for name in _BUSY_FIELDS)
        own = self._process.cpu_times()
        return time.perf_counter(), busy, own.user + own.system + own.children_user + own.children_system

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> float:
        wall, busy, own = (end - begin for end, begin in zip(self._sample(), self._start, strict=True))
        capacity = wall * (os.cpu_count() or 1)
        return min(1.0, max(0.0, (busy - own) / capacity)) if capacity > 0 else 0.0
