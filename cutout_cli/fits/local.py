"""The local source of a :class:`~cutout_cli.fits.coadd.CoaddFile`: a file on disk, and its plane readers.

The file is opened once with fitsio (which parses every header) and once as
a plain descriptor.  Each plane gets the reader that serves its boxes best:

* :class:`MappedPlane`: an uncompressed, unscaled plane, read from a memory
  map of the file (a box is one strided copy);
* :class:`DecodedPlane`: a tile-compressed plane that
  :mod:`cutout_cli.fits.tiles` can decode; each box goes to that decoder or
  to cfitsio, whichever is estimated cheaper;
* :class:`CfitsioPlane`: anything else (scaled integers, one-row tiles,
  other codecs), read by cfitsio, which reads only the tiles under a box.

A file shorter than its headers say (cut off while copied: its last HDU
does not reach its end, padding included) is refused when it is opened
(:func:`check_complete`), as is one ending in part of a header.
A gzip-compressed file (``.fits.gz``) is decompressed by cfitsio: it is read
by cfitsio alone (its offsets are those of the decompressed bytes), and its
completeness is left to cfitsio.

Conventions: sections are LOCAL array slices ``[rows, cols]`` inside the
image (0-based, end exclusive); arrays come back native-endian.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from ..errors import DataError, NotFoundError, first_line
from .header import Header
from .planes import PLANES, TRUNCATED_HINT, HduInfo, PlaneReader, ReadFailure, hdu_label
from .tiles.cost import FREE
from .tiles.plane import TileError, open_tiled_plane

__all__ = ["LocalSource", "MappedPlane", "DecodedPlane", "CfitsioPlane", "check_complete"]

GZIP_MAGIC = b"\x1f\x8b"

_RAW_TYPES = {8: np.dtype("u1"), 16: np.dtype(">i2"), 32: np.dtype(">i4"), 64: np.dtype(">i8"),
              -32: np.dtype(">f4"), -64: np.dtype(">f8")}


class LocalSource:
    """A FITS file on local disk, for :class:`~cutout_cli.fits.coadd.CoaddFile`.

    ``memory_map`` is the file's memory map once an uncompressed plane was
    read (None before, and after :meth:`close`).
    """

    scan_at_open = True  # the headers are parsed already: find every plane (and check their shapes) at once

    def __init__(self, path: str):
        import fitsio

        self.path = path
        self._fd = None
        self.memory_map = None
        if not os.path.exists(path):  # cfitsio reports a missing file as "could not open" (status 104)
            raise NotFoundError(f"{path} does not exist", "check the path")
        try:
            self._fits = fitsio.FITS(path)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot open {path} as FITS: {first_line(err)}") from None
        self._raw_headers: dict = {}
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            self.gzipped = os.pread(self._fd, 2, 0) == GZIP_MAGIC
            if not self.gzipped:
                check_complete(self)
            self.primary_header = Header.from_fitsio(self.raw_header(0))
        except OSError as err:
            self.close()
            raise DataError(f"cannot read {path}: {err.strerror or first_line(err)}") from None
        except ValueError as err:
            self.close()
            raise DataError(f"cannot read the headers of {path}: {first_line(err)}") from None
        except BaseException:
            self.close()
            raise
        self._next = 0

    @property
    def hdu_count(self) -> int:
        """How many HDUs fitsio found."""
        return len(self._fits)

    def hdu_info(self, index: int) -> dict:
        """fitsio's description of HDU ``index`` (``data_start``, ``data_end`` padded, ``dims``, ...)."""
        return self._fits[index].get_info()

    def raw_header(self, index: int):
        """fitsio's header of HDU ``index``, structural cards included (read once, then kept)."""
        raw = self._raw_headers.get(index)
        if raw is None:
            raw = self._raw_headers[index] = self._fits[index].read_header()
        return raw

    def describe_next(self, read_ahead: bool = False) -> HduInfo | None:
        """The next HDU, or None after the last (``read_ahead`` means nothing here); its header is
        read only for an image HDU whose ``EXTNAME`` names no plane (to see its ``EXTTYPE``)."""
        if self._next >= len(self._fits):
            return None
        index = self._next
        hdu = self._fits[index]
        info = hdu.get_info()
        self._next += 1
        is_image = info.get("hdutype") == 0  # compressed images report 0 too
        # fitsio gives dims as (NAXIS2, NAXIS1): numpy order already
        shape = tuple(int(n) for n in (info.get("dims") or ())) if is_image else ()
        extname = (hdu.get_extname() or "").strip().upper()
        exttype = ""
        if is_image and shape and extname not in PLANES:
            try:
                exttype = str(self.raw_header(index).get("EXTTYPE") or "").strip().upper()
            except (OSError, ValueError) as err:
                raise DataError(f"cannot read the header of HDU {index} of {self.path}: {first_line(err)}") from None
        bitpix = int(info.get("img_type") or 0) if is_image else 0
        return HduInfo(index, extname, shape, is_image, exttype, bitpix)

    def header(self, hdu: HduInfo) -> Header:
        try:
            return Header.from_fitsio(self.raw_header(hdu.index))
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read the headers of {self.path}: {first_line(err)}") from None

    def plane_reader(self, hdu: HduInfo):
        """The reader of one plane (module docstring)."""
        fits_hdu = self._fits[hdu.index]
        info = fits_hdu.get_info()
        raw = self.raw_header(hdu.index)
        if self.gzipped:
            return CfitsioPlane(fits_hdu)  # cfitsio decompressed the file in memory: no offset here is ours
        if info.get("is_compressed_image"):
            header = {r["name"]: r["value"] for r in raw.records()}
            tiled = open_tiled_plane(self.descriptor(), header, info["data_start"])
            return CfitsioPlane(fits_hdu) if tiled is None else DecodedPlane(fits_hdu, tiled)
        layout = self._raw_layout(raw, info, hdu.shape)
        return CfitsioPlane(fits_hdu) if layout is None else MappedPlane(self, hdu.shape, *layout)

    def _raw_layout(self, raw_header, info: dict, shape) -> tuple[int, np.dtype] | None:
        """(data start, big-endian type) of an uncompressed, unscaled plane wholly in the file."""
        dtype = _RAW_TYPES.get(info.get("img_type"))
        scaled = float(raw_header.get("BSCALE", 1.0)) != 1.0 or float(raw_header.get("BZERO", 0.0)) != 0.0
        if dtype is None or scaled or info.get("img_equiv_type") != info.get("img_type") or len(shape) != 2:
            return None
        end = info["data_start"] + dtype.itemsize * shape[0] * shape[1]
        if os.fstat(self.descriptor()).st_size < end:  # a truncated file is left to cfitsio, which reports it
            return None
        return info["data_start"], dtype

    def mapped(self) -> mmap.mmap:
        """The memory map of the whole file (made on first use)."""
        if self.memory_map is None:
            self.memory_map = mmap.mmap(self.descriptor(), 0, access=mmap.ACCESS_READ)
        return self.memory_map

    def descriptor(self) -> int:
        """The file's own descriptor; a clear error once the file is closed."""
        if self._fd is None:
            raise DataError(f"{self.path} is closed", "open it again to read from it")
        return self._fd

    def check_open(self) -> None:
        self.descriptor()

    def close(self) -> None:
        fits, self._fits = getattr(self, "_fits", None), None
        if fits is not None:
            fits.close()
        if self.memory_map is not None:
            try:
                self.memory_map.close()
            except BufferError:  # an array over it is still referenced: unmapped when that goes
                pass
            self.memory_map = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def check_complete(source: LocalSource) -> None:
    """DataError unless the file holds every byte its headers declare.

    fitsio lists the HDUs whose headers are whole, so only the last one's data
    can be cut short: the file must reach its end, padding to a whole block
    included (the FITS standard's rule, and cfitsio's, which reads whole blocks
    and fails on the last one otherwise).  Bytes after it that start a header
    (``XTENSION``) are a header cut short; other bytes there are ignored, as
    cfitsio does.
    """
    size = os.fstat(source.descriptor()).st_size
    last = source.hdu_count - 1
    end = int(source.hdu_info(last)["data_end"])
    if end > size:
        raise DataError(f"{source.path} is truncated: {hdu_label(source.raw_header(last), last)} ends at byte "
                        f"{end}, the file has {size}", TRUNCATED_HINT)
    if size > end and os.pread(source.descriptor(), 8, end) == b"XTENSION":
        raise DataError(f"{source.path} is truncated: the header of HDU {last + 1} is cut short "
                        f"({size - end} bytes of it)", TRUNCATED_HINT)


