"""Parsing of user-given positions, sizes, pixel boxes and IVOA POS regions.

Pure functions, no I/O and no astropy.coordinates (a one-liner should not pay
for it).  Angles are returned in degrees.

* RA: decimal degrees (``53.3``, ``53.3deg``) or sexagesimal *hours*
  (``03:33:20.6``, ``03h33m20.6s``, ``3 33 20.6``), whose hours must lie in
  [0, 24); a ``d`` (or ``°``) marks sexagesimal degrees (``53d19m07.65s``,
  ``12d30m``), as in astropy's ``Angle``.  Degrees are wrapped into [0, 360).
* Dec: decimal degrees or sexagesimal degrees (``-27:49:10``, ``-27d49m10s``);
  must lie in [-90, 90].
* Sizes: ``300``/``300px`` (pixels), ``60arcsec``/``60"``, ``1arcmin``/``1'``,
  ``0.01deg``, or ``W,H`` with a unit on each part.  Angular sizes become pixel
  counts with ``round()`` (never ``int()``; docs/conventions.md, section 1).
* From Python also: astropy ``Quantity`` / ``Angle`` values (angles; sizes also
  in ``u.pix``), ``(w, h)`` pairs of any of these for sizes, and ``SkyCoord``
  positions (:func:`sky_position`, converted to ICRS).  They are recognised by
  their attributes, so astropy is imported only by whoever made them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import InputError

__all__ = ["Size", "Extent", "Point", "parse_ra", "parse_dec", "parse_size", "parse_int_box", "parse_position",
           "parse_pos", "is_sky_coord", "sky_position"]

_SEXAGESIMAL_SPLIT = re.compile(r"[:hdms\s'\"°]+")
_ANGLE_UNITS_ARCSEC = {"arcsec": 1.0, '"': 1.0, "asec": 1.0, "arcmin": 60.0, "'": 60.0, "amin": 60.0, "deg": 3600.0, "d": 3600.0}
_SIZE_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(px|pix|pixels?|arcsec|asec|arcmin|amin|deg|d|\"|')?\s*$")


def _finite(value: float, what: str, text: str) -> float:
    if not math.isfinite(value):
        raise InputError(f"{what} {text!r} is not a finite number")
    return value


def _parse_sexagesimal(text: str) -> float | None:
    """Value of 'a:b:c' style text in units of its first field, or None if not sexagesimal."""
    stripped = text.strip()
    negative = stripped.startswith("-")
    parts = [p for p in _SEXAGESIMAL_SPLIT.split(stripped.lstrip("+-")) if p]
    if len(parts) < 2 or len(parts) > 3:
        return None
    try:
        fields = [float(p) for p in parts]
    except ValueError:
        return None
    if any(f < 0 for f in fields) or any(f >= 60 for f in fields[1:]):
        return None
    value = sum(f / 60**i for i, f in enumerate(fields))
    return -value if negative else value


def _parse_angle(text: str | float, what: str, example: str, sexagesimal_unit: float,
                 hours_below: float | None = None) -> float:
    """Decimal degrees, or sexagesimal in units of ``sexagesimal_unit`` degrees (``d`` or ``°`` mark degrees).

    With ``hours_below`` (RA: 24), sexagesimal text not marked as degrees is hours and must lie
    in ``[0, hours_below)``.
    """
    if type(text) is str:  # the fast path of a target list: plain decimal degrees
        try:
            return _finite(float(text), what, text.strip())
        except ValueError:
            pass
    if _is_quantity(text):
        text = _quantity_value(text, "deg", what, f"give {what} as an angle (u.deg, Angle)")
    if isinstance(text, (int, float)):
        return _finite(float(text), what, str(text))
    s = str(text).strip()
    try:
        value = float(s.removesuffix("deg"))
    except ValueError:
        value = _parse_sexagesimal(s)
        if value is None:
            raise InputError(f"cannot read {what} {s!r}", f"give decimal degrees or {example}") from None
        if "d" in s.lower() or "°" in s:  # marked as degrees
            return _finite(value, what, s)
        if hours_below is not None and not 0.0 <= value < hours_below:
            raise InputError(f"{what} {s!r} is {value:g} hours, outside [0, {hours_below:g})",
                             f"sexagesimal {what} is in hours; mark degrees as in {_as_marked_degrees(s)}, "
                             "or give decimal degrees")
        value *= sexagesimal_unit
    return _finite(value, what, s)


def _as_marked_degrees(text: str) -> str:
    """``text``'s sexagesimal fields written with the degree marks ``d``, ``m``, ``s`` (``53d19m07.65s``)."""
    sign = "-" if text.strip().startswith("-") else ""
    parts = [p for p in _SEXAGESIMAL_SPLIT.split(text.strip().lstrip("+-")) if p]
    return sign + "".join(part + mark for part, mark in zip(parts, "dms"))


