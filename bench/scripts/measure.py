"""Run a command and record its wall time and peak RSS, from a small process.

Usage: ``python measure.py RESULT.json COMMAND [ARG ...]``

Linux carries a process's RSS high-water mark across ``exec``, so a child
forked from a large benchmark process would report the parent's peak; this
wrapper is small (~10 MiB), which is then the floor of the figure.  Writes
``{"returncode", "wall", "max_rss_kib"}`` (``ru_maxrss`` of the command and
its waited-for descendants: the largest single process, not a sum).
"""

import json
import os
import subprocess
import sys
import time


def main(result_path, argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    with open(result_path, "w") as handle:
        json.dump({"returncode": os.waitstatus_to_exitcode(status), "wall": wall, "max_rss_kib": usage.ru_maxrss},
                  handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
