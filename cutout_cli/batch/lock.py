"""One batch at a time per output directory: an advisory lock file (flock).

The lock is released by the kernel when its holder exits, even on SIGKILL, so
a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time

from ..errors import OutputError

LOCK_NAME = ".cutout-batch.lock"


class DirectoryLock:
    """Exclusive lock on ``directory`` for the duration of a ``with`` block."""

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, LOCK_NAME)
        self._fd = None

    def __enter__(self):
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OutputError(f"cannot write in {self.directory}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise OutputError(f"another cutout batch ({holder}) is writing into {self.directory}",
                              "wait for it to finish, or give another {}", options=[("out_dir", None)]) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def remove_stale_temporaries(directory) -> int:
    """Delete temporary files left by a killed run (``.<name>.<random>.tmp``); call under the lock."""
    removed = 0
    for entry in os.scandir(directory):
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file():
            os.unlink(entry.path)
            removed += 1
    return removed
