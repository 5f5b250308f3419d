"""Notebook display helpers: a grid of cutouts like the tutorial's figure of all targets.

Pictures are Pillow images (Jupyter shows them inline); no matplotlib needed.
Each panel is north up, east left (turned from the cutout's WCS: exact flips
and quarter turns, a remaining rotation of the rendered picture), asinh
stretch with its own zscale limits.
"""

from __future__ import annotations

from .writers.grid import render_grid, write_grid as write_panels

__all__ = ["grid", "write_grid"]


def _panels(cutouts, labels):
    if labels is None:
        labels = [str(c.provenance.get("id", i)) if c is not None else str(i) for i, c in enumerate(cutouts)]
    return [(label, None) if c is None else (label, c.display_plane(), c.wcs) for label, c in zip(labels, cutouts)]


def grid(cutouts, labels=None, *, columns=None, panel_size: int = 160, title: str | None = None,
         stretch: str = "asinh"):
    """A PIL image of the cutouts in a labelled grid (``None`` entries show 'no data')."""
    return render_grid(_panels(list(cutouts), labels), columns=columns, panel_size=panel_size, title=title,
                       stretch=stretch)


def write_grid(path, cutouts, labels=None, *, overwrite: bool = False, **options):
    """Write :func:`grid` to a PNG file, atomically (as ``cutout batch --grid``)."""
    return write_panels(path, _panels(list(cutouts), labels), overwrite=overwrite, **options)
