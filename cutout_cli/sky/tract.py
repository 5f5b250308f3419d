"""Tracts and patches: one sky projection's pixel grid, divided into patches (docs/conventions.md, section 2).

Pixel conventions: tract (PARENT) pixels are LSST 0-based pixels of the
tract-wide grid whose first pixel is (0, 0); for the tract WCS that is
astropy's ``origin=0`` pixel, and FITS ``CRPIX = lsst + 1``.  A float position
belongs to the pixel it rounds to, half up (:func:`~cutout_cli.sky.box.round_half_up`).
Angles are in degrees unless a name says otherwise.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import NotFoundError
from .box import Box, pixel_indices
from .sphere import angular_separation

__all__ = ["Patch", "Tract", "tan_header"]


@dataclass(frozen=True)
class Patch:
    """One patch of a tract; boxes are in tract (PARENT) pixels.

    ``inner`` boxes tile the tract; ``outer`` is ``inner`` grown by the patch
    border (clipped to the tract only for the legacy tract builder) and is the
    extent of a coadd file.
    """

    tract: int
    index: int
    x: int
    y: int
    inner: Box
    outer: Box

    def get_bbox(self, origin: str = "parent") -> Box:
        """The outer box (the coadd file's extent) in PARENT or LOCAL pixels (``getBBox``)."""
        if origin == "local":
            return self.outer.to_local((self.outer.begin_x, self.outer.begin_y))
        return self.outer


class Tract:
    """A tract: a pixel grid on one sky projection, divided into patches.

    Parameters
    ----------
    tract_id : int
        The tract id.
    wcs_header : dict
        FITS WCS keywords of the tract-wide image whose first pixel is PARENT
        (0, 0) (so ``CRPIX`` is 1-based FITS in tract pixels).
    bbox : Box
        Tract bounding box in PARENT pixels (begins at (0, 0)).
    patch_inner_dimensions : (int, int)
        Inner patch width and height in pixels.
    patch_border : int
        Pixels by which the outer patch box extends the inner one.
    clip_outer : bool
        Clip outer patch boxes to the tract (legacy builder) or not (cells).
    wcs, center, reach : optional
        The values of the properties of these names when already known
        (otherwise computed on first use).
    """

    def __init__(self, tract_id, wcs_header, bbox, patch_inner_dimensions, patch_border, clip_outer=False, *,
                 wcs=None, center=None, reach=None):
        if wcs is not None:  # known already (an image index parses it once): the cached properties' values
            self.__dict__["wcs"] = wcs
        if center is not None:
            self.__dict__["center"] = tuple(center)
        if reach is not None:
            self.__dict__["reach"] = float(reach)
        self.id = int(tract_id)
        self.wcs_header = dict(wcs_header)
        self.bbox = bbox
        self.patch_inner_dimensions = (int(patch_inner_dimensions[0]), int(patch_inner_dimensions[1]))
        self.patch_border = int(patch_border)
        self.clip_outer = bool(clip_outer)
        pw, ph = self.patch_inner_dimensions
        self.num_patches = (-(-bbox.width // pw), -(-bbox.height // ph))

    def __repr__(self) -> str:
        return f"Tract({self.id}, bbox={self.bbox}, patches={self.num_patches[0]}x{self.num_patches[1]})"

    @cached_property
    def wcs(self):
        """astropy WCS of the tract grid; use ``origin=0`` for PARENT pixels."""
        from astropy.wcs import WCS

        return WCS(self.wcs_header)

    @cached_property
    def center(self) -> tuple[float, float]:
        """Sky position (ra, dec) of the tract bbox centre, degrees."""
        cx, cy = self.bbox.center
        ra, dec = self.wcs.all_pix2world([[cx, cy]], 0)[0]
        return float(ra) % 360.0, float(dec)

    @cached_property
    def pixel_scale(self) -> float:
        """Pixel scale in arcsec/pixel at the reference pixel."""
        from astropy.wcs.utils import proj_plane_pixel_scales

        return float(np.sqrt(np.prod(proj_plane_pixel_scales(self.wcs))) * 3600.0)

    @cached_property
    def reach(self) -> float:
        """Largest distance (deg) from :attr:`center` to a corner of the outermost patch boxes."""
        grown = self.bbox.grown(self.patch_border)
        xs = np.array([grown.begin_x, grown.end_x, grown.begin_x, grown.end_x]) - 0.5
        ys = np.array([grown.begin_y, grown.begin_y, grown.end_y, grown.end_y]) - 0.5
        ra, dec = self.wcs.all_pix2world(xs, ys, 0)
        return float(np.max(angular_separation(self.center[0], self.center[1], ra, dec)))

    def sky_to_pixel(self, ra, dec):
        """Float PARENT pixel position(s) (x, y) of sky position(s) in degrees (SIP distortion included)."""
        with warnings.catch_warnings():  # the SIP inverse warns on positions off the projection (NaN)
            warnings.simplefilter("ignore", RuntimeWarning)
            x, y = self.wcs.all_world2pix(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float), 0, quiet=True)
        return x, y

    def pixel_to_sky(self, x, y):
        """Sky position(s) (ra, dec) in degrees of PARENT pixel position(s) (SIP distortion included)."""
        return self.wcs.all_pix2world(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 0)

    def holds(self, x, y):
        """Whether float PARENT positions (arrays or scalars) fall on pixels of the tract's bbox: rounded half
        up, inside ``[begin, end)``.  Non-finite positions are not held."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        finite = np.isfinite(x) & np.isfinite(y)
        with np.errstate(invalid="ignore"):
            ix, iy = pixel_indices(np.where(finite, x, -np.inf)), pixel_indices(np.where(finite, y, -np.inf))
            box = self.bbox
            return finite & (ix >= box.begin_x) & (ix < box.end_x) & (iy >= box.begin_y) & (iy < box.end_y)

    # -- patches ------------------------------------------------------------
    def patch_index(self, x, y):
        """Sequential patch index ``y * nx + x`` of patch grid positions (ints, or integer arrays)."""
        if isinstance(x, (int, np.integer)) and isinstance(y, (int, np.integer)):
            return int(y) * self.num_patches[0] + int(x)
        return np.asarray(y) * self.num_patches[0] + np.asarray(x)

    def patch_indices_of(self, x, y):
        """Sequential index of the patch whose inner box holds each float PARENT position (held ones only:
        see :meth:`holds`); an integer array."""
        pw, ph = self.patch_inner_dimensions
        ix, iy = pixel_indices(x).astype(np.int64), pixel_indices(y).astype(np.int64)
        return self.patch_index(ix // pw, iy // ph)

    def patch(self, index: int | tuple[int, int]) -> Patch:
        """The patch with a sequential index or an ``(x, y)`` pair."""
        nx, ny = self.num_patches
        if isinstance(index, tuple):
            px, py = int(index[0]), int(index[1])
        else:
            px, py = int(index) % nx, int(index) // nx
            if int(index) < 0:
                py = -1
        if not (0 <= px < nx and 0 <= py < ny):
            raise NotFoundError(
                f"patch {index} is not in tract {self.id}",
                f"patches run from 0 to {nx * ny - 1} (x 0..{nx - 1}, y 0..{ny - 1})",
            )
        pw, ph = self.patch_inner_dimensions
        inner = Box(px * pw, py * ph, pw, ph).intersection(self.bbox)
        outer = inner.grown(self.patch_border)
        if self.clip_outer:
            outer = outer.intersection(self.bbox)
        return Patch(self.id, self.patch_index(px, py), px, py, inner, outer)

    def patches(self):
        """All patches of the tract, by sequential index."""
        nx, ny = self.num_patches
        return [self.patch(i) for i in range(nx * ny)]

    def find_patch(self, ra: float, dec: float) -> Patch:
        """The one patch whose inner box holds (ra, dec) (lsst findPatch)."""
        x, y = self.sky_to_pixel(ra, dec)
        if not self.holds(x, y):
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is not in tract {self.id}")
        return self.patch(int(self.patch_indices_of(x, y)))

    def patches_overlapping(self, ra: float, dec: float, radius: float = 0.0) -> list[Patch]:
        """Patches whose outer region holds (ra, dec), or may overlap a circle of ``radius`` degrees.

        The outer region is the sky polygon through the outer box's pixel-edge
        corners (``begin - 0.5``, ``end - 0.5``), as the Butler's patch regions.
        For a point the answer is exact: with a TAN tract WCS great circles are
        straight lines in pixel space, so the test on the pixel position is
        exact.  For a circle it is a superset (outer boxes within the radius
        plus a margin, in pixels): :mod:`cutout_cli.sky.regions` decides exactly.
        """
        if angular_separation(self.center[0], self.center[1], ra, dec) > self.reach + radius:
            return []
        x, y = (float(v) for v in self.sky_to_pixel(ra, dec))
        if not (math.isfinite(x) and math.isfinite(y)):
            return []
        pw, ph = self.patch_inner_dimensions
        reach_px = radius * 3600.0 / self.pixel_scale * 1.05 + 2  # TAN stretches angles by < 5% within a tract
        margin = self.patch_border + reach_px
        nx, ny = self.num_patches
        found = []
        for py in range(max(0, int((y - margin) // ph)), min(ny, int((y + margin) // ph) + 1)):
            for px in range(max(0, int((x - margin) // pw)), min(nx, int((x + margin) // pw) + 1)):
                patch = self.patch((px, py))
                o = patch.outer
                dx = max(o.begin_x - 0.5 - x, 0.0, x - (o.end_x - 0.5))
                dy = max(o.begin_y - 0.5 - y, 0.0, y - (o.end_y - 0.5))
                if (radius == 0 and dx == 0 and dy == 0) or (radius > 0 and math.hypot(dx, dy) <= reach_px):
                    found.append(patch)
        return sorted(found, key=lambda p: p.index)

    def image_wcs_header(self, xy0: tuple[int, int]) -> dict:
        """Tract WCS keywords for an image whose first pixel is PARENT ``xy0``."""
        header = dict(self.wcs_header)
        header["CRPIX1"] = self.wcs_header["CRPIX1"] - xy0[0]
        header["CRPIX2"] = self.wcs_header["CRPIX2"] - xy0[1]
        return header


def tan_header(ra: float, dec: float, crpix_fits: tuple[float, float], scale_deg: float, projection: str) -> dict:
    """FITS WCS keywords of a north-up, east-left projection (``CD1_1 = -scale``) centred on (ra, dec)."""
    return {
        "CTYPE1": f"RA---{projection}",
        "CTYPE2": f"DEC--{projection}",
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "CRVAL1": float(ra),
        "CRVAL2": float(dec),
        "CRPIX1": float(crpix_fits[0]),
        "CRPIX2": float(crpix_fits[1]),
        "CD1_1": -scale_deg,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": scale_deg,
        "RADESYS": "ICRS",
    }
