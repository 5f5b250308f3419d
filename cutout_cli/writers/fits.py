"""Write exposures in the afw layout: empty primary, then IMAGE, MASK, VARIANCE.

The same writer serves cutouts and the sample repository generator, so every
file the tool makes has one layout (docs/conventions.md, section 3).  Uncompressed
files (cutouts) are serialised directly: header cards formatted by astropy's
``Card`` (cached) and big-endian pixel bytes (:func:`~.atomic.write_atomically`).  Tile
compression of the sample coadds goes through fitsio (cfitsio); cutouts are written by
:func:`write_fits`, in the format their name asks for (:mod:`.outputs`), tile-compressed by
astropy, which keeps float pixels bit for bit (cfitsio's lossless mode turns infinities and NaN
payloads into one NaN).
"""

from __future__ import annotations

import io
import zlib

import numpy as np

from ..fits.header import Header, pad
from .atomic import atomic_path, write_atomically
from .outputs import TILE, FitsOutput, fits_output, write_stdout

_BITPIX = {"f4": -32, "f8": -64, "i2": 16, "i4": 32, "i8": 64, "u1": 8}


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


def _as_header(header) -> Header:
    if isinstance(header, Header):
        return header
    return Header.from_records(header or [])


# astropy's CCDData reader builds its uncertainty from the class this keyword of the uncertainty HDU names
# (``key_uncertainty_type``, default ``UTYPE``), and without it assumes a standard deviation
UNCERTAINTY_TYPE = ("UTYPE", "VarianceUncertainty", "VARIANCE holds variances (astropy.nddata)")


def plane_header(name: str, header) -> Header:
    """The header a plane HDU is written with: its name as EXTNAME and EXTTYPE, and for VARIANCE the
    uncertainty type astropy's CCDData reader needs."""
    plane = _as_header(header).copy()
    plane.set("EXTNAME", name)
    plane.set("EXTTYPE", name)
    plane.set("INHERIT", True)
    if name == "VARIANCE":
        plane.set(UNCERTAINTY_TYPE[0], UNCERTAINTY_TYPE[1], UNCERTAINTY_TYPE[2])
    return plane


def hdu_bytes(header: Header, array: np.ndarray | None, primary: bool = False) -> bytes:
    """One uncompressed HDU (header + data) as FITS bytes."""
    if array is None:
        structure = [("SIMPLE", True, "conforms to FITS standard"), ("BITPIX", 8, ""), ("NAXIS", 0, ""),
                     ("EXTEND", True, "")]
        return header.encode(structure)
    code = array.dtype.kind + str(array.dtype.itemsize)
    if code not in _BITPIX or array.ndim != 2:
        raise ValueError(f"cannot serialise a {array.ndim}-D {array.dtype} array")
    first = ("SIMPLE", True, "conforms to FITS standard") if primary else ("XTENSION", "IMAGE", "image extension")
    structure = [first, ("BITPIX", _BITPIX[code], ""), ("NAXIS", 2, ""), ("NAXIS1", array.shape[1], ""),
                 ("NAXIS2", array.shape[0], "")]
    if not primary:
        structure += [("PCOUNT", 0, ""), ("GCOUNT", 1, "")]
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    return header.encode(structure) + pad(data, b"\0")


def write_exposure(path, primary_header, planes, overwrite: bool = False, compress: dict | None = None) -> None:
    """Write an afw-layout FITS file atomically.

    Parameters
    ----------
    path : path-like
        Output file; an existing file is replaced only with ``overwrite``.
    primary_header : Header or list of dict
        Cards of the empty primary HDU.
    planes : list of (str, numpy.ndarray, Header or list of dict)
        ``(name, array, header)`` for each plane, in order; ``EXTNAME`` and
        ``EXTTYPE`` are set to ``name`` and ``INHERIT = T``, and the VARIANCE
        plane gets ``UTYPE = 'VarianceUncertainty'`` so that astropy's
        ``CCDData.read(path, hdu='IMAGE', hdu_uncertainty='VARIANCE',
        hdu_mask='MASK')`` reads it as a ``VarianceUncertainty``.
    compress : dict, optional
        ``{plane name: fitsio write kwargs}`` (see :func:`compression_kwargs`);
        without it the file is written uncompressed.
    """
    if compress:
        headers = [(name, array, plane_header(name, header)) for name, array, header in planes]
        with atomic_path(path, overwrite) as tmp:
            _write_with_fitsio(tmp, _as_header(primary_header), headers, compress)
    else:
        write_atomically(path, exposure_bytes(primary_header, planes), overwrite)


def exposure_bytes(primary_header, planes) -> list[bytes]:
    """The HDUs of an uncompressed afw-layout file (see :func:`write_exposure`), in order: the bytes of
    the file, for a stream or a web response."""
    headers = [(array, plane_header(name, header)) for name, array, header in planes]
    return [hdu_bytes(_as_header(primary_header), None), *(hdu_bytes(header, array) for array, header in headers)]


def _write_with_fitsio(tmp, primary: Header, headers, compress: dict) -> None:
    import fitsio

    with fitsio.FITS(tmp, "rw", clobber=True) as fits:
        fits.write(None, header=primary.records())
        for name, array, header in headers:
            fits.write(array, header=header.records(), extname=name, **compress.get(name, {}))


def write_fits(path, primary_header, planes, *, overwrite: bool = False, compress: str | None = None) -> str:
    """Write an afw-layout file (as :func:`write_exposure`) in the format ``path`` asks for
    (:func:`~.outputs.fits_output`: plain, tile-compressed ``.fits.fz``, gzipped ``.fits.gz``, ``-``
    for standard output), atomically; ``compress`` (``none``, ``gzip``, ``rice``) overrides the
    name's compression where the name allows it.  Returns what was written
    (:meth:`~.outputs.FitsOutput.describe`)."""
    output = fits_output(path, compress)
    chunks = fits_chunks(primary_header, planes, output)
    if output.stdout:
        write_stdout(chunks)
    else:
        write_atomically(path, chunks, overwrite)
    return output.describe(planes)


def fits_chunks(primary_header, planes, output: FitsOutput):
    """The bytes of the file :func:`write_fits` writes for ``output``, as an iterable of chunks."""
    if output.container == "tile":
        return [_tile_compressed(primary_header, planes, output.scheme)]
    chunks = exposure_bytes(primary_header, planes)
    return _gzip_stream(chunks) if output.container == "gzip" else chunks


def _gzip_stream(chunks):
    """``chunks`` as one gzip member (no name, time 0: the same pixels give the same bytes)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        yield packer.compress(chunk)
    yield packer.flush()


def _tile_compressed(primary_header, planes, scheme: str) -> bytes:
    """The afw-layout file with each plane tile-compressed, lossless (:mod:`.outputs`), as bytes."""
    from astropy.io import fits

    hdus = [fits.PrimaryHDU(header=_as_header(primary_header).to_astropy())]
    for name, array, header in planes:
        tiles = (min(TILE, array.shape[0]), min(TILE, array.shape[1]))
        # quantize_level 0: no quantization, the float bits are stored as they are
        hdus.append(fits.CompImageHDU(np.ascontiguousarray(array), header=plane_header(name, header).to_astropy(),
                                      name=name, compression_type=FitsOutput.codec(array, scheme),
                                      quantize_level=0.0, tile_shape=tiles))
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()
