"""Small but real ``lsst.images`` FITS files, written by the ``lsst-images`` package itself.

The construction is :mod:`cutout_cli._sample.lsst_images` (shared with ``bench/lsst_images.py``, which
writes the same kinds at full size); this module chooses the tests' boxes, seeds and kinds, and adds
the kinds only the tests need (``astonly``, ``fitsapprox``, ``mask40``).  Every file is made with the
package's public constructors (``Image``, ``Mask``, ``MaskSchema``,
``MaskedImage``, ``VisitImage``, ``cells.CellCoadd``, ``SkyProjection``...) and written with
``GeneralizedImage.write`` (``lsst.images.serialization.write_archive`` -> ``lsst.images.fits.write``).
The truth helpers below read them back with ``lsst.images.serialization.read_archive(path, bbox=...)``
only, never with astropy or cutout.

Geometry: the real lsst_cells_v1 tract 5063 TAN WCS (CRVAL 53.08755760368663 -27.520661157024797,
CRPIX 15000 (FITS, 1-based) for the 30000 px tract, 0.2 arcsec/px, RA increasing to the left),
``SkyProjection.from_fits_wcs`` with a ``TractFrame``, so PARENT (tract) pixel ``p`` is FITS pixel
``p + 1``.  Every file holds the demo target 11 (RA 53.318792, Dec -27.844306; tract pixel
x 11318.61, y 9169.86).  Pixels: Gaussian noise (variance ~3 nJy**2 with a gentle gradient) plus a
few Gaussian sources (one on target 11, one saturated), fixed seed; unit nJy, variance nJy**2.
Masks: DETECTED where a source is above ~3 sigma, SATURATED (+ INTERPOLATED in the coadd schemas'
spirit) on the bright star's core, INTERPOLATED on a few scattered pixels, and a NO_DATA corner
(top right, 60 x 40 px) where image and variance are NaN.

Kinds (keys of :func:`write_files`):

``masked_gzip2``
    ``MaskedImage`` of tract pixels x [11000, 11600), y [8900, 9400), legacy deep-coadd mask planes
    (``get_legacy_deep_coadd_mask_planes()``: NO_DATA is bit 0, SATURATED 3, DETECTED 7),
    default compression (GZIP_2 lossless, one-row tiles).
``masked_lossy16``
    The same object; image and variance RICE_1 + SUBTRACTIVE_DITHER_2 quantize level 16 (seed 1234,
    then 1235), mask GZIP_2: daf_butler's ``lossy16`` recipe.
``masked_uncompressed``
    The same object, uncompressed (``compression_options`` None for image, mask and variance).
``visit_image``
    ``VisitImage`` of LSSTCam detector 94, visit 2026120300042, 1000 x 800 px, TAN-SIP
    (CRVAL 53.31 -27.85, CRPIX at the detector centre, 0.2"/px, rotated 17 degrees, 2nd order SIP),
    pixel frame ``DetectorFrame`` (the ``Detector``'s frame, from a ``CameraFrameSet`` deserialised
    from its serialization model), Gaussian PSF, band r, legacy visit mask planes (NO_DATA is bit 7,
    SATURATED 1, DETECTED 5), lossy16 compression.
``cell_coadd``
    ``CellCoadd`` of tract 5063 patch 33 (cell grid [8850, 12150)^2 of 150 px cells), 4 x 4 cells:
    x [11100, 11700), y [9000, 9600); cell (i=4, j=18) (x [11550, 11700), y [9450, 9600)) is missing
    (NO_DATA, image 0, variance inf, PSF NaN); a 25 x 25 Gaussian PSF image per cell (sigma differs
    per cell), band r, deep-coadd mask planes, default compression (GZIP_2, 150 x 150 tiles).
``astonly``
    ``MaskedImage`` like ``masked_gzip2`` (same box, pixels, planes) whose projection has no FITS
    form: an AST MathMap wiggle of 0.5 px amplitude and 200 px wavelength in tract pixels, then the
    tract TAN; no ``fits_approximation``, so the headers carry no celestial WCS (only the A WCS).
``fitsapprox``
    The same exact projection with the plain tract TAN attached as ``fits_approximation``: the
    header WCS is the approximation, off the exact projection by up to ~0.1 arcsec.
``mask40``
    ``MaskedImage`` of x [11150, 11550), y [9000, 9350) with 40 mask planes: NO_DATA (bit 0) and
    P01..P39 (plane Pnn is bit nn), so the file has MASK EXTVER 1 (planes 0-30) and EXTVER 2
    (planes 31-39, bits from 0 again).  Plane Pnn is set on the rows y0 + 3 nn .. y0 + 3 nn + 2
    for x in [x0 + 10 nn, x0 + 10 nn + 100); P35 also on a 20 x 20 block at (11300, 9150);
    NO_DATA and NaN on the top-right 60 x 40 corner.  GZIP_2.

``truth(path, box)`` is what lsst.images reads for a PARENT box ``(x0, y0, width, height)``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord

from cutout_cli._sample import lsst_images as sample
from cutout_cli._sample.lsst_images import (CELL_GRID_BOX, CELL_SIZE, DEC11, DETECTOR_ID, PSF_SIZE, RA11, SCALE_DEG,
                                            SEED, TRACT_CRPIX, TRACT_CRVAL, VISIT_ID, deep_coadd_schema, lsst_box,
                                            mask_schema, tract_frame, tract_projection, tract_wcs, visit_schema,
                                            visit_wcs)

__all__ = ["RA11", "DEC11", "TRACT_CRVAL", "TRACT_CRPIX", "SCALE_DEG", "SEED", "NO_DATA_CORNER", "KINDS", "BOXES",
           "TYPES", "NO_DATA_BIT", "CELL_SIZE", "CELL_GRID_BOX", "MISSING_CELL", "PSF_SIZE", "VISIT_ID",
           "DETECTOR_ID", "lsst_box", "tract_wcs", "tract_frame", "tract_projection", "wiggle_projection",
           "visit_wcs", "deep_coadd_schema", "visit_schema", "mask40_schema", "lossy16", "UNCOMPRESSED",
           "make_masked_image", "make_visit_image", "make_cell_coadd", "make_wiggle_image", "make_astonly",
           "make_fitsapprox", "make_mask40", "RECIPES", "write_files", "Truth", "read", "truth", "full_truth", "intersect"]

NO_DATA_CORNER = (60, 40)  # width, height of the NO_DATA corner, top right of the image (sample.small_scene)

KINDS = ("masked_gzip2", "masked_lossy16", "masked_uncompressed", "visit_image", "cell_coadd",
         "astonly", "fitsapprox", "mask40")

#: ``(x0, y0, width, height)`` of each kind's image, PARENT pixels.
BOXES = {
    "masked_gzip2": (11000, 8900, 600, 500),
    "masked_lossy16": (11000, 8900, 600, 500),
    "masked_uncompressed": (11000, 8900, 600, 500),
    "visit_image": (0, 0, 1000, 800),
    "cell_coadd": (11100, 9000, 600, 600),
    "astonly": (11000, 8900, 600, 500),
    "fitsapprox": (11000, 8900, 600, 500),
    "mask40": (11150, 9000, 400, 350),
}

#: The lsst.images type each kind is read back as.
TYPES = {"visit_image": "VisitImage", "cell_coadd": "CellCoadd"}

#: The bit of NO_DATA in each kind's mask.
NO_DATA_BIT = {kind: (7 if kind == "visit_image" else 0) for kind in KINDS}

MISSING_CELL = (4, 18)  # (i, j) in the patch grid
UNCOMPRESSED = {"image": None, "mask": None, "variance": None}


def lossy16():
    """daf_butler's ``lossy16`` compression options (image and variance RICE_1 q16 SD2, mask GZIP_2)."""
    return sample.write_options("lossy16")["compression_options"]


