"""Read boxes of a coadd in remote storage (S3, HTTP) fetching only the bytes they need.

:class:`RemoteCoaddFile` has the interface of :class:`~cutout_cli.reader.CoaddFile`
(its metadata logic is inherited) but reads through astropy: ``fits.open`` with
lazy HDU loading on a :class:`RangeReader`, and ``hdu.section[...]``, which
decompresses only the tiles under a box.  What goes over the network:

* opening: one size lookup (HEAD), then the headers in block-aligned reads
  with a small read-ahead (2 FITS blocks, doubled while reads are sequential);
  an afw plane's header is followed by its tile descriptor table, so the
  read-ahead after the primary header usually brings the IMAGE header and
  part of its table along;
* planes are found lazily by ``EXTNAME``: an IMAGE-only cutout never reads the
  VARIANCE header; the MASK header is read for the mask-plane bits;
* a plane's tile descriptor table is read once (one request), then kept;
* a box: its tiles' compressed bytes, one request per run of tiles adjacent
  in the file (a tile row of the box), fetched before astropy asks for them,
  then dropped.

astropy's section reader alone would read each tile with its own request; the
prefetch coalesces them.  fsspec's own caches either pull large blocks
(readahead, block caches sized for throughput) or nothing, so the file object
under the reader is opened with ``cache_type="none"`` and caching is done here,
knowing the FITS layout.
"""

from __future__ import annotations

import bisect
import io
import math
import re
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import CutoutError, DataError, NotFoundError
from .geometry import Box
from .header import _STRUCTURAL, Header, _is_boilerplate
from .reader import PLANES, CoaddFile, _first_line
from .remote import RemoteOptions, call, open_file

BLOCK = 2880
READAHEAD = 2 * BLOCK  # the first fetch of a small read; doubled while reads are sequential
MAX_READAHEAD = 64 * 1024
SMALL_READ = 2 * BLOCK  # reads up to this size get read-ahead (header blocks); larger ones are exact
MERGE_GAP = 64 * 1024  # prefetch ranges closer than this are fetched as one request
KEEP_LIMIT = 4 * 1024 * 1024  # fetched misses larger than this are not kept
MAX_HEADER_READ_AHEAD = 1024 * 1024  # cap of the read-ahead of a plane's header and descriptor table


