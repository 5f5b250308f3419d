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
from dataclasses import dataclass

import numpy as np

from .dequantize import DITHERS, dequantize, dither_offsets_of
from .tile_codecs import CodecError, TileDecoder, can_decode

TILE_CACHE_BYTES = 8 * 1024 * 1024  # per plane: two rows of 128 px tiles across a 3400 px patch, 3x over
_DESCRIPTOR = {"P": ">i4", "Q": ">i8"}
_SCALAR = {"D": ">f8", "E": ">f4", "J": ">i4", "K": ">i8"}

# Read costs, measured on the project's 2-core machine with `make bench`'s interleaved timing
# (bench/README.md; fitted over 50-1000 px boxes in 128 and 512 px tiles), good to some 15%:
# enough to choose between two readers where their costs differ by more.  Per (codec,
# quantised): nanoseconds per pixel to decompress here, to convert a box pixel here, and for
# cfitsio per pixel of every tile it touches (decompressed and converted whole).
_NS_PER_PIXEL = {
    ("RICE_1", True): (7.0, 5.2, 8.8),
    ("RICE_1", False): (7.0, 1.5, 7.5),
    ("GZIP_2", True): (1.75, 8.0, 8.0),
    ("GZIP_2", False): (1.75, 6.4, 6.6),  # byte planes to put back together: masks
    ("GZIP_1", True): (1.5, 5.2, 6.0),
    ("GZIP_1", False): (1.5, 1.5, 4.0),
}
CALL_US = 60.0  # a read here: the output array, the walk over the tiles
PIECE_US = 18.0  # per tile a box crosses here: fetching, slicing, converting its part
CFITSIO_CALL_US = 30.0


class TileError(Exception):
    """A tile could not be read or decoded (truncated or corrupt file)."""


@dataclass(frozen=True)
class ReadCost:
    """Estimated microseconds to read one box of a plane: ``ours`` by :class:`TiledPlane` (None: it
    cannot), ``cfitsio`` by cfitsio; ``tiles``, how many tiles the box crosses."""

    ours: float | None
    cfitsio: float
    tiles: int = 1

    @property
    def ours_is_cheaper(self) -> bool:
        return self.ours is not None and self.ours <= self.cfitsio


def open_tiled_plane(fd: int, header: dict, data_start: int) -> TiledPlane | None:
    """A :class:`TiledPlane` for the compressed-image HDU with raw (binary table) ``header`` whose
    table starts at byte ``data_start`` of the file open as ``fd``; None when cfitsio should read it."""
    try:
        layout = _Layout(header)
    except (_Unsupported, KeyError, TypeError, ValueError):  # odd or broken keywords: cfitsio decides
        return None
    table = os.pread(fd, layout.row_bytes * layout.n_tiles, data_start)
    if len(table) < layout.row_bytes * layout.n_tiles:
        return None  # truncated: let cfitsio report it
    rows = np.frombuffer(table, dtype=layout.row_dtype)
    descriptors = rows["COMPRESSED_DATA"].astype(np.int64)
    if not np.all(descriptors[:, 0] > 0) or np.any(descriptors[:, 1] < 0):
        return None  # some tiles are stored another way (GZIP_COMPRESSED_DATA, UNCOMPRESSED_DATA)
    return TiledPlane(fd, layout, descriptors, data_start + layout.heap_offset, rows)


class _Unsupported(Exception):
    pass


