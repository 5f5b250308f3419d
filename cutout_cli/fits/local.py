"""The local source of a :class:`~cutout_cli.fits.coadd.CoaddFile`: a file on disk, and its plane readers.

The file is opened as a plain descriptor; its headers are parsed from their
bytes (:mod:`cutout_cli.fits.cards`), and what an open found is kept for the
next open of the unchanged file (:mod:`cutout_cli.fits.layouts`).  fitsio
(cfitsio) opens it only to walk a file seen for the first time, and for the
planes it reads.  Each plane gets the reader that serves its boxes best:

* :class:`MappedPlane`: an uncompressed, unscaled plane, read from a memory
  map of the file (a box is one strided copy);
* :class:`DecodedPlane`: a tile-compressed plane that
  :mod:`cutout_cli.fits.tiles` can decode; each box goes to that decoder or
  to cfitsio, whichever is estimated cheaper;
* :class:`InflatedPlane`: a lossless plane in one-row GZIP tiles that does not
  compress to little (float planes), inflated with libdeflate
  (:mod:`cutout_cli.fits.tiles.rows`);
* :class:`CfitsioPlane`: anything else (scaled integers, other one-row tiles,
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
from . import layouts
from .cards import CardError, parse_header
from .layouts import FileLayout
from .header import Header, ReadOnlyHeader
from .planes import PLANES, TRUNCATED_HINT, HduInfo, PlaneReader, ReadFailure, hdu_label
from .tiles.cost import FREE
from .tiles.plane import TileError, open_tiled_plane
from .tiles.rows import RowTileError, open_row_plane

__all__ = ["LocalSource", "MappedPlane", "DecodedPlane", "InflatedPlane", "CfitsioPlane", "check_complete"]

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
        self.path = path
        self._fd = None
        self._fits = None
        self.memory_map = None
        if not os.path.exists(path):  # cfitsio reports a missing file as "could not open" (status 104)
            raise NotFoundError(f"{path} does not exist", "check the path")
        try:
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            self.gzipped = os.pread(self._fd, 2, 0) == GZIP_MAGIC
            self.layout = self._layout()
            self.primary_header = self.content_header(0)
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

    def _layout(self) -> FileLayout:
        """The file's layout (:mod:`cutout_cli.fits.layouts`): the one kept from an earlier open when the
        headers are unchanged, else found with fitsio (and checked complete)."""
        size = os.fstat(self._fd).st_size
        key = os.path.abspath(self.path)
        if not self.gzipped:
            kept = layouts.recall(key, self._fd, size)
            if kept is not None:
                return kept
        fits = self.fits  # cfitsio walks the HDUs
        offsets = [fits[i].get_offsets() for i in range(len(fits))]
        layout = FileLayout(size, offsets, [] if self.gzipped else layouts.header_bytes(self._fd, offsets))
        if not self.gzipped:
            check_complete(self, layout)
            layouts.remember(key, layout)
        return layout

    @property
    def fits(self):
        """The file opened with fitsio (cfitsio), on first use (one thread opens it: the planes cfitsio
        reads are never read on the second thread)."""
        if self._fits is None:
            import fitsio

            fd = self.descriptor()  # not after close
            # the file opened at construction (the path may name another file by now): the descriptor's
            # own name where the system has one, else the path if it still names the same file
            same = f"/proc/self/fd/{fd}"
            if not os.path.exists(same):
                same = self.path
                opened, now = os.fstat(fd), os.stat(self.path)
                if (opened.st_dev, opened.st_ino) != (now.st_dev, now.st_ino):
                    raise DataError(f"{self.path} was replaced since it was opened", "open it again")
            try:
                self._fits = fitsio.FITS(same)
            except (OSError, ValueError) as err:
                raise DataError(f"cannot open {self.path} as FITS: {first_line(err)}") from None
        return self._fits

    @property
    def memo(self) -> dict:
        """What the reading core derived from this file's headers, kept with its layout."""
        return self.layout.memo

    @property
    def hdu_count(self) -> int:
        """How many HDUs the file has."""
        return self.layout.count

    def offsets(self, index: int) -> dict:
        """Byte offsets of HDU ``index``: ``header_start``, ``data_start``, ``data_end`` (padded)."""
        return self.layout.offsets[index]

    def raw_header(self, index: int) -> Header:
        """The header of HDU ``index``, structural cards included (read once per layout): parsed from
        its bytes (:mod:`cutout_cli.fits.cards`), else, for what that parser leaves to it, by fitsio."""
        raw = self.layout.raw.get(index)
        if raw is None:
            raw = self.layout.raw[index] = ReadOnlyHeader.of(self._read_header(index))
        return raw

    def content_header(self, index: int) -> Header:
        """The header of HDU ``index`` without structural cards (one object per layout, kept for later opens:
        read-only)."""
        content = self.layout.content.get(index)
        if content is None:
            content = self.layout.content[index] = ReadOnlyHeader.of(self.raw_header(index).content())
        return content

    def _read_header(self, index: int) -> Header:
        if not self.gzipped:  # a gzipped file's offsets are those of the decompressed bytes
            try:
                return Header(parse_header(self.layout.header_bytes[index]))
            except (CardError, UnicodeDecodeError):
                pass
        return Header.from_fitsio(self.fits[index].read_header(), keep_structure=True)

    def describe_next(self, read_ahead: bool = False) -> HduInfo | None:
        """The next HDU, or None after the last (``read_ahead`` means nothing here); its header is
        read only for an image HDU whose ``EXTNAME`` names no plane (to see its ``EXTTYPE``)."""
        if self._next >= self.hdu_count:
            return None
        index = self._next
        self._next += 1
        info = self.layout.infos.get(index)
        if info is None:
            info = self.layout.infos[index] = self._describe(index)
        return info

    def _describe(self, index: int) -> HduInfo:
        hdu = self.fits[index]
        is_image = hdu.get_exttype(num=True) == 0  # compressed images report 0 too
        # fitsio gives dims as (NAXIS2, NAXIS1): numpy order already
        shape = tuple(int(n) for n in (hdu.get_dims() or ())) if is_image else ()
        extname = (hdu.get_extname() or "").strip().upper()
        exttype, bitpix = "", 0
        if is_image and shape and extname not in PLANES:  # only then do its type and BITPIX matter
            try:
                raw = self.raw_header(index)
            except (OSError, ValueError) as err:
                raise DataError(f"cannot read the header of HDU {index} of {self.path}: {first_line(err)}") from None
            exttype = str(raw.get("EXTTYPE") or "").strip().upper()
            bitpix = int(raw.get("ZBITPIX" if raw.get("ZIMAGE") else "BITPIX") or 0)
        return HduInfo(index, extname, shape, is_image, exttype, bitpix)

    def header(self, hdu: HduInfo) -> Header:
        try:
            return self.content_header(hdu.index)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read the headers of {self.path}: {first_line(err)}") from None

    def plane_reader(self, hdu: HduInfo):
        """The reader of one plane (module docstring)."""
        if self.gzipped:
            return CfitsioPlane(self, hdu.index)  # cfitsio decompressed the file in memory: no offset here is ours
        raw = self.raw_header(hdu.index)
        data_start = self.offsets(hdu.index)["data_start"]
        if raw.get("XTENSION") == "BINTABLE" and raw.get("ZIMAGE") is True:  # a tile-compressed image
            header = {name: value for name, value, _ in reversed(raw.cards)}  # the first card of a name wins
            tiled = open_tiled_plane(self.descriptor(), header, data_start)
            if tiled is not None:
                return DecodedPlane(self, hdu.index, tiled)
            rows = open_row_plane(self.descriptor(), header, data_start, self.mapped)
            return CfitsioPlane(self, hdu.index) if rows is None else InflatedPlane(rows)
        layout = self._raw_layout(raw, data_start, hdu.shape)
        return CfitsioPlane(self, hdu.index) if layout is None else MappedPlane(self, hdu.shape, *layout)

    def _raw_layout(self, raw_header, data_start: int, shape) -> tuple[int, np.dtype] | None:
        """(data start, big-endian type) of an uncompressed, unscaled plane wholly in the file."""
        dtype = _RAW_TYPES.get(raw_header.get("BITPIX"))
        scaled = float(raw_header.get("BSCALE", 1.0)) != 1.0 or float(raw_header.get("BZERO", 0.0)) != 0.0
        if dtype is None or scaled or len(shape) != 2:
            return None
        end = data_start + dtype.itemsize * shape[0] * shape[1]
        if os.fstat(self.descriptor()).st_size < end:  # a truncated file is left to cfitsio, which reports it
            return None
        return data_start, dtype

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

    def read_bytes(self, offset: int, size: int) -> bytes:
        """``size`` bytes of the file from byte ``offset`` (fewer at its end)."""
        if self.gzipped:
            raise DataError(f"{self.path} is gzip-compressed: cutout cannot read its lsst.images tables in place",
                            "decompress it (gunzip)")
        return os.pread(self.descriptor(), size, offset)

    def check_open(self) -> None:
        self.descriptor()

    def close(self) -> None:
        fits, self._fits = self._fits, None
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


