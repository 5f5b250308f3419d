"""``cutout batch``: cutouts for every row of a target list, a manifest and a grid."""

from __future__ import annotations

import os

import click

from ...errors import EXIT_PARTIAL
from ...storage.remote import DOWNLOAD_THRESHOLD
from ...writers.lsst_images import OUTPUT_FORMATS
from ..options import (dataset_type_option, max_pixels_option, parse_planes, picture_options, picture_scale,
                       planes_option)
from ..output import FORMATS, Progress, diagnostic, echo_records, flag_spelling
from ..state import pass_state


@click.command("batch", context_settings={"max_content_width": 100})
@click.argument("targets", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format-in", metavar="FORMAT",
              help="The target list's format: csv, tsv, or an astropy Table format (ascii.ecsv, fits, votable, "
                   "parquet, ascii.ipac, ...) [default: from the name's ending, then the content].")
@click.option("--id-col", metavar="NAME", help="The column of target ids, when not id or an alias (name, objID, ...).")
@click.option("--ra-col", metavar="NAME", help="The RA column, when not ra or an alias (ra_deg, RAJ2000, ...).")
@click.option("--dec-col", metavar="NAME", help="The Dec column, when not dec or an alias (dec_deg, DEJ2000, ...).")
@click.option("--size", metavar="SIZE", help="Cutout size (300, 60arcsec, 1arcmin, W,H); a 'size' column overrides it.")
@click.option("--band", metavar="B", help="Band, or bands as g,r,i (one cutout each); a 'band' column overrides it.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory (created if missing).")
@click.option("--output-format", "output_format", type=click.Choice(OUTPUT_FORMATS), default="afw", show_default=True,
              help="FITS layout: afw's, or lsst-images (the source's lsst.images type; needs lsst-images).")
@click.option("--png", is_flag=True, help="Also write a PNG beside each FITS cutout.")
@click.option("--grid", type=click.Path(dir_okay=False), help="Write a labelled contact sheet of the cutouts (.png, or .jpg for JPEG).")
@click.option("--rgb", is_flag=True, help="With --band g,r,i (two or three, bluest first): <id>_rgb.png colour pictures.")
@click.option("--grid-max", type=click.IntRange(1), default=100, show_default=True, help="At most this many panels in the grid.")
@planes_option
@click.option("--mode", type=click.Choice(["partial", "strict"]), default="partial", show_default=True,
              help="partial: pixels outside the coadd are NaN / NO_DATA; strict: such a target fails.")
@picture_options
@click.option("--grid-scale", type=click.Choice(["shared", "panel"]), default="shared", show_default=True,
              help="Grid panels drawn on one grey scale (from all panels), or each on its own.")
@click.option("--overwrite", is_flag=True,
              help="Redo every target (default: skip targets whose outputs are done; cut the others).")
@click.option("--allow-no-data", is_flag=True,
              help="Rows no coadd covers are expected: they do not make the exit code 1.")
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
@pass_state
def command(state, *, targets, dry_run, fmt, jobs, planes, stretch, limits, vmin, vmax, softening, **options):
    """Write one cutout per row of TARGETS (id, ra, dec; optional size, band).

    TARGETS: CSV (or tab-, ;- or blank-separated, .gz, # comments), any
    table astropy reads (ECSV, FITS, VOTable, ...), or - for stdin.  Columns
    by name, alias (name, objID, ra_deg, RAJ2000, ...: docs/targets.md) or
    --id-col, --ra-col, --dec-col.

    Targets are grouped by coadd file; each file is opened once per task (at
    most 500 targets) and only the tiles under the boxes are read.  Files are
    OUT/<id>_<band>.fits (ids made file-name safe); OUT/manifest.csv records
    every row with status ok, skipped, no_data, error or pending, and the
    request.  A bad row never stops the batch.

    Safe for cron: a rerun cuts only what is not done (missing, incomplete,
    or made with another size, planes, band, mode or picture scale: those are
    re-cut) and never touches complete outputs; the manifest, --grid and
    --single-file are rewritten by every run; a killed run leaves no partial
    file; two runs cannot write into one OUT.  SIGINT, SIGTERM and SIGHUP stop
    the run at once (workers included) and write the manifest of what was done.

    \b
    Exit codes: 0 every row ok or skipped (or no_data, with --allow-no-data);
    1 some rows failed (see the manifest); 2 usage error; 4 output failed
    (disk full: the run stops); 3-7 and 70 fatal (see cutout --help);
    130 SIGINT, 143 SIGTERM, 129 SIGHUP.

    \b
    Examples:
      cutout batch sample_repo/targets.csv --size 50 --band r --out cutouts --png --grid grid.png
      cutout -q batch sample_repo/targets.csv --size 30arcsec --band r --out run1 --planes image --jobs 2
      cutout batch sample_repo/targets.csv --size 50 --band r --out plan --dry-run
      cutout batch sample_repo/targets.csv --size 10arcsec --band r,z --rgb --out colour --grid colour.png
    """
    from ...batch.run import run_batch  # numpy, astropy: not for --help
    from ...batch.stopping import stop_on_signals

    scale = picture_scale(stretch, limits, vmin, vmax, softening)
    with stop_on_signals():
        repo = state.repository()
        with Progress() as progress:
            result = run_batch(repo, targets, dry_run=dry_run, progress=progress, planes=parse_planes(planes),
                               jobs=jobs or os.cpu_count() or 1, spell=flag_spelling,
                               grid_title="standard input" if targets == "-" else os.path.basename(targets),
                               **scale, **options)
    if dry_run:
        _report_plan(result, fmt)
    else:
        _report_run(result, fmt, options.get("single_file"))


def _report_plan(result, fmt) -> None:
    counts, plan = result.counts, result.plan
    echo_records(plan.summary(), fmt or "table")
    diagnostic(f"plan: {len(plan.table)} targets, {plan.num_planned} in {len(plan.groups)} coadd file(s), "
               f"{counts['no_data']} without data, {counts['error']} invalid")


def _report_run(result, fmt, single_file) -> None:
    counts = result.counts
    num_targets, num_cutouts = result.plan.table.num_targets, sum(counts.values())
    if fmt:
        echo_records([{"targets": num_targets, "cutouts": num_cutouts, **counts, "manifest": result.manifest,
                       "grid": result.grid or ""}], fmt, single=True)
    wrote = f"; {counts['ok']} cutouts in {single_file}" if single_file else ""
    # statuses count cutouts (a target per band); with one band a cutout is a target
    counted = f"{num_targets} targets" + (f", {num_cutouts} cutouts" if num_cutouts != num_targets else "")
    diagnostic(f"{counted}: {counts['ok']} ok, {counts['skipped']} skipped, "
               f"{counts['no_data']} no data, {counts['error']} errors ({result.where}){wrote}; "
               f"manifest {result.manifest}")
    if result.failed:
        click.get_current_context().exit(EXIT_PARTIAL)
