"""Load a repository's skymap: a preset name, or a skymap JSON file in the repository's storage."""

from __future__ import annotations

from ..errors import DataError, NotFoundError
from ..sky.skymap import PRESETS, SkyMap, skymap_from_dict, skymap_from_json
from ..storage.base import Storage
from ..storage.opening import open_storage

__all__ = ["load_skymap"]


def load_skymap(spec, storage: Storage | None = None) -> SkyMap:
    """The skymap named by ``spec``: a preset (``lsst_cells_v1``, ``hsc_rings_v1``), or the path
    of a skymap JSON file (docs/repositories.md, "Skymaps"), relative to ``storage``'s root
    when a storage is given, else a local path or URL."""
    spec = str(spec)
    if spec in PRESETS:
        return skymap_from_dict(PRESETS[spec], spec)
    if storage is None:
        storage, location = open_storage(spec), spec
    else:
        location = storage.join(spec)
    try:
        text = storage.read_text(location)
    except NotFoundError:
        raise DataError(f"skymap file {location} does not exist", "check the 'skymap' entry of repo.json") from None
    return skymap_from_json(text, location)