# -- projections ------------------------------------------------------------------------------
def wiggle_projection(amplitude=0.5, wavelength=200.0):
    """The tract TAN after an AST MathMap wiggle (x += a sin(k y), then y += a sin(k x)), exact inverse.

    ``SkyProjection.from_ast_frame_set`` is public, but it takes the package's own AST wrapper
    (``lsst.images._transforms._ast.FrameSet``): there is no public way to wrap a
    ``starlink.Ast`` object, so the frame set goes through its AST text.
    """
    import starlink.Ast as Ast
    from lsst.images import SkyProjection
    from lsst.images._transforms import _ast as images_ast

    tan = tract_projection()
    frame_set = Ast.Channel(tan.show(comments=False).splitlines()).read()
    k = 2.0 * math.pi / wavelength
    a = amplitude
    # AST variable names are case-blind: inputs u, v, outputs p, q.
    step1 = Ast.MathMap(2, 2, [f"p = u + {a!r} * sin({k!r} * v)", "q = v"],
                        [f"u = p - {a!r} * sin({k!r} * q)", "v = q"], "SimpFI=1, SimpIF=1")
    step2 = Ast.MathMap(2, 2, ["p = u", f"q = v + {a!r} * sin({k!r} * u)"],
                        ["u = p", f"v = q - {a!r} * sin({k!r} * p)"], "SimpFI=1, SimpIF=1")
    wiggle = Ast.CmpMap(step1, step2, True)
    # remapframe maps the old base coordinates to the new ones: new -> old is the wiggle.
    old_to_new = wiggle.copy()
    old_to_new.invert()
    frame_set.remapframe(Ast.BASE, old_to_new)
    wrapped = images_ast.FrameSet.fromString(sample.ast_text(frame_set))
    return SkyProjection.from_ast_frame_set(wrapped, tract_frame(), tract_frame().bbox), tan


