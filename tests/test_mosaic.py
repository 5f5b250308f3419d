"""Cutouts across patch and tract boundaries equal the same box of one tract-wide image."""

from pathlib import Path
import csv
import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from cutout_cli.sky.box import Box
from cutout_cli.cutouts.assemble import contributing_patches
from cutout_cli.repository import Repository
from cutout_cli._sample.headers import plane_headers
from cutout_cli.writers.fits import compression_kwargs, write_exposure

from .conftest import SMALL_SKYMAP, TARGET_11, TEMPLATE, run_cli

PLANES = ("IMAGE", "MASK", "VARIANCE")


class TractTruth:
    """A synthetic image of a region of one tract, and patch files cut from it.

    Each patch file holds the truth on its inner box and *wrong* values on its
    border (outer minus inner), so a cutout that uses a patch's border where a
    neighbour's inner region should be used cannot equal the truth.
    """

    def __init__(self, repo, tract, region: Box, seed=0):
        self.repo, self.tract, self.region = repo, tract, region
        rng = np.random.default_rng(seed)
        self.planes = {"IMAGE": rng.normal(100, 10, region.shape).astype("f4"),
                       "MASK": rng.integers(0, 1 << 9, region.shape).astype("i4"),
                       "VARIANCE": rng.uniform(50, 150, region.shape).astype("f4")}

    def write_patches(self, box: Box, skip=()):
        for patch, _ in contributing_patches(self.tract, box):
            if patch.index in skip:
                continue
            outer = patch.outer
            headers = plane_headers(self.tract, patch)
            arrays = []
            for name in PLANES:
                data = self.planes[name][outer.slices((self.region.begin_x, self.region.begin_y))].copy()
                border = np.ones(outer.shape, bool)
                border[patch.inner.slices((outer.begin_x, outer.begin_y))] = False
                data[border] = data[border] + (1000 if name != "MASK" else 1 << 9)
                arrays.append((name, data, headers[name]))
            path = Path(self.repo.expected_path(None, patch, "r"))
            compress = {name: compression_kwargs("gzip", outer.shape, 64) for name in PLANES}  # lossless
            write_exposure(path, [{"name": "TRACT", "value": self.tract.id}], arrays, overwrite=True,
                           compress=compress)

    def truth(self, name, box: Box):
        return self.planes[name][box.slices((self.region.begin_x, self.region.begin_y))]


def make_repo(root):
    (root / "skymaps").mkdir(parents=True)
    (root / "skymaps" / "small.json").write_text(json.dumps(SMALL_SKYMAP))
    (root / "repo.json").write_text(json.dumps({"skymap": "skymaps/small.json", "datasets": {"deep_coadd": TEMPLATE}}))
    return Repository(root)


def assert_equals_truth(cut_path, truth: TractTruth, box: Box):
    with fits.open(cut_path) as cut:
        for name in PLANES:
            np.testing.assert_array_equal(cut[name].data, truth.truth(name, box))
        assert (cut["IMAGE"].header["CRVAL1A"], cut["IMAGE"].header["CRVAL2A"]) == (box.begin_x, box.begin_y)
        yy, xx = np.mgrid[0:box.height:7, 0:box.width:7]
        sky_cut = WCS(cut["IMAGE"].header).wcs_pix2world(xx.ravel(), yy.ravel(), 0)
        sky_tract = truth.tract.pixel_to_sky(xx.ravel() + box.begin_x, yy.ravel() + box.begin_y)
        assert np.max(np.abs(np.array(sky_cut) - np.array(sky_tract))) < 1e-9
        return cut[0].header


@pytest.fixture(scope="module")
def corner(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("corner"))
    tract, home = repo.skymap.find_home(*TARGET_11)
    corner_x, corner_y = (home.x + 1) * 200, (home.y + 1) * 200
    region = Box(corner_x - 300, corner_y - 300, 600, 600)
    truth = TractTruth(repo, tract, region)
    box = Box(corner_x - 37, corner_y - 23, 70, 50)
    truth.write_patches(box)
    return repo, truth, box


