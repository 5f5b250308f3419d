"""Any folder of FITS images as a repository: the image index and :class:`ImageCollection`.

``cutout index DIR`` (:func:`build_index`) reads the headers of every FITS image
under DIR once and records its sky footprint in ``DIR/.cutout-index.sqlite``.
Opened as a repository (``--repo DIR``, :func:`cutout_cli.repo.open_repository`),
the folder is an :class:`ImageCollection`: a :class:`~cutout_cli.repo.Repository`
whose skymap is explicit and whose tracts are the images, so query, subset,
batch and mosaics work on it as on a skymap repository.

The model
---------
Each image is a tract with a single patch (index 0):

* tract id = image id (kept across ``cutout index --update``);
* tract WCS = the image's celestial WCS with ``CRPIX`` shifted so that pixel
  coordinates are PARENT: for a plain FITS image XY0 = (0, 0) (PARENT = array
  pixels); for an afw-layout file the file's XY0 (``LTV1/2`` or the ``A`` WCS);
* tract bbox = the image's PARENT box; one patch of inner dimensions
  ``XY0 + (width, height)`` (so its inner box is the whole image), border 0.

findTract picks, among the images holding a position, the one whose centre is
nearest (lsst DiscreteSkyMap semantics, as :class:`~cutout_cli.skymap.ExplicitSkyMap`).

Bands
-----
An image's band is the value of its ``BAND``, ``FILTER`` or ``FILTNAM`` keyword
(the first present, IMAGE HDU then primary; ``--band-key`` names one), or ``''``
when it has none.  A requested band ``B`` selects the images whose band is
exactly ``B``; ``any`` (:data:`ANY_BAND`; ``None`` in the library) selects every
image whatever its band; ``''`` the images without one.  Home images are
chosen among the selected images only, so in a folder of r and g exposures
``--band g`` always cuts a g image.

The index file
--------------
SQLite, written to a temporary file and renamed (a reader never sees a partial
index; a failed run leaves the previous one), read with ``mode=ro&immutable=1``
(no locks: safe on network file systems and in many worker processes).
Tables: ``meta`` (key, value); ``images``, one row per image: ``id``, ``path``
(relative to DIR, ``/``-separated), ``hdu``, ``band``, ``width``, ``height``,
``x0``, ``y0``, ``wcs`` (the PARENT-frame WCS keywords as JSON), the footprint
(centre ``ra``/``dec`` and ``radius`` in degrees, and the RA/Dec bounding box
``ra_lo``, ``ra_width``, ``dec_min``, ``dec_max`` used by the SQL candidate
search), ``size`` and ``mtime_ns`` (for ``--update``); ``skipped``: files
matched but not indexed, with the reason.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import os
import re
import secrets
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import CutoutError, DataError, InputError, NotFoundError, OutputError
from .geometry import Box, round_half_up
from .repo import DatasetRef, Repository
from .skymap import ExplicitSkyMap, Tract
from .sphere import angular_separation

INDEX_NAME = ".cutout-index.sqlite"
INDEX_FORMAT = "cutout-image-index"
INDEX_VERSION = 1
DATASET_TYPE = "image"
SKYMAP_NAME = "images"
ANY_BAND = "any"
DEFAULT_BAND_KEYS = ("BAND", "FILTER", "FILTNAM")
DEFAULT_PATTERNS = ("*.fits", "*.fits.fz")
EDGE_SAMPLES = 64  # points per image edge for the footprint
TRACT_CACHE = 2048  # parsed image WCSs kept in memory

# The primary celestial WCS of a 2-D image (no alternate WCS letters), copied verbatim.
_WCS_KEY = re.compile(r"^((CTYPE|CRPIX|CRVAL|CDELT|CUNIT|CROTA)[12]|(CD|PC)[12]_[12]|P[VS][12]_\d+"
                      r"|LONPOLE|LATPOLE|RADESYS|RADECSYS|EQUINOX|EPOCH|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+))$")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, hdu INTEGER NOT NULL, band TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, x0 INTEGER NOT NULL, y0 INTEGER NOT NULL,
    wcs TEXT NOT NULL, ra REAL NOT NULL, dec REAL NOT NULL, radius REAL NOT NULL,
    ra_lo REAL NOT NULL, ra_width REAL NOT NULL, dec_min REAL NOT NULL, dec_max REAL NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
CREATE INDEX images_dec ON images (dec_min, dec_max);
CREATE INDEX images_band ON images (band);
CREATE TABLE skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL);
"""
_COLUMNS = ("id", "path", "hdu", "band", "width", "height", "x0", "y0", "wcs", "ra", "dec", "radius",
            "ra_lo", "ra_width", "dec_min", "dec_max", "size", "mtime_ns")


