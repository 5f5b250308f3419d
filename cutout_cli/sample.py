"""Synthetic sample repository: deterministic, realistic-looking coadd files.

The generator writes one afw-layout coadd (REFERENCE.md section 3) per
(tract, patch, band) into a repository described by ``repo.json``.  Every
pixel is computed, nothing is real: use the files to try the tool, for tests
and for benchmarks.

What a file holds:

* IMAGE (float32, nJy): PSF-convolved sources plus Gaussian noise.  Sources are
  a field of stars and galaxies (power-law magnitude counts, random shapes and
  colours), a few bright saturated stars, and at every target position a host
  galaxy (de Vaucouleurs bulge + exponential disk) with a point-like nucleus.
* MASK (int32): ``SAT`` where a star's noiseless peak exceeds the saturation
  level (the image is clipped there), ``DETECTED`` where the PSF-smoothed
  noiseless model exceeds ``detect_threshold`` sigmas of the smoothed sky
  (see :func:`detection_mask`).  Bits follow :data:`MASK_PLANES`.
* VARIANCE (float32, nJy**2): slowly varying sky variance plus a Poisson-like
  term proportional to the source model, with a small pixel-to-pixel scatter as
  in real coadds; the image noise is drawn from exactly these values.

Conventions: positions are PARENT (tract) pixels, LSST 0-based (pixel centres
are integers, the first pixel of the tract is (0, 0)); arrays are indexed
``[y, x]`` with row 0 at PARENT ``y = outer.begin_y`` of the patch.  Fluxes are
in nJy (AB magnitude ``m = 31.4 - 2.5 log10(f / nJy)``).  Angles of galaxy
shapes are measured in the pixel frame from +x towards +y.

Determinism: the field catalogue of each patch-sized sky cell depends only on
``(seed, tract, cell)``, so neighbouring patches show the same sources in their
overlap and every band shows the same sources; a target's galaxy depends only on
``(seed, target id)``; the noise depends on ``(seed, tract, patch, band)``.
"""

from __future__ import annotations

import csv
import math
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import DataError, InputError

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "sample_repo"
DEFAULT_TRACT = 5063
DEFAULT_PATCHES = (14, 15, 23, 24, 26, 33, 36, 43)
DEFAULT_BANDS = ("r", "z")
DEFAULT_SEED = 20261125
DATASET_TYPE = "deep_coadd"
RUN_NAME = "sample"  # replaces a '*' (run name glob) of the dataset template

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


@dataclass(frozen=True)
class SceneOptions:
    """Knobs of the synthetic scene (densities per square degree, fluxes in nJy).

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


def _profile_table() -> tuple[np.ndarray, np.ndarray]:
    """(weights, sigmas) of shape (3, 8) indexed by source kind; a star is a delta."""
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

    The returned variances add 1/12 px**2 (a pixel's box response, to a good
    approximation) so that a Gaussian sampled at pixel centres integrates to
    its flux.
    """
    core_sigma = fwhm_arcsec / pixel_scale / _psf_fwhm_per_core_sigma()
    return _PSF_WEIGHTS.copy(), (_PSF_WIDTHS * core_sigma) ** 2 + 1.0 / 12.0


def psf_peak_fraction(fwhm_arcsec: float, pixel_scale: float) -> float:
    """Fraction of a centred point source's flux in its peak pixel."""
    weights, variances = psf_mixture(fwhm_arcsec, pixel_scale)
    return float(np.sum(weights / (2 * np.pi * variances)))


# --- random streams ---------------------------------------------------------
def _key(value) -> int:
    """Map a seed component (int or str) to a non-negative integer."""
    if isinstance(value, str):
        return zlib.crc32(value.encode())
    value = int(value)
    return 2 * value if value >= 0 else -2 * value - 1


def _rng(*keys) -> np.random.Generator:
    """An independent, reproducible generator for a tuple of keys."""
    return np.random.default_rng(np.random.SeedSequence([_key(k) for k in keys]))


def _band_model(band: str) -> BandModel:
    try:
        return BANDS[band]
    except KeyError:
        raise InputError(f"unknown band {band!r} for sample data", f"known bands: {', '.join(BANDS)}") from None


