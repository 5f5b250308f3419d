"""The batch manifest: one CSV row per target, in target-list order, written atomically.

Statuses: ``ok`` (written), ``skipped`` (its outputs were done already:
:mod:`.done`; rerun with ``overwrite`` to redo), ``no_data`` (no coadd covers
the target), ``error`` (the row or its cutout failed; ``message`` says why),
``pending`` (not reached: the run was stopped by a signal or a full disk; a
rerun cuts it).  Each row records the request made of it: ``size`` (as
given), ``planes``, ``mode`` and ``stretch`` (of its PNG; empty without one).
The manifest is streamed from the plan's arrays, so writing it costs no
memory per row.
"""

from __future__ import annotations

import csv

import numpy as np

from ..writers.atomic import atomic_path

COLUMNS = ("id", "ra", "dec", "tract", "patch", "band", "size", "planes", "mode", "stretch", "status", "path",
           "message")
PENDING, OK, SKIPPED, NO_DATA, ERROR = range(5)
STATUS_NAMES = ("pending", "ok", "skipped", "no_data", "error")
SUCCESS = (OK, SKIPPED)


def run_request(outputs) -> dict:
    """The request columns every row shares, from :class:`~.options.CutoutOutputs`."""
    return {"planes": ",".join(outputs.planes).lower(), "mode": outputs.mode,
            "stretch": outputs.picture if outputs.png else ""}


def manifest_records(plan, path_of, request: dict | None = None):
    """Manifest rows as dicts, in target-list order (``path_of(row)`` gives a written row's path;
    ``request``: :func:`run_request`)."""
    table = plan.table
    request = request or {"planes": "", "mode": "", "stretch": ""}
    for row in range(len(table)):
        status = int(plan.status[row])
        tract, patch = int(plan.tract[row]), int(plan.patch[row])
        yield {
            "id": table.ids[row], "ra": table.ra_text[row], "dec": table.dec_text[row],
            "tract": tract if tract >= 0 else "", "patch": patch if patch >= 0 else "",
            "band": table.band_of(row), "size": _text(table.size_of(row)), **request,
            "status": STATUS_NAMES[status],
            "path": path_of(row) if status in SUCCESS else "", "message": plan.message(row),
        }


def _text(value) -> str:
    return "" if value is None else str(value)


def count_statuses(plan) -> dict:
    """``{status name: rows}`` of every status but ``pending``."""
    found = np.bincount(plan.status, minlength=len(STATUS_NAMES))
    return {name: int(found[code]) for code, name in enumerate(STATUS_NAMES) if name != "pending"}


def write_manifest(path, plan, path_of, request: dict | None = None) -> None:
    """Write (or atomically replace) the manifest CSV at ``path``."""
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(manifest_records(plan, path_of, request))
