"""Timing harness: one warm-up call, then one timed call per input; median and IQR.

Each repetition gets its own input (a box at a different position), so the
median is over positions, and tools that are given the same list are timed
on the same positions.  ``time.perf_counter`` brackets each call only.
:func:`measure_blocks` times several tools in short blocks, in rotating
order, so that bursts of other work on a shared machine hit all of them alike.
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


def measure_blocks(fns: dict, inputs, warmup, block: int = 4) -> dict:
    """Time several tools on the same inputs: ``{name: Stats}``.

    After one untimed ``fn(warmup)`` each, the inputs are cut into chunks of
    ``block`` consecutive inputs; each chunk is timed tool by tool (a tool
    runs alone on the chunk, as in real use, keeping its own caches warm),
    the order of the tools rotating from chunk to chunk, so bursts of other
    work on a shared machine hit every tool alike.  A tool never starts on the
    box another tool has just read (no head start from a cache shared between
    tools, such as cfitsio's per-file tile cache).
    """
    inputs = list(inputs)
    names = list(fns)
    for name in names:
        fns[name](warmup)
    samples = {name: [] for name in names}
    for b, first in enumerate(range(0, len(inputs), block)):
        chunk = inputs[first:first + block]
        shift = b % len(names)
        for name in names[shift:] + names[:shift]:
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