# --- catalogues ---------------------------------------------------------------
@dataclass
class Catalog:
    """Sources (band-independent): PARENT pixel position, r magnitude, colour, shape.

    ``colour`` is the magnitude change per band step towards the red
    (``m_band = m_r - colour * band.position``; positive is red).  ``radius``
    is the half-light radius (semi-major axis) in pixels, ``q`` the axis ratio,
    ``theta`` the major-axis angle (radians, from +x towards +y); ``kind`` holds
    :data:`STAR`, :data:`EXPONENTIAL` or :data:`DE_VAUCOULEURS` (as floats).
    """

    x: np.ndarray
    y: np.ndarray
    mag: np.ndarray
    colour: np.ndarray
    kind: np.ndarray
    radius: np.ndarray
    q: np.ndarray
    theta: np.ndarray

    @classmethod
    def empty(cls) -> Catalog:
        return cls(**{name: np.zeros(0) for name in cls.__dataclass_fields__})

    @classmethod
    def concatenate(cls, catalogs) -> Catalog:
        catalogs = list(catalogs) or [cls.empty()]
        names = cls.__dataclass_fields__
        return cls(**{n: np.concatenate([getattr(c, n) for c in catalogs]) for n in names})

    def select(self, keep: np.ndarray) -> Catalog:
        return Catalog(**{n: getattr(self, n)[keep] for n in self.__dataclass_fields__})

    def __len__(self) -> int:
        return len(self.x)

    def flux(self, band: str) -> np.ndarray:
        """Total flux (nJy) in ``band``."""
        return 10.0 ** (-0.4 * (self.mag - self.colour * _band_model(band).position - AB_ZEROPOINT_NJY))


def _power_law_mags(rng, n: int, bright: float, faint: float, slope: float) -> np.ndarray:
    """``n`` magnitudes with ``dN/dm ~ 10**(slope * m)`` in ``[bright, faint]``."""
    lo, hi = 10.0 ** (slope * bright), 10.0 ** (slope * faint)
    return np.log10(lo + rng.random(n) * (hi - lo)) / slope


def field_catalog(tract, cell: tuple[int, int], seed: int, options: SceneOptions) -> Catalog:
    """Field stars and galaxies of one sky cell of ``tract``.

    A cell is the inner box of patch ``cell = (cx, cy)`` extended to any integer
    (cells beyond the tract edge exist too, so outer patch borders are filled).
    Depends only on ``(seed, tract, cell)``.
    """
    pw, ph = tract.patch_inner_dimensions
    scale = tract.pixel_scale
    area_deg2 = pw * ph * (scale / 3600.0) ** 2
    rng = _rng(seed, "field", tract.id, cell[0], cell[1])
    parts = []
    populations = (
        ("galaxy", options.galaxy_density, options.galaxy_mags, options.galaxy_slope),
        ("star", options.star_density, options.star_mags, options.star_slope),
        ("bright", options.bright_star_density, options.bright_star_mags, 0.0),
    )
    for name, density, (bright, faint), slope in populations:
        n = int(rng.poisson(density * area_deg2))
        x = cell[0] * pw - 0.5 + rng.random(n) * pw
        y = cell[1] * ph - 0.5 + rng.random(n) * ph
        mag = _power_law_mags(rng, n, bright, faint, slope) if slope else rng.uniform(bright, faint, n)
        if name == "galaxy":
            # bright galaxies are more often bulge-dominated, and redder
            p_bulge = np.clip(0.15 + 0.06 * (24.0 - mag), 0.1, 0.6)
            kind = np.where(rng.random(n) < p_bulge, DE_VAUCOULEURS, EXPONENTIAL)
            colour = np.where(kind == DE_VAUCOULEURS, rng.normal(0.45, 0.08, n), rng.normal(0.22, 0.10, n))
            radius_arcsec = 0.8 * 10.0 ** (-0.12 * (mag - 22.0) + rng.normal(0.0, 0.2, n))
            radius = np.clip(radius_arcsec, 0.1, 6.0) / scale
            q = rng.uniform(0.2, 1.0, n)
            theta = rng.uniform(0.0, np.pi, n)
        else:
            kind = np.full(n, STAR)
            colour = rng.uniform(-0.1, 0.3, n)
            radius, q, theta = np.zeros(n), np.ones(n), np.zeros(n)
        parts.append(Catalog(x, y, mag, colour, kind.astype(float), radius, q, theta))
    return Catalog.concatenate(parts)


