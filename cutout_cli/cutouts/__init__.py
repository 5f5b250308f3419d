"""Cutouts: the Cutout type and how one is cut from a file, a handle or several patches (layer 5).

Modules:

* :mod:`~cutout_cli.cutouts.cutout`: :class:`Cutout` (planes, headers, provenance; FITS, PNG, NDData);
* :mod:`~cutout_cli.cutouts.options`: :class:`ReadOptions` (planes, mode, max_pixels);
* :mod:`~cutout_cli.cutouts.extract`: a PARENT box out of an opened file;
* :mod:`~cutout_cli.cutouts.headers`: the cutout's plane headers (shifted WCS, XY0) and provenance;
* :mod:`~cutout_cli.cutouts.handle`: :class:`ImageHandle`, a file opened once for many boxes;
* :mod:`~cutout_cli.cutouts.assemble`: boxes across patches and tracts, never resampled;
* :mod:`~cutout_cli.cutouts.request`: what a ``subset`` asks for, checked, and cut.
"""
