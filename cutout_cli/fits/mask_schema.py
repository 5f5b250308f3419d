"""Mask planes: which bit of a MASK plane means what, in afw's files and in lsst.images' files.

Two ways of naming mask planes are in use:

* **afw** writes one ``MP_<NAME> = bit`` card per plane in the MASK header
  (``MP_SAT = 1``, ``MP_NO_DATA = 8``).
* **lsst.images** writes three cards per plane, numbered from 0 in each MASK
  HDU: ``MSKNnnnn`` (the name), ``MSKMnnnn`` (its bit *value*, ``1 << bit``)
  and ``MSKDnnnn`` (a description).  A mask of more than 31 planes is split
  over several MASK HDUs (``EXTVER`` 1, 2, ...), each an int32 array whose
  bits start again at 0.  cutout reads such a mask as one int64 array: bit
  ``b`` of MASK HDU ``k`` (counting from 1) is bit ``31 * (k - 1) + b``
  (:data:`BITS_PER_HDU`), so one ``{name: bit}`` describes every plane.

lsst.images also renamed some of afw's planes (its ``get_legacy_*_mask_planes``
maps): :data:`LEGACY_NAMES` lists them.  Looking a plane up by either name
(:func:`plane_bit`) finds it in files of either kind, so ``--mask-outside``,
bad-pixel masks and multi-file assembly mean the same planes everywhere.  The
bits themselves differ between products (NO_DATA is bit 8 in afw coadds, bit 0
in lsst.images coadds, bit 7 in its visit images): they are always read from
the file, never assumed, except when a file names no NO_DATA plane at all
(:data:`NO_DATA_BIT_DEFAULT`, afw's bit).
"""

from __future__ import annotations

import re

__all__ = ["LEGACY_NAMES", "NEW_NAMES", "BITS_PER_HDU", "MAX_PLANES", "NO_DATA_BIT_DEFAULT", "MaskPlane",
           "planes_from_header", "plane_bit", "no_data_value", "legacy_cards"]

#: afw's plane name -> lsst.images' name, where they differ (``lsst.images._mask.get_legacy_*_mask_planes``).
LEGACY_NAMES = {"SAT": "SATURATED", "INTRP": "INTERPOLATED", "CR": "COSMIC_RAY", "EDGE": "DETECTION_EDGE",
                "UNMASKEDNAN": "UNMASKED_NAN"}
#: lsst.images' plane name -> afw's, where they differ.
NEW_NAMES = {new: old for old, new in LEGACY_NAMES.items()}
#: Planes per MASK HDU in lsst.images files (an int32 array: 31 bits, the sign bit unused).
BITS_PER_HDU = 31
#: The most planes one int64 mask array holds (two MASK HDUs).
MAX_PLANES = 2 * BITS_PER_HDU
#: afw's NO_DATA bit in coadds, for a file that names no NO_DATA plane.
NO_DATA_BIT_DEFAULT = 8

_NEW_CARD = re.compile(r"^MSK([NMD])(\d{4})$")


class MaskPlane(tuple):
    """``(name, bit, description)`` of one plane; ``bit`` counts across MASK HDUs (module docstring)."""

    __slots__ = ()

    def __new__(cls, name: str, bit: int, description: str = ""):
        return super().__new__(cls, (name, bit, description))

    name = property(lambda self: self[0])
    bit = property(lambda self: self[1])
    description = property(lambda self: self[2])


def planes_from_header(header, hdu_number: int = 1) -> list[MaskPlane]:
    """The planes a MASK header names, by bit: lsst.images' ``MSKN``/``MSKM``/``MSKD`` cards when there
    are any, else afw's ``MP_*`` cards.  ``hdu_number`` (1 for the first MASK HDU) offsets the bits of
    lsst.images' later MASK HDUs (module docstring)."""
    names, values, descriptions, legacy = {}, {}, {}, {}
    for name, value, _ in header.cards:
        match = _NEW_CARD.match(name)
        if match:
            kind, number = match.group(1), int(match.group(2))
            {"N": names, "M": values, "D": descriptions}[kind][number] = value
        elif name.startswith("MP_"):
            try:
                legacy[name[3:]] = int(value)
            except (TypeError, ValueError):
                continue
    if names:
        offset = BITS_PER_HDU * (hdu_number - 1)
        planes = [MaskPlane(str(names[n]).strip(), offset + _bit_of(values.get(n), n), str(descriptions.get(n) or ""))
                  for n in names]
    else:
        planes = [MaskPlane(name, bit) for name, bit in legacy.items()]
    return sorted(planes, key=lambda plane: plane.bit)


def _bit_of(value, number: int) -> int:
    """The bit of an ``MSKMnnnn`` bit value (lsst.images' reader takes ``1 << n`` when it is missing)."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return number
    return value.bit_length() - 1 if value > 0 and value & (value - 1) == 0 else number


def plane_bit(planes: dict, name: str) -> int | None:
    """The bit of plane ``name`` in ``planes`` (``{name: bit}``), by its afw or its lsst.images name."""
    name = name.upper()
    for candidate in (name, LEGACY_NAMES.get(name), NEW_NAMES.get(name)):
        if candidate is not None and candidate in planes:
            return planes[candidate]
    return None


def no_data_value(planes: dict) -> int:
    """The MASK value of NO_DATA in ``planes`` (``{name: bit}``; afw's bit 8 when none is named)."""
    bit = plane_bit(planes, "NO_DATA")
    return 1 << (NO_DATA_BIT_DEFAULT if bit is None else bit)


def legacy_cards(planes: list[MaskPlane]) -> dict:
    """afw's ``MP_<NAME> = bit`` cards for the planes of one MASK HDU (bits within that HDU, as
    :func:`planes_from_header` gives them for ``hdu_number`` 1), so that afw-style readers of a cutout
    see the planes too."""
    return {f"MP_{plane.name}": (plane.bit, "mask plane bit") for plane in planes}
