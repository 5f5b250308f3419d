"""Sky regions (IVOA POS: CIRCLE, POLYGON, RANGE) with lsst-sphgeom, the Butler's own geometry library.

* :func:`parse_region` reads an IVOA POS string (degrees).
* :func:`overlapping_patches` returns exactly the patches whose outer region
  (the polygon through the outer box's pixel-edge corners, as the Butler's
  patch regions) overlaps the region: candidates are pre-selected in pixel
  space, sphgeom decides.
* :func:`enclosing_box` and :func:`outside_mask` serve ``subset --pos``.

lsst-sphgeom is imported only here, so only region requests pay for it.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError, NotFoundError
from .box import Box
from .sphere import angular_separation, offset_point

__all__ = ["SHAPES", "parse_region", "bounding_circle", "patch_polygon", "overlapping_patches", "enclosing_box",
           "boundary_points", "outside_mask", "mask_outside"]

SHAPES = ("CIRCLE", "POLYGON", "RANGE")


def parse_region(text: str):
    """An ``lsst.sphgeom`` region from ``CIRCLE ra dec r``, ``POLYGON ra1 dec1 ...`` or ``RANGE ra1 ra2 dec1 dec2``."""
    from lsst.sphgeom import Region

    shape = text.split()[0].upper() if text.split() else ""
    if shape not in SHAPES:
        raise InputError(f"unknown region {text!r}", "use CIRCLE ra dec r, POLYGON ra1 dec1 ..., RANGE ra1 ra2 dec1 dec2")
    try:
        values = [float(v) for v in text.split()[1:]]
    except ValueError:
        raise InputError(f"cannot read the numbers of {text!r}", "give degrees") from None
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"region {text!r} has a non-finite number")
    if shape == "CIRCLE" and (len(values) != 3 or not 0 < values[2] <= 90):
        raise InputError(f"cannot read {text!r}", "CIRCLE takes ra dec radius, radius in (0, 90] degrees")
    if shape == "RANGE" and (len(values) != 4 or not -90 <= values[2] <= values[3] <= 90):
        raise InputError(f"cannot read {text!r}", "RANGE takes ra1 ra2 dec1 dec2 with dec1 <= dec2 in [-90, 90]")
    if shape == "POLYGON" and (len(values) < 6 or len(values) % 2):
        raise InputError(f"cannot read {text!r}", "POLYGON takes at least 3 vertices: ra1 dec1 ra2 dec2 ra3 dec3 ...")
    if any(not -90 <= d <= 90 for d in values[1::2][: len(values) // 2]) and shape == "POLYGON":
        raise InputError(f"a vertex of {text!r} has Dec outside [-90, 90]")
    try:
        return Region.from_ivoa_pos(" ".join([shape, *map(repr, values)]))
    except (ValueError, RuntimeError) as err:
        raise InputError(f"cannot use region {text!r}: {err}", "a POLYGON must be convex") from None


def bounding_circle(region) -> tuple[float, float, float]:
    """(ra, dec, radius) in degrees of a circle holding the region."""
    from lsst.sphgeom import LonLat

    circle = region.getBoundingCircle()
    centre = LonLat(circle.getCenter())
    return (centre.getLon().asDegrees(), centre.getLat().asDegrees(), circle.getOpeningAngle().asDegrees())


def patch_polygon(tract, patch):
    """The patch's outer region as a sphgeom ConvexPolygon (pixel-edge corners of the outer box)."""
    from lsst.sphgeom import ConvexPolygon, LonLat, UnitVector3d

    o = patch.outer
    ras, decs = tract.pixel_to_sky([o.begin_x - 0.5, o.end_x - 0.5, o.end_x - 0.5, o.begin_x - 0.5],
                                   [o.begin_y - 0.5, o.begin_y - 0.5, o.end_y - 0.5, o.end_y - 0.5])
    return ConvexPolygon([UnitVector3d(LonLat.fromDegrees(float(r), float(d))) for r, d in zip(ras, decs)])


def overlapping_patches(skymap, region) -> list:
    """Every patch (of every tract) whose outer region overlaps ``region``, by tract then patch."""
    ra, dec, radius = bounding_circle(region)
    return [patch for patch in skymap.patches_overlapping(ra, dec, radius)
            if _overlaps(region, patch_polygon(skymap.tract(patch.tract), patch))]


