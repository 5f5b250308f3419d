"""Write exposures in the afw layout: empty primary, then IMAGE, MASK, VARIANCE.

The same writer serves cutouts and the sample repository generator, so every
file the tool makes has one layout (REFERENCE.md section 3).
"""

from __future__ import annotations

from .atomic import atomic_path

def compression_kwargs(kind: str, shape: tuple[int, int], tile: int | None = None, seed: int = 1) -> dict:
    """fitsio ``write`` arguments for a plane of ``shape``.

    ``kind`` is ``none``, ``gzip`` (lossless GZIP_2) or ``rice`` (RICE_1 with
    SUBTRACTIVE_DITHER_2 at quantize level 16); ``tile`` is the side of square
    tiles, or ``None`` for one-row tiles (ZTILE1 = NAXIS1, ZTILE2 = 1).
    """
    if kind == "none":
        return {}
    tile_dims = [1, shape[1]] if tile is None else [min(tile, shape[0]), min(tile, shape[1])]
    if kind == "gzip":
        # qlevel None: lossless; cfitsio would otherwise quantize float tiles at level 4
        return {"compress": "GZIP_2", "tile_dims": tile_dims, "qlevel": None}
    if kind == "rice":
        return {"compress": "RICE_1", "tile_dims": tile_dims, "qlevel": 16,
                "qmethod": "SUBTRACTIVE_DITHER_2", "dither_seed": seed}
    raise ValueError(f"unknown compression {kind!r}")


def write_exposure(path, primary_header, planes, overwrite: bool = False, compress: dict | None = None) -> None:
    """Write an afw-layout FITS file atomically.

    Parameters
    ----------
    path : path-like
        Output file; an existing file is replaced only with ``overwrite``.
    primary_header : fitsio.FITSHDR or list of dict
        Cards of the empty primary HDU.
    planes : list of (str, numpy.ndarray, header)
        ``(name, array, header)`` for each plane, in order; ``EXTNAME`` and
        ``EXTTYPE`` are set to ``name`` and ``INHERIT = T``.
    compress : dict, optional
        ``{plane name: fitsio write kwargs}`` (see :func:`compression_kwargs`).
    """
    import fitsio

    compress = compress or {}
    with atomic_path(path, overwrite) as tmp:
        with fitsio.FITS(tmp, "rw", clobber=True) as fits:
            fits.write(None, header=primary_header)
            for name, array, header in planes:
                fits.write(array, header=header, extname=name, **compress.get(name, {}))
                hdu = fits[-1]
                hdu.write_key("EXTTYPE", name)
                hdu.write_key("INHERIT", True)
