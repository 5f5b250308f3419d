"""Run a whole batch: plan, run the tasks, publish (manifest, single file, colour pictures, grid).

Used by ``cutout batch`` and :meth:`cutout_cli.repository.Repository.batch` alike.
Cron-safe: one run per output directory at a time (a lock), temporary files
of a killed run are removed, a rerun cuts only targets whose outputs are not
done (:mod:`.done`: missing, incomplete, or of another request), and every
file (cutouts, manifest, grid) appears under its name only when complete.
A run that stops early (a signal: :mod:`.stopping`; a full disk) kills its
workers and still writes the manifest of what was done.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ..errors import CutoutError, NoSpaceError, OutputError
from ..writers.atomic import check_writable
from .execute import Outputs, prepare_worker, run_task
from .executors import open_executor, run_bounded, serial_place
from .lock import DirectoryLock, remove_stale_temporaries
from .manifest import ERROR, PENDING, count_statuses, manifest_records, run_request
from .options import BatchOptions, batch_options
from .plan import Plan, plan_batch
from .publish import RowPaths, publish, write_run_manifest
from .single import SingleFileWriter
from .stopping import Stopped
from .targets import StemNamer, read_targets

__all__ = ["BatchResult", "run_batch", "run_tasks"]


@dataclass
class BatchResult:
    """What a batch did."""

    plan: Plan
    manifest: str | None
    grid: str | None
    counts: dict
    where: str = ""
    path_of: object = None
    request: dict | None = None
    allow_no_data: bool = False

    @property
    def failed(self) -> int:
        """Rows that make the batch a partial success (exit 1): errors, and no-data rows unless allowed."""
        return (0 if self.allow_no_data else self.counts.get("no_data", 0)) + self.counts.get("error", 0)

    @property
    def rows(self) -> list[dict]:
        """Manifest rows (dicts), in target-list order."""
        return list(manifest_records(self.plan, self.path_of, self.request))


def run_batch(repo, targets, out_dir, *, dry_run: bool = False, progress=None, allow_no_data: bool = False,
              **options) -> BatchResult:
    """Cut every target; write ``out_dir/manifest.csv`` and optionally a grid PNG.

    Parameters
    ----------
    repo : Repository
        Any repository (its ``locator()`` reopens it in worker processes).
    targets : path, ``"-"`` (standard input), astropy Table or iterable of mappings
        Columns id, ra, dec (+ size, band), by name or alias; CSV, ECSV, FITS,
        VOTable, ...; see :func:`cutout_cli.batch.targets.read_targets`.
    out_dir : path-like
        Created if missing; cutouts are ``<id>_<band>.fits`` (and ``.png``).
    dry_run : bool
        Plan only: no pixels read, nothing written.
    progress : callable, optional
        ``progress(done, total)`` after each task (``done`` = targets just finished).
    allow_no_data : bool
        Rows no coadd covers are expected: :attr:`BatchResult.failed` does not count them.
    **options
        By group (:mod:`cutout_cli.batch.options`):

        * the target list: ``format_in`` (``csv``, ``ascii.ecsv``, ``fits``, ...),
          ``id_col``, ``ra_col``, ``dec_col`` (names not found as name or alias);
          rows without their own values: ``size`` (a ``Size`` or text), ``band``
          (several as ``"g,r,i"``: one cutout each), ``dataset_type``;
        * each cutout: ``planes``, ``mode``, ``max_pixels``, ``png`` (drawn with
          ``stretch``, ``limits``, ``softening``), ``overwrite`` (redo finished targets);
        * remote coadds: ``remote_read`` (``auto``, ``ranged`` or ``download``),
          ``download_threshold``, ``scratch_dir``;
        * where tasks run: ``jobs`` (local worker processes, started before the
          targets are read; a plan of one task runs here), ``scheduler`` or
          ``scheduler_file`` (a Dask cluster), ``chunk`` (targets per task);
        * the whole batch: ``single_file`` (all cutouts in one FITS file),
          ``rgb`` (``<id>_rgb.png`` of two or three bands), ``grid``,
          ``grid_max``, ``grid_title``, ``grid_scale`` (``shared`` or ``panel``);
        * ``spell``: how messages name an option (``spell(parameter, value)``;
          default the Python spelling, ``overwrite=True``).

        A rerun into ``out_dir`` cuts only the targets whose outputs are not
        done (:mod:`cutout_cli.batch.done`), replacing outputs that are
        incomplete or record another request; the manifest, the single
        file and the grid are replaced by every run.
    """
    settings = batch_options(**options)
    if dry_run:
        plan = _plan(repo, targets, settings)
        return BatchResult(plan, None, None, count_statuses(plan), allow_no_data=allow_no_data)
    # what planning and tasks import is imported before local workers are forked, which then inherit
    # it instead of importing it again; they start before the targets are read, so none holds the plan
    import astropy.wcs  # noqa: F401  (the tracts' WCS, for planning)

    prepare_worker()
    with open_executor(settings.execution, prepare=prepare_worker) as place:
        plan = _plan(repo, targets, settings)
        if plan.num_tasks(settings.execution.chunk) <= 1 and not settings.execution.on_cluster:
            place = serial_place()  # one task: no pickling, no worker
        manifest, grid, paths = _run_into(_output_directory(out_dir), repo, plan, place, settings, progress)
    return BatchResult(plan, manifest, grid, count_statuses(plan), place.description, paths,
                       run_request(settings.outputs), allow_no_data)


def _run_into(out_dir: str, repo, plan: Plan, place, settings: BatchOptions, progress):
    """Run the plan's tasks and publish, under ``out_dir``'s lock; returns the manifest's and the
    grid's paths and the :class:`RowPaths`."""
    if settings.publishing.grid:
        check_writable(settings.publishing.grid, overwrite=True)  # not a directory; its folder made
    with DirectoryLock(out_dir):
        remove_stale_temporaries(out_dir)
        outputs = _task_outputs(repo, out_dir, plan, settings)
        paths = RowPaths(outputs, StemNamer(plan.table), settings.publishing.single_file)
        with _single_file(settings) as writer:
            try:
                previews = run_tasks(plan, place, outputs, paths.namer, chunk=settings.execution.chunk,
                                     progress=progress, writer=writer)
            except (Stopped, KeyboardInterrupt, NoSpaceError) as stop:
                place.stop()
                raise _stopped(stop, plan, paths, settings) from None
            return (*publish(plan, paths, previews, settings, writer), paths)


