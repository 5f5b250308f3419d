"""Where batch tasks run: in this process, in local worker processes, or on a Dask cluster.

Every executor is a ``concurrent.futures.Executor``; :func:`run_bounded` keeps
a bounded number of tasks in flight, so memory stays flat however many tasks
a batch has.  Dask is optional (``pip install 'cutout-cli[dask]'``) and only
imported when a scheduler is given.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import os
from typing import NamedTuple

from ..errors import DataError, InputError
from .stopping import start_worker

DASK_RETRIES = 2


class SerialExecutor(cf.Executor):
    """Runs each task at submission, in this process (``--jobs 1``: no pickling, no start-up)."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # handed to the caller through the future, like any executor
            future.set_exception(err)
        return future


class Place(NamedTuple):
    """Where tasks run: the executor, how many tasks to keep in flight, how many run at once, a
    description for the summary line, and ``stop()``: end the tasks running now (the batch stops)."""

    executor: cf.Executor
    in_flight: int
    workers: int
    description: str
    stop: object = lambda: None


def serial_place() -> Place:
    return Place(SerialExecutor(), 1, 1, "1 process")


@contextlib.contextmanager
def open_executor(execution, *, prepare=None):
    """Yield the :class:`Place` of work that ``execution`` (:class:`~.options.Execution`) requests.

    Local worker processes start at once and run ``prepare()`` (imports, say)
    while the caller goes on: its planning and their start-up overlap.  They
    ignore SIGINT and die with this process (:func:`~.stopping.start_worker`);
    a block left by an exception kills them instead of waiting for their tasks.
    """
    scheduler_file = execution.scheduler_file
    scheduler = execution.scheduler or (None if scheduler_file else os.environ.get("DASK_SCHEDULER_ADDRESS"))
    if scheduler or scheduler_file:
        with _dask_executor(scheduler, scheduler_file) as found:
            yield found
    elif execution.jobs <= 1:
        yield serial_place()
    else:
        with _process_pool(execution.jobs, prepare) as found:
            yield found


@contextlib.contextmanager
def _process_pool(jobs: int, prepare):
    import multiprocessing
    import threading

    # fork when this process runs no other thread (workers start at once, nothing to re-import);
    # spawn otherwise, as forking a process with threads can deadlock the children
    method = "fork" if threading.active_count() == 1 else "spawn"
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method),
                                  initializer=functools.partial(start_worker, os.getpid(), prepare))
    with pool:
        pool.submit(int)  # forks every worker now, before the pool's own thread starts; not waited for
        stop = functools.partial(kill_workers, pool)
        try:
            yield Place(pool, 2 * jobs, jobs, f"{jobs} processes", stop)
        except BaseException:
            stop()
            raise


def kill_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Kill the pool's workers and drop its queued tasks (the pool is broken afterwards)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError):
            process.kill()
    # waits for the pool's thread only, which ends once it sees the workers gone (not joining it
    # races with the interpreter's exit, which wakes it through a pipe it closes)
    pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _dask_executor(address: str | None, scheduler_file: str | None):
    try:
        from distributed import Client
    except ImportError:
        raise InputError("a Dask scheduler was given but dask.distributed is not installed",
                         "pip install 'cutout-cli[dask]'") from None
    where = scheduler_file or address
    try:
        client = Client(scheduler_file=scheduler_file, timeout="10s") if scheduler_file \
            else Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as err:
        raise DataError(f"cannot reach the Dask scheduler at {where}: {err}", "check {} / {} / $DASK_SCHEDULER_ADDRESS",
                        options=[("scheduler", None), ("scheduler_file", None)]) from None
    try:
        threads = max(1, sum(client.nthreads().values()))
        executor = client.get_executor(retries=DASK_RETRIES, pure=False)
        yield Place(executor, 2 * threads, threads, f"Dask at {where}", functools.partial(executor.shutdown, wait=False))
    finally:
        client.close()


def run_bounded(executor, fn, items, max_in_flight: int, *args):
    """Submit ``fn(item, *args)`` for each item, at most ``max_in_flight`` at once.

    Yields ``(item, result, error)`` as tasks finish (``error`` is the
    exception a task raised, or None).
    """
    pending: dict = {}

    def drain(block_until_one: bool):
        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED if block_until_one else cf.ALL_COMPLETED)
        for future in done:
            item = pending.pop(future)
            try:
                yield item, future.result(), None
            except Exception as err:  # a worker crash or task failure: reported per task, never fatal
                yield item, None, err

    for item in items:
        pending[executor.submit(fn, item, *args)] = item
        if len(pending) >= max_in_flight:
            yield from drain(True)
    while pending:
        yield from drain(True)