def target_catalog(tract, targets, seed: int, options: SceneOptions) -> Catalog:
    """Host galaxy (bulge + disk) and nucleus of every target, at its PARENT position.

    Each target gives three sources at the same position: a blue point-like
    nucleus whose r-band peak pixel lies in ``options.target_nucleus_peak``, a
    red de Vaucouleurs bulge and a bluer exponential disk.  Depends only on
    ``(seed, target id)`` (and the pixel scale).
    """
    targets = as_targets(targets)
    if not targets:
        return Catalog.empty()
    ids = [t.id for t in targets]
    x, y = tract.sky_to_pixel([t.ra for t in targets], [t.dec for t in targets])
    scale = tract.pixel_scale
    peak_fraction = psf_peak_fraction(options.psf_fwhm_arcsec, scale)
    rows = []
    for i, target_id in enumerate(ids):
        rng = _rng(seed, "target", target_id)
        lo, hi = options.target_nucleus_peak
        peak = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        nucleus_mag = AB_ZEROPOINT_NJY - 2.5 * math.log10(peak / peak_fraction)
        host_mag = rng.uniform(18.3, 19.8)
        bulge_fraction = rng.uniform(0.2, 0.5)
        disk_q, disk_theta = rng.uniform(0.35, 0.9), rng.uniform(0.0, np.pi)
        rows.append((x[i], y[i], nucleus_mag, rng.normal(-0.05, 0.05), STAR, 0.0, 1.0, 0.0))
        rows.append((x[i], y[i], host_mag - 2.5 * math.log10(bulge_fraction), rng.normal(0.45, 0.05),
                     DE_VAUCOULEURS, rng.uniform(0.4, 1.0) / scale, rng.uniform(0.6, 1.0),
                     disk_theta + rng.normal(0.0, 0.2)))
        rows.append((x[i], y[i], host_mag - 2.5 * math.log10(1.0 - bulge_fraction), rng.normal(0.2, 0.05),
                     EXPONENTIAL, rng.uniform(1.5, 3.0) / scale, disk_q, disk_theta))
    columns = np.array(rows, dtype=float).T
    return Catalog(*columns)


_STAMP_MARGIN = 150  # px: sources this far outside a patch may still reach into it


def patch_catalog(tract, patch, targets, seed: int, options: SceneOptions) -> Catalog:
    """Every source that may add flux to ``patch.outer``: field cells around it and targets."""
    pw, ph = tract.patch_inner_dimensions
    reach = patch.outer.grown(_STAMP_MARGIN)
    cells_x = range(math.floor(reach.begin_x / pw), math.floor((reach.end_x - 1) / pw) + 1)
    cells_y = range(math.floor(reach.begin_y / ph), math.floor((reach.end_y - 1) / ph) + 1)
    catalog = Catalog.concatenate(
        [field_catalog(tract, (cx, cy), seed, options) for cy in cells_y for cx in cells_x]
        + [target_catalog(tract, targets, seed, options)]
    )
    inside = ((catalog.x >= reach.begin_x) & (catalog.x < reach.end_x)
              & (catalog.y >= reach.begin_y) & (catalog.y < reach.end_y))
    return catalog.select(inside)


# --- rendering ----------------------------------------------------------------
def _components(catalog: Catalog, flux: np.ndarray, psf_weights, psf_variances):
    """PSF-convolved Gaussian components of every source, arrays of shape (N, K).

    Returns ``(amplitude, cxx, cxy, cyy)``: peak value in nJy per pixel and the
    covariance (pixels**2) of each component.
    """
    weights, sigmas = _profile_table()
    kind = catalog.kind.astype(int)
    w_gal, s_gal = weights[kind], sigmas[kind] * catalog.radius[:, None]  # (N, 8)
    cos, sin, q2 = np.cos(catalog.theta)[:, None], np.sin(catalog.theta)[:, None], catalog.q[:, None] ** 2
    var = s_gal**2
    gxx, gyy = var * (cos**2 + q2 * sin**2), var * (sin**2 + q2 * cos**2)
    gxy = var * (1.0 - q2) * sin * cos
    # convolve: every galaxy component with every PSF component -> (N, 8 * n_psf)
    cxx = (gxx[:, :, None] + psf_variances).reshape(len(catalog), -1)
    cyy = (gyy[:, :, None] + psf_variances).reshape(len(catalog), -1)
    cxy = np.repeat(gxy, len(psf_weights), axis=1)
    weight = (w_gal[:, :, None] * psf_weights).reshape(len(catalog), -1)
    amplitude = flux[:, None] * weight / (2.0 * np.pi * np.sqrt(cxx * cyy - cxy**2))
    return amplitude, cxx, cxy, cyy


