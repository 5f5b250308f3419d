"""Datastore paths and URIs as locations of a :class:`~cutout_cli.storage.base.Storage`.

A file datastore record's path is relative to the datastore root, or an
absolute URI (``file://``, ``s3://``, ``https://``: a file ingested with
``transfer="direct"``); either may end in ``#zip-path=MEMBER`` (a member of
a zip, :mod:`cutout_cli.storage.members`).
"""

from __future__ import annotations

import os
import urllib.parse

from ...storage.base import is_remote, join
from ...storage.members import MEMBER_MARK

__all__ = ["location_from_uri"]


def location_from_uri(path: str, root: str) -> str:
    """The location of a datastore ``path`` (relative to ``root``, the datastore root, or absolute)."""
    base, mark, member = path.partition(MEMBER_MARK)
    if base.startswith("file://"):
        location = urllib.parse.unquote(urllib.parse.urlsplit(base).path)
    elif "://" in base:
        location = base
    else:
        root = _local_root(root)
        location = join(root, base) if is_remote(root) else os.path.join(root, base)
    return f"{location}{mark}{member}"


def _local_root(root: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(root).path) if root.startswith("file://") else root