class CfitsioPlane(PlaneReader):
    """A plane read by cfitsio (through fitsio), which holds the GIL for a whole read."""

    def __init__(self, fits_hdu):
        self._hdu = fits_hdu

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        try:
            return self._hdu[rows, cols]
        except (OSError, ValueError) as err:
            raise ReadFailure(first_line(err)) from None


class DecodedPlane(CfitsioPlane):
    """A tile-compressed plane: each box is read by :attr:`tiled` (a
    :class:`~cutout_cli.fits.tiles.plane.TiledPlane`) or by cfitsio, whichever is estimated cheaper."""

    def __init__(self, fits_hdu, tiled):
        super().__init__(fits_hdu)
        self.tiled = tiled

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        if not self.tiled.cost(rows, cols).ours_is_cheaper:
            return super().read(rows, cols)
        try:
            return self.tiled.read(rows, cols)
        except (OSError, ValueError, TileError) as err:
            raise ReadFailure(first_line(err)) from None

    def cost(self, rows: slice, cols: slice):
        return self.tiled.cost(rows, cols)

    def expect(self, sections) -> None:
        self.tiled.expect(sections)

    def clear_cache(self) -> None:
        self.tiled.clear_cache()


class MappedPlane(PlaneReader):
    """An uncompressed plane read from the memory-mapped file.

    The file's size was checked when the plane was found; one truncated in
    place while it is open (not replaced: a new file under its name leaves
    this one intact) would end the process with SIGBUS on a read past its new
    end, as astropy's memory maps would.
    """

    def __init__(self, source: LocalSource, shape: tuple[int, int], start: int, dtype: np.dtype):
        self._source, self._shape, self._start, self._dtype = source, shape, start, dtype
        self._array = None

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        if self._array is None:
            count = self._shape[0] * self._shape[1]
            self._array = np.frombuffer(self._source.mapped(), self._dtype, count, self._start).reshape(self._shape)
        return self._array[rows, cols].astype(self._dtype.newbyteorder("="))

    def cost(self, rows: slice, cols: slice):
        return FREE