class RangeReader(io.RawIOBase):
    """A seekable, read-only file over a remote object that fetches only what is read.

    Small reads (header blocks) fetch a little ahead; larger reads (tables)
    fetch exactly what is missing.  Fetched bytes are kept, so headers and
    tile descriptor tables are fetched once.  :meth:`prefetch` brings given
    byte ranges in with few requests (coalesced) for the next reads, and
    :meth:`release` drops them.  ``requests`` and ``bytes_fetched`` count the
    traffic.
    """

    def __init__(self, url: str, options: RemoteOptions):
        super().__init__()
        self.name = url
        self.mode = "rb"
        self._options = options
        self._raw = open_file(url, options)
        self.size = int(self._raw.size)
        self._pos = 0
        self._kept = _Extents()
        self._transient = _Extents()
        self._readahead = READAHEAD
        self._last_end = -1
        self.requests = 0
        self.bytes_fetched = 0

    # -- io.RawIOBase ---------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + int(offset))
        return self._pos

    def read(self, size: int = -1) -> bytes:
        start = self._pos
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        if end <= start:
            return b""
        data = self._transient.get(start, end)
        if data is None:
            data = self._read_kept(start, end)
        self._pos = end
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            raw, self._raw = self._raw, None
            self._kept, self._transient = _Extents(), _Extents()
            if raw is not None:
                try:
                    raw.close()
                except Exception:  # closing a remote file only releases a session
                    pass
        super().close()

    # -- fetching -------------------------------------------------------------------
    def peek_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` (from what is kept, fetching what is missing); the position is unchanged."""
        return self._read_kept(start, min(end, self.size))

    def keep(self, start: int, end: int) -> None:
        """Fetch what is missing of ``[start, end)`` now, and keep it (like headers and tables)."""
        for gap_start, gap_end in self._kept.gaps(start, min(end, self.size)):
            self._kept.add(gap_start, self._fetch(gap_start, gap_end))

    def prefetch(self, ranges) -> None:
        """Fetch byte ranges ``[(start, end), ...]`` for the next reads, coalescing near ones."""
        for start, end in _coalesce(ranges, MERGE_GAP):
            if self._kept.get(start, end) is None and self._transient.get(start, end) is None:
                self._transient.add(start, self._fetch(start, end))

    def release(self) -> None:
        """Drop the prefetched ranges."""
        self._transient = _Extents()

    def _read_kept(self, start: int, end: int) -> bytes:
        for gap_start, gap_end in self._kept.gaps(start, end):
            fetch_end = gap_end
            if end - start <= SMALL_READ:
                self._readahead = min(2 * self._readahead, MAX_READAHEAD) if gap_start == self._last_end \
                    else READAHEAD
                fetch_end = max(gap_end, min(gap_start + self._readahead, self.size, self._kept.next_start(gap_start)))
            data = self._fetch(gap_start, fetch_end)
            if len(data) > KEEP_LIMIT:
                return self._assemble_uncached(start, end, gap_start, data)
            self._kept.add(gap_start, data)
        return self._kept.get(start, end)

    def _assemble_uncached(self, start, end, fetched_start, fetched):
        out = bytearray(end - start)
        for gap_start, gap_end in self._kept.gaps(start, end):
            if gap_start == fetched_start:
                out[gap_start - start:gap_end - start] = fetched[:gap_end - gap_start]
            else:
                out[gap_start - start:gap_end - start] = self._fetch(gap_start, gap_end)
        for s, data in self._kept.overlapping(start, end):
            lo, hi = max(s, start), min(s + len(data), end)
            out[lo - start:hi - start] = data[lo - s:hi - s]
        return bytes(out)

    def _fetch(self, start: int, end: int) -> bytes:
        raw = self._raw
        if raw is None:
            raise DataError(f"{self.name} is closed")

        def get():
            raw.seek(start)
            return raw.read(end - start)

        data = call(get, self.name, self._options)
        self.requests += 1
        self.bytes_fetched += len(data)
        self._last_end = end
        if len(data) != end - start:
            raise DataError(f"short read from {self.name}: {len(data)} of {end - start} bytes at offset {start}",
                            "the object may have changed or been truncated")
        return data


class _Extents:
    """Non-overlapping byte extents ``start -> bytes`` with lookups by range."""

    def __init__(self):
        self._starts: list[int] = []
        self._data: list[bytes] = []

    def add(self, start: int, data: bytes) -> None:
        if not data:
            return
        end = start + len(data)
        # merge with every extent that overlaps or touches [start, end)
        i = bisect.bisect_left(self._starts, start)
        if i > 0 and self._starts[i - 1] + len(self._data[i - 1]) >= start:
            i -= 1
        j = i
        new_start, pieces = start, []
        while j < len(self._starts) and self._starts[j] <= end:
            s, d = self._starts[j], self._data[j]
            new_start = min(new_start, s)
            pieces.append((s, d))
            j += 1
        if pieces:
            new_end = max(end, max(s + len(d) for s, d in pieces))
            buf = bytearray(new_end - new_start)
            for s, d in pieces:
                buf[s - new_start:s - new_start + len(d)] = d
            buf[start - new_start:end - new_start] = data
            data, start = bytes(buf), new_start
        self._starts[i:j] = [start]
        self._data[i:j] = [data]

    def get(self, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` if one extent holds them all, else None."""
        i = bisect.bisect_right(self._starts, start) - 1
        if i >= 0 and self._starts[i] + len(self._data[i]) >= end:
            offset = start - self._starts[i]
            return self._data[i][offset:offset + end - start]
        return None

    def overlapping(self, start: int, end: int):
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        while i < len(self._starts) and self._starts[i] < end:
            if self._starts[i] + len(self._data[i]) > start:
                yield self._starts[i], self._data[i]
            i += 1

    def gaps(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` not held."""
        out, pos = [], start
        for s, d in self.overlapping(start, end):
            if s > pos:
                out.append((pos, s))
            pos = max(pos, s + len(d))
        if pos < end:
            out.append((pos, end))
        return out

    def next_start(self, pos: int) -> int:
        """Start of the first extent beginning after ``pos`` (a read-ahead stops there)."""
        i = bisect.bisect_right(self._starts, pos)
        return self._starts[i] if i < len(self._starts) else math.inf


def _coalesce(ranges, gap: int) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


# -- the coadd -----------------------------------------------------------------------

