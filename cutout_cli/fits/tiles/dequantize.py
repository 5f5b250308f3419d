"""Turn quantised tile values back into floats, exactly as cfitsio does.

The FITS tiled-image convention stores lossy floats as integers ``q`` with a
per-tile ``ZSCALE``/``ZZERO`` and, for subtractive dithering, a known
pseudo-random offset per pixel.  cfitsio computes each pixel as
``(float)(((double) q - offset + 0.5) * scale + zero)``, or
``(float)((double) q * scale + zero)`` for NO_DITHER, in that order; the same
operations in the same order in numpy give the same bits.  Special values: ``ZBLANK`` (usually
-2147483647) is NaN; with SUBTRACTIVE_DITHER_2, -2147483646 is an exact 0.0.

Only the pixels a box needs are converted, and only their offsets are looked
up in the convention's table of 10 000 values.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

N_RANDOM = 10000  # length of the convention's table of dither offsets
ZERO_VALUE = -2147483646  # SUBTRACTIVE_DITHER_2: an exact 0.0
DITHERS = {"NO_DITHER": 0, "SUBTRACTIVE_DITHER_1": 1, "SUBTRACTIVE_DITHER_2": 2}
SEQUENCE_CACHE_PIXELS = 128 * 128  # tiles up to this size keep their whole offset sequence (64 kB each)


@lru_cache(maxsize=1)
def dither_offsets() -> np.ndarray:
    """The convention's 10 000 dither offsets in [0, 1): a Park-Miller sequence rounded to float32, as
    cfitsio's ``fits_init_randoms`` (kept as float32, which float64 arithmetic represents exactly)."""
    a, m, seed = 16807.0, 2147483647.0, 1.0
    values = np.empty(N_RANDOM, np.float32)
    for i in range(N_RANDOM):
        temp = a * seed
        seed = temp - m * int(temp / m)
        values[i] = seed / m
    return values


@lru_cache(maxsize=1)
def _first_indices() -> np.ndarray:
    return (dither_offsets() * 500).astype(np.int64)  # float32 times 500, as in C


@lru_cache(maxsize=4096)
def _dither_segments(seed: int, n_pixels: int):
    """For a tile whose dithering starts at table entry ``seed``: each segment's first pixel, end, and
    the table index of its first pixel, covering at least ``n_pixels`` pixels.

    cfitsio walks the table from ``int(offset[seed] * 500)``; at the table's end
    it moves to the next seed and starts again from ``int(offset[seed] * 500)``.
    """
    first_index = _first_indices()
    starts, ends, first = [], [], []
    covered = 0
    while covered < n_pixels:
        begin = int(first_index[seed])
        starts.append(covered)
        first.append(begin)
        covered += N_RANDOM - begin
        ends.append(covered)
        seed = (seed + 1) % N_RANDOM
    return np.array(starts), np.array(ends), np.array(first)


def _whole_sequence(seed: int, tile_pixels: int) -> np.ndarray:
    """The offsets of a whole tile, in pixel order."""
    starts, ends, first = _dither_segments(seed, tile_pixels)
    table = dither_offsets()
    return np.concatenate([table[f:f + e - s] for s, e, f in zip(starts, ends, first)])[:tile_pixels]


_small_tile_sequence = lru_cache(maxsize=64)(_whole_sequence)  # small tiles, whose boxes come back: 4 MB
_large_tile_sequence = lru_cache(maxsize=4)(_whole_sequence)  # a large box's tiles: 4 MB for 512 px tiles


def dither_offsets_of(tile: int, zdither0: int, ry0: int, ry1: int, rx0: int, rx1: int, width: int,
                      tile_pixels: int) -> np.ndarray:
    """The dither offsets (float32) of the pixels ``[ry0:ry1, rx0:rx1]`` of tile ``tile`` (numbered from 0
    as the table's rows), ``width`` pixels wide (edge tiles are narrower).

    cfitsio starts a tile's sequence at table entry (n + ZDITHER0 - 2) mod
    10 000 for tile number n counted from 1, that is (tile + ZDITHER0 - 1).
    """
    seed = (tile + zdither0 - 1) % N_RANDOM
    if tile_pixels <= SEQUENCE_CACHE_PIXELS or 8 * (ry1 - ry0) * (rx1 - rx0) >= tile_pixels:
        whole = (_small_tile_sequence if tile_pixels <= SEQUENCE_CACHE_PIXELS else _large_tile_sequence)(seed, tile_pixels)
        return whole[ry0 * width:ry1 * width].reshape(ry1 - ry0, width)[:, rx0:rx1]
    # a small part of a large tile: look up only its pixels' offsets
    starts, ends, first = _dither_segments(seed, tile_pixels)
    row_starts = np.arange(ry0, ry1) * width + rx0  # flat pixel number of each row's first pixel
    segment = np.searchsorted(ends, row_starts, side="right")
    columns = np.arange(rx1 - rx0)
    if np.all(row_starts + (rx1 - rx0) <= ends[segment]):  # no row runs into the next segment (the usual case)
        return dither_offsets()[(first[segment] + row_starts - starts[segment])[:, None] + columns]
    flat = row_starts[:, None] + columns
    segment = np.searchsorted(ends, flat, side="right")
    return dither_offsets()[first[segment] + flat - starts[segment]]


def dequantize(stored: np.ndarray, offsets: np.ndarray | None, scale: float, zero: float, dither: int,
               blank: int | None) -> np.ndarray:
    """Float64 pixels of quantised values ``stored`` (native int32); ``offsets`` the matching dither
    offsets (None for NO_DITHER); ``dither`` 0, 1 or 2; ``blank`` the ZBLANK value or None.
    The caller stores them as float32 (or keeps float64), as cfitsio casts its doubles."""
    if offsets is not None:
        values = np.subtract(stored, offsets, dtype=np.float64)
        values += 0.5
    else:
        values = stored.astype(np.float64)
    values *= scale
    values += zero
    specials = [v for v in (ZERO_VALUE if dither == 2 else None, blank) if v is not None]
    # one comparison to see whether any special value is there: they sit at the bottom of the range
    if specials and (stored <= max(specials)).any():
        if dither == 2:
            values[stored == ZERO_VALUE] = 0.0
        if blank is not None:
            values[stored == blank] = np.nan
    return values