# -- objects ------------------------------------------------------------------------------------
def make_masked_image():
    """The ``MaskedImage`` of the ``masked_*`` kinds."""
    return sample.masked_image(sample.small_scene(BOXES["masked_gzip2"]), tract_projection(), deep_coadd_schema())


def make_visit_image():
    """The ``visit_image`` ``VisitImage`` (PSF sigma 2.1 px)."""
    return sample.visit_image(sample.small_scene(BOXES["visit_image"]), psf_sigma=2.1)


def make_cell_coadd():
    """The ``cell_coadd`` ``CellCoadd`` (4 x 4 cells, one missing; PSF sigma 1.6 + 0.05 i + 0.02 j px)."""
    return sample.cell_coadd(sample.small_scene(BOXES["cell_coadd"]), MISSING_CELL, psf_sigma_slopes=(0.05, 0.02))


def make_wiggle_image(with_approximation):
    """``MaskedImage`` of ``astonly`` (exact wiggle only) or ``fitsapprox`` (with the tract TAN as approximation)."""
    from lsst.images import SkyProjection

    exact, tan = wiggle_projection()
    if with_approximation:
        exact = SkyProjection(exact.pixel_to_sky_transform, fits_approximation=tan.pixel_to_sky_transform)
    return sample.masked_image(sample.small_scene(BOXES["astonly"]), exact, deep_coadd_schema())


def mask40_schema():
    """NO_DATA (bit 0) and P01..P39 (plane Pnn is bit nn)."""
    from lsst.images import MaskPlane

    planes = [MaskPlane("NO_DATA", "No data was available for this pixel.")]
    planes += [MaskPlane(f"P{n:02d}", f"Test plane number {n}.") for n in range(1, 40)]
    return mask_schema(planes)


