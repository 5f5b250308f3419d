"""The service's limits, and the gate that admits cutouts: a bound on those running, a bounded queue.

A cutout runs in a worker process and keeps its slot until the worker is done,
even when the client was answered earlier (a request past its deadline gets 503
at once, but the work cannot be cancelled mid-read): the bound is on the work the
machine does, not on the answers given.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass

from ..batch.executors import kill_workers
from .faults import busy, usage

__all__ = ["Limits", "Gate", "BYTES_PER_PIXEL"]

#: bytes per pixel of the three planes as written (IMAGE float32, MASK int32, VARIANCE float32)
BYTES_PER_PIXEL = 12


@dataclass(frozen=True)
class Limits:
    """What one request may cost.

    Attributes
    ----------
    max_pixels : int
        Largest cutout, pixels per plane (the box's width x height).
    max_bytes : int
        Largest response, bytes (the three planes are 12 bytes per pixel).
    concurrency : int
        Cutouts running at once (worker processes).
    queue : int
        Requests waiting for a slot beyond those; more get 503 + ``Retry-After``.
    timeout : float
        Seconds from admission to answer (waiting included); later: 503.
    body_timeout : float
        Seconds a client has to send its request body; later: 408.
    """

    max_pixels: int = 4096 * 4096
    max_bytes: int = 256 * 2**20
    concurrency: int = max(1, os.cpu_count() or 1)
    queue: int = 64
    timeout: float = 30.0
    body_timeout: float = 10.0

    @property
    def pixels(self) -> int:
        """The pixel bound both limits give (three planes)."""
        return max(1, min(self.max_pixels, self.max_bytes // BYTES_PER_PIXEL))

    def check_pixels(self, width: int, height: int) -> None:
        if width * height > self.pixels:
            raise usage(f"a {width} x {height} px cutout is larger than this service serves ({self.pixels} pixels "
                        "per plane): ask for a smaller region")

    def check_bytes(self, size: int) -> None:
        if size > self.max_bytes:
            raise usage(f"the cutout would be {size} bytes, more than this service serves ({self.max_bytes})")


class Gate:
    """Admission of blocking work: at most ``concurrency`` running, ``queue`` waiting, the rest refused.

    ``make_pool()`` gives the executor the work runs in (worker processes,
    made again if one dies).  Used from the event loop only (no locks needed):
    :meth:`run` raises the 503 :class:`~.faults.Fault` when the queue is full,
    the deadline passes or a worker died.
    """

    def __init__(self, limits: Limits, make_pool):
        self.limits = limits
        self._make_pool = make_pool
        self.pool = make_pool()
        self._slots = asyncio.Semaphore(limits.concurrency)
        self.running = 0
        self.waiting = 0

    async def run(self, function, *args):
        """``function(*args)`` in the pool once a slot is free; its result."""
        limits = self.limits
        if self.running + self.waiting >= limits.concurrency + limits.queue:
            raise busy(f"{self.running} cutouts running and {self.waiting} waiting: try again shortly",
                       retry_after=1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limits.timeout
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), limits.timeout)
        except TimeoutError:
            raise busy(f"no worker was free within {limits.timeout:g} s: try again later", retry_after=5) from None
        finally:
            self.waiting -= 1
        pool = self.pool
        try:
            future = loop.run_in_executor(pool, function, *args)
        except BrokenExecutor:  # a worker died while idle (the OOM killer): the pool takes no more work
            self._slots.release()
            raise self._renewed(pool) from None
        self.running += 1
        future.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise busy(f"the request took longer than {limits.timeout:g} s: ask for less, or try later",
                       retry_after=5) from None
        except BrokenExecutor:
            raise self._renewed(pool) from None

    def _renewed(self, broken):
        """New workers in place of a broken pool (once, by the first request to see it); the 503 to answer."""
        if broken is self.pool:
            self.pool = self._make_pool()
            broken.shutdown(wait=False, cancel_futures=True)
        return busy("a worker process stopped (out of memory?): try again", retry_after=1)

    def _release(self, _future) -> None:
        self.running -= 1
        self._slots.release()

    def close(self) -> None:
        """Stop the workers, at once: called once the requests in flight were answered, so what a worker
        still does is work abandoned past its deadline."""
        kill_workers(self.pool)
