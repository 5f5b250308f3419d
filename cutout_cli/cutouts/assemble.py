"""Cutouts that do not fit in one patch: assembled, never resampled.

All patches of a tract share the tract's pixel grid, so a box crossing patch
boundaries is filled by copying pixels: each pixel comes from the patch whose
*inner* box holds it (inner boxes tile the tract, so every pixel has exactly
one home); pixels beyond the tract's inner boxes (past the tract edge) come
from an edge patch's outer border when a file covers them, else are NaN /
NO_DATA.  A box crossing a tract boundary is taken from a tract whose bbox
holds it whole (tracts overlap); if none does, from the tract holding most of
it, the rest NO_DATA.

Boxes are PARENT (tract) pixels; begin inclusive, end exclusive.
"""

from __future__ import annotations

import numpy as np

from ..errors import CutoutError, NotFoundError
from ..sky.box import Box, check_pixel_count, sky_box
from .cutout import Cutout
from .extract import STRICT_HINT, extract
from .options import ReadOptions

__all__ = ["assemble", "choose_tract", "contributing_patches", "home_region"]


_FAR = 1 << 40


def home_region(tract, patch) -> Box:
    """Pixels whose home is ``patch``: its inner box, stretched to infinity past the tract edge
    for edge patches (so these regions tile the whole plane without overlap)."""
    nx, ny = tract.num_patches
    inner = patch.inner
    x0 = -_FAR if patch.x == 0 else inner.begin_x
    y0 = -_FAR if patch.y == 0 else inner.begin_y
    x1 = _FAR if patch.x == nx - 1 else inner.end_x
    y1 = _FAR if patch.y == ny - 1 else inner.end_y
    return Box(x0, y0, x1 - x0, y1 - y0)


