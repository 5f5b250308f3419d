"""The skymap of a Butler source: a preset where its name is one cutout knows, else read from the files.

The registry holds patch regions (sky polygons) but no pixel grid.  For
``lsst_cells_v1`` and ``hsc_rings_v1`` the grid is the preset's
(:data:`cutout_cli.sky.skymap.PRESETS`).  For any other skymap each tract's
grid comes from the header of one of its coadds (:class:`FileSkyMap`): the
tract WCS is the file's with CRPIX moved to PARENT pixels, and the inner
patch size and border follow from the file's PARENT box and its patch's
(x, y) index: an unclipped patch ``i`` begins at ``i * inner - border`` and
is ``inner + 2 * border`` wide.  findTract picks, among the tracts holding a
position, the one whose centre is nearest.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import DataError, NotFoundError
from ...sky.box import Box
from ...sky.skymap import PRESETS, SkyMap, skymap_from_dict
from ...sky.sphere import angular_separation
from ...sky.tract import Tract
from .records import ButlerDataset, Catalogue, missing_file

__all__ = ["catalogue_skymap", "FileSkyMap"]


def catalogue_skymap(name: str, catalogue: Catalogue, remote=None) -> SkyMap:
    """The skymap named ``name`` in ``catalogue``'s data IDs."""
    if name in PRESETS:
        return skymap_from_dict(PRESETS[name], name)
    return FileSkyMap(name, catalogue, remote)


class FileSkyMap(SkyMap):
    """A skymap whose tracts are read from one coadd file each (module docstring), on first use."""

    def __init__(self, name: str, catalogue: Catalogue, remote=None):
        self.name = name
        self._remote = remote
        self._files: dict[int, list[ButlerDataset]] = {}
        for datasets in catalogue.datasets.values():
            for d in datasets:
                if d.skymap == name and d.location is not None:
                    self._files.setdefault(d.tract, []).append(d)
        self._patches = {key[1:]: record for key, record in catalogue.patches.items() if key[0] == name}
        size = catalogue.skymap_records.get(name, {})
        cells = [(r.cell_x or 0, r.cell_y or 0) for r in self._patches.values()]
        self._grid = (size.get("patch_nx_max") or max([c[0] for c in cells], default=0) + 1,
                      size.get("patch_ny_max") or max([c[1] for c in cells], default=0) + 1)
        self._tracts: dict[int, Tract] = {}
        self._centres = {t: _centre([catalogue.tract_regions[(name, t)]] if (name, t) in catalogue.tract_regions
                                    else self._regions(t)) for t in self._files}

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return f"FileSkyMap({self.name!r}, tracts={sorted(self._files)})"

    def _regions(self, tract_id: int) -> list[bytes]:
        return [r.region for (t, _), r in self._patches.items() if t == tract_id and r.region]

    def tract(self, tract_id: int) -> Tract:
        tract_id = int(tract_id)
        if tract_id not in self._tracts:
            if tract_id not in self._files:
                raise NotFoundError(f"tract {tract_id} of skymap {self.name} has no coadd here",
                                    f"tracts with coadds: {sorted(self._files)[:10]}")
            self._tracts[tract_id] = self._read_tract(tract_id)
        return self._tracts[tract_id]

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        """Tracts whose region (else their patches' regions) comes within ``radius`` of (ra, dec)
        (every tract, where neither is known)."""
        out = []
        for tract_id, centre in self._centres.items():
            if centre is None or angular_separation(ra, dec, centre[0], centre[1]) <= centre[2] * 1.01 + radius:
                out.append(tract_id)
        return sorted(out)

    def find_tract_ids(self, ras, decs) -> np.ndarray:
        """findTract vectorised (batch planning): per position the nearest-centred tract holding it, else -1."""
        ras, decs = np.atleast_1d(np.asarray(ras, dtype=float)), np.atleast_1d(np.asarray(decs, dtype=float))
        ids, best = np.full(len(ras), -1, dtype=np.int64), np.full(len(ras), np.inf)
        for tract_id, centre in self._centres.items():
            rows = np.arange(len(ras)) if centre is None else \
                np.flatnonzero(angular_separation(ras, decs, centre[0], centre[1]) <= centre[2] * 1.01)
            if not len(rows):
                continue
            tract = self.tract(tract_id)
            distance = angular_separation(ras[rows], decs[rows], *tract.center)
            better = tract.holds(*tract.sky_to_pixel(ras[rows], decs[rows])) & (distance < best[rows])
            ids[rows[better]], best[rows[better]] = tract_id, distance[better]
        return ids

    def find_tract(self, ra: float, dec: float) -> Tract:
        tract = self.nearest_holding(ra, dec)
        if tract is None:
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is in no tract of skymap {self.name} with coadds")
        return tract

    def _read_tract(self, tract_id: int) -> Tract:
        from ...fits.coadd import CoaddFile

        dataset = self._pick_file(tract_id)
        with CoaddFile(dataset.location, remote=self._remote) as coadd:
            wcs, box = coadd.wcs.deepcopy(), coadd.bbox
        wcs.wcs.crpix = [wcs.wcs.crpix[0] + box.begin_x, wcs.wcs.crpix[1] + box.begin_y]
        cell = self._cell(tract_id, dataset.patch)
        (inner_x, border_x), (inner_y, _) = (_grid_axis(box.begin_x, box.width, cell[0], dataset),
                                             _grid_axis(box.begin_y, box.height, cell[1], dataset))
        bbox = Box(0, 0, self._grid[0] * inner_x, self._grid[1] * inner_y)
        header = dict(wcs.to_header(relax=True))
        return Tract(tract_id, header, bbox, (inner_x, inner_y), border_x, clip_outer=False)

    def _cell(self, tract_id: int, patch: int) -> tuple[int, int]:
        """A patch's (x, y) index: its record's, else from the sequential index (``y * nx + x``)."""
        record = self._patches.get((tract_id, patch))
        if record is not None and record.cell_x is not None:
            return record.cell_x, record.cell_y
        return patch % self._grid[0], patch // self._grid[0]

    def _pick_file(self, tract_id: int) -> ButlerDataset:
        """A coadd of the tract whose patch is off the grid's edges if there is one (edges may be clipped)."""
        nx, ny = self._grid

        def inside(d: ButlerDataset) -> bool:
            x, y = self._cell(tract_id, d.patch)
            return 0 < x < nx - 1 and 0 < y < ny - 1

        files = sorted(self._files[tract_id], key=lambda d: (not inside(d), d.patch, d.band))
        for dataset in files:
            if missing_file(dataset, "") is None:
                return dataset
        raise missing_file(files[0], "")