def header_from_astropy(header) -> Header:
    """A :class:`~cutout_cli.header.Header` with the cards of an astropy header, as
    :meth:`Header.from_fitsio` would give them (no structural or compression cards)."""
    cards = []
    for card in header.cards:
        name = card.keyword.upper()
        if _STRUCTURAL.match(name) or _is_boilerplate(name, {"value": card.value}):
            continue
        value = card.value
        if name in ("COMMENT", "HISTORY", ""):
            value = str(value)
            cards.append((name, value, value))
        else:
            cards.append((name, None if value is None or _is_undefined(value) else value, card.comment or ""))
    return Header(cards)


def _is_undefined(value) -> bool:
    return type(value).__name__ == "Undefined"


class _Planes(Sequence):
    """The planes of a remote file, found lazily: ``"IMAGE" in planes`` reads no more
    headers than needed; iterating, comparing or ``len`` finds them all.

    Membership tests and listing are how :func:`~cutout_cli.cutout.extract` and
    :class:`~cutout_cli.handle.ImageHandle` pick the planes they are about to read,
    so a plane found that way comes with its descriptor table (one request for
    both; see ``RemoteCoaddFile._read_ahead``).
    """

    def __init__(self, owner):
        self._owner = owner

    def __contains__(self, plane) -> bool:
        return self._owner._find(plane, read_ahead=True) is not None

    def _all(self) -> tuple:
        return self._owner._all_planes(read_ahead=True)

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other) -> bool:
        if isinstance(other, (_Planes, tuple, list)):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._all())


class _PlaneHeaders(Mapping):
    """``{plane: Header}`` whose headers are read when first asked for."""

    def __init__(self, owner):
        self._owner = owner

    def __getitem__(self, plane) -> Header:
        index = self._owner._find(plane)
        if index is None:
            raise KeyError(plane)
        return self._owner._header(index)

    def __contains__(self, plane) -> bool:
        return self._owner._find(plane) is not None

    def __iter__(self):
        return iter(self._owner._all_planes())

    def __len__(self) -> int:
        return len(self._owner._all_planes())


