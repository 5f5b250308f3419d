"""A FITS TAN-SIP WCS fitted to an exact sky projection over one cutout's pixels.

When a file's projection has no FITS form (or its header holds only an
approximation), a cutout still needs a standard WCS that every FITS tool
reads.  Over a cutout's footprint a smooth projection is very close to a
gnomonic projection plus a polynomial distortion, which is what SIP
describes, so :func:`fit_tan_sip` fits one by linear least squares:

1. the tangent point is the exact sky position of the cutout's centre
   (``CRPIX`` there, ``CRVAL`` its RA/Dec), so the fit has no constant term;
2. the exact positions on a grid spanning the cutout's outer pixel edges are
   projected gnomonically about that point (intermediate coordinates
   ``(xi, eta)`` in degrees, FITS paper II);
3. ``(xi, eta)`` are fitted by polynomials in the pixel offsets ``(u, v)``
   from ``CRPIX`` of total degree 1..N; the linear terms are the ``CD``
   matrix and the others, mapped back through ``CD``'s inverse, SIP's ``A``
   and ``B`` (``(xi, eta) = CD (u + A(u, v), v + B(u, v))``); the inverse
   polynomials ``AP``/``BP`` are fitted the same way;
4. the smallest order (up to 12) whose largest error is at most ``target_mas``
   wins, else the best (order 1 is a plain TAN); the error is measured by
   astropy's own reading of the written cards against the exact projection,
   at the pixel centres of a 33 x 33 grid while choosing, then of a grid of
   up to 100 x 100 (every pixel of a smaller cutout, corners included) for
   the error recorded.

Conventions: boxes are PARENT pixels; the WCS is the cutout array's (FITS
``CRPIX`` 1-based, astropy ``origin=0`` at the first cutout pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .box import Box

__all__ = ["FittedWcs", "fit_tan_sip", "separation_mas"]

#: The largest error a fitted WCS may have to be used without a warning (mas).
MAX_ERROR_MAS = 1.0


@dataclass(frozen=True)
class FittedWcs:
    """A fitted WCS: its FITS ``cards`` (``{name: (value, comment)}``), SIP ``order`` (1: plain TAN) and
    the largest error found over the cutout, ``max_error_mas``."""

    cards: dict
    order: int
    max_error_mas: float


def separation_mas(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Angular distance in milliarcseconds between positions in degrees (Vincenty's formula)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, dtype=float)) for v in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    num = np.hypot(np.cos(dec2) * np.sin(dra), np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(dra))
    den = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(dra)
    return np.degrees(np.arctan2(num, den)) * 3.6e6


def fit_tan_sip(pixel_to_sky, box: Box, *, target_mas: float = 0.1, max_order: int = 12) -> FittedWcs:
    """The TAN-SIP WCS of the cutout array of PARENT ``box`` closest to ``pixel_to_sky`` (a function of
    PARENT ``x, y`` arrays returning ICRS degrees), of the lowest order within ``target_mas``."""
    centre = ((box.width - 1) / 2.0, (box.height - 1) / 2.0)  # LOCAL pixel of the tangent point
    ra0, dec0 = (float(v) for v in pixel_to_sky(box.begin_x + centre[0], box.begin_y + centre[1]))
    u, v = _grid(box.width, 24, edges=True), _grid(box.height, 24, edges=True)
    u, v = (a.ravel() for a in np.meshgrid(u - centre[0], v - centre[1]))
    xi, eta = _gnomonic(*pixel_to_sky(box.begin_x + centre[0] + u, box.begin_y + centre[1] + v), ra0, dec0)
    checks = [_check_points(pixel_to_sky, box, most) for most in (33, 100)]  # a quick one, then the final
    if not all(np.isfinite(a).all() for a in (xi, eta, *checks[0][2:], *checks[1][2:])):
        raise DataError(f"the exact projection gives no sky position for part of the box {box}",
                        "cut a box inside the projection's valid region")
    scale = max(box.width, box.height, 2) / 2.0
    best = None
    for order in range(1, max_order + 1):
        cards = _cards(order, u, v, xi, eta, scale, centre, (ra0, dec0))
        error = _max_error(cards, *checks[0])
        if best is None or error < best[2]:
            best = (cards, order, error)
        if error <= target_mas:
            break
    cards, order, _ = best
    best = FittedWcs(cards, order, _max_error(cards, *checks[1]))
    return best


def _check_points(pixel_to_sky, box: Box, most: int):
    """LOCAL pixel centres of a grid over the cutout (every pixel up to ``most`` per axis) and their
    exact sky positions."""
    x, y = (a.ravel() for a in np.meshgrid(_grid(box.width, most), _grid(box.height, most)))
    return (x, y, *pixel_to_sky(box.begin_x + x, box.begin_y + y))


def _grid(n: int, most: int, edges: bool = False) -> np.ndarray:
    """LOCAL coordinates along an axis of ``n`` pixels: every pixel centre when there are at most ``most``,
    else ``most`` evenly spaced; with ``edges``, from the outer pixel edges (-0.5, n - 0.5) instead."""
    if edges:
        return np.linspace(-0.5, n - 0.5, min(n + 1, most) if n > 1 else 3)
    return np.arange(n, dtype=float) if n <= most else np.linspace(0.0, n - 1.0, most)


def _gnomonic(ra, dec, ra0: float, dec0: float):
    """Intermediate world coordinates (degrees) of the gnomonic projection about ``(ra0, dec0)``."""
    ra, dec = np.radians(np.asarray(ra, dtype=float)), np.radians(np.asarray(dec, dtype=float))
    a0, d0 = np.radians(ra0), np.radians(dec0)
    cos_c = np.sin(d0) * np.sin(dec) + np.cos(d0) * np.cos(dec) * np.cos(ra - a0)
    xi = np.cos(dec) * np.sin(ra - a0) / cos_c
    eta = (np.cos(d0) * np.sin(dec) - np.sin(d0) * np.cos(dec) * np.cos(ra - a0)) / cos_c
    return np.degrees(xi), np.degrees(eta)


def _terms(order: int, first: int = 1):
    return [(p, t - p) for t in range(first, order + 1) for p in range(t, -1, -1)]


def _solve(order: int, u, v, targets, scale: float) -> dict:
    """``{(p, q): coefficients}`` of polynomials of degree 1..order in ``(u, v)`` fitting each target."""
    terms = _terms(order)
    design = np.column_stack([(u / scale) ** p * (v / scale) ** q for p, q in terms])
    try:
        solution, *_ = np.linalg.lstsq(design, np.column_stack(targets), rcond=None)
    except np.linalg.LinAlgError as err:
        raise DataError(f"cannot fit a FITS WCS to the exact projection: {err}") from None
    return {(p, q): solution[i] / scale ** (p + q) for i, (p, q) in enumerate(terms)}


def _cards(order: int, u, v, xi, eta, scale: float, centre, crval) -> dict:
    forward = _solve(order, u, v, (xi, eta), scale)
    cd = np.array([[forward[(1, 0)][0], forward[(0, 1)][0]], [forward[(1, 0)][1], forward[(0, 1)][1]]])
    inverse_cd = np.linalg.inv(cd)
    sip = order > 1
    cards = {
        "WCSAXES": (2, ""), "CTYPE1": ("RA---TAN-SIP" if sip else "RA---TAN", ""),
        "CTYPE2": ("DEC--TAN-SIP" if sip else "DEC--TAN", ""),
        "CRPIX1": (centre[0] + 1.0, ""), "CRPIX2": (centre[1] + 1.0, ""),
        "CRVAL1": (crval[0], ""), "CRVAL2": (crval[1], ""), "CUNIT1": ("deg", ""), "CUNIT2": ("deg", ""),
        "CD1_1": (cd[0, 0], ""), "CD1_2": (cd[0, 1], ""), "CD2_1": (cd[1, 0], ""), "CD2_2": (cd[1, 1], ""),
        "RADESYS": ("ICRS", ""),
    }
    if sip:
        cards.update({"A_ORDER": (order, ""), "B_ORDER": (order, "")})
        for (p, q), (a, b) in forward.items():
            if p + q >= 2:
                sip_a, sip_b = inverse_cd @ np.array([a, b])
                cards[f"A_{p}_{q}"], cards[f"B_{p}_{q}"] = (float(sip_a), ""), (float(sip_b), "")
        # the inverse: pixel offsets from the intermediate pixel coordinates U = CD^-1 (xi, eta)
        big_u, big_v = inverse_cd @ np.vstack([xi, eta])
        back = _solve(order, big_u, big_v, (u - big_u, v - big_v), scale)
        cards.update({"AP_ORDER": (order, ""), "BP_ORDER": (order, "")})
        for (p, q), (a, b) in back.items():
            cards[f"AP_{p}_{q}"], cards[f"BP_{p}_{q}"] = (float(a), ""), (float(b), "")
    return {name: (float(value) if isinstance(value, np.floating) else value, comment)
            for name, (value, comment) in cards.items()}


def _max_error(cards: dict, x, y, ra, dec) -> float:
    """The largest distance (mas) between astropy's reading of ``cards`` at LOCAL pixels and the truth."""
    import warnings

    from astropy.io.fits import Header
    from astropy.wcs import WCS

    header = Header()
    for name, (value, comment) in cards.items():
        header[name] = (value, comment)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted_ra, fitted_dec = WCS(header).all_pix2world(x, y, 0)
    error = separation_mas(fitted_ra, fitted_dec, ra, dec)
    return float(error.max()) if np.isfinite(error).all() else math.inf  # a fit that fails somewhere loses
