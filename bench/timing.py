"""Timing harness: one warm-up call, then one timed call per input; median and IQR.

Each repetition gets its own input (a box at a different position), so the
median is over positions, and tools that are given the same list are timed
on the same positions.  ``time.perf_counter`` brackets each call only.
:func:`measure_blocks` times several tools in alternating order, so that a
drift of a shared machine's load hits all of them alike.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Stats:
    """Summary of timed samples, in seconds: median, quartiles, IQR, count."""

    median: float
    q1: float
    q3: float
    n: int
    min: float

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def as_dict(self) -> dict:
        return {**asdict(self), "iqr": self.iqr}

    @classmethod
    def from_samples(cls, samples) -> "Stats":
        samples = sorted(float(s) for s in samples)
        if not samples:
            raise ValueError("no samples")
        if len(samples) == 1:
            return cls(samples[0], samples[0], samples[0], 1, samples[0])
        q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
        return cls(median, q1, q3, len(samples), samples[0])

    @classmethod
    def from_dict(cls, d: dict) -> "Stats":
        return cls(d["median"], d["q1"], d["q3"], d["n"], d["min"])


def measure(fn, inputs, warmup=None) -> Stats:
    """Time ``fn(x)`` for every ``x`` of ``inputs`` after one untimed ``fn(warmup)``.

    ``warmup`` defaults to the first input (the file's headers, the import of
    the tool, the OS page cache are then warm for every timed call).
    """
    inputs = list(inputs)
    fn(inputs[0] if warmup is None else warmup)
    gc.collect()
    samples = []
    for x in inputs:
        start = time.perf_counter()
        fn(x)
        samples.append(time.perf_counter() - start)
    return Stats.from_samples(samples)


def measure_blocks(fns: dict, inputs, warmup, blocks: int = 2) -> dict:
    """Time several tools on the same inputs: ``{name: Stats}``.

    After one untimed ``fn(warmup)`` each, the inputs are cut into ``blocks``
    consecutive chunks; each chunk is timed tool by tool (a tool runs alone
    on the whole chunk, as it would in real use, keeping its own caches), in
    forward order for even chunks and reverse order for odd ones, so a slow
    drift of a shared machine's load hits every tool alike.  A tool never
    starts on the box another tool has just read (no head start from a cache
    shared between tools, such as cfitsio's per-file tile cache).
    """
    inputs = list(inputs)
    names = list(fns)
    for name in names:
        fns[name](warmup)
    samples = {name: [] for name in names}
    n = len(inputs)
    for b in range(blocks):
        chunk = inputs[b * n // blocks:(b + 1) * n // blocks]
        for name in (names if b % 2 == 0 else names[::-1]):
            gc.collect()
            fn = fns[name]
            for x in chunk:
                start = time.perf_counter()
                fn(x)
                samples[name].append(time.perf_counter() - start)
    return {name: Stats.from_samples(v) for name, v in samples.items()}


def fmt_time(seconds: float) -> str:
    """A duration with a unit that keeps 3 significant digits (µs, ms or s)."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"