def _grid_axis(begin: int, width: int, index: int, dataset: ButlerDataset) -> tuple[int, int]:
    """(inner size, border) along one axis from a patch's PARENT extent and its index on that axis."""
    inner, rest = divmod(2 * begin + width, 2 * index + 1)
    border2 = width - inner
    if rest or inner <= 0 or border2 < 0 or border2 % 2:
        raise DataError(f"cannot infer the patch grid of skymap {dataset.skymap} from {dataset.location} "
                        f"(patch {dataset.patch} begins at {begin}, {width} px wide)",
                        "is its patch index right? Skymaps cutout knows: " + ", ".join(PRESETS))
    return inner, border2 // 2


def _centre(regions: list[bytes]):
    """(ra, dec, reach) of the vertices of encoded convex polygons (degrees); None without regions."""
    vertices = [v for raw in regions for v in _polygon_vertices(raw)]
    if not vertices:
        return None
    points = np.array(vertices)
    mean = points.mean(axis=0)
    mean /= np.linalg.norm(mean)
    reach = float(np.degrees(np.arccos(np.clip(points @ mean, -1.0, 1.0))).max())
    ra = math.degrees(math.atan2(mean[1], mean[0])) % 360.0
    return ra, math.degrees(math.asin(max(-1.0, min(1.0, float(mean[2]))))), reach


def _polygon_vertices(raw: bytes) -> list:
    from lsst.sphgeom import ConvexPolygon, Region

    region = Region.decode(raw)
    if not isinstance(region, ConvexPolygon):
        return []
    return [(v.x(), v.y(), v.z()) for v in region.getVertices()]

