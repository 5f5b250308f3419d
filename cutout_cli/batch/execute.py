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

from ..errors import CutoutError, NoSpaceError, RemoteError, python_spelling
from ..fits.coadd import CoaddFile
from ..fits.threads import one_thread
from ..sky.box import Box
from ..writers.paths import band_file
from .done import MISSING, Found, Wanted, check_outputs
from .manifest import ERROR, OK, PENDING, SKIPPED
from .options import CutoutOutputs, RemoteReading
from .remote_read import task_handle


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

    def wanted(self, task, i: int) -> Wanted:
        """What this run asks of the task's ``i``-th target's outputs."""
        settings = self.cutouts
        return Wanted(str(task.ids[i]), float(task.ra[i]), float(task.dec[i]), str(task.sizes[i]), task.bands[i],
                      settings.planes, settings.mode, settings.output_format,
                      settings.picture if settings.png else None)

    def found(self, task, i: int) -> Found:
        """The state of the outputs of the task's ``i``-th target (:mod:`.done`); nothing is done with
        ``overwrite`` or a single file (every cutout is made again)."""
        if self.keep_cutouts or self.cutouts.overwrite:
            return Found(MISSING, MISSING)
        band = task.bands[i]
        return check_outputs(self.fits_path(task.stems[i], band), self.png_path(task.stems[i], band),
                             self.wanted(task, i))


@dataclass
class TaskResult:
    """What a task sends back: per-row status and message, previews, kept cutouts, and ``stop``: the
    message of an error after which the batch stops (disk full), with the rows not reached left
    pending."""

    rows: np.ndarray
    status: np.ndarray
    messages: dict = field(default_factory=dict)
    previews: dict = field(default_factory=dict)
    cutouts: list = field(default_factory=list)
    stop: NoSpaceError | None = None


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
        return handle.get(boxes[i], options=read, provenance=_request(task, i, read.planes))
    return handle, cut


def _assembler(task, outputs: Outputs):
    """Cut function for targets whose boxes need several patches (one repository per task)."""
    repo = task.locator.open()  # the batch's repository, with the same storage options
    read = outputs.cutouts.read

    def cut(i):
        return repo.cutout(float(task.ra[i]), float(task.dec[i]), task.sizes[i], task.bands[i],
                           dataset_type=task.dataset_type, options=read, provenance=_request(task, i, read.planes))
    return cut


def _cut_all(task, cut, handle, outputs: Outputs, result: TaskResult) -> None:
    for i, row in enumerate(task.rows):
        row = int(row)
        try:
            result.status[i] = _cut_one(task, i, row, cut, outputs, result)
        except NoSpaceError as err:  # every later output would fail alike: the batch stops
            result.messages[row] = err.describe(outputs.spell)
            result.status[i + 1:] = PENDING
            result.stop = err
            break
        except CutoutError as err:
            message = err.describe(outputs.spell)
            # storage refusing, or a coadd that cannot be opened: the other rows would fail alike
            if isinstance(err, RemoteError) or (handle is not None and not handle.is_open):
                for later in task.rows[i:]:
                    result.messages[int(later)] = message
                break
            result.messages[row] = message


def _request(task, i: int, planes) -> dict:
    """What a cutout's primary header records of its request (:mod:`.done` reads it back)."""
    return {"id": task.ids[i], "ra": float(task.ra[i]), "dec": float(task.dec[i]), "size": task.sizes[i],
            "requested_planes": ",".join(planes)}


def _cut_one(task, i: int, row: int, cut, outputs: Outputs, result: TaskResult) -> int:
    """Cut the ``i``-th target if its outputs are not done and write those that are not (a complete
    output that records the request is never rewritten)."""
    band = task.bands[i]
    fits_path, png_path = outputs.fits_path(task.stems[i], band), outputs.png_path(task.stems[i], band)
    found = outputs.found(task, i)
    if found.done:
        if row in outputs.preview_rows:
            result.previews[row] = _read_preview(fits_path)
        return SKIPPED
    cutout = cut(i)
    settings = outputs.cutouts
    notes = [f"replaced: {found.reason}"] if found.reason else []
    if outputs.keep_cutouts:
        result.cutouts.append((row, cutout))
    else:
        # what is there but not done is the tool's to replace (incomplete, or another request)
        if not found.fits_done:
            cutout.writeto(fits_path, overwrite=settings.overwrite or found.fits != MISSING,
                           format=settings.output_format)
        if settings.png and not found.png_done:
            cutout.to_png(png_path, stretch=settings.stretch, limits=settings.limits, softening=settings.softening,
                          overwrite=settings.overwrite or found.png != MISSING, request=outputs.wanted(task, i).text)
    if not cutout.provenance["complete"]:
        notes.append("box extends beyond the coadd: NaN / NO_DATA filled")
    if notes:
        result.messages[row] = "; ".join(notes)
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
