"""Deferred image handles: open a coadd (or any FITS image) once, serve many boxes.

The equivalent of ``butler.getDeferred(...)`` + ``handle.get(parameters={"bbox": box})``:
the file is opened on the first request and its headers and WCS are parsed
once; each request reads only the pixels (tiles) of its box.
"""

from __future__ import annotations

from ..errors import InputError
from ..fits.coadd import PLANES, CoaddFile, open_image_file
from ..sky.box import Box, sky_box
from ..sky.parse import is_sky_coord, parse_size, sky_position
from ..sky.regions import enclosing_box, mask_outside as mask, parse_region
from .cutout import Cutout
from .extract import extract
from .options import ReadOptions, read_options

__all__ = ["ImageHandle", "open_image"]


class ImageHandle:
    """A lazily opened image serving box and sky cutouts.

    Parameters
    ----------
    path : str or os.PathLike
        FITS file: an afw coadd or a plain image with a celestial WCS; a local
        path, or an ``s3://`` / ``http(s)://`` URL.
    provenance : dict, optional
        Keywords recorded in every cutout's primary header (dataset id, ...).
    remote : cutout_cli.storage.remote.RemoteOptions, optional
        Credentials, endpoint, timeout and retries for a URL (default: the environment's).

    Use it as a context manager, or call :meth:`close` when done.
    ``opens`` counts how many times the file was opened (0 or 1).
    """

    def __init__(self, path, provenance: dict | None = None, *, remote=None):
        self.path = str(path)
        self.provenance = dict(provenance or {})
        self.remote = remote
        self.opens = 0
        self._file: CoaddFile | None = None
        self._expected: tuple = ()  # (boxes, planes) announced by expect()

    def __repr__(self) -> str:
        state = "open" if self._file is not None else "not opened"
        return f"ImageHandle({self.path!r}, {state})"

    @property
    def is_open(self) -> bool:
        """True once the file has been opened (and not closed)."""
        return self._file is not None

    @property
    def file(self) -> CoaddFile:
        """The opened :class:`~cutout_cli.fits.coadd.CoaddFile` (opened on first use)."""
        if self._file is None:
            self._file = self._prepared(open_image_file(self.path, self.remote))
            self.opens += 1
        return self._file

    def expect(self, boxes, planes=PLANES) -> None:
        """Announce the PARENT boxes (of ``planes``) that will be read, as a batch task does: see
        :meth:`CoaddFile.expect`.  Does not open the file; applies when it is opened."""
        self._expected = (list(boxes), tuple(planes))
        if self._file is not None:
            self._file.expect(*self._expected)

    def _prepared(self, opened: CoaddFile) -> CoaddFile:
        if self._expected:
            try:
                opened.expect(*self._expected)
            except BaseException:
                opened.close()
                raise
        return opened

    @property
    def bbox(self) -> Box:
        """The image's box in PARENT pixels (``getBBox(PARENT)``)."""
        return self.file.bbox

    @property
    def xy0(self) -> tuple[int, int]:
        return self.file.xy0

    @property
    def wcs(self):
        """astropy WCS of the image; pixel ``origin=0`` is the first array pixel (LOCAL)."""
        return self.file.wcs

    def get(self, bbox: Box | None = None, *, origin: str = "parent", options: ReadOptions | None = None,
            provenance: dict | None = None, planes=None, mode: str | None = None,
            max_pixels: int | None = None) -> Cutout:
        """Read ``bbox`` (PARENT pixels unless ``origin="local"``; default the whole image).

        ``options`` (or ``planes``, ``mode``, ``max_pixels`` over it): see
        :class:`~cutout_cli.cutouts.options.ReadOptions`.
        """
        options = read_options(options, planes=planes, mode=mode, max_pixels=max_pixels)
        image = self.file
        if bbox is None:
            box = image.bbox
        elif origin == "local":
            box = bbox.to_parent(image.xy0)
        elif origin == "parent":
            box = bbox
        else:
            raise InputError(f"unknown origin {origin!r}", "use parent or local")
        return extract(image, box, options, provenance={**self.provenance, **(provenance or {})})

    def cutout(self, ra, dec=None, size=None, *, options: ReadOptions | None = None, frame=None,
               provenance: dict | None = None, planes=None, mode: str | None = None,
               max_pixels: int | None = None) -> Cutout:
        """Cutout of ``size`` centred on (ra, dec) in degrees (or as
        :func:`~cutout_cli.sky.parse.sky_position` takes them; a SkyCoord alone: ``cutout(coord, size)``).

        ``size`` is a :class:`~cutout_cli.sky.parse.Size` or text (``"60arcsec"``);
        angular sizes become pixels with ``round()`` at the pixel scale of
        ``frame`` (default: this image's WCS; a repository passes the tract).
        The box is centred with ``min = floor(c - n/2 + 1)`` per axis; the
        float PARENT pixel position of (ra, dec) is kept in
        ``cutout.provenance["center_x"/"center_y"]``.
        """
        if is_sky_coord(ra) and size is None:
            dec, size = None, dec
        ra, dec = sky_position(ra, dec)
        if size is None:
            raise InputError("give a size", 'e.g. handle.cutout(53.1, -28.1, "60arcsec")')
        size = parse_size(size)
        box, center_x, center_y = sky_box(frame or self.file, ra, dec, size)
        request = {"ra": ra, "dec": dec, "size": str(size), "center_x": center_x, "center_y": center_y,
                   **(provenance or {})}
        options = read_options(options, planes=planes, mode=mode, max_pixels=max_pixels)
        return self.get(box, options=options, provenance=request)

    def region_cutout(self, pos, *, options: ReadOptions | None = None, mask_outside: bool = False,
                      planes=None, mode: str | None = None, max_pixels: int | None = None) -> Cutout:
        """The box of this image enclosing an IVOA POS region (see :mod:`cutout_cli.sky.regions`); with
        ``mask_outside`` pixels whose centre is outside the region become NaN / NO_DATA."""
        region = parse_region(pos) if isinstance(pos, str) else pos
        options = read_options(options, planes=planes, mode=mode, max_pixels=max_pixels)
        cutout = self.get(enclosing_box(self.file, region), options=options,
                          provenance={"request": pos if isinstance(pos, str) else None})
        if mask_outside:
            mask(cutout, region)
        return cutout

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_image(path, *, remote=None) -> ImageHandle:
    """A handle on any FITS image (afw coadd or plain image with a celestial WCS), local or at a URL."""
    return ImageHandle(path, remote=remote)
