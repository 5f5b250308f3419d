"""Cut a PARENT-pixel box out of an opened coadd: pixels, headers, provenance.

The pixels are the source file's pixels, unresampled.  Each plane header is
the source plane's header with the sky WCS shifted to the cutout array
(``CRPIX -= box.begin - xy0``) and the cutout's origin written twice, as
``LTV1/LTV2 = -begin`` and as the ``A`` WCS (``CRVAL1A/2A = begin``), as afw
does (REFERENCE.md section 3).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import __version__
from .errors import DataError, InputError, NotFoundError
from .geometry import DEFAULT_MAX_PIXELS, Box, check_pixel_count
from .header import Header
from .reader import PLANES, CoaddFile

MODES = ("partial", "strict")
BAD_MASK_PLANES = ("BAD", "SAT", "NO_DATA", "SUSPECT")
_UNSAFE_HEADER_CHARS = re.compile(r"[^\x20-\x26\x28-\x7e]")  # printable ASCII but the quote: astropy misreads '' followed by a space


def header_safe(text) -> str:
    """A user string made safe for a FITS header value: printable ASCII without quotes (others become ?)."""
    return _UNSAFE_HEADER_CHARS.sub("?", str(text))


def _plane_header(source_header: Header, plane: str, box: Box, xy0: tuple[int, int]) -> Header:
    """The plane's header for a cutout at PARENT ``box`` of an image whose XY0 is ``xy0``."""
    return _PlaneHeaderTemplate.of(source_header, plane, xy0).for_box(box)


class _PlaneHeaderTemplate:
    """A source plane's header with the cutout keywords in place, so that a cutout's header is a list
    copy and six values (batches make thousands from one file).  Source headers are read-only once
    their file is open (CoaddFile.plane_headers); one changed in place would keep its old template."""

    # (id of the source header, plane, xy0) -> template; a few per open file.  A template holds its source,
    # so an id in the cache cannot be reused by another header while its entry is there.
    _cache: dict = {}

    def __init__(self, source: Header, plane: str, xy0: tuple[int, int]):
        self.source, self.xy0 = source, xy0
        self.header = source.updated({
            "LTV1": (0, "-x0: cutout origin in PARENT pixels"),
            "LTV2": (0, "-y0: cutout origin in PARENT pixels"),
            "CTYPE1A": ("LINEAR", "PARENT pixel x"), "CTYPE2A": ("LINEAR", "PARENT pixel y"),
            "CRPIX1A": (1.0, ""), "CRPIX2A": (1.0, ""),
            "CRVAL1A": (0, "x0 (PARENT) of the first pixel"),
            "CRVAL2A": (0, "y0 (PARENT) of the first pixel"),
            "CUNIT1A": ("PIXEL", ""), "CUNIT2A": ("PIXEL", ""),
            "EXTNAME": (plane, None), "EXTTYPE": (plane, None), "INHERIT": (True, None),
        })
        names = [name for name, _, _ in self.header.cards]
        self._slot = {name: names.index(name) for name in ("LTV1", "LTV2", "CRVAL1A", "CRVAL2A", "CRPIX1", "CRPIX2")
                      if name in names}
        self._crpix = {axis: float(source[axis]) for axis in ("CRPIX1", "CRPIX2") if axis in self._slot}

    @classmethod
    def of(cls, source: Header, plane: str, xy0: tuple[int, int]) -> _PlaneHeaderTemplate:
        key = (id(source), plane, xy0)
        found = cls._cache.get(key)
        if found is None:
            if len(cls._cache) > 64:
                cls._cache.clear()
            found = cls._cache[key] = cls(source, plane, xy0)
        return found

    def for_box(self, box: Box) -> Header:
        """Sky WCS shifted to the cutout (``CRPIX -= begin - xy0``), its origin as LTV and the A WCS."""
        cards = list(self.header.cards)
        values = {"LTV1": -box.begin_x, "LTV2": -box.begin_y, "CRVAL1A": box.begin_x, "CRVAL2A": box.begin_y}
        for axis, shift in (("CRPIX1", box.begin_x - self.xy0[0]), ("CRPIX2", box.begin_y - self.xy0[1])):
            if axis in self._crpix:
                values[axis] = self._crpix[axis] - shift
        for name, value in values.items():
            slot = self._slot[name]
            cards[slot] = (name, value, cards[slot][2])
        header = Header.__new__(Header)
        header.cards = cards
        return header


