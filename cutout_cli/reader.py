"""Open a coadd (afw ExposureF layout) or a plain FITS image and read boxes of it.

A :class:`CoaddFile` opens the file once with fitsio, parses every plane header
once, and serves any number of box reads.  Uncompressed planes are read from a
memory map of the file (a box is one strided copy).  Of a tile-compressed
plane only the tiles that intersect a box are read and decompressed, by
cfitsio (asked for the box only) or, for planes with multi-row tiles, by
:mod:`cutout_cli.tiles` when that is estimated cheaper (it decodes tiles only
down to the box's last row, converts only the box's pixels and keeps recent
tiles, so neighbouring boxes share them); with a second core, a plane whose
decoding takes long is read on a second thread (:meth:`CoaddFile.read_planes`).

Conventions: boxes are in PARENT pixels (the file's XY0 is added to LOCAL
array indices); arrays are indexed ``[y, x]`` with row 0 the first (southern,
for north-up coadds) row of the file.
"""

from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import wait as cf_wait
from functools import cached_property

import numpy as np

from .errors import DataError, NotFoundError
from .geometry import Box
from .header import Header
from .plane_threads import second_thread
from .tiles import TileError, open_tiled_plane

PLANES = ("IMAGE", "MASK", "VARIANCE")
NO_DATA_BIT_DEFAULT = 8
# a plane is read on a second thread when decoding it here is estimated to take this long (us) per tile:
# the GIL changes hands around each tile, and waking a thread costs tens of us on a small virtual
# machine, so with small tiles (128 px: 0.1 ms each) a second thread loses more than it gains
SECOND_THREAD_MIN_US_PER_TILE = 300.0
_RAW_TYPES = {8: np.dtype("u1"), 16: np.dtype(">i2"), 32: np.dtype(">i4"), 64: np.dtype(">i8"),
              -32: np.dtype(">f4"), -64: np.dtype(">f8")}

def mask_planes_from_header(header) -> dict[str, int]:
    """``{name: bit}`` from the ``MP_<NAME> = bit`` keywords of a MASK header."""
    planes = {}
    for name, value, _ in header.cards:
        if name.startswith("MP_"):
            try:
                planes[name[3:]] = int(value)
            except (TypeError, ValueError):
                continue
    return dict(sorted(planes.items(), key=lambda kv: kv[1]))


