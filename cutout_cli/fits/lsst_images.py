"""Files written by Rubin's ``lsst.images`` package: recognise the container and read its JSON tree.

The layout (``lsst.images.fits``): an empty primary HDU with ``FMTVER`` (the
container version), ``DATAMODL`` (the schema URL of the object, e.g.
``https://images.lsst.io/schemas/masked_image-1.0.0``) and the byte offset and
size of two tables at the end of the file, ``JSONADDR``/``JSONSIZE`` and
``INDXADDR``/``INDXSIZE``; one image HDU per array (``IMAGE``, ``MASK``,
``VARIANCE``, ...); the ``JSON`` binary table, whose row 0 holds the whole
object tree as UTF-8 JSON in one variable-length byte column; and ``INDEX``.

Pixels, XY0 (the ``A`` WCS) and mask planes (``MSKN``/``MSKM`` cards) are in
the image HDUs, read like any plane.  What only the JSON holds and cutout
needs is the *exact* sky projection: ``sky_projection.pixel_to_sky`` (a
Starlink AST mapping in AST's native text, from PARENT pixels, 0-based, to
ICRS in radians) and, when the header WCS is only a FITS approximation of
it, ``sky_projection.fits_approximation``.  :func:`read_tree` reads the tree in
one read of ``JSONSIZE`` bytes at ``JSONADDR`` (:func:`tree_table`); :func:`sky_projection`
picks the projection out of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import DataError, first_line
from .header import BLOCK, CARD

__all__ = ["is_container", "data_model", "tree_table", "read_tree", "ProjectionText", "sky_projection"]


def is_container(primary_header) -> bool:
    """Whether a primary header is an lsst.images container's (``FMTVER`` and ``DATAMODL``)."""
    return "FMTVER" in primary_header and bool(primary_header.get("DATAMODL"))


def data_model(primary_header) -> str | None:
    """The object type of an lsst.images file: the schema name in ``DATAMODL`` without its version
    (``masked_image``, ``visit_image``, ``cell_coadd``, ...); None for other files."""
    if not is_container(primary_header):
        return None
    name = str(primary_header["DATAMODL"]).strip().rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit("-", 1)[0] or None


def tree_table(path: str, primary_header, read_bytes) -> bytes:
    """The bytes of the ``JSON`` table (its header and data) of an lsst.images file, in one read at
    ``JSONADDR`` (``read_bytes(offset, size)`` reads the file); DataError without valid pointers."""
    try:
        offset, size = int(primary_header["JSONADDR"]), int(primary_header["JSONSIZE"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path}: an lsst.images file without a valid JSONADDR/JSONSIZE",
                        "the file may be damaged: write it again") from None
    return read_bytes(offset, size)


def read_tree(path: str, primary_header, table: bytes) -> dict:
    """The object tree (row 0) of the ``JSON`` table bytes ``table`` (:func:`tree_table`); DataError
    when the table is not what the format says."""
    try:
        return json.loads(_first_row(table))
    except (ValueError, KeyError, IndexError) as err:
        raise DataError(f"{path}: cannot read its lsst.images JSON tree at byte {primary_header.get('JSONADDR')}: "
                        f"{first_line(err)}", "the file may be truncated or damaged: copy it again") from None


def _first_row(raw: bytes) -> bytes:
    """The bytes of row 0, column 1 (a ``P``/``Q`` variable-length byte array) of the binary table whose
    header starts ``raw``."""
    cards, end = {}, None
    for start in range(0, len(raw) - CARD + 1, CARD):
        card = raw[start:start + CARD].decode("ascii", "replace")
        name = card[:8].strip()
        if name == "END":
            end = start + CARD
            break
        if card[8:10] == "= ":
            cards[name] = card[10:].split("/", 1)[0].strip().strip("'").strip()
    if end is None or cards.get("XTENSION") != "BINTABLE" or cards.get("EXTNAME") != "JSON":
        raise ValueError("no JSON binary table there")
    data = -(-end // BLOCK) * BLOCK
    width, heap = int(cards["NAXIS1"]), int(cards.get("THEAP", int(cards["NAXIS1"]) * int(cards["NAXIS2"])))
    form = cards["TFORM1"].upper()
    kind = ">i8" if "Q" in form else ">i4"
    count, at = (int(v) for v in np.frombuffer(raw, dtype=kind, count=2, offset=data))
    if width < 2 * np.dtype(kind).itemsize or data + heap + at + count > len(raw):
        raise ValueError("its first row lies outside the table")
    return raw[data + heap + at:data + heap + at + count]


@dataclass(frozen=True)
class ProjectionText:
    """The sky projection of an lsst.images file as stored: ``exact`` (AST text of the mapping from
    PARENT pixels to ICRS radians) and ``approximation`` (the same for the FITS approximation the header
    WCS holds, or None when the header WCS is exact or absent)."""

    exact: str
    approximation: str | None


def sky_projection(tree: dict, path: str) -> ProjectionText | None:
    """The sky projection of a file's object tree (its top-level ``sky_projection``), or None when the
    object has none.  DataError for a projection cutout cannot read (a mapping stored by reference)."""
    node = tree.get("sky_projection")
    if not isinstance(node, dict) or "pixel_to_sky" not in node:
        return None
    exact = _mapping_text(node["pixel_to_sky"], path)
    approximation = node.get("fits_approximation")
    if isinstance(approximation, dict) and "pixel_to_sky" in approximation:
        approximation = approximation["pixel_to_sky"]
    return ProjectionText(exact, _mapping_text(approximation, path) if isinstance(approximation, dict) else None)


def _mapping_text(transform: dict, path: str) -> str:
    """The AST text of a serialized transform with one inline mapping (``mappings[0].ast``)."""
    mappings = transform.get("mappings") or []
    texts = [m.get("ast") for m in mappings if isinstance(m, dict)]
    if len(mappings) != 1 or not isinstance(texts[0] if texts else None, str):
        raise DataError(f"{path}: its sky projection is stored as {len(mappings)} mapping(s) by reference",
                        "cutout reads projections stored inline (one AST mapping)")
    return texts[0]
