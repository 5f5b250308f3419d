"""A picture's bytes in the format its file name asks for (:func:`~.outputs.picture_format`).

PNG keeps the picture's text chunks (``orientation``, ``stretch``, ``request``: :func:`.png.png_data`);
JPEG (quality :data:`~.outputs.JPEG_QUALITY`, lossy, for sharing) has no text chunks, so the
``orientation`` text goes into its comment segment.  Batches keep PNG for their per-target
pictures: a rerun reads their text chunks (:mod:`cutout_cli.batch.done`).
"""

from __future__ import annotations

import io

from .outputs import JPEG_QUALITY, picture_format

__all__ = ["picture_bytes"]


def picture_bytes(path, picture, png_data) -> bytes:
    """The file of the PIL image ``picture`` for ``path`` (``png_data``: the PNG encoder)."""
    if picture_format(path) == "PNG":
        return png_data(picture)
    buffer = io.BytesIO()
    comment = picture.info.get("orientation")
    extra = {"comment": comment.encode("ascii", "replace")} if isinstance(comment, str) else {}
    picture.convert("RGB" if picture.mode not in ("L", "RGB") else picture.mode).save(
        buffer, format="JPEG", quality=JPEG_QUALITY, **extra)
    return buffer.getvalue()
