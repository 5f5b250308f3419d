"""Dataset identifiers of the service: what a SODA ``ID`` names, looked up, never joined into a path.

Two forms are read (DESIGN: "IDs are looked up"):

- a Butler dataset id, ``91d217cc-8a9d-5d8a-85f6-aef60c15d296`` (or 32 hex digits),
  for repositories with a Butler registry; also inside an IVOA identifier whose query
  holds it, as Rubin's are spelled: ``ivo://org.rubinobs/usdac/dp1?repo=dp1&id=<uuid>``;
- a data ID, ``[DATASET_TYPE/]TRACT/PATCH/BAND``: ``deep_coadd/5063/33/r``,
  ``5063/33/r`` (the default dataset type) or ``5063/4,1/r`` (patch x,y), for every
  repository (also inside ``ivo://...?`` as the whole query).

Each part is matched by a strict pattern (digits, a short name) and then looked up
in the registry, so no text of a request ever reaches the file system.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from dataclasses import dataclass

from ..repository.refs import DatasetRef
from .faults import usage

__all__ = ["DatasetId", "parse_id", "check_band", "resolve", "format_id", "MAX_ID_LENGTH"]

MAX_ID_LENGTH = 512
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_BAND = r"[A-Za-z0-9_]{1,16}"
_DATA_ID = re.compile(r"^(?:(?P<type>[A-Za-z][A-Za-z0-9_]{0,63})/)?(?P<tract>\d{1,9})/"
                      rf"(?P<patch>\d{{1,6}}(?:,\d{{1,6}})?)/(?P<band>{_BAND})$")


@dataclass(frozen=True)
class DatasetId:
    """A parsed identifier: ``dataset_id`` (a UUID) or the data ID (``tract``, ``patch``, ``band``, with
    ``dataset_type`` None for the repository's default)."""

    text: str
    dataset_id: str | None = None
    dataset_type: str | None = None
    tract: int | None = None
    patch: int | tuple[int, int] | None = None
    band: str | None = None


def parse_id(text: str) -> DatasetId:
    """The identifier ``text`` names; UsageError (400) for any other text."""
    if len(text) > MAX_ID_LENGTH:
        raise usage(f"ID is longer than {MAX_ID_LENGTH} characters")
    inner = text.strip()
    if inner.lower().startswith("ivo://"):
        query = urllib.parse.urlsplit(inner).query
        fields = dict(urllib.parse.parse_qsl(query)) if "=" in query else {}
        inner = fields.get("id", query)
    if _UUID.fullmatch(inner):
        return DatasetId(text, dataset_id=str(uuid.UUID(inner)))
    match = _DATA_ID.fullmatch(inner)
    if match is None:
        raise usage(f"cannot read ID {text!r}: give a Butler dataset id (a UUID) or DATASET_TYPE/TRACT/PATCH/BAND, "
                    "e.g. deep_coadd/5063/33/r")
    patch = tuple(int(p) for p in match["patch"].split(",")) if "," in match["patch"] else int(match["patch"])
    return DatasetId(text, dataset_type=match["type"], tract=int(match["tract"]), patch=patch, band=match["band"])


def check_band(text: str) -> str:
    """A band name as a request gives it (letters, digits, ``_``; at most 16), else a UsageError."""
    if not re.fullmatch(_BAND, text):
        raise usage(f"cannot read band {text[:40]!r}: give a band name such as r")
    return text


def resolve(repo, dataset: DatasetId) -> DatasetRef:
    """The repository's dataset for ``dataset``; a UsageError with status 404 when there is none."""
    if dataset.dataset_id is not None:
        ref = repo.find_id(dataset.dataset_id)
        if ref is None:
            raise usage(f"no dataset with ID {dataset.text!r} in this repository's collections", status=404)
        return ref
    if dataset.dataset_type is not None and dataset.dataset_type not in repo.dataset_types:
        raise usage(f"no dataset type {dataset.dataset_type!r} in this repository (it has: "
                    f"{', '.join(repo.dataset_types)})", status=404)
    return repo.ref(dataset.dataset_type, dataset.tract, dataset.patch, dataset.band)


def format_id(ref: DatasetRef) -> str:
    """The identifier the service gives a dataset: its Butler id, else its data ID
    ``DATASET_TYPE/TRACT/PATCH/BAND``."""
    return ref.dataset_id or f"{ref.dataset_type}/{ref.tract}/{ref.patch}/{ref.band}"