def _stamp_radius(amplitude, cxx, cxy, cyy, floor: float) -> np.ndarray:
    """Radius (pixels) beyond which every component of a source is below ``floor``."""
    major = 0.5 * (cxx + cyy) + np.sqrt(0.25 * (cxx - cyy) ** 2 + cxy**2)
    ratio = np.maximum(amplitude / floor, 1.0)
    return np.sqrt(2.0 * np.log(ratio) * major).max(axis=1)


def render_model(tract, patch, band: str, targets, seed: int, options: SceneOptions | None = None) -> np.ndarray:
    """Noiseless model (float32, nJy per pixel) of ``patch.outer`` in ``band``.

    Array row 0 is PARENT ``y = outer.begin_y``, column 0 PARENT ``x = outer.begin_x``.
    Each source is drawn only in its own stamp, which extends until every
    component falls below 1% of the band's sky sigma.
    """
    options = options or SceneOptions()
    model_band = _band_model(band)
    outer = patch.outer
    model = np.zeros(outer.shape, dtype=np.float32)
    catalog = patch_catalog(tract, patch, targets, seed, options)
    if not len(catalog):
        return model
    weights, variances = psf_mixture(options.psf_fwhm_arcsec * model_band.psf_scale, tract.pixel_scale)
    amp, cxx, cxy, cyy = _components(catalog, catalog.flux(band), weights, variances)
    floor = 0.01 * model_band.sky_sigma
    radius = np.minimum(_stamp_radius(amp, cxx, cxy, cyy, floor), 500.0)
    lx, ly = catalog.x - outer.begin_x, catalog.y - outer.begin_y
    x0 = np.maximum(np.floor(lx - radius), 0).astype(int)
    x1 = np.minimum(np.ceil(lx + radius) + 1, outer.width).astype(int)
    y0 = np.maximum(np.floor(ly - radius), 0).astype(int)
    y1 = np.minimum(np.ceil(ly + radius) + 1, outer.height).astype(int)
    for i in np.flatnonzero((x1 > x0) & (y1 > y0) & (radius > 0)):
        keep = amp[i] > floor
        _add_stamp(model, lx[i], ly[i], (x0[i], x1[i], y0[i], y1[i]),
                   amp[i, keep], cxx[i, keep], cxy[i, keep], cyy[i, keep])
    return model


def _add_stamp(model, x, y, bounds, amp, cxx, cxy, cyy) -> None:
    """Add a sum of elliptical Gaussians centred on LOCAL (x, y) to ``model[y0:y1, x0:x1]``."""
    x0, x1, y0, y1 = bounds
    dx = (np.arange(x0, x1) - x)[None, None, :]
    dy = (np.arange(y0, y1) - y)[None, :, None]
    det = cxx * cyy - cxy**2
    a, b, c = (cyy / det)[:, None, None], (-cxy / det)[:, None, None], (cxx / det)[:, None, None]
    chi2 = a * dx * dx + 2.0 * b * dx * dy + c * dy * dy
    stamp = np.einsum("k,kij->ij", amp, np.exp(-0.5 * chi2))
    model[y0:y1, x0:x1] += stamp.astype(np.float32)


