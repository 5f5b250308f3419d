"""Profiles of cutout's hot paths (cProfile), on demand: ``python -m bench.profile``.

Not part of ``make bench`` (profiling distorts timings).  Writes the top
functions by own time and by cumulative time to ``bench_output/profiles/``:

* ``read_50px.txt``: ``extract`` of 50 px boxes, 3 planes, RICE_1 128 px tiles;
* ``write_50px.txt``: ``Cutout.writeto`` of those cutouts;
* ``batch_1000.txt``: ``cutout batch`` of 1 000 targets, in this process, ``--jobs 1``.

Needs the data of ``make bench`` (run it, or ``BENCH_QUICK=1 make bench``, first).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil

from . import config
from .data import batch_root, box_positions, make_targets, prepare_variants


def _dump(profile: cProfile.Profile, name: str, top: int = 30) -> str:
    config.OUTPUT.joinpath("profiles").mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    path = config.OUTPUT / "profiles" / name
    path.write_text(text.getvalue())
    return str(path)


def profile_reads(count: int = 300) -> list[str]:
    from cutout_cli.cutouts.extract import extract
    from cutout_cli.sky.box import Box
    from cutout_cli.fits.coadd import CoaddFile

    path = prepare_variants(lambda *a: None)["rice_128"]
    positions = box_positions(count, 50, (3400, 3400), seed=7)
    coadd = CoaddFile(path)
    ox, oy = coadd.xy0
    boxes = [Box(x + ox, y + oy, 50, 50) for x, y in positions]
    reading = cProfile.Profile()
    reading.enable()
    cuts = [extract(coadd, box) for box in boxes]
    reading.disable()
    out = config.TMP / "profile"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    writing = cProfile.Profile()
    writing.enable()
    for i, cut in enumerate(cuts):
        cut.writeto(out / f"{i}.fits")
    writing.disable()
    shutil.rmtree(out, ignore_errors=True)
    coadd.close()
    return [_dump(reading, "read_50px.txt"), _dump(writing, "write_50px.txt")]


def profile_batch(count: int = 1000) -> str:
    from cutout_cli.cli import main

    targets = make_targets(count)
    out = config.TMP / "profile_batch"
    shutil.rmtree(out, ignore_errors=True)
    argv = ["-q", "--repo", str(batch_root()), "batch", str(targets.csv), "--size", str(config.BATCH_SIZE),
            "--band", config.BATCH_BAND, "--out", str(out), "--jobs", "1"]
    from .batch import cutout_has_jobs

    if not cutout_has_jobs():
        argv = argv[:-2]  # a cutout without --jobs is serial anyway
    profile = cProfile.Profile()
    profile.enable()
    main(argv)
    profile.disable()
    shutil.rmtree(out, ignore_errors=True)
    return _dump(profile, "batch_1000.txt")


if __name__ == "__main__":
    for written in [*profile_reads(), profile_batch()]:
        print(written)
    shutil.rmtree(config.TMP, ignore_errors=True)
