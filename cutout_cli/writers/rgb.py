"""Colour composites of two or three bands (Lupton et al. 2004, as implemented by astropy).

Conventions: the images are given bluest first (for ``--band g,r,i``:
g is blue, r green, i red; of two bands the green is their mean: :func:`compose`,
the one place of that rule); they must share one pixel grid (cutouts of one
box in one tract do).  The picture is north up, east left (array row 0 at
the bottom), NaN pixels black.  The asinh softening ``Q`` and the linear
``stretch`` default to values derived from the images: each band's sky level
(median) is subtracted, and ``stretch`` is 15 robust sky sigmas, so faint
galaxies show and bright nuclei keep their colour.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .png import save_picture

DEFAULT_Q = 8.0
SIGMAS = 15.0
COLOUR_BANDS = (2, 3)  # bands of a colour picture


def rgb_array(blue: np.ndarray, green: np.ndarray, red: np.ndarray, q: float = DEFAULT_Q,
              stretch: float | None = None) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB, north up."""
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
    rgb = make_lupton_rgb(*clean, minimum=0.0, stretch=stretch or SIGMAS * sigma, Q=q)
    return np.ascontiguousarray(rgb[::-1])


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
              stretch: float | None = None):
    """Write :func:`rgb_array` as a PNG, atomically (an existing file needs ``overwrite``)."""
    from PIL import Image

    picture = Image.fromarray(rgb_array(blue, green, red, q, stretch), "RGB")
    return save_picture(path, picture, overwrite=overwrite)


def write_colour(path, images, *, overwrite: bool = False):
    """Write the colour picture of two or three band images given bluest first (:func:`compose`)."""
    return write_rgb(path, *compose(images), overwrite=overwrite)
