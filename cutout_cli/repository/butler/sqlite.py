"""A Butler repository's SQLite registry, read with the standard library (no lsst-daf-butler).

The tables (daf_butler's default managers; docs/from-the-butler.md):
``collection`` (type 1 RUN, 2 TAGGED, 3 CHAINED, 4 CALIBRATION) and
``collection_chain``; ``dataset_type`` with its tags table (one row per
dataset and collection holding it, with the data ID's required dimensions
as columns); ``dataset`` (32-hex ids, run); the file datastore's records
(paths relative to the datastore root, absolute URIs, or zip members);
``patch`` regions as base64 text of ``lsst.sphgeom.Region.encode()``.

Collections are searched as ``butler.query_datasets`` does: in the order
given, CHAINED ones expanded depth-first, the first dataset found per data
ID kept (find-first).
"""

from __future__ import annotations

import base64
import re
import sqlite3
import urllib.parse

from ...errors import DataError, NotFoundError
from ...storage.base import Storage, is_remote
from .collections import choose_collections, flatten_chains
from .config import ButlerConfig
from .records import COADD_DIMENSIONS, ButlerDataset, Catalogue, PatchRecord, find_first, format_dataset_id
from .uris import location_from_uri

__all__ = ["read_sqlite_registry", "UnsupportedRegistry", "KNOWN_MANAGERS"]

#: The registry managers (class names: their modules have moved between versions) whose tables this
#: reader knows, with the schema major versions it was checked on.
KNOWN_MANAGERS = {
    "collections": ("SynthIntKeyCollectionManager", {2}),
    "datasets": ("ByDimensionsDatasetRecordStorageManagerUUID", {1, 2}),
    "dimensions": ("StaticDimensionRecordStorageManager", {6, 7}),
}
RUN, TAGGED, CHAINED, CALIBRATION = 1, 2, 3, 4
NULL_COMPONENT = "__NULL_STRING__"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnsupportedRegistry(Exception):
    """The registry is not one this reader knows (the message says why); lsst-daf-butler may read it."""


def read_sqlite_registry(config: ButlerConfig, storage: Storage, collections: list[str] | None,
                         dataset_types: list[str] | None = None) -> Catalogue:
    """Read the datasets of ``dataset_types`` (default: every coadd type) in ``collections``
    (default: the one obvious choice, see :func:`.collections.choose_collections`)."""
    connection = _connect(config, storage)
    try:
        _check_managers(connection, config.sqlite_location)
        names, kinds, chains = _collections(connection)
        types = _coadd_types(connection)
        wanted = [t for t in (dataset_types or list(types)) if t in types]
        holders = {name: {names[i] for i in _holding(connection, *types[name])} for name in wanted}
        searched = choose_collections(collections, set(names.values()), chains, holders, source=storage.root)
        path = [c for c in flatten_chains(searched, chains) if kinds[c] in (RUN, TAGGED)]
        ids = {name: i for i, name in names.items()}
        catalogue = Catalogue(storage.root, searched, list(types))
        for name in wanted:
            catalogue.datasets[name] = _find_first(connection, config, name, types[name],
                                                   [ids[c] for c in path], names)
        _read_patches(connection, catalogue)
        return catalogue
    except sqlite3.DatabaseError as err:
        raise DataError(f"cannot read the registry {config.sqlite_location}: {err}",
                        "is it a Butler registry (gen3.sqlite3)?") from None
    finally:
        connection.close()


def _connect(config: ButlerConfig, storage: Storage) -> sqlite3.Connection:
    location = config.sqlite_location
    if is_remote(location):  # no ranged SQLite over HTTP or S3: the registry comes whole, into memory
        data = storage.read_bytes(location)
        connection = sqlite3.connect(":memory:")
        connection.deserialize(data)
        return connection
    try:
        with open(location, "rb"):
            pass
    except FileNotFoundError:
        raise DataError(f"the registry {location} named by {config.location} does not exist",
                        "is the repository complete?") from None
    except OSError as err:
        raise DataError(f"cannot read the registry {location}: {err.strerror or err}") from None
    return sqlite3.connect(f"file:{urllib.parse.quote(location)}?mode=ro", uri=True)


