"""Execute a batch plan: one task per coadd file, each opening its file once.

A task writes its cutouts (FITS, optionally PNG) and returns only manifest
rows and, for the grid, small preview arrays.  A failure of one target is
recorded in its row and never stops the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..cutout import extract
from ..errors import CutoutError
from ..reader import CoaddFile
from .manifest import manifest_row


@dataclass(frozen=True)
class Outputs:
    """Where and what to write for each target."""

    out_dir: str
    planes: tuple[str, ...]
    png: bool = False
    mode: str = "partial"
    overwrite: bool = False
    stretch: str = "asinh"
    skymap: str = ""

    def paths(self, target) -> tuple[str, str]:
        stem = f"{target.file_stem}_{target.band}"
        return os.path.join(self.out_dir, stem + ".fits"), os.path.join(self.out_dir, stem + ".png")


def run_task(task, outputs: Outputs, previews: set[int] | None = None) -> tuple[list[dict], dict]:
    """Cut every target of one task; return (manifest rows, {row: preview image})."""
    ref = task.ref
    rows, images = [], {}
    try:
        coadd = CoaddFile(ref.path)
    except CutoutError as err:
        return [manifest_row(c.target, "error", message=str(err), tract=ref.tract, patch=ref.patch)
                for c in task.cuts], {}
    with coadd:
        for cut in task.cuts:
            target = cut.target
            fits_path, png_path = outputs.paths(target)
            done = os.path.exists(fits_path) and (not outputs.png or os.path.exists(png_path))
            if done and not outputs.overwrite:
                rows.append(manifest_row(target, "skipped", fits_path, "output exists (use --overwrite to redo)",
                                         ref.tract, ref.patch))
                if previews is not None and target.row in previews:
                    images[target.row] = _read_preview(fits_path)
                continue
            try:
                cutout = extract(coadd, cut.box, outputs.planes, outputs.mode, {
                    "dataset_type": ref.dataset_type, "tract": ref.tract, "patch": ref.patch, "band": ref.band,
                    "skymap": outputs.skymap, "id": target.id, "ra": target.ra, "dec": target.dec,
                    "size": str(target.size)})
                cutout.writeto(fits_path, overwrite=outputs.overwrite)
                if outputs.png:
                    cutout.to_png(png_path, stretch=outputs.stretch, overwrite=outputs.overwrite)
                message = "" if cutout.provenance["complete"] else "box extends beyond the coadd: NaN / NO_DATA filled"
                rows.append(manifest_row(target, "ok", fits_path, message, ref.tract, ref.patch))
                if previews is not None and target.row in previews and cutout.image is not None:
                    images[target.row] = cutout.image
            except CutoutError as err:
                rows.append(manifest_row(target, "error", "", str(err), ref.tract, ref.patch))
    return rows, images


def _read_preview(path):
    """IMAGE plane of an existing cutout, for the grid (None if unreadable)."""
    try:
        with CoaddFile(path) as existing:
            return existing.read("IMAGE", existing.bbox)
    except CutoutError:
        return None
