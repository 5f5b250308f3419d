"""astropy reads the VARIANCE plane of the files cutout writes as variances (issue 17, item 7).

astropy's ``CCDData.read(path, hdu_uncertainty=...)`` picks the uncertainty
class from the ``UTYPE`` keyword of the uncertainty HDU and, without it,
assumes a standard deviation (astropy ``nddata/ccddata.py``,
``fits_ccddata_reader``).  The truth here is astropy's own reader, and the
pixels as astropy.io.fits reads them.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty, VarianceUncertainty

from .conftest import TARGET_11, run_cli, write_random_coadd

READ = {"hdu": "IMAGE", "hdu_uncertainty": "VARIANCE", "hdu_mask": "MASK"}


def _assert_reads_as_variance(path):
    ccd = CCDData.read(path, **READ)
    with fits.open(path) as hdul:
        image, mask, variance = (hdul[name].data for name in ("IMAGE", "MASK", "VARIANCE"))
    assert type(ccd.uncertainty) is VarianceUncertainty
    np.testing.assert_array_equal(ccd.uncertainty.array, variance)
    np.testing.assert_array_equal(ccd.data, image)
    np.testing.assert_array_equal(ccd.mask, mask != 0)
    assert ccd.unit == u.nJy and ccd.uncertainty.unit == u.nJy ** 2
    finite = np.isfinite(variance)
    stddev = ccd.uncertainty.represent_as(StdDevUncertainty)
    np.testing.assert_allclose(stddev.array[finite], np.sqrt(variance[finite]), rtol=1e-6)
    return ccd


def test_a_cutout_written_by_the_command_line_reads_as_variance(small_repo, tmp_path):
    out = tmp_path / "cut.fits"
    result = run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "21",
                     "--band", "r", "-o", out)
    assert result.returncode == 0, result.stderr
    _assert_reads_as_variance(out)
    with fits.open(out) as hdul:
        assert hdul["VARIANCE"].header["UTYPE"] == "VarianceUncertainty"
        assert "UTYPE" not in hdul["IMAGE"].header and "UTYPE" not in hdul["MASK"].header


def test_round_trip_equals_the_cutouts_own_ccddata(small_repo, tmp_path):
    """A library cutout written with ``writeto`` (one that leaves its patch, so assembled, NaN-filled
    where no file is) reads back as what ``Cutout.to_ccddata`` builds in memory."""
    cutout = small_repo.cutout(*TARGET_11, "241", "r")  # wider than a 240 px patch file
    assert cutout.provenance["complete"] is False
    path = tmp_path / "assembled.fits"
    cutout.writeto(path)
    ccd = _assert_reads_as_variance(path)
    mine = cutout.to_ccddata()
    assert type(mine.uncertainty) is type(ccd.uncertainty)
    np.testing.assert_array_equal(ccd.uncertainty.array, mine.uncertainty.array)
    np.testing.assert_array_equal(ccd.data, mine.data)
    assert ccd.uncertainty.unit == mine.uncertainty.unit


@pytest.mark.parametrize("compression", ["rice", "gzip", "none"])
def test_coadd_files_the_writer_makes_read_as_variance(small_repo, compression, tmp_path):
    """The same writer makes the tile-compressed patch files of the sample generator."""
    tract, patch = small_repo.skymap.find_home(*TARGET_11)
    path = tmp_path / f"coadd_{compression}.fits"
    write_random_coadd(path, tract, patch, seed=2, compression=compression)
    ccd = CCDData.read(path, **READ)
    assert type(ccd.uncertainty) is VarianceUncertainty
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(ccd.uncertainty.array, hdul["VARIANCE"].data)


def test_a_single_file_batch_reads_as_variance(small_repo, tmp_path):
    """``batch --single-file``: every target's VARIANCE HDU reads as a variance with astropy's reader."""
    targets = tmp_path / "t.csv"
    targets.write_text(f"id,ra,dec\na,{TARGET_11[0]},{TARGET_11[1]}\nb,{TARGET_11[0] + 0.001},{TARGET_11[1]}\n")
    out = tmp_path / "all.fits"
    result = run_cli("--repo", small_repo.root, "batch", targets, "--size", "15", "--band", "r", "--out",
                     tmp_path / "o", "--single-file", out)
    assert result.returncode == 0, result.stderr
    with fits.open(out) as hdul:
        variances = {hdu.header["EXTVER"]: hdu.header.get("UTYPE") for hdu in hdul
                     if hdu.header.get("EXTNAME") == "VARIANCE"}
    assert variances == {1: "VarianceUncertainty", 2: "VarianceUncertainty"}
    ccd = CCDData.read(out, hdu=("IMAGE", 1), hdu_uncertainty="VARIANCE", hdu_mask=None)
    assert type(ccd.uncertainty) is VarianceUncertainty