def sky_variance(tract, patch, band: str, seed: int, options: SceneOptions | None = None) -> np.ndarray:
    """Sky variance (float32, nJy**2) of ``patch.outer`` (row 0 = PARENT ``outer.begin_y``).

    The band's sky sigma squared, modulated by ``options.sky_variation`` on
    scales of ~0.2 deg.  It is a function of tract pixel position, so
    neighbouring patches agree in their overlap.
    """
    options = options or SceneOptions()
    model_band = _band_model(band)
    outer = patch.outer
    rng = _rng(seed, "sky", tract.id, band)
    phase_x, phase_y = rng.uniform(0.0, 2.0 * np.pi, 2)
    period = 700.0 / tract.pixel_scale  # pixels in 700 arcsec
    x = np.arange(outer.begin_x, outer.end_x)
    y = np.arange(outer.begin_y, outer.end_y)
    amplitude = 0.25 * options.sky_variation  # two sines: peak to peak = sky_variation
    fx = (amplitude * np.sin(2 * np.pi * x / period + phase_x)).astype(np.float32)
    fy = (amplitude * np.sin(2 * np.pi * y / (1.3 * period) + phase_y)).astype(np.float32)
    relative = 1.0 + fy[:, None] + fx[None, :]
    return (model_band.sky_sigma**2 * relative).astype(np.float32)


def make_patch_planes(tract, patch, band: str, targets, seed: int, *, psf_fwhm_arcsec: float = 0.7,
                      options: SceneOptions | None = None):
    """IMAGE, MASK and VARIANCE arrays of one synthetic coadd.

    Parameters
    ----------
    tract : cutout_cli.skymap.Tract
    patch : cutout_cli.skymap.Patch
        The arrays cover ``patch.outer``: shape ``(outer.height, outer.width)``,
        row 0 is PARENT ``y = outer.begin_y``.
    band : str
        One of :data:`BANDS`.
    targets : sequence of Target or (id, ra, dec), or None
        Positions (degrees) that get a galaxy with a nucleus, when they fall in
        (or near) the patch.
    seed : int
        Master seed; see the module docstring for what each stream depends on.
    psf_fwhm_arcsec : float
        PSF FWHM in r (overrides ``options.psf_fwhm_arcsec``).
    options : SceneOptions, optional
        Densities, magnitude ranges, saturation level, detection threshold.

    Returns
    -------
    image : float32 ndarray, nJy
    mask : int32 ndarray, bits of :data:`MASK_PLANES`
    variance : float32 ndarray, nJy**2
    """
    options = replace(options or SceneOptions(), psf_fwhm_arcsec=psf_fwhm_arcsec)
    targets = as_targets(targets)
    model_band = _band_model(band)
    model = render_model(tract, patch, band, targets, seed, options)
    variance = sky_variance(tract, patch, band, seed, options)
    detected = detection_mask(model, variance, options.psf_fwhm_arcsec * model_band.psf_scale / tract.pixel_scale,
                              options.detect_threshold)
    variance += model * np.float32(model_band.sky_sigma**2 / model_band.sky_level)
    rng = _rng(seed, "noise", tract.id, patch.index, band)
    if options.variance_jitter:
        # coadd variance planes are noisy (they are built from noisy per-visit estimates)
        variance *= 1.0 + np.float32(options.variance_jitter) * rng.standard_normal(model.shape, dtype=np.float32)
    image = rng.standard_normal(model.shape, dtype=np.float32)
    image *= np.sqrt(variance)
    image += model
    saturated = model > options.saturation
    image[saturated] = options.saturation
    mask = np.zeros(model.shape, dtype=np.int32)
    mask[detected] |= 1 << MASK_PLANES["DETECTED"]
    mask[saturated] |= 1 << MASK_PLANES["SAT"]
    return image, mask, variance


def detection_mask(model, sky_variance, psf_fwhm_pixels: float, threshold: float) -> np.ndarray:
    """Pixels a PSF-matched-filter detection at ``threshold`` sigma would mark.

    As the LSST stack detects: the (noiseless) model is smoothed with a Gaussian
    of the PSF's width and compared with ``threshold`` times the noise of the
    equally smoothed sky, so faint extended light is detected around sources
    while isolated pixels are not.
    """
    from scipy import ndimage

    sigma = psf_fwhm_pixels / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    smoothed = ndimage.gaussian_filter(model, sigma, truncate=4.0)
    # a unit-sum Gaussian filter scales white noise by sqrt(sum(k**2)) = 1 / (2 sqrt(pi) sigma)
    noise_factor = 1.0 / (2.0 * math.sqrt(math.pi) * sigma)
    limit = np.float32((threshold * noise_factor) ** 2)
    return (smoothed > 0) & (smoothed * smoothed > limit * sky_variance)


