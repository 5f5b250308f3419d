"""Run a whole batch: read targets, plan, execute the tasks, write manifest and grid.

Used by ``cutout batch`` and :meth:`cutout_cli.repo.Repository.batch` alike.
Cron-safe: one run per output directory at a time (a lock), temporary files
of a killed run are removed, finished targets are skipped on a rerun, and
every file (cutouts, manifest, grid) appears under its name only when complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..geometry import DEFAULT_MAX_PIXELS
from ..errors import InputError, OutputError
from ..reader import PLANES
from .execute import Outputs, prepare_worker, run_task
from .executors import open_executor, run_bounded, serial_place
from .lock import DirectoryLock, remove_stale_temporaries
from .manifest import ERROR, STATUS_NAMES, manifest_records, write_manifest
from .plan import DEFAULT_CHUNK, plan_batch
from .targets import StemNamer, read_targets


@dataclass
class BatchResult:
    """What a batch did."""

    plan: object
    manifest: str | None
    grid: str | None
    counts: dict
    where: str = ""
    path_of: object = None

    @property
    def failed(self) -> int:
        return self.counts.get("no_data", 0) + self.counts.get("error", 0)

    @property
    def rows(self) -> list[dict]:
        """Manifest rows (dicts), in target-list order."""
        return list(manifest_records(self.plan, self.path_of))


def run_batch(repo, targets, out_dir, size=None, band: str | None = None, planes=PLANES, png: bool = False,
              mode: str = "partial", overwrite: bool = False, stretch: str = "asinh",
              dataset_type: str | None = None, grid=None, grid_max: int = 100, grid_title: str | None = None,
              progress=None, jobs: int = 1, scheduler: str | None = None, scheduler_file: str | None = None,
              single_file=None, dry_run: bool = False, chunk: int = DEFAULT_CHUNK,
              max_pixels: int = DEFAULT_MAX_PIXELS, rgb: bool = False, remote_read: str = "auto",
              download_threshold: int = 0, scratch_dir=None) -> BatchResult:
    """Cut every target; write ``out_dir/manifest.csv`` and optionally a grid PNG.

    Parameters
    ----------
    repo : Repository
    targets : path or iterable of mappings
        Columns id, ra, dec (+ size, band); see :func:`cutout_cli.batch.targets.read_targets`.
    out_dir : path-like
        Created if missing; cutouts are ``<id>_<band>.fits`` (and ``.png``).
    size, band
        Defaults for rows without ``size``/``band`` values (``size`` a ``Size`` or text).
    jobs, scheduler, scheduler_file
        Local worker processes, or a Dask scheduler address / scheduler file.
        The workers start before the targets are read (so none holds the plan);
        a plan of one task then runs here, and they stay idle.
    single_file : path-like, optional
        Write all cutouts into this one FITS file instead of one file per target.
    rgb : bool
        With two or three bands per target (``band="g,r,i"``, bluest first),
        also write ``<id>_rgb.png`` colour composites (the grid then shows them).
    dry_run : bool
        Plan only: no pixels read, nothing written.
    progress : callable, optional
        ``progress(done, total)`` after each task (``done`` = targets just finished).
    remote_read : {"auto", "ranged", "download"}
        For a remote repository: read the tiles under the boxes (ranged), or
        download each coadd to ``scratch_dir`` (default ``out_dir``) and cut it
        locally; ``auto`` downloads for tasks with at least ``download_threshold``
        targets to cut (0: :data:`cutout_cli.remote.DOWNLOAD_THRESHOLD`, or
        ``$CUTOUT_DOWNLOAD_THRESHOLD``).
    """
    from ..coords import Size, parse_size
    from ..remote import REMOTE_READ_MODES

    if remote_read not in REMOTE_READ_MODES:
        raise InputError(f"unknown remote-read mode {remote_read!r}", f"use {', '.join(REMOTE_READ_MODES)}")

    default_size = size if size is None or isinstance(size, Size) else parse_size(size)
    if dry_run:
        plan = plan_batch(repo, read_targets(targets, default_size, band), dataset_type)
        return BatchResult(plan, None, None, _counts(plan))
    # what planning and tasks import is imported before local workers are forked, which then inherit
    # it instead of importing it again; they start before the targets are read, so none holds the plan
    import astropy.wcs  # noqa: F401  (the tracts' WCS, for planning)

    prepare_worker()
    with open_executor(jobs, scheduler, scheduler_file, prepare_worker) as place:
        table = read_targets(targets, default_size, band)
        plan = plan_batch(repo, table, dataset_type)
        if plan.num_tasks(chunk) <= 1 and not (scheduler or scheduler_file):
            place = serial_place()  # one task: no pickling, no worker
        out_dir = os.fspath(out_dir)
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create output directory {out_dir}: {err.strerror}") from None
        if grid:
            from ..writers.atomic import check_writable

            check_writable(grid, overwrite)
        with DirectoryLock(out_dir):
            remove_stale_temporaries(out_dir)
            namer = StemNamer(table)
            preview_rows = frozenset(range(min(grid_max, len(table)))) if grid else frozenset()
            outputs = Outputs(out_dir, tuple(planes), png, mode, overwrite, stretch, repo.skymap.name,
                              keep_cutouts=single_file is not None, preview_rows=preview_rows, max_pixels=max_pixels,
                              remote=getattr(repo, "remote", None), remote_read=remote_read,
                              download_threshold=download_threshold,
                              scratch_dir=os.fspath(scratch_dir) if scratch_dir else None)
            writer = _single_file_writer(single_file, overwrite)

            def path_of(row):
                if single_file is not None:
                    return os.fspath(single_file)
                return outputs.fits_path(namer(row), table.band_of(row))

            previews = {}
            try:
                if progress:
                    progress(len(table) - plan.num_planned, len(table))
                tasks = plan.tasks(namer, chunk, place.workers)
                for task, result, error in run_bounded(place.executor, run_task, tasks, place.in_flight, outputs):
                    _record(plan, task, result, error, previews, writer)
                    if progress:
                        progress(len(task.rows), len(table))
            except BaseException as err:
                if writer is not None:
                    writer.abort(err)
                raise
            manifest = os.path.join(out_dir, "manifest.csv")
            write_manifest(manifest, plan, path_of)
            if writer is not None:
                writer.finish(plan, path_of)
            if rgb:
                previews, preview_rows = _write_rgb(plan, outputs, namer, overwrite, grid_max if grid else 0)
            if grid:
                _write_grid(grid, table, previews, preview_rows, overwrite, grid_title)
        return BatchResult(plan, manifest, os.fspath(grid) if grid else None, _counts(plan), place.description, path_of)


def _single_file_writer(single_file, overwrite):
    if single_file is None:
        return None
    from .single import SingleFileWriter

    return SingleFileWriter(single_file, overwrite)


def _record(plan, task, result, error, previews, writer) -> None:
    """Fold one task's result (or failure) into the plan's status arrays."""
    if error is not None:
        plan.mark(task.rows, ERROR, f"task failed: {type(error).__name__}: {error}".splitlines()[0])
        return
    for row, status in zip(result.rows, result.status):
        plan.mark(int(row), int(status), result.messages.get(int(row), ""))
    previews.update(result.previews)
    for row, cutout in result.cutouts:
        writer.add(row, cutout)


def _write_grid(grid, table, previews, preview_rows, overwrite, title) -> None:
    from ..writers.grid import write_grid

    panels = [(table.ids[r], previews.get(r)) for r in sorted(preview_rows)]
    full_title = f"{title}: {len(panels)} targets" if title else f"{len(panels)} targets"
    write_grid(grid, panels, overwrite=overwrite, title=full_title)


def _counts(plan) -> dict:
    import numpy as np

    found = np.bincount(plan.status, minlength=len(STATUS_NAMES))
    return {name: int(found[code]) for code, name in enumerate(STATUS_NAMES) if name != "pending"}


def _write_rgb(plan, outputs, namer, overwrite: bool, previews_wanted: int) -> dict:
    """``<stem>_rgb.png`` for every target whose two or three band cutouts exist.

    Returns the grid's previews (``{row: rgb array}``) and panel rows (the
    first row of each of the first ``previews_wanted`` targets).
    """
    import numpy as np

    from ..errors import CutoutError
    from ..reader import CoaddFile
    from ..writers.rgb import rgb_array, write_rgb
    from .manifest import SUCCESS

    table = plan.table
    order = np.argsort(table.target, kind="stable")
    starts = np.flatnonzero(np.diff(table.target[order], prepend=-1))
    previews, preview_rows = {}, set()
    for members in np.split(order, starts[1:]):
        if len(preview_rows) < previews_wanted:
            preview_rows.add(int(members[0]))  # a panel per target; "no data" unless its picture is made
        if not 2 <= len(members) <= 3 or not all(int(plan.status[r]) in SUCCESS for r in members):
            continue
        path = os.path.join(outputs.out_dir, f"{namer(int(members[0]))}_rgb.png")
        try:
            images = []
            for row in members:
                with CoaddFile(outputs.fits_path(namer(int(row)), table.band_of(int(row)))) as cut:
                    images.append(cut.read("IMAGE", cut.bbox))
            if len(images) == 2:
                images.insert(1, (images[0] + images[1]) / 2)
            if overwrite or not os.path.exists(path):
                write_rgb(path, *images, overwrite=overwrite)
            if int(members[0]) in preview_rows:
                previews[int(members[0])] = rgb_array(*images)
        except CutoutError as err:
            plan.mark(members, ERROR, f"colour picture failed: {err}")
    return previews, frozenset(preview_rows)