class _Layout:
    """What the raw header says about the tiles and their encoding."""

    def __init__(self, h: dict):
        def need(condition):
            if not condition:
                raise _Unsupported

        need(h.get("ZIMAGE") is True and int(h.get("ZNAXIS", 0)) == 2)
        self.width, self.height = int(h["ZNAXIS1"]), int(h["ZNAXIS2"])
        self.tile_w, self.tile_h = int(h.get("ZTILE1", self.width)), int(h.get("ZTILE2", 1))
        need(self.tile_h >= 2 and self.tile_w >= 1)
        self.tiles_x = -(-self.width // self.tile_w)
        self.n_tiles = self.tiles_x * -(-self.height // self.tile_h)
        self.compression = str(h.get("ZCMPTYPE", "")).strip().upper().replace("RICE_ONE", "RICE_1")
        need(can_decode(self.compression))
        parameters = {str(h[k]).strip().upper(): h.get("ZVAL" + k[5:]) for k in h if k.startswith("ZNAME")}
        self.blocksize = int(parameters.get("BLOCKSIZE", 32))
        bitpix = int(h["ZBITPIX"])
        need(not any(k in h for k in ("BSCALE", "BZERO", "ZSCALE", "ZZERO")))  # scaled images: cfitsio
        columns = {}
        for i in range(1, int(h["TFIELDS"]) + 1):
            columns[str(h[f"TTYPE{i}"]).strip().upper()] = str(h[f"TFORM{i}"]).strip().upper()
        need(int(h["NAXIS2"]) == self.n_tiles and "COMPRESSED_DATA" in columns)
        need(columns["COMPRESSED_DATA"].lstrip("1")[:2] in ("PB", "QB"))  # a descriptor of bytes
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
        fields, offset = [], 0
        for name, form in columns.items():
            width = _field(form)
            need(width is not None)
            fields.append((name, width[0], offset))
            offset += width[1]
        need(offset == int(h["NAXIS1"]))
        self.row_bytes = offset
        self.row_dtype = np.dtype({"names": [f[0] for f in fields], "formats": [f[1] for f in fields],
                                   "offsets": [f[2] for f in fields], "itemsize": offset})
        self.heap_offset = int(h.get("THEAP", self.row_bytes * self.n_tiles))


def _field(form: str):
    """(numpy dtype, bytes) of a one-element binary-table column, or None if not one we read."""
    repeat = form[:len(form) - len(form.lstrip("0123456789"))]
    code = form[len(repeat):]
    if repeat not in ("", "1") or not code:
        return None
    if code[0] in _DESCRIPTOR:
        dtype = np.dtype((_DESCRIPTOR[code[0]], 2))
    elif code in _SCALAR:
        dtype = np.dtype(_SCALAR[code])
    else:
        return None
    return dtype, dtype.itemsize


class TiledPlane:
    """One tile-compressed image plane of an open file; reads LOCAL sections.  One thread at a time."""

    def __init__(self, fd: int, layout: _Layout, descriptors: np.ndarray, heap_start: int, rows: np.ndarray):
        self._fd = fd
        self.layout = layout
        self._descriptors = descriptors
        self._heap = heap_start
        names = rows.dtype.names
        self._scale = rows["ZSCALE"].astype(np.float64) if layout.quantized else None
        self._zero = rows["ZZERO"].astype(np.float64) if layout.quantized else None
        self._blanks = rows["ZBLANK"].astype(np.int64) if "ZBLANK" in names else None
        self._decoder = TileDecoder(layout.compression, layout.stored, layout.tile_w * layout.tile_h,
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
        for index, shape, inside, target in self._pieces(rows, cols):
            out[target] = self._pixels(index, self._tile(index, shape, inside[1]), *inside)
        return out

    def expect(self, sections) -> None:
        """Announce the LOCAL sections ``(rows, cols)`` that will be read: each tile is then decoded (once)
        down to the last row any of them needs."""
        wanted = np.zeros(self.layout.n_tiles, np.int32)
        reads = np.zeros(self.layout.n_tiles, np.int32)
        for rows, cols in sections:
            for index, _, inside, _ in self._pieces(rows, cols):
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
        decode_ns, pixel_ns, cfitsio_ns = _NS_PER_PIXEL[lay.compression, lay.quantized]
        ty0, ty1 = rows.start // lay.tile_h, (rows.stop - 1) // lay.tile_h
        tx0, tx1 = cols.start // lay.tile_w, (cols.stop - 1) // lay.tile_w
        across = min((tx1 + 1) * lay.tile_w, lay.width) - tx0 * lay.tile_w  # pixels across the tiles crossed
        tiles_rows = min((ty1 + 1) * lay.tile_h, lay.height) - ty0 * lay.tile_h
        # GZIP_2 byte planes are each the whole tile: all but the last are inflated whole
        partial = self._decoder.partial and lay.compression != "GZIP_2"
        decoded = 0  # pixels to decompress
        for ty in range(ty0, ty1 + 1):
            height = min(lay.tile_h, lay.height - ty * lay.tile_h)
            needed = min(rows.stop - ty * lay.tile_h, height)  # the box's last row in this tile row
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
        ours = CALL_US + pieces * PIECE_US + (decoded * decode_ns + box_pixels * pixel_ns) / 1000
        return ReadCost(ours, CFITSIO_CALL_US + tiles_rows * across * cfitsio_ns / 1000, pieces)

    def _pieces(self, rows: slice, cols: slice):
        """For each tile under ``[rows, cols]``: its number, shape, the part inside the section
        ``(ry0, ry1, rx0, rx1)`` in tile pixels, and where that part goes in the section."""
        lay = self.layout
        y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
        for ty in range(y0 // lay.tile_h, (y1 - 1) // lay.tile_h + 1):
            tile_y0 = ty * lay.tile_h
            ry0, ry1 = max(y0, tile_y0) - tile_y0, min(y1, tile_y0 + lay.tile_h) - tile_y0
            height = min(lay.tile_h, lay.height - tile_y0)
            for tx in range(x0 // lay.tile_w, (x1 - 1) // lay.tile_w + 1):
                tile_x0 = tx * lay.tile_w
                rx0, rx1 = max(x0, tile_x0) - tile_x0, min(x1, tile_x0 + lay.tile_w) - tile_x0
                target = (slice(tile_y0 + ry0 - y0, tile_y0 + ry1 - y0), slice(tile_x0 + rx0 - x0, tile_x0 + rx1 - x0))
                yield ty * lay.tiles_x + tx, (height, min(lay.tile_w, lay.width - tile_x0)), (ry0, ry1, rx0, rx1), target

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
            tile = self._decoder.decode(self._fetch(index), shape, rows_needed)
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
        self._decoder.recycle(tile)

    def _fetch(self, index: int) -> np.ndarray:
        """The compressed bytes of a tile (a view of a buffer reused by the next fetch)."""
        count, offset = (int(v) for v in self._descriptors[index])
        if self._heap + offset + count > self._file_size:
            raise TileError(f"tile {index} lies beyond the end of the file")
        if len(self._input) < count:
            self._input = np.empty(max(count, 2 * len(self._input)), np.uint8)
        data = self._input[:count]
        if os.preadv(self._fd, [data], self._heap + offset) != count:
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
