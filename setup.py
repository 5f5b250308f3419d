"""The one compiled part: cutout_cli.fits.tiles._rice (RICE_1 decoding into caller buffers).

Optional: where it cannot be compiled the package installs without it and
decodes through astropy instead (cutout_cli.fits.tiles.codecs).  Everything else is in
pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("cutout_cli.fits.tiles._rice", ["cutout_cli/fits/tiles/_rice.c"], optional=True,
                             extra_compile_args=["-O3", "-std=c99"])])