class RemoteCoaddFile(CoaddFile):
    """A coadd or plain FITS image at an ``s3://`` or ``http(s)://`` URL.

    Same interface as :class:`~cutout_cli.reader.CoaddFile`; see the module
    docstring for what is fetched when.  ``reader`` is the underlying
    :class:`RangeReader` (its ``requests`` and ``bytes_fetched`` count traffic).
    """

    def __init__(self, url: str, options: RemoteOptions | None = None):
        from astropy.io import fits

        self.path = url
        self._options = options or RemoteOptions.from_env()
        self._hdul = None
        self.reader = RangeReader(url, self._options)
        self._hdus: dict[str, int] = {}
        self._tiled, self._raw = {}, {}  # no tile decoder, no memory map: astropy reads remote planes
        self._headers: dict[int, Header] = {}
        self._layouts: dict = {}
        self._next_hdu = 1  # the next HDU index the plane search looks at
        self._span: int | None = None  # IMAGE header + descriptor table bytes (read-ahead for other planes)
        self._scanned_all = False
        self._first_image: int | None = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._hdul = fits.open(self.reader, mode="readonly", memmap=False, lazy_load_hdus=True,
                                       cache=False)
                self.primary_header = header_from_astropy(self._hdul[0].header)
                if self._is_image(0):
                    self._first_image = 0
            self.planes = _Planes(self)
            self.plane_headers = _PlaneHeaders(self)
            image = self._find("IMAGE")
            if image is None:
                raise DataError(f"{self.path} holds no 2-D image", "give a FITS image or an afw coadd")
            self.shape = tuple(int(n) for n in self._hdul[image].shape)
            self.xy0 = self._read_xy0(self._header(image))
            self.bbox = Box(self.xy0[0], self.xy0[1], self.shape[1], self.shape[0])
        except CutoutError:
            self.close()
            raise
        except Exception as err:  # astropy raises many types for a broken file
            self.close()
            raise DataError(f"cannot read the headers of {self.path}: {_first_line(err)}") from None

    # -- finding planes -------------------------------------------------------------
    def _is_image(self, index: int) -> bool:
        from astropy.io.fits import CompImageHDU, ImageHDU, PrimaryHDU

        hdu = self._hdul[index]
        return isinstance(hdu, (PrimaryHDU, ImageHDU, CompImageHDU)) and len(hdu.shape) == 2

    def _scan_one(self) -> bool:
        """Read the next HDU's header and note its plane; False at the end of the file."""
        index = self._next_hdu
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hdu = self._hdul[index]
        except IndexError:
            self._scanned_all = True
            return False
        self._next_hdu += 1
        if self._is_image(index):
            if self._first_image is None:
                self._first_image = index
            name = str(hdu.header.get("EXTNAME", "")).strip().upper()
            if name in PLANES and name not in self._hdus:
                self._hdus[name] = index
                self._check_shapes()
        return True

    def _check_shapes(self) -> None:
        if "IMAGE" not in self._hdus:
            return
        shape = tuple(self._hdul[self._hdus["IMAGE"]].shape)
        for name, index in self._hdus.items():
            if tuple(self._hdul[index].shape) != shape:
                raise DataError(f"{self.path}: plane {name} has a different shape from IMAGE")

    def _find(self, plane: str, read_ahead: bool = False) -> int | None:
        """HDU index of a plane (reading headers up to it), or None.  With ``read_ahead``
        (the plane is about to be read) each header is fetched with what likely follows it."""
        try:
            while plane not in self._hdus and not self._scanned_all and len(self._hdus) < len(PLANES):
                if read_ahead:
                    self._read_ahead()
                self._scan_one()
            if plane == "IMAGE" and "IMAGE" not in self._hdus and self._scanned_all:
                if self._first_image is not None:  # a plain image: its first 2-D HDU, and no other planes
                    self._hdus = {"IMAGE": self._first_image}
        except CutoutError:
            raise
        except Exception as err:
            raise DataError(f"cannot read the headers of {self.path}: {_first_line(err)}") from None
        return self._hdus.get(plane)

    def _read_ahead(self) -> None:
        """Fetch the next HDU's header together with what the IMAGE plane's header and tile
        descriptor table take: afw planes share a tiling, so for MASK and VARIANCE that is
        (about) their header and table, in one request instead of two or three."""
        if self._span is None:
            self._span = 0
            image = self._hdus.get("IMAGE")
            from astropy.io.fits import CompImageHDU

            if image is not None and isinstance(self._hdul[image], CompImageHDU):
                info = self._hdul[image].fileinfo()
                layout = self._tile_layout(image, info, read_table=False)
                self._span = info["datLoc"] - info["hdrLoc"] + layout.table_bytes
        if not self._span or self._next_hdu < 1:
            return
        info = self._hdul[self._next_hdu - 1].fileinfo()
        start = info["datLoc"] + info["datSpan"]
        if start < self.reader.size:
            self.reader.keep(start, start + min(self._span, MAX_HEADER_READ_AHEAD))

    def _all_planes(self, read_ahead: bool = False) -> tuple:
        for plane in PLANES:
            self._find(plane, read_ahead)
        return tuple(p for p in PLANES if p in self._hdus)

    def _header(self, index: int) -> Header:
        if index not in self._headers:
            self._headers[index] = header_from_astropy(self._hdul[index].header)
        return self._headers[index]

    # -- pixels -----------------------------------------------------------------------
    def _tiled_plane(self, plane: str):
        """None: remote planes are read through astropy (one plane at a time, on one connection)."""
        return None

    def _read_section(self, plane: str, rows: slice, cols: slice) -> np.ndarray:
        """The section through astropy's ``.section``, its tiles' bytes fetched first in few requests."""
        index = self._find(plane)
        if index is None:
            raise NotFoundError(f"{self.path} has no {plane} plane", f"planes present: {', '.join(self.planes)}")
        try:
            hdu = self._hdul[index]
            self.reader.prefetch(self._byte_ranges(index, hdu, rows, cols))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = np.asarray(hdu.section[rows, cols])
        except CutoutError:
            raise
        except Exception as err:
            raise DataError(f"cannot read {plane} pixels of {self.path}: {_first_line(err)}",
                            "the file may be truncated or corrupt") from None
        finally:
            self.reader.release()
        return data if data.dtype.isnative else data.astype(data.dtype.newbyteorder("="))

    def _byte_ranges(self, index: int, hdu, rows: slice, cols: slice) -> list[tuple[int, int]]:
        """File byte ranges holding the pixels ``[rows, cols]`` of HDU ``index``."""
        from astropy.io.fits import CompImageHDU

        info = hdu.fileinfo()
        if isinstance(hdu, CompImageHDU):
            layout = self._tile_layout(index, info)
            return layout.ranges(rows, cols)
        itemsize = abs(int(hdu.header["BITPIX"])) // 8
        width = int(hdu.header["NAXIS1"])
        start = info["datLoc"]
        return [(start + (y * width + cols.start) * itemsize, start + (y * width + cols.stop) * itemsize)
                for y in range(rows.start, rows.stop)]

    def _tile_layout(self, index: int, info, read_table: bool = True) -> _TileLayout:
        if index not in self._layouts:
            from astropy.io.fits import Header as FitsHeader

            raw = self.reader.peek_range(info["hdrLoc"], info["datLoc"])
            header = FitsHeader.fromstring(raw.decode("ascii", "replace"))
            self._layouts[index] = _TileLayout(header, info["datLoc"], self.reader)
        layout = self._layouts[index]
        if read_table:
            layout.load_table()
        return layout

    def close(self) -> None:
        hdul, self._hdul = getattr(self, "_hdul", None), None
        if hdul is not None:
            hdul.close()
        reader = getattr(self, "reader", None)
        if reader is not None:
            reader.close()


