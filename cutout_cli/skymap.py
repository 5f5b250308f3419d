"""Skymaps: tracts, patches, findTract/findPatch (REFERENCE.md section 2).

Two kinds of skymap description are supported:

``rings``
    The LSST rings sky map computed from its parameters (``lsst_cells_v1``,
    ``hsc_rings_v1``): tract ids, centres, tract WCS and patch grids are derived
    exactly as lsst.skymap does.
``explicit``
    A list of tracts, each with its FITS WCS keywords, bounding box and patch grid.

Pixel conventions: tract (PARENT) pixels are LSST 0-based pixels of the
tract-wide grid whose first pixel is (0, 0); for the tract WCS that is
astropy's ``origin=0`` pixel, and FITS ``CRPIX = lsst + 1``.  Angles are in
degrees unless a name says otherwise.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import DataError, NotFoundError
from .geometry import Box, round_half_up
from .sphere import angular_separation, offset_point

PRESETS: dict[str, dict] = {
    "lsst_cells_v1": {
        "type": "rings",
        "name": "lsst_cells_v1",
        "num_rings": 120,
        "ra_start": 0.0,
        "pixel_scale": 0.2,
        "tract_overlap": 1.0 / 60.0,
        "projection": "TAN",
        "tract_builder": "cells",
        "patch_inner_dimensions": [3000, 3000],
        "patch_border": 200,
    },
    "hsc_rings_v1": {
        "type": "rings",
        "name": "hsc_rings_v1",
        "num_rings": 120,
        "ra_start": 0.0,
        "pixel_scale": 0.168,
        "tract_overlap": 1.0 / 60.0,
        "projection": "TAN",
        "tract_builder": "legacy",
        "patch_inner_dimensions": [4000, 4000],
        "patch_border": 100,
    },
}


@dataclass(frozen=True)
class Patch:
    """One patch of a tract; boxes are in tract (PARENT) pixels.

    ``inner`` boxes tile the tract; ``outer`` is ``inner`` grown by the patch
    border (clipped to the tract only for the legacy tract builder) and is the
    extent of a coadd file.
    """

    tract: int
    index: int
    x: int
    y: int
    inner: Box
    outer: Box

    def get_bbox(self, origin: str = "parent") -> Box:
        """The outer box (the coadd file's extent) in PARENT or LOCAL pixels (``getBBox``)."""
        if origin == "local":
            return self.outer.to_local((self.outer.begin_x, self.outer.begin_y))
        return self.outer


class Tract:
    """A tract: a pixel grid on one sky projection, divided into patches.

    Parameters
    ----------
    tract_id : int
        The tract id.
    wcs_header : dict
        FITS WCS keywords of the tract-wide image whose first pixel is PARENT
        (0, 0) (so ``CRPIX`` is 1-based FITS in tract pixels).
    bbox : Box
        Tract bounding box in PARENT pixels (begins at (0, 0)).
    patch_inner_dimensions : (int, int)
        Inner patch width and height in pixels.
    patch_border : int
        Pixels by which the outer patch box extends the inner one.
    clip_outer : bool
        Clip outer patch boxes to the tract (legacy builder) or not (cells).
    """

    def __init__(self, tract_id, wcs_header, bbox, patch_inner_dimensions, patch_border, clip_outer=False):
        self.id = int(tract_id)
        self.wcs_header = dict(wcs_header)
        self.bbox = bbox
        self.patch_inner_dimensions = (int(patch_inner_dimensions[0]), int(patch_inner_dimensions[1]))
        self.patch_border = int(patch_border)
        self.clip_outer = bool(clip_outer)
        pw, ph = self.patch_inner_dimensions
        self.num_patches = (-(-bbox.width // pw), -(-bbox.height // ph))

    def __repr__(self) -> str:
        return f"Tract({self.id}, bbox={self.bbox}, patches={self.num_patches[0]}x{self.num_patches[1]})"

    @cached_property
    def wcs(self):
        """astropy WCS of the tract grid; use ``origin=0`` for PARENT pixels."""
        from astropy.wcs import WCS

        return WCS(self.wcs_header)

    @cached_property
    def center(self) -> tuple[float, float]:
        """Sky position (ra, dec) of the tract bbox centre, degrees."""
        cx, cy = self.bbox.center
        ra, dec = self.wcs.all_pix2world([[cx, cy]], 0)[0]
        return float(ra) % 360.0, float(dec)

    @cached_property
    def pixel_scale(self) -> float:
        """Pixel scale in arcsec/pixel at the reference pixel."""
        from astropy.wcs.utils import proj_plane_pixel_scales

        return float(np.sqrt(np.prod(proj_plane_pixel_scales(self.wcs))) * 3600.0)

    @cached_property
    def reach(self) -> float:
        """Largest distance (deg) from :attr:`center` to a corner of the outermost patch boxes."""
        grown = self.bbox.grown(self.patch_border)
        xs = np.array([grown.begin_x, grown.end_x, grown.begin_x, grown.end_x]) - 0.5
        ys = np.array([grown.begin_y, grown.begin_y, grown.end_y, grown.end_y]) - 0.5
        ra, dec = self.wcs.all_pix2world(xs, ys, 0)
        return float(np.max(angular_separation(self.center[0], self.center[1], ra, dec)))

    def sky_to_pixel(self, ra, dec):
        """Float PARENT pixel position(s) (x, y) of sky position(s) in degrees (SIP distortion included)."""
        with warnings.catch_warnings():  # the SIP inverse warns on positions off the projection (NaN)
            warnings.simplefilter("ignore", RuntimeWarning)
            x, y = self.wcs.all_world2pix(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float), 0, quiet=True)
        return x, y

    def pixel_to_sky(self, x, y):
        """Sky position(s) (ra, dec) in degrees of PARENT pixel position(s) (SIP distortion included)."""
        return self.wcs.all_pix2world(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 0)

    # -- patches ------------------------------------------------------------
    def patch_index(self, x: int, y: int) -> int:
        """Sequential patch index ``y * nx + x``."""
        return int(y) * self.num_patches[0] + int(x)

    def patch(self, index: int | tuple[int, int]) -> Patch:
        """The patch with a sequential index or an ``(x, y)`` pair."""
        nx, ny = self.num_patches
        if isinstance(index, tuple):
            px, py = int(index[0]), int(index[1])
        else:
            px, py = int(index) % nx, int(index) // nx
            if int(index) < 0:
                py = -1
        if not (0 <= px < nx and 0 <= py < ny):
            raise NotFoundError(
                f"patch {index} is not in tract {self.id}",
                f"patches run from 0 to {nx * ny - 1} (x 0..{nx - 1}, y 0..{ny - 1})",
            )
        pw, ph = self.patch_inner_dimensions
        inner = Box(px * pw, py * ph, pw, ph).intersection(self.bbox)
        outer = inner.grown(self.patch_border)
        if self.clip_outer:
            outer = outer.intersection(self.bbox)
        return Patch(self.id, self.patch_index(px, py), px, py, inner, outer)

    def patches(self):
        """All patches of the tract, by sequential index."""
        nx, ny = self.num_patches
        return [self.patch(i) for i in range(nx * ny)]

    def find_patch(self, ra: float, dec: float) -> Patch:
        """The one patch whose inner box holds (ra, dec) (lsst findPatch)."""
        x, y = self.sky_to_pixel(ra, dec)
        if not (np.isfinite(x) and np.isfinite(y)):
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is not in tract {self.id}")
        ix, iy = round_half_up(float(x)), round_half_up(float(y))
        if not self.bbox.contains_pixel(ix, iy):
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is not in tract {self.id}")
        pw, ph = self.patch_inner_dimensions
        return self.patch((ix // pw, iy // ph))

    def patches_overlapping(self, ra: float, dec: float, radius: float = 0.0) -> list[Patch]:
        """Patches whose outer region holds (ra, dec), or may overlap a circle of ``radius`` degrees.

        The outer region is the sky polygon through the outer box's pixel-edge
        corners (``begin - 0.5``, ``end - 0.5``), as the Butler's patch regions.
        For a point the answer is exact: with a TAN tract WCS great circles are
        straight lines in pixel space, so the test on the pixel position is
        exact.  For a circle it is a superset (outer boxes within the radius
        plus a margin, in pixels): :mod:`cutout_cli.regions` decides exactly.
        """
        if angular_separation(self.center[0], self.center[1], ra, dec) > self.reach + radius:
            return []
        x, y = (float(v) for v in self.sky_to_pixel(ra, dec))
        if not (math.isfinite(x) and math.isfinite(y)):
            return []
        pw, ph = self.patch_inner_dimensions
        reach_px = radius * 3600.0 / self.pixel_scale * 1.05 + 2  # TAN stretches angles by < 5% within a tract
        margin = self.patch_border + reach_px
        nx, ny = self.num_patches
        found = []
        for py in range(max(0, int((y - margin) // ph)), min(ny, int((y + margin) // ph) + 1)):
            for px in range(max(0, int((x - margin) // pw)), min(nx, int((x + margin) // pw) + 1)):
                patch = self.patch((px, py))
                o = patch.outer
                dx = max(o.begin_x - 0.5 - x, 0.0, x - (o.end_x - 0.5))
                dy = max(o.begin_y - 0.5 - y, 0.0, y - (o.end_y - 0.5))
                if (radius == 0 and dx == 0 and dy == 0) or (radius > 0 and math.hypot(dx, dy) <= reach_px):
                    found.append(patch)
        return sorted(found, key=lambda p: p.index)

    def image_wcs_header(self, xy0: tuple[int, int]) -> dict:
        """Tract WCS keywords for an image whose first pixel is PARENT ``xy0``."""
        header = dict(self.wcs_header)
        header["CRPIX1"] = self.wcs_header["CRPIX1"] - xy0[0]
        header["CRPIX2"] = self.wcs_header["CRPIX2"] - xy0[1]
        return header


def _tan_header(ra: float, dec: float, crpix_fits: tuple[float, float], scale_deg: float, projection: str) -> dict:
    return {
        "CTYPE1": f"RA---{projection}",
        "CTYPE2": f"DEC--{projection}",
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "CRVAL1": float(ra),
        "CRVAL2": float(dec),
        "CRPIX1": float(crpix_fits[0]),
        "CRPIX2": float(crpix_fits[1]),
        "CD1_1": -scale_deg,
        "CD1_2": 0.0,
        "CD2_1": 0.0,
        "CD2_2": scale_deg,
        "RADESYS": "ICRS",
    }


class SkyMap:
    """Base class: a named set of tracts."""

    name: str

    def tract(self, tract_id: int) -> Tract:
        raise NotImplementedError

    def find_tract(self, ra: float, dec: float) -> Tract:
        raise NotImplementedError

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        """Ids of tracts that may reach within ``radius`` degrees of (ra, dec)."""
        raise NotImplementedError

    def find_home(self, ra: float, dec: float) -> tuple[Tract, Patch]:
        """findTract + findPatch: the one home tract and patch of a position."""
        tract = self.find_tract(ra, dec)
        return tract, tract.find_patch(ra, dec)

    def patches_overlapping(self, ra: float, dec: float, radius: float = 0.0) -> list[Patch]:
        """Every patch, of every tract, holding the point (or that may overlap the circle); by tract then patch."""
        found = []
        for tract_id in sorted(self.candidate_tract_ids(ra, dec, radius)):
            found.extend(self.tract(tract_id).patches_overlapping(ra, dec, radius))
        return found


class RingsSkyMap(SkyMap):
    """The lsst.skymap rings sky map, computed from its configuration.

    Parameters are those of ``RingsSkyMapConfig`` (angles in degrees, pixel
    scale in arcsec) plus the tract builder: ``cells`` (outer patch boxes not
    clipped) or ``legacy`` (clipped to the tract).
    """

    def __init__(self, name, num_rings, ra_start, pixel_scale, tract_overlap, patch_inner_dimensions,
                 patch_border, tract_builder="cells", projection="TAN", rotation=0.0):
        if rotation:
            raise DataError(f"skymap {name}: rotation {rotation} is not supported", "only rotation 0 is")
        if tract_builder not in ("cells", "legacy"):
            raise DataError(f"skymap {name}: unknown tract_builder {tract_builder!r}", "use 'cells' or 'legacy'")
        self.name = name
        self.num_rings = int(num_rings)
        self.ra_start = float(ra_start)
        self.pixel_scale = float(pixel_scale)
        self.tract_overlap = float(tract_overlap)
        self.patch_inner_dimensions = tuple(int(v) for v in patch_inner_dimensions)
        self.patch_border = int(patch_border)
        self.clip_outer = tract_builder == "legacy"
        self.projection = projection
        self.ring_size = math.pi / (self.num_rings + 1)
        ring_nums = []
        for i in range(self.num_rings):
            start = self.ring_size * (i + 0.5) - 0.5 * math.pi
            stop = start + self.ring_size
            ring_nums.append(int(2 * math.pi * math.cos(min(abs(start), abs(stop))) / self.ring_size) + 1)
        self.ring_nums = np.array(ring_nums, dtype=np.int64)
        self._ring_first_id = np.concatenate([[1], 1 + np.cumsum(self.ring_nums)])
        self.num_tracts = int(self.ring_nums.sum()) + 2
        self._tracts: dict[int, Tract] = {}

    def __len__(self) -> int:
        return self.num_tracts

    def ring_indices(self, tract_id: int) -> tuple[int, int]:
        """(ring, index within ring); ring -1 and ``num_rings`` are the polar caps."""
        if not 0 <= tract_id < self.num_tracts:
            raise NotFoundError(f"tract {tract_id} is not in skymap {self.name}", f"ids run from 0 to {self.num_tracts - 1}")
        if tract_id == 0:
            return -1, 0
        if tract_id == self.num_tracts - 1:
            return self.num_rings, 0
        ring = int(np.searchsorted(self._ring_first_id, tract_id, side="right")) - 1
        return ring, int(tract_id - self._ring_first_id[ring])

    @cached_property
    def tract_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """Arrays (ra, dec) in degrees of every tract centre, indexed by tract id."""
        ra = np.zeros(self.num_tracts)
        dec = np.zeros(self.num_tracts)
        dec[0], dec[-1] = -90.0, 90.0
        for ring, n in enumerate(self.ring_nums):
            ids = slice(self._ring_first_id[ring], self._ring_first_id[ring] + n)
            dec[ids] = math.degrees(self.ring_size * (ring + 1) - 0.5 * math.pi)
            ra[ids] = (np.degrees(2 * math.pi * np.arange(n) / n) + self.ra_start) % 360.0
        return ra, dec

    def tract(self, tract_id: int) -> Tract:
        tract_id = int(tract_id)
        if tract_id not in self._tracts:
            self.ring_indices(tract_id)  # validates the id
            ra, dec = (float(a[tract_id]) for a in self.tract_centers)
            self._tracts[tract_id] = self._build_tract(tract_id, ra, dec)
        return self._tracts[tract_id]

    def _build_tract(self, tract_id: int, ra: float, dec: float) -> Tract:
        """Tract geometry exactly as lsst.skymap's ExplicitTractInfo + tract builder."""
        from astropy.wcs import WCS

        scale = self.pixel_scale / 3600.0
        wcs0 = WCS(_tan_header(ra, dec, (1.0, 1.0), scale, self.projection))  # LSST crpix (0, 0)
        reach = math.degrees(0.5 * self.ring_size) + self.tract_overlap
        corners = [offset_point(ra, dec, bearing, reach) for bearing in (0.0, 90.0, 180.0, 270.0)]
        xs, ys = wcs0.wcs_world2pix([c[0] for c in corners], [c[1] for c in corners], 0)
        minimum = Box.from_float_bounds(min(xs), min(ys), max(xs), max(ys))
        begin, dims = [minimum.begin_x, minimum.begin_y], [minimum.width, minimum.height]
        for i, inner in enumerate(self.patch_inner_dimensions):
            num = -(-dims[i] // inner)
            delta = inner * num - dims[i]
            if delta > 0:
                dims[i] = inner * num
                begin[i] -= delta // 2
        header = _tan_header(ra, dec, (1.0 - begin[0], 1.0 - begin[1]), scale, self.projection)
        return Tract(tract_id, header, Box(0, 0, dims[0], dims[1]), self.patch_inner_dimensions,
                     self.patch_border, self.clip_outer)

    def find_tract_ids(self, ra, dec) -> np.ndarray:
        """Vectorised findTract (the rings rule, not nearest centre); degrees in, ids out."""
        ra_rad = np.radians(np.asarray(ra, dtype=float))
        dec_rad = np.radians(np.asarray(dec, dtype=float))
        first = 0.5 * self.ring_size - 0.5 * math.pi
        ring = np.floor((dec_rad - first) / self.ring_size).astype(np.int64)
        south, north = dec_rad < first, (dec_rad > -first) | (ring >= self.num_rings)
        ring = np.clip(ring, 0, self.num_rings - 1)
        n = self.ring_nums[ring]
        t = ((ra_rad - math.radians(self.ra_start)) % (2 * math.pi) / (2 * math.pi / n) + 0.5).astype(np.int64)
        t = np.where(t == n, 0, t)
        ids = self._ring_first_id[ring] + t
        return np.where(south, 0, np.where(north, self.num_tracts - 1, ids))

    def find_tract(self, ra: float, dec: float) -> Tract:
        return self.tract(int(self.find_tract_ids(ra, dec)))

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        ras, decs = self.tract_centers
        reach = self.tract(int(self.find_tract_ids(ra, dec))).reach
        near = angular_separation(ra, dec, ras, decs) <= reach * 1.01 + radius
        return [int(i) for i in np.flatnonzero(near)]


class ExplicitSkyMap(SkyMap):
    """A skymap given as an explicit list of tracts (each with FITS WCS keywords).

    findTract picks, among the tracts whose bbox holds the position, the one
    whose centre is nearest (lsst DiscreteSkyMap semantics).
    """

    def __init__(self, name: str, tracts: list[Tract]):
        self.name = name
        self._tracts = {t.id: t for t in tracts}
        if not self._tracts:
            raise DataError(f"skymap {name} has no tracts", "list at least one tract")

    def __len__(self) -> int:
        return len(self._tracts)

    def tract(self, tract_id: int) -> Tract:
        try:
            return self._tracts[int(tract_id)]
        except KeyError:
            raise NotFoundError(f"tract {tract_id} is not in skymap {self.name}",
                                f"known tracts: {sorted(self._tracts)[:10]}") from None

    def candidate_tract_ids(self, ra: float, dec: float, radius: float = 0.0) -> list[int]:
        return [t.id for t in self._tracts.values()
                if angular_separation(ra, dec, *t.center) <= t.reach * 1.01 + radius]

    def find_tract(self, ra: float, dec: float) -> Tract:
        best = None
        for tract_id in self.candidate_tract_ids(ra, dec):
            tract = self._tracts[tract_id]
            x, y = tract.sky_to_pixel(ra, dec)
            if np.isfinite(x) and tract.bbox.contains_pixel(round_half_up(float(x)), round_half_up(float(y))):
                distance = float(angular_separation(ra, dec, *tract.center))
                if best is None or distance < best[0]:
                    best = (distance, tract)
        if best is None:
            raise NotFoundError(f"position ({ra:.6f}, {dec:.6f}) is in no tract of skymap {self.name}")
        return best[1]


def skymap_from_dict(spec: dict, source: str = "skymap") -> SkyMap:
    """Build a skymap from its JSON description (see DESIGN.md, repository contract)."""
    try:
        kind = spec.get("type")
        if "preset" in spec:
            if spec["preset"] not in PRESETS:
                raise DataError(f"{source}: unknown skymap preset {spec['preset']!r}",
                                f"known presets: {', '.join(PRESETS)}")
            spec = {**PRESETS[spec["preset"]], **{k: v for k, v in spec.items() if k != "preset"}}
            kind = spec["type"]
        if kind == "rings":
            return RingsSkyMap(
                spec["name"], spec["num_rings"], spec.get("ra_start", 0.0), spec["pixel_scale"],
                spec["tract_overlap"], spec["patch_inner_dimensions"], spec["patch_border"],
                spec.get("tract_builder", "cells"), spec.get("projection", "TAN"), spec.get("rotation", 0.0),
            )
        if kind == "explicit":
            tracts = []
            for t in spec["tracts"]:
                x0, y0, w, h = t["bbox"]
                tracts.append(Tract(t["id"], t["wcs"], Box(x0, y0, w, h), t["patch_inner_dimensions"],
                                    t.get("patch_border", 0), t.get("clip_outer", False)))
            return ExplicitSkyMap(spec.get("name", "explicit"), tracts)
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{source}: malformed skymap description ({type(err).__name__}: {err})",
                        "see DESIGN.md 'Repository contract'") from None
    raise DataError(f"{source}: unknown skymap type {kind!r}", "use 'rings' or 'explicit'")


def load_skymap(path: str | Path, read_text=None) -> SkyMap:
    """Read a skymap JSON file (or a preset name such as ``lsst_cells_v1``).

    ``read_text(path) -> str`` reads the file (default: the local file system;
    a remote repository passes its own reader).
    """
    if str(path) in PRESETS:
        return skymap_from_dict(PRESETS[str(path)], str(path))
    try:
        spec = json.loads(read_text(path) if read_text else Path(path).read_text())
    except (FileNotFoundError, NotFoundError):
        raise DataError(f"skymap file {path} does not exist", "check the 'skymap' entry of repo.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"cannot read skymap file {path}: {err}") from None
    if not isinstance(spec, dict):
        raise DataError(f"skymap file {path} is not a JSON object")
    return skymap_from_dict(spec, str(path))
