"""A seekable, read-only file over a remote object that fetches only what is read.

Small reads (FITS header blocks) fetch a little ahead, doubled while reads are
sequential; larger reads (tables) fetch exactly what is missing.  Fetched
bytes are kept, so headers and tile descriptor tables are fetched once (and,
with a cache directory, saved for the next open: :mod:`.header_cache`).
:meth:`RangeReader.prefetch` brings given byte ranges in with few requests
(near ranges coalesced) for the next reads, and :meth:`RangeReader.release`
drops them.  fsspec's own caches either pull large blocks (readahead, block
caches sized for throughput) or nothing, so the file under the reader is
opened with ``cache_type="none"`` and caching is done here, by callers that
know the file's layout.
"""

from __future__ import annotations

import bisect
import io
import math

from ..errors import DataError, NotFoundError
from .remote import RemoteOptions, call, open_file

__all__ = ["RangeReader", "coalesce"]

READAHEAD = 5760  # the first fetch of a small read: two FITS header blocks; doubled while reads are sequential
MAX_READAHEAD = 64 * 1024
# The first fetch of a file: a speculative read of its start, which in the coadd layouts holds the
# primary header, the first plane's header and its tile table (a round trip each, otherwise) and
# costs 3 ms at 100 Mbit/s
FIRST_READ = 32 * 1024
SMALL_READ = READAHEAD  # reads up to this size get read-ahead (header blocks); larger ones are exact
MERGE_GAP = 64 * 1024  # prefetch ranges closer than this are fetched as one request
KEEP_LIMIT = 4 * 1024 * 1024  # fetched misses larger than this are not kept