_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])([A-Z]?)")
_SIZES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}


class _TileLayout:
    """Where each tile of a tile-compressed image lies in the file.

    Reads the descriptor table (one request, kept) and maps a box to the byte
    ranges of its tiles in the heap, from every variable-length column
    (``COMPRESSED_DATA``, and ``GZIP_COMPRESSED_DATA`` / ``UNCOMPRESSED_DATA``
    for tiles that could not be quantized).
    """

    def __init__(self, header, data_start: int, reader: RangeReader):
        self.row_bytes, self.nrows = int(header["NAXIS1"]), int(header["NAXIS2"])
        self.heap_start = data_start + int(header.get("THEAP", self.row_bytes * self.nrows))
        self.width, self.height = int(header["ZNAXIS1"]), int(header["ZNAXIS2"])
        self.tile_w = int(header.get("ZTILE1", self.width))
        self.tile_h = int(header.get("ZTILE2", 1))
        self.tiles_x = -(-self.width // self.tile_w)
        columns, offset = [], 0
        for n in range(1, int(header["TFIELDS"]) + 1):
            m = _TFORM.match(str(header[f"TFORM{n}"]).upper())
            if m is None:
                raise DataError(f"unsupported column format {header[f'TFORM{n}']!r} in a compressed image")
            repeat, code, element = int(m[1] or 1), m[2], m[3]
            if code in "PQ":
                columns.append((offset, code, _SIZES.get(element, 1)))
                size = _SIZES[code]
            elif code == "X":
                size = -(-repeat // 8)
            else:
                size = repeat * _SIZES[code]
            offset += size
        self._columns = columns
        self._reader, self._data_start = reader, data_start
        self.table_bytes = self.row_bytes * self.nrows
        self._table = None

    def load_table(self) -> None:
        """Read the descriptor table (once)."""
        if self._table is None:
            table = self._reader.peek_range(self._data_start, self._data_start + self.table_bytes)
            self._table = np.frombuffer(table, np.uint8).reshape(self.nrows, self.row_bytes)

    def _descriptor(self, rows: np.ndarray, offset: int, code: str) -> tuple[np.ndarray, np.ndarray]:
        kind, width = (">i4", 4) if code == "P" else (">i8", 8)
        raw = self._table[rows, offset:offset + 2 * width].copy()
        pairs = raw.view(kind).reshape(len(rows), 2)
        return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)

    def ranges(self, rows: slice, cols: slice) -> list[tuple[int, int]]:
        tx = np.arange(cols.start // self.tile_w, (cols.stop - 1) // self.tile_w + 1)
        ty = np.arange(rows.start // self.tile_h, (rows.stop - 1) // self.tile_h + 1)
        tiles = (ty[:, None] * self.tiles_x + tx[None, :]).ravel()
        out = []
        for offset, code, element in self._columns:
            counts, offsets = self._descriptor(tiles, offset, code)
            for count, start in zip(counts, offsets):
                if count > 0:
                    out.append((self.heap_start + int(start), self.heap_start + int(start) + int(count) * element))
        return out
