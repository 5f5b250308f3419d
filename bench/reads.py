"""Benchmark (a): box reads of IMAGE, MASK and VARIANCE, every tool on the same boxes.

For each storage variant and box size the same list of box positions
(spread over the patch, one per repetition) is read by:

* ``fitsio``: the floor, ``fitsio.FITS(path)[ext][y0:y1, x0:x1]`` for the 3
  planes, the file opened once;
* ``cutout``: the library read path, :class:`CoaddFile` opened once, then
  ``extract(coadd, box, ReadOptions(planes))`` per box (pixels and headers, no writing),
  its cache of decoded tiles emptied before each box;
* ``cutout+open``: the same with ``CoaddFile(path)`` opened and closed per box;
* ``astropy .section``: ``fits.open(path)`` once (lazy HDUs), then
  ``hdul[ext].section[y0:y1, x0:x1]``;
* ``astropy full + Cutout2D``: per box, open without memmap, read each whole
  plane (``.data``) and cut it with ``astropy.nddata.Cutout2D`` (fewer
  repetitions: it does not depend on the box);
* ``astrocut``: ``fits_cut([path], SkyCoord, size, extension=1,
  memory_only=True)``, its best case: the IMAGE plane only, no file written
  (it opens the file on every call, there is no way to pass an open file).

The file is read once beforehand (warm OS page cache for every tool: the
suite measures CPU-bound reads, not the disk).  Each series starts with an
untimed warm-up read at a position outside the list, whose pixels are
also checked against fitsio's (``identical``).
Within one (variant, size) the tools run in blocks of 4 positions, in
rotating order (see :func:`bench.timing.measure_blocks`): bursts of other
work on the shared machine hit every tool alike, and no tool reads a box
right after another tool read it (cfitsio caches decompressed tiles per open
file, shared by every handle of that file in the process).  The full reads
run last.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import config
from .data import box_positions, warm_page_cache
from .load import LoadMeter
from .timing import measure, measure_blocks

TOOLS = {
    "fitsio": "fitsio section (floor)",
    "cutout": "cutout (open once + extract)",
    "cutout_open": "cutout (open + extract per box)",
    "astropy_section": "astropy .section",
    "astropy_full": "astropy full read + Cutout2D",
    "astrocut": "astrocut fits_cut (IMAGE only)",
}
EXT = [config.EXTENSIONS[p] for p in config.PLANES]


def _fitsio(path, size):
    import fitsio

    fits = fitsio.FITS(str(path))
    hdus = [fits[e] for e in EXT]

    def read(pos):
        x0, y0 = pos
        return [hdu[y0:y0 + size, x0:x0 + size] for hdu in hdus]

    return read, fits.close


def _cutout(path, size):
    from cutout_cli.cutouts.extract import extract
    from cutout_cli.cutouts.options import ReadOptions
    from cutout_cli.sky.box import Box
    from cutout_cli.fits.coadd import CoaddFile

    coadd = CoaddFile(path)
    ox, oy = coadd.xy0
    options = ReadOptions(config.PLANES)

    def read(pos):
        coadd.clear_cache()  # no box is served from tiles decoded for an earlier one
        cut = extract(coadd, Box(pos[0] + ox, pos[1] + oy, size, size), options)
        return [cut.planes[p] for p in config.PLANES]

    return read, coadd.close


def _cutout_open(path, size):
    from cutout_cli.cutouts.extract import extract
    from cutout_cli.cutouts.options import ReadOptions
    from cutout_cli.sky.box import Box
    from cutout_cli.fits.coadd import CoaddFile

    options = ReadOptions(config.PLANES)

    def read(pos):
        with CoaddFile(path) as coadd:
            ox, oy = coadd.xy0
            cut = extract(coadd, Box(pos[0] + ox, pos[1] + oy, size, size), options)
        return [cut.planes[p] for p in config.PLANES]

    return read, lambda: None


def _astropy_section(path, size):
    from astropy.io import fits

    hdul = fits.open(path)  # lazy_load_hdus=True, memmap where possible: the default

    def read(pos):
        x0, y0 = pos
        return [hdul[e].section[y0:y0 + size, x0:x0 + size] for e in EXT]

    return read, hdul.close


def _astropy_full(path, size):
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    def read(pos):
        x0, y0 = pos
        centre = (x0 + (size - 1) / 2, y0 + (size - 1) / 2)
        out = []
        with fits.open(path, memmap=False) as hdul:
            for e in EXT:
                out.append(Cutout2D(hdul[e].data, centre, (size, size), copy=True).data)
        return out

    return read, lambda: None


def _astrocut(path, size):
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.wcs import WCS
    from astrocut import fits_cut

    with fits.open(path) as hdul:
        wcs = WCS(hdul[1].header).celestial
    coords = {}

    def coord(pos):
        # centre on the box's middle edge: astrocut's limits round(c -/+ size/2) give exactly [x0, x0 + size)
        if pos not in coords:
            ra, dec = wcs.wcs_pix2world([[pos[0] + size / 2, pos[1] + size / 2]], 0)[0]
            coords[pos] = SkyCoord(ra, dec, unit="deg")
        return coords[pos]

    def read(pos):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul = fits_cut([str(path)], coord(pos), cutout_size=size, extension=1, memory_only=True)[0]
        return [hdul[1].data]

    read.prepare = lambda positions: [coord(p) for p in positions]
    return read, lambda: None


FACTORIES = {
    "fitsio": _fitsio,
    "cutout": _cutout,
    "cutout_open": _cutout_open,
    "astropy_section": _astropy_section,
    "astropy_full": _astropy_full,
    "astrocut": _astrocut,
}


def _same(reference, arrays) -> bool:
    return all(np.array_equal(np.asarray(a), r, equal_nan=True) for r, a in zip(reference, arrays))


def run(files: dict, tools=None, log=print) -> dict:
    """``{variant: {size: {tool: Stats dict + checks, "_other_cores": float}}}`` for every variant, size, tool."""
    tools = tools or list(TOOLS)
    results = {}
    for vi, variant in enumerate(config.VARIANTS):
        path = files[variant.name]
        warm_page_cache(path)
        results[variant.name] = {}
        for size in config.BOX_SIZES:
            positions = box_positions(config.READ_REPS + 1, size, (3400, 3400), seed=1000 * vi + size)
            with LoadMeter() as load:
                row = _one_case(path, size, positions[0], positions[1:], tools)
            row["_other_cores"] = load.other_cores
            results[variant.name][str(size)] = row  # str: the same keys after a JSON round trip
            summary = ", ".join(f"{t} {v['median'] * 1e3:.2f} ms" for t, v in row.items()
                                if isinstance(v, dict) and "median" in v)
            log(f"  {variant.name:10s} {size:5d} px: {summary}; others' load {load.other_cores or 0:.2f} cores")
    return results


def run_alternative_floor(files: dict, python: str, log=print) -> dict | None:
    """The fitsio floor under another interpreter (``BENCH_ALT_PYTHON``), same boxes; None on failure."""
    import json
    import subprocess

    from .timing import Stats

    spec = config.TMP / "files.json"
    spec.write_text(json.dumps({k: str(v) for k, v in files.items()}))
    script = config.ROOT / "bench" / "scripts" / "floor_reads.py"
    run = subprocess.run([python, str(script), str(spec)], capture_output=True, text=True)
    if run.returncode != 0:
        log(f"  alternative floor failed: {run.stderr.strip()[-300:]}")
        return None
    data = json.loads(run.stdout)
    data["results"] = {v: {s: Stats.from_samples(x).as_dict() for s, x in sizes.items()}
                       for v, sizes in data["results"].items()}
    data["python"] = python
    log(f"  alternative floor: fitsio {data['fitsio']}, cfitsio {data['cfitsio']} ({data['location']})")
    return data


def _one_case(path, size, warmup, timed, tools) -> dict:
    """All tools on one file and box size: pixel check, interleaved timing, then the slow full reads."""
    readers, closers, row = {}, [], {}
    try:
        for tool in tools:
            try:
                read, close = FACTORIES[tool](path, size)
            except ImportError as err:
                row[tool] = {"error": f"not available: {err}"}
                continue
            closers.append(close)
            if hasattr(read, "prepare"):
                read.prepare([warmup, *timed])  # precompute inputs (sky positions) outside timing
            readers[tool] = read
        reference = readers["fitsio"](warmup) if "fitsio" in readers else None
        identical = {t: reference is None or _same(reference, r(warmup)) for t, r in readers.items()}
        fast = {t: r for t, r in readers.items() if t != "astropy_full"}
        stats = measure_blocks(fast, timed, warmup)
        if "astropy_full" in readers:
            stats["astropy_full"] = measure(readers["astropy_full"], timed[: config.FULL_READ_REPS], warmup)
        for tool, s in stats.items():
            row[tool] = {**s.as_dict(), "identical": identical[tool]}
    finally:
        for close in closers:
            close()
    return {t: row[t] for t in tools if t in row}
