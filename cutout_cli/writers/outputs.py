"""What an output's name asks for: the file format of each output, chosen by its extension.

FITS outputs (``subset -o``, :meth:`~cutout_cli.cutouts.cutout.Cutout.writeto`):

======================================  ==============================================================
the name ends with                      written as
======================================  ==============================================================
``.fits`` ``.fit`` ``.fts`` (or none)   plain FITS; ``compress="gzip"`` or ``"rice"`` tile-compresses
                                        its planes (in place, like the coadds themselves)
``.fits.fz`` ``.fit.fz`` ``.fz``        tile-compressed planes (fpack's convention), ``"rice"`` by default
``.fits.gz`` ``.fit.gz`` ``.fts.gz``    the plain FITS file as one gzip stream: ``gunzip`` gives the
                                        ``.fits``; astropy, fitsio and ds9 read it as it is
``-``                                   the FITS file on standard output (binary)
anything else (``.txt``, ``.fits.bz2``)  refused: :class:`~cutout_cli.errors.InputError`
======================================  ==============================================================

Tile compression is lossless, whatever ``compress`` names: float planes (IMAGE, VARIANCE) are
GZIP_2 without quantization (every bit kept, NaN payloads and infinities included; RICE_1 of
floats would quantize them), integer planes (MASK) RICE_1 (``"rice"``) or GZIP_2 (``"gzip"``).
Square tiles of :data:`TILE` pixels, so that a cutout of a cutout decodes only the tiles it needs.

Pictures (``--png``, ``--rgb``, ``--grid``): ``.png`` (or no extension) PNG, ``.jpg``/``.jpeg``
JPEG (quality :data:`JPEG_QUALITY`), ``-`` standard output; anything else is refused.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ..errors import InputError, OutputError

__all__ = ["COMPRESSIONS", "FitsOutput", "STDOUT", "fits_output", "is_stdout", "picture_format", "write_stdout"]

#: The name of standard output.
STDOUT = "-"
#: ``compress`` values: ``None`` means "as the name says".
COMPRESSIONS = ("none", "gzip", "rice")
#: The side of the square tiles of a tile-compressed output (cut to the image's size).
TILE = 128
JPEG_QUALITY = 90

_PLAIN = (".fits", ".fit", ".fts")
_TILED = (".fits.fz", ".fit.fz", ".fts.fz", ".fz")
_GZIPPED = (".fits.gz", ".fit.gz", ".fts.gz")
_PICTURES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
FITS_NAMES = "name it .fits, .fits.fz (tile-compressed) or .fits.gz (gzip), or - for standard output"
PICTURE_NAMES = "name it .png, .jpg or .jpeg"


def is_stdout(path) -> bool:
    """Whether ``path`` names standard output (``-``)."""
    return path is not None and os.fspath(path) == STDOUT


def _extension(path) -> str:
    """The lower-case extension of a file name, ``""`` when it has none (dots of folders ignored)."""
    name = os.path.basename(os.fspath(path)).lower()
    stem, dot, suffix = name.rpartition(".")
    return f".{suffix}" if dot and stem else ""


@dataclass(frozen=True)
class FitsOutput:
    """How a FITS output is written: ``container`` is ``plain``, ``gzip`` (the whole file, one gzip
    stream) or ``tile`` (tile-compressed planes with ``scheme`` ``gzip`` or ``rice``)."""

    container: str
    scheme: str = "none"
    stdout: bool = False

    @staticmethod
    def codec(array, scheme: str) -> str:
        """The tile codec of a plane: GZIP_2 for floats (lossless), RICE_1 for int32 and smaller integers
        with ``scheme="rice"`` (cfitsio's RICE_1 takes no 64-bit integers)."""
        if scheme == "rice" and array.dtype.kind in "iu" and array.dtype.itemsize <= 4:
            return "RICE_1"
        return "GZIP_2"

    def describe(self, planes) -> str:
        """What was written, for the output record: ``none``, ``gzip`` or ``IMAGE GZIP_2, MASK RICE_1``."""
        if self.container != "tile":
            return "gzip" if self.container == "gzip" else "none"
        return ", ".join(f"{name} {self.codec(array, self.scheme)}" for name, array, _ in planes)


def fits_output(path, compress: str | None = None) -> FitsOutput:
    """How ``path`` is written (module table); ``compress`` (``none``, ``gzip``, ``rice``, or None for
    the name's default) must agree with the name.  InputError for a name or combination refused."""
    if compress is not None and compress not in COMPRESSIONS:
        raise InputError(f"unknown compression {compress!r}", f"choose one of {', '.join(COMPRESSIONS)}")
    name = os.fspath(path)
    lower = name.lower()
    if is_stdout(name) or lower.endswith(_PLAIN) or not _extension(name):
        scheme = compress or "none"
        return FitsOutput("plain" if scheme == "none" else "tile", scheme, stdout=is_stdout(name))
    if lower.endswith(_TILED):
        if compress == "none":
            raise InputError(f"{name} names a tile-compressed file (.fz) but compression is none",
                             "name it .fits for a plain file, or leave out {}", options=[("compress", None)])
        return FitsOutput("tile", compress or "rice")
    if lower.endswith(_GZIPPED):
        if compress not in (None, "gzip"):
            raise InputError(f"{name} names a gzip-compressed file: the whole file is one gzip stream, "
                             f"not {compress}", "name it .fits.fz for tile compression, or .fits for a plain file")
        return FitsOutput("gzip", "gzip")
    raise InputError(f"cannot tell which file to write from the name {name}", FITS_NAMES)


def picture_format(path) -> str:
    """``"PNG"`` or ``"JPEG"``: the picture format of ``path`` by its extension (``-`` and a name
    without one: PNG); InputError for another extension (``.tif``, ``.gif``)."""
    if is_stdout(path):
        return "PNG"
    suffix = _extension(path)
    if not suffix:
        return "PNG"
    if suffix not in _PICTURES:
        raise InputError(f"cannot write a {suffix} picture ({os.fspath(path)})", PICTURE_NAMES)
    return _PICTURES[suffix]


def write_stdout(chunks) -> None:
    """Write the byte strings ``chunks`` to standard output (binary), after any text already printed."""
    sys.stdout.flush()
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        raise OutputError("standard output takes no bytes here (no binary stream)", "give a file name")
    try:
        stream.writelines(chunks)
        stream.flush()
    except BrokenPipeError:
        raise OutputError("standard output was closed before the file was written") from None
