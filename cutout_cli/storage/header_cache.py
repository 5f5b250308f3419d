"""A persistent, size-bounded local cache of the bytes a remote file's reads keep: headers and tile tables.

A :class:`~.ranged.RangeReader` keeps what it fetched for headers and tile
descriptor tables (not the tiles of a box: those are prefetched and dropped).
With a cache directory (``--cache-dir``, ``$CUTOUT_CACHE_DIR``), those kept
byte ranges are saved when the reader closes and loaded when the same object
is opened again, so a second run fetches only the tiles.

Entries are keyed by URL and validated by the object's size and version (the
``ETag``, else ``Last-Modified``, that the open's own size lookup returns): an
object that changed is read afresh and its entry replaced.  Without a version
nothing is cached, since a change could not be seen.

Safe under concurrent processes: an entry is written to a temporary name in
the directory and renamed over the old one (readers see a whole old or a whole
new entry); a damaged or foreign entry is ignored.  After each write the
least recently used entries (by modification time, touched on every hit) are
removed until the directory holds at most ``max_bytes``.

An entry is one file, ``<sha256 of the URL>.hdr``: a JSON line (``url``,
``size``, ``version``, ``extents``: ``[[start, length], ...]``) then the
extents' bytes in order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile

__all__ = ["HeaderCache"]

MAX_ENTRY = 16 * 1024 * 1024  # a larger set of kept bytes is not what this cache is for (it would be data)
SUFFIX = ".hdr"
FORMAT = 1


class HeaderCache:
    """Kept byte ranges of remote objects, in ``directory`` (created on first write), at most ``max_bytes``."""

    def __init__(self, directory: str, max_bytes: int):
        self.directory = os.path.expanduser(os.fspath(directory))
        self.max_bytes = max_bytes

    def _path(self, url: str) -> str:
        return os.path.join(self.directory, hashlib.sha256(url.encode()).hexdigest() + SUFFIX)

    def load(self, url: str, size: int, version: str | None) -> list[tuple[int, bytes]]:
        """The saved ``(start, bytes)`` extents of ``url`` at this size and version; [] when there are none."""
        if not version:
            return []
        path = self._path(url)
        try:
            with open(path, "rb") as handle:
                meta = json.loads(handle.readline())
                if (meta.get("format"), meta.get("url"), meta.get("size"), meta.get("version")) != \
                        (FORMAT, url, size, version):
                    return []
                extents = [(int(start), handle.read(int(length))) for start, length in meta["extents"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []  # missing, being replaced, damaged or foreign: read afresh
        if any(len(data) != length for (_, data), (_, length) in zip(extents, meta["extents"])):
            return []
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        return extents

    def store(self, url: str, size: int, version: str | None, extents: list[tuple[int, bytes]]) -> None:
        """Save ``extents`` as the entry of ``url`` (nothing without a version, or when they are too large);
        a failure to write is not an error of the read (the cache is an optimisation)."""
        total = sum(len(data) for _, data in extents)
        if not version or not extents or total > MAX_ENTRY:
            return
        meta = {"format": FORMAT, "url": url, "size": size, "version": version,
                "extents": [[start, len(data)] for start, data in extents]}
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(json.dumps(meta).encode() + b"\n")
                    for _, data in extents:
                        handle.write(data)
                os.replace(temporary, self._path(url))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
            self._prune()
        except OSError:
            return

    def _prune(self) -> None:
        """Remove the least recently used entries until the directory holds at most ``max_bytes``."""
        entries = []
        with os.scandir(self.directory) as found:
            for entry in found:
                if entry.name.endswith(SUFFIX):
                    with contextlib.suppress(OSError):
                        stat = entry.stat()
                        entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size
