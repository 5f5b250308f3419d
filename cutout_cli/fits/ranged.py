"""The ranged source of a :class:`~cutout_cli.fits.coadd.CoaddFile`: a file in remote storage (S3, HTTP),
or a member of a zip archive (local or remote, :mod:`cutout_cli.storage.members`), read fetching only the
bytes a box needs.

The file is opened with astropy (``fits.open`` with lazy HDU loading) on a
:class:`~cutout_cli.storage.ranged.RangeReader`, and a box is read with
``hdu.section[...]``, which decompresses only the tiles under it.  What goes
over the network:

* opening: one size lookup (HEAD; none when the repository has just looked the file up), then the headers in block-aligned reads
  with a small read-ahead (doubled while reads are sequential); an afw
  plane's header is followed by its tile table, so the read-ahead after the
  primary header usually brings the IMAGE header and part of its table along;
* planes are found lazily (:mod:`cutout_cli.fits.planes`): an IMAGE-only
  cutout never reads the VARIANCE header (``EXTNAME`` and ``EXTTYPE`` are in
  the header read anyway; only a file naming no plane has every header read,
  to fall back on afw's HDU positions); when a plane is about to be read,
  its header is fetched together with what the IMAGE plane's header and
  table took (afw planes share a tiling), in one request instead of two or three;
* a plane's tile table is read once (one request), then kept;
* a box: its tiles' compressed bytes, one request per run of tiles adjacent
  in the file, all made concurrently (one round trip), before astropy asks for them (the one tile-table
  parser, :class:`~cutout_cli.fits.tiles.table.TileTable`, says where they
  are), then dropped.

astropy's section reader alone would read each tile with its own request;
the prefetch coalesces them.

Each HDU described is checked against the file's size (known from the
first request): one whose data (padded to a whole block) would end past the
end of the file, or a header cut short, is reported then, before any of its
pixels is read.  Headers past the end are
not read, so damage after the last plane needed is not seen remotely.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from ..errors import CutoutError, DataError, first_line
from ..storage.members import open_range_reader
from ..storage.remote import RemoteOptions
from .header import Header
from .planes import TRUNCATED_HINT, HduInfo, PlaneReader, ReadFailure, hdu_label
from .tiles.table import TableFormatError, TileTable

__all__ = ["RangedSource", "RangedPlane", "MAX_HEADER_READ_AHEAD"]

MAX_HEADER_READ_AHEAD = 1024 * 1024  # cap of the read-ahead of a plane's header and tile table


class RangedSource:
    """A FITS file at an ``s3://`` or ``http(s)://`` URL, for :class:`~cutout_cli.fits.coadd.CoaddFile`.

    ``reader`` is the :class:`~cutout_cli.storage.ranged.RangeReader` under it
    (its ``requests`` and ``bytes_fetched`` count the traffic).
    """

    scan_at_open = False  # every header costs a request: planes are found when asked for

    def __init__(self, url: str, options: RemoteOptions | None = None):
        from astropy.io import fits

        self.path = url
        self._hdul = None
        self.reader = open_range_reader(url, options or RemoteOptions.from_env())
        self._next = 0
        self._tables: dict[int, TileTable | None] = {}
        self._span: int | None = None  # IMAGE header + tile table bytes: the read-ahead for the other planes
        self._image_index: int | None = None
        self.memo: dict = {}  # what the reading core derives from the headers (kept for this open only)
        self.held = False  # the tiles of the planes being read were fetched together (:meth:`holding`)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._hdul = fits.open(self.reader, mode="readonly", memmap=False, lazy_load_hdus=True, cache=False)
                self.primary_header = Header.from_astropy(self._hdul[0].header)
        except CutoutError:
            self.close()
            raise
        except Exception as err:  # astropy raises many types for a broken file
            self.close()
            raise DataError(f"cannot read the headers of {url}: {first_line(err)}") from None

    def describe_next(self, read_ahead: bool = False) -> HduInfo | None:
        """The next HDU (its header read), or None after the last."""
        from astropy.io.fits import CompImageHDU, ImageHDU, PrimaryHDU

        try:
            if read_ahead and self._next > 0:
                self._read_ahead()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hdu = self._hdul[self._next]
        except IndexError:  # the end, or a header cut short (astropy stops there)
            self._check_tail()
            return None
        except CutoutError:
            raise
        except Exception as err:
            self._check_tail()
            raise DataError(f"cannot read the headers of {self.path}: {first_line(err)}") from None
        self._next += 1
        is_image = isinstance(hdu, (PrimaryHDU, ImageHDU, CompImageHDU))
        header = hdu.header
        info = HduInfo(self._next - 1, str(header.get("EXTNAME", "")).strip().upper(),
                       tuple(int(n) for n in hdu.shape) if is_image else (), is_image,
                       str(header.get("EXTTYPE", "")).strip().upper(), int(header.get("BITPIX", 0)) if is_image else 0)
        self._check_complete(hdu, info.index)
        if info.plane == "IMAGE" and self._image_index is None:
            self._image_index = info.index
        return info

    def _check_complete(self, hdu, index: int) -> None:
        """DataError when HDU ``index``'s data, as its header declares them (padding to a whole block
        included, as :func:`cutout_cli.fits.local.check_complete` requires), end past the end of the file."""
        info = hdu.fileinfo()
        end = info["datLoc"] + info["datSpan"]
        if end > self.reader.size:
            raise DataError(f"{self.path} is truncated: {hdu_label(hdu.header, index)} ends at byte {end}, "
                            f"the file has {self.reader.size}", TRUNCATED_HINT)

    def _check_tail(self) -> None:
        """DataError when what follows the last HDU read starts a header (``XTENSION``): one cut short
        (its bytes were just read, so this costs no request as a rule)."""
        if self._next == 0:
            return
        info = self._hdul[self._next - 1].fileinfo()
        end = info["datLoc"] + info["datSpan"]
        if end < self.reader.size and self.reader.peek_range(end, end + 8) == b"XTENSION":
            raise DataError(f"{self.path} is truncated: the header of HDU {self._next} is cut short "
                            f"({self.reader.size - end} bytes of it)", TRUNCATED_HINT)

    def header(self, hdu: HduInfo) -> Header:
        return Header.from_astropy(self._hdul[hdu.index].header)

    def hdu(self, index: int):
        """astropy's HDU ``index`` (its header read already)."""
        return self._hdul[index]

    def plane_reader(self, hdu: HduInfo) -> RangedPlane:
        return RangedPlane(self, hdu.index)

    def tile_table(self, index: int, load: bool = True) -> tuple[TileTable | None, np.ndarray | None]:
        """The tile table of a compressed HDU and (with ``load``, one request, kept) its rows;
        ``(None, None)`` for an uncompressed HDU or a table we cannot lay out (astropy reads it unaided)."""
        from astropy.io.fits import CompImageHDU
        from astropy.io.fits import Header as FitsHeader

        hdu = self._hdul[index]
        if index not in self._tables:
            self._tables[index] = None
            if isinstance(hdu, CompImageHDU):
                info = hdu.fileinfo()
                raw = self.reader.peek_range(info["hdrLoc"], info["datLoc"])
                try:
                    self._tables[index] = TileTable(FitsHeader.fromstring(raw.decode("ascii", "replace")))
                except TableFormatError:
                    pass
        table = self._tables[index]
        if table is None or not load:
            return table, None
        start = hdu.fileinfo()["datLoc"]
        return table, table.rows(self.reader.peek_range(start, start + table.table_bytes))

    def _read_ahead(self) -> None:
        """Fetch, with the next HDU's header, as many bytes as the IMAGE plane's header and table take."""
        if self._span is None and self._image_index is not None:
            info = self._hdul[self._image_index].fileinfo()
            table, _ = self.tile_table(self._image_index, load=False)
            self._span = info["datLoc"] - info["hdrLoc"] + table.table_bytes if table is not None else 0
        if not self._span:
            return
        info = self._hdul[self._next - 1].fileinfo()
        start = info["datLoc"] + info["datSpan"]
        if start < self.reader.size:
            self.reader.keep(start, start + min(self._span, MAX_HEADER_READ_AHEAD))

    @contextlib.contextmanager
    def holding(self, ranges):
        """Fetch byte ``ranges`` (the tiles of several planes) concurrently and keep them while the planes
        are read; dropped at the end."""
        self.reader.prefetch(ranges)
        self.held = True
        try:
            yield
        finally:
            self.held = False
            self.reader.release()

    def read_bytes(self, offset: int, size: int) -> bytes:
        """``size`` bytes of the file from byte ``offset`` (fewer at its end), in one request."""
        return self.reader.peek_range(offset, min(offset + size, self.reader.size))

    def check_open(self) -> None:
        if self._hdul is None:
            raise DataError(f"{self.path} is closed", "open it again to read from it")

    def close(self) -> None:
        hdul, self._hdul = self._hdul, None
        if hdul is not None:
            hdul.close()
        self.reader.close()


