"""Run a child process and measure it: wall time (perf_counter) and its peak RSS (wait4 rusage)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ChildRun:
    """One finished child: exit code, wall seconds, peak RSS in MiB, stdout and stderr text."""

    returncode: int
    wall: float
    max_rss_mib: float
    stdout: str
    stderr: str


def run_child(argv, cwd=None, env=None) -> ChildRun:
    """Run ``argv`` to completion; stdout/stderr go to temporary files (no pipe back-pressure).

    ``ru_maxrss`` from ``os.wait4`` is the largest RSS of the child or of any
    of its own waited-for children (not their sum).
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(proc.returncode, wall, usage.ru_maxrss / 1024.0, out.read(), err.read())
