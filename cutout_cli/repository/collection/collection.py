"""An indexed image folder as a repository: the index registry, and :class:`ImageCollection`."""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from ...errors import DataError, InputError, NotFoundError
from ...storage.base import is_remote
from ...storage.local import LocalStorage
from ..refs import DatasetRef
from ..registry import Registry
from ..repository import Repository, RepositoryLocator
from .index import ImageIndex
from .records import ImageRecord
from .schema import ANY_BAND, DATASET_TYPE, INDEX_NAME, SKYMAP_NAME, band_matches
from .skymap import CollectionSkyMap

__all__ = ["ImageCollection", "ImageIndexRegistry", "is_image_collection"]


def is_image_collection(root) -> bool:
    """True for a local folder holding an image index and no ``repo.json`` (repo.json wins)."""
    if is_remote(root):
        return False
    return os.path.isfile(os.path.join(root, INDEX_NAME)) and not os.path.exists(os.path.join(root, "repo.json"))


class ImageIndexRegistry(Registry):
    """The datasets of an indexed folder: one dataset type, ``image``; tract = image id, patch 0.

    Its skymap depends on the band asked for: the home image of a position is
    chosen among the images of that band (``None`` or ``any``: every image).
    """

    default_type = DATASET_TYPE

    def __init__(self, storage: LocalStorage, index: ImageIndex | None = None):
        self.storage = storage
        index_path = storage.join(INDEX_NAME)
        if index is None and not storage.exists(index_path):
            raise DataError(f"{storage.root} has no image index {INDEX_NAME}",
                            f"run 'cutout index {storage.root}' first")
        self.index = index or ImageIndex(index_path)
        self.dataset_types = [DATASET_TYPE]
        self.config = {"skymap": {"type": "images", "name": SKYMAP_NAME}, "datasets": {DATASET_TYPE: "{path}"}}
        self._tracts = OrderedDict()  # parsed image WCSs, shared by the band views
        self._skymaps: dict = {}

    def skymap_for(self, band: str | None) -> CollectionSkyMap:
        band = None if band == ANY_BAND else band
        if band not in self._skymaps:
            self._skymaps[band] = CollectionSkyMap(self.index, band, cache=self._tracts)
        return self._skymaps[band]

    def record(self, tract_id: int) -> ImageRecord:
        record = self.index.record(tract_id)
        if record is None:
            raise NotFoundError(f"image {tract_id} is not in the index {self.index.path}")
        return record

    def expected_path(self, dataset_type: str, patch, band: str) -> str:
        return self.storage.join(self.record(patch.tract).path)

    def bands(self, dataset_type: str, patch) -> list[str]:
        return [self.record(patch.tract).band]

    def find(self, dataset_type: str, patch, band: str | None) -> DatasetRef | None:
        record = self.index.record(patch.tract)
        if record is None or patch.index != 0 or not band_matches(band, record.band):
            return None
        path = self.storage.join(record.path)
        if not self.storage.exists(path):
            return None
        return DatasetRef(dataset_type, record.id, 0, 0, 0, record.band, path, patch.outer)

    def missing(self, dataset_type: str, patch, band: str) -> NotFoundError:
        record = self.record(patch.tract)
        path = self.storage.join(record.path)
        if not self.storage.exists(path):
            return NotFoundError(f"image {patch.tract} ({path}) no longer exists",
                                 f"update the index: cutout index {self.storage.root} --update")
        return NotFoundError(f"image {patch.tract} ({record.path}) has band {record.band!r}, not {band!r}",
                             "give {}, or {} for every image",
                             options=[("band", record.band or ANY_BAND), ("band", ANY_BAND)])


class ImageCollection(Repository):
    """A folder of FITS images indexed by ``cutout index``, with the :class:`Repository` interface.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``.cutout-index.sqlite`` (default ``$CUTOUT_REPO``).
    band : str, optional
        Restrict :attr:`skymap` (and ``len``) to images of this band (see the
        package docstring); :meth:`for_band` makes such views.

    There is one dataset type, ``image``; tracts are image ids and every image
    has one patch, 0.  ``query``, ``cutout``, ``get``, ``get_box``, ``deferred``
    and ``batch`` work as on any repository, choosing the home image among the
    images of the band asked for; ``--band any`` (``band=None``) takes every
    image whatever its band.
    """

    def __init__(self, root=None, band: str | None = None, *, index: ImageIndex | None = None,
                 registry: ImageIndexRegistry | None = None):
        root = root or os.environ.get("CUTOUT_REPO")
        if not root:
            raise InputError("give the folder of an image collection")
        storage = registry.storage if registry is not None else LocalStorage(root)
        if not storage.is_folder():
            raise DataError(f"image folder {storage.root} does not exist",
                            "give {} a folder indexed by 'cutout index'", options=[("root", None)])
        super().__init__(storage=storage, registry=registry or ImageIndexRegistry(storage, index))
        self.band = None if band == ANY_BAND else band
        self._views: dict = {}

    def __repr__(self) -> str:
        band = "" if self.band is None else f", band={self.band!r}"
        return f"ImageCollection({self.root!r}{band})"

    def __len__(self) -> int:
        return len(self.skymap)

    @property
    def index(self) -> ImageIndex:
        return self.registry.index

    @property
    def skymap(self) -> CollectionSkyMap:
        """The images as a skymap (restricted to :attr:`band` for spatial lookups)."""
        return self.registry.skymap_for(self.band)

    def locator(self) -> RepositoryLocator:
        return RepositoryLocator(ImageCollection, self.root, (("band", self.band),))

    def for_band(self, band: str | None) -> ImageCollection:
        """This collection seen through one band (``None`` or ``any``: every image)."""
        band = None if band == ANY_BAND else band
        if band == self.band:
            return self
        if band not in self._views:
            self._views[band] = ImageCollection(self.root, band, registry=self.registry)
        return self._views[band]

    def images(self, band: str | None = None) -> list[dict]:
        """Every indexed image (of ``band``), by id, as records."""
        return [r.as_dict() for r in self.index.records(band)]

    def home_tract_ids(self, ras, decs, band_codes, bands) -> np.ndarray:
        """Vectorised findTract per band, for batch planning: ``bands[band_codes[i]]`` is row i's band."""
        ras, decs, band_codes = np.asarray(ras), np.asarray(decs), np.asarray(band_codes)
        ids = np.full(len(ras), -1, dtype=np.int64)
        for code in np.unique(band_codes):
            members = band_codes == code
            skymap = self.registry.skymap_for(bands[code] if code >= 0 else None)
            ids[members] = skymap.find_tract_ids(ras[members], decs[members])
        return ids