def make_mask40():
    """The ``mask40`` ``MaskedImage``: NO_DATA from the scene, then planes P01..P39 (module docstring)."""
    from lsst.images import MaskedImage

    box = BOXES["mask40"]
    x0, y0, width, height = box
    projection = tract_projection()
    image, mask, variance = sample.image_planes(sample.small_scene(box), projection, mask40_schema())
    for n in range(1, 40):
        pixels = np.zeros((height, width), bool)
        pixels[3 * n:3 * n + 3, 10 * n:10 * n + 100] = True
        if n == 35:
            pixels[9150 - y0:9170 - y0, 11300 - x0:11320 - x0] = True
        mask.set(f"P{n:02d}", pixels)
    return MaskedImage(image, mask=mask, variance=variance, sky_projection=projection)


def make_astonly():
    return make_wiggle_image(False)


def make_fitsapprox():
    return make_wiggle_image(True)


RECIPES = {
    "masked_gzip2": sample.FileRecipe(make_masked_image),
    "masked_lossy16": sample.FileRecipe(make_masked_image, "lossy16", seed=1234),
    "masked_uncompressed": sample.FileRecipe(make_masked_image, "uncompressed"),
    "visit_image": sample.FileRecipe(make_visit_image, "lossy16", seed=4321),
    "cell_coadd": sample.FileRecipe(make_cell_coadd),
    "astonly": sample.FileRecipe(make_astonly),
    "fitsapprox": sample.FileRecipe(make_fitsapprox),
    "mask40": sample.FileRecipe(make_mask40),
}


def write_files(dest: Path, kinds=None) -> dict[str, Path]:
    """Write the files of ``kinds`` (default: all of :data:`KINDS`) as ``dest/<kind>.fits``."""
    return sample.write_files(dest, RECIPES, kinds or KINDS)


# -- truth ----------------------------------------------------------------------------------------
@dataclasses.dataclass
class Truth:
    """What lsst.images reads for one PARENT box of a file."""

    type_name: str
    box: tuple
    image: np.ndarray
    variance: np.ndarray
    mask_planes: dict  # {name: boolean 2-D array} for every plane of the schema
    schema: list  # plane names, in schema (bit) order
    obj: object  # the lsst.images object read with bbox=

    def sky(self, x, y):
        """``(ra_deg, dec_deg)`` arrays of PARENT pixel positions, from the exact projection."""
        coord = self.obj.sky_projection.pixel_to_sky(x=np.asarray(x, float), y=np.asarray(y, float))
        return np.asarray(coord.ra.deg), np.asarray(coord.dec.deg)

    def sky_to_pixel(self, ra, dec):
        """``(x, y)`` PARENT pixel positions of ICRS degrees, from the exact projection."""
        xy = self.obj.sky_projection.sky_to_pixel(SkyCoord(np.asarray(ra, float), np.asarray(dec, float),
                                                           unit="deg"))
        return np.asarray(xy.x), np.asarray(xy.y)


def read(path, box=None):
    """The lsst.images object of ``path`` (``read_archive``), the PARENT ``box`` only if given."""
    from lsst.images.serialization import read_archive

    if box is None:
        return read_archive(str(path))
    return read_archive(str(path), bbox=lsst_box(box))


def truth(path, box) -> Truth:
    """lsst.images' own read of PARENT ``box = (x0, y0, width, height)`` of ``path``."""
    obj = read(path, box)
    names = [plane.name for plane in obj.mask.schema if plane is not None]
    return Truth(type_name=type(obj).__name__, box=tuple(box), image=np.array(obj.image.array),
                 variance=np.array(obj.variance.array),
                 mask_planes={name: obj.mask.get(name) for name in names}, schema=names, obj=obj)


def full_truth(path) -> Truth:
    """:func:`truth` of the whole image of ``path``."""
    obj = read(path)
    start, shape = obj.bbox.start, obj.bbox.shape
    return truth(path, (start.x, start.y, shape.x, shape.y))


def intersect(a, b):
    """The intersection of two ``(x0, y0, w, h)`` boxes, or None."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)
