"""Writing the synthetic coadds into a repository: targets, file paths, jobs, progress.

One afw-layout coadd (docs/conventions.md, section 3) per (tract, patch, band) goes to
the path the repository's ``deep_coadd`` template gives (``repo.json``, see
docs/repositories.md).  Tract and patch numbers are the skymap's; target positions are
ICRS degrees.  Files already present are skipped unless ``overwrite``.
"""

from __future__ import annotations

import csv
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from ..repository import Repository, bundled_sample_repo
from ..writers.fits import write_exposure
from .headers import compression_plan, plane_headers, primary_header
from .render import make_patch_planes
from .scene import SceneOptions, Target, band_model, random_stream

DEFAULT_ROOT = Path(bundled_sample_repo())
DEFAULT_TRACT = 5063
DEFAULT_PATCHES = (14, 15, 23, 24, 26, 33, 36, 43)
DEFAULT_BANDS = ("r", "z")
DEFAULT_SEED = 20261125
_DATASET_TYPE = "deep_coadd"
_RUN_NAME = "sample"  # replaces a '*' (run name glob) of the dataset template


def _read_targets(path) -> list[Target]:
    """Targets from a CSV file with columns ``id``, ``ra``, ``dec`` (degrees)."""
    try:
        with open(path, newline="") as stream:
            return [Target(row["id"].strip(), float(row["ra"]), float(row["dec"])) for row in csv.DictReader(stream)]
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise DataError(f"cannot read targets from {path}: {err}", "expected columns id,ra,dec") from None


def _load_repo(root: Path, skymap):
    """(skymap, dataset template) of the repository at ``root``."""
    repo = Repository(root)
    if _DATASET_TYPE not in repo.registry.templates:
        raise DataError(f"{root / 'repo.json'} has no {_DATASET_TYPE} template")
    return skymap or repo.skymap, repo.registry.templates[_DATASET_TYPE]


def _dataset_path(root: Path, template: str, skymap_name: str, patch, band: str) -> Path:
    """Path of one coadd from the repository template (a ``*`` becomes the run name)."""
    relative = template.replace("*", _RUN_NAME).format(
        tract=patch.tract, patch=patch.index, patch_x=patch.x, patch_y=patch.y, band=band, skymap=skymap_name)
    return root / relative


@dataclass(frozen=True, kw_only=True)
class _Job:
    """One file to write: where, which (tract, patch, band), and how (see :func:`generate_repository`)."""

    path: Path
    skymap_name: str
    tract: object
    patch: object
    band: str
    targets: tuple
    seed: int
    compression: str
    tile: int | None
    overwrite: bool
    options: SceneOptions = field(default_factory=SceneOptions)


def _write_one(job: _Job) -> tuple[Path, float]:
    """Compute and write one coadd file; returns (path, seconds)."""
    start = time.perf_counter()
    image, mask, variance = make_patch_planes(job.tract, job.patch, job.band, job.targets, job.seed,
                                              psf_fwhm_arcsec=job.options.psf_fwhm_arcsec, options=job.options)
    headers = plane_headers(job.tract, job.patch)
    dither_seed = 1 + random_stream(job.seed, "dither", job.tract.id, job.patch.index, job.band).integers(10000)
    compress = compression_plan(job.compression, image.shape, job.tile, int(dither_seed))
    planes = [("IMAGE", image, headers["IMAGE"]), ("MASK", mask, headers["MASK"]),
              ("VARIANCE", variance, headers["VARIANCE"])]
    primary = primary_header(job.skymap_name, job.tract, job.patch, job.band, job.seed, job.options)
    write_exposure(job.path, primary, planes, overwrite=job.overwrite, compress=compress)
    return job.path, time.perf_counter() - start


def generate_repository(root, *, tract=DEFAULT_TRACT, patches=DEFAULT_PATCHES, bands=DEFAULT_BANDS,
                        targets_csv=None, seed=DEFAULT_SEED, compression="rice", tile=128, overwrite=False,
                        jobs=2, progress=True, skymap=None, options: SceneOptions | None = None) -> list[Path]:
    """Write the synthetic coadds of ``patches`` x ``bands`` of ``tract`` into a repository.

    Parameters
    ----------
    root : path-like
        Repository root holding ``repo.json`` (skymap path and the
        ``deep_coadd`` template, see docs/repositories.md, "Path templates").
    targets_csv : path-like, optional
        Targets (``id,ra,dec``); default ``root/targets.csv`` when it exists.
    compression : {"rice", "gzip", "none"}
        See :func:`.headers.compression_plan`.
    tile : int or None
        Square tile side in pixels, or ``None`` for one-row tiles.
    overwrite : bool
        Rewrite existing files; otherwise they are skipped.
    jobs : int
        Worker processes (1 computes in this process).
    progress : bool
        Report on stderr: a rich progress bar on a terminal, else one line per file.
    skymap : SkyMap, optional
        Use this skymap instead of the one named in ``repo.json``.
    options : SceneOptions, optional
        Scene parameters.

    Returns
    -------
    list of Path
        The files written (existing files skipped are not listed).
    """
    root = Path(root)
    skymap, template = _load_repo(root, skymap)
    tract_obj = skymap.tract(tract)
    if targets_csv is None and (root / "targets.csv").exists():
        targets_csv = root / "targets.csv"
    targets = tuple(_read_targets(targets_csv)) if targets_csv is not None else ()
    for band in bands:
        band_model(band)
    options = options or SceneOptions()
    jobs_todo = []
    for index in patches:
        patch = tract_obj.patch(index)
        for band in bands:
            path = _dataset_path(root, template, skymap.name, patch, band)
            if overwrite or not path.exists():
                jobs_todo.append(_Job(path=path, skymap_name=skymap.name, tract=tract_obj, patch=patch, band=band,
                                      targets=targets, seed=seed, compression=compression, tile=tile,
                                      overwrite=overwrite, options=options))
    return _run_jobs(jobs_todo, jobs, progress, skipped=len(patches) * len(bands) - len(jobs_todo))


def _run_jobs(jobs_todo: list[_Job], jobs: int, progress: bool, skipped: int) -> list[Path]:
    """Run the write jobs serially or on a process pool, reporting on stderr; paths in job order."""
    written: list[Path] = []
    reporter = _Reporter(len(jobs_todo), progress)
    with reporter:
        if jobs <= 1 or len(jobs_todo) <= 1:
            for job in jobs_todo:
                path, seconds = _write_one(job)
                written.append(path)
                reporter.done(path, seconds)
        else:
            # spawn: the caller may have threads (the progress display among them)
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(jobs, len(jobs_todo)), mp_context=context) as pool:
                futures = [pool.submit(_write_one, job) for job in jobs_todo]
                for future in as_completed(futures):
                    path, seconds = future.result()
                    written.append(path)
                    reporter.done(path, seconds)
    reporter.summary(len(written), skipped)
    order = {job.path: i for i, job in enumerate(jobs_todo)}
    return sorted(written, key=order.__getitem__)


class _Reporter:
    """Progress on stderr: rich bar on a terminal, plain lines otherwise, silent if disabled."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.start = time.perf_counter()
        self.bar = None
        if enabled and total and sys.stderr.isatty():
            from rich.console import Console  # only for a terminal
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("sample data"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=False)
            self.task = self.bar.add_task("write", total=total)

    def __enter__(self):
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()

    def done(self, path: Path, seconds: float) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)
        elif self.enabled:
            print(f"wrote {path} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def summary(self, written: int, skipped: int) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.start
            print(f"sample data: {written} file(s) written, {skipped} existing skipped, {elapsed:.1f} s",
                  file=sys.stderr, flush=True)
