"""Contact sheets: many cutouts side by side in one RGB PNG.

Each panel is a square of ``panel_size`` pixels holding one cutout, rendered
like :func:`cutout_cli.writers.png.to_pil` (8-bit grey, north up and east
left: turned from the panel's WCS when it comes with one, else drawn with
array row 0 at the bottom).  By default (``scale="shared"``) every panel has
the same limits, computed from all the panels' pixels together, so the same
sky value is the same grey in each; ``scale="panel"`` computes them per
panel.  Each picture is scaled to fit the square with its aspect ratio kept and
centred.  The sheet's ``orientation`` text chunk says how each panel was
turned.  Under each panel a strip shows its label in white on the dark
background.  Panels fill rows left to right, top to bottom; an optional title
strip sits above them.

Scaling uses nearest-neighbour when enlarging, so that each cutout pixel stays
a visible square, and Lanczos when shrinking, to avoid aliasing.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from .png import DEFAULT_LIMITS, Limits, save_picture, shared_scale, to_pil

if TYPE_CHECKING:
    from PIL import Image, ImageFont

BACKGROUND = (16, 16, 16)
NO_DATA_FILL = (64, 64, 64)
NO_DATA_TEXT = (190, 190, 190)
LABEL_TEXT = (255, 255, 255)
GAP = 4  # pixels between panels and around the sheet
TEXT_PAD = 3  # pixels above and below a line of text
MIN_PANEL_SIZE = 16
GRID_SCALES = ("shared", "panel")  # one scale for every panel, or each panel its own

# (label, image) or (label, image, wcs): see write_grid
Panel = tuple


@dataclass(frozen=True)
class GridLayout:
    """Pixel geometry of a contact sheet (origin at the top-left corner).

    Boxes are ``(left, top, right, bottom)`` with ``right``/``bottom``
    exclusive, as PIL's ``Image.crop`` takes them.
    """

    columns: int
    rows: int
    panel_size: int
    label_height: int
    title_height: int

    @property
    def cell_height(self) -> int:
        return self.panel_size + self.label_height

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole sheet."""
        width = GAP + self.columns * (self.panel_size + GAP)
        height = self.title_height + GAP + self.rows * (self.cell_height + GAP)
        return width, height

    def panel_box(self, index: int) -> tuple[int, int, int, int]:
        """Box of panel ``index`` (0-based, row-major from the top-left)."""
        row, column = divmod(index, self.columns)
        left = GAP + column * (self.panel_size + GAP)
        top = self.title_height + GAP + row * (self.cell_height + GAP)
        return left, top, left + self.panel_size, top + self.panel_size

    def label_box(self, index: int) -> tuple[int, int, int, int]:
        """Box of the label strip under panel ``index``."""
        left, _, right, bottom = self.panel_box(index)
        return left, bottom, right, bottom + self.label_height

    def title_box(self) -> tuple[int, int, int, int]:
        """Box of the title strip (zero height without a title)."""
        return 0, 0, self.size[0], self.title_height


def grid_layout(
    n_panels: int, columns: int | None = None, panel_size: int = 160, title: str | None = None
) -> GridLayout:
    """Layout for ``n_panels`` panels: ``ceil(sqrt(n))`` columns by default.

    Raises
    ------
    cutout_cli.errors.InputError
        ``n_panels < 1``, ``columns < 1`` or ``panel_size`` below 16.
    """
    if n_panels < 1:
        raise InputError("no panels to draw")
    if columns is None:
        columns = math.ceil(math.sqrt(n_panels))
    if columns < 1:
        raise InputError(f"bad number of columns {columns}", "use 1 or more")
    if panel_size < MIN_PANEL_SIZE:
        raise InputError(f"panel size {panel_size} is too small", f"use {MIN_PANEL_SIZE} pixels or more")
    columns = min(columns, n_panels)  # no empty columns on the right
    label_font, title_font = _fonts(panel_size)
    return GridLayout(
        columns=columns,
        rows=math.ceil(n_panels / columns),
        panel_size=panel_size,
        label_height=_line_height(label_font) + 2 * TEXT_PAD,
        title_height=_line_height(title_font) + 2 * TEXT_PAD if title else 0,
    )