def test_box_over_a_patch_corner_equals_the_tract_image(corner, tmp_path):
    repo, truth, box = corner
    assert len(contributing_patches(truth.tract, box)) == 4
    out = tmp_path / "corner.fits"
    result = run_cli("--repo", repo.root, "subset", "--tract", truth.tract.id, "--band", "r",
                     "--box", f"{box.begin_x},{box.begin_y},{box.width},{box.height}", "-o", out, "--format", "json")
    assert result.returncode == 0, result.stderr
    header = assert_equals_truth(out, truth, box)
    assert header["NSOURCE"] == 4 and header["CUTFULL"] is True
    (record,) = json.loads(result.stdout)  # subset prints a list, one record per band
    assert len(record["sources"].split(";")) == 4


def test_sky_cutout_near_a_corner_is_assembled(corner, tmp_path):
    repo, truth, box = corner
    ra, dec = (float(v) for v in truth.tract.pixel_to_sky(*box.center))
    cutout = repo.cutout(ra, dec, f"{box.width},{box.height}", band="r")
    assert cutout.bbox == Box.centered(*(float(v) for v in truth.tract.sky_to_pixel(ra, dec)), box.width, box.height)
    for name in PLANES:
        np.testing.assert_array_equal(cutout.planes[name], truth.truth(name, cutout.bbox))
    assert len(cutout.provenance["sources"]) == 4


def test_batch_assembles_boxes_that_leave_their_patch(corner, tmp_path):
    repo, truth, box = corner
    ra, dec = (float(v) for v in truth.tract.pixel_to_sky(*box.center))
    inside_ra, inside_dec = (float(v) for v in truth.tract.pixel_to_sky(box.begin_x + 5, box.begin_y + 5))
    targets = tmp_path / "t.csv"
    targets.write_text(f"id,ra,dec,size\ncorner,{ra!r},{dec!r},{box.width},{box.height}\n"
                       f"inside,{inside_ra!r},{inside_dec!r},5\n".replace(f"{box.width},{box.height}",
                                                                          f'"{box.width},{box.height}"'))
    result = run_cli("--repo", repo.root, "batch", targets, "--band", "r", "--out", tmp_path / "out", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "out" / "manifest.csv")))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    with fits.open(tmp_path / "out" / "corner_r.fits") as cut:
        x0, y0 = cut["IMAGE"].header["CRVAL1A"], cut["IMAGE"].header["CRVAL2A"]
        bbox = Box(x0, y0, box.width, box.height)
        for name in PLANES:
            np.testing.assert_array_equal(cut[name].data, truth.truth(name, bbox))
        assert cut[0].header["NSOURCE"] == 4 and cut[0].header["TARGETID"] == "corner"


def test_missing_patch_is_filled_from_borders_then_no_data(tmp_path):
    """The upper-right patch of a corner is absent: its inner pixels come from the 20 px borders of
    its neighbours' files where they reach, the rest is NaN / NO_DATA (or an error in strict mode)."""
    repo = make_repo(tmp_path / "repo")
    tract, home = repo.skymap.find_home(*TARGET_11)
    corner_x, corner_y = (home.x + 1) * 200, (home.y + 1) * 200
    truth = TractTruth(repo, tract, Box(corner_x - 300, corner_y - 300, 600, 600), seed=3)
    box = Box(corner_x - 40, corner_y - 40, 80, 80)
    missing = tract.patch((home.x + 1, home.y + 1)).index
    truth.write_patches(box, skip={missing})
    cutout = repo.get_box(tract.id, box, "r")
    image, mask = cutout.image, cutout.mask
    np.testing.assert_array_equal(image[:40, :40], truth.truth("IMAGE", box)[:40, :40])
    border = ~np.isnan(image[40:, 40:])
    assert border[:20, :].all() and border[:, :20].all()          # reached by the neighbours' borders
    assert np.isnan(image[60:, 60:]).all() and (mask[60:, 60:] == 1 << 8).all()
    assert cutout.provenance["complete"] is False and len(cutout.provenance["sources"]) == 3
    strict = run_cli("--repo", repo.root, "subset", "--tract", tract.id, "--band", "r", "--box",
                     f"{box.begin_x},{box.begin_y},80,80", "--mode", "strict", "-o", tmp_path / "s.fits")
    assert strict.returncode == 3 and "not wholly covered" in strict.stderr