def contributing_patches(tract, box: Box) -> list[tuple[object, Box]]:
    """``(patch, region)`` pairs covering ``box``: region = ``box`` ∩ home region ∩ outer box
    (past the tract edge only an edge patch's outer border has pixels)."""
    pw, ph = tract.patch_inner_dimensions
    nx, ny = tract.num_patches

    def clamp(value, top):
        return max(0, min(top, value))

    found = []
    for py in range(clamp(box.begin_y // ph, ny - 1), clamp(box.max_y // ph, ny - 1) + 1):
        for px in range(clamp(box.begin_x // pw, nx - 1), clamp(box.max_x // pw, nx - 1) + 1):
            patch = tract.patch((px, py))
            region = box.intersection(home_region(tract, patch)).intersection(patch.outer)
            if not region.is_empty:
                found.append((patch, region))
    return found


def choose_tract(skymap, ra: float, dec: float, size) -> tuple[object, Box, float, float]:
    """The tract for a sky box: the home tract if the box fits in its bbox, else another
    overlapping tract where it fits whole, else the one holding most of it."""
    home = skymap.find_tract(ra, dec)
    candidates = [home] + [skymap.tract(t) for t in skymap.candidate_tract_ids(ra, dec) if t != home.id]
    best = None
    for tract in candidates:
        try:
            box, cx, cy = sky_box(tract, ra, dec, size)
        except CutoutError:
            continue
        if tract.bbox.contains_box(box):
            return tract, box, cx, cy
        covered = box.intersection(tract.bbox)
        area = covered.width * covered.height
        if best is None or area > best[0]:
            best = (area, tract, box, cx, cy)
    if best is None:
        raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) cannot be projected onto any tract")
    return best[1:]


def assemble(source, tract, box: Box, band: str, *, dataset_type: str | None = None,
             options: ReadOptions | None = None, provenance: dict | None = None) -> Cutout:
    """Cut ``box`` (PARENT pixels of ``tract``) from as many patches as it needs.

    ``source`` finds the patches' datasets: a repository, or anything with its
    ``find(dataset_type, patch, band)``, ``expected_path(...)``,
    ``default_dataset_type()`` and ``deferred(ref)``.

    First each pixel is copied from the patch whose inner region holds it;
    pixels still missing (a neighbour's file is absent) are then taken from
    the border of any other file that covers them; the rest is NaN / NO_DATA.
    Headers (WCS, XY0) are those a single-patch cutout would have: every
    patch of a tract shares its pixel grid.  Mask bits are translated by
    plane name when patches disagree on them.  The primary header lists every
    contributing file (``NSOURCE``, ``SRCFILEn``).
    """
    options = options or ReadOptions()
    check_pixel_count(box.width, box.height, options.max_pixels)
    pieces = _pieces(source, tract, box, band, dataset_type)
    cutout, covered = _paste(source, pieces, box, options.planes, provenance or {})
    complete = bool(covered.all())
    if options.mode == "strict" and not complete:
        raise NotFoundError(f"box {box} of tract {tract.id} is not wholly covered by band {band} coadds",
                            STRICT_HINT, options=[("mode", "partial")])
    cutout.provenance["complete"] = complete
    cutout.primary_header = cutout.primary_header.updated({"CUTFULL": (complete, "box wholly covered by the sources")})
    return cutout


def _pieces(source, tract, box: Box, band: str, dataset_type: str | None) -> list[tuple[object, Box]]:
    """``(ref, region)`` to copy, in order of preference: each home patch's region, then (when some
    patch's file is absent) the borders of the files present, which may cover what it would."""
    pieces, missing = [], []
    for patch, region in contributing_patches(tract, box):
        ref = source.find(dataset_type, patch, band)
        if ref is None:
            missing.append(source.expected_path(dataset_type, patch, band))
        else:
            pieces.append((ref, region))
    if missing:
        for patch in _patches_touching(tract, box):
            ref = source.find(dataset_type, patch, band)
            if ref is not None:
                pieces.append((ref, box.intersection(patch.outer)))
    if not pieces:
        raise NotFoundError(f"no {dataset_type or source.default_dataset_type()} in band {band} covers box {box} "
                            f"of tract {tract.id}", f"expected e.g. {missing[0]}" if missing else None)
    return pieces


def _patches_touching(tract, box: Box):
    """Patches whose outer box intersects ``box``."""
    border = tract.patch_border
    nx, ny = tract.num_patches
    pw, ph = tract.patch_inner_dimensions
    for py in range(max(0, (box.begin_y - border) // ph), min(ny, (box.max_y + border) // ph + 1)):
        for px in range(max(0, (box.begin_x - border) // pw), min(nx, (box.max_x + border) // pw + 1)):
            patch = tract.patch((px, py))
            if not box.intersection(patch.outer).is_empty:
                yield patch


def _paste(source, pieces, box: Box, planes, provenance: dict):
    """Copy the pieces, earlier pieces winning; returns (cutout, boolean coverage array)."""
    result = None
    covered = np.zeros(box.shape, bool)
    sources = []
    for ref in dict.fromkeys(ref for ref, _ in pieces):
        used = False
        with source.deferred(ref) as handle:
            for region in (r for piece_ref, r in pieces if piece_ref == ref):
                rows, cols = region.slices((box.begin_x, box.begin_y))
                todo = ~covered[rows, cols]
                if not todo.any():
                    continue
                part = handle.get(region, planes=planes, mode="strict", max_pixels=box.width * box.height)
                if result is None:
                    result = _empty_like(handle.file, part, box, provenance)
                _copy_into(result, part, rows, cols, todo)
                covered[rows, cols] = True
                used = True
        if used:
            sources.append(ref)
    result.provenance.update({"sources": [r.path for r in sources],
                              "source_ids": [f"{r.tract}/{r.patch}/{r.band}" for r in sources]})
    result.primary_header = result.primary_header.updated({
        "NSOURCE": (len(sources), "coadd files this cutout was assembled from"),
        **{f"SRCFILE{i + 1}": (r.path, f"source {r.tract}/{r.patch}/{r.band}") for i, r in enumerate(sources)},
    })
    return result, covered


def _empty_like(coadd, part: Cutout, box: Box, provenance: dict) -> Cutout:
    """A cutout of ``box`` with ``part``'s planes and headers, filled with NaN / NO_DATA."""
    options = ReadOptions(tuple(part.planes), "partial", max(1, box.width * box.height))
    template = extract(coadd, box, options, provenance={**part.provenance, **provenance})
    for name, array in template.planes.items():
        array[...] = coadd.fill_value(name)
    return template


def _copy_into(result: Cutout, part: Cutout, rows: slice, cols: slice, todo: np.ndarray) -> None:
    for name, array in part.planes.items():
        if name == "MASK" and part.mask_planes != result.mask_planes:
            array = _translate_mask(array, part.mask_planes, result.mask_planes)
        target = result.planes[name][rows, cols]
        target[todo] = array[todo]


def _translate_mask(mask: np.ndarray, source: dict, target: dict) -> np.ndarray:
    """Re-express mask bits by plane name (planes unknown to ``target`` are dropped)."""
    out = np.zeros_like(mask)
    for name, bit in source.items():
        if name in target:
            out |= ((mask >> bit) & 1).astype(mask.dtype) << target[name]
    return out
