"""Which HDUs of a file are its IMAGE, MASK and VARIANCE planes, found as lazily as the file allows.

The rules, in order (docs/conventions.md, section 3.2):

1. **By name.** An image HDU holding data is the plane its ``EXTNAME`` names
   (IMAGE, MASK or VARIANCE: current afw, lsst.images, the files cutout
   writes), else the plane its ``EXTTYPE`` names (what afw wrote for years,
   HSC-era files; also the old MaskedImage layout, whose IMAGE is the primary
   HDU).  The first HDU naming a plane has it; an HDU without data
   (``NAXIS = 0``, such as an empty primary) is never a plane.
2. **By afw's positions**, only when no HDU names a plane (which takes every
   header): afw reads the image in the primary HDU, or in HDU 1 when the
   primary is empty, and MASK and VARIANCE in the two HDUs after it.  Those
   three must be 2-D images of one shape without an ``EXTNAME``, the MASK of
   an integer type (int32, or the old uint16 stored with ``BZERO = 32768``)
   and the VARIANCE of a floating type; otherwise the file is
3. **a plain image**: its first 2-D image HDU is the IMAGE plane and it has
   no other.

A mask of more than 31 planes (lsst.images) is stored in several HDUs named
MASK, one after the other (``EXTVER`` 1, 2, ...): :meth:`PlaneIndex.masks`
lists them all.  Other HDUs (afw's archive tables holding the PSF, the
calibration and so on; lsst.images' JSON and INDEX tables, cell PSFs, mask
fractions, noise realizations) are never planes.  A :class:`PlaneIndex` asks a source (the local or the
ranged one, :mod:`cutout_cli.fits.coadd`) to describe HDUs one after the
other only until the plane asked for is found, so that a remote IMAGE-only
cutout never reads the VARIANCE header.

Conventions: shapes are numpy ``(rows, columns)``; HDU indices count from 0
(the primary HDU).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

__all__ = ["PLANES", "HduInfo", "PlaneIndex", "PlaneList", "PlaneHeaders", "PlaneReader",
           "SplitMaskReader", "ReadFailure", "read_xy0", "hdu_label", "DAMAGED_HINT", "TRUNCATED_HINT"]

PLANES = ("IMAGE", "MASK", "VARIANCE")
#: The hint of every error about a file whose bytes do not match its headers (truncated, corrupt tiles).
DAMAGED_HINT = "the file may be truncated or corrupt: copy or download it again"
#: The hint of a file shorter than its headers say.
TRUNCATED_HINT = "perhaps an interrupted copy or download: copy it again"


def hdu_label(header, index: int) -> str:
    """``HDU 2 (MASK)``: an HDU by number (0: the primary), with the name or type its header gives it."""
    name = str(header.get("EXTNAME") or header.get("EXTTYPE") or "").strip()
    return f"HDU {index} ({name})" if name else f"HDU {index}"


class ReadFailure(Exception):
    """A plane reader could not read pixels (its message says why); the coadd reports it as a DataError."""


class PlaneReader:
    """The plane-reader seam: what a source gives :class:`~cutout_cli.fits.coadd.CoaddFile` for each plane.

    :meth:`read` is the one method a reader must have; the others have
    defaults for readers that keep nothing and hold the GIL while they read.
    ``tiled`` is cutout's tile decoder of the plane, when one reads it.
    """

    tiled = None

    def read(self, rows: slice, cols: slice):
        """The LOCAL section ``[rows, cols]`` (inside the image) as a native-endian array;
        :class:`ReadFailure` when the bytes cannot be read or decoded."""
        raise NotImplementedError

    def cost(self, rows: slice, cols: slice):
        """A :class:`~cutout_cli.fits.tiles.cost.ReadCost` of reading the section with the GIL mostly
        released (the decoder, a memory map), or None: the read holds the GIL (no second thread)."""
        return None

    def expect(self, sections) -> None:
        """Announce the LOCAL sections ``(rows, cols)`` about to be read (a decoder keeps their tiles)."""

    def clear_cache(self) -> None:
        """Forget what was kept for later reads."""


class SplitMaskReader(PlaneReader):
    """The reader of a MASK plane stored in several int32 HDUs (lsst.images' masks of more than 31
    planes): their pixels as one int64 array, bit ``b`` of the k-th HDU (from 0) at bit ``31 k + b``
    (:mod:`cutout_cli.fits.mask_schema`)."""

    def __init__(self, readers, bits_per_hdu: int):
        self.readers, self.bits_per_hdu = list(readers), bits_per_hdu

    def read(self, rows: slice, cols: slice):
        out = None
        for k, reader in enumerate(self.readers):
            part = reader.read(rows, cols).astype(np.int64) & ((1 << self.bits_per_hdu) - 1)
            part <<= self.bits_per_hdu * k
            out = part if out is None else out | part
        return out

    def cost(self, rows: slice, cols: slice):
        return None  # several reads, each holding the GIL part of the time: no second thread

    def expect(self, sections) -> None:
        for reader in self.readers:
            reader.expect(sections)

    def clear_cache(self) -> None:
        for reader in self.readers:
            reader.clear_cache()


@dataclass(frozen=True)
class HduInfo:
    """One HDU as a source describes it: its ``index``, upper-case ``extname``, numpy ``shape``,
    whether it is an image HDU (compressed or not), its upper-case ``exttype`` and the ``bitpix``
    of its pixels (of the image, for a tile-compressed one; 0 for a table).

    A source may leave ``exttype`` empty when ``extname`` names a plane already (it is not needed).
    """

    index: int
    extname: str
    shape: tuple
    is_image: bool
    exttype: str = ""
    bitpix: int = 0

    @property
    def is_2d_image(self) -> bool:
        return self.is_image and len(self.shape) == 2

    @property
    def plane(self) -> str:
        """The plane this HDU names (rule 1 of the module docstring), or ``""``."""
        if not self.is_image or not self.shape:
            return ""
        if self.extname in PLANES:
            return self.extname
        return self.exttype if self.exttype in PLANES else ""


class PlaneIndex:
    """The planes of one file, found by pulling HDU descriptions from ``describe_next(read_ahead)``
    (a source method returning the next :class:`HduInfo`, or None after the last HDU)."""

    def __init__(self, path: str, describe_next):
        self.path = path
        self._describe_next = describe_next
        self._found: dict[str, HduInfo] = {}
        self._seen: list[HduInfo] = []
        self._more_masks: list[HduInfo] = []
        self._done = False
        self._resolved = False

    def find(self, plane: str, read_ahead: bool = False) -> HduInfo | None:
        """The HDU of ``plane``, or None; with ``read_ahead`` (the plane is about to be read) a
        remote source fetches each header with what likely follows it."""
        while plane not in self._found and not self._done and len(self._found) < len(PLANES):
            self._take(self._describe_next(read_ahead))
        if self._done and not self._resolved:
            self._resolved = True
            if "IMAGE" not in self._found:  # no HDU names the IMAGE plane: rules 2 and 3
                self._found = self._by_position() or self._plain_image()
        return self._found.get(plane)

    def image(self) -> HduInfo:
        """The IMAGE plane's HDU; DataError when the file holds no 2-D image."""
        hdu = self.find("IMAGE")
        if hdu is None:
            raise DataError(f"{self.path} holds no 2-D image", "give a FITS image or an afw coadd")
        if len(hdu.shape) != 2:
            raise DataError(f"{self.path}: the IMAGE plane is not 2-D (shape {hdu.shape})")
        return hdu

    def masks(self, read_ahead: bool = False) -> list[HduInfo]:
        """Every HDU of the MASK plane: the first, then those named MASK right after it (lsst.images'
        masks of more than 31 planes); empty without a MASK plane."""
        first = self.find("MASK", read_ahead)
        if first is None:
            return []
        while not self._done and self._seen[-1].extname == "MASK" and self._seen[-1].index >= first.index:
            self._take(self._describe_next(read_ahead))
        return [first, *self._more_masks]

    def present(self, read_ahead: bool = False) -> tuple[str, ...]:
        """Every plane present (reads every header it has to)."""
        for plane in PLANES:
            self.find(plane, read_ahead)
        return tuple(p for p in PLANES if p in self._found)

    def _take(self, hdu: HduInfo | None) -> None:
        if hdu is None:
            self._done = True
            return
        self._seen.append(hdu)
        mask = self._found.get("MASK")
        if mask is not None and hdu.extname == "MASK" and hdu.is_image and self._seen[-2] in (mask, *self._more_masks):
            if hdu.shape != mask.shape:
                raise DataError(f"{self.path}: MASK HDU {hdu.index} has a different shape {hdu.shape} from the "
                                f"first MASK HDU {mask.index} {mask.shape}")
            self._more_masks.append(hdu)
        elif hdu.plane and hdu.plane not in self._found:
            self._found[hdu.plane] = hdu
            image = self._found.get("IMAGE")
            for name, other in self._found.items():
                if image is not None and other.shape != image.shape:
                    raise DataError(f"{self.path}: plane {name} (HDU {other.index}) has a different shape "
                                    f"{other.shape} from IMAGE (HDU {image.index}) {image.shape}")

    def _by_position(self) -> dict[str, HduInfo] | None:
        """afw's positions (rule 2), when the HDUs there look like afw's planes; else None."""
        if self._found or not self._seen:
            return None
        first = 0 if self._seen[0].is_2d_image else 1 if not self._seen[0].shape else None
        triple = self._seen[first:first + 3] if first is not None else []
        if len(triple) < 3 or any(not h.is_2d_image or h.extname or h.shape != triple[0].shape for h in triple):
            return None
        image, mask, variance = triple
        if mask.bitpix <= 0 or variance.bitpix >= 0:
            return None
        return {"IMAGE": image, "MASK": mask, "VARIANCE": variance}

    def _plain_image(self) -> dict[str, HduInfo]:
        """Rule 3: the first 2-D image HDU is the IMAGE plane, and there is no other plane."""
        first = next((h for h in self._seen if h.is_2d_image), None)
        return {} if first is None else {"IMAGE": first}