def test_box_across_a_tract_edge_comes_from_the_tract_where_it_fits(tmp_path):
    """At tract 5063 pixel (24600, 280) the home tract has 280 px of margin, tract 4848 has 313 px:
    a 601 px box does not fit the home tract, and must be cut whole from 4848."""
    repo = make_repo(tmp_path / "repo")
    home = repo.skymap.tract(5063)
    ra, dec = (float(v) for v in home.pixel_to_sky(24600.0, 280.0))
    assert repo.skymap.find_tract(ra, dec).id == 5063
    other = repo.skymap.tract(4848)
    x, y = (float(v) for v in other.sky_to_pixel(ra, dec))
    expected = Box.centered(x, y, 601, 601)
    assert other.bbox.contains_box(expected)
    assert not home.bbox.contains_box(Box.centered(24600.0, 280.0, 601, 601))
    truth = TractTruth(repo, other, expected.grown(250), seed=5)
    truth.write_patches(expected)
    out = tmp_path / "edge.fits"
    result = run_cli("--repo", repo.root, "subset", "--ra", repr(ra), "--dec", repr(dec), "--size", "601",
                     "--band", "r", "-o", out, "--format", "json")
    assert result.returncode == 0, result.stderr
    (record,) = json.loads(result.stdout)
    assert record["tract"] == 4848
    header = assert_equals_truth(out, truth, expected)
    assert header["CUTFULL"] is True and header["TRACT"] == 4848


# -- a missing home patch whose box present files hold (issue 17, item 6) ------------------------------

def _lone_neighbour(tmp_path):
    """A repository where TARGET_11's home patch P is absent and its east neighbour Q is present (lossless),
    and positions in P: 8 px from Q's inner edge (inside Q's 20 px border) and at P's centre."""
    from .conftest import write_random_coadd

    repo = make_repo(tmp_path / "repo")
    tract, home = repo.skymap.find_home(*TARGET_11)
    east = tract.patch((home.x + 1, home.y))
    path = Path(repo.expected_path(None, east, "r"))
    path.parent.mkdir(parents=True)
    write_random_coadd(path, tract, east, seed=7, compression="gzip")
    y = (home.inner.begin_y + home.inner.end_y) / 2
    near = tuple(float(v) for v in tract.pixel_to_sky(home.inner.end_x - 8.0, y))
    centre = tuple(float(v) for v in tract.pixel_to_sky(*home.inner.center))
    return repo, tract, home, east, path, near, centre


def _assert_cut_from(cut_path, source_path, outer: Box, box: Box):
    """Every plane of the cutout file equals the box of the source file, both read by astropy."""
    with fits.open(cut_path) as cut, fits.open(source_path) as source:
        assert (cut["IMAGE"].header["CRVAL1A"], cut["IMAGE"].header["CRVAL2A"]) == (box.begin_x, box.begin_y)
        for name in PLANES:
            np.testing.assert_array_equal(cut[name].data, source[name].data[box.slices((outer.begin_x, outer.begin_y))])
        assert cut[0].header["CUTFULL"] is True and cut[0].header["NSOURCE"] == 1
        assert cut[0].header["SRCFILE1"] == str(source_path)


