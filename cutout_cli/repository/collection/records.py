"""One indexed image: its record, its PARENT-frame WCS as a one-patch tract, and its sky footprint."""

from __future__ import annotations

import re
import json
import math
import warnings
from dataclasses import dataclass

import numpy as np

from ...sky.box import Box
from ...sky.sphere import angular_separation
from ...sky.tract import Tract
from ...errors import DataError
from .schema import COLUMNS, DEFAULT_BAND_KEYS, EDGE_SAMPLES

# The primary celestial WCS of a 2-D image (no alternate WCS letters), copied verbatim.
_WCS_KEY = re.compile(r"^((CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA)[12]|(CD|PC)[12]_[12]|P[VS][12]_\d+"
                      r"|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+))$")


# -- one image ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRecord:
    """One row of the index: an image, its PARENT-frame WCS and its footprint (degrees)."""

    id: int
    path: str
    hdu: int
    band: str
    width: int
    height: int
    x0: int
    y0: int
    wcs: dict
    ra: float
    dec: float
    radius: float
    ra_lo: float
    ra_width: float
    dec_min: float
    dec_max: float
    size: int
    mtime_ns: int

    @classmethod
    def from_row(cls, row) -> ImageRecord:
        values = dict(zip(COLUMNS, row))
        values["wcs"] = json.loads(values["wcs"])
        return cls(**values)

    def as_row(self) -> tuple:
        return tuple(json.dumps(self.wcs) if name == "wcs" else getattr(self, name) for name in COLUMNS)

    @property
    def bbox(self) -> Box:
        return Box(self.x0, self.y0, self.width, self.height)

    def tract(self) -> Tract:
        """The image as a one-patch tract (centre and reach from the index)."""
        tract = image_tract(self.id, self.wcs, self.bbox)
        tract.__dict__["center"] = (self.ra, self.dec)  # pre-fill the cached properties
        tract.__dict__["reach"] = self.radius
        return tract

    def as_dict(self) -> dict:
        """Summary record (stable field names) for listings."""
        return {"tract": self.id, "path": self.path, "band": self.band, "hdu": self.hdu, "width": self.width,
                "height": self.height, "x0": self.x0, "y0": self.y0, "ra": self.ra, "dec": self.dec,
                "radius": self.radius}


def _wcs_from_keywords(header: dict):
    """astropy WCS of keywords, parsed from card text (twice as fast as from a dict; same digits)."""
    from astropy.wcs import WCS

    from ...fits.header import format_card

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FITSFixedWarning for old-style keywords (RADECSYS, ...)
        return WCS(b"".join(format_card(k, v) for k, v in header.items()).decode("ascii"))


def image_tract(image_id: int, header: dict, bbox: Box) -> Tract:
    # one patch whose inner box, Box(0, 0, x0 + w, y0 + h) clipped to the bbox, is the whole image
    tract = Tract(image_id, header, bbox, (bbox.end_x, bbox.end_y), 0)
    tract.__dict__["wcs"] = _wcs_from_keywords(header)  # pre-fill the cached property
    return tract


def describe_image(path, band_keys=DEFAULT_BAND_KEYS) -> dict:
    """Read one FITS file's headers: its image HDU, band, PARENT box, WCS and footprint.

    Raises :class:`~cutout_cli.errors.CutoutError` (the reason to skip the file)
    when it holds no 2-D image, no celestial RA/Dec WCS, or cannot be read.
    """
    from ...fits.coadd import CoaddFile

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy's FITSFixedWarning and friends, for odd headers
        with CoaddFile(path) as image:
            wcs = image.wcs  # DataError without a celestial WCS
            if (wcs.wcs.lng, wcs.wcs.lat) != (0, 1):
                raise DataError(f"{path}: the celestial axes are in the order Dec, RA", "not supported")
            if (wcs.wcs.lngtyp, wcs.wcs.lattyp) != ("RA", "DEC"):
                raise DataError(f"{path}: the WCS is {wcs.wcs.lngtyp}/{wcs.wcs.lattyp}, not RA/Dec", "not supported")
            if min(image.xy0) < 0:
                raise DataError(f"{path}: negative XY0 {image.xy0}", "not supported")
            header = _parent_wcs_header(image)
            values = (source.get(key) for key in band_keys
                      for source in (image.plane_headers["IMAGE"], image.primary_header))
            band = next((str(v).strip() for v in values if v is not None and str(v).strip()), "")
            record = {"hdu": image.hdu_index("IMAGE"), "band": band, "width": image.bbox.width,
                      "height": image.bbox.height, "x0": image.xy0[0], "y0": image.xy0[1], "wcs": header}
            record.update(footprint(image_tract(0, header, image.bbox)))
    return record


