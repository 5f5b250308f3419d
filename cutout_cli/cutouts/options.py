"""What a read takes besides the box: which planes, what to do at the image's edge, how large it may be."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InputError
from ..fits.planes import PLANES
from ..sky.box import DEFAULT_MAX_PIXELS

__all__ = ["ReadOptions", "MODES", "read_options"]

MODES = ("partial", "strict")


@dataclass(frozen=True)
class ReadOptions:
    """How to read a cutout.

    Parameters
    ----------
    planes : tuple of str
        Planes to read, among IMAGE, MASK, VARIANCE (default all three; those
        absent from a plain FITS file are skipped when not asked for explicitly).
    mode : {"partial", "strict"}
        ``partial``: pixels outside the image are NaN (IMAGE, VARIANCE) or
        NO_DATA (MASK); ``strict``: a box not wholly inside the image is an
        error.  A box that misses the image entirely is an error in both modes.
    max_pixels : int
        Refuse boxes of more pixels than this per plane (a typo such as a
        size of ``60deg`` must not exhaust memory).
    """

    planes: tuple[str, ...] = PLANES
    mode: str = "partial"
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self):
        planes = (self.planes,) if isinstance(self.planes, str) else tuple(self.planes)
        planes = tuple(p.upper() for p in planes)
        unknown = [p for p in planes if p not in PLANES]
        if unknown or not planes:
            raise InputError(f"unknown plane(s) {', '.join(unknown) or '(none given)'}",
                             f"choose among {', '.join(PLANES)}")
        object.__setattr__(self, "planes", planes)
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}", "use partial or strict")
        if not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise InputError(f"max_pixels must be a positive integer, not {self.max_pixels!r}")


def read_options(options: ReadOptions | None = None, **given) -> ReadOptions:
    """``options`` with the keywords given (``planes``, ``mode``, ``max_pixels``; None: unchanged)."""
    base = options or ReadOptions()
    changes = {name: value for name, value in given.items() if value is not None}
    if not changes:
        return base
    return replace(base, **changes)