# --- headers --------------------------------------------------------------------
def _card(name, value, comment=""):
    return {"name": name, "value": value, "comment": comment}


def plane_headers(tract, patch) -> dict[str, list[dict]]:
    """FITS cards of the IMAGE, MASK and VARIANCE HDUs of a patch file.

    Each plane gets the tract's sky WCS shifted to the file's first pixel
    (``CRPIX = tract CRPIX - xy0``), ``LTV1/2 = -xy0`` and the alternate ``A``
    WCS giving PARENT pixels; the MASK gets ``MP_<NAME> = bit`` cards (names of
    more than 8 characters become HIERARCH cards); IMAGE and VARIANCE get BUNIT.
    """
    x0, y0 = patch.outer.begin_x, patch.outer.begin_y
    common = [_card(k, v) for k, v in tract.image_wcs_header((x0, y0)).items()]
    common += [
        _card("LTV1", -x0, "image origin XY0 is (-LTV1, -LTV2)"),
        _card("LTV2", -y0),
        _card("CTYPE1A", "LINEAR", "A WCS: PARENT (tract) pixel coordinates"),
        _card("CTYPE2A", "LINEAR"),
        _card("CRPIX1A", 1.0),
        _card("CRPIX2A", 1.0),
        _card("CRVAL1A", x0),
        _card("CRVAL2A", y0),
        _card("CUNIT1A", "PIXEL"),
        _card("CUNIT2A", "PIXEL"),
    ]
    masks = [_card(f"MP_{name}", bit, "mask plane bit") for name, bit in MASK_PLANES.items()]
    return {
        "IMAGE": common + [_card("BUNIT", "nJy", "pixel unit")],
        "MASK": common + masks,
        "VARIANCE": common + [_card("BUNIT", "nJy**2", "pixel unit")],
    }


def primary_header(skymap_name: str, tract, patch, band: str, seed: int, options: SceneOptions) -> list[dict]:
    """Cards of the empty primary HDU: data id and how the file was made."""
    model_band = _band_model(band)
    return [
        _card("SKYMAP", skymap_name, "skymap name"),
        _card("TRACT", tract.id, "tract id"),
        _card("PATCH", patch.index, "patch sequential index"),
        _card("PATCH_X", patch.x, "patch x index in the tract"),
        _card("PATCH_Y", patch.y, "patch y index in the tract"),
        _card("BAND", band, "band"),
        _card("PSF_FWHM", round(options.psf_fwhm_arcsec * model_band.psf_scale, 4), "[arcsec] PSF FWHM"),
        _card("SKYSIGMA", model_band.sky_sigma, "[nJy] nominal sky noise per pixel"),
        _card("SATURATE", options.saturation, "[nJy] saturation level"),
        _card("SEED", seed, "master seed of the synthetic data"),
        _card("ORIGIN", "cutout_cli.sample", "program that made this file"),
        _card("COMMENT", "Synthetic sample data: simulated sources and noise, not an observation."),
    ]


def compression_plan(kind: str, shape: tuple[int, int], tile: int | None, dither_seed: int = 1) -> dict:
    """``write_exposure`` compression argument for the three planes.

    ``rice``: IMAGE and VARIANCE RICE_1 (quantize level 16, SUBTRACTIVE_DITHER_2),
    MASK GZIP_2; ``gzip``: all GZIP_2 (lossless); ``none``: uncompressed.
    ``tile`` is the square tile side, or ``None`` for one-row tiles.
    """
    from .writers.fits import compression_kwargs

    if kind not in ("rice", "gzip", "none"):
        raise InputError(f"unknown compression {kind!r}", "use rice, gzip or none")
    mask_kind = "none" if kind == "none" else "gzip"
    floats = compression_kwargs(kind, shape, tile, dither_seed)
    return {"IMAGE": floats, "MASK": compression_kwargs(mask_kind, shape, tile), "VARIANCE": dict(floats)}


