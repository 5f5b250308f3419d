"""Which way up a picture goes: north up, east left, from the cutout's WCS.

A cutout array is indexed ``[y, x]`` (row 0 is FITS ``y = 0``, pixel origin 0
at the centre of the first pixel).  Drawn plainly (row 0 at the bottom,
column 0 at the left, as ds9 draws it) it is north up and east left only for
a standard WCS (``CD1_1 < 0``, ``CD2_2 > 0``, no rotation).  Any other WCS
(mirrored, transposed, rotated) needs the picture turned:

* the **exact part** is one of the eight flips and quarter turns of the
  array (a transpose and/or reversals of rows and columns): pixels are moved,
  never interpolated;
* the **residual rotation** is what remains, at most 45 degrees either way;
  the writers rotate the rendered 8-bit picture by it (Pillow, bicubic),
  only when it would move a corner of the picture by half a pixel or more.

Only pictures are turned: FITS cutouts keep the source's pixels and grid.

The directions are those of the WCS's own celestial frame at the centre of
the array: "north" is towards increasing latitude (Dec for an equatorial
WCS), "east" towards increasing longitude; distortion (SIP) is included.
Angles are in degrees, counter-clockwise as the picture is seen.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ..sky.sphere import angular_separation, offset_point

__all__ = ["Orientation", "PLAIN", "UNKNOWN", "orientation_from_wcs"]

# A residual rotation is applied when it is at least this many degrees and moves the picture's corners by
# at least this many pixels: a coadd tract's north tilts by a fraction of a degree away from its centre,
# and resampling a picture for that (with black slivers at its edges) helps nobody.
ROTATION_MIN_DEGREES = 1.0
ROTATION_MIN_SHIFT = 0.5


@dataclass(frozen=True)
class Orientation:
    """How an array ``[y, x]`` becomes a north-up, east-left picture (row 0 at the top).

    The exact part is applied in this order: swap the axes (``transpose``),
    then reverse the rows (``flip_rows``), then the columns
    (``flip_columns``).  The plain view is ``flip_rows`` alone.  Then the
    picture is rotated by :attr:`rotation` degrees counter-clockwise.

    Attributes
    ----------
    residual : float
        Degrees counter-clockwise that north still is from straight up after
        the exact part, in ``[-45, 45]``.
    rotate : bool
        Whether the residual is applied (it would move a corner of the
        picture by at least :data:`ROTATION_MIN_SHIFT` pixels).
    known : bool
        False when there was no usable WCS: the plain view is used, and is
        north up, east left only if the WCS is standard.
    """

    transpose: bool = False
    flip_rows: bool = True
    flip_columns: bool = False
    residual: float = 0.0
    rotate: bool = False
    known: bool = True

    @property
    def rotation(self) -> float:
        """Degrees counter-clockwise the rendered picture is rotated by (0: none)."""
        return self.residual if self.rotate else 0.0

    def exact(self, pixels: np.ndarray) -> np.ndarray:
        """The exact part applied to ``pixels`` (``[y, x]`` or ``[y, x, channel]``): a contiguous copy
        whose row 0 is the top of the picture.  No value changes, only places."""
        out = np.swapaxes(pixels, 0, 1) if self.transpose else pixels
        if self.flip_rows:
            out = out[::-1]
        if self.flip_columns:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)

    def describe(self) -> str:
        """What was done, for the picture's ``orientation`` text: the turns relative to the plain view."""
        if not self.known:
            return ("the array with row 0 at the bottom (no usable WCS: north up, east left only if the "
                    "WCS is standard)")
        mirrored, quarter_turns = _plain_view_steps(self)
        steps = ["mirrored left-right"] if mirrored else []
        if quarter_turns:
            steps.append(f"rotated {_QUARTER_TURNS[quarter_turns]} (exact)")
        if self.rotate:
            sense = "counter-clockwise" if self.residual > 0 else "clockwise"
            steps.append(f"rotated {abs(self.residual):.2f} deg {sense} (resampled, bicubic)")
        text = "north up, east left: the array with row 0 at the bottom"
        text += ", " + ", then ".join(steps) if steps else ""
        if not self.rotate and abs(self.residual) >= 0.005:
            side = "counter-clockwise" if self.residual < 0 else "clockwise"
            text += (f"; north is {abs(self.residual):.2f} deg {side} of straight up (under "
                     f"{ROTATION_MIN_DEGREES:g} deg or {ROTATION_MIN_SHIFT:g} pixel at the corners: not resampled)")
        return text


_QUARTER_TURNS = {1: "90 deg counter-clockwise", 2: "180 deg", 3: "90 deg clockwise"}

PLAIN = Orientation()
UNKNOWN = Orientation(known=False)


