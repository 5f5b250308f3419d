"""Any folder of FITS images as a repository (`cutout index`), against independent astropy truth.

The folder holds plain FITS images with different WCSs (TAN with different
rotations and scales, SIN, TAN-SIP), sizes and bands, overlapping footprints,
one in a subfolder, one tile-compressed, one afw-layout coadd with XY0, plus
files that must be skipped (a table, an image without WCS, a broken file).
Truth comes from astropy alone: full reads, ``all_world2pix``, ``Cutout2D``.
"""

import csv
import functools
import json
import os
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from cutout_cli.sky.box import Box

from .conftest import SMALL_SKYMAP, TARGET_11, run_cli, write_random_coadd

ARCSEC = 1 / 3600


def _tan(ra, dec, crpix, scale_arcsec, rotation_deg=0.0, projection="TAN", **extra):
    c, s = np.cos(np.radians(rotation_deg)), np.sin(np.radians(rotation_deg))
    scale = scale_arcsec * ARCSEC
    return {"CTYPE1": f"RA---{projection}", "CTYPE2": f"DEC--{projection}", "CRVAL1": ra, "CRVAL2": dec,
            "CRPIX1": crpix[0], "CRPIX2": crpix[1], "CD1_1": -scale * c, "CD1_2": scale * s,
            "CD2_1": scale * s, "CD2_2": scale * c, "CUNIT1": "deg", "CUNIT2": "deg", "RADESYS": "ICRS", **extra}


SIP = {"CTYPE1": "RA---TAN-SIP", "CTYPE2": "DEC--TAN-SIP", "A_ORDER": 2, "B_ORDER": 2,
       "A_2_0": 4.0e-4, "A_1_1": 5.0e-5, "A_0_2": 2.0e-4, "B_2_0": 1.0e-4, "B_1_1": -5.0e-5, "B_0_2": -3.0e-4}

# name: (header keywords, (height, width), dtype)
PLAIN = {
    "a_tan.fits": (_tan(150.0, 2.0, (150.5, 100.5), 1.0, BAND="r"), (200, 300), "f4"),
    "b_rot.fits": (_tan(150.02, 2.01, (125.5, 125.5), 1.2, 30.0, FILTER="g"), (250, 250), "f4"),
    "c_sin.fits": (_tan(149.98, 1.99, (60.5, 200.5), 0.8, -20.0, projection="SIN"), (300, 200), "f8"),
    "d_sip.fits": ({**_tan(150.01, 1.98, (128.5, 128.5), 1.0, 10.0), **SIP}, (256, 256), "f4"),
    "sub/e_small.fits": (_tan(150.005, 2.003, (32.5, 40.5), 0.5), (80, 64), "i4"),
    "f_comp.fits.fz": (_tan(150.3, 2.3, (50.5, 50.5), 1.0), (100, 100), "i4"),
}
SKIPPED = ("broken.fits", "nowcs.fits", "table.fits")


def _write_plain(path, name, seed):
    header, shape, dtype = PLAIN[name]
    rng = np.random.default_rng(seed)
    data = (rng.normal(100, 10, shape) if dtype[0] == "f" else rng.integers(-1000, 1000, shape)).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".fz"):
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, fits.Header(header), compression_type="RICE_1")]
                     ).writeto(path)
    else:
        fits.PrimaryHDU(data, fits.Header(header)).writeto(path)


def make_image_folder(root):
    for seed, name in enumerate(PLAIN):
        _write_plain(root / name, name, seed)
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.arange(3.0))])]
                 ).writeto(root / "table.fits")
    fits.PrimaryHDU(np.ones((20, 30), "f4")).writeto(root / "nowcs.fits")
    (root / "broken.fits").write_text("SIMPLE  = this is not a FITS file")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    _write_plain(root / ".hidden" / "x.fits", "a_tan.fits", 99)  # hidden folders are not walked
    from cutout_cli.sky.skymap import skymap_from_dict

    skymap = skymap_from_dict(SMALL_SKYMAP)
    tract, patch = skymap.find_home(*TARGET_11)
    (root / "afw").mkdir()
    write_random_coadd(root / "afw" / "coadd.fits", tract, patch, seed=7)
    return tract, patch


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    tract, patch = make_image_folder(root)
    result = run_cli("index", root, "--format", "json")
    assert result.returncode == 0, result.stderr
    return {"root": root, "summary": json.loads(result.stdout), "stderr": result.stderr, "tract": tract,
            "patch": patch}


