"""What reading a box of a plane is estimated to cost, so that the cheaper of two readers is used.

The figures are :mod:`cutout_cli.calibration`'s (measured, good to some 15 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ReadCost", "FREE"]


@dataclass(frozen=True)
class ReadCost:
    """Estimated microseconds to read one box of a plane: ``ours`` by cutout's own reader (None: it
    cannot), ``cfitsio`` by cfitsio; ``tiles``, how many tiles the box crosses (0 for an
    uncompressed plane)."""

    ours: float | None
    cfitsio: float
    tiles: int = 1

    @property
    def ours_is_cheaper(self) -> bool:
        return self.ours is not None and self.ours <= self.cfitsio


#: The cost of a box of an uncompressed plane read from a memory map: a strided copy, next to nothing.
FREE = ReadCost(0.0, math.inf, 0)
