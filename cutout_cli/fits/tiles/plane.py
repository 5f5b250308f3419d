"""Read boxes of tile-compressed images: decode only the tiles under a box, only as far as it needs,
and convert only its pixels.

The FITS tiled-image convention stores an image as a binary table, one row
per tile: the compressed bytes (a heap descriptor) and, for quantised floats,
the tile's ``ZSCALE``/``ZZERO``.  cfitsio decompresses *and* dequantises
every tile it touches whole; for a 50 px box in 128 px tiles most of that
work is thrown away.  Here a tile is decompressed (:mod:`.tile_codecs`) only
down to the last row the box needs where the codec allows it, kept in a
small LRU cache, and only the pixels inside the box are dequantised
(:mod:`.dequantize`), bit-identical to cfitsio's.  :meth:`TiledPlane.cost`
estimates what a read costs here and through cfitsio, so that the reader
can take the cheaper (cfitsio wins for boxes that cover most of their tiles).

Supported: 2-D images with tiles of at least two rows, RICE_1 (4-byte
integers) and GZIP_1/GZIP_2, quantised floats (NO_DITHER,
SUBTRACTIVE_DITHER_1/2, ZBLANK nulls as NaN), lossless 32-bit integers and
floats.  Anything else (one-row tiles, which cfitsio already reads well,
PLIO_1, HCOMPRESS_1, tiles stored in GZIP_COMPRESSED_DATA, scaled
integers) is left to cfitsio: :func:`open_tiled_plane` returns None.

Conventions: boxes are LOCAL array slices ``[rows, cols]`` (0-based, end
exclusive); tiles are numbered from 0, x fastest, as the table's rows.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from types import MappingProxyType

import numpy as np

from ...calibration import CFITSIO_CALL_US, TILE_CALL_US, TILE_NS_PER_PIXEL, TILE_PIECE_US
from .codecs import CodecError, TileDecoder, can_decode
from .cost import ReadCost
from .dequantize import DITHERS, dequantize, dither_offsets_of
from .table import TableFormatError, TileTable

__all__ = ["TileError", "TileEncoding", "TiledPlane", "open_tiled_plane", "TILE_CACHE_BYTES"]

TILE_CACHE_BYTES = 8 * 1024 * 1024  # per plane: two rows of 128 px tiles across a 3400 px patch, 3x over


class TileError(Exception):
    """A tile could not be read or decoded (truncated or corrupt file)."""


def open_tiled_plane(fd: int, header: dict, data_start: int) -> TiledPlane | None:
    """A :class:`TiledPlane` for the compressed-image HDU with raw (binary table) ``header`` whose
    table starts at byte ``data_start`` of the file open as ``fd``; None when cfitsio should read it."""
    try:
        encoding = TileEncoding(header)
    except (_Unsupported, TableFormatError, KeyError, TypeError, ValueError):  # odd keywords: cfitsio decides
        return None
    table = encoding.table
    data = os.pread(fd, table.table_bytes, data_start)
    if len(data) < table.table_bytes:
        return None  # truncated: let cfitsio report it
    rows = table.rows(data)
    descriptors = rows["COMPRESSED_DATA"].astype(np.int64)
    if not np.all(descriptors[:, 0] > 0) or np.any(descriptors[:, 1] < 0):
        return None  # some tiles are stored another way (GZIP_COMPRESSED_DATA, UNCOMPRESSED_DATA)
    return TiledPlane(fd, encoding, descriptors, data_start + table.heap_offset, rows)


class _Unsupported(Exception):
    pass


class TileEncoding:
    """How the tiles of a plane are encoded (from the raw header), when this module decodes them.

    Raises ``_Unsupported`` for anything left to cfitsio (module docstring).
    """

    def __init__(self, h: dict):
        def need(condition):
            if not condition:
                raise _Unsupported

        need(h.get("ZIMAGE") is True)
        self.table = table = TileTable(h)
        self.width, self.height, self.tile_w, self.tile_h = table.width, table.height, table.tile_w, table.tile_h
        self.tiles_x, self.n_tiles = table.tiles_x, table.n_tiles
        need(self.tile_h >= 2 and table.nrows == self.n_tiles)
        self.compression = str(h.get("ZCMPTYPE", "")).strip().upper().replace("RICE_ONE", "RICE_1")
        need(can_decode(self.compression))
        parameters = {str(h[k]).strip().upper(): h.get("ZVAL" + k[5:]) for k in h if k.startswith("ZNAME")}
        self.blocksize = int(parameters.get("BLOCKSIZE", 32))
        bitpix = int(h["ZBITPIX"])
        need(not any(k in h for k in ("BSCALE", "BZERO", "ZSCALE", "ZZERO")))  # scaled images: cfitsio
        columns = table.columns
        data = columns.get("COMPRESSED_DATA")
        need(data is not None and data.is_descriptor and data.repeat == 1 and data.element == 1)  # bytes
        need(all(c.is_descriptor or c.dtype.kind != "V" for c in columns.values()))
        self.quantized = "ZSCALE" in columns and "ZZERO" in columns
        if self.quantized:
            need(bitpix in (-32, -64) and "ZQUANTIZ" in h)
            self.dither = DITHERS.get(str(h["ZQUANTIZ"]).strip().upper())
            need(self.dither is not None and (self.dither == 0 or "ZDITHER0" in h))
            self.dither_seed = int(h.get("ZDITHER0", 0))
            self.stored, self.out_dtype = np.dtype(">i4"), np.dtype(np.float32 if bitpix == -32 else np.float64)
            self.blank = int(h["ZBLANK"]) if "ZBLANK" in h else None
        else:
            need(bitpix in (32, -32))
            self.stored = np.dtype(">i4" if bitpix == 32 else ">f4")
            self.out_dtype = self.stored.newbyteorder("=")
            self.blank = None
        need(self.compression != "RICE_1" or (self.stored.kind == "i" and int(parameters.get("BYTEPIX", 4)) == 4))


class TiledPlane:
    """One tile-compressed image plane of an open file; reads LOCAL sections.  One thread at a time."""

    def __init__(self, fd: int, layout: TileEncoding, descriptors: np.ndarray, heap_start: int, rows: np.ndarray):
        self._fd = fd
        self.layout = layout
        self._descriptors = descriptors
        self._heap = heap_start
        names = rows.dtype.names
        self._scale = rows["ZSCALE"].astype(np.float64) if layout.quantized else None
        self._zero = rows["ZZERO"].astype(np.float64) if layout.quantized else None
        self._blanks = rows["ZBLANK"].astype(np.int64) if "ZBLANK" in names else None
        self.decoder = TileDecoder(layout.compression, layout.stored, layout.tile_w * layout.tile_h,
                                    layout.blocksize)
        self._file_size = os.fstat(fd).st_size
        self._input = np.empty(0, np.uint8)  # the compressed bytes of one tile (grown as needed)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self._rows_wanted = np.zeros(layout.n_tiles, np.int32)  # per tile: rows announced by expect()
        self._reads_announced = np.zeros(layout.n_tiles, np.int32)  # per tile: boxes announced that touch it
        self.tiles_decoded = 0  # how many times a tile was decompressed (cache misses)

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        """The LOCAL section ``[rows, cols]`` (inside the image) as a native-endian array."""
        out = np.empty((rows.stop - rows.start, cols.stop - cols.start), self.layout.out_dtype)
        for index, shape, inside, target in self.layout.table.pieces(rows, cols):
            out[target] = self._pixels(index, self._tile(index, shape, inside[1]), *inside)
        return out

    def expect(self, sections) -> None:
        """Announce the LOCAL sections ``(rows, cols)`` that will be read: each tile is then decoded (once)
        down to the last row any of them needs."""
        wanted = np.zeros(self.layout.n_tiles, np.int32)
        reads = np.zeros(self.layout.n_tiles, np.int32)
        for rows, cols in sections:
            for index, _, inside, _ in self.layout.table.pieces(rows, cols):
                reads[index] += 1
                if inside[1] > wanted[index]:
                    wanted[index] = inside[1]
        self._rows_wanted, self._reads_announced = wanted, reads

    def clear_cache(self) -> None:
        """Forget every decoded tile (their memory is kept for the next ones)."""
        while self._cache:
            self._drop(next(iter(self._cache)))

    def cost(self, rows: slice, cols: slice) -> ReadCost:
        """Estimated cost of reading ``[rows, cols]`` here (decoding what is not cached, as far as
        needed or announced by :meth:`expect`, shared among the announced boxes that need it) and by
        cfitsio (every tile whole, every time)."""
        lay = self.layout
        decode_ns, pixel_ns, cfitsio_ns = TILE_NS_PER_PIXEL[lay.compression, lay.quantized]
        ty0, ty1, tx0, tx1 = lay.table.tile_span(rows, cols)
        across = min((tx1 + 1) * lay.tile_w, lay.width) - tx0 * lay.tile_w  # pixels across the tiles crossed
        tiles_rows = min((ty1 + 1) * lay.tile_h, lay.height) - ty0 * lay.tile_h
        # GZIP_2 byte planes are each the whole tile: all but the last are inflated whole
        partial = self.decoder.partial and lay.compression != "GZIP_2"
        decoded = 0  # pixels to decompress here (cfitsio decompresses every tile crossed, whole)
        for ty in range(ty0, ty1 + 1):
            height = min(lay.tile_h, lay.height - ty * lay.tile_h)
            needed = min(rows.stop - ty * lay.tile_h, height)  # the box's last row in this row of tiles
            for tx in range(tx0, tx1 + 1):
                index = ty * lay.tiles_x + tx
                cached = self._cache.get(index)
                if cached is not None and cached.shape[-2] >= needed:
                    continue
                width = min(lay.tile_w, lay.width - tx * lay.tile_w)
                rows_decoded = max(needed, int(self._rows_wanted[index])) if partial and cached is None else height
                decoded += width * rows_decoded / max(1, int(self._reads_announced[index]))
        pieces = (ty1 - ty0 + 1) * (tx1 - tx0 + 1)
        box_pixels = (rows.stop - rows.start) * (cols.stop - cols.start)
        ours = TILE_CALL_US + pieces * TILE_PIECE_US + (decoded * decode_ns + box_pixels * pixel_ns) / 1000
        return ReadCost(ours, CFITSIO_CALL_US + tiles_rows * across * cfitsio_ns / 1000, pieces)

    @property
    def cached_tiles(self):
        """The decoded tiles kept, ``{tile number: array}`` (read-only; least recently used first)."""
        return MappingProxyType(self._cache)

    def tile_location(self, index: int) -> tuple[int, int]:
        """``(offset in the file, bytes)`` of a tile's compressed data."""
        count, offset = (int(v) for v in self._descriptors[index])
        return self._heap + offset, count

    # -- tiles ------------------------------------------------------------------
    def _tile(self, index: int, shape: tuple[int, int], rows_needed: int) -> np.ndarray:
        """The decoded tile, with at least its first ``rows_needed`` rows (or those announced by
        :meth:`expect`): from the cache, or decoded that far (a tile met again with too few rows
        is decoded whole: boxes are coming back to it)."""
        rows_needed = max(rows_needed, int(self._rows_wanted[index]))
        cached = self._cache.get(index)
        if cached is not None:
            if cached.shape[-2] >= rows_needed:
                self._cache.move_to_end(index)
                return cached
            self._drop(index)
            rows_needed = shape[0]
        try:
            tile = self.decoder.decode(self.compressed_bytes(index), shape, rows_needed)
        except CodecError as err:
            raise TileError(f"tile {index} cannot be decompressed: {err}") from None
        self.tiles_decoded += 1
        self._cache[index] = tile
        self._cached_bytes += tile.nbytes
        while self._cached_bytes > TILE_CACHE_BYTES and len(self._cache) > 1:
            self._drop(next(iter(self._cache)))  # the least recently used
        return tile

    def _drop(self, index: int) -> None:
        tile = self._cache.pop(index)
        self._cached_bytes -= tile.nbytes
        self.decoder.recycle(tile)

    def compressed_bytes(self, index: int) -> np.ndarray:
        """The compressed bytes of a tile (a view of a buffer reused by the next call)."""
        start, count = self.tile_location(index)
        if start + count > self._file_size:
            raise TileError(f"tile {index} lies beyond the end of the file")
        if len(self._input) < count:
            self._input = np.empty(max(count, 2 * len(self._input)), np.uint8)
        data = self._input[:count]
        if os.preadv(self._fd, [data], start) != count:
            raise TileError(f"tile {index} lies beyond the end of the file")
        return data

    def _stored_values(self, tile: np.ndarray, ry0: int, ry1: int, rx0: int, rx1: int) -> np.ndarray:
        """The tile's ``[ry0:ry1, rx0:rx1]`` as stored values (quantised integers, or the pixels), native order."""
        native = self.layout.stored.newbyteorder("=")
        if self.layout.compression == "GZIP_2":
            planes = np.ascontiguousarray(np.moveaxis(tile[:, ry0:ry1, rx0:rx1], 0, -1))
            return planes.view(self.layout.stored)[..., 0].astype(native)
        return tile[ry0:ry1, rx0:rx1].astype(native, copy=False)

    def _pixels(self, index: int, tile: np.ndarray, ry0: int, ry1: int, rx0: int, rx1: int) -> np.ndarray:
        """Pixel values of the tile's ``[ry0:ry1, rx0:rx1]``, dequantised when the plane is quantised
        (float64 then, for the caller to store as the plane's type: cfitsio also computes in double)."""
        lay = self.layout
        stored = self._stored_values(tile, ry0, ry1, rx0, rx1)
        if not lay.quantized:
            return stored
        offsets = None
        if lay.dither:
            offsets = dither_offsets_of(index, lay.dither_seed, ry0, ry1, rx0, rx1, tile.shape[-1],
                                        lay.tile_w * lay.tile_h)
        blank = int(self._blanks[index]) if self._blanks is not None else lay.blank
        return dequantize(stored, offsets, self._scale[index], self._zero[index], lay.dither, blank)
