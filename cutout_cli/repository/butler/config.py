"""``butler.yaml``: where a Butler repository's registry and files are, and whether cutout reads them itself.

cutout reads a repository directly when its registry is an SQLite file and
its datastore one ``FileDatastore`` (what ``butler create`` makes).
Anything else (a PostgreSQL registry, a ``ChainedDatastore``, a Butler
server's configuration) is read through the optional ``lsst-daf-butler``
(:mod:`.daf`); :attr:`ButlerConfig.needs_daf_butler` says why.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import DataError, NotFoundError
from ...storage.base import Storage, is_remote

__all__ = ["ButlerConfig", "CONFIG_NAME", "read_butler_config"]

CONFIG_NAME = "butler.yaml"
ROOT_MARK = "<butlerRoot>"
DEFAULT_DB = f"sqlite:///{ROOT_MARK}/gen3.sqlite3"
DEFAULT_RECORDS = "file_datastore_records"
FILE_DATASTORE = "lsst.daf.butler.datastores.fileDatastore.FileDatastore"


@dataclass(frozen=True)
class ButlerConfig:
    """What ``butler.yaml`` says, ``<butlerRoot>`` replaced by the repository's root.

    Attributes
    ----------
    location : str
        The ``butler.yaml`` read (path or URL).
    registry_db : str
        The registry's database URL (``sqlite:///...``, ``postgresql://...``).
    sqlite_location : str or None
        The SQLite file's path or URL when the registry is one.
    datastore_root : str
        The folder (or URL) that datastore paths are relative to.
    records_table : str
        The file datastore's records table.
    needs_daf_butler : str or None
        Why cutout cannot read this repository itself (None when it can).
    """

    location: str
    registry_db: str
    sqlite_location: str | None
    datastore_root: str
    records_table: str
    needs_daf_butler: str | None


def read_butler_config(storage: Storage, location: str) -> ButlerConfig:
    """Parse the ``butler.yaml`` at ``location`` of ``storage`` (whose root is the repository's)."""
    import yaml

    try:
        text = storage.read_text(location)
    except NotFoundError:
        raise DataError(f"{location} does not exist", "give a Butler repository's folder (holding butler.yaml)") \
            from None
    try:
        config = yaml.safe_load(text.replace(ROOT_MARK, storage.root))
    except yaml.YAMLError as err:
        raise DataError(f"cannot read {location}: {str(err).splitlines()[0]}", "fix the YAML") from None
    if not isinstance(config, dict):
        raise DataError(f"{location} is not a Butler configuration (a YAML mapping)")
    if "remote_butler" in config:
        url = (config["remote_butler"] or {}).get("url", "?") if isinstance(config["remote_butler"], dict) else "?"
        return ButlerConfig(location, str(url), None, storage.root, DEFAULT_RECORDS,
                            f"it is the configuration of a Butler server ({url})")
    registry, datastore = _section(config, "registry", location), _section(config, "datastore", location)
    db = str(registry.get("db", DEFAULT_DB.replace(ROOT_MARK, storage.root)))
    sqlite_location = _sqlite_location(db, storage)
    root = str(datastore.get("root", storage.root))
    records = datastore.get("records", {})
    table = str(records.get("table", DEFAULT_RECORDS)) if isinstance(records, dict) else DEFAULT_RECORDS
    cls = str(datastore.get("cls", FILE_DATASTORE))
    problem = None
    if cls != FILE_DATASTORE:
        problem = f"its datastore is {cls.rsplit('.', 1)[-1]}, not one FileDatastore"
    elif sqlite_location is None:
        problem = f"its registry is the database {_redacted(db)}, not an SQLite file"
    return ButlerConfig(location, db, sqlite_location, root.rstrip("/"), table, problem)


def _section(config: dict, name: str, location: str) -> dict:
    section = config.get(name, {})
    if not isinstance(section, dict):
        raise DataError(f"{location}: '{name}' is not a mapping", "fix butler.yaml")
    return section


def _sqlite_location(db: str, storage: Storage) -> str | None:
    """The SQLite file of a ``sqlite:///PATH`` URL (as SQLAlchemy reads it: ``sqlite:////abs`` is absolute,
    ``sqlite:///rel`` relative); a URL when the repository is remote, None for a local file then."""
    if not db.startswith("sqlite:///"):
        return None
    path = db[len("sqlite:///"):]
    if is_remote(storage.root) or is_remote(path):
        return path if is_remote(path) else None
    return path


def _redacted(db: str) -> str:
    """A database URL without its password."""
    scheme, sep, rest = db.partition("://")
    if "@" in rest:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
