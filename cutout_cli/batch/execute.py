"""Run one batch task: cut every target of one coadd file (in a worker process).

A task opens its file at most once (not at all when every target is already
done), writes each cutout atomically (temporary name, then rename), and
returns only a :class:`TaskResult`: statuses, messages and, for the grid, a
few small previews (IMAGE array and WCS).  One target's failure never stops the others.
Tasks of boxes that need several patches reopen the repository from the
plan's locator (``task.locator.open()``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import CutoutError, RemoteError, python_spelling
from ..fits.coadd import CoaddFile
from ..fits.threads import one_thread
from ..sky.box import Box
from ..writers.paths import band_file
from .manifest import ERROR, OK, SKIPPED
from .options import CutoutOutputs, RemoteReading
from .remote_read import task_handle

FITS_BLOCK = 2880


@dataclass(frozen=True)
class Outputs:
    """What every task of a batch writes for each target, and where (small and picklable: sent with
    each task)."""

    out_dir: str
    cutouts: CutoutOutputs = field(default_factory=CutoutOutputs)
    remote_reading: RemoteReading = field(default_factory=RemoteReading)
    skymap: str = ""
    keep_cutouts: bool = False  # return cutouts to the caller (single-file output) instead of writing them
    preview_rows: frozenset = frozenset()
    remote: object = None  # RemoteOptions for coadds given by URL
    spell: object = python_spelling  # how messages name options

    def fits_path(self, stem: str, band: str) -> str:
        return band_file(os.path.join(self.out_dir, stem), band, ".fits")

    def png_path(self, stem: str, band: str) -> str:
        return band_file(os.path.join(self.out_dir, stem), band, ".png")

    def is_done(self, stem: str, band: str) -> bool:
        """The target's outputs exist and are complete, so a rerun skips it (never with overwrite)."""
        if self.keep_cutouts or self.cutouts.overwrite:
            return False
        return is_complete_fits(self.fits_path(stem, band)) and (
            not self.cutouts.png or os.path.exists(self.png_path(stem, band)))


@dataclass
class TaskResult:
    """What a task sends back: per-row status and message, previews, kept cutouts."""

    rows: np.ndarray
    status: np.ndarray
    messages: dict = field(default_factory=dict)
    previews: dict = field(default_factory=dict)
    cutouts: list = field(default_factory=list)


def is_complete_fits(path: str) -> bool:
    """A finished output: outputs are renamed into place only when complete, and FITS is whole blocks."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    return size > 0 and size % FITS_BLOCK == 0


def prepare_worker() -> None:
    """Import what :func:`run_task` needs (fitsio, astropy's codecs, the writers): a new worker
    process does it while the batch is still being planned."""
    from ..cutouts.extract import extract  # noqa: F401  (reader, fitsio)
    from ..fits.tiles.codecs import can_decode
    from ..writers.fits import write_exposure  # noqa: F401

    can_decode("RICE_1")  # loads the RICE_1 decoder (cutout's own, else astropy's compression module)


def run_task(task, outputs: Outputs) -> TaskResult:
    """Cut, write and report every target of ``task``."""
    result = TaskResult(task.rows, np.full(len(task.rows), ERROR, np.uint8))
    handle = None
    if task.ref is None:
        cut = _assembler(task, outputs)
    else:
        handle, cut = _file_cutter(task, outputs)
    try:
        with one_thread():  # a task runs on one core: workers (processes, Dask) use the others
            _cut_all(task, cut, handle, outputs, result)
    finally:
        if handle is not None:
            handle.close()
    return result


def _file_cutter(task, outputs: Outputs):
    """The handle on the task's coadd (not opened yet) and the function cutting the task's ``i``-th box."""
    ref = task.ref
    handle = task_handle(task, ref.provenance(outputs.skymap), outputs)
    boxes = [Box(*(int(v) for v in box)) for box in task.boxes]
    read = outputs.cutouts.read
    handle.expect(boxes, read.planes)

    def cut(i):
        return handle.get(boxes[i], options=read, provenance=_request(task, i))
    return handle, cut


def _assembler(task, outputs: Outputs):
    """Cut function for targets whose boxes need several patches (one repository per task)."""
    repo = task.locator.open()  # the batch's repository, with the same storage options
    read = outputs.cutouts.read

    def cut(i):
        return repo.cutout(float(task.ra[i]), float(task.dec[i]), task.sizes[i], task.bands[i],
                           dataset_type=task.dataset_type, options=read, provenance=_request(task, i))
    return cut


def _cut_all(task, cut, handle, outputs: Outputs, result: TaskResult) -> None:
    for i, row in enumerate(task.rows):
        row = int(row)
        try:
            result.status[i] = _cut_one(task, i, row, cut, outputs, result)
        except CutoutError as err:
            message = err.describe(outputs.spell)
            # storage refusing, or a coadd that cannot be opened: the other rows would fail alike
            if isinstance(err, RemoteError) or (handle is not None and not handle.is_open):
                for later in task.rows[i:]:
                    result.messages[int(later)] = message
                break
            result.messages[row] = message


def _request(task, i: int) -> dict:
    return {"id": task.ids[i], "ra": float(task.ra[i]), "dec": float(task.dec[i]), "size": task.sizes[i]}


def _cut_one(task, i: int, row: int, cut, outputs: Outputs, result: TaskResult) -> int:
    band = task.bands[i]
    fits_path, png_path = outputs.fits_path(task.stems[i], band), outputs.png_path(task.stems[i], band)
    if outputs.is_done(task.stems[i], band):
        if row in outputs.preview_rows:
            result.previews[row] = _read_preview(fits_path)
        return SKIPPED
    cutout = cut(i)
    settings = outputs.cutouts
    if outputs.keep_cutouts:
        result.cutouts.append((row, cutout))
    else:
        cutout.writeto(fits_path, overwrite=settings.overwrite, format=settings.output_format)
        if settings.png:
            cutout.to_png(png_path, stretch=settings.stretch, overwrite=settings.overwrite)
    if not cutout.provenance["complete"]:
        result.messages[row] = "box extends beyond the coadd: NaN / NO_DATA filled"
    if row in outputs.preview_rows and cutout.image is not None:
        result.previews[row] = (cutout.image, cutout.wcs)  # the grid turns it north up from its WCS
    return OK


def read_picture_source(path) -> tuple:
    """The IMAGE plane of a written cutout and its celestial WCS (pixel origin 0 at the array's first
    pixel), to draw it north up (grid panels, colour pictures)."""
    with CoaddFile(path) as existing:
        return existing.read("IMAGE", existing.bbox), existing.wcs


def _read_preview(path):
    """(IMAGE plane, WCS) of an existing cutout, for the grid (None if unreadable)."""
    try:
        return read_picture_source(path)
    except CutoutError:
        return None
