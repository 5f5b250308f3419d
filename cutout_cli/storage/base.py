"""The one storage protocol: the bytes of a repository, in a local folder, an object store or on a web server.

A :class:`Storage` names files by *locations*: strings that are paths under a
local folder, or URLs under a remote root.  Whoever holds a storage reads
small files whole (:meth:`Storage.read_bytes`, :meth:`Storage.read_text`),
asks whether a file exists, lists files by a ``*`` pattern, and hands image
locations to :mod:`cutout_cli.fits`, which reads only the bytes a box needs
(by a memory map and ``pread`` locally, by ranged requests remotely, with
:attr:`Storage.remote` as the connection options).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..errors import DataError

__all__ = ["Storage", "SCHEMES", "is_remote", "join"]

SCHEMES = ("s3://", "http://", "https://")


def is_remote(path) -> bool:
    """Whether ``path`` is an ``s3://``, ``http://`` or ``https://`` URL (a string test, no imports)."""
    return isinstance(path, str) and path[:8].lower().startswith(SCHEMES)


def join(root: str, relative: str) -> str:
    """``root/relative`` for a URL root."""
    return f"{root.rstrip('/')}/{relative.lstrip('/')}"


class Storage(ABC):
    """Files under one root.

    Attributes
    ----------
    root : str
        The folder's path, or the URL of the remote root (no trailing ``/``).
    remote : cutout_cli.storage.remote.RemoteOptions or None
        How to reach remote storage; None for a local folder.
    """

    root: str
    remote = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"

    @abstractmethod
    def join(self, *parts: str) -> str:
        """The location of ``parts`` (``/``-separated relative paths) under the root."""

    @abstractmethod
    def read_bytes(self, location: str) -> bytes:
        """The whole file; :class:`~cutout_cli.errors.NotFoundError` when it does not exist."""

    def read_text(self, location: str) -> str:
        """The whole file as UTF-8 text (a BOM is dropped)."""
        try:
            return self.read_bytes(location).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise DataError(f"cannot read {location}: not UTF-8 text ({err.reason})") from None

    @abstractmethod
    def exists(self, location: str) -> bool:
        """Whether a file (not a folder) is at ``location``."""

    @abstractmethod
    def glob(self, pattern: str) -> list[str]:
        """Locations matching a pattern whose ``*`` match within one path segment, sorted."""

    @abstractmethod
    def is_folder(self) -> bool:
        """Whether the root exists as a folder (always true for object stores, which have no folders)."""
