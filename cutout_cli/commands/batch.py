"""``cutout batch``: cutouts for every row of a target list, a manifest and a grid."""

from __future__ import annotations

import click

from ..remote import DOWNLOAD_THRESHOLD
from ..render import FORMATS
from .common import dataset_type_option, diagnostic, echo_records, max_pixels_option, parse_planes


@click.command("batch", context_settings={"max_content_width": 100})
@click.argument("targets", type=click.Path(dir_okay=False))
@click.option("--size", metavar="SIZE", help="Cutout size (300, 60arcsec, 1arcmin, W,H); a 'size' column overrides it.")
@click.option("--band", metavar="B", help="Band, or bands as g,r,i (one cutout each); a 'band' column overrides it.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory (created if missing).")
@click.option("--png", is_flag=True, help="Also write a PNG beside each FITS cutout.")
@click.option("--grid", type=click.Path(dir_okay=False), help="Write a labelled contact sheet of the cutouts (PNG).")
@click.option("--rgb", is_flag=True, help="With --band g,r,i (two or three, bluest first): <id>_rgb.png colour pictures.")
@click.option("--grid-max", type=click.IntRange(1), default=100, show_default=True, help="At most this many panels in the grid.")
@click.option("--planes", default="image,mask,variance", show_default=True, help="Planes to write, comma-separated.")
@click.option("--mode", type=click.Choice(["partial", "strict"]), default="partial", show_default=True,
              help="partial: pixels outside the coadd are NaN / NO_DATA; strict: such a target fails.")
@click.option("--stretch", type=click.Choice(["asinh", "linear", "sqrt", "log"]), default="asinh", show_default=True)
@click.option("--overwrite", is_flag=True, help="Redo targets whose outputs exist (default: skip them).")
@click.option("-j", "--jobs", type=click.IntRange(1), default=None,
              help="Local worker processes [default: the number of cores].")
@click.option("--scheduler", metavar="ADDRESS", envvar="DASK_SCHEDULER_ADDRESS",
              help="Run the tasks on a Dask cluster (e.g. tcp://127.0.0.1:8786). [env: DASK_SCHEDULER_ADDRESS]")
@click.option("--scheduler-file", type=click.Path(dir_okay=False), help="Dask scheduler file, instead of --scheduler.")
@click.option("--single-file", type=click.Path(dir_okay=False),
              help="Write all cutouts into this one FITS file (planes as EXTNAME/EXTVER=row, a MANIFEST table).")
@click.option("--dry-run", is_flag=True, help="Print the plan (files, targets per file, rows without data); read no pixels.")
@click.option("--remote-read", type=click.Choice(["auto", "ranged", "download"]), default="auto", show_default=True,
              help="Remote repositories: fetch only the tiles under the boxes (ranged), or download each coadd "
                   "to --scratch-dir and cut it locally (download); auto downloads a coadd when its task has at "
                   f"least {DOWNLOAD_THRESHOLD} targets to cut [env: CUTOUT_DOWNLOAD_THRESHOLD].")
@click.option("--scratch-dir", type=click.Path(file_okay=False),
              help="Where --remote-read downloads go (removed after use) [default: OUT].")
@max_pixels_option
@dataset_type_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Also print the counts (with --dry-run: the plan) as a record on stdout [default: only the "
                   "one-line summary on stderr; table for --dry-run].")
@click.pass_context
def command(ctx, targets, size, band, out_dir, png, grid, rgb, grid_max, planes, mode, stretch, overwrite, jobs, scheduler,
            scheduler_file, single_file, dry_run, remote_read, scratch_dir, max_pixels, dataset_type, fmt):
    """Write one cutout per row of TARGETS (CSV with id, ra, dec; optional size, band).

    Targets are grouped by coadd file; each file is opened once per task (at
    most 500 targets) and only the tiles under the boxes are read.  Files are
    OUT/<id>_<band>.fits (ids made file-name safe); OUT/manifest.csv records
    every row with status ok, skipped, no_data or error.  A bad row never
    stops the batch.  Safe for cron: reruns skip finished targets, a killed
    run leaves no partial file, and two runs cannot write into one OUT.

    \b
    Exit codes: 0 every row ok or skipped; 1 some rows failed (see the
    manifest); 2 usage error; 3-7 and 70 fatal (see cutout --help).

    \b
    Examples:
      cutout batch sample_repo/targets.csv --size 50 --band r --out cutouts --png --grid grid.png
      cutout -q batch sample_repo/targets.csv --size 30arcsec --band r --out run1 --planes image --jobs 2
      cutout batch sample_repo/targets.csv --size 50 --band r --out plan --dry-run
      cutout batch sample_repo/targets.csv --size 10arcsec --band r,z --rgb --out colour --grid colour.png
    """
    import os

    from ..batch.run import run_batch
    from ..cli import open_repository
    from ..errors import EXIT_PARTIAL

    repo = open_repository(ctx)
    with _Progress(ctx) as progress:
        result = run_batch(repo, targets, out_dir, size=size, band=band, planes=parse_planes(planes), png=png,
                           mode=mode, overwrite=overwrite, stretch=stretch, dataset_type=dataset_type, grid=grid,
                           grid_max=grid_max, grid_title=os.path.basename(targets), progress=progress,
                           jobs=jobs or os.cpu_count() or 1, scheduler=scheduler, scheduler_file=scheduler_file,
                           single_file=single_file, dry_run=dry_run, max_pixels=max_pixels, rgb=rgb,
                           remote_read=remote_read, scratch_dir=scratch_dir)
    counts = result.counts
    if dry_run:
        echo_records(result.plan.summary(), fmt or "table")
        diagnostic(f"plan: {len(result.plan.table)} targets, {result.plan.num_planned} in "
                   f"{len(result.plan.groups)} coadd file(s), {counts['no_data']} without data, "
                   f"{counts['error']} invalid")
        return
    if fmt:
        echo_records([{"targets": sum(counts.values()), **counts, "manifest": result.manifest,
                       "grid": result.grid or ""}], fmt, single=True)
    diagnostic(f"{sum(counts.values())} targets: {counts['ok']} ok, {counts['skipped']} skipped, "
               f"{counts['no_data']} no data, {counts['error']} errors ({result.where}); manifest {result.manifest}")
    if result.failed:
        ctx.exit(EXIT_PARTIAL)


class _Progress:
    """A rich progress bar on a terminal stderr (targets done, rate, time left); nothing otherwise."""

    def __init__(self, ctx):
        import sys

        self.enabled = sys.stderr.isatty() and not ctx.find_root().obj.get("quiet")
        self._bar = None

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            rate = TextColumn("{task.fields[rate]}")
            self._bar = Progress(TextColumn("cutouts"), BarColumn(), MofNCompleteColumn(), rate, TimeRemainingColumn(),
                                 transient=True)
            self._bar.start()
            self._task = self._bar.add_task("batch", total=total, rate="")
        self._bar.advance(self._task, done)
        speed = self._bar.tasks[0].speed  # targets per second over rich's recent window
        self._bar.update(self._task, rate=f"{speed:,.0f}/s" if speed else "")

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
