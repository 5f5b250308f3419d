"""Skymaps: named sets of tracts, findTract (docs/conventions.md, section 2).

Two kinds of skymap description are supported:

``rings``
    The LSST rings sky map computed from its parameters (``lsst_cells_v1``,
    ``hsc_rings_v1``): tract ids, centres, tract WCS and patch grids are derived
    exactly as lsst.skymap does.
``explicit``
    A list of tracts, each with its FITS WCS keywords, bounding box and patch grid.

Tracts and patches are in :mod:`cutout_cli.sky.tract` (pixel conventions
there).  Angles are in degrees unless a name says otherwise.  Reading a skymap
file is the repository's business: this module builds skymaps from their
description (:func:`skymap_from_dict`, :func:`skymap_from_json`).
"""

from __future__ import annotations

import json
import math
from functools import cached_property

import numpy as np

from ..errors import DataError, NotFoundError
from .box import Box
from .sphere import angular_separation, offset_point
from .tract import Patch, Tract, tan_header

__all__ = ["PRESETS", "SkyMap", "RingsSkyMap", "ExplicitSkyMap", "skymap_from_dict", "skymap_from_json",
           "Patch", "Tract"]

PRESETS: dict[str, dict] = {
    "lsst_cells_v1": {
        "type": "rings",
        "name": "lsst_cells_v1",
        "num_rings": 120,
        "ra_start": 0.0,
        "pixel_scale": 0.2,
        "tract_overlap": 1.0 / 60.0,
        "projection": "TAN",
        "tract_builder": "cells",
        "patch_inner_dimensions": [3000, 3000],
        "patch_border": 200,
    },
    "hsc_rings_v1": {
        "type": "rings",
        "name": "hsc_rings_v1",
        "num_rings": 120,
        "ra_start": 0.0,
        "pixel_scale": 0.168,
        "tract_overlap": 1.0 / 60.0,
        "projection": "TAN",
        "tract_builder": "legacy",
        "patch_inner_dimensions": [4000, 4000],
        "patch_border": 100,
    },
}


class SkyMap:
    """Base class: a named set of tracts.

    Subclasses give :meth:`tract`, :meth:`find_tract` and
    :meth:`candidate_tract_ids`; the rest is built on them.
    """

    name: str

    def tract(self, tract_id: int) -> Tract:
        raise NotImplementedError

    def find_tract(self, ra: float, dec: float) -> Tract:
        raise NotImplementedError

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        """Ids of tracts that may reach within ``radius`` degrees of (ra, dec)."""
        raise NotImplementedError

    def find_tract_ids(self, ras, decs) -> np.ndarray:
        """findTract for many positions (degrees): an int64 array of tract ids, -1 where none.

        This default calls :meth:`find_tract` per position; skymaps with a
        vectorised rule override it.
        """
        ras, decs = np.atleast_1d(np.asarray(ras, dtype=float)), np.atleast_1d(np.asarray(decs, dtype=float))
        ids = np.full(len(ras), -1, dtype=np.int64)
        for i, (ra, dec) in enumerate(zip(ras, decs, strict=True)):
            try:
                ids[i] = self.find_tract(float(ra), float(dec)).id
            except NotFoundError:
                pass
        return ids

    def nearest_holding(self, ra: float, dec: float) -> Tract | None:
        """Among the candidate tracts whose bbox holds (ra, dec), the one whose centre is nearest
        (lsst DiscreteSkyMap's findTract), or None."""
        best = None
        for tract_id in self.candidate_tract_ids(ra, dec):
            tract = self.tract(tract_id)
            if tract.holds(*tract.sky_to_pixel(ra, dec)):
                distance = float(angular_separation(ra, dec, *tract.center))
                if best is None or distance < best[0]:
                    best = (distance, tract)
        return None if best is None else best[1]

    def find_home(self, ra: float, dec: float) -> tuple[Tract, Patch]:
        """findTract + findPatch: the one home tract and patch of a position."""
        tract = self.find_tract(ra, dec)
        return tract, tract.find_patch(ra, dec)

    def patches_overlapping(self, ra: float, dec: float, radius: float = 0.0) -> list[Patch]:
        """Every patch, of every tract, holding the point (or that may overlap the circle); by tract then patch."""
        found = []
        for tract_id in sorted(self.candidate_tract_ids(ra, dec, radius)):
            found.extend(self.tract(tract_id).patches_overlapping(ra, dec, radius))
        return found


