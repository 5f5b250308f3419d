"""The batch manifest: one row per target, written atomically as CSV.

Statuses: ``ok`` (written), ``skipped`` (output already there; rerun with
--overwrite to redo), ``no_data`` (no coadd covers the target), ``error``
(the row or its cutout failed; ``message`` says why).
"""

from __future__ import annotations

import csv

from ..writers.atomic import atomic_path

COLUMNS = ("id", "ra", "dec", "tract", "patch", "band", "status", "path", "message")
SUCCESS = ("ok", "skipped")


def manifest_row(target, status: str, path: str = "", message: str = "", tract=None, patch=None) -> dict:
    """A manifest row; ``id``, ``ra`` and ``dec`` are the target's original text."""
    return {"id": target.id, "ra": target.ra_text, "dec": target.dec_text,
            "tract": "" if tract is None else tract, "patch": "" if patch is None else patch,
            "band": target.band or "", "status": status, "path": path, "message": message,
            "_row": target.row}


def write_manifest(path, rows: list[dict]) -> None:
    """Write the rows (in target-list order) to ``path``, replacing any earlier manifest."""
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(sorted(rows, key=lambda r: r["_row"]))
