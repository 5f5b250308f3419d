"""Tests of the synthetic sample repository generator (the cutout_cli._sample package).

Most tests use a tiny rings skymap (200 px patches, 20 px border) so that files
are 240 x 240 px; one test writes a single full-size lsst_cells_v1 patch.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import fitsio
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from cutout_cli._sample.__main__ import cli
from cutout_cli._sample.catalog import Catalog, field_catalog
from cutout_cli._sample.generate import generate_repository
from cutout_cli._sample.render import make_patch_planes, render_model
from cutout_cli._sample.scene import BANDS, MASK_PLANES, STAR, SceneOptions
from cutout_cli.errors import InputError
from cutout_cli.sky.skymap import skymap_from_dict

TINY_SKYMAP = {
    "type": "rings",
    "name": "tiny_rings",
    "num_rings": 120,
    "ra_start": 0.0,
    "pixel_scale": 0.2,
    "tract_overlap": 1.0 / 60.0,
    "projection": "TAN",
    "tract_builder": "cells",
    "patch_inner_dimensions": [200, 200],
    "patch_border": 20,
}
TEMPLATE = "deep_coadd/{tract}/{patch}/{band}/deep_coadd_{tract}_{patch}_{band}_{skymap}.fits"
TARGETS = [("11", 53.318792, -27.844306), ("8", 53.194833, -28.146306), ("3", 53.335875, -27.819472)]
SEED = 7
SUBTRACTIVE_DITHER_2 = "SUBTRACTIVE_DITHER_2"


def make_repo(root: Path, skymap_spec=TINY_SKYMAP) -> Path:
    """A repository root with repo.json, a skymap file and targets.csv."""
    (root / "skymaps").mkdir(parents=True, exist_ok=True)
    (root / "skymaps" / "sky.json").write_text(json.dumps(skymap_spec))
    (root / "repo.json").write_text(json.dumps({"skymap": "skymaps/sky.json", "datasets": {"deep_coadd": TEMPLATE}}))
    lines = ["id,ra,dec"] + [f"{i},{ra},{dec}" for i, ra, dec in TARGETS]
    (root / "targets.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def tiny():
    """(skymap, tract, home patch of target 11, its +x neighbour)."""
    skymap = skymap_from_dict(TINY_SKYMAP)
    tract, home = skymap.find_home(*TARGETS[0][1:])
    neighbour = tract.patch((home.x + 1, home.y))
    return skymap, tract, home, neighbour


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny):
    """A tiny repository with two patches in r and z, generated in this process."""
    _, tract, home, neighbour = tiny
    root = make_repo(tmp_path_factory.mktemp("repo"))
    written = generate_repository(root, tract=tract.id, patches=(home.index, neighbour.index),
                                  bands=("r", "z"), seed=SEED, jobs=1, progress=False)
    return root, written


def path_of(root, tract, patch, band):
    return root / TEMPLATE.format(tract=tract.id, patch=patch.index, band=band, skymap="tiny_rings")


def read_planes(path):
    with fitsio.FITS(str(path)) as f:
        return {name: f[name].read() for name in ("IMAGE", "MASK", "VARIANCE")}


# --- layout and headers ---------------------------------------------------------------
def test_writes_every_file(repo, tiny):
    root, written = repo
    _, tract, home, neighbour = tiny
    expected = [path_of(root, tract, p, b) for p in (home, neighbour) for b in ("r", "z")]
    assert written == expected
    assert all(p.exists() for p in expected)
    assert not list(root.rglob(".*.tmp"))


def test_hdu_layout_astropy(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    with fits.open(path_of(root, tract, home, "r")) as hdus:
        assert len(hdus) == 4
        assert "EXTNAME" not in hdus[0].header
        assert hdus[0].header["TRACT"] == tract.id
        assert hdus[0].header["PATCH"] == home.index
        assert hdus[0].header["BAND"] == "r"
        assert hdus[0].header["SKYMAP"] == "tiny_rings"
        assert "BUNIT" not in hdus[0].header
        for name, kind in (("IMAGE", "f"), ("MASK", "i"), ("VARIANCE", "f")):
            hdu = hdus[name]
            assert hdu.header["EXTNAME"] == name
            assert hdu.header["EXTTYPE"] == name
            assert hdu.header["INHERIT"] is True
            assert hdu.data.dtype.kind == kind and hdu.data.dtype.itemsize == 4
            assert hdu.data.shape == home.outer.shape == (240, 240)
        assert hdus["IMAGE"].header["BUNIT"] == "nJy"
        assert hdus["VARIANCE"].header["BUNIT"] == "nJy**2"
        assert "BUNIT" not in hdus["MASK"].header


def test_xy0_and_wcs_keywords(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    x0, y0 = home.outer.begin_x, home.outer.begin_y
    with fits.open(path_of(root, tract, home, "r")) as hdus:
        for name in ("IMAGE", "MASK", "VARIANCE"):
            h = hdus[name].header
            assert (h["LTV1"], h["LTV2"]) == (-x0, -y0)
            assert h["CTYPE1A"] == h["CTYPE2A"] == "LINEAR"
            assert h["CRPIX1A"] == h["CRPIX2A"] == 1.0
            assert (h["CRVAL1A"], h["CRVAL2A"]) == (x0, y0)
            assert h["CUNIT1A"] == h["CUNIT2A"] == "PIXEL"
            assert h["CRPIX1"] == pytest.approx(tract.wcs_header["CRPIX1"] - x0)
            assert h["CRPIX2"] == pytest.approx(tract.wcs_header["CRPIX2"] - y0)
            # the plane's sky WCS (origin 0) plus XY0 gives tract PARENT pixels
            ra, dec = tract.pixel_to_sky(x0 + 17.0, y0 + 101.0)
            x, y = WCS(h).wcs_world2pix(ra, dec, 0)
            assert (x + x0, y + y0) == pytest.approx((x0 + 17.0, y0 + 101.0), abs=1e-6)


def test_mask_plane_keywords(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    path = path_of(root, tract, home, "r")
    with fits.open(path) as hdus:
        header = hdus["MASK"].header
        for name, bit in MASK_PLANES.items():
            assert header[f"MP_{name}"] == bit
        assert header["MP_DETECTED_NEGATIVE"] == 6
        assert str(header.cards["MP_DETECTED_NEGATIVE"]).startswith("HIERARCH MP_DETECTED_NEGATIVE = 6")
    with fitsio.FITS(str(path)) as f:
        header = f["MASK"].read_header()
        assert header["MP_DETECTED_NEGATIVE"] == 6
        assert header["MP_SAT"] == 1


def test_default_compression(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    with fitsio.FITS(str(path_of(root, tract, home, "z"))) as f:
        for name, kind in (("IMAGE", "RICE_1"), ("MASK", "GZIP_2"), ("VARIANCE", "RICE_1")):
            h = f[name].read_header()
            assert h["ZCMPTYPE"] == kind
            assert (h["ZTILE1"], h["ZTILE2"]) == (128, 128)
            if kind == "RICE_1":
                assert h["ZQUANTIZ"] == SUBTRACTIVE_DITHER_2
    with fits.open(path_of(root, tract, home, "z"), disable_image_compression=True) as hdus:
        assert [h.header.get("ZCMPTYPE") for h in hdus[1:]] == ["RICE_1", "GZIP_2", "RICE_1"]


@pytest.mark.parametrize("compression, tile, expected, ztile", [
    ("gzip", None, ("GZIP_2", "GZIP_2", "GZIP_2"), (240, 1)),
    ("rice", 64, ("RICE_1", "GZIP_2", "RICE_1"), (64, 64)),
    ("none", 128, (None, None, None), None),
])
def test_storage_variants(tmp_path, tiny, compression, tile, expected, ztile):
    _, tract, home, _ = tiny
    root = make_repo(tmp_path)
    [path] = generate_repository(root, tract=tract.id, patches=(home.index,), bands=("r",), seed=SEED,
                                 compression=compression, tile=tile, jobs=1, progress=False)
    with fits.open(path, disable_image_compression=True) as hdus:
        assert tuple(h.header.get("ZCMPTYPE") for h in hdus[1:]) == expected
        for h in hdus[1:]:
            if ztile is not None:
                assert (h.header["ZTILE1"], h.header["ZTILE2"]) == ztile
    planes = read_planes(path)
    assert planes["IMAGE"].shape == (240, 240)
    if compression != "rice":  # lossless storage keeps the computed pixels exactly
        image, mask, variance = make_patch_planes(tract, home, "r", TARGETS, SEED)
        np.testing.assert_array_equal(planes["IMAGE"], image)
        np.testing.assert_array_equal(planes["MASK"], mask)
        np.testing.assert_array_equal(planes["VARIANCE"], variance)


def test_full_size_patch(tmp_path):
    """One lsst_cells_v1 patch in one band: 3400 x 3400, CRPIX shift, a few seconds."""
    src = Path(__file__).resolve().parent.parent / "sample_repo"
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(src / "repo.json", root)
    shutil.copytree(src / "skymaps", root / "skymaps")
    shutil.copy(src / "targets.csv", root)
    start = time.perf_counter()
    [path] = generate_repository(root, patches=(33,), bands=("r",), jobs=1, progress=False)
    assert time.perf_counter() - start < 30
    assert path == root / "deep_coadd/5063/33/r/deep_coadd_5063_33_r_lsst_cells_v1.fits"
    with fits.open(path) as hdus:
        header = hdus["IMAGE"].header
        assert (header["NAXIS1"], header["NAXIS2"]) == (3400, 3400)
        assert header["CRPIX1"] == header["CRPIX2"] == 6200.0
        assert (header["LTV1"], header["CRVAL1A"]) == (-8800, 8800)


# --- pixels ---------------------------------------------------------------------------
def test_target_nucleus_at_target_position(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    for band in ("r", "z"):
        path = path_of(root, tract, home, band)
        with fits.open(path) as hdus:
            header = hdus["IMAGE"].header
            image = hdus["IMAGE"].data
        x0, y0 = -header["LTV1"], -header["LTV2"]
        x, y = WCS(header).wcs_world2pix(TARGETS[0][1], TARGETS[0][2], 0)
        px, py = tract.sky_to_pixel(TARGETS[0][1], TARGETS[0][2])
        assert (x + x0, y + y0) == pytest.approx((float(px), float(py)), abs=1e-6)
        ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        assert 5 <= ix < image.shape[1] - 5 and 5 <= iy < image.shape[0] - 5
        window = image[iy - 5:iy + 6, ix - 5:ix + 6]
        wy, wx = np.unravel_index(np.argmax(window), window.shape)
        assert abs(wx - 5) <= 1 and abs(wy - 5) <= 1
        assert 5e3 < window.max() < 2e5  # a bright nucleus, below saturation


def test_noise_matches_variance(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    for band in ("r", "z"):
        planes = read_planes(path_of(root, tract, home, band))
        quiet = planes["MASK"] == 0
        assert quiet.mean() > 0.5
        pulls = planes["IMAGE"][quiet] / np.sqrt(planes["VARIANCE"][quiet])
        assert np.std(pulls) == pytest.approx(1.0, rel=0.1)
        assert abs(np.mean(pulls)) < 0.1
        sky_sigma = BANDS[band].sky_sigma
        assert np.sqrt(np.median(planes["VARIANCE"])) == pytest.approx(sky_sigma, rel=0.1)


def test_noise_is_model_plus_gaussian(tiny):
    _, tract, home, _ = tiny
    image, mask, variance = make_patch_planes(tract, home, "r", TARGETS, SEED)
    model = render_model(tract, home, "r", TARGETS, SEED)
    ok = (mask & (1 << MASK_PLANES["SAT"])) == 0
    pulls = (image - model)[ok] / np.sqrt(variance[ok])
    assert np.std(pulls) == pytest.approx(1.0, abs=0.02)
    assert abs(np.mean(pulls)) < 0.02


def test_deterministic(tmp_path, repo, tiny):
    """A second run (on a worker pool this time) gives identical pixels."""
    root, _ = repo
    _, tract, home, neighbour = tiny
    other = make_repo(tmp_path / "again")
    generate_repository(other, tract=tract.id, patches=(home.index, neighbour.index), bands=("r", "z"),
                        seed=SEED, jobs=2, progress=False)
    for patch in (home, neighbour):
        for band in ("r", "z"):
            a, b = read_planes(path_of(root, tract, patch, band)), read_planes(path_of(other, tract, patch, band))
            for name in a:
                np.testing.assert_array_equal(a[name], b[name])


def test_other_seed_differs(tiny):
    _, tract, home, _ = tiny
    a = make_patch_planes(tract, home, "r", TARGETS, SEED)[0]
    b = make_patch_planes(tract, home, "r", TARGETS, SEED + 1)[0]
    assert not np.array_equal(a, b)


def test_neighbouring_patches_share_sources(tiny):
    """The noiseless sky is the same in the overlap of two patches."""
    _, tract, home, neighbour = tiny
    overlap = home.outer.intersection(neighbour.outer)
    assert overlap.width == 40
    a = render_model(tract, home, "r", TARGETS, SEED)[overlap.slices((home.outer.begin_x, home.outer.begin_y))]
    b = render_model(tract, neighbour, "r", TARGETS, SEED)[
        overlap.slices((neighbour.outer.begin_x, neighbour.outer.begin_y))]
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-2)


def test_colours(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    # per-source colours: galaxies redder than stars (about 200 small cells of sky)
    options = SceneOptions()
    catalog = Catalog.concatenate([field_catalog(tract, (i, j), SEED, options)
                                   for i in range(20) for j in range(10)])
    ratio = catalog.flux("z") / catalog.flux("r")
    stars = catalog.kind == STAR
    assert stars.sum() > 50 and (~stars).sum() > 1000
    assert np.median(ratio[~stars]) > 1.4 > np.median(ratio[stars])
    # the target's host is red: brighter in z than in r in an annulus around the nucleus
    x, y = tract.sky_to_pixel(TARGETS[0][1], TARGETS[0][2])
    yy, xx = np.indices(home.outer.shape)
    radius = np.hypot(xx + home.outer.begin_x - float(x), yy + home.outer.begin_y - float(y))
    annulus = (radius > 8) & (radius < 20)
    models = {b: render_model(tract, home, b, TARGETS, SEED) for b in ("r", "z")}
    assert models["z"][annulus].sum() > 1.3 * models["r"][annulus].sum()
    images = {b: read_planes(path_of(root, tract, home, b))["IMAGE"] for b in ("r", "z")}
    assert images["z"][annulus].sum() > 1.2 * images["r"][annulus].sum()


def test_detected_bits(repo, tiny):
    root, _ = repo
    _, tract, home, _ = tiny
    planes = read_planes(path_of(root, tract, home, "r"))
    model = render_model(tract, home, "r", TARGETS, SEED)
    detected = (planes["MASK"] & (1 << MASK_PLANES["DETECTED"])) > 0
    sigma = np.sqrt(planes["VARIANCE"])
    assert detected[model > 5 * sigma].all()
    assert not detected[model < 0.01].any()
    x, y = tract.sky_to_pixel(TARGETS[0][1], TARGETS[0][2])
    assert detected[int(np.floor(y + 0.5)) - home.outer.begin_y, int(np.floor(x + 0.5)) - home.outer.begin_x]
    assert 0.005 < detected.mean() < 0.9


def test_saturated_stars(tiny):
    _, tract, home, _ = tiny
    options = replace(SceneOptions(), bright_star_density=1e5)
    image, mask, variance = make_patch_planes(tract, home, "r", [], SEED, options=options)
    model = render_model(tract, home, "r", [], SEED, options)
    sat = (mask & (1 << MASK_PLANES["SAT"])) > 0
    assert sat.sum() > 20
    np.testing.assert_array_equal(sat, model > options.saturation)
    assert (image[sat] == options.saturation).all()
    assert (image[~sat] < 2 * options.saturation).all()
    assert (mask[sat] & (1 << MASK_PLANES["DETECTED"])).all()
    assert np.isfinite(image).all() and (variance > 0).all()


def test_default_scene_has_saturated_stars_somewhere(tiny):
    """Full-density default: a few bright stars per full-size patch area."""
    _, tract, _, _ = tiny
    options = SceneOptions()
    cells = [field_catalog(tract, (i, 0), SEED, options) for i in range(400)]  # ~ 4 full patches
    mags = np.concatenate([c.mag for c in cells])
    assert 2 <= np.sum(mags < options.bright_star_mags[1]) <= 40


# --- repository behaviour ------------------------------------------------------------------
def test_skips_existing_and_overwrites(tmp_path, tiny):
    _, tract, home, _ = tiny
    root = make_repo(tmp_path)
    kwargs = dict(tract=tract.id, patches=(home.index,), bands=("r",), seed=SEED, jobs=1, progress=False)
    [path] = generate_repository(root, **kwargs)
    stamp = path.stat().st_mtime_ns
    assert generate_repository(root, **kwargs) == []
    assert path.stat().st_mtime_ns == stamp
    assert generate_repository(root, overwrite=True, **kwargs) == [path]


def test_progress_lines_on_stderr(tmp_path, tiny, capsys):
    _, tract, home, _ = tiny
    root = make_repo(tmp_path)
    generate_repository(root, tract=tract.id, patches=(home.index,), bands=("r",), seed=SEED, jobs=1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "wrote" in captured.err and "1 file(s) written" in captured.err


def test_unknown_band(tmp_path, tiny):
    _, tract, home, _ = tiny
    with pytest.raises(InputError):
        generate_repository(make_repo(tmp_path), tract=tract.id, patches=(home.index,), bands=("q",),
                            progress=False)


def test_command_line(tmp_path, tiny):
    from click.testing import CliRunner

    _, tract, home, _ = tiny
    root = make_repo(tmp_path)
    result = CliRunner().invoke(cli, ["--root", str(root), "--tract", str(tract.id), "--patches",
                                       str(home.index), "--bands", "g,y", "--compression", "gzip",
                                       "--tile", "rows", "--jobs", "1", "--seed", str(SEED)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 file(s)" in result.output
    for band in ("g", "y"):
        with fitsio.FITS(str(path_of(root, tract, home, band))) as f:
            h = f["IMAGE"].read_header()
            assert (h["ZCMPTYPE"], h["ZTILE1"], h["ZTILE2"]) == ("GZIP_2", 240, 1)
    bad = CliRunner().invoke(cli, ["--root", str(root), "--bands", "q"])
    assert bad.exit_code == InputError.exit_code
