"""The registry seam: what a kind of repository answers, so that :class:`~.repository.Repository` serves
every kind the same way.

A registry knows a repository's dataset types, its skymap and which file
holds the dataset of a patch and band.  Today's registries:
:class:`~.templates.TemplateRegistry` (``repo.json`` and path templates) and
:class:`~.collection.collection.ImageIndexRegistry` (a folder indexed by
``cutout index``).  A new kind of source (a Butler registry, a
``butler retrieve-artifacts`` folder: :class:`~.butler.registry.ButlerRegistry`)
is one more subclass; nothing above the repository changes (docs/architecture.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..errors import InputError
from ..sky.regions import overlapping_patches
from ..sky.skymap import SkyMap
from ..sky.tract import Patch
from .refs import DatasetRef

__all__ = ["Registry"]


class Registry(ABC):
    """Datasets of one repository, found by patch and band.

    Attributes
    ----------
    dataset_types : list of str
        The dataset types it holds, the default first when there is one.
    config : dict
        The repository's description (``repo.json``'s content, or its equivalent).
    """

    dataset_types: list[str]
    config: dict
    default_type = "deep_coadd"

    @abstractmethod
    def skymap_for(self, band: str | None) -> SkyMap:
        """The skymap whose findTract serves requests in ``band`` (the same for every band where
        the skymap does not depend on what data there is)."""

    @abstractmethod
    def bands(self, dataset_type: str, patch: Patch) -> list[str]:
        """Bands present for one patch, sorted."""

    @abstractmethod
    def find(self, dataset_type: str, patch: Patch, band: str | None) -> DatasetRef | None:
        """The dataset of one patch and band, or None when it is absent."""

    @abstractmethod
    def expected_path(self, dataset_type: str, patch: Patch, band: str) -> str:
        """Where the dataset would be (for messages: a path or URL, maybe with ``*``)."""

    @abstractmethod
    def missing(self, dataset_type: str, patch: Patch, band: str):
        """The NotFoundError to raise for an absent dataset (naming what is there instead)."""

    def find_id(self, dataset_id: str) -> DatasetRef | None:
        """The dataset with this Butler dataset id (a UUID as the Butler prints it), or None: a
        registry without dataset ids finds none."""
        return None

    def overlapping(self, dataset_type: str, skymap: SkyMap, ra: float, dec: float, region) -> list[Patch]:
        """The patches a query considers, by tract then patch: those whose outer box holds the point
        (ra, dec) (exactly, in tract pixels), or whose outer region overlaps ``region`` (an
        ``lsst.sphgeom`` region, or None for the point).  A registry with regions of its own (a
        Butler's) answers from them instead."""
        if region is not None:
            return overlapping_patches(skymap, region)
        return skymap.patches_overlapping(ra, dec)

    def default_dataset_type(self) -> str:
        return self.default_type if self.default_type in self.dataset_types else self.dataset_types[0]

    def dataset_type(self, name: str | None) -> str:
        """``name`` checked (default: :meth:`default_dataset_type`)."""
        name = name or self.default_dataset_type()
        if name not in self.dataset_types:
            raise InputError(f"unknown dataset type {name!r}", f"this repository has: {', '.join(self.dataset_types)}")
        return name
