"""The tests' truth: what a REAL Butler (lsst-daf-butler) answers for a position or a region.

Repositories come from :func:`cutout_cli._sample.butler.build_butler_repo`.  Each answer
is a list of plain dicts ``{tract, patch, band, dataset_id, run, uri}`` sorted by
(tract, patch, band): ``dataset_id`` is the UUID as a string with dashes, ``run`` the
RUN collection the dataset was found in (the first of the chain that has it:
``find_first``), ``uri`` ``str(butler.getURI(ref))``.  Nothing found is ``[]``.

Positions are ICRS degrees.  Points use ``patch.region OVERLAPS POINT(ra, dec)`` in
the where string (sphgeom's tolerance includes points up to about 5e-8 rad outside
a patch region).  Regions (IVOA POS strings) are bound as ``lsst.sphgeom`` regions
(``patch.region OVERLAPS r``), not written as ``CIRCLE(...)`` in the where string,
whose radius the Butler's expression parser doubles.

Butler objects are cached per repository (keyed by its folder and the identity of
its ``gen3.sqlite3``, so a repository rebuilt at the same path gets a new Butler).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["butler_query", "butler_query_region", "get_butler", "clear_cache", "as_records"]

_BUTLERS: dict = {}


def _key(repo) -> tuple:
    folder = Path(repo).resolve()
    try:
        stat = os.stat(folder / "gen3.sqlite3")
        return (str(folder), stat.st_ino, stat.st_dev)
    except OSError:
        return (str(folder), None, None)


def get_butler(repo):
    """The cached read-only Butler of the repository folder ``repo``."""
    from lsst.daf.butler import Butler

    key = _key(repo)
    if key not in _BUTLERS:
        for old in [k for k in _BUTLERS if k[0] == key[0]]:
            _BUTLERS.pop(old).close()
        _BUTLERS[key] = Butler(key[0], writeable=False)
    return _BUTLERS[key]


def clear_cache() -> None:
    """Close and forget every cached Butler."""
    while _BUTLERS:
        _BUTLERS.popitem()[1].close()


def _collections(collections) -> list[str]:
    return [collections] if isinstance(collections, str) else list(collections)


def as_records(butler, refs) -> list[dict]:
    """Plain, sorted records of resolved DatasetRefs."""
    records = [{"tract": int(ref.dataId["tract"]), "patch": int(ref.dataId["patch"]), "band": str(ref.dataId["band"]),
                "dataset_id": str(ref.id), "run": ref.run, "uri": str(butler.getURI(ref))} for ref in refs]
    return sorted(records, key=lambda r: (r["tract"], r["patch"], r["band"]))


def _query(repo, collections, dataset_type, band, spatial: str, bind: dict) -> list[dict]:
    butler = get_butler(repo)
    where = spatial
    if band is not None:
        where = f"band.name = band_value AND {spatial}"
        bind = {**bind, "band_value": band}
    refs = butler.query_datasets(dataset_type, collections=_collections(collections), where=where, bind=bind,
                                 find_first=True, explain=False, limit=None)
    return as_records(butler, refs)


def butler_query(repo, collections, dataset_type, band, ra, dec) -> list[dict]:
    """Datasets whose patch region overlaps the point (ra, dec) (degrees); ``band`` None: every band."""
    return _query(repo, collections, dataset_type, band, "patch.region OVERLAPS POINT(ra_value, dec_value)",
                  {"ra_value": float(ra), "dec_value": float(dec)})


def butler_query_region(repo, collections, dataset_type, band, pos: str) -> list[dict]:
    """Datasets whose patch region overlaps an IVOA POS region (``CIRCLE ra dec r``, ``POLYGON ...``,
    ``RANGE ra1 ra2 dec1 dec2``; degrees), bound as ``lsst.sphgeom.Region.from_ivoa_pos(pos)``."""
    from lsst.sphgeom import Region

    return _query(repo, collections, dataset_type, band, "patch.region OVERLAPS region_value",
                  {"region_value": Region.from_ivoa_pos(pos)})
