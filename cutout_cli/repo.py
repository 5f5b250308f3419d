"""Repositories: ``repo.json`` + skymap + path templates -> dataset references.

A repository root holds ``repo.json``::

    {"skymap": "skymaps/lsst_cells_v1.json",
     "datasets": {"deep_coadd": "deep_coadd/{tract}/{patch}/{band}/deep_coadd_{tract}_{patch}_{band}_{skymap}.fits"}}

Template fields: ``{tract}``, ``{patch}`` (sequential index), ``{patch_x}``,
``{patch_y}``, ``{band}``, ``{skymap}``; a ``*`` matches run names or ids as
left by a butler export.  ``skymap`` is a path relative to the root or a
preset name (``lsst_cells_v1``, ``hsc_rings_v1``).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
import string
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .errors import DataError, InputError, NotFoundError, RemoteError
from .geometry import Box
from .remote import is_remote, join
from .skymap import Patch, SkyMap, load_skymap

TEMPLATE_FIELDS = ("tract", "patch", "patch_x", "patch_y", "band", "skymap")
DEFAULT_DATASET_TYPE = "deep_coadd"


def bundled_sample_repo() -> Path:
    """The sample repository shipped beside the package (``sample_repo/``)."""
    return Path(__file__).resolve().parent.parent / "sample_repo"


@dataclass(frozen=True)
class DatasetRef:
    """One dataset of the repository: a coadd of one tract, patch and band.

    ``outer`` is the patch's outer box in PARENT (tract) pixels: the extent of
    the coadd file.  ``home`` marks the patch that findTract + findPatch give
    for the queried position.
    """

    dataset_type: str
    tract: int
    patch: int
    patch_x: int
    patch_y: int
    band: str
    path: str
    outer: Box
    home: bool = field(default=False, compare=False)

    @property
    def data_id(self) -> dict:
        return {"tract": self.tract, "patch": self.patch, "band": self.band}

    def as_dict(self) -> dict:
        """Record with the stable JSON field names."""
        return {
            "dataset_type": self.dataset_type,
            "tract": self.tract,
            "patch": self.patch,
            "patch_x": self.patch_x,
            "patch_y": self.patch_y,
            "band": self.band,
            "home": self.home,
            "path": self.path,
            **self.outer.as_dict(),
        }


class Repository:
    """A coadd repository on local disk or in remote storage.

    Parameters
    ----------
    root : str or os.PathLike, optional
        Folder holding ``repo.json``, or the URL of one (``s3://bucket/prefix``,
        ``https://host/path``); default ``$CUTOUT_REPO``, then the bundled
        sample repository.
    anon, endpoint_url
        For ``s3://`` repositories: unsigned requests (public buckets), and an
        S3-compatible endpoint (default ``$AWS_ENDPOINT_URL``); see
        :class:`cutout_cli.remote.RemoteOptions`.
    """

    def __init__(self, root=None, *, anon: bool | None = None, endpoint_url: str | None = None):
        root = root or os.environ.get("CUTOUT_REPO") or bundled_sample_repo()
        self.remote = None  # RemoteOptions of a URL repository
        if is_remote(root):
            from .remote import RemoteOptions

            self.remote = RemoteOptions.from_env(anon, endpoint_url)
        self.root = root.rstrip("/") if self.remote else Path(root)
        config_path = self._join("repo.json")
        if self.remote is None and not self.root.is_dir():
            raise DataError(f"repository {self.root} does not exist", "give --repo a folder holding repo.json")
        try:
            self.config = json.loads(self._read_text(config_path))
        except (FileNotFoundError, NotFoundError):
            raise DataError(f"{config_path} does not exist", "a repository root holds repo.json (see DESIGN.md)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"cannot read {config_path}: {err}", "fix the JSON") from None
        if not isinstance(self.config, dict) or not isinstance(self.config.get("datasets"), dict) \
                or not self.config["datasets"] or "skymap" not in self.config:
            raise DataError(f"{config_path} needs a 'skymap' entry and a non-empty 'datasets' object")
        self.templates: dict[str, str] = {}
        for name, template in self.config["datasets"].items():
            self.templates[name] = self._check_template(name, template, config_path)

    def __repr__(self) -> str:
        return f"Repository({str(self.root)!r})"

    # -- storage: a local folder, or a URL read through cutout_cli.remote ----------------
    def _join(self, relative: str):
        return join(self.root, relative) if self.remote else self.root / relative

    def _read_text(self, path) -> str:
        if self.remote is None:
            return Path(path).read_text()
        from .remote import read_bytes

        return read_bytes(str(path), self.remote).decode("utf-8")

    def _glob(self, pattern: str) -> list[str]:
        if self.remote is None:
            return glob.glob(pattern)
        from .remote import glob as remote_glob

        return remote_glob(pattern, self.remote)

    def _is_file(self, path) -> bool:
        if self.remote is None:
            return Path(path).is_file()
        from .remote import exists

        return exists(str(path), self.remote)

    @staticmethod
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
        if os.path.isabs(template) or ".." in Path(template).parts:
            raise DataError(f"{source}: template for {name!r} must stay inside the repository")
        return template

    @cached_property
    def skymap(self) -> SkyMap:
        """The repository's skymap (read on first use)."""
        spec = self.config["skymap"]
        if isinstance(spec, dict):
            from .skymap import skymap_from_dict

            return skymap_from_dict(spec, str(self.root / "repo.json"))
        from .skymap import PRESETS

        if self.remote is not None and spec not in PRESETS:
            return load_skymap(self._join(spec), self._read_text)
        return load_skymap(spec if spec in PRESETS else self.root / spec)

    @property
    def dataset_types(self) -> list[str]:
        return list(self.templates)

    def default_dataset_type(self) -> str:
        return DEFAULT_DATASET_TYPE if DEFAULT_DATASET_TYPE in self.templates else self.dataset_types[0]

    def _template(self, dataset_type: str | None) -> tuple[str, str]:
        dataset_type = dataset_type or self.default_dataset_type()
        if dataset_type not in self.templates:
            raise InputError(f"unknown dataset type {dataset_type!r}",
                             f"this repository has: {', '.join(self.dataset_types)}")
        return dataset_type, self.templates[dataset_type]

    # -- paths ----------------------------------------------------------------
    def _fields(self, patch: Patch, band: str) -> dict:
        return {"tract": patch.tract, "patch": patch.index, "patch_x": patch.x, "patch_y": patch.y,
                "band": band, "skymap": self.skymap.name}

    def expected_path(self, dataset_type: str | None, patch: Patch, band: str) -> Path:
        """Where the template says the dataset is (``*`` left unexpanded); a URL string
        for a remote repository."""
        _, template = self._template(dataset_type)
        return self._join(template.format(**self._fields(patch, band)))

    def bands(self, dataset_type: str | None, patch: Patch) -> list[str]:
        """Bands present for one patch (by globbing the template's ``{band}``)."""
        dataset_type, template = self._template(dataset_type)
        if "{band}" not in template:
            return []
        partial = str(self._join(template.format(**{**self._fields(patch, ""), "band": "{band}"})))
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
        return sorted({m.group("band") for m in map(matcher.match, self._glob(pattern)) if m})

    def find(self, dataset_type: str | None, patch: Patch, band: str) -> DatasetRef | None:
        """The dataset of one patch and band, or None when it is absent."""
        dataset_type, _ = self._template(dataset_type)
        expected = self.expected_path(dataset_type, patch, band)
        if "*" in str(expected):
            matches = sorted(self._glob(glob.escape(str(expected)).replace(glob.escape("*"), "*")))
            if not matches:
                return None
            path = matches[-1]  # the newest run when names sort by time
        elif self._is_file(expected):
            path = str(expected)
        else:
            return None
        return DatasetRef(dataset_type, patch.tract, patch.index, patch.x, patch.y, band, path, patch.outer)

    def ref(self, dataset_type: str | None, tract: int, patch: int | tuple[int, int], band: str) -> DatasetRef:
        """The dataset of (tract, patch, band); NotFoundError naming the expected path if absent."""
        patch_info = self.skymap.tract(tract).patch(patch)
        ref = self.find(dataset_type, patch_info, band)
        if ref is None:
            expected = self.expected_path(dataset_type, patch_info, band)
            try:
                present = self.bands(dataset_type, patch_info)
            except RemoteError:  # the listing is only for the hint (an HTTP server may not list)
                present = []
            hint = f"bands present for this patch: {', '.join(present)}" if present else \
                "generate the sample data with 'make sample', or check --repo"
            raise NotFoundError(f"no {dataset_type or self.default_dataset_type()} for tract {tract} "
                                f"patch {patch_info.index} band {band}: expected {expected}", hint)
        return ref

    # -- spatial queries --------------------------------------------------------
    def home(self, ra: float, dec: float) -> Patch:
        """findTract + findPatch: the one home patch of a position."""
        return self.skymap.find_home(ra, dec)[1]

    def query(self, dataset_type: str | None = None, band: str | None = None, ra: float | None = None,
              dec: float | None = None, radius: float = 0.0, *, pos: str | None = None) -> list[DatasetRef]:
        """Datasets whose patch outer region overlaps a point or a region.

        The equivalent of ``butler.query_datasets(dataset_type, where="band.name = B
        AND patch.region OVERLAPS POINT(ra, dec)")`` (or a CIRCLE, POLYGON, RANGE).

        Parameters
        ----------
        dataset_type : str, optional
            Default ``deep_coadd``.
        band : str, optional
            Default: every band present.
        ra, dec : float
            Position in degrees (or give ``pos``).
        radius : float
            Circle radius in degrees (0: a point).
        pos : str, optional
            ``"RA DEC"`` or an IVOA POS region: ``"CIRCLE ra dec r"``,
            ``"POLYGON ra1 dec1 ra2 dec2 ..."``, ``"RANGE ra1 ra2 dec1 dec2"``.

        Returns
        -------
        list of DatasetRef
            Ordered by tract, then patch, then band; the home patch of the
            position (of a region's centre) has ``home=True``.  Points are
            tested exactly in tract pixels (TAN); regions with lsst-sphgeom.
        """
        region = None
        if pos is not None:
            from .coords import Point, parse_pos

            parsed = parse_pos(pos)
            if isinstance(parsed, Point):
                ra, dec = parsed.ra, parsed.dec
            else:
                region = parsed
        elif radius > 0:
            from .regions import parse_region

            region = parse_region(f"CIRCLE {ra!r} {dec!r} {radius!r}")
        if region is not None:
            from .regions import bounding_circle, overlapping_patches

            ra, dec, _ = bounding_circle(region)
            patches = overlapping_patches(self.skymap, region)
        elif ra is None or dec is None:
            raise InputError("give ra and dec (degrees), or pos")
        else:
            patches = self.skymap.patches_overlapping(ra, dec)
        dataset_type, _ = self._template(dataset_type)
        try:
            home = self.home(ra, dec)
        except NotFoundError:
            home = None
        refs = []
        for patch in patches:
            for b in ([band] if band else self.bands(dataset_type, patch)):
                ref = self.find(dataset_type, patch, b)
                if ref is not None:
                    is_home = home is not None and (patch.tract, patch.index) == (home.tract, home.index)
                    refs.append(dataclasses.replace(ref, home=is_home))
        return refs

    # -- pixels -----------------------------------------------------------------
    def deferred(self, ref: DatasetRef):
        """A handle that opens the dataset's file once and serves many boxes.

        The equivalent of ``butler.getDeferred(ref)``; use ``handle.get(bbox)``
        or ``handle.cutout(ra, dec, size)``, and close it (or use ``with``).
        """
        from .handle import ImageHandle

        return ImageHandle(ref.path, self.provenance(ref), remote=self.remote)

    def get(self, ref: DatasetRef, bbox: Box | None = None, origin: str = "parent", planes=None,
            mode: str = "partial", provenance: dict | None = None, max_pixels: int | None = None):
        """Read a box of a dataset (``butler.get(..., parameters={"bbox": box})``).

        Parameters
        ----------
        ref : DatasetRef
            The dataset (from :meth:`ref` or :meth:`query`).
        bbox : Box, optional
            The box, in PARENT pixels unless ``origin="local"``; default the whole patch.
        planes : sequence of str, optional
            Among IMAGE, MASK, VARIANCE (default all three).
        mode : {"partial", "strict"}
            See :func:`cutout_cli.cutout.extract`.

        Returns
        -------
        Cutout
        """
        with self.deferred(ref) as handle:
            return handle.get(bbox, origin, planes, mode, provenance, **_limit(max_pixels))

    def provenance(self, ref: DatasetRef) -> dict:
        """Dataset-id keywords recorded in a cutout's primary header."""
        return {"dataset_type": ref.dataset_type, "tract": ref.tract, "patch": ref.patch, "band": ref.band,
                "skymap": self.skymap.name}

    def cutout(self, ra: float, dec: float, size, band: str, dataset_type: str | None = None, planes=None,
               mode: str = "partial", tract: int | None = None, patch=None, max_pixels: int | None = None,
               provenance: dict | None = None):
        """Cutout of ``size`` centred on (ra, dec) (degrees) in ``band``.

        The coadd is the position's home patch (findTract + findPatch).  A box
        that does not fit in the home patch is assembled from its neighbours
        (and, across a tract boundary, from a tract where it fits whole); see
        :mod:`cutout_cli.mosaic`.  ``tract`` and ``patch`` force one patch
        instead (pixels outside it are NaN / NO_DATA).  ``size`` is a
        :class:`cutout_cli.coords.Size` or text such as ``"60arcsec"`` or
        ``"301"`` (pixels); angles become pixels with ``round()`` at the
        tract's pixel scale.  The box is in PARENT pixels of the tract.
        """
        from .coords import Size, parse_size
        from .geometry import sky_box

        size = size if isinstance(size, Size) else parse_size(size)
        if (tract is None) != (patch is None):
            raise InputError("give both tract and patch, or neither")
        if tract is not None:
            tract_info = self.skymap.tract(tract)
            patch_info = tract_info.patch(patch)
        else:
            tract_info, patch_info = self.skymap.find_home(ra, dec)
            box, _, _ = sky_box(tract_info, ra, dec, size)
            if not patch_info.outer.contains_box(box):
                from .mosaic import assemble, choose_tract

                tract_info, box, cx, cy = choose_tract(self.skymap, ra, dec, size)
                request = {"ra": ra, "dec": dec, "size": str(size), "center_x": cx, "center_y": cy,
                           **(provenance or {})}
                return assemble(self, tract_info, box, band, dataset_type, planes, mode, request,
                                **_limit(max_pixels))
        ref = self.ref(dataset_type, tract_info.id, patch_info.index, band)
        with self.deferred(ref) as handle:
            return handle.cutout(ra, dec, size, planes, mode, frame=tract_info, provenance=provenance,
                                 **_limit(max_pixels))

    def region_cutout(self, pos, band: str, dataset_type: str | None = None, planes=None, mode: str = "partial",
                      mask_outside: bool = False, max_pixels: int | None = None):
        """The box enclosing an IVOA POS region (``"CIRCLE ra dec r"``, ``"POLYGON ..."``,
        ``"RANGE ..."``, degrees) in the home tract of its centre, from as many patches as
        it needs; with ``mask_outside`` pixels whose centre is outside the region become
        NaN / NO_DATA."""
        from .regions import bounding_circle, enclosing_box, mask_outside as mask, parse_region

        region = parse_region(pos) if isinstance(pos, str) else pos
        ra, dec, _ = bounding_circle(region)
        tract, patch = self.skymap.find_home(ra, dec)
        box = enclosing_box(tract, region)
        if patch.outer.contains_box(box):
            cutout = self.get(self.ref(dataset_type, tract.id, patch.index, band), box, planes=planes, mode=mode,
                              provenance={"request": pos if isinstance(pos, str) else None}, max_pixels=max_pixels)
        else:
            cutout = self.get_box(tract.id, box, band, dataset_type, planes, mode, max_pixels)
        if mask_outside:
            mask(cutout, region)
        return cutout

    def get_box(self, tract: int, bbox: Box, band: str, dataset_type: str | None = None, planes=None,
                mode: str = "partial", max_pixels: int | None = None):
        """A PARENT box of a tract, from as many of its patches as it needs (never resampled)."""
        from .mosaic import assemble

        return assemble(self, self.skymap.tract(tract), bbox, band, dataset_type, planes, mode,
                        **_limit(max_pixels))

    def batch(self, targets, out_dir, size=None, band: str | None = None, **options) -> list[dict]:
        """Cutouts for many targets, written to ``out_dir``; returns the manifest rows.

        ``targets`` is a CSV path or an iterable of mappings with ``id``,
        ``ra``, ``dec`` (optional ``size``, ``band``).  ``options`` are those of
        :func:`cutout_cli.batch.run.run_batch` (``planes``, ``png``, ``mode``,
        ``overwrite``, ``dataset_type``, ...).  The manifest is also written to
        ``out_dir/manifest.csv``.
        """
        from .batch.run import run_batch

        return run_batch(self, targets, out_dir, size=size, band=band, **options).rows


def _limit(max_pixels: int | None) -> dict:
    return {} if max_pixels is None else {"max_pixels": max_pixels}


def open_repository(root=None, **options) -> Repository:
    """The repository at ``root`` (default ``$CUTOUT_REPO``, then the bundled sample).

    A folder indexed by ``cutout index`` (``.cutout-index.sqlite``, no ``repo.json``)
    opens as a :class:`~cutout_cli.collection.ImageCollection`; anything else as a
    :class:`Repository` (``options``: its ``anon`` and ``endpoint_url``).
    """
    root = root or os.environ.get("CUTOUT_REPO") or bundled_sample_repo()
    from .collection import ImageCollection, is_image_collection

    if is_image_collection(root):
        return ImageCollection(root)
    return Repository(root, **options)