def parse_ra(text: str | float) -> float:
    """Right ascension in degrees, wrapped into [0, 360).

    Decimal RA is in degrees; sexagesimal RA is in hours, which must lie in [0, 24) (so
    ``25:00:00`` and ``53:19:07.65`` are errors), unless a ``d`` marks it as degrees
    (``53d19m07.65s``).
    """
    return _parse_angle(text, "RA", "hours like 03:33:20.6, or degrees like 53d19m07.65s", 15.0, 24.0) % 360.0


def parse_dec(text: str | float) -> float:
    """Declination in degrees, checked to lie in [-90, 90]."""
    value = _parse_angle(text, "Dec", "degrees like -27:49:10", 1.0)
    if not -90.0 <= value <= 90.0:
        raise InputError(f"Dec {value:g} is outside [-90, 90]")
    return value


@dataclass(frozen=True)
class Extent:
    """One side of a size: a value and a unit (``px`` or an angle unit)."""

    value: float
    unit: str  # "px" or "arcsec"; angle units are normalised to arcsec

    def to_pixels(self, pixel_scale_arcsec: float) -> int:
        """Pixel count: pixels as given, angles divided by the scale and rounded."""
        if self.unit == "px":
            return int(self.value)
        return int(round(self.value / pixel_scale_arcsec))

    def __str__(self) -> str:
        return f"{self.value:g}px" if self.unit == "px" else f"{self.value:g}arcsec"


@dataclass(frozen=True)
class Size:
    """A cutout size: width and height, each in pixels or arcseconds."""

    width: Extent
    height: Extent

    def to_pixels(self, pixel_scale_arcsec: float) -> tuple[int, int]:
        """``(width, height)`` in whole pixels at the given scale; each must be >= 1."""
        w, h = self.width.to_pixels(pixel_scale_arcsec), self.height.to_pixels(pixel_scale_arcsec)
        if w < 1 or h < 1:
            raise InputError(
                f"size {self} is {w}x{h} pixels at {pixel_scale_arcsec:g} arcsec/px",
                "give at least one pixel on each side",
            )
        return w, h

    @property
    def is_square(self) -> bool:
        return self.width == self.height

    def __str__(self) -> str:
        return str(self.width) if self.is_square else f"{self.width},{self.height}"


def _parse_extent(text: str) -> Extent:
    m = _SIZE_RE.match(text)
    if not m:
        raise InputError(
            f"cannot read size {text!r}", 'use e.g. 300, 300px, 60arcsec, 1arcmin, 0.01deg or W,H'
        )
    value, unit = float(m.group(1)), (m.group(2) or "px")
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"size {text!r} must be a positive number")
    if unit.startswith("p"):
        if value != int(value):
            raise InputError(f"pixel size {text!r} must be a whole number", "or give an angle like 10arcsec")
        return Extent(float(int(value)), "px")
    return Extent(value * _ANGLE_UNITS_ARCSEC[unit], "arcsec")


def parse_size(text) -> Size:
    """Parse ``300``, ``60arcsec``, ``1arcmin``, ``0.01deg``, ``W,H`` into a :class:`Size`.

    A :class:`Size` is returned as is; a ``(w, h)`` pair takes any size of one
    side each (``(300, "20arcsec")``); a Quantity is an angle or pixels
    (``60 * u.arcsec``, ``300 * u.pix``), a two-element one ``(w, h)``.
    """
    if isinstance(text, Size):
        return text
    if _is_quantity(text) and getattr(text, "shape", ()) == ():
        extent = _quantity_extent(text)
        return Size(extent, extent)
    if isinstance(text, (tuple, list)) or _is_quantity(text):
        sides = list(text)
        if len(sides) != 2:
            raise InputError(f"cannot read size {text!r}", "give one size, or a (width, height) pair")
        width, height = (_quantity_extent(v) if _is_quantity(v) else _parse_extent(str(v)) for v in sides)
        return Size(width, height)
    s = str(text).strip()
    parts = s.split(",")
    if len(parts) == 1:
        extent = _parse_extent(parts[0])
        return Size(extent, extent)
    if len(parts) == 2:
        return Size(_parse_extent(parts[0]), _parse_extent(parts[1]))
    raise InputError(f"cannot read size {s!r}", "give one size, or W,H")