# --- repository -------------------------------------------------------------------
def read_targets(path) -> list[Target]:
    """Targets from a CSV file with columns ``id``, ``ra``, ``dec`` (degrees)."""
    try:
        with open(path, newline="") as stream:
            return [Target(row["id"].strip(), float(row["ra"]), float(row["dec"])) for row in csv.DictReader(stream)]
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise DataError(f"cannot read targets from {path}: {err}", "expected columns id,ra,dec") from None


def _load_repo(root: Path, skymap):
    """(skymap, dataset template) of the repository at ``root``."""
    from .repo import Repository

    repo = Repository(root)
    if DATASET_TYPE not in repo.templates:
        raise DataError(f"{root / 'repo.json'} has no {DATASET_TYPE} template")
    return skymap or repo.skymap, repo.templates[DATASET_TYPE]


def dataset_path(root: Path, template: str, skymap_name: str, patch, band: str) -> Path:
    """Path of one coadd from the repository template (a ``*`` becomes the run name)."""
    relative = template.replace("*", RUN_NAME).format(
        tract=patch.tract, patch=patch.index, patch_x=patch.x, patch_y=patch.y, band=band, skymap=skymap_name)
    return root / relative


@dataclass(frozen=True)
class _Job:
    path: Path
    skymap_name: str
    tract: object
    patch: object
    band: str
    targets: tuple
    seed: int
    compression: str
    tile: int | None
    overwrite: bool
    options: SceneOptions = field(default_factory=SceneOptions)


def _write_one(job: _Job) -> tuple[Path, float]:
    """Compute and write one coadd file; returns (path, seconds)."""
    from .writers.fits import write_exposure

    start = time.perf_counter()
    image, mask, variance = make_patch_planes(job.tract, job.patch, job.band, job.targets, job.seed,
                                              psf_fwhm_arcsec=job.options.psf_fwhm_arcsec, options=job.options)
    headers = plane_headers(job.tract, job.patch)
    dither_seed = 1 + _rng(job.seed, "dither", job.tract.id, job.patch.index, job.band).integers(10000)
    compress = compression_plan(job.compression, image.shape, job.tile, int(dither_seed))
    planes = [("IMAGE", image, headers["IMAGE"]), ("MASK", mask, headers["MASK"]),
              ("VARIANCE", variance, headers["VARIANCE"])]
    primary = primary_header(job.skymap_name, job.tract, job.patch, job.band, job.seed, job.options)
    write_exposure(job.path, primary, planes, overwrite=job.overwrite, compress=compress)
    return job.path, time.perf_counter() - start


def generate_repository(root, *, tract=DEFAULT_TRACT, patches=DEFAULT_PATCHES, bands=DEFAULT_BANDS,
                        targets_csv=None, seed=DEFAULT_SEED, compression="rice", tile=128, overwrite=False,
                        jobs=2, progress=True, skymap=None, options: SceneOptions | None = None) -> list[Path]:
    """Write the synthetic coadds of ``patches`` x ``bands`` of ``tract`` into a repository.

    Parameters
    ----------
    root : path-like
        Repository root holding ``repo.json`` (skymap path and the
        ``deep_coadd`` template, see DESIGN.md).
    targets_csv : path-like, optional
        Targets (``id,ra,dec``); default ``root/targets.csv`` when it exists.
    compression : {"rice", "gzip", "none"}
        See :func:`compression_plan`.
    tile : int or None
        Square tile side, or ``None`` for one-row tiles.
    overwrite : bool
        Rewrite existing files; otherwise they are skipped.
    jobs : int
        Worker processes (1 computes in this process).
    progress : bool
        Report on stderr: a rich progress bar on a terminal, else one line per file.
    skymap : SkyMap, optional
        Use this skymap instead of the one named in ``repo.json``.
    options : SceneOptions, optional
        Scene parameters.

    Returns
    -------
    list of Path
        The files written (existing files skipped are not listed).
    """
    root = Path(root)
    skymap, template = _load_repo(root, skymap)
    tract_obj = skymap.tract(tract)
    if targets_csv is None and (root / "targets.csv").exists():
        targets_csv = root / "targets.csv"
    targets = tuple(read_targets(targets_csv)) if targets_csv is not None else ()
    for band in bands:
        _band_model(band)
    options = options or SceneOptions()
    jobs_todo = []
    for index in patches:
        patch = tract_obj.patch(index)
        for band in bands:
            path = dataset_path(root, template, skymap.name, patch, band)
            if overwrite or not path.exists():
                jobs_todo.append(_Job(path, skymap.name, tract_obj, patch, band, targets, seed,
                                      compression, tile, overwrite, options))
    return _run_jobs(jobs_todo, jobs, progress, skipped=len(patches) * len(bands) - len(jobs_todo))


