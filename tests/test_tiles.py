"""Proof that a cutout reads only the tiles its box needs.

Two independent checks on real tile-compressed files:

* poisoning: every tile descriptor that the box does not need is pointed past
  the end of the file, so decompressing any such tile fails; the cutout must
  still succeed and equal the truth (and a control read of a poisoned tile
  must fail, so the test can fail);
* bytes: the bytes the process reads (``rchar`` in /proc/self/io) for a 50 px
  box of a full-size 3400 x 3400 patch are a small fraction of the plane.
"""

from pathlib import Path
import struct

import fitsio
import numpy as np
import pytest
from astropy.io import fits

from cutout_cli.cutouts.extract import extract
from cutout_cli.cutouts.options import ReadOptions
from cutout_cli.errors import DataError
from cutout_cli.sky.box import Box
from cutout_cli.fits.coadd import CoaddFile
from cutout_cli.writers.fits import compression_kwargs, write_exposure

from .conftest import TARGET_11, make_small_repo, run_cli


def tiles_needed(box_local: Box, tile_w: int, tile_h: int, n_tiles_x: int) -> set[int]:
    """Row numbers (0-based, FITS order: x fastest) of the tiles a LOCAL box intersects."""
    xs = range(box_local.begin_x // tile_w, box_local.max_x // tile_w + 1)
    ys = range(box_local.begin_y // tile_h, box_local.max_y // tile_h + 1)
    return {x + y * n_tiles_x for x in xs for y in ys}


def poison_tiles(path, keep: set[int]) -> int:
    """Point the descriptors of all tiles but ``keep`` past the end of the file, in every compressed HDU."""
    poisoned = 0
    with fitsio.FITS(str(path)) as f:
        layouts = []
        for hdu in f:
            info = hdu.get_info()
            if not info.get("is_compressed_image"):
                continue
            h = hdu.read_header()
            assert h["TTYPE1"] == "COMPRESSED_DATA" and h["TFORM1"].startswith("1P")
            layouts.append((info["data_start"], h["NAXIS1"], h["NAXIS2"]))
    with open(path, "r+b") as handle:
        for data_start, row_bytes, n_rows in layouts:
            for row in range(n_rows):
                if row not in keep:
                    handle.seek(data_start + row * row_bytes + 4)  # (count, offset) int32 pair: the offset
                    handle.write(struct.pack(">i", 0x7FFFF000))
                    poisoned += 1
    return poisoned


@pytest.mark.parametrize("kind, tile", [("rice", 128), ("gzip", 64), ("rice", None), ("gzip", None)])
def test_only_intersecting_tiles_are_decompressed(tmp_path, kind, tile):
    n = 1024
    rng = np.random.default_rng(5)
    planes = {"IMAGE": rng.normal(size=(n, n)).astype("f4"), "MASK": rng.integers(0, 512, (n, n)).astype("i4")}
    path = tmp_path / "tiled.fits"
    write_exposure(path, [], [(name, array, []) for name, array in planes.items()],
                   compress={name: compression_kwargs(kind, (n, n), tile) for name in planes})
    with fits.open(path) as hdul:  # truth: a full astropy read before any poisoning (RICE is lossy)
        truth = {name: hdul[name].data.copy() for name in planes}
    box = Box(360, 500, 50, 50)  # straddles a tile corner for 128 and 64 px tiles
    tile_w, tile_h = (tile, tile) if tile else (n, 1)
    keep = tiles_needed(box, tile_w, tile_h, n // tile_w)
    assert len(keep) == (4 if tile == 128 else 50 if tile is None else 4)
    poisoned = poison_tiles(path, keep)
    assert poisoned == 2 * ((n // tile_w) * (n // tile_h) - len(keep))
    with CoaddFile(path) as coadd:
        cutout = extract(coadd, box, ReadOptions(("IMAGE", "MASK")))
        for name, array in truth.items():
            np.testing.assert_array_equal(cutout.planes[name], array[500:550, 360:410])
            decoder = coadd.plane_reader(name).tiled  # cutout's own tile decoder (square tiles), asked directly
            if tile is not None:
                decoder.clear_cache()
                decoder.tiles_decoded = 0
                np.testing.assert_array_equal(decoder.read(slice(500, 550), slice(360, 410)), array[500:550, 360:410])
                assert decoder.tiles_decoded <= 4 and set(decoder.cached_tiles) <= keep
            else:
                assert decoder is None  # one-row tiles: cfitsio reads them, or libdeflate (tiles/rows.py)
        with pytest.raises(DataError, match="corrupt"):  # control: a poisoned tile cannot be read
            coadd.read("IMAGE", Box(0, 0, 10, 10))


def test_subset_command_touches_only_the_tiles_of_its_box(tmp_path):
    """End to end: the CLI, on a coadd whose unneeded tiles are all poisoned, gives the true pixels."""
    repo = make_small_repo(tmp_path / "repo", [TARGET_11], bands=("r",), tile=32)
    patch = repo.home(*TARGET_11)
    path = Path(repo.expected_path(None, patch, "r"))
    with fits.open(path) as hdul:
        truth = {name: hdul[name].data.copy() for name in ("IMAGE", "MASK", "VARIANCE")}
    bx, by = patch.outer.begin_x + 100, patch.outer.begin_y + 70
    box_local = Box(100, 70, 20, 20)
    n_tiles_x = -(-patch.outer.width // 32)
    keep = tiles_needed(box_local, 32, 32, n_tiles_x)
    assert len(keep) <= 4
    poison_tiles(path, keep)
    out = tmp_path / "cut.fits"
    result = run_cli("--repo", repo.root, "subset", "--tract", patch.tract, "--patch", patch.index, "--band", "r",
                     "--box", f"{bx},{by},20,20", "-o", out)
    assert result.returncode == 0, result.stderr
    with fits.open(out) as cut:
        for name, array in truth.items():
            np.testing.assert_array_equal(cut[name].data, array[70:90, 100:120])
    whole = run_cli("--repo", repo.root, "subset", "--tract", patch.tract, "--patch", patch.index, "--band", "r",
                    "--box", f"{patch.outer.begin_x},{patch.outer.begin_y},240,240", "-o", tmp_path / "all.fits")
    assert whole.returncode == 5 and "corrupt" in whole.stderr and "Traceback" not in whole.stderr


def _rchar() -> int:
    with open("/proc/self/io") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("rchar"))


def test_bytes_read_for_a_small_box_are_a_tiny_fraction(sample_patch33):
    """A 50 px box of a full-size 3400 x 3400 patch (RICE, 128 x 128 tiles) reads a few tiles' bytes."""
    path = Path(sample_patch33.expected_path(None, sample_patch33.skymap.tract(5063).patch(33), "r"))
    size = path.stat().st_size
    with CoaddFile(path) as coadd:
        assert coadd.shape == (3400, 3400)
        box = Box(8800 + 1700, 8800 + 1700, 50, 50)
        before = _rchar()
        cutout = extract(coadd, box)
        read = _rchar() - before
    assert cutout.image.shape == (50, 50)
    # at most 4 tiles of 128 x 128 per plane can intersect a 50 px box: ~3 x 4 x 64 kB compressed at most
    assert read < 1_000_000, f"read {read} bytes for a 50 px box"
    assert read < size / 50, f"read {read} of {size} bytes"
