"""Colour composites of two or three bands (Lupton et al. 2004, as implemented by astropy).

Conventions: the images are given bluest first (for ``--band g,r,i``:
g is blue, r green, i red; of two bands the green is their mean: :func:`compose`,
the one place of that rule); they must share one pixel grid (cutouts of one
box in one tract do).  The picture is north up, east left, NaN pixels black:
given the bands' celestial ``wcs`` (pixel origin 0 at the arrays' first
pixel) it is turned as :func:`cutout_cli.writers.png.to_pil` turns grey
pictures (exact flips and quarter turns, a remaining rotation of the 8-bit
picture); without it, array row 0 is at the bottom.  The asinh softening ``Q`` and the linear
``stretch`` default to values derived from the images: each band's sky level
(median) is subtracted, and ``stretch`` is 15 robust sky sigmas, so faint
galaxies show and bright nuclei keep their colour.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .orientation import orientation_from_wcs
from .png import oriented_picture, save_picture

DEFAULT_Q = 8.0
SIGMAS = 15.0
COLOUR_BANDS = (2, 3)  # bands of a colour picture


def rgb_array(blue: np.ndarray, green: np.ndarray, red: np.ndarray, q: float = DEFAULT_Q,
              stretch: float | None = None, *, wcs=None) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB of :func:`rgb_picture`, north up, east left (row 0 at the top)."""
    return np.asarray(rgb_picture(blue, green, red, q, stretch, wcs=wcs))


def rgb_picture(blue: np.ndarray, green: np.ndarray, red: np.ndarray, q: float = DEFAULT_Q,
                stretch: float | None = None, *, wcs=None):
    """The colour picture as a PIL RGB image, north up, east left (turned from ``wcs`` as in the
    module notes; ``info["orientation"]`` says how)."""
    return oriented_picture(_lupton(blue, green, red, q, stretch), orientation_from_wcs(wcs, np.shape(blue)))


def _lupton(blue, green, red, q: float, stretch: float | None) -> np.ndarray:
    """``(height, width, 3)`` uint8 Lupton RGB in array order (row 0 at FITS ``y = 0``)."""
    from astropy.visualization import make_lupton_rgb

    images = [np.asarray(a, dtype=float) for a in (red, green, blue)]
    if len({a.shape for a in images}) != 1 or images[0].ndim != 2:
        raise InputError("the three bands of a colour picture must have the same 2-D shape",
                         f"got {', '.join(str(a.shape) for a in images)}")
    levels, sigmas = [], []
    for a in images:
        finite = a[np.isfinite(a)]
        level = float(np.median(finite)) if finite.size else 0.0
        levels.append(level)
        if finite.size:
            sigmas.append(1.4826 * float(np.median(np.abs(finite - level))))
    sigma = max(float(np.median(sigmas)) if sigmas else 0.0, 1e-12)
    clean = [np.where(np.isfinite(a), a - level, 0.0) for a, level in zip(images, levels)]
    with np.errstate(invalid="ignore", divide="ignore"):  # astropy divides by zero where the sky is black
        return make_lupton_rgb(*clean, minimum=0.0, stretch=stretch or SIGMAS * sigma, Q=q)


def check_colour_bands(count: int) -> None:
    """A colour picture is made of two or three bands: InputError naming the ``band`` option otherwise."""
    if count not in COLOUR_BANDS:
        raise InputError(f"a colour picture needs two or three bands, bluest first (got {count})", "e.g. {}",
                         options=[("band", "g,r,i")])


def compose(images) -> tuple:
    """The (blue, green, red) images of a colour picture of two or three bands given bluest first.

    Three bands are blue, green and red; of two, the green is their mean (the
    rule of ``--rgb`` and of ``batch --rgb`` alike).
    """
    images = list(images)
    check_colour_bands(len(images))
    if len(images) == 2:
        images.insert(1, (images[0] + images[1]) / 2)
    return tuple(images)


def write_rgb(path, blue, green, red, *, overwrite: bool = False, q: float = DEFAULT_Q,
              stretch: float | None = None, wcs=None):
    """Write :func:`rgb_picture` as a PNG, atomically (an existing file needs ``overwrite``); its
    ``orientation`` text chunk says how the arrays were turned."""
    return save_picture(path, rgb_picture(blue, green, red, q, stretch, wcs=wcs), overwrite=overwrite)


def write_colour(path, images, *, overwrite: bool = False, wcs=None):
    """Write the colour picture of two or three band images given bluest first (:func:`compose`),
    turned north up, east left from their shared ``wcs``."""
    return write_rgb(path, *compose(images), overwrite=overwrite, wcs=wcs)
