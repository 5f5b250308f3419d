"""Cut a PARENT-pixel box out of an opened coadd: pixels, headers, provenance.

Conventions: boxes are PARENT pixels, begin inclusive, end exclusive; the
pixels are the file's, unresampled (MASK as int32, :mod:`cutout_cli.fits.coadd`;
the headers: :mod:`.headers`, where the source's primary HDU, when it is
the IMAGE plane, gives the cutout's empty primary its metadata only).
"""

from __future__ import annotations

from ..errors import DataError, InputError, NotFoundError
from ..fits.coadd import CoaddFile
from ..sky.box import Box, check_pixel_count
from ..sky.projection import have_pyast
from .cutout import Cutout
from .headers import plane_header, primary_header, with_fitted_wcs
from .options import ReadOptions

__all__ = ["extract", "STRICT_HINT"]

#: The hint of a box that strict mode refuses (``{}``: the ``mode`` option).
STRICT_HINT = "use {} to fill the missing pixels with NaN / NO_DATA"


def extract(coadd: CoaddFile, box: Box, options: ReadOptions | None = None, *,
            provenance: dict | None = None) -> Cutout:
    """Cut PARENT ``box`` out of an opened coadd.

    Parameters
    ----------
    coadd : CoaddFile
        The opened source file.
    box : Box
        The cutout box in PARENT pixels (begin inclusive, end exclusive).
    options : ReadOptions, optional
        Planes, edge mode and pixel limit (:class:`~cutout_cli.cutouts.options.ReadOptions`);
        planes absent from a plain FITS image are skipped unless it has none of them.
    provenance : dict, optional
        Extra keywords for the primary header (dataset id, request, ...).
    """
    options = options or ReadOptions()
    if box.is_empty:
        raise InputError("the cutout box is empty", "give a positive width and height")
    check_pixel_count(box.width, box.height, options.max_pixels)
    inside = box.intersection(coadd.bbox)
    if inside.is_empty:
        raise NotFoundError(f"box {box} lies wholly outside the image {coadd.bbox} of {coadd.path}")
    if options.mode == "strict" and inside != box:
        raise NotFoundError(f"box {box} is not wholly inside the image {coadd.bbox} of {coadd.path}",
                            STRICT_HINT, options=[("mode", "partial")])
    wanted = _planes_to_read(coadd, options.planes)
    arrays = coadd.read_planes(wanted, box)
    headers = {p: plane_header(coadd.plane_headers[p], p, box, coadd.xy0) for p in wanted}
    headers = _exact_sky_wcs(coadd, box, headers)
    record = {
        "source": coadd.path,
        "begin_x": box.begin_x, "begin_y": box.begin_y, "width": box.width, "height": box.height,
        "mode": options.mode, "complete": inside == box, "planes": ",".join(arrays),
        **({"data_model": coadd.data_model} if coadd.data_model else {}),
        **(provenance or {}),
    }
    # mask-plane names come from the MASK header: read it only for a cutout that has a MASK
    mask_planes = coadd.mask_planes if "MASK" in arrays else {}
    more_masks = tuple(plane_header(h, "MASK", box, coadd.xy0) for h in coadd.mask_headers[1:]) if mask_planes else ()
    primary = primary_header(coadd.primary_header, record, holds_pixels=coadd.hdu_index("IMAGE") == 0)
    return Cutout(box, arrays, headers, primary, mask_planes, coadd.unit, coadd.path, record, more_masks)


def _exact_sky_wcs(coadd: CoaddFile, box: Box, headers: dict) -> dict:
    """Where the header WCS is missing or only approximate (lsst.images files), the planes' sky WCS fitted
    to the exact projection over the cutout; without starlink-pyast, the approximation marked as such
    (WCSAPPRX), or no sky WCS when the file has none."""
    if coadd.projection_text is None:
        return headers
    if have_pyast():
        fitted = coadd.fitted_wcs(box)
        return {p: with_fitted_wcs(h, fitted) for p, h in headers.items()}
    if coadd.has_header_wcs:
        return {p: with_fitted_wcs(h, None) for p, h in headers.items()}
    return headers


def _planes_to_read(coadd: CoaddFile, planes) -> list[str]:
    wanted = [p for p in planes if p in coadd.planes]
    missing = [p for p in planes if p not in coadd.planes]
    if missing and coadd.planes != ("IMAGE",):
        raise DataError(f"{coadd.path} has no {', '.join(missing)} plane",
                        f"planes present: {', '.join(coadd.planes)}; the file may be truncated")
    if not wanted:
        raise NotFoundError(f"{coadd.path} has none of the planes {', '.join(planes)}")
    return wanted
