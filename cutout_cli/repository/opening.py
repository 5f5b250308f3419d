"""Open whatever a root holds: a ``repo.json`` repository or an indexed image folder."""

from __future__ import annotations

from .collection.collection import ImageCollection, is_image_collection
from .repository import Repository, default_root

__all__ = ["open_repository"]


def open_repository(root=None, *, anon: bool | None = None, endpoint_url: str | None = None) -> Repository:
    """The repository at ``root`` (default ``$CUTOUT_REPO``, then the bundled sample).

    A folder indexed by ``cutout index`` (``.cutout-index.sqlite``, no ``repo.json``)
    opens as an :class:`~cutout_cli.repository.collection.ImageCollection`; anything
    else as a :class:`Repository` (``anon``, ``endpoint_url``: for ``s3://`` roots).
    """
    root = default_root(root)
    if is_image_collection(root):
        return ImageCollection(root)
    return Repository(root, anon=anon, endpoint_url=endpoint_url)