@pytest.fixture(scope="module")
def ids(folder):
    """Image id of each file (as the index numbered them)."""
    from cutout_cli.repository import open_repository

    return {r["path"]: r["tract"] for r in open_repository(folder["root"]).images()}


# -- astropy truth ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def truth_wcs(root, name):
    with fits.open(root / name) as hdul:
        hdu = next(h for h in hdul if h.is_image and h.data is not None)
        return WCS(hdu.header).celestial, np.array(hdu.data), hdu.header


def truth_pixel(root, name, ra, dec):
    wcs = truth_wcs(root, name)[0]
    with np.errstate(invalid="ignore"):
        x, y = wcs.all_world2pix(ra, dec, 0, quiet=True)  # far positions: a SIP inverse may diverge (outside)
    return float(x), float(y)


def truth_centre(root, name):
    wcs, data, _ = truth_wcs(root, name)
    h, w = data.shape
    ra, dec = wcs.all_pix2world((w - 1) / 2, (h - 1) / 2, 0)
    return float(ra), float(dec)


def truth_cover(root, ra, dec, names=PLAIN):
    """Plain images whose pixel-edge footprint holds (ra, dec), and the home (nearest centre)."""
    covering = []
    for name in names:
        wcs, data, _ = truth_wcs(root, name)
        x, y = truth_pixel(root, name, ra, dec)
        h, w = data.shape
        if -0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5:
            covering.append(name)
    here = SkyCoord(ra * u.deg, dec * u.deg)
    home = min(covering, key=lambda n: here.separation(SkyCoord(*truth_centre(root, n), unit="deg")).deg,
               default=None)
    return covering, home


