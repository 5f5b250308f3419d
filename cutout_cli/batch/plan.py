"""Plan a batch: read the target list, find each target's home coadd, group by file.

Targets are mapped to tract/patch with vectorised WCS calls (one per tract and
band), never one Python WCS call per row.  A row that cannot be planned is
kept with its reason, so the manifest accounts for every row.
"""

from __future__ import annotations

import csv
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ..coords import Size, parse_dec, parse_ra, parse_size
from ..errors import CutoutError, InputError
from ..geometry import Box, centered_begin, round_half_up

REQUIRED_COLUMNS = ("id", "ra", "dec")
OPTIONAL_COLUMNS = ("size", "band")


@dataclass
class Target:
    """One row of the target list (``row`` counts data rows from 1)."""

    row: int
    id: str
    ra: float = math.nan
    dec: float = math.nan
    size: Size | None = None
    band: str | None = None
    ra_text: str = ""
    dec_text: str = ""
    error: str | None = None
    file_stem: str = ""


@dataclass
class Cut:
    """A planned cutout: a target and its PARENT box and float pixel centre."""

    target: Target
    box: Box
    center_x: float
    center_y: float


@dataclass
class Task:
    """All cutouts from one coadd file (the file is opened once for all of them)."""

    ref: object  # DatasetRef, or None when the dataset is missing
    cuts: list[Cut] = field(default_factory=list)
    error: str | None = None


@dataclass
class Plan:
    tasks: list[Task]
    unplanned: list[tuple[Target, str, str]]  # (target, status, message)

    @property
    def num_targets(self) -> int:
        return sum(len(t.cuts) for t in self.tasks) + len(self.unplanned)


def read_targets(source, size: Size | None, band: str | None) -> list[Target]:
    """Targets from a CSV file (path) or an iterable of mappings.

    Columns ``id``, ``ra``, ``dec`` are required (names case-insensitive) and
    ``size``, ``band`` optional (they override ``size`` and ``band``).
    Per-row problems (an unreadable coordinate, a missing band) are recorded on
    the target; problems with the list itself raise :class:`InputError`.
    """
    if isinstance(source, (str, os.PathLike)):
        return _read_csv(source, size, band)
    rows = list(source)
    columns = list(dict.fromkeys(str(k).strip().lower() for r in rows for k in r))
    lines = [[str(_lower_keys(r).get(c, "")) for c in columns] for r in rows]
    return _parse_rows(columns, lines, size, band, "target list")


def _lower_keys(row) -> dict:
    return {str(k).strip().lower(): ("" if v is None else v) for k, v in dict(row).items()}


def _read_csv(path, size: Size | None, band: str | None) -> list[Target]:
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"target list {path} does not exist") from None
    except OSError as err:
        raise InputError(f"cannot read target list {path}: {err.strerror}") from None
    with handle:
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(f"target list {path} is empty", "the first line names the columns: id,ra,dec")
            lines = [line for line in reader if any(cell.strip() for cell in line)]
        except (csv.Error, UnicodeDecodeError) as err:
            raise InputError(f"cannot read target list {path}: {err}") from None
    return _parse_rows([c.strip().lower() for c in header], lines, size, band, f"target list {path}")


def _parse_rows(columns: list[str], lines: list[list[str]], size, band, source: str) -> list[Target]:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{source} lacks column(s) {', '.join(missing)} (found: {', '.join(columns)})",
                         "the first line must name id,ra,dec")
    if not lines:
        raise InputError(f"{source} has no data rows")
    index = {c: columns.index(c) for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in columns}
    targets = [_parse_row(row, line, index, size, band) for row, line in enumerate(lines, start=1)]
    _assign_file_stems(targets)
    return targets