def render_grid(
    panels: Sequence[Panel],
    *,
    columns: int | None = None,
    panel_size: int = 160,
    stretch: str = "asinh",
    limits: Limits = DEFAULT_LIMITS,
    title: str | None = None,
    scale: str = "shared",
    softening: float | None = None,
) -> Image.Image:
    """Draw the contact sheet of ``panels`` as an RGB PIL image.

    Parameters are those of :func:`write_grid`.
    """
    from PIL import Image, ImageDraw

    panels = list(panels)
    if scale not in GRID_SCALES:
        raise InputError(f"unknown grid scale {scale!r}", f"choose one of {', '.join(GRID_SCALES)}")
    if scale == "shared":
        limits, softening = shared_scale([p[1] for p in panels if _is_array(p[1])], limits, softening)
    layout = grid_layout(len(panels), columns, panel_size, title)
    label_font, title_font = _fonts(panel_size)
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        _draw_text(draw, layout.title_box(), title, title_font, LABEL_TEXT)
    turns = {}
    for index, panel in enumerate(panels):
        label, image, wcs = _unpack(panel)
        box = layout.panel_box(index)
        if _is_empty(image):
            draw.rectangle(_inclusive(box), fill=NO_DATA_FILL)
            _draw_text(draw, box, "no data", label_font, NO_DATA_TEXT)
        else:
            picture = _render_panel(label, image, (stretch, limits, softening), wcs)
            turns.setdefault(picture.info.get("orientation", "as given"), []).append(str(label))
            _paste_panel(sheet, box, picture)
        _draw_text(draw, layout.label_box(index), str(label), label_font, LABEL_TEXT)
    sheet.info["orientation"] = _describe_turns(turns)
    return sheet


def write_grid(
    path: str | os.PathLike[str],
    panels: Sequence[Panel],
    *,
    columns: int | None = None,
    panel_size: int = 160,
    stretch: str = "asinh",
    limits: Limits = DEFAULT_LIMITS,
    overwrite: bool = False,
    title: str | None = None,
    scale: str = "shared",
    softening: float | None = None,
) -> Path:
    """Write a contact sheet of cutouts as an RGB PNG, atomically.

    Parameters
    ----------
    path : path-like
        Output PNG.
    panels : sequence of (str, image) or (str, image, wcs)
        Panels in display order (row-major from the top-left).  An image is
        a 2-D ``[y, x]`` array (row 0 at FITS ``y = 0``), turned north up,
        east left from its celestial ``wcs`` (astropy, pixel origin 0 at the
        array's first pixel; without one, row 0 is drawn at the bottom), or a
        finished picture drawn as it is: a PIL image or a ``(height, width,
        3)`` uint8 RGB array with row 0 at the top.  ``None`` (or an empty
        array) draws a dark-grey "no data" panel.
    columns : int, optional
        Panels per row; default ``ceil(sqrt(len(panels)))``, at most
        ``len(panels)``.
    panel_size : int
        Side of each square panel in pixels.
    stretch, limits, softening
        As in :func:`cutout_cli.writers.png.stretch_to_uint8`.
    scale : {"shared", "panel"}
        ``"shared"``: the limits come from all the (array) panels together, so
        one value is one grey everywhere; ``"panel"``: from each panel alone.
    overwrite : bool
        Replace an existing ``path``.
    title : str, optional
        Text for a strip above the panels.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    cutout_cli.errors.InputError
        ``panels`` is empty, a panel is not 2-D, or bad options.
    cutout_cli.errors.OutputError
        ``path`` exists without ``overwrite``, or cannot be written.
    """
    sheet = render_grid(panels, columns=columns, panel_size=panel_size, stretch=stretch, limits=limits, title=title,
                        scale=scale, softening=softening)
    return save_picture(path, sheet, overwrite=overwrite)