@dataclass
class Cutout:
    """A cutout: pixel planes, their headers, and where they came from.

    Attributes
    ----------
    bbox : Box
        The cutout's box in PARENT (tract) pixels; ``bbox.begin`` is XY0.
    planes : dict of str to numpy.ndarray
        ``IMAGE`` (float32), ``MASK`` (int32), ``VARIANCE`` (float32), as
        requested; arrays indexed ``[y, x]``, row 0 at PARENT ``y = bbox.begin_y``.
    headers : dict of str to Header
        Per-plane headers, ready to write.
    primary_header : Header
        Provenance (source file, dataset id, box, tool version, request).
    mask_planes : dict of str to int
        Mask plane bits (``MP_<NAME>`` of the MASK header); empty when the
        cutout has no MASK plane.
    """

    bbox: Box
    planes: dict
    headers: dict
    primary_header: object
    mask_planes: dict = field(default_factory=dict)
    unit: str | None = None
    source: str = ""
    provenance: dict = field(default_factory=dict)

    @property
    def xy0(self) -> tuple[int, int]:
        """PARENT pixel of the first array pixel."""
        return (self.bbox.begin_x, self.bbox.begin_y)

    @property
    def image(self):
        return self.planes.get("IMAGE")

    @property
    def mask(self):
        return self.planes.get("MASK")

    @property
    def variance(self):
        return self.planes.get("VARIANCE")

    @cached_property
    def wcs(self):
        """astropy celestial WCS of the cutout array (pixel ``origin=0`` is the first array pixel)."""
        from astropy.wcs import WCS

        first = next(iter(self.headers.values()))
        return WCS(first.to_astropy(), naxis=2).celestial

    def writeto(self, path, overwrite: bool = False) -> None:
        """Write the afw-layout FITS file (primary + planes), atomically."""
        from .writers.fits import write_exposure

        write_exposure(path, self.primary_header,
                       [(name, self.planes[name], self.headers[name]) for name in self.planes],
                       overwrite=overwrite)

    def to_png(self, path, stretch: str = "asinh", limits="zscale", overwrite: bool = False) -> None:
        """Write the IMAGE plane as a north-up PNG (asinh stretch, zscale limits by default)."""
        from .writers.png import write_png

        write_png(path, self._display_plane(), stretch=stretch, limits=limits, overwrite=overwrite)

    def _display_plane(self):
        if self.image is None:
            raise InputError("this cutout has no IMAGE plane to draw", "include image in --planes")
        return self.image

    # -- the astropy ecosystem ------------------------------------------------
    def bad_pixels(self, planes=BAD_MASK_PLANES):
        """Boolean array: pixels with any of the named mask planes set (all False without a MASK)."""
        if self.mask is None:
            return None
        bits = 0
        for name in planes:
            if name in self.mask_planes:
                bits |= 1 << self.mask_planes[name]
        return (self.mask & bits) != 0

    def _nd_parts(self, bad_planes):
        from astropy import units as u
        from astropy.nddata import VarianceUncertainty

        unit = u.Unit(self.unit) if self.unit else u.dimensionless_unscaled
        uncertainty = VarianceUncertainty(self.variance, unit=unit**2) if self.variance is not None else None
        meta = {"xy0": self.xy0, "mask_planes": dict(self.mask_planes), **self.provenance}
        return unit, uncertainty, self.bad_pixels(bad_planes), meta

    def to_nddata(self, bad_planes=BAD_MASK_PLANES):
        """astropy ``NDData``: image, variance as ``VarianceUncertainty``, boolean mask, WCS, unit.

        The boolean mask flags pixels with any of ``bad_planes`` set; the full
        integer mask stays available as :attr:`mask`.
        """
        from astropy.nddata import NDData

        unit, uncertainty, mask, meta = self._nd_parts(bad_planes)
        return NDData(self.image, uncertainty=uncertainty, mask=mask, wcs=self.wcs, meta=meta, unit=unit)

    def to_ccddata(self, bad_planes=BAD_MASK_PLANES):
        """astropy ``CCDData`` (same content as :meth:`to_nddata`; header = the primary provenance)."""
        from astropy.nddata import CCDData

        unit, uncertainty, mask, _ = self._nd_parts(bad_planes)
        meta = self.primary_header.to_astropy()
        return CCDData(self.image, uncertainty=uncertainty, mask=mask, wcs=self.wcs, meta=meta, unit=unit)

    # -- notebooks --------------------------------------------------------------
    def _repr_png_(self) -> bytes:
        """North-up PNG (asinh stretch, zscale limits) for Jupyter."""
        from .writers.png import png_bytes

        return png_bytes(self._display_plane())

    def _repr_html_(self) -> str:
        import base64
        import html

        picture = base64.b64encode(self._repr_png_()).decode()
        p = self.provenance
        label = " ".join(f"{k}={p[k]}" for k in ("id", "tract", "patch", "band") if p.get(k) is not None)
        caption = html.escape(f"{label} box [{self.bbox.begin_x}:{self.bbox.end_x}, "
                              f"{self.bbox.begin_y}:{self.bbox.end_y}) PARENT, xy0={self.xy0}")
        scale = max(1, 256 // max(self.bbox.width, self.bbox.height))
        return (f'<figure style="display:inline-block;margin:4px"><img src="data:image/png;base64,{picture}" '
                f'width="{self.bbox.width * scale}" style="image-rendering:pixelated"/>'
                f'<figcaption style="font-size:small">{caption}</figcaption></figure>')

    def __repr__(self) -> str:
        planes = ",".join(self.planes)
        return f"<Cutout {self.bbox} planes={planes} source={self.source!r}>"


def extract(coadd: CoaddFile, box: Box, planes=PLANES, mode: str = "partial", provenance: dict | None = None,
            max_pixels: int = DEFAULT_MAX_PIXELS) -> Cutout:
    """Cut PARENT ``box`` out of an opened coadd.

    Parameters
    ----------
    coadd : CoaddFile
        The opened source file.
    box : Box
        The cutout box in PARENT pixels (begin inclusive, end exclusive).
    planes : sequence of str
        Planes to read, among IMAGE, MASK, VARIANCE (those absent from a plain
        FITS file are skipped when not asked for explicitly).
    mode : {"partial", "strict"}
        ``partial``: pixels outside the image are NaN (IMAGE, VARIANCE) or
        NO_DATA (MASK); ``strict``: a box not wholly inside the image is an error.
        A box that misses the image entirely is an error in both modes.
    provenance : dict, optional
        Extra keywords for the primary header (dataset id, request, ...).
    max_pixels : int
        Refuse boxes of more pixels than this (a typo such as ``--size 60deg``
        must not exhaust memory).
    """
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r}", "use partial or strict")
    if box.is_empty:
        raise InputError("the cutout box is empty", "give a positive width and height")
    check_pixel_count(box.width, box.height, max_pixels)
    inside = box.intersection(coadd.bbox)
    if inside.is_empty:
        raise NotFoundError(f"box {box} lies wholly outside the image {coadd.bbox} of {coadd.path}")
    if mode == "strict" and inside != box:
        raise NotFoundError(f"box {box} is not wholly inside the image {coadd.bbox} of {coadd.path}",
                            "use --mode partial to fill the missing pixels with NaN / NO_DATA")
    wanted = [p for p in planes if p in coadd.planes]
    missing = [p for p in planes if p not in coadd.planes]
    if missing and coadd.planes != ("IMAGE",):
        raise DataError(f"{coadd.path} has no {', '.join(missing)} plane",
                        f"planes present: {', '.join(coadd.planes)}; the file may be truncated")
    if not wanted:
        raise NotFoundError(f"{coadd.path} has none of the planes {', '.join(planes)}")
    arrays = coadd.read_planes(wanted, box)
    headers = {p: _plane_header(coadd.plane_headers[p], p, box, coadd.xy0) for p in wanted}
    record = {
        "source": coadd.path,
        "begin_x": box.begin_x, "begin_y": box.begin_y, "width": box.width, "height": box.height,
        "mode": mode, "complete": inside == box,
        **(provenance or {}),
    }
    # mask-plane names come from the MASK header: read it only for a cutout that has a MASK
    mask_planes = coadd.mask_planes if "MASK" in arrays else {}
    return Cutout(box, arrays, headers, _primary_header(coadd, record), mask_planes, coadd.unit,
                  coadd.path, record)


