"""What cutout takes from a Butler source: its datasets (id, run, data ID, file) and its patch regions.

Every kind of Butler source (a repository's SQLite registry, a
``butler retrieve-artifacts`` index, a zip, or the registry as the optional
``lsst-daf-butler`` reads it) is read into one :class:`Catalogue`, which the
registry (:mod:`.registry`) serves queries from.  Data IDs are the Butler's:
``skymap``, ``tract``, ``patch`` (the sequential patch index) and ``band``.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field

from ...errors import NotFoundError
from ...storage.base import is_remote
from ...storage.members import MEMBER_MARK

__all__ = ["ButlerDataset", "PatchRecord", "Catalogue", "COADD_DIMENSIONS", "find_first", "format_dataset_id",
           "missing_file"]

#: The required dimensions of a coadd dataset type (``deep_coadd``, ``template_coadd``, ...).
COADD_DIMENSIONS = frozenset({"skymap", "tract", "patch", "band"})


def format_dataset_id(value) -> str:
    """A dataset id as the Butler prints it (``91d217cc-8a9d-5d8a-85f6-aef60c15d296``), from 32 hex
    characters (SQLite), 16 bytes or any UUID spelling."""
    if isinstance(value, (bytes, bytearray)) and len(value) == 16:
        return str(uuid.UUID(bytes=bytes(value)))
    return str(uuid.UUID(str(value)))


@dataclass(frozen=True)
class ButlerDataset:
    """One dataset found in the collections searched (the first per data ID along them).

    ``location`` is where its file is: a local path or URL (for a zip member,
    ``ARCHIVE#zip-path=MEMBER``); None when the source lists no file for it.
    """

    dataset_id: str
    run: str
    dataset_type: str
    skymap: str
    tract: int
    patch: int
    band: str
    location: str | None

    @property
    def key(self) -> tuple[str, int, int, str]:
        """The data ID ``(skymap, tract, patch, band)``: what find-first keeps one dataset of."""
        return self.skymap, self.tract, self.patch, self.band


def find_first(datasets) -> list[ButlerDataset]:
    """The first dataset per data ID of ``datasets`` (given in search order), sorted by data ID."""
    found: dict[tuple, ButlerDataset] = {}
    for dataset in datasets:
        found.setdefault(dataset.key, dataset)
    return [found[key] for key in sorted(found)]


def local_file(dataset: ButlerDataset) -> str | None:
    """The local file holding a dataset (a zip member's archive), None for a remote one."""
    location = dataset.location.partition(MEMBER_MARK)[0]
    return None if is_remote(location) else location


def missing_file(dataset: ButlerDataset, source: str) -> NotFoundError | None:
    """The error for a dataset whose file the source names but does not hold (None when present, or remote:
    a remote file's absence shows when it is read)."""
    if dataset.location is None:
        return NotFoundError(f"dataset {dataset.dataset_id} ({_what(dataset)}) has no file in {source}",
                             "was it retrieved or ingested whole?")
    path = local_file(dataset)
    if path is None or os.path.isfile(path):
        return None
    return NotFoundError(f"dataset {dataset.dataset_id} ({_what(dataset)}) is registered but its file {path} "
                         "does not exist", "the repository's datastore is incomplete: restore the file or choose "
                         "other collections")


def _what(d: ButlerDataset) -> str:
    return f"{d.dataset_type} {d.tract}/{d.patch}/{d.band}, run {d.run}"


@dataclass(frozen=True)
class PatchRecord:
    """A ``patch`` dimension record: its x, y index and its outer region (``lsst.sphgeom`` encoding)."""

    skymap: str
    tract: int
    patch: int
    cell_x: int | None
    cell_y: int | None
    region: bytes | None


@dataclass
class Catalogue:
    """The datasets of the dataset types asked for, in the collections searched, and the patches they are on.

    Attributes
    ----------
    source : str
        The repository, folder or zip it was read from (for messages).
    collections : list of str
        The collections searched, in order (the runs, for an artifact index).
    dataset_types : list of str
        Coadd dataset types the source has (whether or not the collections hold any).
    datasets : dict
        ``{dataset_type: [ButlerDataset, ...]}``, one per data ID (find-first).
    patches : dict
        ``{(skymap, tract, patch): PatchRecord}``.
    tract_regions : dict
        ``{(skymap, tract): encoded region}`` (``tract`` dimension records, where known).
    skymap_records : dict
        ``{skymap name: {"patch_nx_max": .., "patch_ny_max": ..}}`` where known.
    """

    source: str
    collections: list[str]
    dataset_types: list[str]
    datasets: dict[str, list[ButlerDataset]] = field(default_factory=dict)
    patches: dict[tuple[str, int, int], PatchRecord] = field(default_factory=dict)
    tract_regions: dict[tuple[str, int], bytes] = field(default_factory=dict)
    skymap_records: dict[str, dict] = field(default_factory=dict)