def _check_managers(connection, location) -> None:
    try:
        attributes = dict(connection.execute("SELECT name, value FROM butler_attributes"))
    except sqlite3.OperationalError:
        raise DataError(f"{location} is not a Butler registry (no butler_attributes table)") from None
    for kind, (cls, majors) in KNOWN_MANAGERS.items():
        found = attributes.get(f"config:registry.managers.{kind}")
        version = attributes.get(f"version:{found}", "")
        major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else None
        name = str(found).rsplit(".", 1)[-1]
        if name != cls or major not in majors:
            raise UnsupportedRegistry(f"its {kind} manager is {name} {version}".rstrip()
                                      + f" (cutout reads {cls} {'/'.join(map(str, sorted(majors)))}.x)")


def _collections(connection):
    names, kinds, chains = {}, {}, {}
    for collection_id, name, kind in connection.execute("SELECT collection_id, name, type FROM collection"):
        names[collection_id], kinds[name] = name, kind
    for parent, child in connection.execute("SELECT parent, child FROM collection_chain ORDER BY parent, position"):
        chains.setdefault(names[parent], []).append(names[child])
    return names, kinds, chains


def _coadd_types(connection) -> dict[str, tuple[int, str]]:
    """``{name: (id, tags table)}`` of the dataset types whose required dimensions are a coadd's."""
    types = {}
    for type_id, name, table in connection.execute("SELECT id, name, tag_association_table FROM dataset_type"):
        columns = _columns(connection, table) if _IDENTIFIER.match(table or "") else set()
        if columns >= COADD_DIMENSIONS and not {"instrument", "visit", "detector"} & columns:
            types[name] = (type_id, table)
    return dict(sorted(types.items()))


def _columns(connection, table: str) -> set[str]:
    return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}


def _holding(connection, type_id: int, table: str) -> set[int]:
    return {row[0] for row in connection.execute(
        f"SELECT DISTINCT collection_id FROM {table} WHERE dataset_type_id = ?", (type_id,))}


def _find_first(connection, config, name, type_info, path_ids, names) -> list[ButlerDataset]:
    type_id, table = type_info
    files = _files(connection, config, type_id)

    def in_search_order():
        for collection_id in path_ids:
            yield from connection.execute(
                f"SELECT t.dataset_id, d.run_id, t.skymap, t.tract, t.patch, t.band FROM {table} t "
                "JOIN dataset d ON d.id = t.dataset_id WHERE t.dataset_type_id = ? AND t.collection_id = ?",
                (type_id, collection_id))

    return find_first(ButlerDataset(format_dataset_id(dataset_id), names[run_id], name, skymap, int(tract),
                                    int(patch), band, files.get(dataset_id))
                      for dataset_id, run_id, skymap, tract, patch, band in in_search_order())


def _files(connection, config: ButlerConfig, type_id: int) -> dict:
    table = config.records_table
    if not _IDENTIFIER.match(table):
        raise DataError(f"{config.location}: bad datastore records table name {table!r}")
    try:
        rows = connection.execute(
            f"SELECT r.dataset_id, r.path FROM {table} r JOIN dataset d ON d.id = r.dataset_id "
            "WHERE d.dataset_type_id = ? AND (r.component = ? OR r.component IS NULL)", (type_id, NULL_COMPONENT))
        return {dataset_id: location_from_uri(path, config.datastore_root) for dataset_id, path in rows}
    except sqlite3.OperationalError as err:
        raise NotFoundError(f"the registry has no datastore records table {table} ({err})",
                            f"check datastore.records.table in {config.location}") from None


def _read_patches(connection, catalogue: Catalogue) -> None:
    skymaps = {d.skymap for datasets in catalogue.datasets.values() for d in datasets}
    for name in sorted(skymaps):
        row = connection.execute("SELECT patch_nx_max, patch_ny_max FROM skymap WHERE name = ?", (name,)).fetchone()
        if row is not None:
            catalogue.skymap_records[name] = {"patch_nx_max": row[0], "patch_ny_max": row[1]}
        for skymap, tract, patch, cell_x, cell_y, region in connection.execute(
                "SELECT skymap, tract, id, cell_x, cell_y, region FROM patch WHERE skymap = ?", (name,)):
            raw = base64.b64decode(region) if isinstance(region, str) else region
            catalogue.patches[(skymap, int(tract), int(patch))] = PatchRecord(skymap, int(tract), int(patch),
                                                                               cell_x, cell_y, raw)
        for skymap, tract, region in connection.execute("SELECT skymap, id, region FROM tract WHERE skymap = ?",
                                                        (name,)):
            if region:
                catalogue.tract_regions[(skymap, int(tract))] = base64.b64decode(region) \
                    if isinstance(region, str) else region
