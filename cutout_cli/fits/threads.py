"""A second thread that reads one plane of a box while the caller reads the others.

cutout's RICE_1 decoder and zlib release the GIL, so a large tile of one plane
decodes on the second core while another plane's decodes on the first.
Handing work to a thread costs tens of microseconds on a small virtual machine
(waking it, and each time the GIL changes hands), so only planes whose decoding
takes longer are sent there (:meth:`cutout_cli.fits.coadd.CoaddFile.read_planes`).
Batch tasks, whose parallelism is worker processes, read in one thread
(:func:`one_thread`).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

_pool = None  # (pid, ThreadPoolExecutor), made on first use; a forked child makes its own
_local = threading.local()  # .single > 0 inside one_thread() on this thread


def second_thread():
    """The executor of the second thread, or None: on a one-core machine, or inside :func:`one_thread`."""
    global _pool
    if getattr(_local, "single", 0) or _usable_cores() < 2:
        return None
    if _pool is None or _pool[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _pool = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="cutout-plane"))
    return _pool[1]


@contextmanager
def one_thread():
    """Read every plane on the calling thread within this block."""
    _local.single = getattr(_local, "single", 0) + 1
    try:
        yield
    finally:
        _local.single -= 1


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