_PROVENANCE_KEYS = {
    "source": ("SRCFILE", "source file"),
    "dataset_type": ("DATASET", "dataset type"),
    "tract": ("TRACT", "tract id"),
    "patch": ("PATCH", "patch sequential index"),
    "band": ("BAND", "band"),
    "skymap": ("SKYMAP", "skymap name"),
    "begin_x": ("CUTX0", "cutout begin x (PARENT pixels)"),
    "begin_y": ("CUTY0", "cutout begin y (PARENT pixels)"),
    "width": ("CUTW", "cutout width (pixels)"),
    "height": ("CUTH", "cutout height (pixels)"),
    "mode": ("CUTMODE", "partial: outside pixels NaN/NO_DATA"),
    "complete": ("CUTFULL", "box wholly inside the source image"),
    "id": ("TARGETID", "target id"),
    "ra": ("REQRA", "requested RA (deg)"),
    "dec": ("REQDEC", "requested Dec (deg)"),
    "size": ("REQSIZE", "requested size"),
    "request": ("REQUEST", "request"),
}


def _primary_header(coadd: CoaddFile, record: dict) -> Header:
    updates = {"ORIGIN": (f"cutout {__version__}", "made by cutout"),
               "DATE": (_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "UTC time the cutout was made")}
    for key, value in record.items():
        if key in _PROVENANCE_KEYS and value is not None:
            name, comment = _PROVENANCE_KEYS[key]
            if isinstance(value, (bool, np.bool_)):
                value = bool(value)
            elif isinstance(value, (int, np.integer)):
                value = int(value)
            elif isinstance(value, (float, np.floating)):
                value = float(value)
            else:
                value = header_safe(value)
            updates[name] = (value, comment)
    return coadd.primary_header.updated(updates)
