"""A box's planes read on two threads: the same pixels as one by one, errors reported, batches on one thread."""

import concurrent.futures as cf

import numpy as np
import pytest
from astropy.io import fits

from cutout_cli.fits import coadd as reader, threads as plane_threads
from cutout_cli.errors import DataError
from cutout_cli.sky.box import Box
from cutout_cli.fits.threads import one_thread
from cutout_cli.fits.coadd import CoaddFile
from cutout_cli.writers.fits import compression_kwargs, write_exposure

SIDE = 600


class CountingExecutor(cf.ThreadPoolExecutor):
    submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        CountingExecutor.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def counted(monkeypatch):
    CountingExecutor.submitted = 0
    pool = CountingExecutor(1)
    monkeypatch.setattr(reader, "second_thread", lambda: None if getattr(plane_threads._local, "single", 0) else pool)
    yield CountingExecutor
    pool.shutdown()


def _coadd(path, tile):
    rng = np.random.default_rng(11)
    planes = {"IMAGE": rng.normal(100, 10, (SIDE, SIDE)).astype("f4"),
              "MASK": rng.integers(0, 2 ** 10, (SIDE, SIDE)).astype("i4"),
              "VARIANCE": rng.uniform(50, 60, (SIDE, SIDE)).astype("f4")}
    kinds = {"IMAGE": "rice", "MASK": "gzip", "VARIANCE": "rice"}
    write_exposure(path, [], [(name, array, []) for name, array in planes.items()],
                   compress={name: compression_kwargs(kinds[name], (SIDE, SIDE), tile) for name in planes})
    with fits.open(path) as hdul:  # truth: astropy's full read (RICE is lossy)
        return {name: hdul[name].data.copy() for name in planes}


def test_large_tiles_are_read_on_two_threads_with_the_same_pixels(tmp_path, counted):
    path = tmp_path / "large_tiles.fits"
    truth = _coadd(path, 300)
    box = Box(120, 250, 50, 50)
    with CoaddFile(path) as coadd:
        arrays = coadd.read_planes(("IMAGE", "MASK", "VARIANCE"), box)
        assert counted.submitted == 1 and list(arrays) == ["IMAGE", "MASK", "VARIANCE"]
        for name, array in truth.items():
            np.testing.assert_array_equal(arrays[name], array[250:300, 120:170])
        coadd.clear_cache()
        with one_thread():  # as in a batch task
            again = coadd.read_planes(("IMAGE", "MASK", "VARIANCE"), box)
        assert counted.submitted == 1
        for name in truth:
            np.testing.assert_array_equal(again[name], arrays[name])


def test_small_tiles_stay_on_one_thread(tmp_path, counted):
    path = tmp_path / "small_tiles.fits"
    truth = _coadd(path, 64)
    with CoaddFile(path) as coadd:
        arrays = coadd.read_planes(("IMAGE", "MASK", "VARIANCE"), Box(10, 20, 50, 50))
    assert counted.submitted == 0  # 64 px tiles decode too fast to be worth a hand-over
    np.testing.assert_array_equal(arrays["VARIANCE"], truth["VARIANCE"][20:70, 10:60])


def test_a_corrupt_tile_read_on_the_second_thread_is_a_data_error(tmp_path, counted):
    path = tmp_path / "corrupt.fits"
    _coadd(path, 300)
    with CoaddFile(path) as coadd:
        plane = coadd.plane_reader("IMAGE").tiled  # the first of the two equally long planes: the second thread's
        start, count = plane.tile_location(0)
    with open(path, "r+b") as handle:
        handle.seek(start + 4)
        handle.write(b"\xff" * (count - 8))  # invalid block codes all through tile 0
    with CoaddFile(path) as coadd:
        with pytest.raises(DataError, match="IMAGE pixels.*corrupt"):
            coadd.read_planes(("IMAGE", "MASK", "VARIANCE"), Box(120, 250, 50, 50))
        assert counted.submitted == 1
        np.testing.assert_array_equal(coadd.read("VARIANCE", Box(120, 250, 50, 50)).shape, (50, 50))


def test_a_failure_on_this_thread_is_reported_after_the_other_read_ends(tmp_path, counted):
    path = tmp_path / "corrupt_here.fits"
    _coadd(path, 300)
    with CoaddFile(path) as coadd:
        plane = coadd.plane_reader("VARIANCE").tiled  # read here: IMAGE goes to the second thread
        start, count = plane.tile_location(0)
    with open(path, "r+b") as handle:
        handle.seek(start + 4)
        handle.write(b"\xff" * (count - 8))
    with CoaddFile(path) as coadd:
        with pytest.raises(DataError, match="VARIANCE pixels.*corrupt"):
            coadd.read_planes(("IMAGE", "MASK", "VARIANCE"), Box(120, 250, 50, 50))
        assert counted.submitted == 1
