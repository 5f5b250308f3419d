"""Real ``lsst.images`` files, made by the ``lsst-images`` package itself (tooling, not public API).

One construction for the tests' small files (``tests/lsst_images_files.py``) and the benchmark's
full-size ones (``bench/lsst_images.py``): they differ only in the arguments (boxes, seeds, source
density, PSF widths, the CellCoadd's extra planes, which kinds).  Every object is made with the
package's public constructors (``Image``, ``Mask``, ``MaskSchema``, ``MaskedImage``, ``VisitImage``,
``cells.CellCoadd``, ``SkyProjection``...) and written with ``GeneralizedImage.write``.

Conventions:

* Boxes are PARENT pixels ``(x0, y0, width, height)`` (tract pixels for coadds, detector pixels for
  the visit image); :func:`lsst_box` makes the ``lsst.images.Box``.  Arrays are indexed ``[y, x]``.
* Tract geometry: the lsst_cells_v1 tract 5063 TAN (CRVAL 53.08755760368663 -27.520661157024797,
  CRPIX 15000 (FITS, 1-based) for the 30000 px tract, 0.2"/px, RA increasing to the left) with a
  ``TractFrame``, so PARENT pixel ``p`` is FITS pixel ``p + 1``.  Patch 33: cell grid
  :data:`CELL_GRID_BOX` of :data:`CELL_SIZE` px cells, inner box [8900, 12100)^2.
* Visit geometry: LSSTCam detector 94 of visit :data:`VISIT_ID`, TAN-SIP (CRVAL 53.31 -27.85 at the
  detector centre, 0.2"/px, rotated 17 degrees, 2nd order SIP), pixel frame the ``Detector``'s frame
  from a ``CameraFrameSet`` (FOCAL_PLANE mm, FIELD_ANGLE rad, DETECTOR_94).
* Units: image nJy, variance nJy**2; source and PSF widths are Gaussian sigmas in pixels.
* A :class:`Scene` is drawn from one ``numpy.random.default_rng(seed)`` stream in a fixed order:
  the unit noise (all pixels), then per source of each :class:`Population` x, y, flux, sigma (a
  fixed sigma is not drawn), then the scattered flagged pixels, then (visit artefacts) the BAD
  columns.  The same scene gives the same pixels; a scene's box, seed and options say all.
* Masks: a plane is set only when the schema has it; NO_DATA pixels have NaN image and variance;
  saturated pixels are clipped to :data:`SATURATION`.
* Compression recipes (:func:`write_options`): ``gzip2`` (lsst.images' default, GZIP_2 lossless),
  ``lossy16`` (daf_butler's: image and variance RICE_1 + SUBTRACTIVE_DITHER_2 quantize level 16,
  mask GZIP_2), ``uncompressed``.

lsst.images, starlink.Ast and astro_metadata_translator are imported inside the functions, so this
module imports without them (they are optional).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RA11", "DEC11", "TRACT_CRVAL", "TRACT_CRPIX", "TRACT_SIZE", "SCALE_DEG", "SEED", "SATURATION",
           "CELL_SIZE", "CELL_GRID_BOX", "PATCH_INNER_BOX", "PSF_SIZE", "VISIT_ID", "DETECTOR_ID",
           "DETECTOR_CENTRE_MM", "GALAXIES_PER_MPX", "STARS_PER_MPX", "COSMIC_RAYS_PER_MPX", "lsst_box",
           "tract_wcs", "tract_frame", "tract_projection", "visit_wcs", "ast_text", "camera_frame_set",
           "Population", "Scene", "small_scene", "realistic_scene", "target_xy", "sources_of", "add_gaussian",
           "add_artefacts", "draw_scene", "mask_schema", "deep_coadd_schema", "visit_schema", "image_planes",
           "masked_image", "cell_psf_array", "coadd_extra_planes", "cell_coadd", "visit_detector", "visit_image",
           "write_options", "write", "FileRecipe", "write_files"]

RA11, DEC11 = 53.318792, -27.844306  # the demo target 11
TRACT_CRVAL = (53.08755760368663, -27.520661157024797)
TRACT_CRPIX = 15000.0
TRACT_SIZE = 30000
SCALE_DEG = 0.2 / 3600.0
SEED = 20261203
SATURATION = 2.0e4  # nJy: the clip level of saturated pixels
CELL_SIZE = 150
CELL_GRID_BOX = (8850, 8850, 3300, 3300)  # patch 33's cell grid, x0, y0, w, h
PATCH_INNER_BOX = (8900, 8900, 3200, 3200)
PSF_SIZE = 25
VISIT_ID = 2026120300042
DETECTOR_ID = 94
DETECTOR_CENTRE_MM = (-63.6, 21.2)  # focal-plane position of detector 94's centre


def lsst_box(box):
    """``lsst.images.Box`` of a PARENT ``(x0, y0, width, height)``."""
    from lsst.images import Box

    x0, y0, width, height = box
    return Box.factory[y0:y0 + height, x0:x0 + width]


# -- projections --------------------------------------------------------------------------------
def tract_wcs():
    """The lsst_cells_v1 tract 5063 TAN (``astropy.wcs.WCS``; FITS pixels: tract pixel p is p + 1)."""
    import astropy.wcs

    wcs = astropy.wcs.WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(TRACT_CRVAL)
    wcs.wcs.crpix = [TRACT_CRPIX, TRACT_CRPIX]
    wcs.wcs.cd = np.array([[-SCALE_DEG, 0.0], [0.0, SCALE_DEG]])
    return wcs


def tract_frame():
    """The ``TractFrame`` of lsst_cells_v1 tract 5063."""
    from lsst.images import Box, TractFrame

    return TractFrame(skymap="lsst_cells_v1", tract=5063, bbox=Box.factory[0:TRACT_SIZE, 0:TRACT_SIZE])


def tract_projection():
    """``SkyProjection`` of the tract TAN in the tract frame."""
    from lsst.images import SkyProjection

    return SkyProjection.from_fits_wcs(tract_wcs(), tract_frame())


def visit_wcs(detector_shape):
    """TAN-SIP of a ``(height, width)`` detector: CRVAL 53.31 -27.85 at its centre, 0.2"/px, rotated 17 degrees."""
    import astropy.wcs

    height, width = detector_shape
    theta = math.radians(17.0)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    wcs = astropy.wcs.WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.wcs.crval = [53.31, -27.85]
    wcs.wcs.crpix = [width / 2.0 + 0.5, height / 2.0 + 0.5]
    wcs.wcs.cd = np.array([[-SCALE_DEG, 0.0], [0.0, SCALE_DEG]]) @ rot
    a = np.zeros((3, 3))
    b = np.zeros((3, 3))
    a[2, 0], a[1, 1], a[0, 2] = 4.0e-7, -2.5e-7, 1.5e-7
    b[2, 0], b[1, 1], b[0, 2] = -1.0e-7, 3.0e-7, 2.0e-7
    wcs.sip = astropy.wcs.Sip(a, b, None, None, wcs.wcs.crpix)
    return wcs


