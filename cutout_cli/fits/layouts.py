"""What opening a local FITS file found, kept per process so that opening it again parses nothing.

Opening a file for one small box is mostly reading its headers: where each
HDU is, what it is, its cards.  A notebook loop or a service that cuts one box
per call reopens the same files over and over, so
:class:`~cutout_cli.fits.local.LocalSource` keeps, per path, a
:class:`FileLayout`: the file's size, each HDU's offsets and header bytes, and
what was made of them (HDU descriptions, parsed headers, and whatever the
reading core derives from them, :attr:`FileLayout.memo`).

A layout is reused only for a file of the same size whose header bytes are
identical, byte for byte, to those the layout was made from (re-read with one
``pread`` per HDU at each open): the same headers at the same offsets in a
file of the same size describe the same HDUs, so everything derived from
them holds.  Pixels are never kept.  A file changed in place in its data
only (not its headers or size) is read afresh as always; damage there is
found when the pixels are decoded.  Gzip-compressed files are never kept
(their offsets are those of the decompressed bytes).

At most :data:`MAX_FILES` layouts are kept, the least recently opened dropped
first.  The layouts are shared by the threads of a process (a lock guards the
table); a layout's contents are read-only once made, apart from entries that
are added, never changed.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

__all__ = ["FileLayout", "header_bytes", "recall", "remember", "MAX_FILES"]

#: How many files' layouts a process keeps.
MAX_FILES = 32

_LOCK = threading.Lock()
_LAYOUTS: OrderedDict[str, FileLayout] = OrderedDict()


class FileLayout:
    """One file's HDUs as found at an open: ``size`` (bytes), ``offsets`` (per HDU, fitsio's
    ``header_start``, ``data_start``, ``data_end``), ``header_bytes`` (each HDU's header as stored),
    and what was derived from them: ``infos`` (HDU index -> description), ``raw`` and ``content``
    (HDU index -> parsed header, with and without structural cards) and ``memo`` (name -> value, for
    the reading core)."""

    __slots__ = ("size", "offsets", "header_bytes", "infos", "raw", "content", "memo")

    def __init__(self, size: int, offsets: list, header_bytes: list):
        self.size, self.offsets, self.header_bytes = size, offsets, header_bytes
        self.infos: dict = {}
        self.raw: dict = {}
        self.content: dict = {}
        self.memo: dict = {}

    @property
    def count(self) -> int:
        """How many HDUs the file has."""
        return len(self.offsets)


def header_bytes(fd: int, offsets: list) -> list:
    """Each HDU's header bytes, read at ``offsets``."""
    return [os.pread(fd, o["data_start"] - o["header_start"], o["header_start"]) for o in offsets]


def recall(path: str, fd: int, size: int) -> FileLayout | None:
    """The layout kept for ``path`` if the file (open as ``fd``, ``size`` bytes) still has the same
    size and header bytes; else None (and the stale layout is dropped)."""
    with _LOCK:
        layout = _LAYOUTS.get(path)
        if layout is not None:
            _LAYOUTS.move_to_end(path)
    if layout is None:
        return None
    if layout.size == size and header_bytes(fd, layout.offsets) == layout.header_bytes:
        return layout
    with _LOCK:
        if _LAYOUTS.get(path) is layout:
            del _LAYOUTS[path]
    return None


def remember(path: str, layout: FileLayout) -> None:
    """Keep ``layout`` for the next open of ``path``."""
    with _LOCK:
        _LAYOUTS[path] = layout
        _LAYOUTS.move_to_end(path)
        while len(_LAYOUTS) > MAX_FILES:
            _LAYOUTS.popitem(last=False)
