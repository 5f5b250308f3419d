"""Benchmark (d): box reads of files written by the ``lsst-images`` package itself.

Data (generated once into ``bench_output/data/lsst_images/``, skipped when present; each file is
written under a temporary name and renamed, so an existing file is complete), all made with the
package's public constructors by :mod:`cutout_cli._sample.lsst_images` (the construction the tests'
``tests/lsst_images_files.py`` uses too), at full size:

* ``masked_gzip2``: ``MaskedImage`` 3400 x 3400 of tract 5063 pixels [8800, 12200)^2 (the
  lsst_cells_v1 tract 5063 TAN: CRVAL 53.08755760368663 -27.520661157024797, CRPIX 15000 (FITS),
  0.2"/px, RA increasing to the left), default compression: GZIP_2 lossless, one-row tiles;
* ``masked_lossy16``: the same object, daf_butler's ``lossy16`` recipe (image and variance RICE_1 +
  SUBTRACTIVE_DITHER_2 quantize level 16, mask GZIP_2);
* ``masked_uncompressed``: the same object, no compression;
* ``cell_coadd``: ``CellCoadd`` 3300 x 3300, the whole 22 x 22 grid of 150 px cells of patch 33
  ([8850, 12150)^2), GZIP_2 with cell-sized tiles, a 25 x 25 PSF image per cell, a REJECTED mask
  fraction plane and one noise realization, one missing cell;
* ``visit_lossy16``: ``VisitImage`` 4072 x 4000 of LSSTCam detector 94, TAN-SIP, lossy16.

Pixels (``cutout_cli._sample.lsst_images.realistic_scene``): Gaussian noise (variance ~3 nJy^2 with a
gentle gradient, plus the sources' own) and about 52 galaxies and 10 stars per megapixel (the bright
stars saturated), masks from the model
(DETECTED, SATURATED, INTERPOLATED, COSMIC_RAY, DETECTION_EDGE, a CLIPPED streak in the coadds,
BAD columns in the visit), a NO_DATA corner with NaN image and variance: compression ratios close
to real ones.

Measurements, in this one process, OS page cache warm (every file read once first), each run
opening the file afresh, the three planes IMAGE, MASK, VARIANCE, the same box for every run of a
(file, size) and every engine (50 px: the box of the demo target 11; 300 and 1000 px fixed boxes;
a box that does not fit in the image is skipped):

* ``fitsio`` (floor): ``fitsio.FITS(path)``, then ``f[ext][y0:y1, x0:x1]`` per plane (LOCAL slices:
  PARENT minus the XY0 of the IMAGE header's ``A`` WCS, computed once outside the timing);
* ``astropy``: ``astropy.io.fits.open(path)`` and ``hdul[ext].section[...]`` per plane;
* ``lsst.images``: ``lsst.images.serialization.read_archive(path, bbox=Box.factory[y0:y1, x0:x1])``
  (the whole object: for the CellCoadd also its PSF, mask fractions and noise realizations);
* ``cutout``: ``with CoaddFile(path) as c: extract(c, Box(x0, y0, w, h))`` (pixels and headers);
* ``cutout read``: ``with CoaddFile(path) as c: c.read_planes(PLANES, Box(...))`` (pixels only).

Every engine gets one untimed warm-up run, then the runs are timed in blocks of 4 in rotating
engine order (:func:`bench.timing.measure_blocks`).  Once per (file, box), outside the timing, the
pixels of every engine are compared with fitsio's (``np.array_equal``, NaN equal; lsst.images' mask,
a 3-D array of plane bytes in memory, plane by plane with the MASK header's MSKN/MSKM bits).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cutout_cli._sample import lsst_images as sample

from . import config
from .data import warm_page_cache
from .load import LoadMeter
from .timing import measure_blocks

PLANES = config.PLANES
ENGINES = {
    "fitsio": "fitsio (floor)",
    "cutout": "cutout extract",
    "cutout_read": "cutout read_planes",
    "lsst_images": "lsst.images read_archive",
    "astropy": "astropy .section",
}


class FileSpec:
    def __init__(self, name, obj, shape, compression, boxes):
        self.name, self.obj, self.shape, self.compression, self.boxes = name, obj, shape, compression, boxes


_COADD_BOXES = {50: (11294, 9145), 300: (10000, 10000), 1000: (9700, 10300)}
_VISIT_BOXES = {50: (1907, 2114), 300: (2000, 2000), 1000: (2500, 1500)}
FILES = (
    FileSpec("masked_gzip2", "MaskedImage", "3400 × 3400", "GZIP_2 lossless, 1-row tiles", _COADD_BOXES),
    FileSpec("masked_lossy16", "MaskedImage", "3400 × 3400", "lossy16: RICE_1 q16 SD2 (mask GZIP_2), 1-row tiles",
             _COADD_BOXES),
    FileSpec("masked_uncompressed", "MaskedImage", "3400 × 3400", "none", _COADD_BOXES),
    FileSpec("cell_coadd", "CellCoadd", "3300 × 3300",
             "GZIP_2, 150 × 150 tiles (cells); per-cell PSF, a mask fraction, a noise realization", _COADD_BOXES),
    FileSpec("visit_lossy16", "VisitImage", "4072 × 4000", "lossy16, 1-row tiles, TAN-SIP", _VISIT_BOXES),
)
SPECS = {f.name: f for f in FILES}


def data_dir() -> Path:
    return config.DATA / "lsst_images"


def available() -> str | None:
    """None when lsst.images can write and read files here, else why not."""
    import importlib

    # requests: lsst-resources needs it to read any lsst.images file, even a local one
    for module in ("lsst.images", "lsst.images.serialization", "lsst.images.fits", "requests", "starlink.Ast"):
        try:
            importlib.import_module(module)
        except Exception as err:  # ImportError, or anything its imports raise
            return f"lsst.images is not usable ({type(err).__name__}: {err})"
    return None


# -- data ---------------------------------------------------------------------------------------
SEED = sample.SEED
PATCH_BOX = (8800, 8800, 3400, 3400)        # x0, y0, w, h: patch 33 outer box
MISSING_CELL = (17, 5)                      # (i, j) = (row, column) of the cell grid
VISIT_SHAPE = (4000, 4072)                  # height, width


def make_masked_image():
    """The 3400 x 3400 ``MaskedImage`` of the ``masked_*`` files."""
    scene = sample.realistic_scene(PATCH_BOX, seed=SEED, artefacts="coadd")
    return sample.masked_image(scene, sample.tract_projection(), sample.deep_coadd_schema())


def make_cell_coadd():
    """The whole-grid ``CellCoadd``, with a REJECTED mask fraction and one noise realization."""
    scene = sample.realistic_scene(sample.CELL_GRID_BOX, seed=SEED + 1, artefacts="coadd")
    return sample.cell_coadd(scene, MISSING_CELL, psf_sigma_slopes=(0.01, 0.005), extra_planes_seed=SEED + 3)


def make_visit_image():
    """The 4072 x 4000 ``VisitImage`` of detector 94."""
    height, width = VISIT_SHAPE
    scene = sample.realistic_scene((0, 0, width, height), seed=SEED + 2, artefacts="visit")
    return sample.visit_image(scene, psf_sigma=1.7)


RECIPES = {
    "masked_gzip2": sample.FileRecipe(make_masked_image),
    "masked_lossy16": sample.FileRecipe(make_masked_image, "lossy16", seed=1234),
    "masked_uncompressed": sample.FileRecipe(make_masked_image, "uncompressed"),
    "cell_coadd": sample.FileRecipe(make_cell_coadd),
    "visit_lossy16": sample.FileRecipe(make_visit_image, "lossy16", seed=4321),
}


def prepare(log=print) -> dict[str, Path]:
    """``{name: path}`` of :data:`FILES`, written where missing."""
    dest = data_dir()
    names = [spec.name for spec in FILES]
    missing = [name for name in names if not (dest / f"{name}.fits").exists()]
    start = time.perf_counter()
    paths = sample.write_files(dest, RECIPES, names)
    if missing:
        log(f"  generated {len(missing)} lsst.images file(s) in {time.perf_counter() - start:.1f} s")
    return paths


# -- engines -----------------------------------------------------------------------------------
def _xy0(path):
    """PARENT pixel of the first array pixel, from the IMAGE header's ``A`` WCS (as lsst.images' read_offset_wcs)."""
    import fitsio

    header = fitsio.read_header(str(path), "IMAGE")
    if str(header.get("CTYPE1A", "")).strip() == "LINEAR":
        return (int(round(header["CRVAL1A"] - (header.get("CRPIX1A", 1.0) - 1.0))),
                int(round(header["CRVAL2A"] - (header.get("CRPIX2A", 1.0) - 1.0))))
    return (-int(header.get("LTV1", 0)), -int(header.get("LTV2", 0)))


def engines(path, box) -> dict:
    """``{engine: read(box) -> [IMAGE, MASK, VARIANCE] arrays}`` for one file (``box``: PARENT x0, y0, w, h)."""
    import fitsio
    from astropy.io import fits
    from cutout_cli import Box, CoaddFile, extract
    from lsst.images import Box as LsstBox
    from lsst.images.serialization import read_archive

    path = str(path)
    ox, oy = _xy0(path)

    def read_fitsio(b):
        x0, y0, w, h = b
        lx, ly = x0 - ox, y0 - oy
        with fitsio.FITS(path) as f:
            return [f[ext][ly:ly + h, lx:lx + w] for ext in PLANES]

    def read_astropy(b):
        x0, y0, w, h = b
        lx, ly = x0 - ox, y0 - oy
        with fits.open(path) as hdul:
            # np.array: an uncompressed plane's section may be a view of the memory map; take the pixels
            return [np.array(hdul[ext].section[ly:ly + h, lx:lx + w]) for ext in PLANES]

    def read_lsst(b):
        x0, y0, w, h = b
        obj = read_archive(path, bbox=LsstBox.factory[y0:y0 + h, x0:x0 + w])
        return [obj.image.array, obj.mask, obj.variance.array]  # mask: an lsst.images Mask (checked by plane)

    def read_cutout(b):
        with CoaddFile(path) as c:
            cut = extract(c, Box(*b))
        return [cut.planes[p] for p in PLANES]

    def read_cutout_planes(b):
        with CoaddFile(path) as c:
            planes = c.read_planes(PLANES, Box(*b))
        return [planes[p] for p in PLANES]

    return {"fitsio": read_fitsio, "cutout": read_cutout, "cutout_read": read_cutout_planes,
            "lsst_images": read_lsst, "astropy": read_astropy}


def _mask_bits(path) -> dict:
    """``{plane name: bitmask}`` of the (first) MASK HDU, from its ``MSKNnnnn`` / ``MSKMnnnn`` cards."""
    import fitsio

    header = fitsio.read_header(str(path), "MASK")
    return {str(header[k]).strip(): int(header.get("MSKM" + k[4:], 1 << int(k[4:])))
            for k in header.keys() if k.startswith("MSKN")}


def _same(reference, arrays, bits) -> bool:
    """Pixels equal (NaN equal); an lsst.images ``Mask`` is compared plane by plane with the on-disk bits."""
    for ref, got in zip(reference, arrays):
        if isinstance(got, np.ndarray) or got is None:
            if not np.array_equal(np.asarray(got), ref, equal_nan=True):
                return False
            continue
        names = [plane.name for plane in got.schema if plane is not None]
        if set(names) != set(bits):
            return False
        if any(not np.array_equal(got.get(name), (ref & bits[name]) != 0) for name in names):
            return False
    return True


def _fits(box, shape_xy0) -> bool:
    (w_img, h_img), (ox, oy) = shape_xy0
    x0, y0, w, h = box
    return ox <= x0 and oy <= y0 and x0 + w <= ox + w_img and y0 + h <= oy + h_img


def _image_extent(path):
    import fitsio

    with fitsio.FITS(str(path)) as f:
        dims = f["IMAGE"].get_dims()  # (rows, cols)
    return (dims[1], dims[0]), _xy0(path)


def _source_time() -> str:
    """When the newest ``cutout_cli`` source file was last changed (the tree may be edited between runs)."""
    import datetime as dt

    import cutout_cli

    newest = max(p.stat().st_mtime for p in Path(cutout_cli.__file__).parent.rglob("*.py"))
    return dt.datetime.fromtimestamp(newest).isoformat(timespec="seconds")


def run(files: dict, log=print) -> dict:
    """``{"version", "reps", "files": {name: {..., "boxes": {size: {"box", engine: Stats, "identical"}}}}}``."""
    from importlib.metadata import version

    out = {"version": version("lsst-images"), "reps": config.LSST_IMAGES_REPS, "cutout_source": _source_time(),
           "files": {}}
    for spec in FILES:
        path = files[spec.name]
        warm_page_cache(path)
        extent = _image_extent(path)
        bits = _mask_bits(path)
        entry = {"path": str(path), "bytes": path.stat().st_size, "object": spec.obj, "shape": spec.shape,
                 "compression": spec.compression, "xy0": list(extent[1]), "boxes": {}}
        out["files"][spec.name] = entry
        for size in config.LSST_IMAGES_BOX_SIZES:
            x0, y0 = spec.boxes[size]
            box = (x0, y0, size, size)
            if not _fits(box, extent):
                entry["boxes"][str(size)] = {"box": list(box), "skipped": "the box does not fit in the image"}
                continue
            fns = engines(path, box)
            reference = fns["fitsio"](box)
            identical = {name: _same(reference, fn(box), bits) for name, fn in fns.items()}
            with LoadMeter() as load:
                stats = measure_blocks(fns, [box] * config.LSST_IMAGES_REPS, box)
            row = {"box": list(box), "_other_cores": load.other_cores}
            for name, s in stats.items():
                row[name] = {**s.as_dict(), "identical": identical[name]}
            entry["boxes"][str(size)] = row
            summary = ", ".join(f"{n} {row[n]['median'] * 1e3:.1f} ms" for n in ENGINES)
            log(f"  {spec.name:19s} {size:5d} px: {summary}; pixels {'equal' if identical['cutout'] else 'DIFFER'}; "
                f"others' load {load.other_cores or 0:.2f} cores")
    return out


# -- report ------------------------------------------------------------------------------------
def render(section: dict) -> list[str]:
    """Markdown lines of the section (its heading included)."""
    from .timing import fmt_time

    if not section:
        return []
    out = ["", "## (d) lsst.images files: box reads, IMAGE + MASK + VARIANCE", ""]
    if section.get("skipped"):
        return out + [f"Skipped: {section['skipped']}."]
    out += [f"Files written by lsst-images {section['version']} (`bench_output/data/lsst_images/`). "
            f"cutout_cli sources as of {section.get('cutout_source', '?')}. "
            f"Median ± half-IQR of {section['reps']} runs of the same box, each opening the file afresh, "
            "page cache warm, engines interleaved; 50 px = the demo target 11's box. Engines: "
            "fitsio `FITS(path)[ext][slices]` (the floor); cutout `with CoaddFile(path) as c: extract(c, Box)` "
            "(pixels + headers) and `c.read_planes(...)` (pixels only); lsst.images "
            "`read_archive(path, bbox=...)` (the whole object); astropy `fits.open(path)` + `.section`.", ""]
    rows = []
    for name, f in section["files"].items():
        rows.append((name, f["object"], f["shape"], f["compression"], f"{f['bytes'] / 1e6:.1f} MB"))
    out += _table(("file", "object", "pixels", "compression", "size"), rows) + [""]
    rows, differ = [], []
    for name, f in section["files"].items():
        for size, r in f["boxes"].items():
            if r.get("skipped"):
                rows.append([name, size] + [r["skipped"]] + [""] * 10)
                continue
            med = {e: r[e]["median"] for e in ENGINES}
            cells = [f"{fmt_time(med[e])} ±{fmt_time(r[e]['iqr'] / 2)}" for e in ENGINES]
            ratios = [f"{med['cutout'] / med['fitsio']:.2f}×", f"{med['cutout_read'] / med['fitsio']:.2f}×",
                      f"{med['lsst_images'] / med['cutout']:.1f}×", f"{med['astropy'] / med['cutout']:.2f}×"]
            equal = "yes" if r["cutout"]["identical"] and r["cutout_read"]["identical"] else "**NO**"
            load = r.get("_other_cores")
            rows.append([name, size] + cells + ratios + [equal, "?" if load is None else
                                                        (f"**{load:.2f}** ⚠" if load > 0.3 else f"{load:.2f}")])
            differ += [f"{ENGINES[e]} ({name}, {size} px)" for e in ENGINES if not r[e]["identical"]]
    out += _table(["file", "px"] + [ENGINES[e] for e in ENGINES]
                  + ["cutout / fitsio", "cutout read / fitsio", "lsst.images / cutout", "astropy / cutout",
                     "cutout pixels = fitsio", "others' load (cores)"], rows)
    out += ["", "`cutout pixels = fitsio`: `np.array_equal(..., equal_nan=True)` of all three planes, extract and "
            "read_planes, checked once per (file, box). " +
            ("Every engine's pixels equal fitsio's (lsst.images' mask compared plane by plane with the "
             "MSKN/MSKM bits)." if not differ else
             "Pixels differing from fitsio's: " + "; ".join(differ) + ".")]
    return out


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
