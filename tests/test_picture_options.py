"""The picture options of subset and batch (issue 18, part 4): --limits, --vmin/--vmax, --softening,
--grid-scale; bad combinations exit 2 with one line; batch reruns redraw what another scale drew.

Truth for explicit limits is the FITS IMAGE plane written beside the picture: with a linear stretch,
the pixels at 0 are those at or below VMIN (within one grey level) and the pixels at 255 those at or
above VMAX (flips and quarter turns move pixels, they do not change the counts).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from .conftest import TARGET_8, TARGET_11, run_cli

POSITION = ("--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "30arcsec", "--band", "r")


def subset(repo, tmp_path, *args):
    return run_cli("--repo", repo.root, "subset", *POSITION, "-o", tmp_path / "c.fits", "--png", tmp_path / "c.png",
                   "--overwrite", "-q", *args)


@pytest.mark.parametrize("args, message", [
    (("--vmin", "1", "--vmax", "1"), "--vmin 1 is not below --vmax 1 (give --vmin < --vmax)"),
    (("--vmin", "2", "--vmax", "1"), "--vmin 2 is not below --vmax 1"),
    (("--vmax", "1"), "--vmax needs its partner"),
    (("--limits", "zscale", "--vmin", "0", "--vmax", "1"), "--limits and --vmin/--vmax both set the limits"),
    (("--limits", "5,1"), "bad --limits '5,1'"),
    (("--limits", "101%"), "bad --limits '101%'"),
    (("--limits", "bright"), "bad --limits 'bright'"),
    (("--softening", "0"), "bad --softening 0.0"),
    (("--softening", "nan"), "bad --softening nan"),
    (("--vmin", "nan", "--vmax", "1"), "--vmin nan is not a finite number"),
])
def test_bad_picture_options_exit_2_with_one_line(small_repo, tmp_path, args, message):
    done = subset(small_repo, tmp_path, *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutout: error: ") and message in lines[0], done.stderr
    assert not list(tmp_path.iterdir())  # refused before anything is written


@pytest.mark.parametrize("limit_args", [("--vmin", "{lo}", "--vmax", "{hi}"), ("--limits", "{lo},{hi}")])
def test_explicit_limits_are_black_and_white_where_the_image_says(small_repo, tmp_path, limit_args):
    done = subset(small_repo, tmp_path, "--planes", "image")
    assert done.returncode == 0, done.stderr
    image = fits.getdata(tmp_path / "c.fits", "IMAGE")
    lo, hi = np.nanpercentile(image, [30, 90])
    args = [a.format(lo=repr(float(lo)), hi=repr(float(hi))) for a in limit_args]
    done = subset(small_repo, tmp_path, "--planes", "image", "--stretch", "linear", *args)
    assert done.returncode == 0, done.stderr
    picture = Image.open(tmp_path / "c.png")
    grey = np.asarray(picture)
    assert grey.shape == image.shape
    step, blank = (hi - lo) / 255, np.isnan(image).sum()  # one grey level; NaN is drawn black
    assert (image <= lo).sum() + blank <= (grey == 0).sum() <= (image < lo + step).sum() + blank
    assert (image >= hi).sum() <= (grey == 255).sum() <= (image > hi - step).sum()
    assert picture.info["stretch"] == f"linear limits={float(lo):g},{float(hi):g}"


def test_percentile_limits_and_softening_are_recorded_and_change_the_picture(small_repo, tmp_path):
    drawn = {}
    for args in ((), ("--limits", "1,99.5%"), ("--limits", "1,99.5%", "--softening", "0.5")):
        done = subset(small_repo, tmp_path, "--planes", "image", *args)
        assert done.returncode == 0, done.stderr
        picture = Image.open(tmp_path / "c.png")
        drawn[picture.info["stretch"]] = np.asarray(picture)
    assert list(drawn) == ["asinh", "asinh limits=1,99.5%", "asinh limits=1,99.5% softening=0.5"]
    pictures = list(drawn.values())
    assert all(not np.array_equal(a, b) for a, b in zip(pictures, pictures[1:]))


def _manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_batch_records_the_scale_and_a_rerun_with_another_redraws(small_repo, tmp_path):
    targets = tmp_path / "t.csv"
    targets.write_text(f"id,ra,dec\na,{TARGET_11[0]},{TARGET_11[1]}\n")

    def batch(*args):
        done = run_cli("--repo", small_repo.root, "batch", targets, "--size", 20, "--band", "r", "--png",
                       "--out", tmp_path / "out", "-q", *args)
        assert done.returncode == 0, done.stderr
        return _manifest(tmp_path / "out")[0]

    first = batch("--limits", "zscale")
    assert first["status"] == "ok" and first["stretch"] == "asinh limits=zscale"
    assert batch("--limits", "zscale")["status"] == "skipped"
    again = batch("--vmin", "0", "--vmax", "1")
    assert again["status"] == "ok" and again["stretch"] == "asinh limits=0,1"
    assert again["message"] == "replaced: PNG stretch was asinh limits=zscale"
    assert Image.open(tmp_path / "out" / "a_r.png").info["stretch"] == "asinh limits=0,1"


def test_grid_scale_shared_and_panel_draw_different_sheets(small_repo, tmp_path):
    """Two targets of different brightness: one scale for both, or each its own, are different sheets."""
    targets = tmp_path / "t.csv"
    targets.write_text(f"id,ra,dec\n11,{TARGET_11[0]},{TARGET_11[1]}\n8,{TARGET_8[0]},{TARGET_8[1]}\n")
    sheets = {}
    for scale in ("shared", "panel"):
        grid = tmp_path / f"{scale}.png"
        done = run_cli("--repo", small_repo.root, "batch", targets, "--size", 20, "--band", "r", "--out",
                       tmp_path / scale, "--grid", grid, "--grid-scale", scale, "--planes", "image", "-q")
        assert done.returncode == 0, done.stderr
        sheets[scale] = np.asarray(Image.open(grid).convert("L"))
    assert sheets["shared"].shape == sheets["panel"].shape
    assert not np.array_equal(sheets["shared"], sheets["panel"])


def test_unknown_grid_scale_is_refused_by_the_library(small_repo, tmp_path):
    from cutout_cli.errors import InputError
    from cutout_cli.repository import Repository

    with pytest.raises(InputError, match="grid_scale"):
        Repository(small_repo.root).batch([{"id": "a", "ra": TARGET_11[0], "dec": TARGET_11[1]}], tmp_path / "o",
                                          size=9, band="r", grid=tmp_path / "g.png", grid_scale="each")


def test_log_stretch_under_the_default_limits_is_not_white(sample_patch33):
    """The issue's 'almost all white' --stretch log: under the sky limits its sky is mid-dark grey."""
    from cutout_cli.repository import Repository
    from cutout_cli.writers.png import stretch_to_uint8

    cut = Repository(sample_patch33.root).cutout(*TARGET_11, size=60, band="r", planes=("IMAGE",))
    picture = stretch_to_uint8(cut.image, "log")
    ring = np.ones(picture.shape, bool)
    ring[8:-8, 8:-8] = False
    assert np.median(picture[ring]) < 110 and (picture == 255).mean() < 0.01