def ast_text(ast_object) -> str:
    """The AST text (no comments) of a ``starlink.Ast`` object, newline-terminated."""
    import starlink.Ast as Ast

    lines = []

    class LineSink:
        def astsink(self, line):
            lines.append(line)

    Ast.Channel(None, LineSink(), "Comment=0").write(ast_object)
    return "\n".join(lines) + "\n"


def camera_frame_set(detector_shape):
    """A ``CameraFrameSet`` with FOCAL_PLANE (mm), FIELD_ANGLE (rad) and DETECTOR_94 frames.

    Its constructor is private; the public way in is its serialization model's ``deserialize``.
    """
    import starlink.Ast as Ast
    from lsst.images.cameras import CameraFrameSetSerializationModel

    height, width = detector_shape
    focal = Ast.Frame(2, "Ident=FOCAL_PLANE, Domain=FOCAL_PLANE, Unit(1)=mm, Unit(2)=mm")
    frame_set = Ast.FrameSet(focal)
    field_angle = Ast.Frame(2, "Ident=FIELD_ANGLE, Domain=FIELD_ANGLE, Unit(1)=rad, Unit(2)=rad")
    frame_set.addframe(1, Ast.ZoomMap(2, 1.0e-5), field_angle)
    pixels = Ast.Frame(2, f"Ident=DETECTOR_{DETECTOR_ID}, Domain=PIXELS")
    pixels.Bottom_1, pixels.Top_1 = 0.0, float(width)
    pixels.Bottom_2, pixels.Top_2 = 0.0, float(height)
    # focal plane -> pixels: 10 micron pixels, the detector centre at DETECTOR_CENTRE_MM.
    cx, cy = DETECTOR_CENTRE_MM
    to_pixels = Ast.CmpMap(Ast.ShiftMap([-cx, -cy]), Ast.ZoomMap(2, 100.0), True)
    to_pixels = Ast.CmpMap(to_pixels, Ast.ShiftMap([width / 2.0, height / 2.0]), True)
    frame_set.addframe(1, to_pixels, pixels)
    frame_set.Base = 1
    model = CameraFrameSetSerializationModel(instrument="LSSTCam", ast=ast_text(frame_set))
    return model.deserialize(None)