# -- panels ----------------------------------------------------------------


def _unpack(panel) -> tuple:
    """(label, image, wcs) of a panel given as (label, image) or (label, image, wcs)."""
    label, image, *rest = panel
    return label, image, (rest[0] if rest else None)


def _is_empty(image) -> bool:
    if image is None:
        return True
    return False if _is_picture(image) else np.size(image) == 0


def _is_picture(image) -> bool:
    """A PIL image (a finished picture)."""
    from PIL import Image

    return isinstance(image, Image.Image)


def _is_array(image) -> bool:
    """A 2-D array of pixel values (not a finished picture, not empty)."""
    return not _is_empty(image) and not _is_picture(image) and np.ndim(image) == 2


def _render_panel(label: str, image, scale: tuple, wcs=None) -> Image.Image:
    """The picture of one panel; ``scale`` is (stretch, limits, softening)."""
    if _is_picture(image):
        return image  # a finished picture, already oriented
    if np.ndim(image) == 3 and np.shape(image)[2] == 3 and np.asarray(image).dtype == np.uint8:
        from PIL import Image

        return Image.fromarray(np.asarray(image), "RGB")  # a colour picture, already north up
    if np.ndim(image) != 2:
        raise InputError(f"panel {label!r}: cannot draw an image of shape {np.shape(image)}", "expected a 2-D array")
    stretch, limits, softening = scale
    return to_pil(image, stretch, limits, wcs=wcs, softening=softening)


def _describe_turns(turns: dict) -> str:
    """The sheet's ``orientation`` text: each distinct description and the panels it applies to."""
    if not turns:
        return "no panel has a picture"
    if len(turns) == 1:
        return f"every panel: {next(iter(turns))}"
    return " | ".join(f"panels {', '.join(labels)}: {text}" for text, labels in turns.items())


def _paste_panel(sheet: Image.Image, box: tuple[int, int, int, int], picture: Image.Image) -> None:
    """Scale ``picture`` to fit ``box`` keeping its aspect ratio, and centre it."""
    from PIL import Image

    side = box[2] - box[0]
    width, height = picture.size
    scale = side / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    scaled = picture.resize(new_size, resample)
    offset = (box[0] + (side - new_size[0]) // 2, box[1] + (side - new_size[1]) // 2)
    sheet.paste(scaled, offset)


# -- text ------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _fonts(panel_size: int) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    """Label and title fonts sized for ``panel_size`` (Pillow's built-in font)."""
    from PIL import ImageFont

    label_size = min(18, max(10, round(panel_size / 12)))
    return ImageFont.load_default(size=label_size), ImageFont.load_default(size=label_size + 4)


def _line_metrics(font: ImageFont.FreeTypeFont) -> tuple[int, int]:
    """(top offset, height) of the font's ink for a line with tall and deep glyphs."""
    _, top, _, bottom = font.getbbox("Agjy|")
    return top, bottom - top


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    return _line_metrics(font)[1]


def _draw_text(draw, box: tuple[int, int, int, int], text: str, font, fill) -> None:
    """Draw one line of ``text`` centred in ``box``, shortened with "..." to fit."""
    text = _fit(text, font, box[2] - box[0] - 2 * TEXT_PAD)
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    # Centre vertically on the font's line, not on this text's ink, so labels
    # with and without descenders share a baseline.
    top, height = _line_metrics(font)
    x = box[0] + (box[2] - box[0] - (right - left)) / 2 - left
    y = box[1] + (box[3] - box[1] - height) / 2 - top
    draw.text((round(x), round(y)), text, font=font, fill=fill)


def _fit(text: str, font, width: int) -> str:
    """``text``, or its longest prefix plus "..." that is at most ``width`` wide."""
    text = " ".join(text.split())  # one line: no newlines or tabs
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle].rstrip() + "...") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "..."


def _inclusive(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """PIL's ``rectangle`` includes its bottom-right corner; crop boxes do not."""
    return box[0], box[1], box[2] - 1, box[3] - 1