def run_tasks(plan: Plan, place, outputs: Outputs, namer, *, chunk: int, progress=None, writer=None) -> dict:
    """Run the plan's tasks where ``place`` says, folding each result into the plan's statuses;
    returns the grid's previews (``{row: image}``)."""
    previews = {}
    total = len(plan.table)
    if progress:
        progress(total - plan.num_planned, total)
    tasks = plan.tasks(namer, chunk, place.workers)
    for task, result, error in run_bounded(place.executor, run_task, tasks, place.in_flight, outputs):
        if error is not None:
            plan.mark(task.rows, ERROR, _task_failure(error, outputs.spell))
        else:
            _record(plan, result, previews, writer)
        if progress:
            progress(len(task.rows), total)
        if result is not None and result.stop is not None:
            raise result.stop
    return previews


def _plan(repo, targets, settings: BatchOptions) -> Plan:
    defaults = settings.targets
    table = read_targets(targets, defaults.size, defaults.band, spell=settings.spell, columns=defaults.columns,
                         format_in=defaults.format_in)
    return plan_batch(repo, table, defaults.dataset_type)


def _output_directory(out_dir) -> str:
    out_dir = os.fspath(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create output directory {out_dir}: {err.strerror}") from None
    return out_dir


def _task_outputs(repo, out_dir: str, plan: Plan, settings: BatchOptions) -> Outputs:
    publishing = settings.publishing
    # the grid shows the first targets' cutouts, or their colour pictures (made after the tasks)
    preview_rows = frozenset() if publishing.rgb else frozenset(range(min(publishing.grid_rows, len(plan.table))))
    return Outputs(out_dir, settings.outputs, settings.remote_reading, skymap=repo.skymap.name,
                   keep_cutouts=publishing.single_file is not None, preview_rows=preview_rows,
                   remote=getattr(repo, "remote", None), spell=settings.spell)


def _single_file(settings: BatchOptions):
    if settings.publishing.single_file is None:
        return contextlib.nullcontext()
    return SingleFileWriter(settings.publishing.single_file)


def _stopped(stop: BaseException, plan: Plan, paths: RowPaths, settings: BatchOptions) -> BaseException:
    """Write the manifest of a run that stops early (rows not reached stay ``pending``); the error
    to raise, saying what was done."""
    why = f"the run was stopped by {stop.name}" if isinstance(stop, Stopped) else \
        "the run stopped: outputs can no longer be written (disk full)" if isinstance(stop, NoSpaceError) else "the run was interrupted"
    pending = plan.status == PENDING
    plan.mark(pending, PENDING, f"not cut: {why}; run the same command again to cut it")
    counts = count_statuses(plan)
    done = counts["ok"] + counts["skipped"]
    try:
        manifest = write_run_manifest(plan, paths, settings)
        summary = f"{done} of {len(plan.table)} targets done, manifest {manifest}"
    except OutputError as err:
        summary = f"{done} of {len(plan.table)} targets done; the manifest could not be written: {err}"
    if isinstance(stop, NoSpaceError):
        return NoSpaceError(f"{stop.message}: {summary}", "free some space and run the same command again: "
                            "finished cutouts are kept")
    if isinstance(stop, Stopped):
        stop.summary = f"{summary} (run the same command again to finish)"
    return stop


def _task_failure(error: BaseException, spell) -> str:
    """The manifest message of a task that raised (a worker crash, say)."""
    text = error.describe(spell) if isinstance(error, CutoutError) else str(error)
    return f"task failed: {type(error).__name__}: {text}".splitlines()[0]


def _record(plan: Plan, result, previews: dict, writer) -> None:
    """Fold one task's result into the plan's status arrays."""
    for row, status in zip(result.rows, result.status):
        plan.mark(int(row), int(status), result.messages.get(int(row), ""))
    previews.update(result.previews)
    for row, cutout in result.cutouts:
        writer.add(row, cutout)