# -- scenes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Population:
    """``count`` round Gaussian sources at uniform positions at least ``margin`` px inside the box.

    Flux: ``10 ** uniform(*log10_flux)`` when ``log10_flux`` is set (power-law counts), else
    ``uniform(*flux)``, nJy.  Sigma: ``uniform(*sigma)``, or a fixed ``sigma`` (a float, not drawn).
    """

    count: int
    flux: tuple = (50.0, 300.0)
    log10_flux: tuple | None = None
    sigma: tuple | float = (1.5, 4.0)
    margin: float = 0.0


@dataclass(frozen=True)
class Scene:
    """Noise plus Gaussian sources over a PARENT ``box``, and the mask planes they imply.

    ``target``: a 400 nJy, sigma 3 px source at target 11 (:data:`RA11`, :data:`DEC11`) through the
    projection, first.  Then the ``populations``, then the ``bright_stars``
    ``(x, y as fractions of the box, flux, sigma)``.  Variance: a sky of ~3 nJy**2 with a gentle
    gradient, plus ``model / gain`` when ``gain`` is set (the sources' own noise).  A source is drawn
    in a stamp where its profile exceeds ``stamp_floor`` nJy, or over the whole box when None.
    Planes: DETECTED (model > 3 sigma), SATURATED (model > :data:`SATURATION`), ``scattered`` random
    pixels in ``scattered_plane``, INTERPOLATED (saturated or scattered), NO_DATA on the top-right
    ``no_data_corner`` (width, height); DETECTION_EDGE on an ``edge`` px border when ``edge`` > 0;
    ``artefacts``: "coadd" (REJECTED and INEXACT_PSF star cores, a CLIPPED + REJECTED satellite
    streak), "visit" (three BAD columns, SUSPECT above half saturation) or None.  ``dtype``: the
    float type the sky, noise and model are computed in (float32 halves a full-size scene's memory;
    it also changes the low bits, so the compressed size of a lossy variance plane).
    """

    box: tuple
    seed: int = SEED
    target: bool = True
    populations: tuple = ()
    bright_stars: tuple = ()
    gain: float | None = None
    stamp_floor: float | None = None
    scattered: int = 25
    scattered_plane: str = "INTERPOLATED"
    no_data_corner: tuple = (60, 40)
    edge: int = 0
    artefacts: str | None = None
    dtype: type = np.float64


def small_scene(box, *, seed=SEED) -> Scene:
    """The tests' scene: target 11, six faint sources, one saturated star at (0.3, 0.65) of the box,
    25 INTERPOLATED pixels, a 60 x 40 NO_DATA corner; sources drawn over the whole box."""
    return Scene(box, seed=seed, populations=(Population(6, flux=(50.0, 300.0), sigma=(1.5, 4.0), margin=20),),
                 bright_stars=((0.3, 0.65, 5.0e5, 1.7),))


GALAXIES_PER_MPX = 52.0
STARS_PER_MPX = 10.4
COSMIC_RAYS_PER_MPX = 20.0