class RangeReader(io.RawIOBase):
    """A seekable, read-only file over a remote object that fetches only what is read.

    Small reads (header blocks) fetch a little ahead; larger reads (tables)
    fetch exactly what is missing.  Fetched bytes are kept, so headers and
    tile descriptor tables are fetched once.  :meth:`prefetch` brings given
    byte ranges in with few requests (coalesced) for the next reads, and
    :meth:`release` drops them.  ``requests`` and ``bytes_fetched`` count the
    traffic.
    """

    def __init__(self, url: str, options: RemoteOptions | None, *, raw=None):
        super().__init__()
        self.name = url
        self.mode = "rb"
        self._options = options
        self._raw, self._version = (raw, None) if raw is not None else open_file(url, options)
        self.size = int(raw.seek(0, io.SEEK_END) if raw is not None else self._raw.size)
        self._base = 0  # where the window read begins in the object (a zip member's data)
        self._end = self._object_size = self.size  # and where it ends
        self._pos = 0
        self._kept = _Extents()
        self._transient = _Extents()
        self._readahead = READAHEAD
        self._last_end = -1
        self.requests = 0
        self.bytes_fetched = 0
        self._cache = options.header_cache() if options is not None and raw is None else None
        self._kept_new = False  # bytes kept since the cache's entry was loaded: the entry is saved on close
        if self._cache is not None:
            for start, data in self._cache.load(url, self._end, self._version):
                self._kept.add(start, data)

    @classmethod
    def local(cls, path: str) -> RangeReader:
        """A reader over a local file (for a member of a local zip archive)."""
        try:
            return cls(path, None, raw=open(path, "rb"))
        except FileNotFoundError:
            raise NotFoundError(f"{path} does not exist", "check the path") from None
        except OSError as err:
            raise DataError(f"cannot read {path}: {err.strerror or err}") from None

    def set_window(self, offset: int, size: int) -> None:
        """Read bytes ``[offset, offset + size)`` of the object from now on, as if they were the whole file
        (positions and sizes are then the window's; what was fetched is kept)."""
        if offset < 0 or offset + size > self._end:
            raise DataError(f"{self.name}: bytes {offset}..{offset + size} are past its end ({self._end} bytes)",
                            "the file may be truncated")
        self._base, self.size, self._end, self._pos = offset, size, offset + size, 0

    # -- io.RawIOBase ---------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]  # in the window
        self._pos = max(0, base + int(offset))
        return self._pos

    def read(self, size: int = -1) -> bytes:
        start = self._base + self._pos
        end = self._end if size is None or size < 0 else min(self._end, start + size)
        if end <= start:
            return b""
        data = self._transient.get(start, end)
        if data is None:
            data = self._read_kept(start, end)
        self._pos = end - self._base
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            if self._cache is not None and self._kept_new:
                self._cache.store(self.name, self._object_size, self._version, self._kept.items())
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
        return self._read_kept(self._base + start, min(self._base + end, self._end))

    def keep(self, start: int, end: int) -> None:
        """Fetch what is missing of ``[start, end)`` now, and keep it (like headers and tables)."""
        for gap_start, gap_end in self._kept.gaps(self._base + start, min(self._base + end, self._end)):
            self._kept.add(gap_start, self._fetch(gap_start, gap_end))
            self._kept_new = True

    def prefetch(self, ranges) -> None:
        """Fetch byte ranges ``[(start, end), ...]`` for the next reads, coalescing near ones; the
        requests of a remote object are made concurrently (one round trip, not one each)."""
        shifted = [(self._base + start, self._base + end) for start, end in ranges]
        missing = [(start, end) for start, end in coalesce(shifted, MERGE_GAP)
                   if self._kept.get(start, end) is None and self._transient.get(start, end) is None]
        for (start, _), data in zip(missing, self._fetch_many(missing)):
            self._transient.add(start, data)

    def release(self) -> None:
        """Drop the prefetched ranges."""
        self._transient = _Extents()

    def _read_kept(self, start: int, end: int) -> bytes:
        for gap_start, gap_end in self._kept.gaps(start, end):
            fetch_end = gap_end
            if end - start <= SMALL_READ:
                self._readahead = min(2 * self._readahead, MAX_READAHEAD) if gap_start == self._last_end \
                    else READAHEAD
                ahead = FIRST_READ if self._last_end < 0 else self._readahead
                fetch_end = max(gap_end, min(gap_start + ahead, self._end, self._kept.next_start(gap_start)))
            data = self._fetch(gap_start, fetch_end)
            if len(data) > KEEP_LIMIT:
                return self._assemble_uncached(start, end, gap_start, data)
            self._kept.add(gap_start, data)
            self._kept_new = True
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

    def _fetch_many(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """The bytes of each ``[start, end)``: concurrent requests (fsspec's ``cat_ranges``) for a remote
        object, retried together; one after another for a local file."""
        fs = getattr(self._raw, "fs", None)
        if len(ranges) < 2 or self._options is None or not hasattr(fs, "cat_ranges"):
            return [self._fetch(start, end) for start, end in ranges]
        path = self._raw.path

        def get():
            return fs.cat_ranges([path] * len(ranges), [s for s, _ in ranges], [e for _, e in ranges],
                                 on_error="raise")

        found = call(get, self.name, self._options)
        self.requests += len(ranges)
        for (start, end), data in zip(ranges, found):
            self._count(start, end, data)
        return found

    def _count(self, start: int, end: int, data: bytes) -> None:
        """Count a fetch of ``[start, end)`` and check that it brought every byte."""
        self.bytes_fetched += len(data)
        self._last_end = end
        if len(data) != end - start:
            raise DataError(f"short read from {self.name}: {len(data)} of {end - start} bytes at offset {start}",
                            "the object may have changed or been truncated")

    def _fetch(self, start: int, end: int) -> bytes:
        raw = self._raw
        if raw is None:
            raise DataError(f"{self.name} is closed")

        def get():
            raw.seek(start)
            return raw.read(end - start)

        data = call(get, self.name, self._options) if self._options is not None else _read_local(get, self.name)
        self.requests += 1
        self._count(start, end, data)
        return data


def _read_local(get, name: str) -> bytes:
    try:
        return get()
    except OSError as err:
        raise DataError(f"cannot read {name}: {err.strerror or err}") from None


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

    def items(self) -> list[tuple[int, bytes]]:
        """Every extent, ``(start, bytes)``, in order."""
        return list(zip(self._starts, self._data))

    def next_start(self, pos: int) -> int:
        """Start of the first extent beginning after ``pos`` (a read-ahead stops there)."""
        i = bisect.bisect_right(self._starts, pos)
        return self._starts[i] if i < len(self._starts) else math.inf


def coalesce(ranges, gap: int) -> list[tuple[int, int]]:
    """Byte ranges ``[(start, end), ...]`` sorted, with those less than ``gap`` apart merged (empty ones dropped)."""
    merged: list[list[int]] = []
    for start, end in sorted(r for r in ranges if r[1] > r[0]):
        if merged and start - merged[-1][1] <= gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]
