"""The repository facade: queries, boxes and cutouts over any registry, in any storage.

A :class:`Repository` is a :class:`~cutout_cli.storage.base.Storage` (where
the bytes are) plus a :class:`~.registry.Registry` (which file holds the
dataset of a patch and band).  Everything a user asks of a repository
(``query``, ``cutout``, ``get``, ``region_cutout``, ``batch``) is written
once here, over those two seams, in the Butler's terms: ``query`` is
``butler.query_datasets``, ``deferred`` is ``butler.getDeferred``, ``get``
with a box is ``butler.get(..., parameters={"bbox": box})``.

Conventions: positions in degrees; boxes in PARENT (tract) pixels, begin
inclusive, end exclusive.
"""

from __future__ import annotations

import dataclasses
import os

from ..cutouts.assemble import assemble, choose_tract, covered_by_present
from ..cutouts.handle import ImageHandle
from ..cutouts.options import ReadOptions, read_options
from ..errors import InputError, NotFoundError
from ..sky.box import Box, sky_box
from ..sky.parse import Point, is_sky_coord, parse_pos, parse_size, sky_position
from ..sky.regions import bounding_circle, enclosing_box, mask_outside as mask, parse_region
from ..sky.skymap import SkyMap
from ..sky.tract import Patch
from ..storage.base import Storage, is_remote
from ..storage.opening import open_storage
from ..storage.remote import RemoteOptions
from .refs import DatasetRef
from .registry import Registry
from .templates import TemplateRegistry, bundled_sample_repo

__all__ = ["Repository", "RepositoryLocator", "bundled_sample_repo", "default_root"]


def default_root(root=None):
    """``root``, else ``$CUTOUT_REPO``, else the bundled sample repository."""
    return root or os.environ.get("CUTOUT_REPO") or bundled_sample_repo()