def _overlaps(region, polygon) -> bool:
    """sphgeom's answer; where it cannot tell (None) it says 'may overlap', and so do we."""
    answer = region.overlaps(polygon)
    return True if answer is None else bool(answer)


def enclosing_box(frame, region) -> Box:
    """The PARENT box of the pixels (of ``frame``: a Tract or an image) holding the region.

    The region's boundary is sampled densely (every ~1/4 pixel along a circle
    or edge), projected, and the float bounds expanded to whole pixels.
    """
    ras, decs = boundary_points(region, frame.pixel_scale)
    xs, ys = frame.sky_to_pixel(ras, decs)
    if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
        raise NotFoundError("the region cannot be projected onto this image", "is it on the other side of the sky?")
    return Box.from_float_bounds(float(np.min(xs)), float(np.min(ys)), float(np.max(xs)), float(np.max(ys)))


def boundary_points(region, pixel_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (ra, dec arrays, degrees) along the region's boundary, about a quarter pixel apart."""
    from lsst.sphgeom import Circle, ConvexPolygon, LonLat

    step = pixel_scale / 3600.0 / 4
    if isinstance(region, Circle):
        ra, dec, radius = bounding_circle(region)
        n = max(16, int(2 * math.pi * radius / step))
        return _circle_points(ra, dec, radius, n)
    if isinstance(region, ConvexPolygon):
        corners = [(LonLat(v).getLon().asDegrees(), LonLat(v).getLat().asDegrees()) for v in region.getVertices()]
    else:  # a lon/lat box (RANGE)
        lon, lat = region.getLon(), region.getLat()
        a, b = lon.getA().asDegrees(), lon.getB().asDegrees()
        b = b if b >= a else b + 360.0
        d0, d1 = lat.getA().asDegrees(), lat.getB().asDegrees()
        corners = [(a, d0), (b, d0), (b, d1), (a, d1)]
    return _edge_points(corners, step, great_circles=isinstance(region, ConvexPolygon))


def _circle_points(ra, dec, radius, n):
    points = [offset_point(ra, dec, 360.0 * i / n, radius) for i in range(n)]
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def _edge_points(corners, step, great_circles: bool):
    ras, decs = [], []
    for (r0, d0), (r1, d1) in zip(corners, corners[1:] + corners[:1]):
        length = float(angular_separation(r0, d0, r1, d1)) if great_circles else max(abs(r1 - r0), abs(d1 - d0))
        t = np.linspace(0.0, 1.0, max(2, int(length / step) + 2))
        if great_circles:  # interpolate on the great circle
            a, b = _unit(r0, d0), _unit(r1, d1)
            points = a[None, :] * (1 - t)[:, None] + b[None, :] * t[:, None]
            points /= np.linalg.norm(points, axis=1)[:, None]
            ras.append(np.degrees(np.arctan2(points[:, 1], points[:, 0])) % 360.0)
            decs.append(np.degrees(np.arcsin(points[:, 2])))
        else:  # a RANGE edge: constant RA or constant Dec
            ras.append((r0 + (r1 - r0) * t) % 360.0)
            decs.append(d0 + (d1 - d0) * t)
    return np.concatenate(ras), np.concatenate(decs)


def _unit(ra, dec):
    ra, dec = math.radians(ra), math.radians(dec)
    return np.array([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])


def outside_mask(cutout, region) -> np.ndarray:
    """Boolean array: cutout pixels whose centre lies outside the region."""
    height, width = cutout.bbox.shape
    yy, xx = np.mgrid[0:height, 0:width]
    ra, dec = cutout.wcs.all_pix2world(xx.ravel(), yy.ravel(), 0)
    inside = region.contains(np.radians(ra), np.radians(dec))
    return ~np.asarray(inside, dtype=bool).reshape(height, width)


def mask_outside(cutout, region) -> int:
    """Set pixels outside the region to NaN (IMAGE, VARIANCE) and the cutout's NO_DATA value (MASK);
    return how many."""
    outside = outside_mask(cutout, region)
    for name, array in cutout.planes.items():
        if name == "MASK":
            array[outside] |= cutout.no_data_value
        elif array.dtype.kind == "f":
            array[outside] = np.nan
    return int(outside.sum())