def cli_json(root, *args):
    result = run_cli("--repo", root, *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_cut_matches(cut_path, root, name, box):
    """Pixels equal a direct astropy read of ``box``; the WCS is Cutout2D's (astropy) to 1e-9 deg."""
    wcs, data, _ = truth_wcs(root, name)
    with fits.open(cut_path) as cut:
        image = cut["IMAGE"]
        assert (image.header["CRVAL1A"], image.header["CRVAL2A"]) == (box.begin_x, box.begin_y)
        np.testing.assert_array_equal(image.data, data[box.begin_y:box.end_y, box.begin_x:box.end_x])
        assert image.data.dtype.kind == data.dtype.kind
        centre = (box.begin_x + (box.width - 1) / 2, box.begin_y + (box.height - 1) / 2)
        ref = Cutout2D(data, centre, (box.height, box.width), wcs=wcs, mode="strict")
        np.testing.assert_array_equal(ref.data, image.data)
        probe = np.array([[0.0, 0.0], [box.width - 1.0, box.height - 1.0], [3.3, 7.9]])
        np.testing.assert_allclose(WCS(image.header).all_pix2world(probe, 0), ref.wcs.all_pix2world(probe, 0),
                                   atol=1e-9, rtol=0)
        return cut[0].header


def home_point(root, name):
    """A position of an image (a 21 px box around it fits) where that image is the home."""
    wcs, data, _ = truth_wcs(root, name)
    h, w = data.shape
    for fy in np.linspace(0.2, 0.8, 7):
        for fx in np.linspace(0.2, 0.8, 7):
            ra, dec = (float(v) for v in wcs.all_pix2world(fx * (w - 1) + 0.23, fy * (h - 1) - 0.31, 0))
            if truth_cover(root, ra, dec)[1] == name:
                return ra, dec
    raise AssertionError(f"no position of {name} has it as home")


def inside_point(root, name, fx=0.5, fy=0.5):
    """Sky position of the pixel at fractions (fx, fy) of an image (plus an odd offset)."""
    wcs, data, _ = truth_wcs(root, name)
    h, w = data.shape
    ra, dec = wcs.all_pix2world(fx * (w - 1) + 0.23, fy * (h - 1) - 0.31, 0)
    return float(ra), float(dec)


# -- indexing ----------------------------------------------------------------------------------
def test_index_records_images_and_reports_skipped_files(folder):
    summary, stderr = folder["summary"], folder["stderr"]
    assert (summary["images"], summary["new"], summary["skipped"]) == (len(PLAIN) + 1, len(PLAIN) + 1, 3)
    assert summary["index"].endswith(".cutout-index.sqlite") and (folder["root"] / ".cutout-index.sqlite").is_file()
    assert set(summary["bands"].split(",")) == {"''", "r", "g"}
    for name in SKIPPED:
        assert f"skipped {name}: " in stderr
    assert "no celestial WCS" in stderr and "no 2-D image" in stderr
    assert "notes.txt" not in stderr and ".hidden" not in stderr and "Traceback" not in stderr
    assert not list(folder["root"].glob(".cutout-index.sqlite.*"))  # no temporary left


def test_index_rows_describe_each_image(folder, ids):
    from cutout_cli.repository import open_repository

    repo = open_repository(folder["root"])
    assert type(repo).__name__ == "ImageCollection" and len(repo) == len(PLAIN) + 1
    assert sorted(ids) == sorted([*PLAIN, "afw/coadd.fits"]) and sorted(ids.values()) == list(range(len(ids)))
    records = {r["path"]: r for r in repo.images()}
    for name, (header, (h, w), _) in PLAIN.items():
        record = records[name]
        assert (record["width"], record["height"], record["x0"], record["y0"]) == (w, h, 0, 0)
        assert record["band"] == header.get("BAND", header.get("FILTER", ""))
        assert (record["ra"], record["dec"]) == pytest.approx(truth_centre(folder["root"], name), abs=1e-9)
        assert record["hdu"] == (1 if name.endswith(".fz") else 0)
        tract = repo.skymap.tract(ids[name])
        assert tract.bbox == Box(0, 0, w, h) and tract.num_patches == (1, 1)
    afw = records["afw/coadd.fits"]
    assert (afw["x0"], afw["y0"], afw["width"]) == (folder["patch"].outer.begin_x, folder["patch"].outer.begin_y,
                                                    folder["patch"].outer.width)


# -- query -------------------------------------------------------------------------------------
def _sample_points(root, n=40, seed=1):
    rng = np.random.default_rng(seed)
    return [(float(ra), float(dec)) for ra, dec in
            zip(rng.uniform(149.93, 150.08, n), rng.uniform(1.92, 2.09, n))]


def test_query_lists_the_images_holding_a_position_and_the_home(folder, ids):
    from cutout_cli.repository import open_repository

    root = folder["root"]
    repo = open_repository(root)
    seen_many = 0
    for ra, dec in [*_sample_points(root), inside_point(root, "sub/e_small.fits"), (150.0, 2.0)]:
        covering, home = truth_cover(root, ra, dec)
        refs = repo.query(None, None, ra, dec)
        assert [r.tract for r in refs] == sorted(ids[n] for n in covering)
        assert [r.tract for r in refs if r.home] == ([ids[home]] if home else [])
        assert all(r.dataset_type == "image" and r.patch == 0 for r in refs)
        seen_many += len(covering) >= 3
    assert seen_many >= 3  # the sample exercises overlaps
    ra, dec = 150.0, 2.0
    records = cli_json(root, "query", "--pos", f"{ra} {dec}")
    covering, home = truth_cover(root, ra, dec)
    assert [r["path"] for r in records] == [str(root / n) for n in sorted(covering, key=ids.get)]
    assert [r["path"] for r in records if r["home"]] == [str(root / home)]
    assert records == sorted(records, key=lambda r: r["tract"])


def test_query_band_selects_images_and_their_home(folder, ids):
    root = folder["root"]
    ra, dec = 150.02, 2.005  # in a_tan (r) and b_rot (g), whose centre is nearer
    covering, home = truth_cover(root, ra, dec)
    assert {"a_tan.fits", "b_rot.fits"} <= set(covering) and home != "a_tan.fits"
    r = cli_json(root, "query", "--band", "r", "--pos", f"{ra} {dec}")
    assert [(x["tract"], x["band"], x["home"]) for x in r] == [(ids["a_tan.fits"], "r", True)]
    g = cli_json(root, "query", "--band", "g", "--pos", f"{ra} {dec}")
    assert [(x["tract"], x["band"]) for x in g] == [(ids["b_rot.fits"], "g")]
    every = cli_json(root, "query", "--band", "any", "--pos", f"{ra} {dec}")
    assert every == cli_json(root, "query", "--pos", f"{ra} {dec}") and len(every) == len(covering)
    unbanded = cli_json(root, "query", "--band", "", "--pos", f"{ra} {dec}")
    assert {x["band"] for x in unbanded} == {""} and len(unbanded) == len(covering) - 2
    none = run_cli("--repo", root, "query", "--band", "i", "--pos", f"{ra} {dec}")
    assert none.returncode == 3 and "no image in band i covers" in none.stderr


def test_query_circle_and_far_position(folder):
    root = folder["root"]
    far = run_cli("--repo", root, "query", "--pos", "10 10")
    assert far.returncode == 3 and far.stderr.count("\n") == 1
    # a circle around f_comp (alone at 150.3, 2.3) reaching nothing else, and one reaching the others
    alone = cli_json(root, "query", "--pos", "CIRCLE 150.3 2.3 0.01")
    assert [r["path"].split("/")[-1] for r in alone] == ["f_comp.fits.fz"]
    wide = cli_json(root, "query", "--pos", "CIRCLE 150.3 2.3 0.5")
    assert len(wide) == len(PLAIN)


# -- subset ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PLAIN))
def test_subset_of_each_image_equals_astropy(folder, ids, name, tmp_path):
    root = folder["root"]
    ra, dec = home_point(root, name)
    out = tmp_path / "cut.fits"
    (record,) = cli_json(root, "subset", "--ra", ra, "--dec", dec, "--size", 21, "--band", "any", "-o", out)
    x, y = truth_pixel(root, name, ra, dec)
    box = Box.centered(x, y, 21, 21)
    assert (record["tract"], record["patch"], record["begin_x"], record["begin_y"]) == (ids[name], 0, box.begin_x,
                                                                                        box.begin_y)
    assert (record["center_x"], record["center_y"]) == pytest.approx((x, y), abs=1e-6)
    primary = assert_cut_matches(out, root, name, box)
    assert primary["SRCFILE"] == str(root / name) and primary["TRACT"] == ids[name]
    assert primary["SKYMAP"] == "images"


def test_subset_in_a_band_takes_that_band_s_image(folder, ids, tmp_path):
    root = folder["root"]
    ra, dec = 150.02, 2.005
    for band, name in (("r", "a_tan.fits"), ("g", "b_rot.fits")):
        out = tmp_path / f"{band}.fits"
        (record,) = cli_json(root, "subset", "--ra", ra, "--dec", dec, "--size", "16arcsec", "--band", band, "-o", out)
        n = 16 if band == "r" else 13  # round(16 / 1.2)
        box = Box.centered(*truth_pixel(root, name, ra, dec), n, n)
        assert (record["tract"], record["band"], record["width"]) == (ids[name], band, n)
        assert fits.getheader(out, 0)["BAND"] == band
        assert_cut_matches(out, root, name, box)
    missing = run_cli("--repo", root, "subset", "--ra", ra, "--dec", dec, "--size", 9, "--band", "i",
                      "-o", tmp_path / "i.fits")
    assert missing.returncode == 3 and "in no image" in missing.stderr and "--band any" in missing.stderr
    wrong = run_cli("--repo", root, "subset", "--tract", ids["a_tan.fits"], "--patch", 0, "--box", "0,0,5,5",
                    "--band", "g", "-o", tmp_path / "w.fits")
    assert wrong.returncode == 3 and "has band 'r', not 'g'" in wrong.stderr


def test_subset_box_of_an_image_and_a_box_past_its_edge(folder, ids, tmp_path):
    root = folder["root"]
    out = tmp_path / "box.fits"
    cli_json(root, "subset", "--tract", ids["c_sin.fits"], "--patch", 0, "--box", "10,250,30,40", "--band", "any",
             "-o", out)
    assert_cut_matches(out, root, "c_sin.fits", Box(10, 250, 30, 40))
    edge = tmp_path / "edge.fits"
    (record,) = cli_json(root, "subset", "--tract", ids["sub/e_small.fits"], "--box", "50,70,20,20", "--band", "any",
                      "-o", edge)
    assert record["complete"] is False
    data = truth_wcs(root, "sub/e_small.fits")[1]
    with fits.open(edge) as cut:
        np.testing.assert_array_equal(cut["IMAGE"].data[:10, :14], data[70:80, 50:64])
        assert np.all(np.isnan(cut["IMAGE"].data[10:, :])) and np.all(np.isnan(cut["IMAGE"].data[:, 14:]))


def test_a_box_off_the_home_image_comes_from_an_image_holding_it(folder, ids, tmp_path):
    root = folder["root"]
    wcs, data, _ = truth_wcs(root, "sub/e_small.fits")
    ra, dec = (float(v) for v in wcs.all_pix2world(3.2, 40.4, 0))  # 3 px from e_small's left edge
    covering, home = truth_cover(root, ra, dec)
    assert home == "sub/e_small.fits" and covering[0] == "a_tan.fits"
    ax, ay = truth_pixel(root, "a_tan.fits", ra, dec)
    box = Box.centered(ax, ay, 21, 21)
    assert Box(0, 0, 300, 200).contains_box(box)
    out = tmp_path / "moved.fits"
    (record,) = cli_json(root, "subset", "--ra", ra, "--dec", dec, "--size", 21, "--band", "any", "-o", out)
    assert (record["tract"], record["complete"]) == (ids["a_tan.fits"], True)
    assert_cut_matches(out, root, "a_tan.fits", box)


def test_region_subset_and_several_bands(folder, ids, tmp_path):
    root = folder["root"]
    out = tmp_path / "circle.fits"
    (record,) = cli_json(root, "subset", "--pos", "CIRCLE 150.02 2.005 0.002", "--band", "r", "-o", out)
    x, y = truth_pixel(root, "a_tan.fits", 150.02, 2.005)
    assert record["tract"] == ids["a_tan.fits"] and abs(record["begin_x"] + (record["width"] - 1) / 2 - x) <= 1
    records = cli_json(root, "subset", "--ra", 150.02, "--dec", 2.005, "--size", 9, "--band", "r,g",
                       "-o", tmp_path / "c_{band}.fits")
    assert [(r["band"], r["tract"]) for r in records] == [("r", ids["a_tan.fits"]), ("g", ids["b_rot.fits"])]


def test_sip_distortion_is_used_for_sky_to_pixel(folder, ids, tmp_path):
    """A SIP image: positions go through all_world2pix (wcs_world2pix would be pixels off)."""
    from cutout_cli.fits.coadd import CoaddFile
    from cutout_cli.repository import open_repository

    root = folder["root"]
    name = "d_sip.fits"
    wcs = truth_wcs(root, name)[0]
    assert wcs.sip is not None
    ra, dec = (float(v) for v in wcs.all_pix2world(230.4, 20.7, 0))  # a corner: large distortion
    x, y = truth_pixel(root, name, ra, dec)
    linear = np.array(wcs.wcs_world2pix(ra, dec, 0), dtype=float)
    assert np.hypot(*(linear - [x, y])) > 3  # the test means something
    assert (x, y) == pytest.approx((230.4, 20.7), abs=1e-3)
    tract = open_repository(root).skymap.tract(ids[name])
    assert tuple(float(v) for v in tract.sky_to_pixel(ra, dec)) == pytest.approx((x, y), abs=1e-6)
    back = tract.pixel_to_sky(x, y)
    assert SkyCoord(*back, unit="deg").separation(SkyCoord(ra, dec, unit="deg")).deg < 1e-9
    with CoaddFile(root / name) as image:
        assert tuple(float(v) for v in image.sky_to_pixel(ra, dec)) == pytest.approx((x, y), abs=1e-6)
    box = Box.centered(x, y, 25, 25)
    out = tmp_path / "sip.fits"
    (record,) = cli_json(root, "subset", "--ra", ra, "--dec", dec, "--size", 25, "--band", "any", "--tract", ids[name],
                      "--patch", 0, "-o", out)
    assert (record["begin_x"], record["begin_y"]) == (box.begin_x, box.begin_y)
    assert_cut_matches(out, root, name, box)
    plain = tmp_path / "plain.fits"
    assert run_cli("subset", root / name, "--ra", ra, "--dec", dec, "--size", 25, "-o", plain).returncode == 0
    assert_cut_matches(plain, root, name, box)
    far = run_cli("subset", root / name, "--ra", 10, "--dec", 10, "--size", 5, "-o", tmp_path / "far.fits")
    assert far.returncode == 3 and far.stderr.count("\n") == 1  # no warning from the SIP inverse


def test_afw_coadd_in_a_folder_keeps_its_parent_pixels(folder, ids, tmp_path):
    root, patch, tract = folder["root"], folder["patch"], folder["tract"]
    records = cli_json(root, "query", "--pos", f"{TARGET_11[0]} {TARGET_11[1]}")
    assert [(r["tract"], r["home"]) for r in records] == [(ids["afw/coadd.fits"], True)]
    assert Box(records[0]["begin_x"], records[0]["begin_y"], records[0]["width"], records[0]["height"]) == patch.outer
    out = tmp_path / "afw.fits"
    (record,) = cli_json(root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", 21, "--band", "any",
                      "-o", out)
    box = Box.centered(*(float(v) for v in tract.sky_to_pixel(*TARGET_11)), 21, 21)
    assert (record["begin_x"], record["begin_y"]) == (box.begin_x, box.begin_y)
    x0, y0 = patch.outer.begin_x, patch.outer.begin_y
    with fits.open(root / "afw" / "coadd.fits") as src, fits.open(out) as cut:
        assert [h.name for h in cut] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE"]
        for plane in ("IMAGE", "MASK", "VARIANCE"):
            np.testing.assert_array_equal(cut[plane].data, src[plane].data[box.begin_y - y0:box.end_y - y0,
                                                                           box.begin_x - x0:box.end_x - x0])
        assert (cut["IMAGE"].header["LTV1"], cut["IMAGE"].header["LTV2"]) == (-box.begin_x, -box.begin_y)


# -- batch -------------------------------------------------------------------------------------
def test_batch_over_targets_across_the_images(folder, ids, tmp_path):
    root = folder["root"]
    rows = []
    for i, name in enumerate(PLAIN):
        rows.append((f"t{i}", *home_point(root, name), "any", name))
    e_wcs = truth_wcs(root, "sub/e_small.fits")[0]
    edge = tuple(float(v) for v in e_wcs.all_pix2world(3.2, 40.4, 0))
    rows.append(("edge", *edge, "any", "a_tan.fits"))  # assembled: taken from a_tan, where it fits
    rows.append(("red", 150.02, 2.005, "r", "a_tan.fits"))
    rows.append(("green", 150.02, 2.005, "g", "b_rot.fits"))
    rows.append(("far", 10.0, 10.0, "any", None))
    rows.append(("bad", "abc", 2.0, "any", None))
    rows.append(("nored", 150.3, 2.3, "r", None))  # only f_comp (no band) is there
    targets = tmp_path / "targets.csv"
    with open(targets, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ra", "dec", "band"])
        writer.writerows(r[:4] for r in rows)
    out = tmp_path / "out"
    result = run_cli("--repo", root, "batch", targets, "--size", 21, "--out", out, "--jobs", 2, "--format", "json")
    assert result.returncode == 1, result.stderr  # three rows fail
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["no_data"], summary["error"]) == (len(rows) - 3, 2, 1)
    manifest = {r["id"]: r for r in csv.DictReader(open(out / "manifest.csv"))}
    assert [r["status"] for r in manifest.values()] == ["ok"] * (len(rows) - 3) + ["no_data", "error", "no_data"]
    for target, ra, dec, band, name in rows:
        if name is None:
            continue
        row = manifest[target]
        if target != "edge":
            assert int(row["tract"]) == ids[name] and row["patch"] == "0"
        box = Box.centered(*truth_pixel(root, name, ra, dec), 21, 21)
        primary = assert_cut_matches(out / f"{target}_{band}.fits", root, name, box)
        assert primary["TARGETID"] == target
    dry = run_cli("--repo", root, "batch", targets, "--size", 21, "--out", tmp_path / "plan", "--dry-run",
                  "--format", "json")
    plan = json.loads(dry.stdout)
    assert {p["path"] for p in plan if p["tract"] != ""} <= {str(root / n) for n in PLAIN}
    again = run_cli("--repo", root, "batch", targets, "--size", 21, "--out", out, "--format", "json")
    assert json.loads(again.stdout)["skipped"] == len(rows) - 3


def test_vectorised_home_equals_find_tract(folder):
    from cutout_cli.errors import NotFoundError
    from cutout_cli.repository import open_repository

    repo = open_repository(folder["root"])
    points = _sample_points(folder["root"], 300, seed=5) + [(150.3, 2.3), (10.0, 10.0), (*TARGET_11,)]
    ras, decs = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    for band in (None, "r", "g", ""):
        view = repo.for_band(band)
        vector = view.skymap.find_tract_ids(ras, decs)
        for ra, dec, got in zip(ras, decs, vector):
            try:
                expected = view.skymap.find_tract(ra, dec).id
            except NotFoundError:
                expected = -1
            assert got == expected, (band, ra, dec)
        assert (vector >= 0).sum() > (10 if band is None else 0)


# -- update and the Python API -----------------------------------------------------------------
def test_update_reads_only_new_and_changed_files(tmp_path):
    root = tmp_path / "imgs"
    for seed, name in enumerate(("a_tan.fits", "b_rot.fits", "c_sin.fits")):
        _write_plain(root / name, name, seed)
    first = json.loads(run_cli("index", root, "--format", "json").stdout)
    assert (first["images"], first["new"]) == (3, 3)
    from cutout_cli.repository import open_repository

    before = {r["path"]: r["tract"] for r in open_repository(root).images()}
    _write_plain(root / "sub" / "e_small.fits", "sub/e_small.fits", 11)  # new
    os.remove(root / "c_sin.fits")  # removed
    os.remove(root / "b_rot.fits")
    _write_plain(root / "b_rot.fits", "b_rot.fits", 42)  # changed pixels
    os.utime(root / "b_rot.fits", ns=(1, 1))
    result = run_cli("index", root, "--update", "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["images"], summary["new"], summary["changed"], summary["unchanged"], summary["removed"]) == \
           (3, 1, 1, 1, 1)
    repo = open_repository(root)
    now = {r["path"]: r["tract"] for r in repo.images()}
    assert now["a_tan.fits"] == before["a_tan.fits"]  # ids are kept
    assert now["b_rot.fits"] == before["b_rot.fits"]
    assert now["sub/e_small.fits"] == 3  # a fresh id, never one of the removed file
    ra, dec = inside_point(root, "b_rot.fits")
    cut = repo.cutout(ra, dec, "11", band="g", tract=now["b_rot.fits"], patch=0)
    box = Box.centered(*truth_pixel(root, "b_rot.fits", ra, dec), 11, 11)
    np.testing.assert_array_equal(cut.image, truth_wcs(root, "b_rot.fits")[1][box.begin_y:box.end_y,
                                                                              box.begin_x:box.end_x])
    assert [r.tract for r in repo.query(None, "any", *inside_point(root, "sub/e_small.fits")) if r.home] == [3]
    unchanged = json.loads(run_cli("index", root, "--update", "--format", "json").stdout)
    assert (unchanged["unchanged"], unchanged["new"], unchanged["changed"]) == (3, 0, 0)
    retagged = json.loads(run_cli("index", root, "--update", "--band-key", "FILTER", "--format", "json").stdout)
    assert retagged["changed"] == 3 and retagged["bands"] == "'',g"  # a new band key reads every file again


def test_python_api(folder):
    import cutout_cli
    from cutout_cli import ImageCollection, open_repository

    root = folder["root"]
    repo = open_repository(root)
    assert isinstance(repo, ImageCollection) and isinstance(repo, cutout_cli.Repository)
    assert repr(repo).startswith("ImageCollection(")
    cut = repo.cutout(150.0, 2.0, "11arcsec", band="any")
    centre = (cut.provenance["center_x"] - cut.bbox.begin_x, cut.provenance["center_y"] - cut.bbox.begin_y)
    np.testing.assert_allclose(np.array(cut.wcs.all_world2pix(150.0, 2.0, 0), dtype=float), centre, atol=1e-6)
    r_only = repo.for_band("r")
    assert [r.band for r in r_only.query(None, "r", 150.0, 2.0)] == ["r"]


# -- bad cases -----------------------------------------------------------------------------------
def test_bad_folders_are_one_line_errors(tmp_path, folder):
    missing = run_cli("index", tmp_path / "nope")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and missing.stderr.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("index", empty)
    assert result.returncode == 3 and "no FITS image with a celestial WCS" in result.stderr
    assert result.stderr.count("\n") == 1 and not (empty / ".cutout-index.sqlite").exists()
    junk = tmp_path / "junk"
    junk.mkdir()
    fits.PrimaryHDU(np.ones((4, 4), "f4")).writeto(junk / "nowcs.fits")
    result = run_cli("index", junk)
    assert result.returncode == 3 and "skipped nowcs.fits" in result.stderr and "1 file(s)" in result.stderr
    a_file = run_cli("index", folder["root"] / "a_tan.fits")
    assert a_file.returncode == 2 and "is not a folder" in a_file.stderr
    no_index = run_cli("--repo", empty, "query", "--pos", "150 2")
    assert no_index.returncode == 5 and "repo.json does not exist" in no_index.stderr
    corrupt = tmp_path / "corrupt"
    shutil.copytree(folder["root"] / "sub", corrupt)
    (corrupt / ".cutout-index.sqlite").write_text("not a database")
    result = run_cli("--repo", corrupt, "query", "--pos", "150 2")
    assert result.returncode == 5 and "cannot read the image index" in result.stderr
    assert result.stderr.count("\n") == 1 and "cutout index" in result.stderr
    unknown = run_cli("--repo", folder["root"], "query", "deep_coadd", "--pos", "150 2")
    assert unknown.returncode == 2 and "this repository has: image" in unknown.stderr
    no_image = run_cli("--repo", folder["root"], "bbox", "--tract", 99, "--patch", 0)
    assert no_image.returncode == 3 and "image 99 is not in the index" in no_image.stderr


def test_repo_json_wins_over_an_index(tmp_path, small_repo):
    root = tmp_path / "both"
    shutil.copytree(small_repo.root, root)
    _write_plain(root / "a_tan.fits", "a_tan.fits", 0)
    assert run_cli("index", root).returncode == 0
    from cutout_cli.repository import Repository, open_repository

    assert type(open_repository(root)) is Repository


def test_footprints_across_ra_zero_and_over_a_pole(tmp_path):
    """Bounding boxes wrap through RA 0 and open to every RA when an image holds a pole."""
    from cutout_cli.repository.collection import build_index
    from cutout_cli.repository import open_repository

    root = tmp_path / "edges"
    root.mkdir()
    for name, (ra, dec) in {"wrap.fits": (359.99, 10.0), "pole.fits": (0.0, 89.99)}.items():
        header = fits.Header(_tan(ra, dec, (200.5, 200.5), 1.0))
        fits.PrimaryHDU(np.zeros((400, 400), "f4"), header).writeto(root / name)
    assert build_index(root).images == 2
    repo = open_repository(root)
    records = {r.path: r for r in repo.index.records()}
    wrap, pole = records["wrap.fits"], records["pole.fits"]
    assert wrap.ra_width < 1 and (wrap.ra_lo > 359 and (wrap.ra_lo + wrap.ra_width) % 360 < 1)
    assert (pole.ra_width, pole.dec_max) == (360.0, 90.0)
    for ra, dec, name in ((0.02, 10.0, "wrap.fits"), (359.96, 10.01, "wrap.fits"), (123.0, 89.999, "pole.fits"),
                          (300.0, 89.98, "pole.fits"), (180.0, 10.0, None)):
        expected = records[name].id if name else -1
        assert repo.skymap.find_tract_ids([ra], [dec])[0] == expected
        assert [r.tract for r in repo.query(None, None, ra, dec)] == ([expected] if name else [])