def check_complete(source: LocalSource, layout: FileLayout) -> None:
    """DataError unless the file holds every byte its headers declare.

    fitsio lists the HDUs whose headers are whole, so only the last one's data
    can be cut short: the file must reach its end, padding to a whole block
    included (the FITS standard's rule, and cfitsio's, which reads whole blocks
    and fails on the last one otherwise).  Bytes after it that start a header
    (``XTENSION``) are a header cut short; other bytes there are ignored, as
    cfitsio does.
    """
    size = layout.size
    last = layout.count - 1
    end = int(layout.offsets[last]["data_end"])
    if end > size:
        raise DataError(f"{source.path} is truncated: {hdu_label(source.fits[last].read_header(), last)} ends at byte "
                        f"{end}, the file has {size}", TRUNCATED_HINT)
    if size > end and os.pread(source.descriptor(), 8, end) == b"XTENSION":
        raise DataError(f"{source.path} is truncated: the header of HDU {last + 1} is cut short "
                        f"({size - end} bytes of it)", TRUNCATED_HINT)


class CfitsioPlane(PlaneReader):
    """A plane read by cfitsio (through fitsio, the file opened on first use), which holds the GIL for a
    whole read."""

    def __init__(self, source: LocalSource, index: int):
        self._source, self._index = source, index

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        try:
            return self._source.fits[self._index][rows, cols]
        except (OSError, ValueError) as err:
            raise ReadFailure(first_line(err)) from None


class DecodedPlane(CfitsioPlane):
    """A tile-compressed plane: each box is read by :attr:`tiled` (a
    :class:`~cutout_cli.fits.tiles.plane.TiledPlane`) or by cfitsio, whichever is estimated cheaper."""

    def __init__(self, source: LocalSource, index: int, tiled):
        super().__init__(source, index)
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


class InflatedPlane(PlaneReader):
    """A plane in one-row GZIP tiles, inflated with libdeflate (:mod:`cutout_cli.fits.tiles.rows`)."""

    def __init__(self, rows):
        self.rows = rows

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        try:
            return self.rows.read(rows, cols)
        except RowTileError as err:
            raise ReadFailure(first_line(err)) from None


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
