"""Repositories: which coadds cover a sky position, and reading boxes of them.

Modules: :mod:`.repository` (the :class:`Repository` facade over a storage and
a registry), :mod:`.registry` (the registry seam), :mod:`.templates`
(``repo.json`` repositories), :mod:`.collection` (indexed image folders),
:mod:`.butler` (Butler repositories, retrieve-artifacts folders and zips), :mod:`.refs` (dataset references), :mod:`.skymaps` (loading skymaps),
:mod:`.opening` (:func:`open_repository`).
"""

from .opening import open_repository
from .refs import DatasetRef
from .repository import Repository, RepositoryLocator, bundled_sample_repo

__all__ = ["DatasetRef", "Repository", "RepositoryLocator", "bundled_sample_repo", "open_repository"]