def test_missing_home_patch_is_cut_from_the_neighbour_holding_the_box(tmp_path):
    repo, tract, home, east, path, near, centre = _lone_neighbour(tmp_path)
    box = Box.centered(*(float(v) for v in tract.sky_to_pixel(*near)), 9, 9)
    assert home.outer.contains_box(box) and east.outer.contains_box(box) and not east.inner.contains_box(box)
    out = tmp_path / "near.fits"
    result = run_cli("--repo", repo.root, "subset", "--ra", repr(near[0]), "--dec", repr(near[1]), "--size", "9",
                     "--band", "r", "--mode", "strict", "-o", out)
    assert result.returncode == 0, result.stderr
    _assert_cut_from(out, path, east.outer, box)
    # the same through an IVOA region, whose enclosing box also lies in the neighbour's border
    region = run_cli("--repo", repo.root, "subset", "--pos", f"CIRCLE {near[0]!r} {near[1]!r} 0.0003", "--band", "r",
                     "-o", tmp_path / "region.fits", "--format", "json")
    assert region.returncode == 0, region.stderr
    (record,) = json.loads(region.stdout)
    region_box = Box(record["begin_x"], record["begin_y"], record["width"], record["height"])
    assert home.outer.contains_box(region_box) and region_box.width >= 9
    _assert_cut_from(tmp_path / "region.fits", path, east.outer, region_box)
    # where no present file holds the box, the home's absence is still "not found", without the sample's hint
    far = run_cli("--repo", repo.root, "subset", "--ra", repr(centre[0]), "--dec", repr(centre[1]), "--size", "9",
                  "--band", "r", "-o", tmp_path / "far.fits")
    assert far.returncode == 3 and f"patch {home.index} band r" in far.stderr, far.stderr
    assert "make sample" not in far.stderr and "--repo" in far.stderr and far.stderr.count("\n") == 1
    assert not (tmp_path / "far.fits").exists()


def test_batch_cuts_targets_of_a_missing_patch_from_the_neighbour_holding_them(tmp_path):
    repo, tract, home, east, path, near, centre = _lone_neighbour(tmp_path)
    inside_east = tuple(float(v) for v in tract.pixel_to_sky(*east.inner.center))
    targets = tmp_path / "t.csv"
    targets.write_text("id,ra,dec\n" + "".join(f"{name},{ra!r},{dec!r}\n" for name, (ra, dec) in
                                               (("near", near), ("centre", centre), ("east", inside_east))))
    out = tmp_path / "out"
    result = run_cli("--repo", repo.root, "batch", targets, "--band", "r", "--size", "9", "--out", out, "--jobs", "1")
    assert result.returncode == 1, result.stderr  # one row has no data
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert [(r["id"], r["status"]) for r in rows] == [("near", "ok"), ("centre", "no_data"), ("east", "ok")]
    assert "make sample" not in rows[1]["message"] and f"patch {home.index}" in rows[1]["message"]
    box = Box.centered(*(float(v) for v in tract.sky_to_pixel(*near)), 9, 9)
    _assert_cut_from(out / "near_r.fits", path, east.outer, box)
    assert not (out / "centre_r.fits").exists()


def test_the_make_sample_hint_is_only_for_the_bundled_sample_repository(tmp_path):
    import shutil

    from cutout_cli.repository import bundled_sample_repo

    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(Path(bundled_sample_repo()) / "repo.json", copy / "repo.json")
    shutil.copytree(Path(bundled_sample_repo()) / "skymaps", copy / "skymaps")
    absent = ("subset", "--tract", "5063", "--patch", "0", "--band", "r", "--box", "0,0,5,5", "--origin", "local",
              "-o", tmp_path / "x.fits")  # patch 0 is not one of the sample's patches
    bundled = run_cli("--repo", bundled_sample_repo(), *absent)
    assert bundled.returncode == 3 and "make sample" in bundled.stderr, bundled.stderr
    default = run_cli(*absent, env={"CUTOUT_REPO": ""})  # the default repository is the bundled one
    assert default.returncode == 3 and "make sample" in default.stderr, default.stderr
    other = run_cli("--repo", copy, *absent)
    assert other.returncode == 3 and "no deep_coadd for tract 5063 patch 0 band r" in other.stderr, other.stderr
    assert "make sample" not in other.stderr and "check --repo" in other.stderr
