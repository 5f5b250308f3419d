"""Grey-scale PNG renderings of cutout images.

Conventions shared by every function here:

* **North up, east left.**  Input arrays are indexed ``[y, x]`` like
  FITS/numpy, with array row 0 at FITS ``y = 0``.  Given the cutout's
  celestial ``wcs`` (astropy, pixel origin 0 at the array's first pixel), the
  picture is turned by :func:`cutout_cli.writers.orientation.orientation_from_wcs`:
  flips and quarter turns move pixels exactly, a remaining rotation (over
  half a pixel at the corners) rotates the rendered 8-bit picture (Pillow,
  bicubic, the new corners black).  Without a WCS the array is drawn plainly:
  row 0 at the bottom, column 0 at the left (north up, east left for a
  standard WCS, ``CD1_1 < 0``).  What was done is in the PNG's
  ``orientation`` text chunk.
* **8-bit grey.**  Pixel values are mapped to 0..255: values at or below the
  lower limit become 0 (black), values at or above the upper limit 255
  (white), and the stretch shapes the curve in between.
* **Non-finite pixels** (NaN, +/-inf, and masked entries of a masked array)
  are ignored when computing limits and are drawn black.

Files are written atomically (:mod:`cutout_cli.writers.atomic`): to a hidden
``.<name>.*.tmp`` file in the target directory, then renamed over the target,
so a reader never sees a half-written PNG and a failure leaves nothing behind.

numpy is imported eagerly; Pillow and astropy.visualization only when an
image is rendered, to keep ``import cutout_cli`` (and ``cutout --help``) fast.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from .atomic import write_atomically
from .orientation import Orientation, orientation_from_wcs

if TYPE_CHECKING:
    from PIL import Image

STRETCHES = ("asinh", "linear", "sqrt", "log")
ASINH_A = 0.1
# Default limits ("sky"): black at the sky level minus SKY_SIGMAS_BELOW robust noise sigmas, white at
# the SKY_TOP_PERCENT percentile of the pixels; asinh softening SKY_SOFTENING_SIGMAS noise sigmas.
SKY_SIGMAS_BELOW = 2.0
SKY_TOP_PERCENT = 99.9
SKY_SOFTENING_SIGMAS = 3.0
DEFAULT_LIMITS = "sky"
# Grey level of finite pixels when the limits collapse (constant image).
FLAT_GREY = 128
# PNG text chunks written from a picture's ``info`` (what was done to orient it).
TEXT_KEYS = ("orientation", "stretch", "request")

Limits = str | tuple[float, float]


def stretch_to_uint8(
    image: np.ndarray, stretch: str = "asinh", limits: Limits = DEFAULT_LIMITS, *, softening: float | None = None
) -> np.ndarray:
    """Map an image to 8-bit grey levels.

    Parameters
    ----------
    image : array_like
        Pixel values of any shape (a masked array's masked entries count as
        NaN).  The array is not flipped here: see :func:`to_pil`.
    stretch : {"asinh", "linear", "sqrt", "log"}
        Curve applied after normalising ``[vmin, vmax]`` to ``[0, 1]``
        (astropy ``AsinhStretch(a)``, ``LinearStretch``, ``SqrtStretch``,
        ``LogStretch``).
    limits : str or (float, float)
        How ``vmin`` and ``vmax`` are chosen, from the finite pixels only:

        * ``"sky"`` (default, a survey-thumbnail look: dark sky, cores with
          structure): ``vmin`` = sky level (median) minus 2 robust noise
          sigmas (1.4826 x MAD), ``vmax`` = the 99.9th percentile;
        * ``"zscale"``: IRAF zscale (astropy ``ZScaleInterval``), which
          brackets the sky background and saturates bright sources;
        * ``"minmax"``: the smallest and largest finite values;
        * ``"P%"`` (e.g. ``"99.5%"``): the central P percent of the pixels
          (astropy ``PercentileInterval(P)``);
        * ``"LO,HI%"`` (e.g. ``"1,99.8%"``): the LO-th and HI-th percentiles;
        * ``(vmin, vmax)``: explicit values in image units, ``vmin < vmax``.
    softening : float, optional
        The asinh ``a`` (fraction of ``[vmin, vmax]`` where the curve turns
        from linear to logarithmic; smaller: fainter features brighter).
        Default: 3 noise sigmas with ``"sky"`` limits, else 0.1.

    Returns a uint8 array of ``image``'s shape: 0 at or below ``vmin``, 255 at
    or above ``vmax``, non-finite pixels 0, finite ones mid-grey (128) when
    the limits collapse (a constant image).  InputError for an unknown
    ``stretch`` or malformed ``limits``.
    """
    _check_stretch(stretch)
    limits = _parse_limits(limits)
    values = np.ma.filled(np.ma.asarray(image, dtype=np.float64), np.nan)
    finite = np.isfinite(values)
    out = np.zeros(values.shape, dtype=np.uint8)
    if not finite.any():
        return out

    # Constant or near-empty inputs make astropy and numpy divide by zero or
    # take the mean of nothing; those warnings mean nothing to a user.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        vmin, vmax, noise = _compute_limits(values, finite, limits)
        if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax > vmin):
            out[finite] = FLAT_GREY
            return out
        scaled = np.clip((values[finite] - vmin) / (vmax - vmin), 0.0, 1.0)
        curve = _make_stretch(stretch, _softening(softening, noise, vmax - vmin))(scaled, clip=True)
    out[finite] = np.rint(curve * 255.0).astype(np.uint8)
    return out


def to_pil(
    image: np.ndarray, stretch: str = "asinh", limits: Limits = DEFAULT_LIMITS, *, wcs=None,
    softening: float | None = None,
) -> Image.Image:
    """Render a 2-D image as a north-up, east-left 8-bit grey PIL image (mode ``"L"``).

    ``wcs`` is the image's celestial WCS (pixel origin 0 at ``image[0, 0]``):
    the picture is turned to put north up and east left (see the module
    notes); without it, array row 0 (FITS ``y = 0``) becomes the bottom row of
    the picture and column 0 its left edge.  ``picture.info["orientation"]``
    says what was done, ``picture.info["stretch"]`` the stretch (both are text chunks of the PNG
    file, so a batch rerun knows how it was drawn).  ``stretch`` and ``limits`` are as in
    :func:`stretch_to_uint8` (the limits come from the image's pixels only,
    not from a rotation's black corners).

    Raises
    ------
    cutout_cli.errors.InputError
        ``image`` is not 2-D or is empty, or bad ``stretch``/``limits``.
    """
    shape = np.shape(image)
    if len(shape) != 2 or 0 in shape:
        raise InputError(f"cannot render an image of shape {shape}", "expected a non-empty 2-D array")
    grey = stretch_to_uint8(image, stretch, limits, softening=softening)
    picture = oriented_picture(grey, orientation_from_wcs(wcs, shape))
    picture.info["stretch"] = stretch_text(stretch, limits, softening)
    return picture


def stretch_text(stretch: str = "asinh", limits: Limits = DEFAULT_LIMITS, softening: float | None = None) -> str:
    """What a picture's ``stretch`` text chunk records: the stretch alone with the default limits and
    softening (``"asinh"``), else e.g. ``"asinh limits=0,10 softening=0.02"`` (a batch rerun with other
    values redraws the picture)."""
    parts = [stretch]
    if limits != DEFAULT_LIMITS:
        shown = limits if isinstance(limits, str) else ",".join(f"{float(v):g}" for v in limits)
        parts.append(f"limits={shown}")
    if softening is not None:
        parts.append(f"softening={softening:g}")
    return " ".join(parts)


def oriented_picture(pixels: np.ndarray, orientation: Orientation) -> Image.Image:
    """The PIL picture of 8-bit ``pixels`` (``[y, x]`` grey or ``[y, x, 3]`` RGB, array order) turned
    by ``orientation``: its exact part, then its rotation (Pillow's bicubic ``rotate`` about the
    centre, enlarged to keep every pixel, new corners black).  ``info["orientation"]`` describes it."""
    from PIL import Image

    picture = Image.fromarray(orientation.exact(np.asarray(pixels, dtype=np.uint8)))
    if orientation.rotation:
        black = 0 if picture.mode == "L" else (0,) * len(picture.getbands())
        picture = picture.rotate(orientation.rotation, resample=Image.Resampling.BICUBIC, expand=True,
                                 fillcolor=black)
    picture.info["orientation"] = orientation.describe()
    return picture


def write_png(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    stretch: str = "asinh",
    limits: Limits = DEFAULT_LIMITS,
    overwrite: bool = False,
    wcs=None,
    request: str | None = None,
    softening: float | None = None,
) -> Path:
    """Write ``image`` as a north-up, east-left 8-bit grey PNG, atomically.

    See :func:`to_pil` for orientation (``wcs``) and :func:`stretch_to_uint8`
    for ``stretch`` and ``limits``.  The PNG's ``orientation`` text chunk says
    how the array was turned, its ``stretch`` chunk the stretch and its
    ``request`` chunk ``request`` (a batch records what the picture was cut for).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    cutout_cli.errors.OutputError
        ``path`` exists and ``overwrite`` is false, or it cannot be written
        (read-only directory, disk full).  No temporary file is left behind
        and an existing ``path`` is untouched.  A missing parent directory is
        created.
    """
    picture = to_pil(image, stretch, limits, wcs=wcs, softening=softening)
    if request is not None:
        picture.info["request"] = request
    return save_picture(path, picture, overwrite=overwrite)


def png_bytes(image: np.ndarray, stretch: str = "asinh", limits: Limits = DEFAULT_LIMITS, *, wcs=None) -> bytes:
    """The PNG file :func:`write_png` would write, as bytes (for ``_repr_png_``)."""
    return png_data(to_pil(image, stretch, limits, wcs=wcs))


# -- options ---------------------------------------------------------------


def _check_stretch(stretch: str) -> None:
    if stretch not in STRETCHES:
        raise InputError(f"unknown stretch {stretch!r}", f"choose one of {', '.join(STRETCHES)}")


def _parse_limits(limits: Limits) -> str | float | tuple:
    """Normalise ``limits`` to "sky", "zscale", "minmax", a percentile, ("%", lo, hi) or (vmin, vmax)."""
    hint = 'use "sky", "zscale", "minmax", a percentile such as "99.5%" or "1,99.8%", or (vmin, vmax)'
    if isinstance(limits, str):
        text = limits.strip().lower()
        if text in ("sky", "zscale", "minmax"):
            return text
        if text.endswith("%"):
            try:
                percents = [float(v) for v in text[:-1].split(",")]
            except ValueError:
                percents = [math.nan]
            if len(percents) == 1 and 0.0 < percents[0] <= 100.0:
                return percents[0]
            if len(percents) == 2 and 0.0 <= percents[0] < percents[1] <= 100.0:
                return ("%", *percents)
        raise InputError(f"bad limits {limits!r}", hint)
    try:
        vmin, vmax = (float(v) for v in limits)
    except (TypeError, ValueError):
        raise InputError(f"bad limits {limits!r}", hint) from None
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmin < vmax):
        raise InputError(f"bad limits {limits!r}", "explicit limits need finite vmin < vmax")
    return vmin, vmax


def _compute_limits(values: np.ndarray, finite: np.ndarray, limits) -> tuple[float, float, float | None]:
    """(vmin, vmax, noise sigma or None) from the finite pixels."""
    if isinstance(limits, tuple) and limits[0] != "%":
        return (*limits, None)
    sample = values if finite.all() else values[finite]  # no copy in the common all-finite case
    if limits == "sky":
        return sky_limits(sample)
    if isinstance(limits, tuple):
        low, high = np.percentile(sample, limits[1:])
        return float(low), float(high), None
    from astropy import visualization as vis

    if limits == "zscale":
        interval = vis.ZScaleInterval()
    elif limits == "minmax":
        interval = vis.MinMaxInterval()
    else:
        interval = vis.PercentileInterval(limits)
    vmin, vmax = interval.get_limits(sample)
    return float(vmin), float(vmax), None


def sky_limits(sample: np.ndarray) -> tuple[float, float, float]:
    """The ``"sky"`` limits of finite pixel values: (sky - 2 sigma, 99.9th percentile, sigma), the sky
    the median and sigma 1.4826 x the median absolute deviation (robust against the sources)."""
    sky = float(np.median(sample))
    noise = 1.4826 * float(np.median(np.abs(sample - sky)))
    top = float(np.percentile(sample, SKY_TOP_PERCENT))
    return sky - SKY_SIGMAS_BELOW * noise, max(top, sky + SKY_SIGMAS_BELOW * noise), noise


def shared_scale(images, limits: Limits = DEFAULT_LIMITS, softening: float | None = None) -> tuple[Limits, float | None]:
    """One scale for several images (a grid's panels): explicit ``(vmin, vmax)`` and the softening
    computed from all their finite pixels together, so the same value gets the same grey in each;
    ``(limits, softening)`` unchanged when no image has a finite pixel or the limits collapse."""
    parsed = _parse_limits(limits)
    values = np.concatenate([np.ma.filled(np.ma.asarray(i, dtype=np.float64), np.nan).ravel() for i in images] or [[]])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return limits, softening
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        vmin, vmax, noise = _compute_limits(values, np.ones(1, bool), parsed)
    if not (math.isfinite(vmin) and math.isfinite(vmax) and vmax > vmin):
        return limits, softening
    return (vmin, vmax), _softening(softening, noise, vmax - vmin)


def _softening(softening: float | None, noise: float | None, span: float) -> float:
    """The asinh ``a``: as given, else 3 noise sigmas as a fraction of ``span``, else 0.1."""
    if softening is not None:
        return softening
    if noise and span > 0:
        return float(np.clip(SKY_SOFTENING_SIGMAS * noise / span, 1e-4, 1.0))
    return ASINH_A


def check_picture_scale(stretch: str = "asinh", limits: Limits = DEFAULT_LIMITS,
                        softening: float | None = None) -> None:
    """InputError for an unknown ``stretch``, malformed ``limits`` or a bad ``softening`` (before any work)."""
    _check_stretch(stretch)
    _parse_limits(limits)
    check_softening(softening)


def check_softening(softening: float | None) -> None:
    """InputError unless ``softening`` is None or in (0, 1]."""
    if softening is not None and not (math.isfinite(softening) and 0.0 < softening <= 1.0):
        raise InputError(f"bad asinh softening {softening!r}", "give a number in (0, 1], e.g. 0.02")


def _make_stretch(stretch: str, softening: float = ASINH_A):
    from astropy import visualization as vis

    if stretch == "asinh":
        return vis.AsinhStretch(a=softening)
    if stretch == "sqrt":
        return vis.SqrtStretch()
    if stretch == "log":
        return vis.LogStretch()
    return vis.LinearStretch()


# -- atomic output (shared with grid.py and rgb.py) -----------------------------


def png_data(picture: Image.Image) -> bytes:
    """``picture`` encoded as PNG, with a text chunk for each of :data:`TEXT_KEYS` in its ``info``."""
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    for key in TEXT_KEYS:
        if isinstance(picture.info.get(key), str):
            text.add_text(key, picture.info[key])
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", pnginfo=text)
    return buffer.getvalue()


def save_picture(path: str | os.PathLike[str], picture: Image.Image, *, overwrite: bool = False) -> Path:
    """Save the PIL image ``picture`` at ``path`` in the format its name asks for
    (:func:`~.picture_file.picture_bytes`: PNG, JPEG; ``-`` writes it to standard output) with
    :func:`~.atomic.write_atomically` (the name appears only once the file is complete; an existing
    ``path`` is refused without ``overwrite``)."""
    from .outputs import is_stdout, write_stdout
    from .picture_file import picture_bytes

    data = picture_bytes(path, picture, png_data)
    if is_stdout(path):
        write_stdout([data])
    else:
        write_atomically(path, [data], overwrite)
    return Path(path)
