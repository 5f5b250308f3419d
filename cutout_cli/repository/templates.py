"""``repo.json`` repositories: a skymap and path templates turn (tract, patch, band) into a file.

A repository root holds ``repo.json`` (docs/repositories.md)::

    {"skymap": "skymaps/lsst_cells_v1.json",
     "datasets": {"deep_coadd": "deep_coadd/{tract}/{patch}/{band}/deep_coadd_{tract}_{patch}_{band}_{skymap}.fits"}}

Template fields: ``{tract}``, ``{patch}`` (sequential index), ``{patch_x}``,
``{patch_y}``, ``{band}``, ``{skymap}``; a ``*`` matches run names or ids as
left by a butler export.  ``skymap`` is a path relative to the root, a
preset name (``lsst_cells_v1``, ``hsc_rings_v1``) or an inline description.
"""

from __future__ import annotations

import glob
import json
import os
import re
import string
from functools import cached_property
from pathlib import PurePosixPath

from ..errors import DataError, NotFoundError, RemoteError
from ..sky.skymap import SkyMap, skymap_from_dict
from ..sky.tract import Patch
from ..storage.base import Storage
from .refs import DatasetRef
from .registry import Registry
from .skymaps import load_skymap

__all__ = ["TemplateRegistry", "TEMPLATE_FIELDS", "CONFIG_NAME", "bundled_sample_repo", "is_bundled_sample"]

TEMPLATE_FIELDS = ("tract", "patch", "patch_x", "patch_y", "band", "skymap")
CONFIG_NAME = "repo.json"


def bundled_sample_repo() -> str:
    """The sample repository shipped beside the package (``sample_repo/``), whose coadds
    ``make sample`` generates."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "sample_repo")


def is_bundled_sample(storage: Storage) -> bool:
    """Whether ``storage`` is the local folder of the bundled sample repository."""
    return storage.remote is None and os.path.realpath(storage.root) == os.path.realpath(bundled_sample_repo())


class TemplateRegistry(Registry):
    """The datasets of a ``repo.json`` repository in ``storage``: found by expanding path templates."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.config_path = storage.join(CONFIG_NAME)
        if not storage.is_folder():
            raise DataError(f"repository {storage.root} does not exist", "give {} a folder holding repo.json",
                            options=[("root", None)])
        self.config = _read_config(storage, self.config_path)
        self.templates = {name: _check_template(name, template, self.config_path)
                          for name, template in self.config["datasets"].items()}
        self.dataset_types = list(self.templates)

    @cached_property
    def skymap(self) -> SkyMap:
        """The repository's skymap (read on first use)."""
        spec = self.config["skymap"]
        if isinstance(spec, dict):
            return skymap_from_dict(spec, self.config_path)
        return load_skymap(spec, self.storage)

    def skymap_for(self, band: str | None) -> SkyMap:
        return self.skymap

    def _fields(self, patch: Patch, band: str) -> dict:
        return {"tract": patch.tract, "patch": patch.index, "patch_x": patch.x, "patch_y": patch.y,
                "band": band, "skymap": self.skymap.name}

    def expected_path(self, dataset_type: str, patch: Patch, band: str) -> str:
        """Where the template says the dataset is (``*`` left unexpanded)."""
        return self.storage.join(self.templates[dataset_type].format(**self._fields(patch, band)))

    def bands(self, dataset_type: str, patch: Patch) -> list[str]:
        """Bands present for one patch (by listing the template's ``{band}``)."""
        template = self.templates[dataset_type]
        if "{band}" not in template:
            return []
        partial = self.storage.join(template.format(**{**self._fields(patch, ""), "band": "{band}"}))
        pieces = re.split(r"(\{band\}|\*)", partial)
        pattern = "".join("*" if p in ("{band}", "*") else glob.escape(p) for p in pieces)
        regex, seen_band = "", False
        for piece in pieces:
            if piece == "{band}":
                regex += "(?P=band)" if seen_band else "(?P<band>[^/]+)"
                seen_band = True
            else:
                regex += "[^/]*" if piece == "*" else re.escape(piece)
        matcher = re.compile(regex + "$")
        return sorted({m.group("band") for m in map(matcher.match, self.storage.glob(pattern)) if m})

    def find(self, dataset_type: str, patch: Patch, band: str) -> DatasetRef | None:
        expected = self.expected_path(dataset_type, patch, band)
        if "*" in expected:
            matches = self.storage.glob(glob.escape(expected).replace(glob.escape("*"), "*"))
            if not matches:
                return None
            path = matches[-1]  # the newest run when names sort by time
        elif self.storage.exists(expected):
            path = expected
        else:
            return None
        return DatasetRef(dataset_type, patch.tract, patch.index, patch.x, patch.y, band, path, patch.outer)

    def missing(self, dataset_type: str, patch: Patch, band: str) -> NotFoundError:
        expected = self.expected_path(dataset_type, patch, band)
        try:
            present = self.bands(dataset_type, patch)
        except RemoteError:  # the listing is only for the hint (an HTTP server may not list)
            present = []
        if present:
            return NotFoundError(f"no {dataset_type} for tract {patch.tract} patch {patch.index} band {band}: "
                                 f"expected {expected}", f"bands present for this patch: {', '.join(present)}")
        hint = "generate the sample data with 'make sample', or check {}" if is_bundled_sample(self.storage) \
            else "check {}"
        return NotFoundError(f"no {dataset_type} for tract {patch.tract} patch {patch.index} band {band}: "
                             f"expected {expected}", hint, options=[("root", None)])


def _read_config(storage: Storage, path: str) -> dict:
    try:
        config = json.loads(storage.read_text(path))
    except NotFoundError:
        raise DataError(f"{path} does not exist", "a repository root holds repo.json (see docs/repositories.md)") \
            from None
    except json.JSONDecodeError as err:
        raise DataError(f"cannot read {path}: {err}", "fix the JSON") from None
    if not isinstance(config, dict) or not isinstance(config.get("datasets"), dict) \
            or not config["datasets"] or "skymap" not in config:
        raise DataError(f"{path} needs a 'skymap' entry and a non-empty 'datasets' object")
    return config


def _check_template(name: str, template, source) -> str:
    if not isinstance(template, str) or not template:
        raise DataError(f"{source}: dataset {name!r} needs a path template string")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as err:
        raise DataError(f"{source}: bad template for {name!r}: {err}") from None
    unknown = fields - set(TEMPLATE_FIELDS)
    if unknown:
        raise DataError(f"{source}: template for {name!r} has unknown field(s) {sorted(unknown)}",
                        f"known fields: {', '.join(TEMPLATE_FIELDS)}")
    if template.startswith(("/", "\\")) or ".." in PurePosixPath(template).parts:
        raise DataError(f"{source}: template for {name!r} must stay inside the repository")
    return template