def _parent_wcs_header(image) -> dict:
    """The image's celestial WCS keywords with CRPIX shifted to PARENT pixels.

    The keywords are copied verbatim (every digit kept); if the copy does not
    reproduce astropy's reading of the full header (old-style keywords and the
    like), astropy's own ``to_header`` is used instead.  A file whose header WCS
    is missing or approximate (lsst.images) gets the TAN-SIP WCS fitted to its
    exact projection over the whole image (``CoaddFile.fitted_wcs``).
    """
    raw = {}
    for name, value, _ in image.plane_headers["IMAGE"].cards:
        if _WCS_KEY.match(name) and name not in raw and isinstance(value, (bool, int, float, str)):
            raw[name] = value.strip() if isinstance(value, str) else value
    candidates = [raw, lambda: {k: v for k, v in image.wcs.to_header(relax=True).items()
                                if k not in ("COMMENT", "HISTORY", "")}]
    if image.projection_text is not None:  # no exact header WCS (lsst.images): the WCS fitted over the image
        candidates = [{name: value for name, (value, _) in image.fitted_wcs(image.bbox).cards.items()}]
    for candidate in candidates:
        header = dict(candidate() if callable(candidate) else candidate)
        for axis, shift in (("CRPIX1", image.xy0[0]), ("CRPIX2", image.xy0[1])):
            header[axis] = float(header.get(axis, 0.0)) + shift
        try:
            if _same_mapping(image, image_tract(0, header, image.bbox)):
                return header
        except Exception:  # noqa: BLE001 - astropy raises many types for odd keywords: try the next form
            continue
    raise DataError(f"{image.path}: cannot represent its WCS", "please report this file")


def _same_mapping(image, tract) -> bool:
    h, w = image.bbox.height, image.bbox.width
    xs, ys = (a.ravel() for a in np.meshgrid([0.0, (w - 1) / 2, w - 1.0], [0.0, (h - 1) / 2, h - 1.0]))
    ra1, dec1 = image.wcs.all_pix2world(xs, ys, 0)
    ra2, dec2 = tract.pixel_to_sky(xs + image.xy0[0], ys + image.xy0[1])
    with np.errstate(invalid="ignore"):
        sep = angular_separation(ra1, dec1, ra2, dec2)
    both = np.isfinite(ra1) & np.isfinite(dec1)
    return bool(np.all(both == (np.isfinite(ra2) & np.isfinite(dec2))) and np.all(sep[both] <= 1e-10))


def footprint(tract: Tract) -> dict:
    """Centre, radius and RA/Dec bounding box (degrees) of a tract's bbox (pixel edges).

    The boundary is sampled (:data:`EDGE_SAMPLES` points per edge); declination
    extremes of a region are on its boundary unless it holds a pole, which is
    tested separately.  Bounds are padded by 0.1 % of the radius plus 1 arcsec.
    A WCS that does not map the whole boundary to the sky (an all-sky
    projection) gets the whole sky.
    """
    box = tract.bbox
    x0, x1, y0, y1 = box.begin_x - 0.5, box.end_x - 0.5, box.begin_y - 0.5, box.end_y - 0.5
    t = np.linspace(0.0, 1.0, EDGE_SAMPLES + 1)[:-1]
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t, np.full_like(t, x0)])
    ys = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1), y1 - (y1 - y0) * t])
    with np.errstate(invalid="ignore"):
        ra, dec = (np.asarray(v, dtype=float) for v in tract.pixel_to_sky(xs, ys))
        cra, cdec = tract.center
    if not (np.all(np.isfinite(ra)) and np.all(np.isfinite(dec)) and math.isfinite(cra) and math.isfinite(cdec)):
        centre = (cra, cdec) if math.isfinite(cra) and math.isfinite(cdec) else (0.0, 0.0)
        return {"ra": centre[0], "dec": centre[1], "radius": 180.0, "ra_lo": 0.0, "ra_width": 360.0,
                "dec_min": -90.0, "dec_max": 90.0}
    ra = ra % 360.0
    radius = float(np.max(angular_separation(cra, cdec, ra, dec)))
    pad = 1e-3 * radius + 1.0 / 3600.0
    dec_min, dec_max = max(-90.0, float(dec.min()) - pad), min(90.0, float(dec.max()) + pad)
    poles = [p for p in (90.0, -90.0) if _holds_pole(tract, p, x0, x1, y0, y1)]
    if 90.0 in poles:
        dec_max = 90.0
    if -90.0 in poles:
        dec_min = -90.0
    ra_lo, ra_width = 0.0, 360.0
    cos_dec = math.cos(math.radians(max(abs(dec_min), abs(dec_max))))
    if not poles and cos_dec > 1e-9:
        ordered = np.sort(ra)
        gaps = np.diff(np.append(ordered, ordered[0] + 360.0))
        k = int(np.argmax(gaps))
        pad_ra = pad / cos_dec
        width = 360.0 - float(gaps[k]) + 2 * pad_ra
        if width < 360.0:
            ra_lo, ra_width = (float(ordered[(k + 1) % len(ordered)]) - pad_ra) % 360.0, width
    return {"ra": cra, "dec": cdec, "radius": radius + pad, "ra_lo": ra_lo, "ra_width": ra_width,
            "dec_min": dec_min, "dec_max": dec_max}


def _holds_pole(tract: Tract, pole: float, x0, x1, y0, y1) -> bool:
    with np.errstate(invalid="ignore"):
        x, y = (float(v) for v in tract.sky_to_pixel(0.0, pole))
    if not (math.isfinite(x) and math.isfinite(y) and x0 <= x <= x1 and y0 <= y <= y1):
        return False
    _, dec = tract.pixel_to_sky(x, y)  # guard against an iterative SIP inverse that did not converge
    return abs(float(dec) - pole) < 1e-6
