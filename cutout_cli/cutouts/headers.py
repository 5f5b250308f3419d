"""The headers of a cutout: each plane's, with the WCS shifted to the cutout, and the primary's provenance.

Each plane header is the source plane's header with the sky WCS shifted to
the cutout array (``CRPIX -= box.begin - xy0``) and the cutout's origin
written twice, as ``LTV1/LTV2 = -begin`` and as the ``A`` WCS
(``CRVAL1A/2A = begin``), as afw does (docs/conventions.md, section 3).

Keywords that describe a source HDU rather than its content never reach a
cutout HDU: the structural ones (``NAXIS``, ``BZERO``, tile compression
``Z*``, ``CHECKSUM``/``DATASUM``; :func:`~cutout_cli.fits.header.is_structural`),
the plane identity (``EXTNAME``, ``EXTTYPE``, ``EXTVER``, ``EXTLEVEL``,
``HDUNAME``, ``HDUVER``, ``INHERIT``: each cutout plane gets its own, the
empty primary none), afw's pointers into its archive tables (``AR_HDU``,
``*_ID``, ``ARCHIVE_ID_*``), which a cutout does not carry, and the cards of
an lsst.images container (``FMTVER``, ``INDXADDR``/``INDXSIZE``,
``JSONADDR``/``JSONSIZE``, ``DATAMODL``: they point into JSON and INDEX tables
a cutout does not have, and would make lsst.images take the cutout for one of
its files) or of the Butler's formatter (``LSST BUTLER ...``), which describe
the source dataset.  A MASK plane named by lsst.images' ``MSKN``/``MSKM``
cards also gets afw's ``MP_<NAME>`` cards, so readers of either kind see its
planes.  When the
source's primary HDU is its IMAGE plane (the old MaskedImage layout), the
cutout's empty primary also leaves out that plane's pixel WCS (sky, ``A``,
``LTV``, SIP): the IMAGE plane carries it, shifted to the cutout.
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np

from .. import __version__
from ..fits.header import Header, is_structural
from ..fits.mask_schema import legacy_cards, planes_from_header
from ..sky.box import Box

__all__ = ["PROVENANCE_KEYS", "PlaneHeaderTemplate", "header_safe", "plane_header", "primary_header",
           "IDENTITY_KEYS", "CONTAINER_KEYS", "with_fitted_wcs", "is_archive_pointer", "is_container_card", "is_pixel_wcs",
           "content_cards"]

#: Keywords naming an HDU (which plane, which version) rather than describing its content.
IDENTITY_KEYS = frozenset({"EXTNAME", "EXTTYPE", "EXTVER", "EXTLEVEL", "HDUNAME", "HDUVER", "INHERIT"})
#: lsst.images' container cards (``lsst.images.fits``: the primary of its files) and the Butler formatter's.
CONTAINER_KEYS = frozenset({"FMTVER", "INDXADDR", "INDXSIZE", "JSONADDR", "JSONSIZE", "DATAMODL"})
_BUTLER_CARD = "LSST BUTLER"
# afw's pointers into the archive tables of an Exposure (lsst/afw src/image/ExposureFitsReader.cc; WCS_ID in
# files of 2015); an ``ARCHIVE_ID_<NAME>`` card also makes ``<NAME>_ID`` one (content_cards)
_ARCHIVE_POINTER = re.compile(r"^(AR_HDU|ARCHIVE_ID_.+|(PSF|SKYWCS|WCS|COADD_INPUTS|AP_CORR_MAP|VALID_POLYGON"
                              r"|TRANSMISSION_CURVE|DETECTOR|PHOTOCALIB)_ID)$")
# the WCS of a pixel array: sky and alternate WCS (FITS WCS papers I-III), IRAF's LTV/LTM, SIP
_PIXEL_WCS = re.compile(r"^((WCSAXES|WCSNAME|LONPOLE|LATPOLE|RADESYS|EQUINOX|(CRPIX|CRVAL|CTYPE|CUNIT|CDELT|CROTA"
                        r"|CRDER|CSYER)\d+|(CD|PC|PV|PS)\d+_\d+)[A-Z]?|RADECSYS|LTV\d|LTM\d_\d"
                        r"|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+))$")

_UNSAFE_HEADER_CHARS = re.compile(r"[^\x20-\x26\x28-\x7e]")  # printable ASCII but the quote: astropy misreads '' followed by a space


def header_safe(text) -> str:
    """A user string made safe for a FITS header value: printable ASCII without quotes (others become ?)."""
    return _UNSAFE_HEADER_CHARS.sub("?", str(text))


def is_archive_pointer(name: str) -> bool:
    """Whether ``name`` is one of afw's pointers into an Exposure's archive tables (``AR_HDU``,
    ``PSF_ID``, ``ARCHIVE_ID_<NAME>``...)."""
    return _ARCHIVE_POINTER.match(name) is not None


def is_container_card(name: str) -> bool:
    """Whether ``name`` describes the source file as an lsst.images container or a Butler dataset."""
    return name in CONTAINER_KEYS or name.startswith(_BUTLER_CARD)


def is_pixel_wcs(name: str) -> bool:
    """Whether ``name`` belongs to the WCS of a pixel array (``CRPIX1``, ``CD1_1``, ``CTYPE1A``, ``LTV1``,
    ``A_2_0``...)."""
    return _PIXEL_WCS.match(name) is not None


def content_cards(header: Header, holds_pixels: bool = False) -> Header:
    """``header`` without structural, identity and archive-pointer cards (and, with ``holds_pixels``, the
    pixel WCS): what of a source HDU may go into a cutout HDU (module docstring)."""
    key = (id(header), holds_pixels)
    found = _CONTENT_CACHE.get(key)
    if found is not None and found[0] is header:
        return found[1]
    generic = {name[len("ARCHIVE_ID_"):] + "_ID" for name, _, _ in header.cards if name.startswith("ARCHIVE_ID_")}
    cards = [card for card in header.cards
             if card[0] not in IDENTITY_KEYS and not is_structural(card[0]) and not is_archive_pointer(card[0])
             and not is_container_card(card[0]) and card[0] not in generic and not (holds_pixels and is_pixel_wcs(card[0]))]
    content = Header.__new__(Header)
    content.cards = cards
    if len(_CONTENT_CACHE) > 64:
        _CONTENT_CACHE.clear()
    _CONTENT_CACHE[key] = (header, content)  # the source is held, so its id is not reused while cached
    return content


# (id of a source header, holds_pixels) -> (that header, its content cards): source headers are read-only
# once their file is open (as for PlaneHeaderTemplate), and a batch makes many cutouts from one
_CONTENT_CACHE: dict = {}


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
        planes = planes_from_header(source) if plane == "MASK" and "MSKN0000" in source else []
        self.header = content_cards(source).updated({
            **(legacy_cards(planes) if not any(name.startswith("MP_") for name in source.names()) else {}),
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


def with_fitted_wcs(header: Header, fitted) -> Header:
    """``header`` with its primary sky WCS replaced by a fitted one (:class:`~cutout_cli.sky.wcs_fit.FittedWcs`;
    the ``A`` WCS and LTV stay), the fit's SIP order and largest error recorded (``WCSFITOR``,
    ``WCSFITMX``); or, with ``fitted`` None, marked as the source's FITS approximation (``WCSAPPRX``)."""
    if fitted is None:
        return header.updated({"WCSAPPRX": (True, "sky WCS: the source's FITS approximation, not exact")})
    return header.without_celestial_wcs().updated({
        **fitted.cards,
        "WCSFITOR": (fitted.order, "SIP order of the WCS fitted to the exact projection"),
        "WCSFITMX": (round(fitted.max_error_mas, 6), "[mas] largest error of the fitted WCS in the cutout"),
    })


