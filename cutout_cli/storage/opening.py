"""The storage of a root: a local folder, or a URL in object storage or on a web server."""

from __future__ import annotations

from .base import Storage, is_remote
from .local import LocalStorage
from .remote import RemoteStorage

__all__ = ["open_storage"]


def open_storage(root, remote=None) -> Storage:
    """:class:`~cutout_cli.storage.remote.RemoteStorage` for an ``s3://`` or ``http(s)://`` URL (``remote``:
    its :class:`~cutout_cli.storage.remote.RemoteOptions`, default from the environment), else
    :class:`~cutout_cli.storage.local.LocalStorage`."""
    if is_remote(root):
        return RemoteStorage(root, remote)
    return LocalStorage(root)
