"""Tile-compressed images (the FITS tiled-image convention), decoded here where that is cheaper than cfitsio.

Modules, after astropy's ``io/fits/hdu/compressed/`` (one per concern):

* :mod:`~cutout_cli.fits.tiles.table`: the one parser of the tile table (geometry, columns, heap ranges),
  shared by the local decoder and the ranged reader;
* :mod:`~cutout_cli.fits.tiles.codecs`: RICE_1 (the compiled ``_rice``), GZIP_1 and GZIP_2 tiles;
* :mod:`~cutout_cli.fits.tiles.dequantize`: quantised floats back to pixels, bit for bit as cfitsio;
* :mod:`~cutout_cli.fits.tiles.plane`: :class:`TiledPlane`, a plane's tiles decoded on demand and kept;
* :mod:`~cutout_cli.fits.tiles.cost`: what a read costs here and through cfitsio.
"""
