"""Notebook display helpers: a grid of cutouts like the tutorial's figure of all targets.

Pictures are Pillow images (Jupyter shows them inline); matplotlib is never
imported.  Each panel is north up, east left (turned from the cutout's WCS:
exact flips and quarter turns, a remaining rotation of the rendered picture),
asinh stretch between the "sky" limits of all the panels together
(:func:`cutout_cli.writers.png.stretch_to_uint8`; ``scale="panel"``: each
panel its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .writers.grid import render_grid, write_grid as write_panels
from .writers.png import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["grid", "write_grid"]


def _panels(cutouts, labels):
    if labels is None:
        labels = [str(c.provenance.get("id", i)) if c is not None else str(i) for i, c in enumerate(cutouts)]
    return [(label, None) if c is None else (label, c.display_plane(), c.wcs) for label, c in zip(labels, cutouts)]


def grid(cutouts, labels=None, *, columns=None, panel_size: int = 160, title: str | None = None,
         stretch: str = "asinh", limits: Limits = DEFAULT_LIMITS, softening: float | None = None,
         scale: str = "shared") -> Image.Image:
    """The cutouts in a labelled grid, as an RGB ``PIL.Image.Image`` (Jupyter shows it inline).

    ``labels`` default to each cutout's ``id`` provenance, else its position in
    ``cutouts``; a ``None`` entry is a dark-grey "no data" panel.  ``columns``
    (default ``ceil(sqrt(n))``) panels of ``panel_size`` pixels per row, under
    an optional ``title``; ``stretch``, ``limits``, ``softening`` and ``scale``
    as in :func:`cutout_cli.writers.grid.write_grid`.
    """
    return render_grid(_panels(list(cutouts), labels), columns=columns, panel_size=panel_size, title=title,
                       stretch=stretch, limits=limits, softening=softening, scale=scale)


def write_grid(path, cutouts, labels=None, *, overwrite: bool = False, **options):
    """Write :func:`grid` to ``path`` atomically (``.png``, or ``.jpg`` for JPEG; as ``cutout batch --grid``);
    ``options`` are :func:`grid`'s.  Returns the ``pathlib.Path`` written."""
    return write_panels(path, _panels(list(cutouts), labels), overwrite=overwrite, **options)
