"""What to cut: a sky position and size, a pixel box, or a sky region, checked once.

:func:`request_from_options` turns the options of one cutout (as ``cutout
subset`` takes them: ``ra``/``dec``/``size``, ``tract``/``patch``, ``box``,
``pos``, ``origin``, ...) into one request, and refuses the combinations
that do not go together with an :class:`~cutout_cli.errors.InputError`
naming the parameters.  A request cuts itself from a repository (any object
with the repository's ``cutout``, ``get``, ``ref``, ``get_box`` and
``region_cutout``: nothing here depends on the repository layer) or from an
:class:`~cutout_cli.cutouts.handle.ImageHandle` on a FITS file.

Boxes are PARENT pixels unless ``origin="local"``; positions are degrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import InputError
from ..sky.box import Box
from ..sky.parse import Size, parse_dec, parse_int_box, parse_ra, parse_size
from .options import ReadOptions

__all__ = ["BoxRequest", "RegionRequest", "SkyRequest", "parse_patch", "parse_sky_position", "request_from_options"]

ORIGINS = ("parent", "local")


def parse_sky_position(ra, dec) -> tuple[float, float]:
    """``ra`` and ``dec`` (degrees, or sexagesimal text) in degrees; both are needed."""
    if ra is None or dec is None:
        raise InputError("a sky position needs both coordinates", "give {} and {}",
                         options=[("ra", None), ("dec", None)])
    return parse_ra(ra), parse_dec(dec)


def parse_patch(text) -> int | tuple[int, int]:
    """A patch as a sequential index (``14``) or an ``x,y`` pair (``4,1``)."""
    if isinstance(text, int) or (isinstance(text, tuple) and len(text) == 2):
        return text
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) == 1:
            return int(parts[0])
        if len(parts) == 2:
            return int(parts[0]), int(parts[1])
    except ValueError:
        pass
    raise InputError(f"cannot read patch {text!r}", "give a sequential index like 14 or x,y like 4,1")


@dataclass(frozen=True)
class SkyRequest:
    """A box of ``size`` centred on (``ra``, ``dec``), in the home patch unless ``tract`` and ``patch``
    are given (a box beyond the home patch is assembled from its neighbours)."""

    ra: float
    dec: float
    size: Size
    tract: int | None = None
    patch: int | tuple[int, int] | None = None

    centred: ClassVar[bool] = True  # cutouts record the float pixel position of (ra, dec)

    def from_repository(self, repo, band: str, *, dataset_type: str | None = None,
                        options: ReadOptions | None = None):
        return repo.cutout(self.ra, self.dec, self.size, band, dataset_type=dataset_type, tract=self.tract,
                           patch=self.patch, options=options)

    def from_image(self, image, *, options: ReadOptions | None = None):
        return image.cutout(self.ra, self.dec, self.size, options=options)


@dataclass(frozen=True)
class BoxRequest:
    """A pixel ``box`` of ``tract``: of one ``patch`` (PARENT pixels, or LOCAL ones of the patch with
    ``origin="local"``), or without a patch from as many patches of the tract as it needs."""

    box: Box
    tract: int | None = None
    patch: int | tuple[int, int] | None = None
    origin: str = "parent"

    centred: ClassVar[bool] = False

    def from_repository(self, repo, band: str, *, dataset_type: str | None = None,
                        options: ReadOptions | None = None):
        if self.patch is None:  # a tract box, assembled from the patches it needs
            return repo.get_box(self.tract, self.box, band, dataset_type=dataset_type, options=options)
        ref = repo.ref(dataset_type, self.tract, self.patch, band)
        return repo.get(ref, self.box, origin=self.origin, options=options)

    def from_image(self, image, *, options: ReadOptions | None = None):
        return image.get(self.box, origin=self.origin, options=options)


@dataclass(frozen=True)
class RegionRequest:
    """The box enclosing an IVOA POS region (``"CIRCLE ra dec r"``, ``"POLYGON ..."``, ``"RANGE ..."``);
    with ``mask_outside`` pixels whose centre is outside it become NaN / NO_DATA."""

    pos: str
    mask_outside: bool = False

    centred: ClassVar[bool] = False

    def from_repository(self, repo, band: str, *, dataset_type: str | None = None,
                        options: ReadOptions | None = None):
        return repo.region_cutout(self.pos, band, dataset_type=dataset_type, mask_outside=self.mask_outside,
                                  options=options)

    def from_image(self, image, *, options: ReadOptions | None = None):
        return image.region_cutout(self.pos, options=options, mask_outside=self.mask_outside)


def request_from_options(*, ra=None, dec=None, size=None, tract=None, patch=None, box=None, pos=None,
                         mask_outside: bool = False, origin: str = "parent", band=None, image: bool = False):
    """The one request that these options describe (:class:`SkyRequest`, :class:`BoxRequest` or
    :class:`RegionRequest`).

    Exactly one of a position (``ra``, ``dec`` with ``size``), a ``box``
    (``"X0,Y0,W,H"`` or a :class:`~cutout_cli.sky.box.Box`) or a region
    (``pos``) is given.  ``image``: the request is for a FITS file, where
    ``tract``, ``patch`` and ``band`` (which select a coadd of a repository)
    do not apply; otherwise ``band`` is needed.  InputError names the
    parameters of a combination that does not go together.
    """
    _check_one_kind(ra, dec, size, box, pos, mask_outside=mask_outside, origin=origin)
    if pos is None and box is None:
        ra, dec = parse_sky_position(ra, dec)
        size = size if isinstance(size, Size) else parse_size(size)
    elif box is not None and not isinstance(box, Box):
        box = Box.from_corner_size(*parse_int_box(box))
    if image:
        _check_image_options(tract, patch, band)
    else:
        _check_repository_options(tract, patch, band, box=box, pos=pos, origin=origin)
    patch = None if patch is None else parse_patch(patch)
    if pos is not None:
        return RegionRequest(pos, mask_outside)
    if box is not None:
        return BoxRequest(box, tract, patch, origin)
    return SkyRequest(ra, dec, size, tract, patch)


def _check_one_kind(ra, dec, size, box, pos, *, mask_outside: bool, origin: str) -> None:
    """One of a position, a box or a region, with the options that go with it."""
    has_sky = ra is not None or dec is not None
    if sum((has_sky, box is not None, pos is not None)) != 1:
        raise InputError("give one of a sky position, a box or a region", "{}/{}/{}, {} X0,Y0,W,H or {} REGION",
                         options=[("ra", None), ("dec", None), ("size", None), ("box", None), ("pos", None)])
    if mask_outside and pos is None:
        raise InputError("masking outside goes with a region", "give {} with {}",
                         options=[("mask_outside", True), ("pos", None)])
    if has_sky and size is None:
        raise InputError("a sky position needs a size", "e.g. {}", options=[("size", "60arcsec")])
    if origin not in ORIGINS:
        raise InputError(f"unknown origin {origin!r}", "give {} parent or local", options=[("origin", None)])
    if has_sky and origin == "local":
        raise InputError("the origin applies to a box only", "leave out {}", options=[("origin", "local")])


def _check_image_options(tract, patch, band) -> None:
    if tract is not None or patch is not None or band is not None:
        raise InputError("tract, patch and band select a coadd in a repository, not in a FITS file",
                         "leave out {}/{}/{} with a FITS file", options=[("tract", None), ("patch", None), ("band", None)])


def _check_repository_options(tract, patch, band, *, box, pos, origin: str) -> None:
    if band is None:
        raise InputError("a repository cutout needs a band", "e.g. {}, or {} for several",
                         options=[("band", "r"), ("band", "g,r,i")])
    if pos is not None and (tract is not None or patch is not None):
        raise InputError("a region finds its own tract and patch", "leave out {}/{}",
                         options=[("tract", None), ("patch", None)])
    if box is not None and tract is None:
        raise InputError("a box needs its tract (and patch)", "give {} (and {}) with {}, or use {}/{}/{}",
                         options=[("tract", None), ("patch", None), ("box", None), ("ra", None), ("dec", None),
                                  ("size", None)])
    if box is not None and patch is None and origin == "local":
        raise InputError("LOCAL pixels are relative to a patch", "give {} with {}",
                         options=[("patch", None), ("origin", "local")])
