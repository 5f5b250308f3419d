"""A FITS file's outline: whether it is whole, its primary keywords and its extensions' names.

Read from the header bytes alone (:mod:`.cards`), a few ``pread`` calls per
file and no FITS library, for checking many small files quickly (a batch
rerun checks every output it finds: :mod:`cutout_cli.batch.done`).  A file is
whole when every HDU's header ends with ``END`` and the file holds exactly the
data its headers declare, padding included.  A header with a card the fast
parser leaves to fitsio sends the file to
:class:`~cutout_cli.fits.local.LocalSource` (cfitsio) instead.
"""

from __future__ import annotations

import math
import os

from ..errors import CutoutError
from .cards import CardError, parse_header
from .header import BLOCK, CARD

__all__ = ["fits_outline"]

_END_CARD = b"END".ljust(CARD)
_MAX_HEADER_BLOCKS = 1000  # a header this long is not one worth reading here


def fits_outline(path: str) -> tuple[dict, list] | None:
    """``({primary keyword: value}, [EXTNAME of each extension])`` of a whole FITS file; None when the
    file is missing, not FITS, or holds more or fewer bytes than its headers declare."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        return _walk(fd)
    except (CardError, UnicodeDecodeError):
        return _outline_by_cfitsio(path)
    except OSError:
        return None
    finally:
        os.close(fd)


def _walk(fd: int) -> tuple[dict, list] | None:
    """:func:`fits_outline` of an open file, from the header bytes."""
    size = os.fstat(fd).st_size
    offset, primary, extnames = 0, None, []
    while offset < size:
        header = _read_header(fd, offset)
        if header is None:
            return None
        raw, cards = header
        first = "SIMPLE" if primary is None else "XTENSION"
        if not cards or cards[0][0] != first:
            return None
        values = {name: value for name, value, _ in cards}
        if primary is None:
            primary = values
        else:
            extnames.append(_extname(values))
        data = _data_bytes(values)
        if data is None:
            return None
        offset += len(raw) + -(-data // BLOCK) * BLOCK
    return (primary, extnames) if primary is not None and offset == size else None


def _read_header(fd: int, offset: int) -> tuple[bytes, list] | None:
    """The raw header at ``offset`` (whole blocks through the ``END`` card) and its cards
    (:class:`CardError` for a card the fast parser leaves to fitsio)."""
    raw = b""
    for _ in range(_MAX_HEADER_BLOCKS):
        block = os.pread(fd, BLOCK, offset + len(raw))
        if len(block) < BLOCK:
            return None
        raw += block
        if any(block[start:start + CARD] == _END_CARD for start in range(0, BLOCK, CARD)):
            return raw, parse_header(raw)
    return None


def _outline_by_cfitsio(path: str) -> tuple[dict, list] | None:
    """The outline of a file with a header the fast parser leaves to fitsio, through
    :class:`~cutout_cli.fits.local.LocalSource` (which checks the file complete as it opens it)."""
    from .local import LocalSource

    try:
        source = LocalSource(path)
    except CutoutError:
        return None
    try:
        headers = [source.raw_header(index) for index in range(source.hdu_count)]
    except (CutoutError, OSError, ValueError):
        return None
    finally:
        source.close()
    primary = {name: headers[0].get(name) for name in headers[0].names()}
    return primary, [_extname(header) for header in headers[1:]]


def _extname(values) -> str:
    return str(values.get("EXTNAME", "")).strip().upper()


def _data_bytes(values: dict) -> int | None:
    """Bytes of an HDU's data, without padding (FITS standard 4.4.1)."""
    try:
        bitpix, naxis = int(values["BITPIX"]), int(values["NAXIS"])
        if naxis == 0:
            return 0
        count = math.prod(int(values[f"NAXIS{k}"]) for k in range(1, naxis + 1))
        return abs(bitpix) // 8 * int(values.get("GCOUNT", 1)) * (int(values.get("PCOUNT", 0)) + count)
    except (KeyError, TypeError, ValueError):
        return None
