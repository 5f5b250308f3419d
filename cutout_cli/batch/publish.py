"""Publish a batch once its tasks ran: colour pictures, the manifest, the single file, the grid.

Every file appears under its name only when complete (:mod:`cutout_cli.writers.atomic`).
Colour pictures come first, so that a target whose picture fails is an
``error`` row of the manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import CutoutError
from ..writers.grid import write_grid
from ..writers.paths import band_file
from ..writers.png import save_picture
from ..writers.rgb import COLOUR_BANDS, compose, rgb_picture
from .done import png_is_whole
from .execute import Outputs, read_picture_source
from .manifest import ERROR, OK, SUCCESS, run_request, write_manifest
from .targets import StemNamer

__all__ = ["RowPaths", "publish", "write_colour_pictures", "write_run_manifest"]

MANIFEST_NAME = "manifest.csv"
COLOUR_TAG = "rgb"  # <stem>_rgb.png


@dataclass(frozen=True)
class RowPaths:
    """Where each row's outputs are; called with a row, the path the manifest records for it."""

    outputs: Outputs
    namer: StemNamer
    single_file: str | None = None

    def __call__(self, row: int) -> str:
        return os.fspath(self.single_file) if self.single_file is not None else self.fits(row)

    def fits(self, row: int) -> str:
        return self.outputs.fits_path(self.namer(row), self.namer.table.band_of(row))

    def colour(self, row: int) -> str:
        return band_file(os.path.join(self.outputs.out_dir, self.namer(row)), COLOUR_TAG, ".png")


def publish(plan, paths: RowPaths, previews: dict, options, writer=None) -> tuple[str, str | None]:
    """Write what is made of the whole batch (``options``: :class:`~.options.BatchOptions`); returns the
    paths of the manifest and of the grid (None without one).

    The manifest, the single file and the grid are the run's own: each run that has them replaces
    them (atomically), so the same command line works on every run of a cron job.
    """
    publishing, overwrite = options.publishing, options.outputs.overwrite
    panel_rows = frozenset(range(min(publishing.grid_rows, len(plan.table))))
    if publishing.rgb:
        previews, panel_rows = write_colour_pictures(plan, paths, overwrite=overwrite, panels=publishing.grid_rows,
                                                     spell=options.spell)
    manifest = write_run_manifest(plan, paths, options)
    if writer is not None:
        writer.finish(plan, paths, run_request(options.outputs))
    if not publishing.grid:
        return manifest, None
    rows = sorted(panel_rows)
    labels = grid_labels(plan.table, rows, colour=bool(publishing.rgb))
    panels = [_panel(label, previews.get(row)) for label, row in zip(labels, rows)]
    title = grid_title(publishing.grid_title, plan.table, len(panels), colour=bool(publishing.rgb))
    drawn = options.outputs
    write_grid(publishing.grid, panels, overwrite=True, title=title, scale=publishing.grid_scale,
               stretch=drawn.stretch, limits=drawn.limits, softening=drawn.softening)
    return manifest, os.fspath(publishing.grid)


def write_run_manifest(plan, paths: RowPaths, options) -> str:
    """Write ``OUT/manifest.csv``; returns its path."""
    manifest = os.path.join(paths.outputs.out_dir, MANIFEST_NAME)
    write_manifest(manifest, plan, paths, run_request(options.outputs))
    return manifest


def grid_labels(table, rows, *, colour: bool = False) -> list[str]:
    """The grid's panel labels: the target id, then its band (``"8 r"``) when the list has several
    bands and a panel is one band's cutout (a colour picture, ``colour``, is labelled by id alone)."""
    with_band = not colour and len(set(table.bands)) > 1
    return [f"{table.ids[row]} {table.band_of(row)}" if with_band else str(table.ids[row]) for row in rows]


def grid_title(name: str | None, table, shown: int, *, colour: bool = False) -> str:
    """The grid's title: ``"NAME: 4 targets, 8 cutouts"``, and ``"; showing the first K of M cutouts"``
    (colour pictures: ``K of N targets``) when the grid has fewer panels than there are."""
    targets, cutouts = len(table.rows_by_target()), len(table)
    text = f"{targets} target{'s' * (targets != 1)}, {cutouts} cutout{'s' * (cutouts != 1)}"
    total, kind = (targets, "targets") if colour else (cutouts, "cutouts")
    if shown < total:
        text += f"; showing the first {shown} of {total} {kind}"
    return f"{name}: {text}" if name else text


def _panel(label, preview) -> tuple:
    """A grid panel: (label, image, wcs) for a cutout's (IMAGE, WCS), (label, picture) for a colour
    picture (already north up) or nothing."""
    return (label, *preview) if isinstance(preview, tuple) else (label, preview)


def write_colour_pictures(plan, paths: RowPaths, *, overwrite: bool, panels: int, spell) -> tuple[dict, frozenset]:
    """``<stem>_rgb.png`` for every target whose two or three band cutouts exist.

    Returns the grid's previews (``{row: PIL picture}``, north up) and panel rows (the
    first row of each of the first ``panels`` targets); a target whose
    picture fails becomes an error.  A picture is written when it is missing or
    incomplete, or a band of it was cut by this run (``overwrite``: always).
    """
    previews, panel_rows = {}, set()
    for members in plan.table.rows_by_target():
        first = int(members[0])
        if len(panel_rows) < panels:
            panel_rows.add(first)  # a panel per target; "no data" unless its picture is made
        if len(members) not in COLOUR_BANDS or not all(int(plan.status[r]) in SUCCESS for r in members):
            continue
        try:
            redo = overwrite or any(int(plan.status[r]) == OK for r in members)
            picture = _colour_picture(members, paths, overwrite=redo, preview=first in panel_rows)
        except CutoutError as err:
            plan.mark(members, ERROR, f"colour picture failed: {err.describe(spell)}")
            continue
        if picture is not None:
            previews[first] = picture
    return previews, frozenset(panel_rows)


def _colour_picture(rows, paths: RowPaths, *, overwrite: bool, preview: bool):
    """Write one target's colour picture, north up and east left from the first band's WCS (kept
    when it exists whole, unless ``overwrite``); the picture if ``preview``."""
    path = paths.colour(int(rows[0]))
    write = overwrite or not png_is_whole(path)
    if not (write or preview):
        return None
    sources = [read_picture_source(paths.fits(int(row))) for row in rows]
    picture = rgb_picture(*compose([image for image, _ in sources]), wcs=sources[0][1])
    if write:
        save_picture(path, picture, overwrite=True)  # the tool's own picture, missing, incomplete or stale
    return picture if preview else None
