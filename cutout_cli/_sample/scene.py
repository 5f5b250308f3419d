"""The synthetic scene's model: bands, options, targets, source profiles, PSF, random streams.

Conventions of the whole generator: positions are PARENT (tract) pixels, LSST
0-based (pixel centres are integers, the first pixel of the tract is (0, 0));
arrays are indexed ``[y, x]`` with row 0 at PARENT ``y = outer.begin_y`` of the
patch.  Fluxes are in nJy (AB magnitude ``m = 31.4 - 2.5 log10(f / nJy)``).
Angles of galaxy shapes are measured in the pixel frame from +x towards +y.
Profile and PSF widths are sigmas (half-light radii for the profiles' scale),
in pixels unless a name says ``arcsec``.

Determinism: every random draw comes from :func:`random_stream` over a tuple of
keys.  The field catalogue of each patch-sized sky cell depends only on
``(seed, tract, cell)``, so neighbouring patches show the same sources in their
overlap and every band shows the same sources; a target's galaxy depends only on
``(seed, target id)``; the noise depends on ``(seed, tract, patch, band)``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..errors import InputError

AB_ZEROPOINT_NJY = 31.4  # m_AB of 1 nJy

#: Mask plane bits written as ``MP_<NAME>`` (the usual afw coadd set).
MASK_PLANES = {
    "BAD": 0,
    "SAT": 1,
    "INTRP": 2,
    "CR": 3,
    "EDGE": 4,
    "DETECTED": 5,
    "DETECTED_NEGATIVE": 6,
    "SUSPECT": 7,
    "NO_DATA": 8,
    "CLIPPED": 9,
    "CROSSTALK": 10,
    "INEXACT_PSF": 11,
    "REJECTED": 12,
    "SENSOR_EDGE": 13,
}


@dataclass(frozen=True)
class BandModel:
    """Per-band observing conditions of the synthetic coadd.

    ``position`` is the band's place in wavelength (r = 0, one step per band)
    used by the colour model; ``sky_sigma`` the sky noise per pixel (nJy);
    ``sky_level`` the (subtracted) sky per pixel (nJy) that sets the Poisson
    term ``variance += model * sky_sigma**2 / sky_level``; ``psf_scale``
    multiplies the PSF FWHM (seeing improves with wavelength).
    """

    position: int
    sky_sigma: float
    sky_level: float
    psf_scale: float


BANDS = {
    "u": BandModel(-2, 30.0, 120.0, 1.12),
    "g": BandModel(-1, 20.0, 300.0, 1.06),
    "r": BandModel(0, 25.0, 600.0, 1.00),
    "i": BandModel(1, 32.0, 1000.0, 0.96),
    "z": BandModel(2, 45.0, 1800.0, 0.93),
    "y": BandModel(3, 70.0, 2600.0, 0.92),
}


@dataclass(frozen=True, kw_only=True)
class SceneOptions:
    """Knobs of the synthetic scene (densities per square degree, fluxes in nJy); keyword-only.

    ``psf_fwhm_arcsec`` is the FWHM of the whole PSF in r (scaled per band by
    :attr:`BandModel.psf_scale`).  Galaxy and star magnitudes (r band) are drawn
    from ``dN/dm ~ 10**(slope * m)`` between the given limits; bright stars are
    an extra population meant to saturate.  ``target_nucleus_peak`` is the range
    of the targets' nucleus peak pixel value in r.  ``sky_variation`` is the
    peak-to-peak relative variation of the sky variance across the tract,
    ``variance_jitter`` the relative pixel-to-pixel scatter of the variance plane.
    """

    psf_fwhm_arcsec: float = 0.7
    galaxy_density: float = 100000.0
    galaxy_mags: tuple[float, float] = (18.0, 26.5)
    galaxy_slope: float = 0.25
    star_density: float = 4000.0
    star_mags: tuple[float, float] = (16.0, 25.0)
    star_slope: float = 0.15
    bright_star_density: float = 60.0
    bright_star_mags: tuple[float, float] = (12.5, 15.0)
    saturation: float = 150000.0
    detect_threshold: float = 5.0
    target_nucleus_peak: tuple[float, float] = (1.0e4, 6.0e4)
    sky_variation: float = 0.08
    variance_jitter: float = 0.005


class Target(NamedTuple):
    """A target position: ``id`` (string), ``ra`` and ``dec`` in degrees."""

    id: str
    ra: float
    dec: float


def as_targets(targets) -> list[Target]:
    """Targets given as :class:`Target` or ``(id, ra, dec)`` rows (or None) as a list of Target."""
    return [Target(str(t[0]), float(t[1]), float(t[2])) for t in (targets or [])]


# --- profiles ---------------------------------------------------------------
# Circular Gaussian mixtures (flux fraction, sigma in units of the half-light
# radius) fitted here by least squares to Sersic n=1 (exponential) and n=4
# (de Vaucouleurs) profiles over 0.001..5 and 0.001..8 half-light radii; the
# surface brightness is within 3% of the profile between 0.05 and 4 radii.
_EXPONENTIAL = np.array([
    (0.00578, 0.11951), (0.03490, 0.25213), (0.12904, 0.44437),
    (0.30446, 0.71799), (0.38083, 1.10577), (0.14435, 1.67766),
])
_DE_VAUCOULEURS = np.array([
    (0.01284, 0.02243), (0.03620, 0.06076), (0.07457, 0.13470), (0.12337, 0.27204),
    (0.16925, 0.52262), (0.19440, 0.98118), (0.19079, 1.86538), (0.16360, 4.07347),
])
STAR, EXPONENTIAL, DE_VAUCOULEURS = 0, 1, 2
_PROFILE_WIDTH = 8  # components per source before PSF convolution (padded)


def profile_table() -> tuple[np.ndarray, np.ndarray]:
    """(weights, sigmas) of shape (3, 8) indexed by source kind; a star is a delta.

    Weights sum to 1 per kind; sigmas are in units of the half-light radius.
    """
    weights = np.zeros((3, _PROFILE_WIDTH))
    sigmas = np.zeros((3, _PROFILE_WIDTH))
    weights[STAR, 0] = 1.0
    for kind, mixture in ((EXPONENTIAL, _EXPONENTIAL), (DE_VAUCOULEURS, _DE_VAUCOULEURS)):
        weights[kind, : len(mixture)] = mixture[:, 0] / mixture[:, 0].sum()
        sigmas[kind, : len(mixture)] = mixture[:, 1]
    return weights, sigmas


# PSF: a core Gaussian plus two wider ones that give bright stars a halo.
_PSF_WEIGHTS = np.array([0.90, 0.09, 0.01])
_PSF_WIDTHS = np.array([1.0, 2.0, 6.0])  # sigma in units of the core sigma


@lru_cache(maxsize=1)
def _psf_fwhm_per_core_sigma() -> float:
    """FWHM of the PSF mixture whose core sigma is 1 (solved by bisection)."""

    def profile(r):
        return float(np.sum(_PSF_WEIGHTS / _PSF_WIDTHS**2 * np.exp(-0.5 * (r / _PSF_WIDTHS) ** 2)))

    half, lo, hi = 0.5 * profile(0.0), 0.0, 10.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if profile(mid) > half else (lo, mid)
    return 2.0 * lo


def psf_mixture(fwhm_arcsec: float, pixel_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """PSF as (weights, variances in pixels**2), pixel response included.

    ``pixel_scale`` is in arcsec per pixel.  The returned variances add
    1/12 px**2 (a pixel's box response, to a good approximation) so that a
    Gaussian sampled at pixel centres integrates to its flux.
    """
    core_sigma = fwhm_arcsec / pixel_scale / _psf_fwhm_per_core_sigma()
    return _PSF_WEIGHTS.copy(), (_PSF_WIDTHS * core_sigma) ** 2 + 1.0 / 12.0


def psf_peak_fraction(fwhm_arcsec: float, pixel_scale: float) -> float:
    """Fraction of a point source's flux in its peak pixel, the source centred on a pixel centre."""
    weights, variances = psf_mixture(fwhm_arcsec, pixel_scale)
    return float(np.sum(weights / (2 * np.pi * variances)))


# --- random streams ---------------------------------------------------------
def _key(value) -> int:
    """Map a seed component (int or str) to a non-negative integer."""
    if isinstance(value, str):
        return zlib.crc32(value.encode())
    value = int(value)
    return 2 * value if value >= 0 else -2 * value - 1


def random_stream(*keys) -> np.random.Generator:
    """An independent, reproducible generator for a tuple of keys (ints or strings)."""
    return np.random.default_rng(np.random.SeedSequence([_key(k) for k in keys]))


def band_model(band: str) -> BandModel:
    """The :class:`BandModel` of ``band``; :class:`InputError` for a band not in :data:`BANDS`."""
    try:
        return BANDS[band]
    except KeyError:
        raise InputError(f"unknown band {band!r} for sample data", f"known bands: {', '.join(BANDS)}") from None
