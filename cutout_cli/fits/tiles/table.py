"""The tile table of a tile-compressed image: the one parser of its geometry and columns.

The FITS tiled-image convention stores an image as a binary table with one
row per tile (x fastest): heap descriptors of the compressed bytes
(``COMPRESSED_DATA``, and ``GZIP_COMPRESSED_DATA`` / ``UNCOMPRESSED_DATA``
for tiles that could not be quantised) and per-tile scalars such as
``ZSCALE``/``ZZERO``.  :class:`TileTable` reads what the raw table header
says: the image and tile shapes, where each column lies in a row, and where
the heap starts.  The local decoder (:mod:`.plane`) and the ranged reader
(:mod:`cutout_cli.fits.ranged`) both use it: the first to decode tiles, the
second to fetch their bytes before astropy asks for them.

Conventions: boxes are LOCAL array slices ``[rows, cols]`` (0-based, end
exclusive); tiles are numbered from 0, x fastest, as the table's rows; byte
offsets are relative to the start of the HDU's data (the table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Column", "TileTable", "TableFormatError"]

_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])([A-Z]?)")
_SIZES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}
_SCALARS = {"B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}


class TableFormatError(ValueError):
    """The table header does not describe a tile-compressed 2-D image we can lay out."""


@dataclass(frozen=True)
class Column:
    """One column of the tile table: ``offset`` and ``size`` in bytes within a row, the TFORM
    ``code`` and ``repeat``, and, for a heap descriptor (``P``/``Q``), the ``element`` size in bytes."""

    name: str
    offset: int
    size: int
    code: str
    repeat: int
    element: int = 0

    @property
    def is_descriptor(self) -> bool:
        return self.code in "PQ"

    @property
    def dtype(self) -> np.dtype:
        """The column's numpy type within a row (raw bytes for types nothing here reads)."""
        if self.is_descriptor:
            return np.dtype((">i4" if self.code == "P" else ">i8", 2))
        if self.code in _SCALARS and self.repeat == 1:
            return np.dtype(_SCALARS[self.code])
        return np.dtype(f"V{self.size}")


