"""Output names of several bands: the one rule of ``subset --band g,r,i`` and of ``batch``.

A path holding ``{band}`` has it replaced by the band; otherwise, when there
are several bands, ``_<band>`` is added before the extension (``a.fits`` ->
``a_g.fits``).  A batch always names its files ``<stem>_<band>.<ext>``.
"""

from __future__ import annotations

import os

__all__ = ["band_file", "per_band"]

BAND_FIELD = "{band}"


def band_file(stem: str, band: str, suffix: str = "") -> str:
    """``<stem>_<band><suffix>``: the name of one band's output (``suffix`` with its dot)."""
    return f"{stem}_{band}{suffix}"


def per_band(path: str | None, band: str | None, count: int) -> str | None:
    """The output path of one of ``count`` bands: ``{band}`` replaced, else ``_<band>`` before the
    extension when there are several bands (``None`` paths and bands give the path unchanged)."""
    if not path or band is None:
        return path
    path = os.fspath(path)
    if BAND_FIELD in path:
        return path.replace(BAND_FIELD, band)
    if count == 1:
        return path
    stem, dot, suffix = path.rpartition(".")
    return band_file(stem, band, f".{suffix}") if dot and "/" not in suffix else band_file(path, band)
