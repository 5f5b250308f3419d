"""Uncompressed planes are read from a memory map: the same pixels as fitsio's reads, or fitsio itself.

Truth is fitsio's (cfitsio's) read of the same section, of files written by
fitsio with every BITPIX; scaled images (BZERO/BSCALE) and truncated files are
left to fitsio.
"""

import fitsio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cutout_cli.cutouts.extract import extract
from cutout_cli.errors import DataError
from cutout_cli.sky.box import Box
from cutout_cli.fits.coadd import CoaddFile
from cutout_cli.fits.local import MappedPlane
from cutout_cli.writers.fits import write_exposure

HEIGHT, WIDTH = 70, 90


def _mapped(coadd, plane) -> bool:
    """Whether the plane is read from the memory map (not by fitsio)."""
    return isinstance(coadd.plane_reader(plane), MappedPlane)
TYPES = ["u1", "i2", "i4", "i8", "f4", "f8"]


def _image(dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype.startswith("f"):
        image = rng.normal(0, 1e3, (HEIGHT, WIDTH)).astype(dtype)
        image[3, 4] = np.nan
        return image
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, (HEIGHT, WIDTH), dtype=dtype, endpoint=True)


@pytest.fixture(scope="module")
def plain_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    paths = {}
    for dtype in TYPES:
        paths[dtype] = root / f"{dtype}.fits"
        fitsio.write(str(paths[dtype]), _image(dtype), clobber=True)
    return paths


def _truth(path, rows, cols):
    with fitsio.FITS(str(path)) as f:
        hdu = next(h for h in f if h.has_data())
        return hdu[rows, cols]


@pytest.mark.parametrize("dtype", TYPES)
def test_every_bitpix_is_read_from_the_map_as_fitsio_reads_it(plain_files, dtype):
    with CoaddFile(plain_files[dtype]) as coadd:
        assert _mapped(coadd, "IMAGE")
        for rows, cols in [(slice(0, HEIGHT), slice(0, WIDTH)), (slice(5, 6), slice(0, 1)), (slice(10, 61), slice(33, 90))]:
            mine = coadd.read_section("IMAGE", rows, cols)
            truth = _truth(plain_files[dtype], rows, cols)
            assert mine.dtype == truth.dtype.newbyteorder("=") and mine.dtype.isnative
            np.testing.assert_array_equal(mine, truth)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from(TYPES), y=st.integers(-20, HEIGHT - 1), x=st.integers(-20, WIDTH - 1),
       h=st.integers(1, 40), w=st.integers(1, 40))
def test_any_box_partly_outside_equals_fitsio_and_fill(plain_files, dtype, y, x, h, w):
    with CoaddFile(plain_files[dtype]) as coadd:
        box = Box(x, y, w, h)
        inside = box.intersection(coadd.bbox)
        if inside.is_empty:
            return
        out = coadd.read("IMAGE", box)
        rows, cols = inside.slices((0, 0))
        np.testing.assert_array_equal(out[inside.slices((x, y))], _truth(plain_files[dtype], rows, cols))


@pytest.mark.parametrize("dtype, keywords", [("u2", {}), ("f4", {"BSCALE": 2.0}), ("i2", {"BZERO": 100.0})])
def test_scaled_images_are_left_to_fitsio(tmp_path, dtype, keywords):
    path = tmp_path / "scaled.fits"
    data = np.arange(HEIGHT * WIDTH).reshape(HEIGHT, WIDTH).astype(dtype)
    with fitsio.FITS(str(path), "rw", clobber=True) as out:
        out.write(data, header=[{"name": k, "value": v} for k, v in keywords.items()])
    with CoaddFile(path) as coadd:
        assert not _mapped(coadd, "IMAGE")  # uint16 is stored with BZERO = 32768: fitsio applies it
        np.testing.assert_array_equal(coadd.read_section("IMAGE", slice(2, 9), slice(5, 40)),
                                      _truth(path, slice(2, 9), slice(5, 40)))


def test_a_truncated_file_is_an_error_not_a_crash(plain_files, tmp_path):
    path = tmp_path / "short.fits"
    whole = plain_files["f4"].read_bytes()
    path.write_bytes(whole[:len(whole) - 2880 * 3])  # the last pixel rows are missing
    with pytest.raises(DataError, match="is truncated"):  # found when the file is opened, before any read
        CoaddFile(path)


def test_an_uncompressed_coadd_cutout_has_the_source_pixels(tmp_path):
    path = tmp_path / "coadd.fits"
    rng = np.random.default_rng(3)
    planes = {"IMAGE": rng.normal(size=(HEIGHT, WIDTH)).astype("f4"),
              "MASK": rng.integers(0, 2 ** 12, (HEIGHT, WIDTH)).astype("i4"),
              "VARIANCE": rng.uniform(size=(HEIGHT, WIDTH)).astype("f4")}
    write_exposure(path, [], [(name, array, []) for name, array in planes.items()])
    with CoaddFile(path) as coadd:
        assert {p for p in coadd.planes if _mapped(coadd, p)} == set(planes)
        cut = extract(coadd, Box(10, 20, 30, 15))
        for name, array in planes.items():
            np.testing.assert_array_equal(cut.planes[name], array[20:35, 10:40])
    assert coadd.source.memory_map is None  # closed with the file