@dataclasses.dataclass(frozen=True)
class RepositoryLocator:
    """How to open a repository again elsewhere (a batch worker process): picklable.

    ``opener`` is the repository type (or a function) called as
    ``opener(root, **arguments)``.
    """

    opener: object
    root: str
    arguments: tuple = ()

    def open(self):
        return self.opener(self.root, **dict(self.arguments))


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
        :class:`~cutout_cli.storage.remote.RemoteOptions`.
    storage, registry
        For other kinds of repository (subclasses): their storage and registry,
        instead of a ``repo.json`` registry in the storage of ``root``.

    Attributes
    ----------
    storage : Storage
        Where the repository's files are.
    registry : Registry
        Which file holds which dataset.
    """

    def __init__(self, root=None, *, anon: bool | None = None, endpoint_url: str | None = None,
                 storage: Storage | None = None, registry: Registry | None = None):
        if storage is None:
            root = default_root(root)
            remote = RemoteOptions.from_env(anon, endpoint_url) if is_remote(root) else None
            storage = open_storage(root, remote)
        self.storage = storage
        self._remote_arguments = (("anon", anon), ("endpoint_url", endpoint_url)) if storage.remote else ()
        self.registry = registry if registry is not None else TemplateRegistry(storage)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"

    @property
    def root(self) -> str:
        """The repository's folder or URL."""
        return self.storage.root

    @property
    def remote(self) -> RemoteOptions | None:
        """How the storage is reached (None for a local folder)."""
        return self.storage.remote

    @property
    def config(self) -> dict:
        """The repository's description (``repo.json``)."""
        return self.registry.config

    @property
    def skymap(self) -> SkyMap:
        """The repository's skymap."""
        return self.registry.skymap_for(None)

    @property
    def dataset_types(self) -> list[str]:
        return list(self.registry.dataset_types)

    def default_dataset_type(self) -> str:
        return self.registry.default_dataset_type()

    def locator(self) -> RepositoryLocator:
        """A picklable way to open this repository again (for batch workers)."""
        return RepositoryLocator(type(self), self.root, self._remote_arguments)

    # -- datasets ---------------------------------------------------------------------
    def expected_path(self, dataset_type: str | None, patch: Patch, band: str) -> str:
        """Where the dataset of ``patch`` and ``band`` would be (``*`` left unexpanded)."""
        return self.registry.expected_path(self.registry.dataset_type(dataset_type), patch, band)

    def bands(self, dataset_type: str | None, patch: Patch) -> list[str]:
        """Bands present for one patch."""
        return self.registry.bands(self.registry.dataset_type(dataset_type), patch)

    def find(self, dataset_type: str | None, patch: Patch, band: str) -> DatasetRef | None:
        """The dataset of one patch and band, or None when it is absent."""
        return self.registry.find(self.registry.dataset_type(dataset_type), patch, band)

    def ref(self, dataset_type: str | None, tract: int, patch: int | tuple[int, int], band: str) -> DatasetRef:
        """The dataset of (tract, patch, band); NotFoundError naming the expected path if absent."""
        dataset_type = self.registry.dataset_type(dataset_type)
        patch_info = self.registry.skymap_for(band).tract(tract).patch(patch)
        ref = self.registry.find(dataset_type, patch_info, band)
        if ref is None:
            raise self.registry.missing(dataset_type, patch_info, band)
        return ref

    def find_id(self, dataset_id: str) -> DatasetRef | None:
        """The dataset with this Butler dataset id (``butler.get_dataset(id)``), or None when the
        collections searched hold none (or the repository has no dataset ids)."""
        return self.registry.find_id(dataset_id)

    def provenance(self, ref: DatasetRef) -> dict:
        """Dataset-id keywords recorded in a cutout's primary header."""
        return ref.provenance(self.skymap.name)

    # -- spatial queries --------------------------------------------------------------
    def home(self, ra, dec=None, band: str | None = None) -> Patch:
        """findTract + findPatch: the one home patch of a position (as :func:`~cutout_cli.sky.parse.sky_position`
        takes it: degrees, text, Angles, or a SkyCoord alone)."""
        return self.registry.skymap_for(band).find_home(*sky_position(ra, dec))[1]

    def query(self, dataset_type: str | None = None, band=None, ra=None, dec=None, radius: float = 0.0, *,
              pos: str | None = None) -> list[DatasetRef]:
        """Datasets whose patch outer region overlaps a point or a region.

        The equivalent of ``butler.query_datasets(dataset_type, where="band.name = B
        AND patch.region OVERLAPS POINT(ra, dec)")`` (or a CIRCLE, POLYGON, RANGE).

        Parameters
        ----------
        dataset_type : str, optional
            Default ``deep_coadd``.
        band : str or list of str, optional
            A band, or several (``["r", "z"]``); default: every band present.
        ra, dec : float
            Position in degrees, or as :func:`~cutout_cli.sky.parse.sky_position` takes it
            (sexagesimal text, Angles, a SkyCoord as ``ra`` alone); or give ``pos``.
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
        if band is not None and not isinstance(band, str):
            refs = [ref for b in dict.fromkeys(band) for ref in self.query(dataset_type, b, ra, dec, radius, pos=pos)]
            return sorted(refs, key=lambda ref: (ref.tract, ref.patch))  # stable: bands in the order given
        dataset_type = self.registry.dataset_type(dataset_type)
        skymap = self.registry.skymap_for(band)
        ra, dec, region = _query_shape(ra, dec, radius, pos)
        patches = self.registry.overlapping(dataset_type, skymap, ra, dec, region)
        try:
            home = skymap.find_home(ra, dec)[1]
        except NotFoundError:
            home = None
        refs = []
        for patch in patches:
            is_home = home is not None and (patch.tract, patch.index) == (home.tract, home.index)
            for b in ([band] if band else self.registry.bands(dataset_type, patch)):
                ref = self.registry.find(dataset_type, patch, b)
                if ref is not None:
                    refs.append(dataclasses.replace(ref, home=is_home))
        return refs

    # -- pixels -----------------------------------------------------------------------
    def deferred(self, ref: DatasetRef) -> ImageHandle:
        """A handle that opens the dataset's file once and serves many boxes.

        The equivalent of ``butler.getDeferred(ref)``; use ``handle.get(bbox)``
        or ``handle.cutout(ra, dec, size)``, and close it (or use ``with``).
        """
        return ImageHandle(ref.path, self.provenance(ref), remote=self.remote)

    def get(self, ref: DatasetRef, bbox: Box | None = None, *, origin: str = "parent",
            options: ReadOptions | None = None, planes=None, mode: str | None = None,
            max_pixels: int | None = None, provenance: dict | None = None):
        """Read a box of a dataset (``butler.get(..., parameters={"bbox": box})``).

        ``bbox`` is in PARENT pixels unless ``origin="local"`` (default: the whole
        patch); ``options`` (or ``planes``, ``mode``, ``max_pixels`` over it):
        :class:`~cutout_cli.cutouts.options.ReadOptions`.  Returns a
        :class:`~cutout_cli.cutouts.cutout.Cutout`.
        """
        options = read_options(options, planes=planes, mode=mode, max_pixels=max_pixels)
        with self.deferred(ref) as handle:
            return handle.get(bbox, origin=origin, options=options, provenance=provenance)

    def cutout(self, ra, dec=None, size=None, band: str | None = None, *, dataset_type: str | None = None,
               tract: int | None = None, patch=None, options: ReadOptions | None = None, planes=None,
               mode: str | None = None, max_pixels: int | None = None, provenance: dict | None = None):
        """Cutout of ``size`` centred on (ra, dec) (degrees) in ``band``.

        ``ra`` and ``dec`` are as :func:`~cutout_cli.sky.parse.sky_position` takes them (degrees,
        sexagesimal text, Angles); a SkyCoord comes alone: ``repo.cutout(coord, "60arcsec", "r")``.

        The coadd is the position's home patch (findTract + findPatch).  A box
        that does not fit in the home patch is assembled from its neighbours
        (and, across a tract boundary, from a tract where it fits whole); see
        :mod:`cutout_cli.cutouts.assemble`.  So is a box whose home patch file
        is absent when the files present hold all of it in their borders
        (else the home's absence is a NotFoundError).  ``tract`` and ``patch`` force one
        patch instead (pixels outside it are NaN / NO_DATA).  ``size`` is a
        :class:`~cutout_cli.sky.parse.Size` or text such as ``"60arcsec"`` or
        ``"301"`` (pixels); angles become pixels with ``round()`` at the
        tract's pixel scale.  The box is in PARENT pixels of the tract.
        """
        if is_sky_coord(ra) and dec is not None:  # (coord, size, band) given by position
            dec, size, band = None, dec, band if band is not None else size
        ra, dec = sky_position(ra, dec)
        if size is None or band is None:
            raise InputError("give a size and a band", 'e.g. repo.cutout(53.1, -28.1, "60arcsec", "r")')
        size = parse_size(size)
        options = read_options(options, planes=planes, mode=mode, max_pixels=max_pixels)
        if (tract is None) != (patch is None):
            raise InputError("give both tract and patch, or neither")
        skymap = self.registry.skymap_for(band)
        if tract is not None:
            tract_info = skymap.tract(tract)
            ref = self.ref(dataset_type, tract_info.id, tract_info.patch(patch).index, band)
        else:
            tract_info, patch_info = skymap.find_home(ra, dec)
            box, cx, cy = sky_box(tract_info, ra, dec, size)
            fits_home = patch_info.outer.contains_box(box)
            ref = self._home_ref(dataset_type, tract_info, patch_info, box, band) if fits_home else None
            if ref is None:
                if not fits_home:
                    tract_info, box, cx, cy = choose_tract(skymap, ra, dec, size)
                request = {"ra": ra, "dec": dec, "size": str(size), "center_x": cx, "center_y": cy,
                           **(provenance or {})}
                return assemble(self, tract_info, box, band, dataset_type=dataset_type, options=options,
                                provenance=request)
        with self.deferred(ref) as handle:
            return handle.cutout(ra, dec, size, options=options, frame=tract_info, provenance=provenance)

    def region_cutout(self, pos, band: str, *, dataset_type: str | None = None, mask_outside: bool = False,
                      options: ReadOptions | None = None, planes=None, mode: str | None = None,
                      max_pixels: int | None = None):
        """The box enclosing an IVOA POS region (``"CIRCLE ra dec r"``, ``"POLYGON ..."``,
        ``"RANGE ..."``, degrees) in the home tract of its centre, from as many patches as
        it needs; with ``mask_outside`` pixels whose centre is outside the region become
        NaN / NO_DATA."""
        options = read_options(options, planes=planes, mode=mode, max_pixels=max_pixels)
        region = parse_region(pos) if isinstance(pos, str) else pos
        ra, dec, _ = bounding_circle(region)
        tract, patch = self.registry.skymap_for(band).find_home(ra, dec)
        box = enclosing_box(tract, region)
        ref = self._home_ref(dataset_type, tract, patch, box, band) if patch.outer.contains_box(box) else None
        if ref is not None:
            cutout = self.get(ref, box, options=options, provenance={"request": pos if isinstance(pos, str) else None})
        else:
            cutout = assemble(self, tract, box, band, dataset_type=dataset_type, options=options)
        if mask_outside:
            mask(cutout, region)
        return cutout

    def get_box(self, tract: int, bbox: Box, band: str, *, dataset_type: str | None = None,
                options: ReadOptions | None = None, planes=None, mode: str | None = None,
                max_pixels: int | None = None):
        """A PARENT box of a tract, from as many of its patches as it needs (never resampled)."""
        options = read_options(options, planes=planes, mode=mode, max_pixels=max_pixels)
        return assemble(self, self.registry.skymap_for(band).tract(tract), bbox, band, dataset_type=dataset_type,
                        options=options)

    def _home_ref(self, dataset_type: str | None, tract, home: Patch, box: Box, band: str) -> DatasetRef | None:
        """The dataset of ``home`` for a ``box`` inside its outer box; None when its file is absent but
        the files present hold every pixel of the box in their outer boxes (the box is then assembled
        from them); the home's NotFoundError when they do not."""
        dataset_type = self.registry.dataset_type(dataset_type)
        ref = self.registry.find(dataset_type, home, band)
        if ref is None and not covered_by_present(self, tract, box, band, dataset_type):
            raise self.registry.missing(dataset_type, home, band)
        return ref

    def batch(self, targets, out_dir, size=None, band: str | None = None, **options) -> list[dict]:
        """Cutouts for many targets, written to ``out_dir``; returns the manifest rows.

        ``targets`` is a target list (CSV, ECSV, FITS, VOTable, ... path),
        an astropy Table (angle units honoured) or an iterable of mappings with
        ``id``, ``ra``, ``dec`` (or aliases, docs/targets.md; optional ``size``,
        ``band``).  ``options`` are those of :func:`cutout_cli.batch.run.run_batch`
        (``planes``, ``png``, ``mode``, ``overwrite``, ``ra_col``, ``limits``, ...).
        The manifest is also written to ``out_dir/manifest.csv``.
        """
        from ..batch.run import run_batch  # the one documented upward import: the batch layer runs over us

        return run_batch(self, targets, out_dir, size=size, band=band, **options).rows


def _query_shape(ra, dec, radius: float, pos) -> tuple[float, float, object]:
    """The centre and the sphgeom region (None for a point) of a query (see :meth:`Repository.query`)."""
    region = None
    if pos is not None:
        parsed = parse_pos(pos)
        if isinstance(parsed, Point):
            ra, dec = parsed.ra, parsed.dec
        else:
            region = parsed
    elif ra is not None or dec is not None:
        ra, dec = sky_position(ra, dec)
        if radius > 0:
            region = parse_region(f"CIRCLE {ra!r} {dec!r} {radius!r}")
    if region is not None:
        ra, dec, _ = bounding_circle(region)
        return ra, dec, region
    if ra is None or dec is None:
        raise InputError("give ra and dec (degrees), or pos")
    return float(ra), float(dec), None
