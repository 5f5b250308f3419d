"""Cutouts that do not fit in one patch: assembled, never resampled.

All patches of a tract share the tract's pixel grid, so a box crossing patch
boundaries is filled by copying pixels.  The rule, pixel by pixel:

1. A pixel's *owner* is the patch whose inner box holds it (inner boxes tile
   the tract, so every pixel has exactly one owner; past the tract edge the
   owner is the edge patch whose inner box, stretched outwards, holds it:
   :func:`home_region`).  When the owner's file is present and its outer box
   holds the pixel, the pixel comes from the owner, whatever other files
   hold it in their borders.
2. Only where the owner's file is absent does a neighbour's border fill the
   pixel: the present file whose outer box holds it, edge-adjacent
   neighbours (patch grid distance 1) before diagonal ones (distance 2),
   then the lower sequential patch index.
3. A pixel no present file holds is NaN (IMAGE, VARIANCE) / NO_DATA (MASK).

A box crossing a tract boundary is taken from a tract whose bbox holds it
whole (tracts overlap); if none does, from the tract holding most of it, the
rest NO_DATA.

Boxes are PARENT (tract) pixels; begin inclusive, end exclusive.
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np

from ..errors import CutoutError, NotFoundError
from ..fits.mask_schema import plane_bit
from ..sky.box import Box, check_pixel_count, sky_box
from .cutout import Cutout
from .extract import STRICT_HINT, extract
from .options import ReadOptions

__all__ = ["assemble", "box_covered", "choose_tract", "contributing_patches", "covered_by_present", "home_region", "present_outer_boxes",
           "patches_touching"]


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

    Each pixel is copied from the patch whose inner region holds it; only
    where that patch's file is absent is it taken from a neighbour's border
    (edge-adjacent neighbours first, then diagonal ones, then by patch
    index); the rest is NaN / NO_DATA (the module's rule).
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
    cutout.provenance.update(complete=complete, mode=options.mode)  # the pieces are read strict
    cutout.primary_header = cutout.primary_header.updated({"CUTFULL": (complete, "box wholly covered by the sources"),
                                                           "CUTMODE": (options.mode, "partial: outside pixels NaN/NO_DATA")})
    return cutout


def _pieces(source, tract, box: Box, band: str, dataset_type: str | None) -> list[tuple[object, Box]]:
    """``(ref, region)`` to copy, in the order of the module's rule (earlier pieces win a pixel).

    First the region of every owner whose file is present (these regions do not overlap); then,
    for each owner whose file is absent, the parts of its region that present files hold in their
    borders: edge-adjacent neighbours first, then diagonal ones, each group by patch index.
    """
    find = _finder(source, dataset_type, band)
    pieces, absent, missing = [], [], []
    for patch, region in contributing_patches(tract, box):
        ref = find(patch)
        if ref is None:
            missing.append(source.expected_path(dataset_type, patch, band))
            absent.append((patch, box.intersection(home_region(tract, patch))))
        else:
            pieces.append((ref, region))
    if absent:
        present = [(patch, ref) for patch in patches_touching(tract, box) if (ref := find(patch)) is not None]
        for owner, region in absent:
            for patch, ref in sorted(present, key=lambda item: (_grid_distance(item[0], owner), item[0].index)):
                part = region.intersection(patch.outer)
                if not part.is_empty:
                    pieces.append((ref, part))
    if not pieces:
        raise NotFoundError(f"no {dataset_type or source.default_dataset_type()} in band {band} covers box {box} "
                            f"of tract {tract.id}", f"expected e.g. {missing[0]}" if missing else None)
    return pieces


def _finder(source, dataset_type: str | None, band: str):
    """``find(patch)``: the patch's dataset or None, each patch looked up once (remotely a request)."""
    found = {}

    def find(patch):
        if patch.index not in found:
            found[patch.index] = source.find(dataset_type, patch, band)
        return found[patch.index]
    return find


