"""Several bands at once, and colour composites."""

import csv
import json

import numpy as np
from astropy.io import fits
from PIL import Image

from cutout_cli.writers.paths import per_band
from cutout_cli.writers.rgb import rgb_array

from .conftest import TARGET_8, TARGET_11, run_cli


def test_per_band_names():
    assert per_band("a_{band}.fits", "g", 3) == "a_g.fits"
    assert per_band("dir/a.fits", "g", 3) == "dir/a_g.fits"
    assert per_band("a.fits", "g", 1) == "a.fits" and per_band(None, "g", 3) is None


def test_subset_several_bands_and_rgb(small_repo, tmp_path):
    args = ("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "31")
    result = run_cli(*args, "--band", "r,z", "-o", tmp_path / "c_{band}.fits", "--rgb", tmp_path / "c.png",
                     "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["band"] for r in records] == ["r", "z"] and records[0]["begin_x"] == records[1]["begin_x"]
    for band in "rz":
        single = tmp_path / f"single_{band}.fits"
        assert run_cli(*args, "--band", band, "-o", single).returncode == 0
        with fits.open(tmp_path / f"c_{band}.fits") as multi, fits.open(single) as one:
            np.testing.assert_array_equal(multi["IMAGE"].data, one["IMAGE"].data)
            assert multi[0].header["BAND"] == band
    with Image.open(tmp_path / "c.png") as picture:
        assert picture.mode == "RGB" and picture.size == (31, 31)
    bad = run_cli(*args, "--band", "r", "--rgb", tmp_path / "x.png")
    assert bad.returncode == 2 and "two or three bands" in bad.stderr


def test_rgb_is_north_up_and_coloured():
    yy, xx = np.mgrid[0:64, 0:64]
    blob = np.exp(-((xx - 32) ** 2 + (yy - 50) ** 2) / 8.0)  # near the top (high y = north)
    noise = np.random.default_rng(0).normal(0, 0.01, (3, 64, 64))
    red_source = rgb_array(noise[0] + 0.2 * blob, noise[1] + 0.5 * blob, noise[2] + 2.0 * blob)
    assert red_source.shape == (64, 64, 3) and red_source.dtype == np.uint8
    light = red_source.sum(axis=2).astype(float)
    light[light < 0.5 * light.max()] = 0  # the source, not the stretched noise
    rows, cols = np.mgrid[0:64, 0:64]
    row, col = (rows * light).sum() / light.sum(), (cols * light).sum() / light.sum()
    assert abs(row - (63 - 50)) < 1 and abs(col - 32) < 1  # picture row 0 is the top: north up
    r, g, b = red_source[round(row), round(col)].astype(int)
    assert r > b  # the source is brightest in the reddest band


def test_batch_several_bands_with_rgb_grid(small_repo, tmp_path):
    targets = tmp_path / "t.csv"
    targets.write_text(f"id,ra,dec\na,{TARGET_11[0]},{TARGET_11[1]}\nb,{TARGET_8[0]},{TARGET_8[1]}\n")
    out = tmp_path / "out"
    result = run_cli("--repo", small_repo.root, "batch", targets, "--size", "15", "--band", "r,z", "--rgb",
                     "--out", out, "--grid", tmp_path / "grid.png")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert [(r["id"], r["band"], r["status"]) for r in rows] == [("a", "r", "ok"), ("a", "z", "ok"),
                                                                   ("b", "r", "ok"), ("b", "z", "ok")]
    assert sorted(p.name for p in out.iterdir() if p.suffix in (".fits", ".png")) == [
        "a_r.fits", "a_rgb.png", "a_z.fits", "b_r.fits", "b_rgb.png", "b_z.fits"]
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.mode == "RGB"