class RingsSkyMap(SkyMap):
    """The lsst.skymap rings sky map, computed from its configuration.

    Parameters are those of ``RingsSkyMapConfig`` (angles in degrees, pixel
    scale in arcsec) plus the tract builder: ``cells`` (outer patch boxes not
    clipped) or ``legacy`` (clipped to the tract).
    """

    def __init__(self, name, *, num_rings, ra_start, pixel_scale, tract_overlap, patch_inner_dimensions,
                 patch_border, tract_builder="cells", projection="TAN", rotation=0.0):
        if rotation:
            raise DataError(f"skymap {name}: rotation {rotation} is not supported", "only rotation 0 is")
        if tract_builder not in ("cells", "legacy"):
            raise DataError(f"skymap {name}: unknown tract_builder {tract_builder!r}", "use 'cells' or 'legacy'")
        self.name = name
        self.num_rings = int(num_rings)
        self.ra_start = float(ra_start)
        self.pixel_scale = float(pixel_scale)
        self.tract_overlap = float(tract_overlap)
        self.patch_inner_dimensions = tuple(int(v) for v in patch_inner_dimensions)
        self.patch_border = int(patch_border)
        self.clip_outer = tract_builder == "legacy"
        self.projection = projection
        self.ring_size = math.pi / (self.num_rings + 1)
        ring_nums = []
        for i in range(self.num_rings):
            start = self.ring_size * (i + 0.5) - 0.5 * math.pi
            stop = start + self.ring_size
            ring_nums.append(int(2 * math.pi * math.cos(min(abs(start), abs(stop))) / self.ring_size) + 1)
        self.ring_nums = np.array(ring_nums, dtype=np.int64)
        self._ring_first_id = np.concatenate([[1], 1 + np.cumsum(self.ring_nums)])
        self.num_tracts = int(self.ring_nums.sum()) + 2
        self._tracts: dict[int, Tract] = {}

    def __len__(self) -> int:
        return self.num_tracts

    def ring_indices(self, tract_id: int) -> tuple[int, int]:
        """(ring, index within ring); ring -1 and ``num_rings`` are the polar caps."""
        if not 0 <= tract_id < self.num_tracts:
            raise NotFoundError(f"tract {tract_id} is not in skymap {self.name}", f"ids run from 0 to {self.num_tracts - 1}")
        if tract_id == 0:
            return -1, 0
        if tract_id == self.num_tracts - 1:
            return self.num_rings, 0
        ring = int(np.searchsorted(self._ring_first_id, tract_id, side="right")) - 1
        return ring, int(tract_id - self._ring_first_id[ring])

    @cached_property
    def tract_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Arrays (ra, dec) in degrees of every tract centre, indexed by tract id."""
        ra = np.zeros(self.num_tracts)
        dec = np.zeros(self.num_tracts)
        dec[0], dec[-1] = -90.0, 90.0
        for ring, n in enumerate(self.ring_nums):
            ids = slice(self._ring_first_id[ring], self._ring_first_id[ring] + n)
            dec[ids] = math.degrees(self.ring_size * (ring + 1) - 0.5 * math.pi)
            ra[ids] = (np.degrees(2 * math.pi * np.arange(n) / n) + self.ra_start) % 360.0
        return ra, dec

    def tract(self, tract_id: int) -> Tract:
        tract_id = int(tract_id)
        if tract_id not in self._tracts:
            self.ring_indices(tract_id)  # validates the id
            ra, dec = (float(a[tract_id]) for a in self.tract_centers)
            self._tracts[tract_id] = self._build_tract(tract_id, ra, dec)
        return self._tracts[tract_id]

    def _build_tract(self, tract_id: int, ra: float, dec: float) -> Tract:
        """Tract geometry exactly as lsst.skymap's ExplicitTractInfo + tract builder."""
        from astropy.wcs import WCS

        scale = self.pixel_scale / 3600.0
        wcs0 = WCS(tan_header(ra, dec, (1.0, 1.0), scale, self.projection))  # LSST crpix (0, 0)
        reach = math.degrees(0.5 * self.ring_size) + self.tract_overlap
        corners = [offset_point(ra, dec, bearing, reach) for bearing in (0.0, 90.0, 180.0, 270.0)]
        xs, ys = wcs0.wcs_world2pix([c[0] for c in corners], [c[1] for c in corners], 0)
        minimum = Box.from_float_bounds(min(xs), min(ys), max(xs), max(ys))
        begin, dims = [minimum.begin_x, minimum.begin_y], [minimum.width, minimum.height]
        for i, inner in enumerate(self.patch_inner_dimensions):
            num = -(-dims[i] // inner)
            delta = inner * num - dims[i]
            if delta > 0:
                dims[i] = inner * num
                begin[i] -= delta // 2
        header = tan_header(ra, dec, (1.0 - begin[0], 1.0 - begin[1]), scale, self.projection)
        return Tract(tract_id, header, Box(0, 0, dims[0], dims[1]), self.patch_inner_dimensions,
                     self.patch_border, self.clip_outer)

    def find_tract_ids(self, ra, dec) -> np.ndarray:
        """Vectorised findTract (the rings rule, not nearest centre); degrees in, ids out."""
        ra_rad = np.radians(np.asarray(ra, dtype=float))
        dec_rad = np.radians(np.asarray(dec, dtype=float))
        first = 0.5 * self.ring_size - 0.5 * math.pi
        ring = np.floor((dec_rad - first) / self.ring_size).astype(np.int64)
        south, north = dec_rad < first, (dec_rad > -first) | (ring >= self.num_rings)
        ring = np.clip(ring, 0, self.num_rings - 1)
        n = self.ring_nums[ring]
        t = ((ra_rad - math.radians(self.ra_start)) % (2 * math.pi) / (2 * math.pi / n) + 0.5).astype(np.int64)
        t = np.where(t == n, 0, t)
        ids = self._ring_first_id[ring] + t
        return np.where(south, 0, np.where(north, self.num_tracts - 1, ids))

    def find_tract(self, ra: float, dec: float) -> Tract:
        return self.tract(int(self.find_tract_ids(ra, dec)))

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        ras, decs = self.tract_centers
        reach = self.tract(int(self.find_tract_ids(ra, dec))).reach
        near = angular_separation(ra, dec, ras, decs) <= reach * 1.01 + radius
        return [int(i) for i in np.flatnonzero(near)]


class ExplicitSkyMap(SkyMap):
    """A skymap given as an explicit list of tracts (each with FITS WCS keywords).

    findTract picks, among the tracts whose bbox holds the position, the one
    whose centre is nearest (lsst DiscreteSkyMap semantics).
    """

    def __init__(self, name: str, tracts: list[Tract]):
        self.name = name
        self._tracts = {t.id: t for t in tracts}
        if not self._tracts:
            raise DataError(f"skymap {name} has no tracts", "list at least one tract")

    def __len__(self) -> int:
        return len(self._tracts)

    def tract(self, tract_id: int) -> Tract:
        try:
            return self._tracts[int(tract_id)]
        except KeyError:
            raise NotFoundError(f"tract {tract_id} is not in skymap {self.name}",
                                f"known tracts: {sorted(self._tracts)[:10]}") from None

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        return [t.id for t in self._tracts.values()
                if angular_separation(ra, dec, *t.center) <= t.reach * 1.01 + radius]

    def find_tract(self, ra: float, dec: float) -> Tract:
        tract = self.nearest_holding(ra, dec)
        if tract is None:
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is in no tract of skymap {self.name}")
        return tract


def skymap_from_dict(spec: dict, source: str = "skymap") -> SkyMap:
    """Build a skymap from its JSON description (docs/repositories.md, "Skymaps").

    ``spec`` is ``{"type": "rings", ...}``, ``{"type": "explicit", "tracts": [...]}``
    or ``{"preset": NAME, ...overrides}``; ``source`` names it in errors.
    """
    try:
        kind = spec.get("type")
        if "preset" in spec:
            if spec["preset"] not in PRESETS:
                raise DataError(f"{source}: unknown skymap preset {spec['preset']!r}",
                                f"known presets: {', '.join(PRESETS)}")
            spec = {**PRESETS[spec["preset"]], **{k: v for k, v in spec.items() if k != "preset"}}
            kind = spec["type"]
        if kind == "rings":
            return RingsSkyMap(
                spec["name"], num_rings=spec["num_rings"], ra_start=spec.get("ra_start", 0.0),
                pixel_scale=spec["pixel_scale"], tract_overlap=spec["tract_overlap"],
                patch_inner_dimensions=spec["patch_inner_dimensions"], patch_border=spec["patch_border"],
                tract_builder=spec.get("tract_builder", "cells"), projection=spec.get("projection", "TAN"),
                rotation=spec.get("rotation", 0.0),
            )
        if kind == "explicit":
            tracts = []
            for t in spec["tracts"]:
                x0, y0, w, h = t["bbox"]
                tracts.append(Tract(t["id"], t["wcs"], Box(x0, y0, w, h), t["patch_inner_dimensions"],
                                    t.get("patch_border", 0), t.get("clip_outer", False)))
            return ExplicitSkyMap(spec.get("name", "explicit"), tracts)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DataError(f"{source}: malformed skymap description ({type(err).__name__}: {err})",
                        "see docs/repositories.md, 'Skymaps'") from None
    raise DataError(f"{source}: unknown skymap type {kind!r}", "use 'rings' or 'explicit'")


def skymap_from_json(text: str, source: str = "skymap") -> SkyMap:
    """Build a skymap from the text of a skymap JSON file (``source`` names it in errors)."""
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"cannot read skymap file {source}: {err}") from None
    if not isinstance(spec, dict):
        raise DataError(f"skymap file {source} is not a JSON object")
    return skymap_from_dict(spec, source)