class PlaneList(Sequence):
    """The planes of a file as a sequence (``CoaddFile.planes``): ``"MASK" in planes`` reads no more
    headers than needed; iterating, comparing or ``len`` finds them all.

    Membership tests and listing are how extraction and handles pick the planes they are about to
    read, so planes found that way are found with read-ahead.
    """

    def __init__(self, index: PlaneIndex):
        self._index = index

    def __contains__(self, plane) -> bool:
        return self._index.find(plane, read_ahead=True) is not None

    def _all(self) -> tuple:
        return self._index.present(read_ahead=True)

    def __getitem__(self, item):
        return self._all()[item]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self):
        return iter(self._all())

    def __eq__(self, other) -> bool:
        if isinstance(other, (PlaneList, tuple, list)):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._all())


class PlaneHeaders(Mapping):
    """``{plane: Header}`` whose headers are read when first asked for (``header_of(HduInfo)``)."""

    def __init__(self, index: PlaneIndex, header_of):
        self._index = index
        self._header_of = header_of
        self._headers: dict[int, object] = {}

    def __getitem__(self, plane):
        hdu = self._index.find(plane)
        if hdu is None:
            raise KeyError(plane)
        if hdu.index not in self._headers:
            self._headers[hdu.index] = self._header_of(hdu)
        return self._headers[hdu.index]

    def __contains__(self, plane) -> bool:
        return self._index.find(plane) is not None

    def __iter__(self):
        return iter(self._index.present())

    def __len__(self) -> int:
        return len(self._index.present())


def read_xy0(header) -> tuple[int, int]:
    """PARENT pixel of a plane's first array pixel: from the ``A`` (LINEAR) WCS afw writes, else from
    ``LTV1/2`` (XY0 = -LTV), else (0, 0)."""
    if header.get("CTYPE1A", "").strip() == "LINEAR" and "CRVAL1A" in header:
        return (int(round(header["CRVAL1A"] - (header.get("CRPIX1A", 1.0) - 1))),
                int(round(header["CRVAL2A"] - (header.get("CRPIX2A", 1.0) - 1))))
    if "LTV1" in header or "LTV2" in header:
        return (-int(round(header.get("LTV1", 0))), -int(round(header.get("LTV2", 0))))
    return (0, 0)
