"""cutout: image cutouts from LSST-style coadd repositories, without the LSST stack.

Importing the package is cheap: the public names below are loaded on first use.

>>> from cutout_cli import Repository            # doctest: +SKIP
>>> repo = Repository("sample_repo")              # doctest: +SKIP
"""

__version__ = "0.1.0"

_LAZY = {
    "Repository": ("cutout_cli.repo", "Repository"),
    "open_repository": ("cutout_cli.repo", "open_repository"),
    "ImageCollection": ("cutout_cli.collection", "ImageCollection"),
    "build_index": ("cutout_cli.collection", "build_index"),
    "DatasetRef": ("cutout_cli.repo", "DatasetRef"),
    "Box": ("cutout_cli.geometry", "Box"),
    "CoaddFile": ("cutout_cli.reader", "CoaddFile"),
    "Cutout": ("cutout_cli.cutout", "Cutout"),
    "extract": ("cutout_cli.cutout", "extract"),
    "load_skymap": ("cutout_cli.skymap", "load_skymap"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'cutout_cli' has no attribute {name!r}")
