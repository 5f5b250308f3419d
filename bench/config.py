"""Benchmark settings: paths, storage variants, repetition counts (full or ``BENCH_QUICK=1``).

Everything the suite writes goes under ``bench_output/`` (git-ignored):
``data/`` holds the generated coadds (kept between runs), ``tmp/`` scratch
outputs (deleted as the suite goes), ``results.json`` the raw numbers and
``report.md`` the report.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_REPO = ROOT / "sample_repo"
OUTPUT = Path(os.environ.get("BENCH_OUTPUT", ROOT / "bench_output"))
DATA = OUTPUT / "data"
TMP = OUTPUT / "tmp"
RESULTS = OUTPUT / "results.json"
REPORT = OUTPUT / "report.md"

PYTHON = sys.executable
BIN = Path(PYTHON).parent
CUTOUT = str(BIN / "cutout")

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")

# Batch runs write ~34 kB per cutout (3.4 GB for 100 000) and delete them after each run.  On a disk
# file system that deletion taxes the next run: ext4 without a journal (this project's machines)
# skips inodes freed in the last minutes when it allocates new ones, one look-up each, so a run
# after a deletion of 10 000 files spends seconds of kernel time in its allocator (perf: ext4
# recently_deleted), more with two writers.  The harness's own clean-up would then be measured, so
# batch outputs go to a RAM file system when there is room, or where BENCH_BATCH_OUT says.
BATCH_OUT_ROOM = 6 * 1024 ** 3


def batch_output_dir() -> tuple[Path, str]:
    """``(directory, why)`` for the batch runs' outputs."""
    if os.environ.get("BENCH_BATCH_OUT"):
        return Path(os.environ["BENCH_BATCH_OUT"]), "BENCH_BATCH_OUT"
    shm = Path("/dev/shm")
    try:
        stats = os.statvfs(shm)
        if stats.f_bavail * stats.f_frsize >= BATCH_OUT_ROOM:
            return shm / f"cutout-bench-{os.getpid()}", "tmpfs (/dev/shm), see bench/README.md"
    except OSError:
        pass
    return TMP / "batch", "disk (no RAM file system with room)"

TRACT = 5063
PATCH = 33          # the patch of the storage variants
BAND = "r"          # band of the storage variants
BATCH_BAND = "z"    # band of the batch repository (all default patches)
SEED = 20261125


@dataclass(frozen=True)
class Variant:
    """One storage layout of the same coadd: ``compression`` and ``tile`` as for ``generate_repository``."""

    name: str
    label: str
    compression: str
    tile: int | None
    tiled: str  # "none", "rows" or "square": which read goal applies


VARIANTS = (
    Variant("none", "uncompressed", "none", None, "none"),
    Variant("gzip_rows", "GZIP_2, 1-row tiles", "gzip", None, "rows"),
    Variant("rice_rows", "RICE_1 q16, 1-row tiles", "rice", None, "rows"),
    Variant("rice_128", "RICE_1 q16, 128x128 tiles", "rice", 128, "square"),
    Variant("rice_512", "RICE_1 q16, 512x512 tiles", "rice", 512, "square"),
)
WHOLE_PROCESS_VARIANT = "rice_128"  # the sample repository's default layout

BOX_SIZES = (50, 300, 1000)
PLANES = ("IMAGE", "MASK", "VARIANCE")
EXTENSIONS = {"IMAGE": 1, "MASK": 2, "VARIANCE": 3}  # afw layout: empty primary, then the planes

# repetitions: box reads per (tool, variant, size); full reads are ~100x slower, so fewer
READ_REPS = 7 if QUICK else 31
FULL_READ_REPS = 2 if QUICK else 5
PROCESS_RUNS = 5 if QUICK else 20
PROCESS_WARMUP = 1 if QUICK else 3

BATCH_TARGETS = 1000 if QUICK else 10000
BATCH_SIZE = 50
BATCH_REPS = 1 if QUICK else 3
ASTROCUT_TARGETS = 100 if QUICK else 1000   # astrocut is timed on a subset, the rate extrapolated
# peak-memory runs of `cutout batch`: (targets, --jobs or None); runs at BATCH_TARGETS reuse the throughput runs
MEMORY_RUNS = ((200, None), (1000, None)) if QUICK else ((1000, None), (10000, None))
MEMORY_RUNS_JOBS = (((200, 1), (200, 2), (1000, 1), (1000, 2)) if QUICK
                    else ((1000, 1), (1000, 2), (10000, 1), (10000, 2), (100000, 1), (100000, 2)))  # when --jobs exists

# (d) lsst.images files (bench/lsst_images.py): runs per (file, box), box sizes
LSST_IMAGES_REPS = 5 if QUICK else 15
LSST_IMAGES_BOX_SIZES = (50, 300) if QUICK else (50, 300, 1000)

# (e) `cutout serve` under load (bench/serve.py): requests per phase, concurrent clients (one keep-alive
# connection each), SODA CIRCLE radius (0.0014 deg = 5 arcsec = ~50 px at 0.2 arcsec/px), band, and the
# in-process serial library cutouts of the peer line
SERVE_REQUESTS = 300 if QUICK else 2000
SERVE_CLIENTS = 32
SERVE_RADIUS_DEG = 0.0014
SERVE_BAND = "r"
SERVE_LIBRARY_CUTOUTS = 100 if QUICK else 500
SERVE_DEADLINE = 300.0  # seconds a load phase may take at most (clients stop then; the report says so)
