"""Registries cutout does not read itself, through the optional ``lsst-daf-butler``
(``pip install 'cutout-cli[butler]'``, Python >= 3.12).

A PostgreSQL registry, a ``ChainedDatastore``, a Butler server's
``butler.yaml``, or manager versions the SQLite reader does not know: the
Butler runs the query (``query_datasets``, find-first) and gives each
dataset's URI (``get_many_uris``) and the patch regions; cutout then reads
the pixels itself, with its own readers.  ``$CUTOUT_BUTLER_READER=daf_butler``
takes this path for any repository.
"""

from __future__ import annotations

import contextlib
import logging

from ...errors import CutoutError, DataError, first_line
from .collections import choose_collections
from .records import COADD_DIMENSIONS, ButlerDataset, Catalogue, PatchRecord
from .uris import location_from_uri

__all__ = ["read_with_daf_butler", "daf_butler_missing"]

INSTALL_HINT = "pip install 'cutout-cli[butler]' (it needs Python >= 3.12)"


def daf_butler_missing(source: str, reason: str) -> DataError:
    """The error for a repository that needs lsst-daf-butler when it is not installed."""
    return DataError(f"{source}: {reason}; cutout reads such repositories through lsst-daf-butler, "
                     "which is not installed", INSTALL_HINT)


def read_with_daf_butler(root: str, collections: list[str] | None, *, reason: str,
                         dataset_types: list[str] | None = None) -> Catalogue:
    """The catalogue of the repository at ``root`` as lsst-daf-butler reads it (``reason``: why, for errors)."""
    try:
        import lsst.daf.butler  # noqa: F401
    except ImportError:
        raise daf_butler_missing(root, reason) from None
    with _quiet_logs():
        return _read(root, collections, dataset_types)


def _read(root: str, collections: list[str] | None, dataset_types: list[str] | None) -> Catalogue:
    from lsst.daf.butler import Butler, CollectionType

    try:
        butler = Butler.from_config(root)
        infos = butler.collections.query_info("*", include_summary=True)
        chains = {i.name: list(i.children) for i in infos if i.type == CollectionType.CHAINED}
        types = sorted(t.name for t in butler.registry.queryDatasetTypes()
                       if {str(d) for d in t.dimensions.required} >= COADD_DIMENSIONS)
        wanted = [t for t in (dataset_types or types) if t in types]
        holders = {t: {i.name for i in infos if i.dataset_types and t in i.dataset_types
                       and i.type in (CollectionType.RUN, CollectionType.TAGGED)} for t in wanted}
        searched = choose_collections(collections, {i.name for i in infos}, chains, holders, source=root)
        catalogue = Catalogue(root, searched, types)
        for name in wanted:
            catalogue.datasets[name] = _datasets(butler, name, searched)
        _patches(butler, catalogue)
        return catalogue
    except CutoutError:
        raise
    except Exception as err:  # the Butler raises many types (missing collections, connection errors, ...)
        raise DataError(f"lsst-daf-butler cannot read {root}: {type(err).__name__}: {first_line(err)}") from None


@contextlib.contextmanager
def _quiet_logs():
    """The Butler logs what it then raises (which becomes our one-line error): not on stderr."""
    logger = logging.getLogger("lsst")
    handler, propagate = logging.NullHandler(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _datasets(butler, name: str, collections: list[str]) -> list[ButlerDataset]:
    refs = butler.query_datasets(name, collections=collections, find_first=True, limit=None, explain=False)
    uris = butler.get_many_uris(refs) if refs else {}
    out = []
    for ref in refs:
        data_id = ref.dataId.required
        primary = uris[ref].primaryURI if ref in uris else None
        out.append(ButlerDataset(str(ref.id), ref.run, name, str(data_id["skymap"]), int(data_id["tract"]),
                                 int(data_id["patch"]), str(data_id["band"]),
                                 location_from_uri(str(primary), "") if primary is not None else None))
    return sorted(out, key=lambda d: d.key)


def _patches(butler, catalogue: Catalogue) -> None:
    skymaps = sorted({d.skymap for datasets in catalogue.datasets.values() for d in datasets})
    for skymap in skymaps:
        for record in butler.query_dimension_records("skymap", where="skymap = s", bind={"s": skymap},
                                                     explain=False):
            catalogue.skymap_records[skymap] = {"patch_nx_max": record.patch_nx_max,
                                                "patch_ny_max": record.patch_ny_max}
        for record in butler.query_dimension_records("tract", where="skymap = s", bind={"s": skymap},
                                                     limit=None, explain=False):
            if record.region is not None:
                catalogue.tract_regions[(skymap, int(record.id))] = record.region.encode()
        for record in butler.query_dimension_records("patch", where="skymap = s", bind={"s": skymap},
                                                     limit=None, explain=False):
            region = record.region.encode() if record.region is not None else None
            catalogue.patches[(skymap, int(record.tract), int(record.id))] = PatchRecord(
                skymap, int(record.tract), int(record.id), record.cell_x, record.cell_y, region)
