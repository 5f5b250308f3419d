"""A Butler source as a :class:`~cutout_cli.repository.repository.Repository`, and how a root is recognised.

Three kinds of source (:func:`butler_source_kind`):

``repository``
    a folder (or URL) holding ``butler.yaml`` (or the path of that file);
``artifacts``
    a folder written by ``butler retrieve-artifacts`` (``_butler_zip_index.json``);
``zip``
    a zip written by ``butler retrieve-artifacts --zip``.

The catalogue is read once, when the repository is opened (one pass over the
registry per dataset type, not one per target), and batch workers open the
same collections again from :meth:`ButlerRepository.locator`.
"""

from __future__ import annotations

import os

from ...errors import InputError
from ...storage.base import is_remote
from ...storage.opening import open_storage
from ...storage.remote import RemoteOptions
from ..repository import Repository, RepositoryLocator
from .artifacts import INDEX_NAME, read_artifact_index, read_zip_index
from .collections import parse_collections
from .config import CONFIG_NAME, read_butler_config
from .daf import read_with_daf_butler
from .records import Catalogue
from .registry import ButlerRegistry
from .sqlite import UnsupportedRegistry, read_sqlite_registry

__all__ = ["ButlerRepository", "butler_source_kind", "names_a_file", "READER_ENV"]

READER_ENV = "CUTOUT_BUTLER_READER"  # "daf_butler": read registries through lsst-daf-butler
_CONFIG_SUFFIXES = (".yaml", ".yml")


def names_a_file(root: str) -> bool:
    """Whether a root names a file (a zip, a ``butler.yaml``) rather than a folder."""
    return root.lower().endswith((".zip", *_CONFIG_SUFFIXES))


def butler_source_kind(root, storage=None) -> str | None:
    """``"repository"``, ``"artifacts"``, ``"zip"`` or None (not a Butler source) for a root
    (``storage``: the root folder's, when the caller has it open)."""
    text = os.fspath(root)
    if text.lower().endswith(".zip"):
        return "zip" if is_remote(text) or os.path.isfile(text) else None
    if text.lower().endswith(_CONFIG_SUFFIXES):
        return "repository"
    storage = storage or open_storage(text)
    if storage.exists(storage.join(CONFIG_NAME)):
        return "repository"
    if storage.exists(storage.join(INDEX_NAME)):
        return "artifacts"
    return None


class ButlerRepository(Repository):
    """A Butler repository, retrieve-artifacts folder or Butler zip, with the :class:`Repository` interface.

    Parameters
    ----------
    root : str or os.PathLike
        The repository's folder (or its ``butler.yaml``), an artifact folder or
        a zip; a path or an ``s3://`` / ``http(s)://`` URL.
    collections : str or sequence of str, optional
        Collections to search, in order (``"A,B"``; default
        ``$CUTOUT_COLLECTIONS``, else the repository's one obvious choice).
    anon, endpoint_url
        For ``s3://`` roots (see :class:`~cutout_cli.storage.remote.RemoteOptions`).
    kind : str, optional
        What the root is (:func:`butler_source_kind`), when the caller found out already.

    ``query`` returns refs carrying ``dataset_id``, ``run`` and ``uri``.
    """

    def __init__(self, root, *, collections=None, anon: bool | None = None, endpoint_url: str | None = None,
                 kind: str | None = None):
        root = os.fspath(root)
        if not is_remote(root):
            root = os.path.abspath(root)
        remote = RemoteOptions.from_env(anon, endpoint_url) if is_remote(root) else None
        is_file = names_a_file(root)
        storage = open_storage(root.rsplit("/", 1)[0] if is_file else root, remote)
        kind = kind or butler_source_kind(root, None if is_file else storage)
        if kind is None:
            raise InputError(f"{root} is not a Butler repository, artifact folder or zip",
                             f"give a folder holding {CONFIG_NAME} or {INDEX_NAME}, or a .zip")
        catalogue = _read_catalogue(kind, root, storage, parse_collections(collections), remote)
        super().__init__(storage=storage, registry=ButlerRegistry(catalogue, kind=kind, remote=remote))
        self._source = root
        self._remote_arguments = (("anon", anon), ("endpoint_url", endpoint_url)) if remote else ()

    @property
    def root(self) -> str:
        """The source's folder, ``butler.yaml``, zip or URL, as given."""
        return self._source

    @property
    def collections(self) -> list[str]:
        """The collections searched, in order (for an artifact folder or zip: its runs)."""
        return list(self.registry.catalogue.collections)

    @property
    def catalogue(self) -> Catalogue:
        return self.registry.catalogue

    def locator(self) -> RepositoryLocator:
        return RepositoryLocator(ButlerRepository, self.root,
                                 (("collections", tuple(self.collections)), *self._remote_arguments))


def _read_catalogue(kind: str, root: str, storage, collections, remote) -> Catalogue:
    if kind == "zip":
        return read_zip_index(root, collections, remote)
    if kind == "artifacts":
        return read_artifact_index(storage, collections)
    location = root if names_a_file(root) else storage.join(CONFIG_NAME)
    config = read_butler_config(storage, location)
    reason = config.needs_daf_butler
    if reason is None and os.environ.get(READER_ENV, "").lower() not in ("daf_butler", "daf-butler"):
        try:
            return read_sqlite_registry(config, storage, collections)
        except UnsupportedRegistry as err:
            reason = str(err)
    return read_with_daf_butler(root, collections, reason=reason or f"${READER_ENV} asks for lsst-daf-butler")
