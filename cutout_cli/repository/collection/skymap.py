"""The images of an index as a skymap: each image a tract of one patch (package docstring: "The model")."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from ...sky.box import round_half_up
from ...sky.skymap import SkyMap
from ...sky.sphere import angular_separation
from ...sky.tract import Tract
from ...errors import NotFoundError
from .index import ImageIndex
from .schema import ANY_BAND, SKYMAP_NAME, TRACT_CACHE

class CollectionSkyMap(SkyMap):
    """A skymap whose tracts are the images of an index (read lazily).

    ``band`` restricts the images considered by the spatial lookups (findTract,
    candidates); :meth:`tract` serves any image by id.
    """

    def __init__(self, index: ImageIndex, band: str | None = None, name: str = SKYMAP_NAME, cache=None):
        self.name = name
        self.index = index
        self.band = None if band == ANY_BAND else band
        self._tracts = cache if cache is not None else OrderedDict()

    def __len__(self) -> int:
        return self.index.count(self.band)

    def __repr__(self) -> str:
        return f"CollectionSkyMap({str(self.index.path)!r}, band={self.band!r})"

    def _what(self) -> str:
        return f"image of {self.index.path.parent}" + (f" in band {self.band!r}" if self.band is not None else "")

    def tract(self, tract_id: int) -> Tract:
        tract_id = int(tract_id)
        tract = self._tracts.get(tract_id)
        if tract is None:
            record = self.index.record(tract_id)
            if record is None:
                raise NotFoundError(f"image {tract_id} is not in the index {self.index.path}",
                                    f"image ids include {self.index.ids()}; list them with 'cutout query'")
            tract = record.tract()
            self._tracts[tract_id] = tract
            if len(self._tracts) > TRACT_CACHE:
                self._tracts.popitem(last=False)
        return tract

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        """Images whose footprint may reach within ``radius`` of (ra, dec): SQL on the bounding boxes."""
        rows = self.index.near(ra, dec, radius, self.band)
        if not rows:
            return []
        ids = np.array([r[0] for r in rows])
        distance = angular_separation(ra, dec, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))
        return [int(i) for i in ids[distance <= np.array([r[3] for r in rows]) + radius]]

    def patches_overlapping(self, ra: float, dec: float, radius: float = 0.0) -> list:
        """The (one) patch of every image holding the point; for a circle, of every image whose
        footprint circle reaches it: a superset, as for tracts (:mod:`cutout_cli.sky.regions` decides
        exactly).  No pixel-space test far from an image: a SIP inverse diverges there."""
        if radius <= 0:
            return super().patches_overlapping(ra, dec, radius)
        return [self.tract(t).patch(0) for t in sorted(self.candidate_tract_ids(ra, dec, radius))]

    def find_tract(self, ra: float, dec: float) -> Tract:
        """The image holding (ra, dec) whose centre is nearest (findTract)."""
        best = None
        for tract_id in self.candidate_tract_ids(ra, dec):
            tract = self.tract(tract_id)
            x, y = (float(v) for v in tract.sky_to_pixel(ra, dec))
            if math.isfinite(x) and math.isfinite(y) and tract.bbox.contains_pixel(round_half_up(x), round_half_up(y)):
                distance = float(angular_separation(ra, dec, *tract.center))
                if best is None or distance < best[0]:
                    best = (distance, tract)
        if best is None:
            hint, options = None, ()
            if self.band is not None:
                bands = ", ".join(repr(b) for b in self.index.bands()).replace("{", "{{").replace("}", "}}")
                hint, options = f"bands indexed: {bands}; {{}} takes every image", [("band", ANY_BAND)]
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is in no {self._what()}", hint, options=options)
        return best[1]

    def find_tract_ids(self, ras, decs) -> np.ndarray:
        """Vectorised findTract: the home image id of each position, -1 where none.

        Loops over the images whose bounding box meets the positions' Dec range,
        each testing only the positions inside its bounding box with one
        vectorised WCS call.  Same rule and tie-break (lowest id) as :meth:`find_tract`.
        """
        ras = np.atleast_1d(np.asarray(ras, dtype=float)) % 360.0
        decs = np.atleast_1d(np.asarray(decs, dtype=float))
        ids = np.full(len(ras), -1, dtype=np.int64)
        valid = np.flatnonzero(np.isfinite(ras) & np.isfinite(decs))
        if not len(valid):
            return ids
        best = np.full(len(ras), np.inf)
        order = valid[np.argsort(decs[valid], kind="stable")]
        sorted_dec = decs[order]
        for image_id, cra, cdec, ra_lo, ra_width, dec_min, dec_max in self.index.in_dec_range(
                float(sorted_dec[0]), float(sorted_dec[-1]), self.band):
            rows = order[np.searchsorted(sorted_dec, dec_min, "left"):np.searchsorted(sorted_dec, dec_max, "right")]
            if len(rows) and ra_width < 360.0:
                rows = rows[(ras[rows] - ra_lo) % 360.0 <= ra_width]
            if not len(rows):
                continue
            tract = self.tract(image_id)
            with np.errstate(invalid="ignore"):
                x, y = (np.atleast_1d(v) for v in tract.sky_to_pixel(ras[rows], decs[rows]))
            finite = np.isfinite(x) & np.isfinite(y)
            ix = np.floor(np.where(finite, x, -1e18) + 0.5)
            iy = np.floor(np.where(finite, y, -1e18) + 0.5)
            box = tract.bbox
            inside = finite & (ix >= box.begin_x) & (ix < box.end_x) & (iy >= box.begin_y) & (iy < box.end_y)
            rows = rows[inside]
            distance = angular_separation(ras[rows], decs[rows], cra, cdec)
            better = distance < best[rows]
            ids[rows[better]] = image_id
            best[rows[better]] = distance[better]
        return ids
