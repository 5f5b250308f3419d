"""Reading FITS files: one reading core, two sources, only the bytes a box needs (layer 3).

Modules:

* :mod:`~cutout_cli.fits.coadd`: :class:`CoaddFile`, the reading core (planes, XY0, WCS, box reads,
  the second thread), over a source;
* :mod:`~cutout_cli.fits.local`: the local source and its plane readers (memory map, tile decoder, cfitsio);
* :mod:`~cutout_cli.fits.ranged`: the remote source (astropy sections over ranged requests, tile bytes
  prefetched);
* :mod:`~cutout_cli.fits.planes`: finding the IMAGE, MASK and VARIANCE planes; the plane-reader seam;
* :mod:`~cutout_cli.fits.header`: FITS headers as card lists, written as fitsio and astropy read them;
* :mod:`~cutout_cli.fits.threads`: the second thread;
* :mod:`~cutout_cli.fits.tiles`: tile-compressed images (the tile table, codecs, dequantisation, costs).
"""
