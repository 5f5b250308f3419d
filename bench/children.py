"""Run a child process and measure it: wall time and peak RSS (via :mod:`bench.scripts.measure`)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MEASURE = Path(__file__).resolve().parent / "scripts" / "measure.py"


@dataclass(frozen=True)
class ChildRun:
    """One finished child: exit code, wall seconds, peak RSS in MiB, stdout and stderr text."""

    returncode: int
    wall: float
    max_rss_mib: float
    stdout: str
    stderr: str


def run_child(argv, cwd=None, env=None) -> ChildRun:
    """Run ``argv`` to completion under the small measuring wrapper.

    Wall time is taken by the wrapper around the command alone (its own
    start-up is excluded); stdout and stderr go to temporary files.
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            proc = subprocess.run([sys.executable, str(MEASURE), str(result), *(str(a) for a in argv)],
                                  stdout=out, stderr=err, cwd=cwd, env=env)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        if not result.exists():
            return ChildRun(proc.returncode or 1, float("nan"), float("nan"), stdout, stderr)
        info = json.loads(result.read_text())
        return ChildRun(info["returncode"], info["wall"], info["max_rss_kib"] / 1024.0, stdout, stderr)