def _run_jobs(jobs_todo: list[_Job], jobs: int, progress: bool, skipped: int) -> list[Path]:
    """Run the write jobs serially or on a process pool, reporting on stderr."""
    written: list[Path] = []
    reporter = _Reporter(len(jobs_todo), progress)
    with reporter:
        if jobs <= 1 or len(jobs_todo) <= 1:
            for job in jobs_todo:
                path, seconds = _write_one(job)
                written.append(path)
                reporter.done(path, seconds)
        else:
            import multiprocessing

            # spawn: the caller may have threads (the progress display among them)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(jobs, len(jobs_todo)), mp_context=context) as pool:
                futures = [pool.submit(_write_one, job) for job in jobs_todo]
                for future in as_completed(futures):
                    path, seconds = future.result()
                    written.append(path)
                    reporter.done(path, seconds)
    reporter.summary(len(written), skipped)
    order = {job.path: i for i, job in enumerate(jobs_todo)}
    return sorted(written, key=order.__getitem__)


class _Reporter:
    """Progress on stderr: rich bar on a terminal, plain lines otherwise, silent if disabled."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.start = time.perf_counter()
        self.bar = None
        if enabled and total and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("sample data"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=False)
            self.task = self.bar.add_task("write", total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()

    def done(self, path: Path, seconds: float) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)
        elif self.enabled:
            print(f"wrote {path} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def summary(self, written: int, skipped: int) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            print(f"sample data: {written} file(s) written, {skipped} existing skipped, {elapsed:.1f} s",
                  file=sys.stderr, flush=True)


# --- command line -------------------------------------------------------------------
def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InputError(f"expected comma-separated integers, got {text!r}") from None


def _tile_option(text: str) -> int | None:
    if text.strip().lower() in ("rows", "row", "none"):
        return None
    try:
        tile = int(text)
    except ValueError:
        raise InputError(f"--tile expects a tile side in pixels or 'rows', got {text!r}") from None
    if tile <= 0:
        raise InputError(f"--tile must be positive, got {tile}")
    return tile


def _cli():
    import click

    @click.command(context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_ROOT,
                  show_default=True, help="Repository root (holds repo.json).")
    @click.option("--tract", type=int, default=DEFAULT_TRACT, show_default=True)
    @click.option("--patches", default=",".join(map(str, DEFAULT_PATCHES)), show_default=True,
                  help="Comma-separated patch indices.")
    @click.option("--bands", default=",".join(DEFAULT_BANDS), show_default=True, help="Comma-separated bands.")
    @click.option("--targets", "targets_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Targets CSV (id,ra,dec) [default: ROOT/targets.csv].")
    @click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
    @click.option("--compression", type=click.Choice(["rice", "gzip", "none"]), default="rice", show_default=True)
    @click.option("--tile", default="128", show_default=True, help="Square tile side in pixels, or 'rows'.")
    @click.option("--overwrite", is_flag=True, help="Rewrite existing files.")
    @click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes.")
    def main(root, tract, patches, bands, targets_csv, seed, compression, tile, overwrite, jobs):
        """Generate the synthetic sample coadd repository."""
        from .errors import CutoutError

        start = time.perf_counter()
        try:
            written = generate_repository(
                root, tract=tract, patches=_int_list(patches),
                bands=tuple(b.strip() for b in bands.split(",") if b.strip()), targets_csv=targets_csv,
                seed=seed, compression=compression, tile=_tile_option(tile), overwrite=overwrite, jobs=jobs)
        except CutoutError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(err.exit_code)
        click.echo(f"wrote {len(written)} file(s) into {root} in {time.perf_counter() - start:.1f} s")

    return main


def main(argv=None):
    """Entry point of ``python -m cutout_cli.sample``."""
    _cli()(args=argv, prog_name="python -m cutout_cli.sample")


if __name__ == "__main__":
    main()