def _grid_distance(patch, other) -> int:
    """Steps between two patches on the patch grid: 1 for edge-adjacent, 2 for diagonal neighbours."""
    return abs(patch.x - other.x) + abs(patch.y - other.y)


def patches_touching(tract, box: Box):
    """Patches of ``tract`` whose outer box intersects ``box`` (PARENT pixels), in patch index order."""
    border = tract.patch_border
    nx, ny = tract.num_patches
    pw, ph = tract.patch_inner_dimensions
    for py in range(max(0, (box.begin_y - border) // ph), min(ny, (box.max_y + border) // ph + 1)):
        for px in range(max(0, (box.begin_x - border) // pw), min(nx, (box.max_x + border) // pw + 1)):
            patch = tract.patch((px, py))
            if not box.intersection(patch.outer).is_empty:
                yield patch


def box_covered(box: Box, boxes) -> bool:
    """Whether the union of ``boxes`` holds every pixel of ``box`` (all PARENT pixels, begin
    inclusive, end exclusive); an empty ``box`` is covered."""
    parts = [part for part in (other.intersection(box) for other in boxes) if not part.is_empty]
    xs = sorted({box.begin_x, box.end_x, *(p.begin_x for p in parts), *(p.end_x for p in parts)})
    ys = sorted({box.begin_y, box.end_y, *(p.begin_y for p in parts), *(p.end_y for p in parts)})
    for y0, y1 in zip(ys, ys[1:]):  # the cells between the boxes' edges: each wholly in or out of every box
        for x0, x1 in zip(xs, xs[1:]):
            if not any(p.begin_x <= x0 and x1 <= p.end_x and p.begin_y <= y0 and y1 <= p.end_y for p in parts):
                return False
    return True


def present_outer_boxes(source, tract, box: Box, band: str, dataset_type: str | None = None) -> list[Box]:
    """The outer boxes (PARENT pixels of ``tract``) of the files present in ``source``
    (``find(dataset_type, patch, band)``) among the patches whose outer box meets ``box``."""
    find = _finder(source, dataset_type, band)
    return [ref.outer for patch in patches_touching(tract, box) if (ref := find(patch)) is not None]


def covered_by_present(source, tract, box: Box, band: str, dataset_type: str | None = None) -> bool:
    """Whether the files present in ``source`` together hold every pixel of ``box`` (PARENT pixels of
    ``tract``) in their outer boxes."""
    return box_covered(box, present_outer_boxes(source, tract, box, band, dataset_type))


def _paste(source, pieces, box: Box, planes, provenance: dict):
    """Copy the pieces in order, a pixel taken by the first piece holding it; each file is opened
    once.  Returns (cutout, boolean coverage array)."""
    result = None
    covered = np.zeros(box.shape, bool)
    sources, handles = [], {}
    with ExitStack() as stack:
        for ref, region in pieces:
            rows, cols = region.slices((box.begin_x, box.begin_y))
            todo = ~covered[rows, cols]
            if not todo.any():
                continue
            if ref not in handles:
                handles[ref] = stack.enter_context(source.deferred(ref))
                sources.append(ref)
            handle = handles[ref]
            part = handle.get(region, planes=planes, mode="strict", max_pixels=box.width * box.height)
            if result is None:
                result = _empty_like(handle.file, part, box, provenance)
            _copy_into(result, part, rows, cols, todo)
            covered[rows, cols] = True
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
    """Re-express mask bits by plane name, afw's or lsst.images' (``SAT`` is ``SATURATED``: planes unknown
    to ``target`` are dropped), in ``target``'s dtype."""
    out = np.zeros(mask.shape, dtype=np.int64 if max(target.values(), default=0) > 30 else np.int32)
    for name, bit in source.items():
        target_bit = plane_bit(target, name)
        if target_bit is not None:
            out |= ((mask >> bit) & 1).astype(out.dtype) << target_bit
    return out
