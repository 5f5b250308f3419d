"""Open whatever a root holds: a ``repo.json`` repository, a Butler source, or an indexed image folder."""

from __future__ import annotations

import os

from ..errors import DataError, InputError
from ..storage.base import is_remote
from ..storage.opening import open_storage
from ..storage.remote import RemoteOptions
from .butler.collections import parse_collections
from .butler.repository import ButlerRepository, butler_source_kind, names_a_file
from .collection.collection import ImageCollection, is_image_collection
from .repository import Repository, default_root
from .templates import CONFIG_NAME

__all__ = ["open_repository"]


def open_repository(root=None, *, collections=None, anon: bool | None = None,
                    endpoint_url: str | None = None) -> Repository:
    """The repository at ``root`` (default ``$CUTOUT_REPO``, then the bundled sample).

    In this order: a root holding ``repo.json`` opens as a :class:`Repository`;
    a Butler repository (``butler.yaml``), a ``butler retrieve-artifacts``
    folder (``_butler_zip_index.json``) or a Butler zip as a
    :class:`~cutout_cli.repository.butler.repository.ButlerRepository`
    searching ``collections`` (``"A,B"``; default ``$CUTOUT_COLLECTIONS``, else
    the one obvious choice); a folder indexed by ``cutout index`` as an
    :class:`~cutout_cli.repository.collection.ImageCollection`.  ``anon``,
    ``endpoint_url``: for ``s3://`` roots.
    """
    root = default_root(root)
    if is_image_collection(root):
        _refuse_collections(collections, root)
        return ImageCollection(root)
    text = os.fspath(root)
    storage = None
    if not names_a_file(text):
        storage = open_storage(text, RemoteOptions.from_env(anon, endpoint_url) if is_remote(text) else None)
        if storage.exists(storage.join(CONFIG_NAME)):
            _refuse_collections(collections, root)
            return Repository(root, anon=anon, endpoint_url=endpoint_url)
    kind = butler_source_kind(text, storage)
    if kind is not None:
        return ButlerRepository(text, collections=collections, anon=anon, endpoint_url=endpoint_url, kind=kind)
    _refuse_collections(collections, root)
    if not is_remote(text) and os.path.isfile(text):
        raise DataError(f"{text} is a file, not a repository",
                        f"a repository is a folder holding repo.json; to cut this file: cutout subset {text} ...")
    return Repository(root, anon=anon, endpoint_url=endpoint_url)


def _refuse_collections(collections, root) -> None:
    """Collections given explicitly (not by ``$CUTOUT_COLLECTIONS``) to a source that has none."""
    if collections is not None and parse_collections(collections) is not None:
        raise InputError(f"{root} is not a Butler repository: it has no collections",
                         "leave out {} for it", options=[("collections", None)])
