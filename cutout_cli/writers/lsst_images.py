"""Cutouts written as ``lsst.images`` files (``--output-format lsst-images``), with the optional package.

What is written depends on the source:

* **an lsst.images file**: the source's own type (``MaskedImage``,
  ``VisitImage``, ``CellCoadd``, ...) restricted to the box, as
  ``lsst.images``' ``read_archive(source, bbox=box)`` gives it (the exact sky
  projection, the mask schema, and the type's other parts: for a CellCoadd
  the cells the box covers and their PSF images; for a VisitImage its
  PSF, detector and observation metadata), written by lsst.images itself.
  Local sources are read in place, remote ones and zip members through
  cutout's ranged reader (only the bytes the box needs).
* **any other file** (afw's layout, a plain image): a ``MaskedImage`` of the
  cutout's pixels, its mask planes under their own names, its sky
  projection from the cutout's FITS WCS, on PARENT pixels (a general
  pixel frame).

The pixels written are the cutout's (so ``--mask-outside`` holds).  An
lsst.images object holds its three planes and the pixels of one file, so a
cutout of fewer planes, one assembled from several files, and a box that is
not wholly inside the source are refused (:class:`~cutout_cli.errors.InputError`),
before anything is written.  Files are written atomically, as every output.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError, InputError, first_line
from .atomic import atomic_path

__all__ = ["write_lsst_images", "LSST_IMAGES_HINT", "OUTPUT_FORMATS"]

#: The fix named when the package is missing.
LSST_IMAGES_HINT = "install lsst-images (Python >= 3.12): pip install 'cutout-cli[lsst-images]'"
#: ``--output-format`` choices: afw's layout (the default) or lsst.images' own.
OUTPUT_FORMATS = ("afw", "lsst-images")


def _package():
    try:
        import lsst.images
        import lsst.images.serialization  # noqa: F401
    except ImportError:
        raise DataError("writing lsst.images files needs the lsst-images package, which is not installed",
                        LSST_IMAGES_HINT) from None
    return lsst.images


def write_lsst_images(path, cutout, *, remote=None, overwrite: bool = False) -> None:
    """Write ``cutout`` as an lsst.images file at ``path`` (module docstring); ``remote`` (a
    :class:`~cutout_cli.storage.remote.RemoteOptions`, default from the environment) reaches a remote
    source.  The source's lsst.images type is ``cutout.provenance["data_model"]``."""
    data_model = cutout.provenance.get("data_model")
    if not cutout.provenance.get("complete", True):
        raise InputError(f"the box {cutout.bbox} is not wholly inside the source image: lsst.images files hold "
                         "only pixels of the data", "cut a box inside the image, or write --output-format afw")
    if set(cutout.planes) != {"IMAGE", "MASK", "VARIANCE"}:
        raise InputError("lsst.images files hold whole objects: IMAGE, MASK and VARIANCE",
                         "drop --planes, or write --output-format afw")
    if "sources" in cutout.provenance:
        raise InputError("this cutout is assembled from several files: lsst.images files come from one",
                         "cut a box inside one patch, or write --output-format afw")
    images = _package()
    if data_model is not None:
        obj = _read_source(images, cutout, remote)
        _put_pixels(obj, cutout)
    else:
        obj = _masked_image(images, cutout)
    with atomic_path(path, overwrite, suffix=".tmp.fits") as tmp:  # lsst.images goes by the extension
        try:
            obj.write(str(tmp))
        except Exception as err:  # lsst.images raises many types
            raise DataError(f"lsst.images could not write {path}: {first_line(err)}") from None


def _read_source(images, cutout, remote):
    from lsst.images.serialization import read_archive

    from ..storage.base import is_remote
    from ..storage.members import is_member, open_range_reader
    from ..storage.remote import RemoteOptions

    box = cutout.bbox
    bbox = images.Box.factory[box.begin_y:box.end_y, box.begin_x:box.end_x]
    source = cutout.source
    stream = None
    if is_remote(source) or is_member(source):
        stream = open_range_reader(source, remote or RemoteOptions.from_env())
    try:
        return read_archive(stream if stream is not None else source, bbox=bbox)
    except Exception as err:
        raise DataError(f"lsst.images could not read {source} for the box {box}: {first_line(err)}") from None
    finally:
        if stream is not None:
            stream.close()


def _put_pixels(obj, cutout) -> None:
    """The cutout's own pixels into the object read for its box (they are the same, unless the cutout
    was changed after its read: ``--mask-outside``)."""
    obj.image.array = cutout.image
    obj.variance.array = cutout.variance
    obj.mask.clear()
    for name, bit in cutout.mask_planes.items():
        if name in obj.mask.schema.names:
            obj.mask.set(name, (cutout.mask & (np.int64(1) << bit)) != 0)


def _masked_image(images, cutout):
    """A ``MaskedImage`` of the cutout's own planes (a source that is not an lsst.images file)."""
    import astropy.units as u

    box = cutout.bbox
    bbox = images.Box.factory[box.begin_y:box.end_y, box.begin_x:box.end_x]
    frame = images.GeneralFrame(unit=u.pix)  # PARENT pixels (the tract's extent is not known here)
    try:
        projection = images.SkyProjection.from_fits_wcs(cutout.wcs, frame, x0=box.begin_x, y0=box.begin_y)
    except Exception:  # no celestial WCS: an image without a projection
        projection = None
    unit = u.Unit(cutout.unit, format="fits", parse_strict="silent") if cutout.unit else None
    image = images.Image(cutout.image, bbox=bbox, unit=unit)
    parts = {}
    if cutout.variance is not None:
        parts["variance"] = images.Image(cutout.variance, bbox=bbox, unit=unit**2 if unit is not None else None)
    if cutout.mask is not None:
        planes = sorted(cutout.mask_planes.items(), key=lambda kv: kv[1])
        schema = images.MaskSchema([images.MaskPlane(name, "") for name, _ in planes])
        mask = images.Mask(schema=schema, bbox=bbox)
        for name, bit in planes:
            mask.set(name, (cutout.mask & (np.int64(1) << bit)) != 0)
        parts["mask"] = mask
    return images.MaskedImage(image, sky_projection=projection, **parts)
