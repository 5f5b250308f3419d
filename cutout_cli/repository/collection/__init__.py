"""Any folder of FITS images as a repository: the image index and :class:`ImageCollection`.

``cutout index DIR`` (:func:`build_index`) reads the headers of every FITS image
under DIR once and records its sky footprint in ``DIR/.cutout-index.sqlite``.
Opened as a repository (``--repo DIR``, :func:`cutout_cli.repository.open_repository`),
the folder is an :class:`ImageCollection`: a :class:`~cutout_cli.repository.Repository`
whose skymap is explicit and whose tracts are the images, so query, subset,
batch and mosaics work on it as on a skymap repository.

The model
---------
Each image is a tract with a single patch (index 0):

* tract id = image id (kept across ``cutout index --update``);
* tract WCS = the image's celestial WCS with ``CRPIX`` shifted so that pixel
  coordinates are PARENT: for a plain FITS image XY0 = (0, 0) (PARENT = array
  pixels); for an afw-layout file the file's XY0 (``LTV1/2`` or the ``A`` WCS);
* tract bbox = the image's PARENT box; one patch of inner dimensions
  ``XY0 + (width, height)`` (so its inner box is the whole image), border 0.

findTract picks, among the images holding a position, the one whose centre is
nearest (lsst DiscreteSkyMap semantics, as :class:`~cutout_cli.sky.skymap.ExplicitSkyMap`).

Bands
-----
An image's band is the value of its ``BAND``, ``FILTER`` or ``FILTNAM`` keyword
(the first present, IMAGE HDU then primary; ``--band-key`` names one), or ``''``
when it has none.  A requested band ``B`` selects the images whose band is
exactly ``B``; ``any`` (:data:`ANY_BAND`; ``None`` in the library) selects every
image whatever its band; ``''`` the images without one.  Home images are
chosen among the selected images only, so in a folder of r and g exposures
``--band g`` always cuts a g image.

The index file
--------------
SQLite, written to a temporary file and renamed (a reader never sees a partial
index; a failed run leaves the previous one), read with ``mode=ro&immutable=1``
(no locks: safe on network file systems and in many worker processes).
Tables: ``meta`` (key, value); ``images``, one row per image: ``id``, ``path``
(relative to DIR, ``/``-separated), ``hdu``, ``band``, ``width``, ``height``,
``x0``, ``y0``, ``wcs`` (the PARENT-frame WCS keywords as JSON), the footprint
(centre ``ra``/``dec`` and ``radius`` in degrees, and the RA/Dec bounding box
``ra_lo``, ``ra_width``, ``dec_min``, ``dec_max`` used by the SQL candidate
search), ``size`` and ``mtime_ns`` (for ``--update``); ``skipped``: files
matched but not indexed, with the reason.

Modules: :mod:`.schema` (file name, tables, band rule), :mod:`.records` (one
image), :mod:`.build` (``cutout index``), :mod:`.index` (reading),
:mod:`.skymap` (the images as a skymap), :mod:`.collection` (the registry and
:class:`ImageCollection`).
"""

from .build import build_index
from .collection import ImageCollection, ImageIndexRegistry, is_image_collection

__all__ = ["ImageCollection", "ImageIndexRegistry", "build_index", "is_image_collection"]