class RangedPlane(PlaneReader):
    """One plane of a remote file, read by astropy's ``section`` with its bytes prefetched (astropy holds
    the GIL: no second thread)."""

    def __init__(self, source: RangedSource, index: int):
        self._source, self._index = source, index

    def byte_ranges(self, rows: slice, cols: slice) -> list[tuple[int, int]]:
        """File byte ranges holding the pixels ``[rows, cols]`` (0-based array slices)."""
        return self._byte_ranges(self._source.hdu(self._index), rows, cols)

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        reader = self._source.reader
        held = self._source.held  # fetched with the other planes: released by the source
        try:
            hdu = self._source.hdu(self._index)
            if not held:
                reader.prefetch(self._byte_ranges(hdu, rows, cols))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = np.asarray(hdu.section[rows, cols])
        except CutoutError:
            raise
        except Exception as err:  # astropy raises many types for a broken file
            raise ReadFailure(first_line(err)) from None
        finally:
            if not held:
                reader.release()
        return data if data.dtype.isnative else data.astype(data.dtype.newbyteorder("="))

    def _byte_ranges(self, hdu, rows: slice, cols: slice) -> list[tuple[int, int]]:
        """File byte ranges holding the pixels ``[rows, cols]``."""
        start = hdu.fileinfo()["datLoc"]
        table, table_rows = self._source.tile_table(self._index)
        if table is not None:
            return [(start + a, start + b) for a, b in table.heap_ranges(table_rows, table.tile_indices(rows, cols))]
        if hdu.header.get("ZIMAGE"):
            return []  # a tile table we cannot lay out: astropy fetches each tile
        itemsize = abs(int(hdu.header["BITPIX"])) // 8
        width = int(hdu.header["NAXIS1"])
        return [(start + (y * width + cols.start) * itemsize, start + (y * width + cols.stop) * itemsize)
                for y in range(rows.start, rows.stop)]
