"""Butler sources, read without the LSST stack: data repositories, retrieve-artifacts folders, zips.

Modules, from the files up: :mod:`.config` (``butler.yaml``), :mod:`.uris`
(datastore paths as locations), :mod:`.records` (the :class:`~.records.Catalogue`
every reader produces), :mod:`.collections` (which collections are searched),
:mod:`.sqlite` (an SQLite registry, standard library only), :mod:`.artifacts`
(``_butler_zip_index.json``, in a folder or a zip), :mod:`.daf` (the optional
lsst-daf-butler, for the rest), :mod:`.skymap` (the pixel grid),
:mod:`.registry` (:class:`~.registry.ButlerRegistry`, queries with the Butler's
semantics) and :mod:`.repository` (:class:`~.repository.ButlerRepository`).
docs/repositories.md, "Butler repositories", describes what is read and how.
"""

from .repository import ButlerRepository, butler_source_kind

__all__ = ["ButlerRepository", "butler_source_kind"]
