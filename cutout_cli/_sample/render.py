"""Pixels of a synthetic coadd: the noiseless model, the sky variance, the three planes, detection.

Every array covers a patch's outer box: shape ``(outer.height, outer.width)``,
indexed ``[y, x]``, row 0 at PARENT ``y = outer.begin_y`` and column 0 at
PARENT ``x = outer.begin_x`` (LSST 0-based pixels, integer pixel centres).
Images are float32 in nJy per pixel, variances float32 in nJy**2; the MASK is
int32 with the bits of :data:`.scene.MASK_PLANES`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .catalog import Catalog, patch_catalog
from .scene import MASK_PLANES, SceneOptions, as_targets, band_model, profile_table, psf_mixture, random_stream


def _components(catalog: Catalog, flux: np.ndarray, psf_weights, psf_variances):
    """PSF-convolved Gaussian components of every source, arrays of shape (N, K).

    Returns ``(amplitude, cxx, cxy, cyy)``: peak value in nJy per pixel and the
    covariance (pixels**2) of each component.
    """
    weights, sigmas = profile_table()
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
    model_band = band_model(band)
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
    """Add a sum of elliptical Gaussians centred on LOCAL (x, y) to ``model[y0:y1, x0:x1]``.

    LOCAL is the array's own 0-based frame (PARENT minus the patch's outer
    origin); ``bounds = (x0, x1, y0, y1)`` are half-open LOCAL index ranges.
    """
    x0, x1, y0, y1 = bounds
    dx = (np.arange(x0, x1) - x)[None, None, :]
    dy = (np.arange(y0, y1) - y)[None, :, None]
    det = cxx * cyy - cxy**2
    a, b, c = (cyy / det)[:, None, None], (-cxy / det)[:, None, None], (cxx / det)[:, None, None]
    chi2 = a * dx * dx + 2.0 * b * dx * dy + c * dy * dy
    stamp = np.einsum("k,kij->ij", amp, np.exp(-0.5 * chi2))
    model[y0:y1, x0:x1] += stamp.astype(np.float32)


def _sky_variance(tract, patch, band: str, seed: int, options: SceneOptions | None = None) -> np.ndarray:
    """Sky variance (float32, nJy**2) of ``patch.outer`` (row 0 = PARENT ``outer.begin_y``).

    The band's sky sigma squared, modulated by ``options.sky_variation`` on
    scales of ~0.2 deg.  It is a function of tract pixel position, so
    neighbouring patches agree in their overlap.
    """
    options = options or SceneOptions()
    model_band = band_model(band)
    outer = patch.outer
    rng = random_stream(seed, "sky", tract.id, band)
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
    tract : cutout_cli.sky.skymap.Tract
    patch : cutout_cli.sky.skymap.Patch
        The arrays cover ``patch.outer``: shape ``(outer.height, outer.width)``,
        row 0 is PARENT ``y = outer.begin_y``.
    band : str
        One of :data:`.scene.BANDS`.
    targets : sequence of Target or (id, ra, dec), or None
        Positions (degrees) that get a galaxy with a nucleus, when they fall in
        (or near) the patch.
    seed : int
        Master seed; see :mod:`.scene` for what each stream depends on.
    psf_fwhm_arcsec : float
        PSF FWHM in r (overrides ``options.psf_fwhm_arcsec``).
    options : SceneOptions, optional
        Densities, magnitude ranges, saturation level, detection threshold.

    Returns
    -------
    image : float32 ndarray, nJy
    mask : int32 ndarray, bits of :data:`.scene.MASK_PLANES`
    variance : float32 ndarray, nJy**2
    """
    options = replace(options or SceneOptions(), psf_fwhm_arcsec=psf_fwhm_arcsec)
    targets = as_targets(targets)
    model_band = band_model(band)
    model = render_model(tract, patch, band, targets, seed, options)
    variance = _sky_variance(tract, patch, band, seed, options)
    detected = _detection_mask(model, variance, options.psf_fwhm_arcsec * model_band.psf_scale / tract.pixel_scale,
                               options.detect_threshold)
    variance += model * np.float32(model_band.sky_sigma**2 / model_band.sky_level)
    rng = random_stream(seed, "noise", tract.id, patch.index, band)
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


def _detection_mask(model, sky_variance, psf_fwhm_pixels: float, threshold: float) -> np.ndarray:
    """Pixels a PSF-matched-filter detection at ``threshold`` sigma would mark.

    As the LSST stack detects: the (noiseless) model is smoothed with a Gaussian
    of the PSF's width and compared with ``threshold`` times the noise of the
    equally smoothed sky, so faint extended light is detected around sources
    while isolated pixels are not.  ``model`` (nJy) and ``sky_variance``
    (nJy**2) are arrays of one shape; the result is a boolean array of it.
    """
    from scipy import ndimage  # optional dependency (the ``sample`` extra)

    sigma = psf_fwhm_pixels / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    smoothed = ndimage.gaussian_filter(model, sigma, truncate=4.0)
    # a unit-sum Gaussian filter scales white noise by sqrt(sum(k**2)) = 1 / (2 sqrt(pi) sigma)
    noise_factor = 1.0 / (2.0 * math.sqrt(math.pi) * sigma)
    limit = np.float32((threshold * noise_factor) ** 2)
    return (smoothed > 0) & (smoothed * smoothed > limit * sky_variance)