def is_image_collection(root) -> bool:
    """True for a local folder holding an image index and no ``repo.json`` (repo.json wins)."""
    from .remote import is_remote

    if is_remote(root):
        return False
    root = Path(root)
    return (root / INDEX_NAME).is_file() and not (root / "repo.json").exists()


def band_matches(requested: str | None, band: str) -> bool:
    """Does an image of ``band`` belong to the ``requested`` band (``None``/``any``: every image)?"""
    return requested is None or requested == ANY_BAND or requested == band


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
        values = dict(zip(_COLUMNS, row))
        values["wcs"] = json.loads(values["wcs"])
        return cls(**values)

    def as_row(self) -> tuple:
        return tuple(json.dumps(self.wcs) if name == "wcs" else getattr(self, name) for name in _COLUMNS)

    @property
    def bbox(self) -> Box:
        return Box(self.x0, self.y0, self.width, self.height)

    def tract(self) -> Tract:
        """The image as a one-patch tract (centre and reach from the index)."""
        tract = _image_tract(self.id, self.wcs, self.bbox)
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

    from .header import format_card

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FITSFixedWarning for old-style keywords (RADECSYS, ...)
        return WCS(b"".join(format_card(k, v) for k, v in header.items()).decode("ascii"))


def _image_tract(image_id: int, header: dict, bbox: Box) -> Tract:
    # one patch whose inner box, Box(0, 0, x0 + w, y0 + h) clipped to the bbox, is the whole image
    tract = Tract(image_id, header, bbox, (bbox.end_x, bbox.end_y), 0)
    tract.__dict__["wcs"] = _wcs_from_keywords(header)  # pre-fill the cached property
    return tract


def describe_image(path, band_keys=DEFAULT_BAND_KEYS) -> dict:
    """Read one FITS file's headers: its image HDU, band, PARENT box, WCS and footprint.

    Raises :class:`~cutout_cli.errors.CutoutError` (the reason to skip the file)
    when it holds no 2-D image, no celestial RA/Dec WCS, or cannot be read.
    """
    from .reader import CoaddFile

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
            record = {"hdu": int(image._hdus["IMAGE"]), "band": band, "width": image.bbox.width,
                      "height": image.bbox.height, "x0": image.xy0[0], "y0": image.xy0[1], "wcs": header}
            record.update(footprint(_image_tract(0, header, image.bbox)))
    return record


def _parent_wcs_header(image) -> dict:
    """The image's celestial WCS keywords with CRPIX shifted to PARENT pixels.

    The keywords are copied verbatim (every digit kept); if the copy does not
    reproduce astropy's reading of the full header (old-style keywords and the
    like), astropy's own ``to_header`` is used instead.
    """
    raw = {}
    for name, value, _ in image.plane_headers["IMAGE"].cards:
        if _WCS_KEY.match(name) and name not in raw and isinstance(value, (bool, int, float, str)):
            raw[name] = value.strip() if isinstance(value, str) else value
    candidates = [raw, lambda: {k: v for k, v in image.wcs.to_header(relax=True).items()
                                if k not in ("COMMENT", "HISTORY", "")}]
    for candidate in candidates:
        header = dict(candidate() if callable(candidate) else candidate)
        for axis, shift in (("CRPIX1", image.xy0[0]), ("CRPIX2", image.xy0[1])):
            header[axis] = float(header.get(axis, 0.0)) + shift
        try:
            if _same_mapping(image, _image_tract(0, header, image.bbox)):
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


