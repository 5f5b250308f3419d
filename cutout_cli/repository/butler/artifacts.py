"""``butler retrieve-artifacts`` output: a folder with ``_butler_zip_index.json``, or a Butler zip.

The index (written beside the files, or as a member of the zip) holds the
refs (dataset id, run, data ID), the dimension records (patch regions as
hex of ``lsst.sphgeom.Region.encode()``) and ``artifact_map``: each file
(a path relative to the folder, or a zip member name) with the dataset ids
it holds.  It is all a query needs: no registry.  Its collections are its
runs; when several runs hold one data ID, ``collections`` says which wins
(find-first, in the order given).
"""

from __future__ import annotations

import json

from ...errors import DataError, NotFoundError
from ...storage.base import Storage
from ...storage.members import member_location, read_member
from .collections import choose_collections
from .records import COADD_DIMENSIONS, ButlerDataset, Catalogue, PatchRecord, find_first, format_dataset_id

__all__ = ["INDEX_NAME", "read_artifact_index", "read_zip_index"]

INDEX_NAME = "_butler_zip_index.json"


def read_artifact_index(storage: Storage, collections: list[str] | None) -> Catalogue:
    """The catalogue of a retrieve-artifacts folder (``storage``'s root holds the index)."""
    location = storage.join(INDEX_NAME)
    return _catalogue(_parse(storage.read_text(location), location), storage.root, storage.join, collections)


def read_zip_index(archive: str, collections: list[str] | None, remote=None) -> Catalogue:
    """The catalogue of a Butler zip (a path or URL); its files are members read in place."""
    try:
        text = read_member(archive, INDEX_NAME, remote).decode("utf-8")
    except NotFoundError:
        raise DataError(f"{archive} has no {INDEX_NAME}", "is it a zip written by butler retrieve-artifacts --zip?") \
            from None
    return _catalogue(_parse(text, archive), archive, lambda member: member_location(archive, member), collections)


def _parse(text: str, source: str) -> dict:
    try:
        index = json.loads(text)
        refs = index["refs"]
        if not isinstance(refs["compact_refs"], dict) or not isinstance(index["artifact_map"], dict):
            raise TypeError("compact_refs and artifact_map are not objects")
        return index
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(f"cannot read the artifact index {source}: {type(err).__name__}: {err}",
                        "is it an index written by butler retrieve-artifacts?") from None


def _catalogue(index: dict, source: str, locate, collections: list[str] | None) -> Catalogue:
    refs = index["refs"]
    types = sorted(name for name, spec in refs.get("dataset_types", {}).items()
                   if set(spec.get("dimensions", [])) >= COADD_DIMENSIONS)
    files = {format_dataset_id(i): locate(path) for path, entry in index["artifact_map"].items()
             if _whole(entry) for i in entry.get("ids", [])}
    candidates: dict[str, list[ButlerDataset]] = {}
    for dataset_id, ref in refs["compact_refs"].items():
        name, data_id = ref.get("dataset_type_name"), ref.get("data_id", {})
        if name not in types:
            continue
        dataset_id = format_dataset_id(dataset_id)
        candidates.setdefault(name, []).append(ButlerDataset(
            dataset_id, ref["run"], name, data_id["skymap"], int(data_id["tract"]), int(data_id["patch"]),
            data_id["band"], files.get(dataset_id)))
    runs = {d.run for datasets in candidates.values() for d in datasets}
    holders = {name: {d.run for d in datasets} for name, datasets in candidates.items()}
    searched = choose_collections(collections, runs, {}, holders, source=source) if collections or \
        _ambiguous(candidates) else sorted(runs)
    catalogue = Catalogue(source, searched, types)
    order = {run: i for i, run in enumerate(searched)}
    for name, datasets in candidates.items():
        searched_datasets = (d for d in datasets if d.run in order)
        catalogue.datasets[name] = find_first(sorted(searched_datasets, key=lambda d: order[d.run]))
    _records(refs.get("dimension_records") or {}, catalogue)
    return catalogue


def _whole(entry: dict) -> bool:
    component = (entry.get("info") or {}).get("component")
    return component in (None, "", "__NULL_STRING__")


def _ambiguous(candidates: dict[str, list[ButlerDataset]]) -> bool:
    """Whether some data ID is held by more than one run (then the runs must be ordered)."""
    for datasets in candidates.values():
        if len(datasets) != len({d.key for d in datasets}):
            return True
    return False


def _records(records: dict, catalogue: Catalogue) -> None:
    """Patch regions and skymap sizes from the serialized dimension records (key values, then the rest)."""
    for row in records.get("skymap", []):
        catalogue.skymap_records[row[0]] = {"patch_nx_max": row[3] if len(row) > 3 else None,
                                            "patch_ny_max": row[4] if len(row) > 4 else None}
    for row in records.get("tract", []):
        if len(row) > 2 and isinstance(row[-1], str) and row[-1]:
            catalogue.tract_regions[(row[0], int(row[1]))] = bytes.fromhex(row[-1])
    for row in records.get("patch", []):
        skymap, tract, patch = row[0], int(row[1]), int(row[2])
        region = row[-1] if len(row) > 5 and isinstance(row[-1], str) else None
        catalogue.patches[(skymap, tract, patch)] = PatchRecord(
            skymap, tract, patch, row[3] if len(row) > 3 else None, row[4] if len(row) > 4 else None,
            bytes.fromhex(region) if region else None)
