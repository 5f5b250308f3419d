"""Planes stored in one-row GZIP tiles, inflated with libdeflate.

One-row tiles (``ZTILE1 = NAXIS1``, ``ZTILE2 = 1``) are what Rubin's files use by
default (DP1 coadds' GZIP_2, lsst.images' default, every lossy16 MASK).  Any box
of such a plane needs each of its rows inflated whole, so the work is the
inflating: cfitsio does it with zlib, one row at a time through its buffers.
libdeflate (the ``deflate`` package) inflates a whole buffer about twice as fast
as zlib, so :class:`RowTiledPlane` reads a box's rows from the file's memory map,
inflates each with libdeflate, and puts the box's columns back together in one
numpy pass: a GZIP_1 row is the pixels, big-endian; a GZIP_2 row is their bytes
shuffled (every pixel's first byte, then every pixel's second byte, ...).

Supported: lossless 32-bit integers and floats (a lossless IMAGE or VARIANCE,
a MASK) whose every row is one tile in ``COMPRESSED_DATA``, when the rows are
not much smaller compressed than inflated (:data:`ROW_INFLATE_MIN_RATIO`: a
mask that inflates from a few bytes a row is read faster by cfitsio, whose cost
per row is lower).  Quantised floats,
other codecs and types, scaled or null-marked integers, tiles stored another
way, and everything when libdeflate is not installed, are left to cfitsio
(:func:`open_row_plane` returns None).  Pixels are bit-identical to cfitsio's
(the same bytes, unshuffled).

Conventions: sections are LOCAL array slices ``[rows, cols]`` (0-based, end
exclusive); arrays come back native-endian.
"""

from __future__ import annotations

import os

import numpy as np

from ...calibration import ROW_INFLATE_MIN_RATIO
from .table import TableFormatError, TileTable

__all__ = ["RowTiledPlane", "open_row_plane", "RowTileError", "have_libdeflate"]

_STORED = {32: np.dtype(">i4"), -32: np.dtype(">f4")}


class RowTileError(Exception):
    """A row's bytes could not be read or inflated (a truncated or corrupt file)."""


def _libdeflate():
    try:
        import deflate
    except ImportError:
        return None
    return deflate


def have_libdeflate() -> bool:
    """Whether the ``deflate`` package (libdeflate) can be imported."""
    return _libdeflate() is not None


def open_row_plane(fd: int, header: dict, data_start: int, mapped) -> RowTiledPlane | None:
    """A :class:`RowTiledPlane` for the compressed-image HDU with raw (binary table) ``header`` whose table
    starts at byte ``data_start`` of the file open as ``fd`` (``mapped()``: its memory map); None when
    cfitsio should read it (module docstring)."""
    deflate = _libdeflate()
    if deflate is None or header.get("ZIMAGE") is not True:
        return None
    try:
        table = TileTable(header)
    except TableFormatError:
        return None
    compression = str(header.get("ZCMPTYPE", "")).strip().upper()
    stored = _STORED.get(header.get("ZBITPIX"))
    column = table.columns.get("COMPRESSED_DATA")
    if (compression not in ("GZIP_1", "GZIP_2") or stored is None or table.tile_h != 1
            or table.tile_w != table.width or table.nrows != table.height or column is None
            or not column.is_descriptor or column.repeat != 1 or column.element != 1
            or any(name in header for name in ("BSCALE", "BZERO", "ZSCALE", "ZZERO"))
            or ("ZBLANK" in header and stored.kind != "f")  # cfitsio writes one, unused, for lossless floats
            or any(name != "COMPRESSED_DATA" and c.is_descriptor for name, c in table.columns.items())
            or "ZSCALE" in table.columns):
        return None
    raw = os.pread(fd, table.table_bytes, data_start)
    if len(raw) < table.table_bytes:
        return None  # truncated: let cfitsio report it
    descriptors = table.rows(raw)["COMPRESSED_DATA"].astype(np.int64)
    if not np.all(descriptors[:, 0] > 0) or np.any(descriptors[:, 1] < 0):
        return None
    if descriptors[:, 0].mean() < ROW_INFLATE_MIN_RATIO * table.width * stored.itemsize:
        return None  # rows that inflate from little (masks): cfitsio's per-row cost is lower there
    starts = data_start + table.heap_offset + descriptors[:, 1]
    return RowTiledPlane(mapped, deflate, compression, stored, table.width, starts, descriptors[:, 0],
                         os.fstat(fd).st_size)


class RowTiledPlane:
    """One plane in one-row GZIP tiles of an open file; reads LOCAL sections (module docstring)."""

    def __init__(self, mapped, deflate, compression: str, stored: np.dtype, width: int, starts: np.ndarray,
                 counts: np.ndarray, file_size: int):
        self._mapped, self._deflate = mapped, deflate
        self.compression, self.stored, self.width = compression, stored, width
        self._starts, self._counts = starts, counts
        self._beyond = starts + counts > file_size  # rows whose bytes would lie past the end of the file

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        """The pixels ``[rows, cols]``, native-endian."""
        beyond = self._beyond[rows]
        if beyond.any():
            raise RowTileError(f"row {rows.start + int(np.argmax(beyond))} lies beyond the end of the file")
        mapped = self._mapped()
        size, itemsize = self.width * self.stored.itemsize, self.stored.itemsize
        n, shuffled = rows.stop - rows.start, self.compression == "GZIP_2"
        out = np.empty((n, cols.stop - cols.start, itemsize) if shuffled else (n, cols.stop - cols.start),
                       np.uint8 if shuffled else self.stored)
        gzip, zlib = self._deflate.gzip_decompress, self._deflate.zlib_decompress
        try:
            for i, (start, count) in enumerate(zip(self._starts[rows].tolist(), self._counts[rows].tolist())):
                piece = mapped[start:start + count]
                part = gzip(piece) if piece[:2] == b"\x1f\x8b" else zlib(piece, size)
                if len(part) != size:
                    raise RowTileError(f"row {rows.start + i} inflates to {len(part)} bytes, not {size}")
                if shuffled:  # the box's columns of each byte plane, as (column, byte)
                    out[i] = np.frombuffer(part, np.uint8).reshape(itemsize, self.width)[:, cols].T
                else:
                    out[i] = np.frombuffer(part, self.stored)[cols]
        except self._deflate.DeflateError as err:
            raise RowTileError(f"a row cannot be inflated: {err}") from None
        values = out.view(self.stored).reshape(n, -1) if shuffled else out
        return values.astype(self.stored.newbyteorder("="))
