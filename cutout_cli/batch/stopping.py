"""Stopping a batch on a signal, and worker processes that never outlive it.

``cutout batch`` runs under :func:`stop_on_signals`: the first SIGINT, SIGTERM
or SIGHUP raises :class:`Stopped` in the main thread, wherever it waits;
later ones are ignored, so the clean-up (workers killed, the manifest of what
was done written: :func:`cutout_cli.batch.run.run_batch`) runs to its end
however many Ctrl-C follow.  The command exits 128 + the signal's number: 130
(SIGINT), 143 (SIGTERM), 129 (SIGHUP).

Worker processes (:func:`start_worker`) ignore SIGINT, which a Ctrl-C sends
to the whole process group (the main process stops them), and die with their
parent: on Linux the kernel kills them when it exits, however it exits
(``PR_SET_PDEATHSIG``); elsewhere a thread watches the parent's pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

__all__ = ["STOP_SIGNALS", "Stopped", "start_worker", "stop_on_signals"]

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
_PR_SET_PDEATHSIG = 1
_PARENT_POLL = 0.5  # seconds between checks of the parent, where the kernel cannot be asked


class Stopped(BaseException):
    """A signal asked the batch to stop (a BaseException, like KeyboardInterrupt: never caught as an
    error of one target).  ``exit_code`` is 128 + the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.summary = ""  # what was done, set by the batch once its manifest is written

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"stopped by {self.name}" + (f": {self.summary}" if self.summary else "")


@contextlib.contextmanager
def stop_on_signals():
    """Within the block, the first stop signal raises :class:`Stopped`; the others are ignored.

    Only the main thread can receive signals in Python: elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopped = []

    def handler(signum, _frame):
        if not stopped:
            stopped.append(signum)
            raise Stopped(signum)

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


def start_worker(parent: int, prepare=None) -> None:
    """Initializer of a local worker process of the batch whose main process is ``parent``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in STOP_SIGNALS[1:]:
        signal.signal(signum, signal.SIG_DFL)
    _die_with_parent(parent)
    if prepare is not None:
        prepare()


def _die_with_parent(parent: int) -> None:
    if not _kernel_kills_orphan():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    if os.getppid() != parent:  # the parent died before the kernel was asked
        os._exit(1)


def _kernel_kills_orphan() -> bool:
    """Ask Linux to SIGKILL this process when its parent exits; False where it cannot be asked."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        threading.Event().wait(_PARENT_POLL)
    os._exit(1)
