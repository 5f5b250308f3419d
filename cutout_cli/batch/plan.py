"""Plan a batch: map every target to its home coadd and box, group rows by file.

Everything is vectorised over the target arrays: one findTract over all rows,
then one ``sky_to_pixel`` per tract, never a Python WCS call per row.  Rows
that cannot be planned get status ``no_data`` or ``error`` with a message, so
the manifest accounts for every row.  Tasks are made lazily, a file (or a
chunk of a file with very many targets) at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CutoutError, NotFoundError, RemoteError
from .manifest import ERROR, NO_DATA, PENDING
from .targets import TargetTable

DEFAULT_CHUNK = 500  # targets per task: small enough to balance workers and bound memory
MIN_CHUNK = 50  # the smallest task of the batch's end (see Plan.tasks)
ASSEMBLY_CHUNK = 200
PLAN_BLOCK = 16384  # rows mapped to tract/patch/box at a time


@dataclass
class Task:
    """Cutouts from one coadd file; picklable, small, sent to a worker.

    ``boxes`` rows are ``(begin_x, begin_y, width, height)`` in PARENT pixels;
    targets are ordered by ``begin_y`` then ``begin_x`` to follow the file's
    tile layout.
    """

    ref: object  # DatasetRef; None for an assembly task (boxes that need several patches)
    rows: np.ndarray
    boxes: np.ndarray
    ids: list
    stems: list
    ra: np.ndarray
    dec: np.ndarray
    sizes: list
    bands: list = field(default_factory=list)
    locator: object = None  # assembly tasks reopen the repository in the worker: ``locator.open()``
    dataset_type: str | None = None


@dataclass
class Group:
    """All planned rows of one coadd file."""

    ref: object
    rows: np.ndarray


@dataclass
class Plan:
    """Where every target goes, before any pixel is read."""

    table: TargetTable
    status: np.ndarray
    reason: np.ndarray  # index into reasons, -1 for none
    tract: np.ndarray
    patch: np.ndarray
    boxes: np.ndarray
    groups: list = field(default_factory=list)
    assemble: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows cut from several patches
    locator: object = None  # the repository's (picklable) locator, for assembly tasks
    dataset_type: str | None = None
    reasons: list = field(default_factory=list)
    _reason_codes: dict = field(default_factory=dict)

    def mark(self, rows, status: int, message: str = "") -> None:
        """Set the status (and message, interned) of some rows."""
        self.status[rows] = status
        if message:
            if message not in self._reason_codes:
                self._reason_codes[message] = len(self.reasons)
                self.reasons.append(message)
            self.reason[rows] = self._reason_codes[message]
        else:
            self.reason[rows] = -1

    def message(self, row: int) -> str:
        code = int(self.reason[row])
        return self.reasons[code] if code >= 0 else ""

    @property
    def num_planned(self) -> int:
        return sum(len(g.rows) for g in self.groups) + len(self.assemble)

    def num_tasks(self, chunk: int = DEFAULT_CHUNK) -> int:
        return sum(-(-len(g.rows) // chunk) for g in self.groups) + -(-len(self.assemble) // ASSEMBLY_CHUNK)

    def tasks(self, namer, chunk: int = DEFAULT_CHUNK, workers: int = 1):
        """Tasks of at most ``chunk`` targets, file by file.

        With several ``workers``, tasks shrink towards the end of the batch
        (guided scheduling: at most 1/(2 x workers) of what is left, down to
        :data:`MIN_CHUNK`), so that the workers run out of work together.
        """
        left = sum(len(group.rows) for group in self.groups)
        for group in self.groups:
            start = 0
            while start < len(group.rows):
                size = chunk if workers <= 1 else min(chunk, max(MIN_CHUNK, -(-left // (2 * workers))))
                rows = group.rows[start:start + size]
                start += len(rows)
                left -= len(rows)
                yield self._task(group.ref, rows, namer)
        for start in range(0, len(self.assemble), ASSEMBLY_CHUNK):
            yield self._task(None, self.assemble[start:start + ASSEMBLY_CHUNK], namer)

    def _task(self, ref, rows, namer) -> Task:
        table = self.table
        return Task(ref, rows, self.boxes[rows], [table.ids[i] for i in rows], [namer(i) for i in rows],
                    table.ra[rows], table.dec[rows], [str(table.size_of(i)) for i in rows],
                    [table.band_of(i) for i in rows], self.locator, self.dataset_type)

    def summary(self) -> list[dict]:
        """One record per coadd file (for ``--dry-run``)."""
        records = [{"tract": g.ref.tract, "patch": g.ref.patch, "band": g.ref.band, "targets": len(g.rows),
                    "path": g.ref.path} for g in self.groups]
        if len(self.assemble):
            records.append({"tract": "", "patch": "", "band": "", "targets": len(self.assemble),
                            "path": "(boxes assembled from several patches)"})
        return records


def plan_batch(repo, table: TargetTable, dataset_type: str | None = None) -> Plan:
    """Home tract/patch, box and coadd file of every row of ``table``.

    ``repo`` is any repository (duck-typed: ``skymap``, ``ref``, ``find``, ``locator``, and for
    image collections ``home_tract_ids``); messages name options as ``table.spell`` spells them.
    Rows whose home file is absent are cut by assembly tasks when the files present hold their
    whole box, else they are ``no_data``.
    """
    n = len(table)
    plan = Plan(table, np.full(n, PENDING, np.uint8), np.full(n, -1, np.int32), np.full(n, -1, np.int32),
                np.full(n, -1, np.int32), np.zeros((n, 4), np.int32), locator=repo.locator(),
                dataset_type=dataset_type)
    for row, message in table.errors.items():
        plan.mark(row, ERROR, message)
    pending = np.flatnonzero(plan.status == PENDING)
    for start in range(0, len(pending), PLAN_BLOCK):  # blocks bound the temporary arrays of a long list
        rows = pending[start:start + PLAN_BLOCK]
        if hasattr(repo, "home_tract_ids"):  # an image collection: each band has its own home images
            tract_ids = repo.home_tract_ids(table.ra[rows], table.dec[rows], table.band_code[rows], table.bands)
        else:
            tract_ids = _home_tracts(repo.skymap, table.ra[rows], table.dec[rows])
        plan.mark(rows[tract_ids < 0], NO_DATA, "position is in no tract of the skymap")
        for tract_id in np.unique(tract_ids[tract_ids >= 0]):
            _place_in_tract(plan, repo.skymap.tract(int(tract_id)), rows[tract_ids == tract_id])
    del pending
    _group_by_file(plan, repo, dataset_type)
    return plan


def _place_in_tract(plan: Plan, tract, rows: np.ndarray) -> None:
    """findPatch and the centred box, vectorised over the rows of one tract."""
    table = plan.table
    x, y = (np.atleast_1d(v) for v in tract.sky_to_pixel(table.ra[rows], table.dec[rows]))
    finite = np.isfinite(x) & np.isfinite(y)
    ix = np.floor(np.where(finite, x, -1e9) + 0.5).astype(np.int32)
    iy = np.floor(np.where(finite, y, -1e9) + 0.5).astype(np.int32)
    bbox = tract.bbox
    inside = finite & (ix >= bbox.begin_x) & (ix < bbox.end_x) & (iy >= bbox.begin_y) & (iy < bbox.end_y)
    plan.mark(rows[~inside], NO_DATA, f"position is outside tract {tract.id}")
    rows, x, y, ix, iy = rows[inside], x[inside], y[inside], ix[inside], iy[inside]
    pw, ph = tract.patch_inner_dimensions
    plan.tract[rows] = tract.id
    plan.patch[rows] = (iy // ph) * tract.num_patches[0] + ix // pw
    width = np.zeros(len(rows), np.int32)
    height = np.zeros(len(rows), np.int32)
    codes = table.size_code[rows]
    for code in np.unique(codes):
        members = codes == code
        try:
            width[members], height[members] = table.sizes[code].to_pixels(tract.pixel_scale)
        except CutoutError as err:
            plan.mark(rows[members], ERROR, err.describe(table.spell))
    ok = width > 0
    rows, x, y, width, height = rows[ok], x[ok], y[ok], width[ok], height[ok]
    plan.boxes[rows, 0] = np.floor(x - width / 2 + 1)  # the centred rule, docs/conventions.md, section 1.6
    plan.boxes[rows, 1] = np.floor(y - height / 2 + 1)
    plan.boxes[rows, 2] = width
    plan.boxes[rows, 3] = height


def _group_by_file(plan: Plan, repo, dataset_type) -> None:
    rows = np.flatnonzero(plan.status == PENDING).astype(np.int32)
    if not len(rows):
        return
    # one int64 key per row for (tract, patch, band): fewer and smaller temporaries than a key per column
    file_key = plan.tract[rows].astype(np.int64)
    file_key = (file_key * (int(plan.patch.max()) + 1) + plan.patch[rows]) * (len(plan.table.bands) + 1) \
        + plan.table.band_code[rows]
    order = np.lexsort((plan.boxes[rows, 0], plan.boxes[rows, 1], file_key))
    rows, file_key = rows[order], file_key[order]
    starts = np.flatnonzero(np.diff(file_key)) + 1
    del file_key
    assemble = []
    for members in np.split(rows, starts):
        first = members[0]
        tract, patch = int(plan.tract[first]), int(plan.patch[first])
        outer = repo.skymap.tract(tract).patch(patch).outer
        boxes = plan.boxes[members]
        fits = ((boxes[:, 0] >= outer.begin_x) & (boxes[:, 1] >= outer.begin_y)
                & (boxes[:, 0] + boxes[:, 2] <= outer.end_x) & (boxes[:, 1] + boxes[:, 3] <= outer.end_y))
        assemble.append(members[~fits])
        members = members[fits]
        if not len(members):
            continue
        try:
            ref = repo.ref(dataset_type, tract, patch, plan.table.band_of(first))
        except RemoteError:  # storage refusing or unreachable is not "no data": stop the batch
            raise
        except NotFoundError as err:  # the home file is absent: present neighbours may hold the boxes
            held = _held_by_present(repo, dataset_type, repo.skymap.tract(tract), outer, plan.table.band_of(first),
                                    plan.boxes[members])
            assemble.append(members[held])
            plan.mark(members[~held], NO_DATA, err.describe(plan.table.spell))
            continue
        except CutoutError as err:
            plan.mark(members, NO_DATA, err.describe(plan.table.spell))
            continue
        plan.groups.append(Group(ref, members))
    plan.assemble = np.concatenate(assemble) if assemble else plan.assemble


def _held_by_present(repo, dataset_type, tract, outer, band: str, boxes: np.ndarray) -> np.ndarray:
    """For boxes inside a patch whose file is absent (rows ``(begin_x, begin_y, width, height)``, PARENT
    pixels of ``tract``; ``outer`` is the patch's outer box): whether the files present hold every pixel
    of each box.  Those rows are cut by assembly tasks, from the files that hold them."""
    from ..cutouts.assemble import box_covered, present_outer_boxes
    from ..sky.box import Box

    outers = present_outer_boxes(repo, tract, outer, band, dataset_type)
    if not outers:
        return np.zeros(len(boxes), bool)
    return np.array([box_covered(Box(*(int(v) for v in box)), outers) for box in boxes], bool)


def _home_tracts(skymap, ras: np.ndarray, decs: np.ndarray) -> np.ndarray:
    """findTract for many positions (:meth:`~cutout_cli.sky.skymap.SkyMap.find_tract_ids`); -1 where none."""
    return np.asarray(skymap.find_tract_ids(ras, decs), dtype=np.int64)