def _parse_row(row: int, line: list[str], index: dict, size: Size | None, band: str | None) -> Target:
    def cell(name):
        i = index.get(name)
        return line[i].strip() if i is not None and i < len(line) else ""

    target = Target(row, cell("id"), ra_text=cell("ra"), dec_text=cell("dec"))
    try:
        target.ra, target.dec = parse_ra(target.ra_text), parse_dec(target.dec_text)
        target.size = parse_size(cell("size")) if cell("size") else size
        target.band = cell("band") or band
        if target.size is None:
            raise InputError("no size", "give --size or a size column")
        if not target.band:
            raise InputError("no band", "give --band or a band column")
    except CutoutError as err:
        target.error = str(err)
    return target


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_stem(text: str, fallback: str) -> str:
    """A file-name stem from a target id: ASCII letters, digits and ``._+-`` only, <= 80 characters."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    stem = _UNSAFE.sub("_", ascii_text).strip("._")[:80]
    if not stem or stem.lower().split(".")[0] in _RESERVED:
        stem = f"{fallback}_{stem}" if stem else fallback
    return stem


def _assign_file_stems(targets: list[Target]) -> None:
    """Unique, readable file stems; a clash (after cleaning ids) gets the row number appended."""
    stems = [safe_stem(t.id, f"row{t.row}") for t in targets]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    for target, stem in zip(targets, stems):
        target.file_stem = stem if counts[stem.lower()] == 1 else f"{stem}_row{target.row}"


def plan_batch(repo, targets: list[Target], dataset_type: str | None = None) -> Plan:
    """Group the targets by home coadd (findTract + findPatch) and compute their boxes."""
    skymap = repo.skymap
    unplanned = [(t, "error", t.error) for t in targets if t.error]
    good = [t for t in targets if not t.error]
    tasks: dict[tuple, Task] = {}
    if good:
        ras = np.array([t.ra for t in good])
        decs = np.array([t.dec for t in good])
        tract_ids = _home_tracts(skymap, ras, decs)
        for tract_id in np.unique(tract_ids[tract_ids >= 0]):
            members = np.flatnonzero(tract_ids == tract_id)
            tract = skymap.tract(int(tract_id))
            xs, ys = tract.sky_to_pixel(ras[members], decs[members])
            pw, ph = tract.patch_inner_dimensions
            for i, x, y in zip(members, np.atleast_1d(xs), np.atleast_1d(ys)):
                target = good[i]
                if not (np.isfinite(x) and np.isfinite(y)) or not tract.bbox.contains_pixel(
                        round_half_up(x), round_half_up(y)):
                    unplanned.append((target, "no_data", "position is in no tract of the skymap"))
                    continue
                patch = tract.patch((round_half_up(x) // pw, round_half_up(y) // ph))
                key = (tract.id, patch.index, target.band)
                if key not in tasks:
                    try:
                        tasks[key] = Task(repo.ref(dataset_type, tract.id, patch.index, target.band))
                    except CutoutError as err:
                        tasks[key] = Task(None, error=str(err))
                if tasks[key].ref is None:
                    unplanned.append((target, "no_data", tasks[key].error))
                    continue
                try:
                    w, h = target.size.to_pixels(tract.pixel_scale)
                except CutoutError as err:
                    unplanned.append((target, "error", str(err)))
                    continue
                box = Box(centered_begin(float(x), w), centered_begin(float(y), h), w, h)
                tasks[key].cuts.append(Cut(target, box, float(x), float(y)))
        for i in np.flatnonzero(tract_ids < 0):
            unplanned.append((good[i], "no_data", "position is in no tract of the skymap"))
    ready = [t for t in tasks.values() if t.ref is not None and t.cuts]
    return Plan(sorted(ready, key=lambda t: (t.ref.tract, t.ref.patch, t.ref.band)), unplanned)


def _home_tracts(skymap, ras: np.ndarray, decs: np.ndarray) -> np.ndarray:
    """findTract for many positions (vectorised for rings skymaps); -1 where none."""
    if hasattr(skymap, "find_tract_ids"):
        return np.asarray(skymap.find_tract_ids(ras, decs), dtype=np.int64)
    ids = np.full(len(ras), -1, dtype=np.int64)
    for i, (ra, dec) in enumerate(zip(ras, decs)):
        try:
            ids[i] = skymap.find_tract(float(ra), float(dec)).id
        except CutoutError:
            pass
    return ids
