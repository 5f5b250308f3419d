"""Reading the image index: SQLite opened read-only and immutable, queried by band and footprint."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ...errors import DataError
from .records import ImageRecord
from .schema import ANY_BAND, COLUMNS, INDEX_FORMAT, INDEX_VERSION

def connect_readonly(path: Path):
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
                conn = connect_readonly(self.path)
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
        rows = self._query(f"SELECT {', '.join(COLUMNS)} FROM images WHERE id = ?", (int(image_id),))
        return ImageRecord.from_row(rows[0]) if rows else None

    def records(self, band: str | None = None) -> list[ImageRecord]:
        where, parameters = _band_clause(band)
        return [ImageRecord.from_row(row) for row in
                self._query(f"SELECT {', '.join(COLUMNS)} FROM images {where} ORDER BY id", parameters)]

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
