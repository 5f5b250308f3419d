"""FITS headers and compression of a synthetic coadd file.

Cards are ``{"name", "value", "comment"}`` dicts as
:func:`cutout_cli.writers.fits.write_exposure` takes them.  FITS pixels are
1-based: a plane whose first pixel is PARENT (LSST 0-based) ``xy0`` carries
``CRPIX = tract CRPIX - xy0`` and ``LTV1/2 = -xy0``.
"""

from __future__ import annotations

from ..errors import InputError
from ..writers.fits import compression_kwargs
from .scene import MASK_PLANES, SceneOptions, band_model


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
    """Cards of the empty primary HDU: data id and how the file was made (PSF in arcsec, levels in nJy)."""
    model_band = band_model(band)
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
        # the module's name before it became a package; kept so that files stay byte-identical
        _card("ORIGIN", "cutout_cli.sample", "program that made this file"),
        _card("COMMENT", "Synthetic sample data: simulated sources and noise, not an observation."),
    ]


def compression_plan(kind: str, shape: tuple[int, int], tile: int | None, dither_seed: int = 1) -> dict:
    """``write_exposure`` compression argument for the three planes.

    ``rice``: IMAGE and VARIANCE RICE_1 (quantize level 16, SUBTRACTIVE_DITHER_2),
    MASK GZIP_2; ``gzip``: all GZIP_2 (lossless); ``none``: uncompressed.
    ``shape`` is the plane's ``(height, width)`` in pixels; ``tile`` is the
    square tile side in pixels, or ``None`` for one-row tiles.
    """
    if kind not in ("rice", "gzip", "none"):
        raise InputError(f"unknown compression {kind!r}", "use rice, gzip or none")
    mask_kind = "none" if kind == "none" else "gzip"
    floats = compression_kwargs(kind, shape, tile, dither_seed)
    return {"IMAGE": floats, "MASK": compression_kwargs(mask_kind, shape, tile), "VARIANCE": dict(floats)}