class TileTable:
    """Geometry and columns of a tile-compressed image, from its raw binary-table header.

    Parameters
    ----------
    header : mapping
        The raw header keywords (``ZNAXISn``, ``ZTILEn``, ``NAXISn``, ``TFIELDS``,
        ``TTYPEn``/``TFORMn``, ``THEAP``).

    Raises
    ------
    TableFormatError
        When a needed keyword is missing or malformed.
    """

    def __init__(self, header):
        try:
            if int(header.get("ZNAXIS", 2)) != 2:
                raise TableFormatError("not a 2-D image")
            self.width, self.height = int(header["ZNAXIS1"]), int(header["ZNAXIS2"])
            self.tile_w = int(header.get("ZTILE1", self.width))
            self.tile_h = int(header.get("ZTILE2", 1))
            self.row_bytes, self.nrows = int(header["NAXIS1"]), int(header["NAXIS2"])
            self.columns = _columns(header)
            self.heap_offset = int(header.get("THEAP", self.row_bytes * self.nrows))
        except (KeyError, TypeError, ValueError) as err:
            raise TableFormatError(f"bad tile table keywords ({type(err).__name__}: {err})") from None
        if self.tile_w < 1 or self.tile_h < 1 or self.width < 1 or self.height < 1:
            raise TableFormatError("empty image or tiles")
        self.tiles_x = -(-self.width // self.tile_w)
        self.n_tiles = self.tiles_x * -(-self.height // self.tile_h)

    @property
    def table_bytes(self) -> int:
        """Bytes of the table proper (the heap follows, at :attr:`heap_offset`)."""
        return self.row_bytes * self.nrows

    @property
    def row_dtype(self) -> np.dtype:
        """A structured numpy type of one table row, one field per column."""
        columns = list(self.columns.values())
        return np.dtype({"names": [c.name for c in columns], "formats": [c.dtype for c in columns],
                         "offsets": [c.offset for c in columns], "itemsize": self.row_bytes})

    def rows(self, table: bytes) -> np.ndarray:
        """The table's bytes as an array of rows (:attr:`row_dtype`)."""
        return np.frombuffer(table, dtype=self.row_dtype, count=self.nrows)

    def tile_span(self, rows: slice, cols: slice) -> tuple[int, int, int, int]:
        """``(ty0, ty1, tx0, tx1)``: the rows and columns of tiles under the section (inclusive)."""
        return (rows.start // self.tile_h, (rows.stop - 1) // self.tile_h,
                cols.start // self.tile_w, (cols.stop - 1) // self.tile_w)

    def tile_indices(self, rows: slice, cols: slice) -> np.ndarray:
        """Numbers of the tiles under the section, row of tiles by row of tiles."""
        ty0, ty1, tx0, tx1 = self.tile_span(rows, cols)
        tx, ty = np.arange(tx0, tx1 + 1), np.arange(ty0, ty1 + 1)
        return (ty[:, None] * self.tiles_x + tx[None, :]).ravel()

    def pieces(self, rows: slice, cols: slice):
        """For each tile under ``[rows, cols]``: its number, its shape, the part inside the section
        ``(ry0, ry1, rx0, rx1)`` in tile pixels, and where that part goes in the section."""
        y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
        ty0, ty1, tx0, tx1 = self.tile_span(rows, cols)
        for ty in range(ty0, ty1 + 1):
            tile_y0 = ty * self.tile_h
            ry0, ry1 = max(y0, tile_y0) - tile_y0, min(y1, tile_y0 + self.tile_h) - tile_y0
            height = min(self.tile_h, self.height - tile_y0)
            for tx in range(tx0, tx1 + 1):
                tile_x0 = tx * self.tile_w
                rx0, rx1 = max(x0, tile_x0) - tile_x0, min(x1, tile_x0 + self.tile_w) - tile_x0
                target = (slice(tile_y0 + ry0 - y0, tile_y0 + ry1 - y0),
                          slice(tile_x0 + rx0 - x0, tile_x0 + rx1 - x0))
                shape = (height, min(self.tile_w, self.width - tile_x0))
                yield ty * self.tiles_x + tx, shape, (ry0, ry1, rx0, rx1), target

    def heap_ranges(self, rows: np.ndarray, tiles: np.ndarray) -> list[tuple[int, int]]:
        """Byte ranges ``[start, end)`` (from the start of the data) of what every heap column
        stores for ``tiles``; ``rows`` is the table (:meth:`rows`)."""
        out = []
        for column in self.columns.values():
            if not column.is_descriptor:
                continue
            pairs = rows[column.name][tiles].astype(np.int64)
            for count, start in pairs:
                if count > 0:
                    begin = self.heap_offset + int(start)
                    out.append((begin, begin + int(count) * column.element))
        return out


def _columns(header) -> dict[str, Column]:
    columns, offset = {}, 0
    for n in range(1, int(header["TFIELDS"]) + 1):
        form = str(header[f"TFORM{n}"]).strip().upper()
        match = _TFORM.match(form)
        if match is None:
            raise TableFormatError(f"unsupported column format {form!r}")
        repeat, code, element = int(match[1] or 1), match[2], match[3]
        if code in "PQ":
            size, element_size = _SIZES[code], _SIZES.get(element, 1)
        else:
            size, element_size = (-(-repeat // 8) if code == "X" else repeat * _SIZES[code]), 0
        name = str(header.get(f"TTYPE{n}", f"COL{n}")).strip().upper() or f"COL{n}"
        columns[name] = Column(name, offset, size, code, repeat, element_size)
        offset += size
    if offset != int(header["NAXIS1"]):
        raise TableFormatError(f"columns take {offset} bytes, rows {header['NAXIS1']}")
    return columns