class CoaddFile:
    """An opened coadd or plain FITS image.

    Parameters
    ----------
    path : str or os.PathLike
        Local FITS file.  afw coadds are recognised by their ``EXTNAME``
        IMAGE/MASK/VARIANCE planes; otherwise the first HDU holding a 2-D
        image is used as the IMAGE plane.

    Attributes
    ----------
    planes : tuple of str
        The planes present, among IMAGE, MASK, VARIANCE.
    xy0 : (int, int)
        PARENT pixel of the first array pixel (from ``LTV1/2`` or the ``A`` WCS).
    bbox : Box
        PARENT box of the image.
    """

    def __init__(self, path):
        import fitsio

        self.path = os.fspath(path)
        self._fd = None  # a plain descriptor of the same file, for the tile decoder and the memory map
        self._map = None
        try:
            self._fits = fitsio.FITS(self.path)
        except FileNotFoundError:
            raise NotFoundError(f"{self.path} does not exist") from None
        except (OSError, ValueError) as err:
            raise DataError(f"cannot open {self.path} as FITS: {_first_line(err)}") from None
        try:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            self.close()
            raise DataError(f"cannot open {self.path}: {err.strerror}") from None
        try:
            self._locate_planes()
            self.primary_header = Header.from_fitsio(self._fits[0].read_header())
        except DataError:
            self.close()
            raise
        except (OSError, ValueError) as err:
            self.close()
            raise DataError(f"cannot read the headers of {self.path}: {_first_line(err)}") from None

    def _locate_planes(self):
        self._hdus: dict[str, int] = {}
        self.plane_headers = {}
        self._tiled: dict = {}  # plane -> TiledPlane, or None where cfitsio reads the plane
        self._compressed: dict[str, tuple[dict, int]] = {}  # plane -> (raw table header, data start)
        self._raw: dict[str, tuple[int, np.dtype]] = {}  # uncompressed plane -> (data start, big-endian type)
        self._mapped: dict[str, np.ndarray] = {}  # uncompressed plane -> read-only view of the mapped file
        first_image = None
        for index, hdu in enumerate(self._fits):
            info = hdu.get_info()
            if info.get("hdutype") != 0:  # image HDUs only (compressed images report 0 too)
                continue
            name = (hdu.get_extname() or "").strip().upper()
            if name in PLANES and name not in self._hdus:
                self._hdus[name] = index
            if first_image is None and len(info.get("dims") or ()) == 2:
                first_image = index
        if "IMAGE" not in self._hdus:
            if first_image is None:
                raise DataError(f"{self.path} holds no 2-D image", "give a FITS image or an afw coadd")
            self._hdus = {"IMAGE": first_image}
        self.planes = tuple(p for p in PLANES if p in self._hdus)
        self._hdu_objects = {plane: self._fits[index] for plane, index in self._hdus.items()}  # fitsio's, for reads
        for plane, index in self._hdus.items():
            raw = self._fits[index].read_header()
            self.plane_headers[plane] = Header.from_fitsio(raw)
            info = self._fits[index].get_info()
            if info.get("is_compressed_image"):
                self._compressed[plane] = ({r["name"]: r["value"] for r in raw.records()}, info["data_start"])
            else:
                self._note_raw_layout(plane, raw, info)
        dims = self._fits[self._hdus["IMAGE"]].get_dims()
        if len(dims) != 2:
            raise DataError(f"{self.path}: the IMAGE plane is not 2-D (dims {dims})")
        self.shape = (int(dims[0]), int(dims[1]))
        for plane in self.planes:
            if tuple(self._fits[self._hdus[plane]].get_dims()) != self.shape:
                raise DataError(f"{self.path}: plane {plane} has a different shape from IMAGE")
        self.xy0 = self._read_xy0(self.plane_headers["IMAGE"])
        self.bbox = Box(self.xy0[0], self.xy0[1], self.shape[1], self.shape[0])

    def _note_raw_layout(self, plane: str, raw_header, info: dict) -> None:
        """Remember where an uncompressed, unscaled plane's pixels lie, to read boxes of it from a memory
        map (a box is a strided copy there; cfitsio reads it row by row through its buffers)."""
        dtype = _RAW_TYPES.get(info.get("img_type"))
        scaled = float(raw_header.get("BSCALE", 1.0)) != 1.0 or float(raw_header.get("BZERO", 0.0)) != 0.0
        dims = info.get("dims") or ()
        if dtype is None or scaled or info.get("img_equiv_type") != info.get("img_type") or len(dims) != 2:
            return
        end = info["data_start"] + dtype.itemsize * int(dims[0]) * int(dims[1])
        if os.fstat(self._fd).st_size >= end:  # a truncated file is left to cfitsio, which reports it
            self._raw[plane] = (info["data_start"], dtype)

    @staticmethod
    def _read_xy0(header) -> tuple[int, int]:
        if header.get("CTYPE1A", "").strip() == "LINEAR" and "CRVAL1A" in header:
            return (int(round(header["CRVAL1A"] - (header.get("CRPIX1A", 1.0) - 1))),
                    int(round(header["CRVAL2A"] - (header.get("CRPIX2A", 1.0) - 1))))
        if "LTV1" in header or "LTV2" in header:
            return (-int(round(header.get("LTV1", 0))), -int(round(header.get("LTV2", 0))))
        return (0, 0)

    # -- context management ---------------------------------------------------
    def close(self):
        fits = getattr(self, "_fits", None)
        if fits is not None:
            fits.close()
            self._fits = None
        self._mapped, self._tiled, self._hdu_objects = {}, {}, {}
        if getattr(self, "_map", None) is not None:
            try:
                self._map.close()
            except BufferError:  # an array over it is still referenced: unmapped when that goes
                pass
            self._map = None
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)
            self._fd = None

    def expect(self, boxes, planes=PLANES) -> None:
        """Announce the PARENT boxes of ``planes`` that will be read next (a batch task's), so that each
        tile they touch is decoded once, down to the last row any of them needs, instead of in part
        and then again (planes read by :mod:`cutout_cli.tiles`; a no-op for the others)."""
        sections = []
        for box in boxes:
            inside = box.intersection(self.bbox)
            if not inside.is_empty:
                sections.append(inside.slices(self.xy0))
        for plane in planes:
            tiled = self._tiled_plane(plane)
            if tiled is not None:
                tiled.expect(sections)

    def clear_cache(self) -> None:
        """Forget the decoded tiles kept for later boxes (reads decode again; their memory is reused)."""
        for tiled in self._tiled.values():
            if tiled is not None:
                tiled.clear_cache()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- metadata -------------------------------------------------------------
    @cached_property
    def wcs(self):
        """astropy celestial WCS of the IMAGE plane; pixel ``origin=0`` is the LOCAL array."""
        from astropy.wcs import WCS

        try:
            wcs = WCS(self.plane_headers["IMAGE"].to_astropy(), naxis=2)
        except Exception as err:  # astropy raises many types for broken WCS keywords
            raise DataError(f"{self.path}: cannot read the WCS: {_first_line(err)}") from None
        if not wcs.has_celestial:
            raise DataError(f"{self.path} has no celestial WCS", "give a file with RA/Dec WCS keywords")
        return wcs.celestial

    @cached_property
    def mask_planes(self) -> dict[str, int]:
        """Mask plane bits, ``{name: bit}``, from the MASK header."""
        if "MASK" not in self.plane_headers:
            return {}
        return mask_planes_from_header(self.plane_headers["MASK"])

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
        return 1 << self.mask_planes.get("NO_DATA", NO_DATA_BIT_DEFAULT)

    @cached_property
    def pixel_scale(self) -> float:
        """IMAGE pixel scale in arcsec/pixel (geometric mean of the two axes)."""
        from astropy.wcs.utils import proj_plane_pixel_scales

        return float(math.sqrt(float(np.prod(proj_plane_pixel_scales(self.wcs)))) * 3600.0)

    def sky_to_pixel(self, ra, dec):
        """Float PARENT pixel position(s) of sky position(s) in degrees (SIP distortion included)."""
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
        data = self._read_section(plane, *inside.slices(self.xy0))
        if inside == box:
            return data
        fill = self.fill_value(plane)
        dtype = data.dtype if plane == "MASK" or data.dtype.kind == "f" else np.result_type(data.dtype, np.float32)
        out = np.full(box.shape, fill, dtype=dtype)
        out[inside.slices((box.begin_x, box.begin_y))] = data
        return out

    def read_planes(self, planes, box: Box) -> dict:
        """``{plane: read(plane, box)}`` for several planes.

        With a second core (:func:`~cutout_cli.plane_threads.second_thread`),
        when every compressed plane is read by :mod:`cutout_cli.tiles`, the one
        whose decoding is estimated longest is read on the second thread while
        this one reads the others, if its tiles are large enough to be worth it
        (:data:`SECOND_THREAD_MIN_US_PER_TILE`).
        """
        planes = list(planes)
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
        inside = box.intersection(self.bbox)
        if inside.is_empty:
            return None
        rows, cols = inside.slices(self.xy0)
        costs = {p: tiled.cost(rows, cols) for p in planes if (tiled := self._tiled_plane(p)) is not None}
        # only while this thread also reads with the GIL mostly released: by the tile decoder, or from the
        # memory map (cfitsio, through fitsio, holds it for a whole read, and the second thread needs it
        # between tiles)
        if not costs or any(p not in costs and p not in self._raw for p in planes) \
                or not all(cost.ours_is_cheaper for cost in costs.values()):
            return None
        longest = max(costs, key=lambda p: costs[p].ours)
        return longest if costs[longest].ours >= SECOND_THREAD_MIN_US_PER_TILE * costs[longest].tiles else None

    def _read_section(self, plane: str, rows: slice, cols: slice) -> np.ndarray:
        """LOCAL array section ``[rows, cols]`` of ``plane``, wholly inside the image (only the tiles it
        needs are decompressed, by the cheaper reader)."""
        if plane not in self._hdus:
            raise NotFoundError(f"{self.path} has no {plane} plane", f"planes present: {', '.join(self.planes)}")
        self._descriptor()  # a clear error once the file is closed
        try:
            if plane in self._raw:
                return self._mapped_plane(plane)[rows, cols].astype(self._raw[plane][1].newbyteorder("="))
            tiled = self._tiled_plane(plane)
            if tiled is not None and tiled.cost(rows, cols).ours_is_cheaper:
                return tiled.read(rows, cols)
            return self._hdu_objects[plane][rows, cols]
        except (OSError, ValueError, TileError) as err:
            raise DataError(f"cannot read {plane} pixels of {self.path}: {_first_line(err)}",
                            "the file may be truncated or corrupt") from None

    def _mapped_plane(self, plane: str) -> np.ndarray:
        """An uncompressed plane as a read-only big-endian array over the memory-mapped file.

        The file's size was checked when it was opened; one truncated in place while it is open
        (not replaced: a new file under its name leaves this one intact) would end the process
        with SIGBUS on a read past its new end, as astropy's memory maps would.
        """
        if plane not in self._mapped:
            if self._map is None:
                import mmap

                self._map = mmap.mmap(self._descriptor(), 0, access=mmap.ACCESS_READ)
            start, dtype = self._raw[plane]
            self._mapped[plane] = np.frombuffer(self._map, dtype, self.shape[0] * self.shape[1], start).reshape(self.shape)
        return self._mapped[plane]

    def _descriptor(self) -> int:
        """The file's own descriptor (closed, with fitsio's handle, by :meth:`close`)."""
        if self._fd is None:
            raise DataError(f"{self.path} is closed", "open it again to read from it")
        return self._fd

    def _tiled_plane(self, plane: str):
        """The plane's :class:`~cutout_cli.tiles.TiledPlane` (made on first use), or None: cfitsio reads it."""
        if plane not in self._tiled and plane in self._hdus:
            self._tiled[plane] = None
            if plane in self._compressed:
                header, data_start = self._compressed[plane]
                self._tiled[plane] = open_tiled_plane(self._descriptor(), header, data_start)
        return self._tiled.get(plane)


def open_image_file(path, remote=None) -> CoaddFile:
    """Open a coadd or FITS image: :class:`CoaddFile` (fitsio) for a local path, a
    :class:`~cutout_cli.remote_reader.RemoteCoaddFile` (astropy over fsspec, same
    interface) for an ``s3://`` or ``http(s)://`` URL.  ``remote`` is a
    :class:`~cutout_cli.remote.RemoteOptions` (default: from the environment)."""
    from .remote import is_remote

    if is_remote(path):
        from .remote_reader import RemoteCoaddFile

        return RemoteCoaddFile(path, remote)
    return CoaddFile(path)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
