"""Integer pixel boxes with the lsst.geom conventions (pure geometry, no I/O).

Conventions (docs/conventions.md, section 1):

* Pixel centres are integers; the centre of the lower-left pixel of an image
  whose origin (XY0) is (0, 0) is (0, 0).  Coordinates are ``(x, y)``; numpy
  arrays are indexed ``[y, x]``.
* A box has ``begin`` (= ``min``, inclusive), ``end`` (exclusive) and
  ``max = end - 1`` (inclusive).
* PARENT coordinates include the image origin XY0 (tract-wide pixels);
  LOCAL coordinates start at (0, 0) on the image's first pixel.
* A float position becomes an integer pixel by rounding half up:
  ``floor(v + 0.5)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError, NotFoundError

__all__ = ["Box", "DEFAULT_MAX_PIXELS", "round_half_up", "pixel_indices", "centered_begin", "centered_begins",
           "sky_box", "check_pixel_count"]

DEFAULT_MAX_PIXELS = 50_000_000  # per plane: 3 planes of 50 Mpx are 600 MB in memory


def round_half_up(value: float) -> int:
    """Integer pixel containing float position ``value`` (``floor(v + 0.5)``)."""
    return math.floor(value + 0.5)


def pixel_indices(values):
    """:func:`round_half_up` of an array of float positions, as floats (non-finite values stay so)."""
    import numpy as np  # here: the command line's help and parsing need this module, not numpy

    return np.floor(np.asarray(values, dtype=float) + 0.5)


def centered_begin(center: float, size: int) -> int:
    """First pixel of a ``size``-pixel run centred on float ``center``.

    Implements ``floor(center - size/2 + 1)`` (lsst.geom ``makeCenteredBox``),
    which keeps the run's centre within half a pixel of ``center`` for odd and
    even sizes alike.
    """
    return math.floor(center - size / 2 + 1)


def centered_begins(centers, sizes):
    """:func:`centered_begin` of arrays of centres and sizes, as floats (cast them as needed)."""
    import numpy as np

    return np.floor(np.asarray(centers, dtype=float) - np.asarray(sizes) / 2 + 1)


@dataclass(frozen=True, slots=True)
class Box:
    """An integer pixel box: ``[begin_x, end_x) x [begin_y, end_y)``.

    Build it with one of the constructors: :meth:`from_corner_size`,
    :meth:`from_min_max` (inclusive max), :meth:`centered` or
    :meth:`from_float_bounds`.  A box with zero width or height is empty.
    """

    begin_x: int
    begin_y: int
    width: int
    height: int

    def __post_init__(self):
        if self.width < 0 or self.height < 0:
            raise ValueError(f"box dimensions must be >= 0, got {self.width} x {self.height}")

    # -- constructors -------------------------------------------------------
    @classmethod
    def from_corner_size(cls, x: int, y: int, width: int, height: int) -> Box:
        """Box spanning ``[x, x + width) x [y, y + height)``."""
        return cls(int(x), int(y), int(width), int(height))

    @classmethod
    def from_min_max(cls, min_x: int, min_y: int, max_x: int, max_y: int) -> Box:
        """Box from two corners, inclusive on both ends (``width = max - min + 1``)."""
        return cls(int(min_x), int(min_y), int(max_x) - int(min_x) + 1, int(max_y) - int(min_y) + 1)

    @classmethod
    def centered(cls, center_x: float, center_y: float, width: int, height: int) -> Box:
        """Box of ``width x height`` pixels centred on a float position (see :func:`centered_begin`)."""
        return cls(centered_begin(center_x, width), centered_begin(center_y, height), int(width), int(height))

    @classmethod
    def from_float_bounds(cls, min_x: float, min_y: float, max_x: float, max_y: float) -> Box:
        """Smallest integer box whose pixels cover a float box (lsst.geom EXPAND).

        ``min = ceil(minD - 0.5)``, ``max = floor(maxD + 0.5)``.
        """
        return cls.from_min_max(
            math.ceil(min_x - 0.5), math.ceil(min_y - 0.5), math.floor(max_x + 0.5), math.floor(max_y + 0.5)
        )

    # -- derived corners ----------------------------------------------------
    @property
    def end_x(self) -> int:
        return self.begin_x + self.width

    @property
    def end_y(self) -> int:
        return self.begin_y + self.height

    @property
    def min_x(self) -> int:
        return self.begin_x

    @property
    def min_y(self) -> int:
        return self.begin_y

    @property
    def max_x(self) -> int:
        return self.end_x - 1

    @property
    def max_y(self) -> int:
        return self.end_y - 1

    @property
    def is_empty(self) -> bool:
        return self.width == 0 or self.height == 0

    @property
    def shape(self) -> tuple[int, int]:
        """numpy shape ``(height, width)``."""
        return (self.height, self.width)

    @property
    def center(self) -> tuple[float, float]:
        """Float centre ``(x, y)`` in the box's own pixel coordinates."""
        return (self.begin_x + (self.width - 1) / 2, self.begin_y + (self.height - 1) / 2)

    # -- operations -----------------------------------------------------------
    def shifted(self, dx: int, dy: int) -> Box:
        """The same box moved by ``(dx, dy)`` pixels."""
        return Box(self.begin_x + dx, self.begin_y + dy, self.width, self.height)

    def to_local(self, xy0: tuple[int, int]) -> Box:
        """PARENT box -> LOCAL box of an image whose origin is ``xy0``."""
        return self.shifted(-xy0[0], -xy0[1])

    def to_parent(self, xy0: tuple[int, int]) -> Box:
        """LOCAL box of an image whose origin is ``xy0`` -> PARENT box."""
        return self.shifted(xy0[0], xy0[1])

    def intersection(self, other: Box) -> Box:
        """Overlap of two boxes; an empty box (at ``self``'s begin) when they do not meet."""
        bx, by = max(self.begin_x, other.begin_x), max(self.begin_y, other.begin_y)
        ex, ey = min(self.end_x, other.end_x), min(self.end_y, other.end_y)
        if ex <= bx or ey <= by:
            return Box(self.begin_x, self.begin_y, 0, 0)
        return Box(bx, by, ex - bx, ey - by)

    def contains_box(self, other: Box) -> bool:
        """True when every pixel of ``other`` is in this box (an empty box is contained)."""
        if other.is_empty:
            return True
        return (
            self.begin_x <= other.begin_x
            and self.begin_y <= other.begin_y
            and other.end_x <= self.end_x
            and other.end_y <= self.end_y
        )

    def contains_pixel(self, x: int, y: int) -> bool:
        """True when integer pixel ``(x, y)`` lies in the box."""
        return self.begin_x <= x < self.end_x and self.begin_y <= y < self.end_y

    def grown(self, border: int) -> Box:
        """The box grown by ``border`` pixels on every side (negative shrinks)."""
        return Box(self.begin_x - border, self.begin_y - border, self.width + 2 * border, self.height + 2 * border)

    def slices(self, origin: tuple[int, int] = (0, 0)) -> tuple[slice, slice]:
        """numpy ``(rows, cols)`` slices of this box in an array whose first pixel is ``origin``."""
        bx, by = self.begin_x - origin[0], self.begin_y - origin[1]
        return (slice(by, by + self.height), slice(bx, bx + self.width))

    def as_dict(self) -> dict[str, int]:
        """The stable JSON field names of the CLI contract."""
        return {
            "begin_x": self.begin_x,
            "begin_y": self.begin_y,
            "end_x": self.end_x,
            "end_y": self.end_y,
            "min_x": self.min_x,
            "min_y": self.min_y,
            "max_x": self.max_x,
            "max_y": self.max_y,
            "width": self.width,
            "height": self.height,
        }

    def __str__(self) -> str:
        return f"[{self.begin_x}:{self.end_x}, {self.begin_y}:{self.end_y}) ({self.width}x{self.height})"