def orientation_from_wcs(wcs, shape) -> Orientation:
    """The :class:`Orientation` that turns an array of ``shape`` (``(height, width, ...)``) with the
    celestial ``wcs`` (astropy, pixel origin 0 at the array's first pixel) north up, east left.

    North and east are measured at the array's centre, ``((width - 1) / 2,
    (height - 1) / 2)``: the pixel offsets of points one pixel's angle away
    towards north and east.  The exact part is the flip or quarter turn that
    puts east counter-clockwise of north (east left of north up) with north
    nearest straight up; the residual is north's remaining angle.  Without a
    WCS, or where it gives no directions (off the projection), the plain view
    (:data:`UNKNOWN`, ``known=False``).
    """
    if wcs is None:
        return UNKNOWN
    height, width = int(shape[0]), int(shape[1])
    centre = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    directions = _sky_directions(wcs, centre)
    if directions is None:
        return UNKNOWN
    east, north = directions
    best = None
    for candidate in _EXACT_PARTS:
        north_u, north_v = _picture_vector(candidate, north)
        east_u, east_v = _picture_vector(candidate, east)
        if north_u * east_v - north_v * east_u <= 0:  # east clockwise of north: mirrored
            continue
        residual = _wrap(90.0 - math.degrees(math.atan2(north_v, north_u)))
        if best is None or abs(residual) < abs(best[1]) - 1e-9:
            best = (candidate, residual)
    if best is None:  # east and north along one line: a degenerate WCS
        return UNKNOWN
    (transpose, flip_rows, flip_columns), residual = best
    shift = math.radians(abs(residual)) * math.hypot(width, height) / 2.0
    rotate = abs(residual) >= ROTATION_MIN_DEGREES and shift >= ROTATION_MIN_SHIFT
    return Orientation(transpose, flip_rows, flip_columns, residual, rotate)


# The eight exact parts (transpose, flip_rows, flip_columns); the plain view first.
_EXACT_PARTS = [(t, r, c) for t in (False, True) for r in (True, False) for c in (False, True)]


def _picture_vector(part, vector) -> tuple[float, float]:
    """An array offset ``(dx, dy)`` after the exact ``part``, in picture axes ``(right, up)``."""
    transpose, flip_rows, flip_columns = part
    column, row = (vector[1], vector[0]) if transpose else (vector[0], vector[1])
    row = -row if flip_rows else row
    column = -column if flip_columns else column
    return float(column), float(-row)  # picture rows run downwards


def _plain_view_steps(orientation: Orientation) -> tuple[bool, int]:
    """The exact part as seen from the plain view: (mirrored left-right first, quarter turns
    counter-clockwise 0..3).  Plain-view axes are the array's (x right, y up)."""
    part = (orientation.transpose, orientation.flip_rows, orientation.flip_columns)
    x_axis, y_axis = _picture_vector(part, (1.0, 0.0)), _picture_vector(part, (0.0, 1.0))
    mirrored = x_axis[0] * y_axis[1] - x_axis[1] * y_axis[0] < 0
    if mirrored:  # mirror first: the rotation takes -x to where x_axis points
        x_axis = (-x_axis[0], -x_axis[1])
    quarter_turns = round(math.degrees(math.atan2(x_axis[1], x_axis[0])) / 90.0) % 4
    return mirrored, quarter_turns


def _wrap(angle: float) -> float:
    """``angle`` in degrees, brought into ``(-180, 180]``."""
    angle = math.fmod(angle, 360.0)
    if angle > 180.0:
        angle -= 360.0
    elif angle <= -180.0:
        angle += 360.0
    return angle


def _sky_directions(wcs, centre: np.ndarray):
    """Array offsets ``(dx, dy)`` of one pixel's angle towards east and towards north from ``centre``;
    None where the WCS gives none (no celestial axes, off the projection, degenerate)."""
    try:
        celestial = wcs.celestial
        lng, lat = celestial.wcs.lng, celestial.wcs.lat
        if lng < 0 or lat < 0:
            return None
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            around = celestial.all_pix2world(np.array([centre, centre + [1.0, 0.0], centre + [0.0, 1.0]]), 0)
            lon0, lat0 = float(around[0, lng]), float(around[0, lat])
            step = float(np.mean(angular_separation(lon0, lat0, around[1:, lng], around[1:, lat])))
            world = np.zeros((2, 2))
            for row, bearing in enumerate((90.0, 0.0)):  # east, north
                world[row, lng], world[row, lat] = offset_point(lon0, lat0, bearing, step)
            offsets = celestial.all_world2pix(world, 0) - centre
    except Exception:  # astropy raises many types (NoConvergence, ValueError, ...) for unusable WCSs
        return None
    if not (np.isfinite(offsets).all() and np.isfinite(step) and step > 0):
        return None
    east, north = offsets
    if math.hypot(*east) == 0 or math.hypot(*north) == 0:
        return None
    return east, north