def parse_int_box(text: str) -> tuple[int, int, int, int]:
    """Parse ``X0,Y0,W,H`` (corner and size, whole pixels; W and H >= 1)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        x0, y0, w, h = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"cannot read box {text!r}", "give X0,Y0,W,H in whole pixels, e.g. 8800,8800,300,300") from None
    if w < 1 or h < 1:
        raise InputError(f"box {text!r} has width {w} and height {h}", "both must be at least 1 pixel")
    return x0, y0, w, h


# -- positions and IVOA POS regions -------------------------------------------------
@dataclass(frozen=True)
class Point:
    ra: float
    dec: float


def parse_position(text: str) -> tuple[float, float]:
    """Parse ``"RA DEC"`` (two tokens, or six sexagesimal tokens) into degrees."""
    tokens = str(text).replace(",", " ").split()
    if len(tokens) == 2:
        return parse_ra(tokens[0]), parse_dec(tokens[1])
    if len(tokens) == 6:
        return parse_ra(":".join(tokens[:3])), parse_dec(":".join(tokens[3:]))
    raise InputError(f"cannot read position {text!r}", 'give "RA DEC", e.g. "53.1 -28.1"')


def parse_pos(text: str):
    """A :class:`Point` from ``"RA DEC"``, or an lsst.sphgeom region from an IVOA POS
    string (``CIRCLE ra dec r``, ``POLYGON ra1 dec1 ...``, ``RANGE ra1 ra2 dec1 dec2``; degrees)."""
    tokens = str(text).split()
    if not tokens:
        raise InputError("empty position", 'give "RA DEC" or an IVOA POS region such as "CIRCLE ra dec radius"')
    if tokens[0].upper() in ("CIRCLE", "POLYGON", "RANGE"):
        from .regions import parse_region

        return parse_region(text)
    ra, dec = parse_position(text)
    return Point(ra, dec)


# -- astropy values from Python callers --------------------------------------------
def _is_quantity(value) -> bool:
    return hasattr(value, "unit") and hasattr(value, "to_value")


def _quantity_value(value, unit: str, what: str, hint: str) -> float:
    try:
        return float(value.to_value(unit))
    except Exception:  # astropy's UnitConversionError, or an array where one value belongs
        raise InputError(f"cannot read {what} {value!r}", hint) from None


def _quantity_extent(value) -> Extent:
    """One side of a size from a Quantity in pixels or an angle unit."""
    if str(value.unit) in ("pix", "pixel"):
        return _parse_extent(f"{float(value.value)!r}px")
    arcsec = _quantity_value(value, "arcsec", "size", "give the size in pixels (u.pix) or as an angle (u.arcsec)")
    return _parse_extent(f"{arcsec!r}arcsec")


def is_sky_coord(value) -> bool:
    """A SkyCoord (or an astropy coordinate frame with data)."""
    return hasattr(value, "transform_to") and hasattr(value, "frame")


def sky_position(ra, dec=None) -> tuple[float, float]:
    """``(ra, dec)`` in degrees from numbers (degrees), text (as :func:`parse_ra` and :func:`parse_dec`),
    Quantities or Angles, or a scalar ``SkyCoord`` given as ``ra`` with ``dec`` None (taken in ICRS)."""
    if is_sky_coord(ra):
        if dec is not None:
            raise InputError("give a SkyCoord alone, without dec")
        if not getattr(ra, "isscalar", True):
            raise InputError("give one position, not a SkyCoord array", "loop over it, or use batch()")
        icrs = ra.transform_to("icrs")
        return parse_ra(float(icrs.ra.deg)), parse_dec(float(icrs.dec.deg))
    if ra is None or dec is None:
        raise InputError("give ra and dec (degrees), or a SkyCoord")
    return parse_ra(ra), parse_dec(dec)
