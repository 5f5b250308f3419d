"""One-row GZIP tiles inflated with libdeflate (cutout_cli/fits/tiles/rows.py): cfitsio's pixels, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fitsio

from cutout_cli import Box, CoaddFile
from cutout_cli.errors import DataError
from cutout_cli.fits.local import InflatedPlane
from cutout_cli.fits.tiles.rows import have_libdeflate

pytestmark = pytest.mark.skipif(not have_libdeflate(), reason="the deflate package is a dependency")

SHAPE = (120, 333)


def _write(path, compress: str, planes: dict) -> None:
    with fitsio.FITS(str(path), "rw", clobber=True) as f:
        f.write(None)
        for name, array in planes.items():
            f.write(array, extname=name, compress=compress, tile_dims=[1, array.shape[1]], qlevel=None)


@pytest.fixture(scope="module", params=["GZIP_1", "GZIP_2"])
def row_file(request, tmp_path_factory):
    rng = np.random.default_rng(7)
    image = rng.normal(0, 3, SHAPE).astype("f4")
    image[5:9, 10:30] = np.nan
    image[50, 40] = np.inf
    variance = rng.uniform(1, 9, SHAPE).astype("f4")
    mask = rng.integers(-2**31, 2**31 - 1, SHAPE, dtype=np.int64).astype("i4")  # incompressible: libdeflate
    path = tmp_path_factory.mktemp("rows") / f"{request.param}.fits"
    _write(path, request.param, {"IMAGE": image, "MASK": mask, "VARIANCE": variance})
    return path


def test_planes_go_to_libdeflate(row_file):
    with CoaddFile(row_file) as coadd:
        assert all(isinstance(coadd.plane_reader(p), InflatedPlane) for p in ("IMAGE", "MASK", "VARIANCE"))


@settings(max_examples=40, deadline=None)
@given(x=st.integers(0, SHAPE[1] - 1), y=st.integers(0, SHAPE[0] - 1), w=st.integers(1, SHAPE[1]),
       h=st.integers(1, SHAPE[0]))
def test_boxes_equal_cfitsio(row_file, x, y, w, h):
    w, h = min(w, SHAPE[1] - x), min(h, SHAPE[0] - y)
    with CoaddFile(row_file) as coadd, fitsio.FITS(str(row_file)) as f:
        for plane in ("IMAGE", "MASK", "VARIANCE"):
            ours = coadd.read(plane, Box(x, y, w, h))
            truth = f[plane][y:y + h, x:x + w]
            assert ours.dtype == truth.dtype.newbyteorder("=")
            assert ours.tobytes() == truth.astype(ours.dtype).tobytes(), plane  # NaN and inf bits too


def test_compressible_planes_stay_with_cfitsio(tmp_path):
    """A mask that inflates from a few bytes a row is read by cfitsio (calibration.ROW_INFLATE_MIN_RATIO)."""
    path = tmp_path / "mask.fits"
    mask = np.zeros(SHAPE, "i4")
    mask[10:20, 5:50] = 32
    _write(path, "GZIP_2", {"IMAGE": np.ones(SHAPE, "f4"), "MASK": mask})
    with CoaddFile(path) as coadd:
        assert not isinstance(coadd.plane_reader("MASK"), InflatedPlane)
        assert np.array_equal(coadd.read("MASK", Box(0, 0, SHAPE[1], SHAPE[0])), mask)


def test_a_damaged_row_is_reported_as_damage(row_file, tmp_path):
    damaged = tmp_path / "damaged.fits"
    data = bytearray(row_file.read_bytes())
    with fitsio.FITS(str(row_file)) as f:
        start = f["IMAGE"].get_offsets()["data_start"]
        header = f["IMAGE"].read_header()
    heap = start + header["NAXIS1"] * header["NAXIS2"]
    data[heap + 200:heap + 260] = b"\xff" * 60  # inside the first rows' compressed bytes
    damaged.write_bytes(bytes(data))
    with CoaddFile(damaged) as coadd:
        with pytest.raises(DataError, match="damaged"):
            coadd.read("IMAGE", Box(0, 0, SHAPE[1], 5))