PROVENANCE_KEYS = {
    "source": ("SRCFILE", "source file"),
    "dataset_type": ("DATASET", "dataset type"),
    "tract": ("TRACT", "tract id"),
    "patch": ("PATCH", "patch sequential index"),
    "band": ("BAND", "band"),
    "skymap": ("SKYMAP", "skymap name"),
    "dataset_id": ("DATAID", "Butler dataset id"),
    "run": ("RUN", "Butler run of the dataset"),
    "begin_x": ("CUTX0", "cutout begin x (PARENT pixels)"),
    "begin_y": ("CUTY0", "cutout begin y (PARENT pixels)"),
    "width": ("CUTW", "cutout width (pixels)"),
    "height": ("CUTH", "cutout height (pixels)"),
    "mode": ("CUTMODE", "partial: outside pixels NaN/NO_DATA"),
    "planes": ("CUTPLANE", "planes in this file"),
    "requested_planes": ("REQPLANE", "planes requested"),
    "complete": ("CUTFULL", "box wholly inside the source image"),
    "id": ("TARGETID", "target id"),
    "ra": ("REQRA", "requested RA (deg)"),
    "dec": ("REQDEC", "requested Dec (deg)"),
    "size": ("REQSIZE", "requested size"),
    "request": ("REQUEST", "request"),
}


def primary_header(source: Header, record: dict, holds_pixels: bool = False) -> Header:
    """The cutout's primary header: the source's (without what describes the source HDU, and without the
    pixel WCS when the source's primary is its IMAGE plane, ``holds_pixels``: module docstring), with the
    tool, the time and the provenance ``record`` (source file, dataset id, box, request) as keywords
    (:data:`PROVENANCE_KEYS`)."""
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
    return content_cards(source, holds_pixels).updated(updates)
