"""cutout: image cutouts from LSST-style coadd repositories, without the LSST stack.

Importing the package is cheap: the public names below are loaded on first use.

>>> from cutout_cli import Repository            # doctest: +SKIP
>>> repo = Repository("sample_repo")              # doctest: +SKIP
"""

__version__ = "0.1.0"

_LAZY = {
    "Repository": ("cutout_cli.repository", "Repository"),
    "open_repository": ("cutout_cli.repository", "open_repository"),
    "ImageCollection": ("cutout_cli.repository.collection", "ImageCollection"),
    "ButlerRepository": ("cutout_cli.repository.butler", "ButlerRepository"),
    "build_index": ("cutout_cli.repository.collection", "build_index"),
    "DatasetRef": ("cutout_cli.repository", "DatasetRef"),
    "Box": ("cutout_cli.sky.box", "Box"),
    "CoaddFile": ("cutout_cli.fits.coadd", "CoaddFile"),
    "Cutout": ("cutout_cli.cutouts.cutout", "Cutout"),
    "ReadOptions": ("cutout_cli.cutouts.options", "ReadOptions"),
    "extract": ("cutout_cli.cutouts.extract", "extract"),
    "open_image": ("cutout_cli.cutouts.handle", "open_image"),
    "load_skymap": ("cutout_cli.repository.skymaps", "load_skymap"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'cutout_cli' has no attribute {name!r}")
