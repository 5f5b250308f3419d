"""The sky and the pixel grid: pure geometry, no file or network I/O (layer 1, above :mod:`cutout_cli.errors`).

Modules:

* :mod:`~cutout_cli.sky.box`: integer pixel boxes (``Box``) and the lsst.geom rounding rules;
* :mod:`~cutout_cli.sky.parse`: positions, sizes and boxes as users write them;
* :mod:`~cutout_cli.sky.sphere`: great-circle distances and offsets;
* :mod:`~cutout_cli.sky.regions`: IVOA POS regions (CIRCLE, POLYGON, RANGE) with lsst-sphgeom;
* :mod:`~cutout_cli.sky.tract`: tracts and patches (findPatch);
* :mod:`~cutout_cli.sky.skymap`: skymaps (rings, explicit; findTract) built from their description.

Subpackages import their modules by full path; the public API is :mod:`cutout_cli`.
"""
