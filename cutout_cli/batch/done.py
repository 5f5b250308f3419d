"""When a target's outputs are done, so that a batch rerun skips it.

A target is done when every output the current options ask for exists, is
complete and records the request being made:

* its FITS cutout is whole (every HDU's header ends with ``END`` and the file
  holds exactly the data its headers declare, padding included: a file cut
  short anywhere is incomplete) and its primary header records the same
  request: target id, position (``REQRA``/``REQDEC``), size (``REQSIZE``),
  mode (``CUTMODE``), the planes asked for (``REQPLANE``; ``CUTPLANE``, the
  planes written, must all be there) and the layout (afw's, or lsst.images' with its ``FMTVER`` card);
* with a PNG asked for, the PNG is whole (it ends with its ``IEND`` chunk),
  its ``stretch`` text chunk names the stretch asked for and its ``request``
  chunk the target's request (:attr:`Wanted.text`: a picture of an earlier
  request, left by a run killed between its FITS and its PNG, is redrawn).

A rerun cuts a target that is not done and writes only its outputs that are
not: a missing or incomplete file is written, one that records another
request is replaced (:attr:`Found.reason` says why), a complete matching one
is never touched.  Checking costs a few reads of the headers
(:func:`cutout_cli.fits.outline.fits_outline`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..fits.outline import fits_outline

__all__ = ["Found", "Wanted", "check_outputs", "png_is_whole", "png_text"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"

MISSING, INCOMPLETE, DONE = "missing", "incomplete", "done"


@dataclass(frozen=True)
class Wanted:
    """What the current run asks of one target's outputs (``stretch`` None: no PNG).  The band is in
    the file name, so only the PNG's record holds it (a file's ``BAND`` may be the image's own where
    the request matched any band)."""

    id: str
    ra: float
    dec: float
    size: str
    band: str
    planes: tuple
    mode: str
    output_format: str = "afw"
    stretch: str | None = None

    @property
    def text(self) -> str:
        """The request as a PNG records it (``request`` text chunk)."""
        return (f"id={self.id} ra={self.ra!r} dec={self.dec!r} size={self.size} band={self.band} "
                f"mode={self.mode} planes={','.join(self.planes).lower()}")


@dataclass(frozen=True)
class Found:
    """The state of one target's outputs: ``fits`` and ``png`` are ``"done"``, ``"missing"``,
    ``"incomplete"`` or the reason they differ from the request (``"size was 50px"``); ``png`` is
    ``"done"`` when no PNG is asked for."""

    fits: str
    png: str

    @property
    def done(self) -> bool:
        return self.fits == DONE and self.png == DONE

    @property
    def fits_done(self) -> bool:
        return self.fits == DONE

    @property
    def png_done(self) -> bool:
        return self.png == DONE

    @property
    def reason(self) -> str:
        """Why outputs that exist are written again ("" when none is)."""
        replaced = [f"{kind} {state}" for kind, state in (("FITS", self.fits), ("PNG", self.png))
                    if state not in (DONE, MISSING)]
        return "; ".join(replaced)


def check_outputs(fits_path: str, png_path: str, wanted: Wanted) -> Found:
    """The :class:`Found` state of one target's outputs against ``wanted``."""
    fits = _fits_state(fits_path, wanted)
    if wanted.stretch is None:
        return Found(fits, DONE)
    return Found(fits, _png_state(png_path, wanted))


def _fits_state(path: str, wanted: Wanted) -> str:
    outline = fits_outline(path)
    if outline is None:
        return MISSING if not os.path.lexists(path) else INCOMPLETE
    primary, extnames = outline
    held = primary.get("CUTPLANE")  # the planes written: fewer extensions is a file cut short
    if held is not None and set(_names(held)) != {n for n in extnames if n in ("IMAGE", "MASK", "VARIANCE")}:
        return INCOMPLETE
    differs = _differs(primary, wanted)
    return f"{differs[0]} was {differs[1]}" if differs else DONE


def _differs(primary: dict, wanted: Wanted) -> tuple | None:
    """``(option, recorded value)`` of the first way the file's request differs from ``wanted``."""
    recorded_format = "lsst-images" if "FMTVER" in primary else "afw"
    if recorded_format != wanted.output_format:
        return "output format", recorded_format
    requested = primary.get("REQPLANE")
    if requested is not None and set(_names(requested)) != set(wanted.planes):
        return "planes", requested.lower()
    for option, key, value in (("id", "TARGETID", wanted.id), ("size", "REQSIZE", wanted.size),
                               ("mode", "CUTMODE", wanted.mode)):
        if key in primary and str(primary[key]).strip() != str(value).strip():
            return option, primary[key]
    for option, key, value in (("ra", "REQRA", wanted.ra), ("dec", "REQDEC", wanted.dec)):
        if key in primary and not _same_angle(primary[key], value):
            return option, primary[key]
    return None


def _names(text) -> list:
    return [name.strip().upper() for name in str(text).split(",") if name.strip()]


def _same_angle(recorded, value: float) -> bool:
    try:
        return math.isclose(float(recorded), float(value), rel_tol=0, abs_tol=1e-9)
    except (TypeError, ValueError):
        return False


def _png_state(path: str, wanted: Wanted) -> str:
    if not os.path.lexists(path):
        return MISSING
    if not png_is_whole(path):
        return INCOMPLETE
    text = png_text(path)
    if text.get("stretch") != wanted.stretch:
        return f"stretch was {text.get('stretch') or 'not recorded'}"
    return DONE if text.get("request") == wanted.text else "drawn for another request"


def png_is_whole(path: str) -> bool:
    """The file starts with the PNG signature and ends with the ``IEND`` chunk."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_PNG_SIGNATURE))
            if handle.seek(0, os.SEEK_END) < len(_PNG_SIGNATURE) + len(_PNG_END):
                return False
            handle.seek(-len(_PNG_END), os.SEEK_END)
            return head == _PNG_SIGNATURE and handle.read() == _PNG_END
    except OSError:
        return False


def png_text(path: str) -> dict:
    """The text chunks of a PNG (``{}`` when it cannot be read)."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return dict(picture.text)
    except (OSError, ValueError, SyntaxError):
        return {}