def sky_box(frame, ra: float, dec: float, size) -> tuple[Box, float, float]:
    """Centred PARENT box of ``size`` around a sky position, and the float pixel position.

    Parameters
    ----------
    frame : Tract or CoaddFile
        Anything with ``sky_to_pixel(ra, dec)`` (float PARENT pixels) and
        ``pixel_scale`` (arcsec per pixel).
    ra, dec : float
        Degrees.
    size : cutout_cli.sky.parse.Size
        Angular sizes become whole pixels with ``round()`` at ``frame.pixel_scale``.

    Returns
    -------
    box, center_x, center_y
        The box (centred rule of :func:`centered_begin`) and the float PARENT
        pixel position of (ra, dec).
    """
    x, y = frame.sky_to_pixel(ra, dec)
    x, y = float(x), float(y)
    if not (math.isfinite(x) and math.isfinite(y)):
        raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) cannot be projected onto this image")
    width, height = size.to_pixels(frame.pixel_scale)
    return Box.centered(x, y, width, height), x, y


def check_pixel_count(width: int, height: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse a cutout of more than ``max_pixels`` pixels with a clear message."""
    if width * height > max_pixels:
        raise InputError(f"a {width} x {height} px cutout ({width * height:,} pixels) exceeds the limit of "
                         f"{max_pixels:,} pixels", "give a smaller size, or raise {}", options=[("max_pixels", None)])
