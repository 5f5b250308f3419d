"""How busy the rest of the machine was while we measured (the machine is shared).

``/proc/stat`` gives the CPU time every process spent; ``getrusage`` gives
ours (this process and every child it waited for, workers included).  The
difference over a measurement, divided by its wall time, is the number of
cores other work kept busy: 0 on a quiet machine, 1 when someone's test suite
holds one of our 2 cores (then parallel speed-ups cannot show).
"""

from __future__ import annotations

import os
import resource
import time


def _busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class LoadMeter:
    """Context manager: ``.other_cores`` after the block (None where /proc/stat is missing)."""

    def __enter__(self):
        self._busy, self._own, self._wall = _busy_seconds(), _own_seconds(), time.perf_counter()
        self.other_cores = None
        return self

    def __exit__(self, *exc):
        busy, own, wall = _busy_seconds(), _own_seconds(), time.perf_counter() - self._wall
        if busy is not None and self._busy is not None and wall > 0:
            self.other_cores = max(0.0, ((busy - self._busy) - (own - self._own)) / wall)
        return False
