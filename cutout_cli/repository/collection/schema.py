"""The image index's file: its name, format, tables, and the band rule (package docstring: "The index file")."""

from __future__ import annotations


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

SCHEMA = """
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
COLUMNS = ("id", "path", "hdu", "band", "width", "height", "x0", "y0", "wcs", "ra", "dec", "radius",
            "ra_lo", "ra_width", "dec_min", "dec_max", "size", "mtime_ns")

def band_matches(requested: str | None, band: str) -> bool:
    """Does an image of ``band`` belong to the ``requested`` band (``None``/``any``: every image)?"""
    return requested is None or requested == ANY_BAND or requested == band
