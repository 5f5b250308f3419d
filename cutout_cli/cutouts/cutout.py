"""The cutout: pixel planes of a PARENT-pixel box, their headers, and where they came from.

The pixels are the source file's pixels, unresampled; arrays are indexed
``[y, x]`` with row 0 at PARENT ``y = bbox.begin_y``.  A cutout writes
itself as an afw-layout FITS file or a PNG, and converts to astropy's NDData
and CCDData.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..errors import InputError
from ..fits.mask_schema import BITS_PER_HDU, no_data_value, plane_bit
from ..sky.box import Box

__all__ = ["Cutout", "BAD_MASK_PLANES"]

#: The planes of a bad-pixel mask, by afw's names (lsst.images' SATURATED is SAT: fits.mask_schema.LEGACY_NAMES).
BAD_MASK_PLANES = ("BAD", "SAT", "NO_DATA", "SUSPECT")


@dataclass
class Cutout:
    """A cutout: pixel planes, their headers, and where they came from.

    Attributes
    ----------
    bbox : Box
        The cutout's box in PARENT (tract) pixels; ``bbox.begin`` is XY0.
    planes : dict of str to numpy.ndarray
        ``IMAGE`` (float32), ``MASK`` (int32), ``VARIANCE`` (float32), as
        requested; arrays indexed ``[y, x]``, row 0 at PARENT ``y = bbox.begin_y``.
    headers : dict of str to Header
        Per-plane headers, ready to write.
    primary_header : Header
        Provenance (source file, dataset id, box, tool version, request).
    mask_planes : dict of str to int
        Mask plane bits (afw's ``MP_<NAME>`` cards or lsst.images' ``MSKN``/``MSKM`` cards of the
        MASK header); empty when the cutout has no MASK plane.  A mask of more than 31 planes
        (lsst.images, several MASK HDUs) is one int64 array: :mod:`cutout_cli.fits.mask_schema`.
    more_mask_headers : tuple of Header
        The headers of the second and later MASK HDUs of such a mask (``headers["MASK"]`` is the
        first's); written back as MASK ``EXTVER`` 2, 3, ...
    """

    bbox: Box
    planes: dict
    headers: dict
    primary_header: object
    mask_planes: dict = field(default_factory=dict)
    unit: str | None = None
    source: str = ""
    provenance: dict = field(default_factory=dict)
    more_mask_headers: tuple = ()

    @property
    def xy0(self) -> tuple[int, int]:
        """PARENT pixel of the first array pixel."""
        return (self.bbox.begin_x, self.bbox.begin_y)

    @property
    def image(self):
        return self.planes.get("IMAGE")

    @property
    def mask(self):
        return self.planes.get("MASK")

    @property
    def variance(self):
        return self.planes.get("VARIANCE")

    @cached_property
    def wcs(self):
        """astropy celestial WCS of the cutout array (pixel ``origin=0`` is the first array pixel), with
        ``pixel_shape`` (width, height) set, so that ``calc_footprint()`` and ``footprint_contains()`` work."""
        from astropy.wcs import WCS

        first = next(iter(self.headers.values()))
        wcs = WCS(first.to_astropy(), naxis=2).celestial
        wcs.pixel_shape = (self.bbox.width, self.bbox.height)
        return wcs

    def writeto(self, path, overwrite: bool = False, *, format: str = "afw", remote=None,
                compress: str | None = None) -> str:
        """Write the cutout as a FITS file, atomically: ``format="afw"`` (default) in afw's layout
        (primary + planes), ``"lsst-images"`` as an lsst.images file of the source's type, with the
        optional lsst-images package (:mod:`cutout_cli.writers.lsst_images`; ``remote``: the
        :class:`~cutout_cli.storage.remote.RemoteOptions` reaching a remote source).

        An afw-layout file is written as its name says (:mod:`cutout_cli.writers.outputs`):
        ``.fits`` plain, ``.fits.fz`` tile-compressed (lossless), ``.fits.gz`` one gzip stream, ``-``
        to standard output; ``compress`` (``"none"``, ``"gzip"``, ``"rice"``) overrides the name's
        compression where the name allows it.  Returns what was written: ``none``, ``gzip`` or the
        planes' tile codecs (``IMAGE GZIP_2, MASK RICE_1, ...``).
        """
        from ..writers.outputs import fits_output

        output = fits_output(path, compress)
        if format == "lsst-images":
            from ..writers.lsst_images import write_lsst_images

            if output.container != "plain" or output.stdout or output.scheme != "none":
                raise InputError(f"lsst.images files are written plain, to a file: cannot write {path}",
                                 "name it .fits, without {}", options=[("compress", None)])
            write_lsst_images(path, self, remote=remote, overwrite=overwrite)
            return "none"
        if format != "afw":
            raise InputError(f"unknown output format {format!r}", "use afw or lsst-images")
        from ..writers.fits import write_fits

        return write_fits(path, self.primary_header, self.hdus(), overwrite=overwrite, compress=compress)

    def fits_bytes(self) -> bytes:
        """The FITS file :meth:`writeto` writes (afw layout), as bytes."""
        from ..writers.fits import exposure_bytes

        return b"".join(exposure_bytes(self.primary_header, self.hdus()))

    def hdus(self) -> list:
        """``(EXTNAME, array, header)`` of each HDU after the primary, as written: a mask of more than 31
        planes goes back into int32 HDUs of 31 planes each (MASK ``EXTVER`` 1, 2, ...)."""
        hdus = []
        for name, array in self.planes.items():
            if name == "MASK" and self.more_mask_headers:
                for k, header in enumerate((self.headers[name], *self.more_mask_headers)):
                    part = (array >> (BITS_PER_HDU * k)) & ((1 << BITS_PER_HDU) - 1)
                    hdus.append((name, part.astype("int32"), header.updated({
                        "EXTVER": (k + 1, None), "MASKHDU": (k + 1, f"mask part {k + 1} ({BITS_PER_HDU} planes each)")})))
            else:
                hdus.append((name, array, self.headers[name]))
        return hdus

    def to_png(self, path, stretch: str = "asinh", limits="sky", overwrite: bool = False, *,
               request: str | None = None, softening: float | None = None) -> None:
        """Write the IMAGE plane as a PNG, north up and east left from :attr:`wcs` (exact flips and
        quarter turns; another rotation turns the picture, never the FITS pixels), asinh stretch and
        "sky" limits by default (dark sky; ``limits`` and ``softening`` as in
        :func:`cutout_cli.writers.png.stretch_to_uint8`); its ``orientation`` text chunk says how it was
        turned, its ``stretch`` chunk the stretch, its ``request`` chunk ``request``."""
        from ..writers.png import write_png

        write_png(path, self.display_plane(), stretch=stretch, limits=limits, overwrite=overwrite, wcs=self.wcs,
                  request=request, softening=softening)

    def display_plane(self):
        """The IMAGE plane, to draw; InputError for a cutout read without it."""
        if self.image is None:
            raise InputError("this cutout has no IMAGE plane to draw", "include IMAGE in {}",
                             options=[("planes", None)])
        return self.image

    @property
    def no_data_value(self) -> int:
        """The MASK value marking pixels outside the data (the NO_DATA bit)."""
        return no_data_value(self.mask_planes)

    # -- the astropy ecosystem ------------------------------------------------
    def bad_pixels(self, planes=BAD_MASK_PLANES):
        """Boolean array: pixels with any of the named mask planes set (by afw's or lsst.images' name:
        ``SAT`` finds ``SATURATED``); None without a MASK."""
        if self.mask is None:
            return None
        bits = 0
        for name in planes:
            bit = plane_bit(self.mask_planes, name)
            if bit is not None:
                bits |= 1 << bit
        return (self.mask & bits) != 0

    def _nd_parts(self, bad_planes):
        from astropy import units as u
        from astropy.nddata import VarianceUncertainty

        unit = u.Unit(self.unit) if self.unit else u.dimensionless_unscaled
        uncertainty = VarianceUncertainty(self.variance, unit=unit**2) if self.variance is not None else None
        meta = {"xy0": self.xy0, "mask_planes": dict(self.mask_planes), **self.provenance}
        return unit, uncertainty, self.bad_pixels(bad_planes), meta

    def to_nddata(self, bad_planes=BAD_MASK_PLANES):
        """astropy ``NDData``: image, variance as ``VarianceUncertainty``, boolean mask, WCS, unit.

        The boolean mask flags pixels with any of ``bad_planes`` set; the full
        integer mask stays available as :attr:`mask`.
        """
        from astropy.nddata import NDData

        unit, uncertainty, mask, meta = self._nd_parts(bad_planes)
        return NDData(self.image, uncertainty=uncertainty, mask=mask, wcs=self.wcs, meta=meta, unit=unit)

    def to_ccddata(self, bad_planes=BAD_MASK_PLANES):
        """astropy ``CCDData`` (same content as :meth:`to_nddata`; header = the primary provenance)."""
        from astropy.nddata import CCDData

        unit, uncertainty, mask, _ = self._nd_parts(bad_planes)
        meta = self.primary_header.to_astropy()
        return CCDData(self.image, uncertainty=uncertainty, mask=mask, wcs=self.wcs, meta=meta, unit=unit)

    # -- notebooks --------------------------------------------------------------
    def _repr_png_(self) -> bytes:
        """The PNG of :meth:`to_png` (north up, east left, asinh stretch, "sky" limits) for Jupyter."""
        from ..writers.png import png_bytes

        return png_bytes(self.display_plane(), wcs=self.wcs)

    def _repr_html_(self) -> str:
        import base64
        import html

        png = self._repr_png_()
        picture = base64.b64encode(png).decode()
        width = int.from_bytes(png[16:20], "big")  # the IHDR chunk's width: the turned picture's
        p = self.provenance
        label = " ".join(f"{k}={p[k]}" for k in ("id", "tract", "patch", "band") if p.get(k) is not None)
        caption = html.escape(f"{label} box [{self.bbox.begin_x}:{self.bbox.end_x}, "
                              f"{self.bbox.begin_y}:{self.bbox.end_y}) PARENT, xy0={self.xy0}")
        scale = max(1, 256 // max(self.bbox.width, self.bbox.height))
        return (f'<figure style="display:inline-block;margin:4px"><img src="data:image/png;base64,{picture}" '
                f'width="{width * scale}" style="image-rendering:pixelated"/>'
                f'<figcaption style="font-size:small">{caption}</figcaption></figure>')

    def __repr__(self) -> str:
        planes = ",".join(self.planes)
        return f"<Cutout {self.bbox} planes={planes} source={self.source!r}>"
