"""Run a whole batch: read targets, plan, execute every task, write manifest and grid.

Used by ``cutout batch`` and :meth:`cutout_cli.repo.Repository.batch` alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import OutputError
from ..reader import PLANES
from .execute import Outputs, run_task
from .manifest import manifest_row, write_manifest
from .plan import plan_batch, read_targets

STATUSES = ("ok", "skipped", "no_data", "error")


@dataclass
class BatchResult:
    """What a batch did: manifest rows (target-list order) and where it wrote."""

    rows: list[dict]
    manifest: str
    grid: str | None = None
    counts: dict = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.counts.get("no_data", 0) + self.counts.get("error", 0)


def run_batch(repo, targets, out_dir, size=None, band: str | None = None, planes=PLANES, png: bool = False,
              mode: str = "partial", overwrite: bool = False, stretch: str = "asinh",
              dataset_type: str | None = None, grid=None, grid_max: int = 100, grid_title: str | None = None,
              progress=None) -> BatchResult:
    """Cut every target, write ``out_dir/manifest.csv`` and optionally a grid PNG.

    Parameters
    ----------
    repo : Repository
    targets : path or iterable of mappings
        See :func:`cutout_cli.batch.plan.read_targets`.
    out_dir : path-like
        Created if missing; cutouts are ``<id>_<band>.fits`` (and ``.png``).
    size, band
        Defaults for rows without ``size``/``band`` columns; ``size`` is a
        :class:`~cutout_cli.coords.Size` or text.
    progress : callable, optional
        ``progress(done, total)``: called with the number of targets just
        finished (0 at the start) and the total, after each task.
    """
    from ..coords import Size, parse_size
    from ..writers.atomic import check_writable

    default_size = size if size is None or isinstance(size, Size) else parse_size(size)
    target_list = read_targets(targets, default_size, band)
    out_dir = os.fspath(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create output directory {out_dir}: {err.strerror}") from None
    if grid:
        check_writable(grid, overwrite)
    plan = plan_batch(repo, target_list, dataset_type)
    outputs = Outputs(out_dir, tuple(planes), png, mode, overwrite, stretch, repo.skymap.name)
    rows = [manifest_row(t, status, message=message) for t, status, message in plan.unplanned]
    def advance(done: int) -> None:
        if progress is not None:
            progress(done, plan.num_targets)

    advance(len(rows))
    preview_rows = {t.row for t in target_list[:grid_max]} if grid else None
    previews = {}
    for task in plan.tasks:
        task_rows, images = run_task(task, outputs, preview_rows)
        rows.extend(task_rows)
        previews.update(images)
        advance(len(task_rows))
    manifest = os.path.join(out_dir, "manifest.csv")
    write_manifest(manifest, rows)
    if grid:
        from ..writers.grid import write_grid

        by_row = {t.row: t for t in target_list}
        panels = [(by_row[r].id, previews.get(r)) for r in sorted(preview_rows)]
        title = f"{grid_title}: {len(panels)} targets" if grid_title else f"{len(panels)} targets"
        write_grid(grid, panels, overwrite=overwrite, title=title)
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    rows.sort(key=lambda r: r["_row"])
    return BatchResult(rows, manifest, os.fspath(grid) if grid else None, counts)

