"""Decompress one tile of a tile-compressed FITS image: RICE_1, GZIP_1 or GZIP_2.

RICE_1 tiles are decoded into buffers kept here (no allocation and no copy
per tile), and only as far as a box needs: a RICE_1 stream holds the tile's
pixels in order (x fastest), so its first ``rows`` rows are a prefix of it.
The decoder (:func:`rice_backend`) is this package's own
(``cutout_cli.fits.tiles._rice``: C, a 64-bit bit reader, the GIL released;
compiled at install when a compiler is there).  Where it was not compiled,
RICE_1 planes are read by cfitsio (:func:`can_decode` is false).  GZIP tiles are
inflated by zlib in small pieces (which the allocator reuses: a tile-sized
bytes object would be mapped and page-faulted anew for every tile), keeping
only the bytes of the rows needed: GZIP_1 stops after them; GZIP_2, whose
tiles are byte planes (most significant first, each the whole tile), stops
after them in its last plane.

A decoded tile of ``rows`` rows is an array: RICE_1 native ``int32 [rows,
width]``; GZIP_1 the stored (big-endian) type ``[rows, width]``; GZIP_2
``uint8 [bytes per pixel, rows, width]``.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

CODECS = ("RICE_1", "GZIP_1", "GZIP_2")
SPARE_BUFFERS = 4  # decoded tiles whose memory is kept for the next ones
INFLATE_PIECE = 64 * 1024  # bytes of zlib output at a time: below glibc's threshold for mapping fresh memory


class CodecError(Exception):
    """A tile's bytes could not be decompressed (a truncated or corrupt file)."""


def _rice_cutout():
    """This package's decoder, or None where it was not compiled."""
    try:
        from . import _rice
    except ImportError:
        return None

    def decode(data, out, n_pixels, blocksize):
        try:
            _rice.decode_into(data, out, n_pixels, blocksize)
        except ValueError as err:
            raise CodecError(str(err)) from None
        return out[:n_pixels]
    return decode


RICE_BACKENDS = {"cutout": _rice_cutout}
PARTIAL_RICE = ("cutout",)  # the backends that can stop after the first pixels


@lru_cache(maxsize=None)
def rice_backend(name: str | None = None):
    """``(name, decode)`` of the RICE_1 decoder to use (``name``, or the first available), or None.

    ``decode(data, out, n_pixels, blocksize)`` decodes the first ``n_pixels``
    of the stream ``data`` (a uint8 array) and returns them as int32, in
    ``out`` (a flat int32 array) where it can.
    """
    for candidate in ([name] if name else RICE_BACKENDS):
        decode = RICE_BACKENDS[candidate]()
        if decode is not None:
            return candidate, decode
    return None


def can_decode(compression: str) -> bool:
    """True when this module can decompress tiles of ``compression`` here."""
    if compression == "RICE_1":
        return rice_backend() is not None
    return compression in CODECS


class TileDecoder:
    """Decompresses the tiles of one image plane; not for use by two threads at once.

    Parameters
    ----------
    compression : {"RICE_1", "GZIP_1", "GZIP_2"}
    stored : numpy.dtype
        The stored pixel type (big-endian, 4 bytes for RICE_1).
    tile_pixels : int
        Pixels in a whole tile (``ZTILE1 * ZTILE2``).
    blocksize : int
        RICE_1 block size (``BLOCKSIZE``, 32 by default).
    rice : str, optional
        The RICE_1 backend (:data:`RICE_BACKENDS`; default the first available).
    """

    def __init__(self, compression: str, stored: np.dtype, tile_pixels: int, blocksize: int = 32,
                 rice: str | None = None):
        self.compression = compression
        self.stored = np.dtype(stored)
        self.tile_pixels = tile_pixels
        self.blocksize = blocksize
        self.rice = rice_backend(rice) if compression == "RICE_1" else None  # (name, decode)
        #: whether :meth:`decode` stops after the rows asked for (else it decodes whole tiles)
        self.partial = compression != "RICE_1" or self.rice[0] in PARTIAL_RICE
        self._spare: list[np.ndarray] = []

    def decode(self, data: np.ndarray, shape: tuple[int, int], rows: int) -> np.ndarray:
        """Decompress the tile whose compressed bytes are ``data`` (a uint8 array) and whose
        shape is ``shape``: its first ``rows`` rows when :attr:`partial`, else all of them."""
        height, width = shape
        rows = min(rows, height) if self.partial else height
        if self.compression == "RICE_1":
            return self._rice(data, rows * width).reshape(rows, width)
        size = self.stored.itemsize
        out = self._buffer()
        if self.compression == "GZIP_1":
            self._inflate(data, [(0, out[:rows * width * size])])
            return out[:rows * width * size].view(self.stored).reshape(rows, width)
        planes = out[:size * rows * width].reshape(size, rows, width)
        self._inflate(data, [(k * height * width, planes[k].reshape(-1)) for k in range(size)])
        return planes

    def recycle(self, tile: np.ndarray) -> None:
        """Give back the memory of a decoded tile that is no longer used."""
        base = tile.base
        if isinstance(base, np.ndarray) and base.nbytes == 4 * self.tile_pixels and len(self._spare) < SPARE_BUFFERS:
            self._spare.append(base)

    def _buffer(self) -> np.ndarray:
        """Memory for one decoded tile: 4 bytes a pixel, flat."""
        return self._spare.pop() if self._spare else np.empty(4 * self.tile_pixels, np.uint8)

    def _rice(self, data: np.ndarray, n_pixels: int) -> np.ndarray:
        return self.rice[1](data, self._buffer().view(np.int32), n_pixels, self.blocksize)

    @staticmethod
    def _inflate(data: np.ndarray, wanted: list[tuple[int, np.ndarray]]) -> None:
        """Inflate ``data`` (gzip or zlib) far enough to fill each ``(offset, destination)`` of
        ``wanted``: the uncompressed bytes ``[offset, offset + destination.size)``, in increasing order."""
        stream = zlib.decompressobj(47)  # 47: a gzip or zlib stream, as the convention allows either
        end = max(offset + target.size for offset, target in wanted)
        produced, pending = 0, data
        try:
            while produced < end:
                piece = stream.decompress(pending, min(INFLATE_PIECE, end - produced))
                if not piece:
                    raise CodecError(f"the stream ends after {produced} of {end} bytes")
                pending = stream.unconsumed_tail
                piece_end = produced + len(piece)
                for offset, target in wanted:
                    a, b = max(produced, offset), min(piece_end, offset + target.size)
                    if a < b:
                        target[a - offset:b - offset] = np.frombuffer(piece, np.uint8, b - a, a - produced)
                produced = piece_end
        except zlib.error as err:
            raise CodecError(str(err)) from None