def realistic_scene(box, *, seed, artefacts) -> Scene:
    """The benchmark's scene: about 52 galaxies and 10 stars per megapixel (the bright stars saturated),
    sources' own noise (gain 200), 20 cosmic rays per megapixel, a 20 px DETECTION_EDGE border,
    a NO_DATA corner of a tenth x a twelfth of the box, ``artefacts`` "coadd" or "visit"; float32."""
    width, height = box[2], box[3]
    megapixels = width * height / 1e6
    galaxies = Population(int(round(GALAXIES_PER_MPX * megapixels)), log10_flux=(1.3, 3.5), sigma=(1.5, 6.0))
    stars = Population(int(round(STARS_PER_MPX * megapixels)), log10_flux=(2.0, 6.3), sigma=1.7)
    return Scene(box, seed=seed, populations=(galaxies, stars), gain=200.0, stamp_floor=0.05,
                 scattered=max(1, int(COSMIC_RAYS_PER_MPX * megapixels)), scattered_plane="COSMIC_RAY",
                 no_data_corner=(width // 10, height // 12), edge=20, artefacts=artefacts,
                 dtype=np.float32)


def target_xy(projection):
    """PARENT ``(x, y)`` of target 11 through ``projection``."""
    from astropy.coordinates import SkyCoord

    xy = projection.sky_to_pixel(SkyCoord(RA11, DEC11, unit="deg"))
    return float(xy.x), float(xy.y)


def sources_of(scene: Scene, rng, projection) -> list:
    """``[(x, y, flux, sigma)]`` of the scene's sources, in drawing order (see :class:`Scene`)."""
    x0, y0, width, height = scene.box
    sources = [(*target_xy(projection), 400.0, 3.0)] if scene.target else []
    for population in scene.populations:
        m = population.margin
        for _ in range(population.count):
            x = x0 + rng.uniform(m, width - m)
            y = y0 + rng.uniform(m, height - m)
            if population.log10_flux is not None:
                flux = 10 ** rng.uniform(*population.log10_flux)
            else:
                flux = rng.uniform(*population.flux)
            sigma = population.sigma
            if not isinstance(sigma, (int, float)):
                sigma = rng.uniform(*sigma)
            sources.append((x, y, flux, sigma))
    for fx, fy, flux, sigma in scene.bright_stars:
        sources.append((x0 + fx * width, y0 + fy * height, flux, sigma))
    return sources


def add_gaussian(model, box, source, stamp_floor=None) -> None:
    """Add a round Gaussian ``(x, y, flux, sigma)`` to ``model`` (the PARENT ``box``), in its stamp."""
    x0, y0, width, height = box
    sx, sy, flux, sigma = source
    peak = flux / (2 * math.pi * sigma**2)
    ix0, ix1, iy0, iy1 = x0, x0 + width, y0, y0 + height
    if stamp_floor is not None:
        r = int(math.ceil(sigma * math.sqrt(2.0 * math.log(max(peak / stamp_floor, 1.0001))))) + 1
        ix0, ix1 = max(int(sx) - r, ix0), min(int(sx) + r + 1, ix1)
        iy0, iy1 = max(int(sy) - r, iy0), min(int(sy) + r + 1, iy1)
        if ix1 <= ix0 or iy1 <= iy0:
            return
    dx2 = (np.arange(ix0, ix1, dtype=float)[None, :] - sx) ** 2
    dy2 = (np.arange(iy0, iy1, dtype=float)[:, None] - sy) ** 2
    model[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] += peak * np.exp(-(dx2 + dy2) / (2 * sigma**2))


def add_artefacts(planes, scene: Scene, rng, model) -> None:
    """The scene's DETECTION_EDGE border and coadd or visit artefact planes (see :class:`Scene`)."""
    height, width = model.shape
    if scene.edge > 0:
        edge = np.zeros(model.shape, bool)
        e = scene.edge
        edge[:e], edge[-e:], edge[:, :e], edge[:, -e:] = True, True, True, True
        planes["DETECTION_EDGE"] = edge
    if scene.artefacts == "coadd":
        streak = np.abs((np.arange(height)[:, None] - 0.31 * np.arange(width)[None, :]) - 0.2 * height) < 2.0
        planes["REJECTED"] = planes["SATURATED"] | streak
        planes["INEXACT_PSF"] = planes["SATURATED"].copy()
        planes["CLIPPED"] = streak
    elif scene.artefacts == "visit":
        planes["BAD"] = np.zeros(model.shape, bool)
        for column in rng.integers(100, width - 100, 3):
            planes["BAD"][:, column] = True
        planes["SUSPECT"] = model > 0.5 * SATURATION
    elif scene.artefacts is not None:
        raise ValueError(f"artefacts must be 'coadd', 'visit' or None, not {scene.artefacts!r}")


def draw_scene(scene: Scene, projection):
    """``(image, variance, planes)`` of a scene: float32 arrays and ``{plane name: boolean array}``."""
    x0, y0, width, height = scene.box
    rng = np.random.default_rng(scene.seed)
    xs = np.arange(x0, x0 + width, dtype=scene.dtype)[None, :]
    ys = np.arange(y0, y0 + height, dtype=scene.dtype)[:, None]
    variance = 3.0 * (1.0 + 0.15 * np.sin(xs / 97.0) * np.cos(ys / 131.0))
    noise = rng.standard_normal((height, width), dtype=scene.dtype)
    model = np.zeros((height, width), scene.dtype)
    for source in sources_of(scene, rng, projection):
        add_gaussian(model, scene.box, source, scene.stamp_floor)
    if scene.gain is not None:
        variance = variance + np.maximum(model, 0.0) / scene.gain
    image = noise * np.sqrt(variance)
    del noise
    image += model
    planes = {"DETECTED": model > 3.0 * np.sqrt(variance), "SATURATED": model > SATURATION}
    scattered = np.zeros(model.shape, bool)
    scattered.flat[rng.integers(0, model.size, scene.scattered)] = True
    planes[scene.scattered_plane] = scattered
    planes["INTERPOLATED"] = scattered | planes["SATURATED"]
    add_artefacts(planes, scene, rng, model)
    image[planes["SATURATED"]] = SATURATION
    corner_width, corner_height = scene.no_data_corner
    planes["NO_DATA"] = np.zeros(model.shape, bool)
    planes["NO_DATA"][height - corner_height:, width - corner_width:] = True
    image[planes["NO_DATA"]] = np.nan
    variance[planes["NO_DATA"]] = np.nan
    return image.astype(np.float32), variance.astype(np.float32), planes


# -- objects ------------------------------------------------------------------------------------
def mask_schema(planes):
    """A uint8 ``MaskSchema`` of ``planes`` (``MaskPlane`` objects or names), in bit order."""
    from lsst.images import MaskSchema

    return MaskSchema(list(planes), dtype=np.uint8)


def deep_coadd_schema():
    """The legacy deep-coadd mask planes (NO_DATA bit 0, SATURATED 3, DETECTED 7)."""
    from lsst.images import get_legacy_deep_coadd_mask_planes

    return mask_schema(get_legacy_deep_coadd_mask_planes().values())


def visit_schema():
    """The legacy visit-image mask planes (NO_DATA bit 7, SATURATED 1, DETECTED 5)."""
    from lsst.images import get_legacy_visit_image_mask_planes

    return mask_schema(get_legacy_visit_image_mask_planes().values())


def image_planes(scene: Scene, projection, schema):
    """``(image, mask, variance)`` lsst.images objects of a drawn scene; the mask has the schema's planes."""
    import astropy.units as u
    from lsst.images import Image, Mask

    image, variance, planes = draw_scene(scene, projection)
    bbox = lsst_box(scene.box)
    mask = Mask(schema=schema, bbox=bbox)
    for name, pixels in planes.items():
        if name in schema.names:
            mask.set(name, pixels)
    return Image(image, bbox=bbox, unit=u.nJy), mask, Image(variance, bbox=bbox, unit=u.nJy**2)


def masked_image(scene: Scene, projection, schema, *, cls=None, **kwargs):
    """A ``MaskedImage`` (or ``cls``, with ``kwargs``: a VisitImage, a CellCoadd) of a scene."""
    from lsst.images import MaskedImage

    image, mask, variance = image_planes(scene, projection, schema)
    return (cls or MaskedImage)(image, mask=mask, variance=variance, sky_projection=projection, **kwargs)


def cell_psf_array(bounds, sigma_slopes):
    """A :data:`PSF_SIZE` square Gaussian PSF image per cell of ``bounds``, NaN for missing cells.

    Sigma ``1.6 + di * i + dj * j`` px for cell (i, j), ``(di, dj) = sigma_slopes``.
    """
    from lsst.images.cells import CellIJ

    n_i, n_j = bounds.subgrid_size.i, bounds.subgrid_size.j
    start = bounds.subgrid_start
    r = PSF_SIZE // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(float)
    array = np.empty((n_i, n_j, PSF_SIZE, PSF_SIZE))
    di, dj = sigma_slopes
    for i in range(n_i):
        for j in range(n_j):
            index = CellIJ(i=start.i + i, j=start.j + j)
            if index in bounds.missing:
                array[i, j] = np.nan
                continue
            sigma = 1.6 + di * index.i + dj * index.j
            kernel = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
            array[i, j] = kernel / kernel.sum()
    return array


def coadd_extra_planes(mask, variance, seed) -> dict:
    """CellCoadd keyword arguments of a real coadd's extra planes: the fraction of REJECTED inputs
    (0.25 where REJECTED) and one noise realization drawn from ``variance`` (rng ``seed``)."""
    import astropy.units as u
    from lsst.images import Image

    rng = np.random.default_rng(seed)
    rejected = mask.get("REJECTED")
    fraction = np.where(rejected, np.float32(0.25), np.float32(0.0)).astype(np.float32)
    noise = (rng.standard_normal(rejected.shape, dtype=np.float32) * np.sqrt(variance.array)).astype(np.float32)
    return {"mask_fractions": {"REJECTED": Image(fraction, bbox=mask.bbox)},
            "noise_realizations": [Image(noise, bbox=mask.bbox, unit=u.nJy)]}


def cell_coadd(scene: Scene, missing_cell, *, psf_sigma_slopes, extra_planes_seed=None):
    """``CellCoadd`` of patch 33 over ``scene.box`` (whole cells), band r, deep-coadd mask planes.

    ``missing_cell`` ``(i, j)``: NO_DATA only, image 0, variance inf, PSF NaN (noise 0).  A PSF image
    per cell (:func:`cell_psf_array`); with ``extra_planes_seed``, the :func:`coadd_extra_planes`.
    """
    from lsst.images import YX, Box
    from lsst.images.cells import CellCoadd, CellGrid, CellGridBounds, CellIJ, CellPointSpreadFunction
    from lsst.images.cells import PatchDefinition

    grid = CellGrid(bbox=lsst_box(CELL_GRID_BOX), cell_shape=YX(y=CELL_SIZE, x=CELL_SIZE))
    missing = CellIJ(i=missing_cell[0], j=missing_cell[1])
    bounds = CellGridBounds(grid=grid, bbox=lsst_box(scene.box), missing=frozenset({missing}))
    psf = CellPointSpreadFunction(cell_psf_array(bounds, psf_sigma_slopes), bounds=bounds)
    ix, iy, iw, ih = PATCH_INNER_BOX
    patch = PatchDefinition(id=33, index=YX(y=3, x=3), inner_bbox=Box.factory[iy:iy + ih, ix:ix + iw], cells=grid)
    projection = tract_projection()
    image, mask, variance = image_planes(scene, projection, deep_coadd_schema())
    extras = {} if extra_planes_seed is None else coadd_extra_planes(mask, variance, extra_planes_seed)
    obj = CellCoadd(image, mask=mask, variance=variance, sky_projection=projection, psf=psf, band="r",
                    patch=patch, **extras)
    cell = grid.bbox_of(missing)
    obj.image[cell].array[...] = 0.0
    obj.variance[cell].array[...] = np.inf
    for noise in obj.noise_realizations:
        noise[cell].array[...] = 0.0
    obj.mask[cell].clear()
    obj.mask[cell].set("NO_DATA")
    return obj


def visit_detector(detector_shape):
    """The ``Detector`` R22_S11 (id 94) of visit :data:`VISIT_ID`, ``(height, width)`` pixels."""
    from lsst.images import Box
    from lsst.images.cameras import Detector, DetectorAttributes, DetectorType, Orientation

    height, width = detector_shape
    cx, cy = DETECTOR_CENTRE_MM
    attributes = DetectorAttributes(
        name="R22_S11", id=DETECTOR_ID, type=DetectorType.SCIENCE, serial="ITL-3800C-000",
        bbox=Box.factory[0:height, 0:width],
        orientation=Orientation(focal_plane_x=cx, focal_plane_y=cy, focal_plane_z=0.0,
                                pixel_reference_x=width / 2.0 - 0.5, pixel_reference_y=height / 2.0 - 0.5),
        pixel_size=0.01, physical_type="ITL")
    return Detector(attributes, [], camera_frame_set(detector_shape), visit=VISIT_ID)


def visit_image(scene: Scene, *, psf_sigma):
    """``VisitImage`` of detector 94 over ``scene.box`` (x0 = y0 = 0): TAN-SIP, Gaussian PSF of
    ``psf_sigma`` px, band r (physical filter r_57), legacy visit mask planes."""
    from astro_metadata_translator import ObservationInfo
    from lsst.images import Box, SkyProjection, VisitImage
    from lsst.images.psfs import GaussianPointSpreadFunction

    x0, y0, width, height = scene.box
    if (x0, y0) != (0, 0):
        raise ValueError(f"a visit image's box starts at (0, 0), not {(x0, y0)}")
    shape = (height, width)
    detector = visit_detector(shape)
    projection = SkyProjection.from_fits_wcs(visit_wcs(shape), detector.frame)
    obs_info = ObservationInfo.makeObservationInfo(
        physical_filter="r_57", instrument="LSSTCam", detector_num=DETECTOR_ID, visit_id=VISIT_ID)
    psf = GaussianPointSpreadFunction(psf_sigma, bounds=Box.factory[0:height, 0:width], stamp_size=PSF_SIZE)
    return masked_image(scene, projection, visit_schema(), cls=VisitImage, obs_info=obs_info, psf=psf,
                        detector=detector, band="r")


# -- writing ------------------------------------------------------------------------------------
def write_options(compression: str, seed: int | None = None) -> dict:
    """``GeneralizedImage.write`` keyword arguments of a compression recipe (see the module docstring);
    ``seed``: the ``compression_seed`` of ``lossy16``."""
    from lsst.images.fits import FitsCompressionOptions

    if compression == "gzip2":
        return {}
    if compression == "uncompressed":
        return {"compression_options": {"image": None, "mask": None, "variance": None}}
    if compression == "lossy16":
        options = {"image": FitsCompressionOptions.LOSSY, "variance": FitsCompressionOptions.LOSSY,
                   "mask": FitsCompressionOptions.DEFAULT}
        return {"compression_options": options, **({} if seed is None else {"compression_seed": seed})}
    raise ValueError(f"unknown compression recipe {compression!r} (gzip2, lossy16, uncompressed)")


def write(obj, path, *, compression="gzip2", seed=None) -> None:
    """Write ``obj`` to ``path`` under a temporary name, then rename: an existing file is complete."""
    path = Path(path)
    partial = path.with_name(path.stem + ".partial.fits")
    partial.unlink(missing_ok=True)
    obj.write(str(partial), **write_options(compression, seed))
    os.replace(partial, path)


@dataclass(frozen=True)
class FileRecipe:
    """How to make one file: ``build()`` returns the lsst.images object, written with ``compression``
    (a :func:`write_options` recipe) and ``seed``."""

    build: Callable[[], object]
    compression: str = "gzip2"
    seed: int | None = None


def write_files(dest, recipes: dict, kinds) -> dict[str, Path]:
    """``{kind: dest/<kind>.fits}`` of ``kinds`` (keys of ``recipes``), each written unless it exists.

    Consecutive kinds with the same ``build`` callable share one object (built once, then dropped).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out, built = {}, {}
    for kind in kinds:
        path = dest / f"{kind}.fits"
        recipe = recipes[kind]
        if not path.exists():
            if recipe.build not in built:
                built.clear()
                built[recipe.build] = recipe.build()
            write(built[recipe.build], path, compression=recipe.compression, seed=recipe.seed)
        out[kind] = path
    return out
