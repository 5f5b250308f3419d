"""Open a coadd (afw ExposureF layout) or a plain FITS image, local or remote, and read boxes of it.

A :class:`CoaddFile` is one reading core over a *source*, which finds the
file's HDUs and gives each plane a *plane reader* (``read(rows, cols)``,
``cost``, ``expect``, ``clear_cache``):

* :class:`~cutout_cli.fits.local.LocalSource` for a path: a memory map for
  uncompressed planes, cutout's tile decoder or cfitsio for compressed ones;
* :class:`~cutout_cli.fits.ranged.RangedSource` for an ``s3://`` or
  ``http(s)://`` URL: astropy's section reader with the tiles' bytes
  prefetched in few requests.

Everything else (plane discovery, XY0, the WCS, fill values, the choice of a
second thread, error texts) is here, once.  With a second core, a plane whose
decoding takes long is read on a second thread (:meth:`CoaddFile.read_planes`).

Damage is reported the same way whatever reads the file: a file shorter than
its headers say is refused when it is opened (remotely: when the HDU is
first described), and pixels that cannot be decoded are a DataError naming
the file, the plane and its HDU, whichever reader (the tile decoder,
cfitsio, astropy) met them.

Conventions: boxes are in PARENT pixels (the file's XY0 is added to LOCAL
array indices); arrays are indexed ``[y, x]`` with row 0 the first (southern,
for north-up coadds) row of the file.  MASK pixels come back as int32 (afw's
``MaskPixel``) when stored in fewer bits: the old layout's uint16 MASK
(``BITPIX = 16``, ``BZERO = 32768``) is widened, its values unchanged.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from concurrent.futures import wait as cf_wait
from functools import cached_property

import numpy as np

from ..calibration import SECOND_THREAD_MIN_US_PER_TILE
from ..errors import DataError, NotFoundError, first_line
from ..sky.box import Box
from ..storage.base import is_remote
from ..storage.members import is_member
from ..sky.projection import AstProjection, have_pyast
from ..sky.wcs_fit import fit_tan_sip
from . import lsst_images
from .mask_schema import BITS_PER_HDU, MAX_PLANES, no_data_value, planes_from_header
from .planes import (DAMAGED_HINT, PLANES, PlaneHeaders, PlaneIndex, PlaneList, ReadFailure, SplitMaskReader,
                     read_xy0)
from .threads import second_thread

__all__ = ["CoaddFile", "open_image_file", "PLANES"]


class CoaddFile:
    """An opened coadd or plain FITS image.

    Parameters
    ----------
    path : str or os.PathLike
        A local FITS file, or the ``s3://`` / ``http(s)://`` URL of one, or a member
        of a zip archive (``ARCHIVE.zip#zip-path=MEMBER``, stored uncompressed).
        afw coadds are recognised by their IMAGE/MASK/VARIANCE planes, named
        by ``EXTNAME``, else ``EXTTYPE``, else at afw's HDU positions
        (:mod:`cutout_cli.fits.planes`); otherwise the first HDU holding a
        2-D image is the IMAGE plane.
    remote : cutout_cli.storage.remote.RemoteOptions, optional
        How to reach a URL (default: from the environment).

    Attributes
    ----------
    planes : sequence of str
        The planes present, among IMAGE, MASK, VARIANCE (found lazily in a remote file).
    xy0 : (int, int)
        PARENT pixel of the first array pixel (from ``LTV1/2`` or the ``A`` WCS).
    bbox : Box
        PARENT box of the image.
    source : LocalSource or RangedSource
        Where the bytes come from (a remote source's ``reader`` counts requests).
    """

    def __init__(self, path, *, remote=None):
        if is_remote(path) or is_member(path):
            from .ranged import RangedSource

            self.path = path
            self.source = RangedSource(path, remote)
        else:
            from .local import LocalSource

            self.path = os.fspath(path)
            self.source = LocalSource(self.path)
        self._readers: dict[str, object] = {}
        try:
            self._index = PlaneIndex(self.path, self.source.describe_next)
            image = self._index.image()
            if self.source.scan_at_open:
                self._index.present()
            self.primary_header = self.source.primary_header
            self.planes = PlaneList(self._index)
            self.plane_headers = PlaneHeaders(self._index, self.source.header)
            self.shape = image.shape
            self.xy0 = read_xy0(self.plane_headers["IMAGE"])
            self.bbox = Box(self.xy0[0], self.xy0[1], self.shape[1], self.shape[0])
        except BaseException:
            self.close()
            raise

    # -- context management ---------------------------------------------------
    def close(self) -> None:
        self._readers = {}  # the readers go first: a memory map closes only when no array is over it
        self.source.close()

    def expect(self, boxes, planes=PLANES) -> None:
        """Announce the PARENT boxes of ``planes`` that will be read next (a batch task's), so that each
        tile they touch is decoded once, down to the last row any of them needs, instead of in part
        and then again (planes read by :mod:`cutout_cli.fits.tiles`; a no-op for the others)."""
        sections = []
        for box in boxes:
            inside = box.intersection(self.bbox)
            if not inside.is_empty:
                sections.append(inside.slices(self.xy0))
        for plane in planes:
            if plane in self._readers or plane in self.planes:
                self.plane_reader(plane).expect(sections)

    def clear_cache(self) -> None:
        """Forget the decoded tiles kept for later boxes (reads decode again; their memory is reused)."""
        for reader in self._readers.values():
            reader.clear_cache()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- metadata -------------------------------------------------------------
    @cached_property
    def wcs(self):
        """astropy celestial WCS of the IMAGE plane; pixel ``origin=0`` is the LOCAL array.  Where the
        header WCS is missing or approximate (lsst.images), one fitted to the exact projection over the
        whole image (:meth:`fitted_wcs`); without starlink-pyast there, the header's approximation."""
        from astropy.wcs import WCS

        header = self.plane_headers["IMAGE"]
        if self.uses_exact_projection:
            header = header.without_celestial_wcs().updated(self.fitted_wcs(self.bbox).cards)
        header = header.to_astropy()
        try:
            wcs = WCS(header, naxis=2)
        except Exception as err:  # astropy raises many types for broken WCS keywords
            raise DataError(f"{self.path}: cannot read the WCS: {first_line(err)}") from None
        if not wcs.has_celestial:
            raise DataError(f"{self.path} has no celestial WCS", "give a file with RA/Dec WCS keywords")
        return wcs.celestial

    @cached_property
    def mask_headers(self) -> list:
        """The headers of the MASK plane's HDUs: one, or several for lsst.images' masks of more than 31
        planes (:mod:`cutout_cli.fits.mask_schema`); empty without a MASK plane."""
        if "MASK" not in self.plane_headers:
            return []
        first = self.plane_headers["MASK"]
        if f"MSKN{BITS_PER_HDU - 1:04d}" not in first:  # only a full first part can have more after it
            return [first]
        hdus = self._index.masks(read_ahead=True)
        if len(hdus) > MAX_PLANES // BITS_PER_HDU:
            raise DataError(f"{self.path}: its mask is split over {len(hdus)} MASK HDUs (more than {MAX_PLANES} "
                            "planes)", f"cutout reads masks of up to {MAX_PLANES} planes")
        return [first, *(self.source.header(hdu) for hdu in hdus[1:])]

    @cached_property
    def mask_plane_list(self) -> list:
        """The mask planes as :class:`~cutout_cli.fits.mask_schema.MaskPlane` ``(name, bit, description)``,
        by bit, from every MASK HDU (``MSKN``/``MSKM``/``MSKD`` cards, else afw's ``MP_*``)."""
        kept = self.source.memo.get("mask_planes")  # derived from the headers alone
        if kept is None:
            kept = self.source.memo["mask_planes"] = [plane for number, header in enumerate(self.mask_headers, 1)
                                                      for plane in planes_from_header(header, number)]
        return kept

    @cached_property
    def mask_planes(self) -> dict[str, int]:
        """Mask plane bits, ``{name: bit}`` (bits count across MASK HDUs: :mod:`~cutout_cli.fits.mask_schema`)."""
        return {plane.name: plane.bit for plane in self.mask_plane_list}

    @cached_property
    def data_model(self) -> str | None:
        """The lsst.images type of the file (``masked_image``, ``visit_image``, ``cell_coadd``...: the
        schema name of the primary's ``DATAMODL``), or None for other files."""
        return lsst_images.data_model(self.primary_header)

    @cached_property
    def projection_text(self):
        """The exact sky projection of an lsst.images file whose header WCS is missing or only a FITS
        approximation (:class:`~cutout_cli.fits.lsst_images.ProjectionText`); None for every other file,
        whose header WCS is exact (the JSON tree is read only for lsst.images files)."""
        return self._projection[0]

    @cached_property
    def _projection(self) -> list:
        """``[ProjectionText or None, AstProjection or None (made on first use)]``, kept in the source's
        memo with the JSON table's bytes it came from (parsed again only when they differ)."""
        if self.data_model is None:
            return [None, None]
        table = lsst_images.tree_table(self.path, self.primary_header, self.source.read_bytes)
        kept = self.source.memo.get("projection")
        if kept is not None and kept[0] == table:
            return kept[1]
        text = lsst_images.sky_projection(lsst_images.read_tree(self.path, self.primary_header, table), self.path)
        found = [None if text is None or (text.approximation is None and self.has_header_wcs) else text, None]
        self.source.memo["projection"] = (table, found)
        return found

    @property
    def uses_exact_projection(self) -> bool:
        """Whether the exact projection stands in for the header WCS (:meth:`wcs`, :attr:`pixel_scale`):
        where the header WCS is missing (DataError then without starlink-pyast), or an approximation and
        starlink-pyast is there (without it, the approximation)."""
        return self.projection_text is not None and (have_pyast() or not self.has_header_wcs)

    @cached_property
    def has_header_wcs(self) -> bool:
        """Whether the IMAGE header has a celestial WCS (``CTYPE1``/``CTYPE2``)."""
        header = self.plane_headers["IMAGE"]
        return bool(str(header.get("CTYPE1", "")).strip()) and bool(str(header.get("CTYPE2", "")).strip())

    @cached_property
    def exact_projection(self):
        """The exact projection (:class:`~cutout_cli.sky.projection.AstProjection`, PARENT pixels) where
        the header WCS is missing or approximate, else None; DataError without starlink-pyast."""
        found = self._projection
        if found[0] is not None and found[1] is None:
            found[1] = AstProjection(found[0].exact, self.path)
        return found[1]

    def fitted_wcs(self, box: Box):
        """A TAN-SIP WCS of the cutout array of PARENT ``box`` fitted to the exact projection
        (:func:`~cutout_cli.sky.wcs_fit.fit_tan_sip`), or None where the header WCS is exact."""
        projection = self.exact_projection
        return None if projection is None else fit_tan_sip(projection.pixel_to_sky, box)

    @cached_property
    def unit(self) -> str | None:
        """Pixel unit of the IMAGE plane (``BUNIT`` of the plane or, for older files, the primary)."""
        for header in (self.plane_headers["IMAGE"], self.primary_header):
            if "BUNIT" in header:
                return str(header["BUNIT"]).strip()
        return None

    @property
    def no_data_value(self) -> int:
        """The MASK value marking pixels outside the data (the NO_DATA bit)."""
        return no_data_value(self.mask_planes)

    @cached_property
    def pixel_scale(self) -> float:
        """IMAGE pixel scale in arcsec/pixel (geometric mean of the two axes; at the image's centre from
        the exact projection where the header WCS is missing or approximate)."""
        from astropy.wcs.utils import proj_plane_pixel_scales

        if self.uses_exact_projection:
            return self.exact_projection.pixel_scale(self.bbox.begin_x + (self.bbox.width - 1) / 2,
                                                     self.bbox.begin_y + (self.bbox.height - 1) / 2)

        return float(math.sqrt(float(np.prod(proj_plane_pixel_scales(self.wcs)))) * 3600.0)

    def sky_to_pixel(self, ra, dec):
        """Float PARENT pixel position(s) of sky position(s) in degrees (SIP distortion included; the exact
        projection where the header WCS is missing or approximate: DataError then without starlink-pyast)."""
        if self.projection_text is not None:
            return self.exact_projection.sky_to_pixel(ra, dec)
        with warnings.catch_warnings():  # the SIP inverse warns on positions off the projection (NaN)
            warnings.simplefilter("ignore", RuntimeWarning)
            x, y = self.wcs.all_world2pix(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float), 0, quiet=True)
        return x + self.xy0[0], y + self.xy0[1]

    # -- pixels ---------------------------------------------------------------
    def fill_value(self, plane: str):
        """Value of pixels outside the data: NaN, or the NO_DATA bit for MASK."""
        return self.no_data_value if plane == "MASK" else np.nan

    def read(self, plane: str, box: Box) -> np.ndarray:
        """Pixels of ``plane`` in PARENT ``box``; parts outside the image get :meth:`fill_value`.

        Only the intersection with the image is read from the file.
        """
        inside = box.intersection(self.bbox)
        if inside.is_empty:
            raise NotFoundError(f"box {box} lies wholly outside the image {self.bbox} of {self.path}")
        data = self.read_section(plane, *inside.slices(self.xy0))
        if inside == box:
            return data
        fill = self.fill_value(plane)
        dtype = data.dtype if plane == "MASK" or data.dtype.kind == "f" else np.result_type(data.dtype, np.float32)
        out = np.full(box.shape, fill, dtype=dtype)
        out[inside.slices((box.begin_x, box.begin_y))] = data
        return out

    def read_planes(self, planes, box: Box) -> dict:
        """``{plane: read(plane, box)}`` for several planes.

        With a second core (:func:`~cutout_cli.fits.threads.second_thread`),
        when every compressed plane is read by :mod:`cutout_cli.fits.tiles`, the one
        whose decoding is estimated longest is read on the second thread while
        this one reads the others, if its tiles are large enough to be worth it
        (:data:`SECOND_THREAD_MIN_US_PER_TILE`).  From a remote file the tiles
        of every plane are fetched together first (one round trip, not one per
        plane).
        """
        planes = list(planes)
        with self._tiles_fetched_together(planes, box):
            return self._read_planes(planes, box)

    def _tiles_fetched_together(self, planes, box: Box):
        """A context in which the remote tiles under ``box`` of every plane are fetched (concurrently, before
        the reads) and held; a null context for a local file, one plane, or a plane read otherwise."""
        hold = getattr(self.source, "holding", None)
        section = self._section_of(planes, box) if hold is not None and len(planes) > 1 else None
        readers = [self.plane_reader(p) for p in planes] if section else []
        if not readers or not all(hasattr(r, "byte_ranges") for r in readers):
            return contextlib.nullcontext()
        return hold([span for r in readers for span in r.byte_ranges(*section)])

    def _section_of(self, planes, box: Box) -> tuple[slice, slice] | None:
        """The array slices ``(rows, cols)`` of ``box`` within the image, or None when the box misses the
        image or one of ``planes`` is absent (then each read reports it)."""
        inside = box.intersection(self.bbox)
        if inside.is_empty or any(p not in self.planes for p in planes):
            return None
        return inside.slices(self.xy0)

    def _read_planes(self, planes: list, box: Box) -> dict:
        elsewhere = self._plane_for_second_thread(planes, box)
        if elsewhere is None:
            return {p: self.read(p, box) for p in planes}
        other = second_thread().submit(self.read, elsewhere, box)
        try:
            arrays = {p: self.read(p, box) for p in planes if p != elsewhere}
        except BaseException:
            cf_wait([other])  # the file stays in use until the other read ends
            raise
        arrays[elsewhere] = other.result()
        return {p: arrays[p] for p in planes}

    def _plane_for_second_thread(self, planes, box: Box) -> str | None:
        if len(planes) < 2 or second_thread() is None:
            return None
        section = self._section_of(planes, box)
        if section is None:
            return None
        costs = {p: self.plane_reader(p).cost(*section) for p in planes}
        # only while every plane is read with the GIL mostly released: by the tile decoder, or from the
        # memory map (cfitsio, through fitsio, and astropy hold it for a whole read)
        if any(cost is None or not cost.ours_is_cheaper for cost in costs.values()):
            return None
        longest = max(costs, key=lambda p: costs[p].ours)
        cost = costs[longest]
        return longest if cost.tiles and cost.ours >= SECOND_THREAD_MIN_US_PER_TILE * cost.tiles else None

    def plane_reader(self, plane: str):
        """The reader of ``plane`` (made on first use): :mod:`cutout_cli.fits.local`'s or
        :mod:`cutout_cli.fits.ranged`'s; NotFoundError when the file has no such plane."""
        reader = self._readers.get(plane)
        if reader is None:
            hdu = self._index.find(plane)
            if hdu is None:
                raise NotFoundError(f"{self.path} has no {plane} plane", f"planes present: {', '.join(self.planes)}")
            if plane == "MASK" and len(self.mask_headers) > 1:
                reader = SplitMaskReader([self.source.plane_reader(h) for h in self._index.masks()], BITS_PER_HDU)
            else:
                reader = self.source.plane_reader(hdu)
            self._readers[plane] = reader
        return reader

    def hdu_index(self, plane: str) -> int | None:
        """The HDU number (0: primary) holding ``plane``, or None."""
        hdu = self._index.find(plane)
        return None if hdu is None else hdu.index

    def read_section(self, plane: str, rows: slice, cols: slice) -> np.ndarray:
        """LOCAL array section ``[rows, cols]`` of ``plane``, wholly inside the image, native-endian
        (only the tiles it needs are decompressed, by the cheaper reader)."""
        self.source.check_open()
        reader = self.plane_reader(plane)
        try:
            data = reader.read(rows, cols)
        except ReadFailure as err:
            # one text whichever reader failed (their own words differ: cfitsio's status, the decoder's
            # codes, astropy's); the reader's detail stays the exception's __cause__
            raise DataError(f"cannot read {plane} pixels of {self.path} (HDU {self.hdu_index(plane)}): "
                            "the stored data are damaged", DAMAGED_HINT) from err
        if plane == "MASK" and data.dtype.kind in "ui" and data.dtype.itemsize < 4:
            data = data.astype(np.int32)
        return data


def open_image_file(path, remote=None) -> CoaddFile:
    """Open a coadd or FITS image, a local path or an ``s3://`` / ``http(s)://`` URL (``remote``: a
    :class:`~cutout_cli.storage.remote.RemoteOptions`, default from the environment)."""
    return CoaddFile(path, remote=remote)
