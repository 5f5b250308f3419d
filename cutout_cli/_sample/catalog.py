"""Source catalogues of the synthetic scene: field stars and galaxies, targets, one patch's sources.

Positions are PARENT (tract) pixels, LSST 0-based (pixel centres are integers);
magnitudes are AB in r, radii in pixels, angles in radians from +x towards +y.
Each catalogue draws from its own :func:`.scene.random_stream`, so a sky cell's
field depends only on ``(seed, tract, cell)`` and a target only on
``(seed, target id)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .scene import (AB_ZEROPOINT_NJY, DE_VAUCOULEURS, EXPONENTIAL, STAR, SceneOptions, as_targets, band_model,
                    psf_peak_fraction, random_stream)


@dataclass
class Catalog:
    """Sources (band-independent): PARENT pixel position, r magnitude, colour, shape.

    ``colour`` is the magnitude change per band step towards the red
    (``m_band = m_r - colour * band.position``; positive is red).  ``radius``
    is the half-light radius (semi-major axis) in pixels, ``q`` the axis ratio,
    ``theta`` the major-axis angle (radians, from +x towards +y); ``kind`` holds
    :data:`.scene.STAR`, :data:`.scene.EXPONENTIAL` or
    :data:`.scene.DE_VAUCOULEURS` (as floats).
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
        return 10.0 ** (-0.4 * (self.mag - self.colour * band_model(band).position - AB_ZEROPOINT_NJY))


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
    rng = random_stream(seed, "field", tract.id, cell[0], cell[1])
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


def _target_catalog(tract, targets, seed: int, options: SceneOptions) -> Catalog:
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
        rng = random_stream(seed, "target", target_id)
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
        + [_target_catalog(tract, targets, seed, options)]
    )
    inside = ((catalog.x >= reach.begin_x) & (catalog.x < reach.end_x)
              & (catalog.y >= reach.begin_y) & (catalog.y < reach.end_y))
    return catalog.select(inside)
