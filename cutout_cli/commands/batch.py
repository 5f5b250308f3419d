"""``cutout batch``: cutouts for every row of a target list, a manifest and a grid."""

from __future__ import annotations

import click

from .common import dataset_type_option, diagnostic, echo_records, format_option


@click.command("batch", context_settings={"max_content_width": 100})
@click.argument("targets", type=click.Path(dir_okay=False))
@click.option("--size", metavar="SIZE", help="Cutout size (300, 60arcsec, 1arcmin, W,H); a 'size' column overrides it.")
@click.option("--band", metavar="B", help="Band; a 'band' column overrides it.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory (created if missing).")
@click.option("--png", is_flag=True, help="Also write a PNG beside each FITS cutout.")
@click.option("--grid", type=click.Path(dir_okay=False), help="Write a labelled contact sheet of the cutouts (PNG).")
@click.option("--grid-max", type=click.IntRange(1), default=100, show_default=True, help="At most this many panels in the grid.")
@click.option("--planes", default="image,mask,variance", show_default=True, help="Planes to write, comma-separated.")
@click.option("--mode", type=click.Choice(["partial", "strict"]), default="partial", show_default=True,
              help="partial: pixels outside the coadd are NaN / NO_DATA; strict: such a target fails.")
@click.option("--stretch", type=click.Choice(["asinh", "linear", "sqrt", "log"]), default="asinh", show_default=True)
@click.option("--overwrite", is_flag=True, help="Redo targets whose outputs exist (default: skip them).")
@dataset_type_option
@format_option
@click.pass_context
def command(ctx, targets, size, band, out_dir, png, grid, grid_max, planes, mode, stretch, overwrite, dataset_type, fmt):
    """Write one cutout per row of TARGETS (CSV with id, ra, dec; optional size, band).

    Each coadd file is opened once for all of its targets.  Files are named
    OUT/<id>_<band>.fits (ids made file-name safe); OUT/manifest.csv records
    every row with status ok, skipped, no_data or error.  A bad row never
    stops the batch; rerunning skips finished targets.  Exit code 0 when every
    row is ok or skipped, 1 when some failed.

    \b
    Examples:
      cutout batch sample_repo/targets.csv --size 50 --band r --out cutouts --png --grid grid.png
      cutout -q batch sample_repo/targets.csv --size 30arcsec --band r --out run1 --planes image
    """
    import os

    from ..cli import open_repository
    from ..coords import parse_size
    from ..errors import EXIT_PARTIAL, InputError
    from ..batch.execute import Outputs, run_task
    from ..batch.manifest import SUCCESS, manifest_row, write_manifest
    from ..batch.plan import plan_batch, read_targets
    from ..writers.atomic import check_writable
    from .subset import _parse_planes

    repo = open_repository(ctx)
    default_size = parse_size(size) if size else None
    plane_list = _parse_planes(planes)
    target_list = read_targets(targets, default_size, band)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as err:
        from ..errors import OutputError

        raise OutputError(f"cannot create output directory {out_dir}: {err.strerror}") from None
    if grid:
        check_writable(grid, overwrite)
    plan = plan_batch(repo, target_list, dataset_type)
    outputs = Outputs(out_dir, plane_list, png, mode, overwrite, stretch, repo.skymap.name)
    rows = [manifest_row(t, status, message=message) for t, status, message in plan.unplanned]
    preview_rows = {t.row for t in target_list[:grid_max]} if grid else None
    previews = {}
    with _progress(ctx, plan.num_targets) as advance:
        advance(len(rows))
        for task in plan.tasks:
            task_rows, images = run_task(task, outputs, preview_rows)
            rows.extend(task_rows)
            previews.update(images)
            advance(len(task_rows))
    manifest_path = os.path.join(out_dir, "manifest.csv")
    write_manifest(manifest_path, rows)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "no_data", "error")}
    if grid:
        from ..writers.grid import write_grid

        by_row = {t.row: t for t in target_list}
        panels = [(by_row[r].id, previews.get(r)) for r in sorted(preview_rows)]
        write_grid(grid, panels, overwrite=overwrite, title=f"{os.path.basename(targets)}: {len(panels)} targets")
    echo_records([{"targets": len(rows), **counts, "manifest": manifest_path, "grid": grid or ""}], fmt, single=True)
    failed = len(rows) - counts["ok"] - counts["skipped"]
    diagnostic(f"{len(rows)} targets: {counts['ok']} ok, {counts['skipped']} skipped, "
               f"{counts['no_data']} no data, {counts['error']} errors; manifest {manifest_path}")
    if failed:
        ctx.exit(EXIT_PARTIAL)


class _progress:
    """A rich progress bar on a terminal stderr; nothing otherwise."""

    def __init__(self, ctx, total: int):
        import sys

        self.enabled = sys.stderr.isatty() and not ctx.find_root().obj.get("quiet")
        self.total = total

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("cutouts"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                             transient=True)
        self._bar.__enter__()
        task = self._bar.add_task("batch", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.__exit__(*exc)
