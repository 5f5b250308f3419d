"""The registry of a Butler source: its catalogue's datasets served by patch and band, with Butler semantics.

Spatial queries are answered as ``butler.query_datasets(..., where="patch.region
OVERLAPS POINT(ra, dec)")`` answers them: with ``lsst.sphgeom`` on the
registry's patch regions, a point being a zero-radius circle (so a point up
to 5e-8 rad outside a region overlaps it, sphgeom's tolerance), and a region
kept unless sphgeom says it is disjoint.  Pixel boxes come from the skymap
(:mod:`.skymap`).
"""

from __future__ import annotations

from functools import cached_property

from ...errors import DataError, NotFoundError
from ...sky.skymap import SkyMap
from ...sky.tract import Patch
from ..refs import DatasetRef
from ..registry import Registry
from .records import ButlerDataset, Catalogue, missing_file
from .skymap import catalogue_skymap

__all__ = ["ButlerRegistry"]


class ButlerRegistry(Registry):
    """Datasets of a Butler repository, artifact folder or zip, from its :class:`~.records.Catalogue`."""

    def __init__(self, catalogue: Catalogue, *, kind: str, remote=None):
        self.catalogue = catalogue
        self.remote = remote
        self.dataset_types = [t for t in catalogue.dataset_types if t in catalogue.datasets] \
            or list(catalogue.dataset_types)
        self.config = {"butler": catalogue.source, "kind": kind, "collections": list(catalogue.collections),
                       "datasets": {t: "registry" for t in self.dataset_types}}
        self._by_patch: dict[tuple, ButlerDataset] = {}
        self._by_id: dict[str, ButlerDataset] = {}
        self._bands: dict[tuple, list[str]] = {}  # (type, tract, patch): bands; its keys sorted are the patches
        self._regions: dict[bytes, object] = {}  # decoded patch regions
        for name, datasets in catalogue.datasets.items():
            for d in datasets:
                self._by_patch[(name, d.tract, d.patch, d.band)] = d
                self._by_id[d.dataset_id] = d
                self._bands.setdefault((name, d.tract, d.patch), []).append(d.band)
        self._patches_of = {name: sorted((t, p) for (n, t, p) in self._bands if n == name)
                            for name in catalogue.datasets}
        if not self.dataset_types:
            raise NotFoundError(f"{catalogue.source} has no coadd dataset type (with skymap, tract, patch, band)")

    @cached_property
    def skymap(self) -> SkyMap:
        names = sorted({d.skymap for datasets in self.catalogue.datasets.values() for d in datasets})
        if not names:
            raise NotFoundError(f"the collections {', '.join(self.catalogue.collections)} of "
                                f"{self.catalogue.source} hold no coadd", "choose others with {}",
                                options=[("collections", None)])
        if len(names) > 1:
            raise DataError(f"{self.catalogue.source} holds coadds of {len(names)} skymaps ({', '.join(names)})",
                            "choose collections of one skymap with {}", options=[("collections", None)])
        self.config["skymap"] = names[0]
        return catalogue_skymap(names[0], self.catalogue, self.remote)

    def skymap_for(self, band: str | None) -> SkyMap:
        return self.skymap

    def bands(self, dataset_type: str, patch: Patch) -> list[str]:
        return sorted(self._bands.get((dataset_type, patch.tract, patch.index), []))

    def dataset(self, dataset_type: str, patch: Patch, band: str) -> ButlerDataset | None:
        return self._by_patch.get((dataset_type, patch.tract, patch.index, band))

    def find(self, dataset_type: str, patch: Patch, band: str | None) -> DatasetRef | None:
        d = self.dataset(dataset_type, patch, band)
        if d is None:
            return None
        error = missing_file(d, self.catalogue.source)
        if error is not None:
            raise error
        return DatasetRef(dataset_type, d.tract, d.patch, patch.x, patch.y, d.band, d.location, patch.outer,
                          dataset_id=d.dataset_id, run=d.run)

    def find_id(self, dataset_id: str) -> DatasetRef | None:
        """The dataset with this id among those found in the collections searched (find-first), or None."""
        d = self._by_id.get(dataset_id)
        if d is None:
            return None
        return self.find(d.dataset_type, self.skymap.tract(d.tract).patch(d.patch), d.band)

    def expected_path(self, dataset_type: str, patch: Patch, band: str) -> str:
        d = self.dataset(dataset_type, patch, band)
        return d.location if d is not None and d.location else \
            f"{self.catalogue.source} ({dataset_type} {patch.tract}/{patch.index}/{band})"

    def missing(self, dataset_type: str, patch: Patch, band: str) -> NotFoundError:
        where = f"in {', '.join(self.catalogue.collections)}"
        present = self.bands(dataset_type, patch)
        hint = f"bands present for this patch: {', '.join(present)}" if present else \
            "query which patches hold data: cutout query --pos 'RA DEC'"
        return NotFoundError(f"no {dataset_type} for tract {patch.tract} patch {patch.index} band {band} {where}",
                             hint)

    def overlapping(self, dataset_type: str, skymap: SkyMap, ra: float, dec: float, region) -> list[Patch]:
        """Patches with a dataset of ``dataset_type`` whose registry region overlaps the point or region
        (the Butler's answer; see the module docstring), by tract then patch."""
        from lsst.sphgeom import Circle, LonLat, UnitVector3d

        target = region if region is not None else Circle(UnitVector3d(LonLat.fromDegrees(ra, dec)))
        # as the Butler's post-filter: a patch is dropped only when sphgeom says it is disjoint
        return [skymap.tract(tract).patch(patch) for tract, patch in self._patches_of.get(dataset_type, [])
                if self._region(skymap.name, tract, patch).overlaps(target) is not False]

    def _region(self, skymap_name: str, tract: int, patch: int):
        """The patch's registry region, decoded once."""
        from lsst.sphgeom import Region

        record = self.catalogue.patches.get((skymap_name, tract, patch))
        if record is None or not record.region:
            raise DataError(f"{self.catalogue.source} has no region for patch {tract}/{patch} of {skymap_name}",
                            "is the patch dimension record there?")
        if record.region not in self._regions:
            self._regions[record.region] = Region.decode(record.region)
        return self._regions[record.region]

