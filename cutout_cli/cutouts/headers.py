"""The headers of a cutout: each plane's, with the WCS shifted to the cutout, and the primary's provenance.

Each plane header is the source plane's header with the sky WCS shifted to
the cutout array (``CRPIX -= box.begin - xy0``) and the cutout's origin
written twice, as ``LTV1/LTV2 = -begin`` and as the ``A`` WCS
(``CRVAL1A/2A = begin``), as afw does (docs/conventions.md, section 3).
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np

from .. import __version__
from ..fits.header import Header
from ..sky.box import Box

__all__ = ["PROVENANCE_KEYS", "PlaneHeaderTemplate", "header_safe", "plane_header", "primary_header"]

_UNSAFE_HEADER_CHARS = re.compile(r"[^\x20-\x26\x28-\x7e]")  # printable ASCII but the quote: astropy misreads '' followed by a space


def header_safe(text) -> str:
    """A user string made safe for a FITS header value: printable ASCII without quotes (others become ?)."""
    return _UNSAFE_HEADER_CHARS.sub("?", str(text))


def plane_header(source_header: Header, plane: str, box: Box, xy0: tuple[int, int]) -> Header:
    """The plane's header for a cutout at PARENT ``box`` of an image whose XY0 is ``xy0``."""
    return PlaneHeaderTemplate.of(source_header, plane, xy0).for_box(box)


class PlaneHeaderTemplate:
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
    def of(cls, source: Header, plane: str, xy0: tuple[int, int]) -> PlaneHeaderTemplate:
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


PROVENANCE_KEYS = {
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


def primary_header(source: Header, record: dict) -> Header:
    """The cutout's primary header: the source's, with the tool, the time and the provenance ``record``
    (source file, dataset id, box, request) as keywords (:data:`PROVENANCE_KEYS`)."""
    updates = {"ORIGIN": (f"cutout {__version__}", "made by cutout"),
               "DATE": (_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "UTC time the cutout was made")}
    for key, value in record.items():
        if key in PROVENANCE_KEYS and value is not None:
            name, comment = PROVENANCE_KEYS[key]
            if isinstance(value, (bool, np.bool_)):
                value = bool(value)
            elif isinstance(value, (int, np.integer)):
                value = int(value)
            elif isinstance(value, (float, np.floating)):
                value = float(value)
            else:
                value = header_safe(value)
            updates[name] = (value, comment)
    return source.updated(updates)