# -- building the index ----------------------------------------------------------------------
@dataclass
class IndexSummary:
    """What :func:`build_index` did."""

    folder: str
    index: str
    images: int
    new: int
    changed: int
    unchanged: int
    removed: int
    skipped: int
    bands: list

    def as_dict(self) -> dict:
        return {"folder": self.folder, "index": self.index, "images": self.images, "new": self.new,
                "changed": self.changed, "unchanged": self.unchanged, "removed": self.removed,
                "skipped": self.skipped, "bands": ",".join(b or "''" for b in self.bands)}


def build_index(folder, band_key: str | None = None, patterns=None, update: bool = False,
                report=None) -> IndexSummary:
    """Index every FITS image under ``folder`` into ``folder/.cutout-index.sqlite``.

    Parameters
    ----------
    folder : path-like
        The folder, walked recursively (hidden files and folders, and symbolic
        links to folders, are not followed).
    band_key : str, optional
        Header keyword holding the band; default the first of BAND, FILTER, FILTNAM.
    patterns : sequence of str, optional
        File-name patterns, case-insensitive (default ``*.fits``, ``*.fits.fz``);
        a pattern with a ``/`` matches the path relative to ``folder``.
    update : bool
        Keep the rows (and ids) of files whose size and modification time did
        not change; read only new and changed files, drop removed ones.  The
        band key and patterns default to those of the existing index.
    report : callable, optional
        ``report(message)`` for each file skipped (no 2-D image, no celestial
        WCS, unreadable): such files are not an error for the whole run.

    Raises
    ------
    InputError
        ``folder`` does not exist or is not a folder (exit 2).
    NotFoundError
        No image with a celestial WCS was found (exit 3); nothing is written.
    OutputError
        The index cannot be written (exit 4).
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{folder} does not exist", "give a folder of FITS images")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder", "give the folder holding the FITS images")
    report = report or (lambda message: None)
    index_path = folder / INDEX_NAME
    previous = _read_previous(index_path) if update and index_path.is_file() else None
    old_meta = previous["meta"] if previous else {}
    old_keys = tuple(json.loads(old_meta.get("band_keys", "[]"))) or DEFAULT_BAND_KEYS
    old_patterns = tuple(json.loads(old_meta.get("patterns", "[]"))) or DEFAULT_PATTERNS
    band_keys = (band_key.strip().upper(),) if band_key else old_keys
    patterns = tuple(patterns or ()) or old_patterns
    reread = previous is not None and (band_keys != old_keys or patterns != old_patterns)
    if reread:
        report("note: the band key or patterns changed: every file is read again")
    old_images = {r.path: r for r in previous["images"]} if previous else {}
    old_skipped = previous["skipped"] if previous else {}

    images, skipped = [], []
    counts = {"new": 0, "changed": 0, "unchanged": 0}
    carried_skips = 0
    for rel, size, mtime_ns, problem in _scan(folder, patterns):
        if problem:
            report(f"skipped {rel}: {problem}")
            continue
        old = old_images.get(rel)
        if old is not None and (old.size, old.mtime_ns) == (size, mtime_ns) and not reread:
            images.append(old)
            counts["unchanged"] += 1
            continue
        if rel in old_skipped and old_skipped[rel][1:] == (size, mtime_ns) and not reread:
            skipped.append((rel, *old_skipped[rel]))
            carried_skips += 1
            continue
        try:
            values = describe_image(folder / rel, band_keys)
        except Exception as err:  # noqa: BLE001 - any unreadable file is skipped, never fatal
            reason = _reason(err, folder / rel)
            report(f"skipped {rel}: {reason}")
            skipped.append((rel, reason, size, mtime_ns))
            continue
        counts["changed" if old is not None else "new"] += 1
        images.append((rel, values, size, mtime_ns, old.id if old is not None else None))
    if carried_skips:
        report(f"skipped {carried_skips} unchanged file(s) that could not be indexed before "
               "(listed in the index's 'skipped' table)")

    if not images:
        raise NotFoundError(f"no FITS image with a celestial WCS in {folder}",
                            f"{len(skipped)} file(s) matching {', '.join(patterns)} skipped" if skipped
                            else f"no file matches {', '.join(patterns)}; see --pattern")
    next_id = int(old_meta.get("next_id", 0))
    records = []
    for item in images:
        if isinstance(item, ImageRecord):
            records.append(item)
            continue
        rel, values, size, mtime_ns, image_id = item
        if image_id is None:
            image_id, next_id = next_id, next_id + 1
        records.append(ImageRecord(id=image_id, path=rel, size=size, mtime_ns=mtime_ns, **values))
    next_id = max(next_id, max(r.id for r in records) + 1)
    present = {r.path for r in records} | {s[0] for s in skipped}
    removed = sum(1 for path in old_images if path not in present)
    meta = {"format": INDEX_FORMAT, "version": str(INDEX_VERSION), "band_keys": json.dumps(list(band_keys)),
            "patterns": json.dumps(list(patterns)), "next_id": str(next_id),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tool": _tool_version()}
    _write_index(index_path, meta, records, skipped)
    return IndexSummary(str(folder), str(index_path), len(records), counts["new"], counts["changed"],
                        counts["unchanged"], removed, len(skipped), sorted({r.band for r in records}))


def _reason(err: BaseException, path) -> str:
    text = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
    if not isinstance(err, CutoutError):
        text = f"{type(err).__name__}: {text}"
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text.replace(f"{path} ", "", 1)


def _scan(folder: Path, patterns) -> list[tuple[str, int, int, str]]:
    """``(relative path, size, mtime_ns, problem)`` of matching files, sorted by path."""
    lowered = [p.lower() for p in patterns]
    found = []

    def unreadable(err: OSError):
        rel = os.path.relpath(err.filename or str(folder), folder).replace(os.sep, "/")
        found.append((rel + "/", 0, 0, f"cannot list the folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if not any(fnmatch.fnmatchcase((rel if "/" in p else name).lower(), p) for p in lowered):
                continue
            try:
                st = os.stat(full)
            except OSError as err:
                found.append((rel, 0, 0, f"cannot read it: {err.strerror}"))
                continue
            if os.path.isfile(full):
                found.append((rel, st.st_size, st.st_mtime_ns, ""))
    return sorted(found)


def _tool_version() -> str:
    from . import __version__

    return f"cutout {__version__}"


def _read_previous(path: Path) -> dict | None:
    """The rows of an existing index (for ``--update``); None when it cannot be read."""
    import sqlite3

    try:
        with contextlib.closing(_connect_readonly(path)) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            if meta.get("format") != INDEX_FORMAT or int(meta.get("version", 0)) != INDEX_VERSION:
                return None
            images = [ImageRecord.from_row(row) for row in conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM images")]
            skipped = {p: (reason, size, mtime) for p, reason, size, mtime in
                       conn.execute("SELECT path, reason, size, mtime_ns FROM skipped")}
    except (sqlite3.Error, ValueError, TypeError, json.JSONDecodeError):
        return None
    return {"meta": meta, "images": images, "skipped": skipped}


def _write_index(path: Path, meta: dict, records: list[ImageRecord], skipped: list) -> None:
    """Write the index to a temporary file beside ``path``, then rename it into place."""
    import sqlite3

    _remove_stale_temporaries(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with contextlib.closing(sqlite3.connect(tmp)) as conn:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.executescript(_SCHEMA)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            conn.executemany(f"INSERT INTO images VALUES ({', '.join('?' * len(_COLUMNS))})",
                             (r.as_row() for r in sorted(records, key=lambda r: r.id)))
            conn.executemany("INSERT INTO skipped VALUES (?, ?, ?, ?)", skipped)
            conn.commit()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (sqlite3.Error, OSError) as err:
        raise OutputError(f"cannot write the image index {path}: {getattr(err, 'strerror', None) or err}",
                          "the folder must be writable") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _remove_stale_temporaries(path: Path, age: float = 3600.0) -> None:
    """Temporary index files left by a killed run (older than ``age`` seconds)."""
    for leftover in path.parent.glob(f"{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > age:
                leftover.unlink()


def _connect_readonly(path: Path):
    import sqlite3

    if not path.is_file():
        raise sqlite3.OperationalError(f"{path} does not exist")
    # immutable: no locks, no journal; the index is only ever replaced by a rename
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False)


# -- reading the index ----------------------------------------------------------------------
class ImageIndex:
    """Read access to an index file (one connection per process, opened on first use)."""

    def __init__(self, path):
        self.path = Path(path)
        self._conn = None
        self._pid = None

    def __getstate__(self):
        return {"path": self.path, "_conn": None, "_pid": None}

    @property
    def connection(self):
        if self._conn is None or self._pid != os.getpid():
            import sqlite3

            hint = f"rebuild it with 'cutout index {self.path.parent}'"
            try:
                conn = _connect_readonly(self.path)
                meta = dict(conn.execute("SELECT key, value FROM meta"))
                conn.execute("SELECT id FROM images LIMIT 1").fetchall()
            except sqlite3.Error as err:
                raise DataError(f"cannot read the image index {self.path}: {err}", hint) from None
            if meta.get("format") != INDEX_FORMAT:
                raise DataError(f"{self.path} is not a cutout image index", hint)
            if int(meta.get("version", 0)) != INDEX_VERSION:
                raise DataError(f"{self.path} has index version {meta.get('version')}, this cutout reads "
                                f"version {INDEX_VERSION}", hint)
            self._conn, self._pid, self.meta = conn, os.getpid(), meta
        return self._conn

    def _query(self, sql: str, parameters=()):
        import sqlite3

        try:
            return self.connection.execute(sql, parameters).fetchall()
        except sqlite3.Error as err:
            raise DataError(f"cannot read the image index {self.path}: {err}",
                            f"rebuild it with 'cutout index {self.path.parent}'") from None

    def record(self, image_id: int) -> ImageRecord | None:
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM images WHERE id = ?", (int(image_id),))
        return ImageRecord.from_row(rows[0]) if rows else None

    def records(self, band: str | None = None) -> list[ImageRecord]:
        where, parameters = _band_clause(band)
        return [ImageRecord.from_row(row) for row in
                self._query(f"SELECT {', '.join(_COLUMNS)} FROM images {where} ORDER BY id", parameters)]

    def count(self, band: str | None = None) -> int:
        where, parameters = _band_clause(band)
        return int(self._query(f"SELECT COUNT(*) FROM images {where}", parameters)[0][0])

    def ids(self, limit: int = 10) -> list[int]:
        return [int(r[0]) for r in self._query("SELECT id FROM images ORDER BY id LIMIT ?", (limit,))]

    def bands(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT band FROM images ORDER BY band")]

    def near(self, ra: float, dec: float, radius: float = 0.0, band: str | None = None) -> list[tuple]:
        """``(id, ra, dec, radius)`` of images whose bounding box may reach within ``radius`` of (ra, dec)."""
        ra = float(ra) % 360.0
        where, parameters = _band_clause(band, "AND")
        dra = _ra_reach(dec, radius)
        sql = ("SELECT id, ra, dec, radius FROM images WHERE dec_max >= ? AND dec_min <= ? "
               + _ra_clause(dra) + where + " ORDER BY id")
        ra_parameters = () if dra is None else tuple(
            v for shift in (0.0, 360.0, -360.0) for v in (dra, ra + shift, ra + shift, dra))
        return self._query(sql, (dec - radius, dec + radius, *ra_parameters, *parameters))

    def in_dec_range(self, dec_min: float, dec_max: float, band: str | None = None) -> list[tuple]:
        """``(id, ra, dec, ra_lo, ra_width, dec_min, dec_max)`` of images overlapping a Dec range, by id."""
        where, parameters = _band_clause(band, "AND")
        return self._query("SELECT id, ra, dec, ra_lo, ra_width, dec_min, dec_max FROM images "
                           "WHERE dec_max >= ? AND dec_min <= ? " + where + " ORDER BY id",
                           (dec_min, dec_max, *parameters))


def _band_clause(band: str | None, joiner: str = "WHERE") -> tuple[str, tuple]:
    if band is None or band == ANY_BAND:
        return "", ()
    return f" {joiner} band = ?", (band,)


def _ra_reach(dec: float, radius: float) -> float | None:
    """Half-width in RA (degrees) of a circle; None when it holds a pole."""
    if radius <= 0:
        return 0.0
    if abs(dec) + radius >= 90.0 or radius >= 90.0:
        return None
    return math.degrees(math.asin(min(1.0, math.sin(math.radians(radius)) / math.cos(math.radians(dec)))))


def _ra_clause(dra: float | None) -> str:
    if dra is None:
        return ""
    one = "(ra_lo - ? <= ? AND ? <= ra_lo + ra_width + ?)"
    return f"AND (ra_width >= 360.0 OR {one} OR {one} OR {one}) "


# -- the skymap whose tracts are the images ---------------------------------------------------
class CollectionSkyMap(ExplicitSkyMap):
    """An explicit skymap whose tracts are the images of an index (read lazily).

    ``band`` restricts the images considered by the spatial lookups (findTract,
    candidates); :meth:`tract` serves any image by id.
    """

    def __init__(self, index: ImageIndex, band: str | None = None, name: str = SKYMAP_NAME, cache=None):
        self.name = name
        self.index = index
        self.band = None if band == ANY_BAND else band
        self._tracts = cache if cache is not None else OrderedDict()

    def __len__(self) -> int:
        return self.index.count(self.band)

    def __repr__(self) -> str:
        return f"CollectionSkyMap({str(self.index.path)!r}, band={self.band!r})"

    def _what(self) -> str:
        return f"image of {self.index.path.parent}" + (f" in band {self.band!r}" if self.band is not None else "")

    def tract(self, tract_id: int) -> Tract:
        tract_id = int(tract_id)
        tract = self._tracts.get(tract_id)
        if tract is None:
            record = self.index.record(tract_id)
            if record is None:
                raise NotFoundError(f"image {tract_id} is not in the index {self.index.path}",
                                    f"image ids include {self.index.ids()}; list them with 'cutout query'")
            tract = record.tract()
            self._tracts[tract_id] = tract
            if len(self._tracts) > TRACT_CACHE:
                self._tracts.popitem(last=False)
        return tract

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        """Images whose footprint may reach within ``radius`` of (ra, dec): SQL on the bounding boxes."""
        rows = self.index.near(ra, dec, radius, self.band)
        if not rows:
            return []
        ids = np.array([r[0] for r in rows])
        distance = angular_separation(ra, dec, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))
        return [int(i) for i in ids[distance <= np.array([r[3] for r in rows]) + radius]]

    def patches_overlapping(self, ra: float, dec: float, radius: float = 0.0) -> list:
        """The (one) patch of every image holding the point; for a circle, of every image whose
        footprint circle reaches it: a superset, as for tracts (:mod:`cutout_cli.regions` decides
        exactly).  No pixel-space test far from an image: a SIP inverse diverges there."""
        if radius <= 0:
            return super().patches_overlapping(ra, dec, radius)
        return [self.tract(t).patch(0) for t in sorted(self.candidate_tract_ids(ra, dec, radius))]

    def find_tract(self, ra: float, dec: float) -> Tract:
        """The image holding (ra, dec) whose centre is nearest (findTract)."""
        best = None
        for tract_id in self.candidate_tract_ids(ra, dec):
            tract = self.tract(tract_id)
            x, y = (float(v) for v in tract.sky_to_pixel(ra, dec))
            if math.isfinite(x) and math.isfinite(y) and tract.bbox.contains_pixel(round_half_up(x), round_half_up(y)):
                distance = float(angular_separation(ra, dec, *tract.center))
                if best is None or distance < best[0]:
                    best = (distance, tract)
        if best is None:
            hint = None
            if self.band is not None:
                hint = (f"bands indexed: {', '.join(repr(b) for b in self.index.bands())}; "
                        f"--band {ANY_BAND} takes every image")
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is in no {self._what()}", hint)
        return best[1]

    def find_tract_ids(self, ras, decs) -> np.ndarray:
        """Vectorised findTract: the home image id of each position, -1 where none.

        Loops over the images whose bounding box meets the positions' Dec range,
        each testing only the positions inside its bounding box with one
        vectorised WCS call.  Same rule and tie-break (lowest id) as :meth:`find_tract`.
        """
        ras = np.atleast_1d(np.asarray(ras, dtype=float)) % 360.0
        decs = np.atleast_1d(np.asarray(decs, dtype=float))
        ids = np.full(len(ras), -1, dtype=np.int64)
        valid = np.flatnonzero(np.isfinite(ras) & np.isfinite(decs))
        if not len(valid):
            return ids
        best = np.full(len(ras), np.inf)
        order = valid[np.argsort(decs[valid], kind="stable")]
        sorted_dec = decs[order]
        for image_id, cra, cdec, ra_lo, ra_width, dec_min, dec_max in self.index.in_dec_range(
                float(sorted_dec[0]), float(sorted_dec[-1]), self.band):
            rows = order[np.searchsorted(sorted_dec, dec_min, "left"):np.searchsorted(sorted_dec, dec_max, "right")]
            if len(rows) and ra_width < 360.0:
                rows = rows[(ras[rows] - ra_lo) % 360.0 <= ra_width]
            if not len(rows):
                continue
            tract = self.tract(image_id)
            with np.errstate(invalid="ignore"):
                x, y = (np.atleast_1d(v) for v in tract.sky_to_pixel(ras[rows], decs[rows]))
            finite = np.isfinite(x) & np.isfinite(y)
            ix = np.floor(np.where(finite, x, -1e18) + 0.5)
            iy = np.floor(np.where(finite, y, -1e18) + 0.5)
            box = tract.bbox
            inside = finite & (ix >= box.begin_x) & (ix < box.end_x) & (iy >= box.begin_y) & (iy < box.end_y)
            rows = rows[inside]
            distance = angular_separation(ras[rows], decs[rows], cra, cdec)
            better = distance < best[rows]
            ids[rows[better]] = image_id
            best[rows[better]] = distance[better]
        return ids


# -- the repository -------------------------------------------------------------------------
class ImageCollection(Repository):
    """A folder of FITS images indexed by ``cutout index``, with the :class:`Repository` interface.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``.cutout-index.sqlite`` (default ``$CUTOUT_REPO``).
    band : str, optional
        Restrict the spatial lookups (home image, query, cutouts) to images of
        this band (see the module docstring); :meth:`for_band` makes such views.

    There is one dataset type, ``image``; tracts are image ids and every image
    has one patch, 0.  ``query``, ``cutout``, ``get``, ``get_box``, ``deferred``
    and ``batch`` work as on any repository; ``--band any`` (``band=None``)
    takes every image whatever its band.
    """

    def __init__(self, root=None, band: str | None = None, *, index: ImageIndex | None = None):
        root = root or os.environ.get("CUTOUT_REPO")
        if not root:
            raise InputError("give the folder of an image collection")
        self.remote = None
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"image folder {self.root} does not exist",
                            "give --repo a folder indexed by 'cutout index'")
        if index is None and not (self.root / INDEX_NAME).is_file():
            raise DataError(f"{self.root} has no image index {INDEX_NAME}", f"run 'cutout index {self.root}' first")
        self.index = index or ImageIndex(self.root / INDEX_NAME)
        self.band = None if band == ANY_BAND else band
        self.templates = {DATASET_TYPE: "{path}"}
        self.config = {"skymap": {"type": "images", "name": SKYMAP_NAME}, "datasets": dict(self.templates)}
        self._views: dict = {}

    def __repr__(self) -> str:
        band = "" if self.band is None else f", band={self.band!r}"
        return f"ImageCollection({str(self.root)!r}{band})"

    def __len__(self) -> int:
        return len(self.skymap)

    @cached_property
    def skymap(self) -> CollectionSkyMap:
        """The images as an explicit skymap (restricted to :attr:`band` for spatial lookups)."""
        return CollectionSkyMap(self.index, self.band)

    def for_band(self, band: str | None) -> ImageCollection:
        """This collection seen through one band (``None`` or ``any``: every image)."""
        band = None if band == ANY_BAND else band
        if band == self.band:
            return self
        if band not in self._views:
            view = ImageCollection(self.root, band, index=self.index)
            view.__dict__["skymap"] = CollectionSkyMap(self.index, band, cache=self.skymap._tracts)
            self._views[band] = view
        return self._views[band]

    def images(self, band: str | None = None) -> list[dict]:
        """Every indexed image (of ``band``), by id, as records."""
        return [r.as_dict() for r in self.index.records(band)]

    # -- paths: the index instead of templates ---------------------------------------------
    def _record(self, tract_id: int) -> ImageRecord:
        record = self.index.record(tract_id)
        if record is None:
            raise NotFoundError(f"image {tract_id} is not in the index {self.index.path}")
        return record

    def expected_path(self, dataset_type: str | None, patch, band: str) -> Path:
        self._template(dataset_type)
        return self.root / self._record(patch.tract).path

    def bands(self, dataset_type: str | None, patch) -> list[str]:
        self._template(dataset_type)
        return [self._record(patch.tract).band]

    def find(self, dataset_type: str | None, patch, band: str) -> DatasetRef | None:
        dataset_type, _ = self._template(dataset_type)
        record = self.index.record(patch.tract)
        if record is None or patch.index != 0 or not band_matches(band, record.band):
            return None
        path = self.root / record.path
        if not path.is_file():
            return None
        return DatasetRef(dataset_type, record.id, 0, 0, 0, record.band, str(path), patch.outer)

    def ref(self, dataset_type: str | None, tract: int, patch, band: str) -> DatasetRef:
        patch_info = self.skymap.tract(tract).patch(patch)
        ref = self.find(dataset_type, patch_info, band)
        if ref is not None:
            return ref
        record = self._record(tract)
        if not (self.root / record.path).is_file():
            raise NotFoundError(f"image {tract} ({self.root / record.path}) no longer exists",
                                f"update the index: cutout index {self.root} --update")
        raise NotFoundError(f"image {tract} ({record.path}) has band {record.band!r}, not {band!r}",
                            f"give --band {record.band or ANY_BAND!r}, or --band {ANY_BAND} for every image")

    # -- spatial requests: the home image is chosen among the images of the band -----------
    def query(self, dataset_type: str | None = None, band: str | None = None, *args, **kwargs):
        """As :meth:`Repository.query`; ``band`` None or ``any``: every image."""
        return Repository.query(self.for_band(band), dataset_type, band, *args, **kwargs)

    def cutout(self, ra: float, dec: float, size, band: str, *args, **kwargs):
        """As :meth:`Repository.cutout`, from the images of ``band`` (``any``: every image)."""
        return Repository.cutout(self.for_band(band), ra, dec, size, band, *args, **kwargs)

    def region_cutout(self, pos, band: str, *args, **kwargs):
        """As :meth:`Repository.region_cutout`, from the images of ``band`` (``any``: every image)."""
        return Repository.region_cutout(self.for_band(band), pos, band, *args, **kwargs)

    def home_tract_ids(self, ras, decs, band_codes, bands) -> np.ndarray:
        """Vectorised findTract per band, for batch planning: ``bands[band_codes[i]]`` is row i's band."""
        ras, decs, band_codes = np.asarray(ras), np.asarray(decs), np.asarray(band_codes)
        ids = np.full(len(ras), -1, dtype=np.int64)
        for code in np.unique(band_codes):
            members = band_codes == code
            view = self.for_band(bands[code] if code >= 0 else None)
            ids[members] = view.skymap.find_tract_ids(ras[members], decs[members])
        return ids
