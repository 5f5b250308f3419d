"""The Python API gives the same numbers and pixels as the CLI (issue: notebooks)."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.wcs import WCS
from PIL import Image

from cutout_cli import Box
from cutout_cli.cutouts.handle import open_image

from .conftest import TARGETS_CSV, TARGET_11, make_small_repo, run_cli


def cli_json(repo, *args):
    result = run_cli("--repo", repo.root, *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_query_matches_cli(sample_patch33, small_repo):
    for repo, band in ((sample_patch33, "r"), (small_repo, None)):
        api = [ref.as_dict() for ref in repo.query("deep_coadd", band, *TARGET_11)]
        cli = cli_json(repo, "query", *(["--band", band] if band else []), "--pos", f"{TARGET_11[0]} {TARGET_11[1]}")
        assert api == cli and sum(r["home"] for r in api) == len({r["band"] for r in api})
    assert repo.query(pos=f"CIRCLE {TARGET_11[0]} {TARGET_11[1]} 0.05")


@pytest.mark.parametrize("origin", ["parent", "local"])
def test_patch_boxes_match_cli(sample_patch33, origin):
    tract = sample_patch33.skymap.find_tract(*TARGET_11)
    patch = tract.find_patch(*TARGET_11)
    box = patch.get_bbox(origin)
    cli = cli_json(sample_patch33, "bbox", "--tract", tract.id, "--patch", patch.index, "--origin", origin)
    assert box.as_dict() == {k: cli[k] for k in box.as_dict()}
    assert (box.width, box.height) == (3400, 3400)
    assert (box.min_x, box.max_x) == ((8800, 12199) if origin == "parent" else (0, 3399))
    with sample_patch33.deferred(sample_patch33.ref("deep_coadd", tract.id, patch.index, "r")) as handle:
        assert handle.bbox == patch.get_bbox("parent")  # the file's own XY0 and dimensions


@pytest.mark.parametrize("size", [50, 51, 300, 301])
def test_centred_boxes_match_cli(sample_patch33, size):
    tract = sample_patch33.skymap.find_tract(*TARGET_11)
    x, y = (float(v) for v in tract.sky_to_pixel(*TARGET_11))
    box = Box.centered(x, y, size, size)
    cli = cli_json(sample_patch33, "bbox", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", size)
    assert box.as_dict() == {k: cli[k] for k in box.as_dict()}
    assert (cli["center_x"], cli["center_y"]) == pytest.approx((x, y), abs=1e-9)
    assert Box.from_min_max(box.min_x, box.min_y, box.max_x, box.max_y) == box
    assert Box.from_corner_size(box.begin_x, box.begin_y, size, size) == box


def test_sky_subset_xy0_and_pixels_match_cli(sample_patch33, tmp_path):
    cutout = sample_patch33.cutout(*TARGET_11, "60arcsec", band="r")
    out = tmp_path / "cli.fits"
    (record,) = cli_json(sample_patch33, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "60arcsec",
                      "--band", "r", "-o", out)
    assert cutout.xy0 == (record["begin_x"], record["begin_y"]) == (11169, 9020)
    assert cutout.bbox.width == 300 and cutout.unit == "nJy" and cutout.mask_planes["DETECTED"] == 5
    with fits.open(out) as cli_file:
        for plane in ("IMAGE", "MASK", "VARIANCE"):
            np.testing.assert_array_equal(cutout.planes[plane], cli_file[plane].data)
        probe = np.array([[0.0, 0.0], [299.0, 299.0], [150.5, 20.25]])
        np.testing.assert_allclose(WCS(cli_file["IMAGE"].header).wcs_pix2world(probe, 0),
                                   cutout.wcs.wcs_pix2world(probe, 0), atol=1e-10, rtol=0)
    api_file = tmp_path / "api.fits"
    cutout.writeto(api_file)
    with fits.open(api_file) as a, fits.open(out) as b:
        for hdu_a, hdu_b in zip(a, b):
            assert hdu_a.name == hdu_b.name
            keys = [k for k in hdu_b.header if k not in ("DATE", "CHECKSUM", "DATASUM")]
            assert [(k, hdu_a.header[k]) for k in keys] == [(k, hdu_b.header[k]) for k in keys]


def test_local_and_parent_get_agree(sample_patch33):
    ref = sample_patch33.query("deep_coadd", "r", *TARGET_11)[0]
    with sample_patch33.deferred(ref) as handle:
        parent = handle.get(Box.from_corner_size(9000, 9100, 40, 30))
        local = handle.get(Box.from_corner_size(200, 300, 40, 30), origin="local")
        assert handle.opens == 1
    np.testing.assert_array_equal(parent.image, local.image)
    assert parent.xy0 == local.xy0 == (9000, 9100)


def test_target_loop_one_deferred_handle_per_coadd(tmp_path):
    """The tutorial's loop: findTract/findPatch per target, one deferred handle (one open) per coadd."""
    with open(TARGETS_CSV, newline="") as handle:
        targets = list(csv.DictReader(handle))
    positions = [(float(t["ra"]), float(t["dec"])) for t in targets]
    repo = make_small_repo(tmp_path / "repo", positions, bands=("z",))
    handles, cutouts = {}, {}
    for t, (ra, dec) in zip(targets, positions):
        tract = repo.skymap.find_tract(ra, dec)
        patch = tract.find_patch(ra, dec)
        key = (tract.id, patch.index)
        if key not in handles:
            handles[key] = repo.deferred(repo.ref("deep_coadd", tract.id, patch.index, "z"))
        cutouts[t["id"]] = handles[key].cutout(ra, dec, 21, frame=tract)
    assert all(h.opens == 1 for h in handles.values()) and len(cutouts) == 27
    for h in handles.values():
        h.close()
    out = tmp_path / "batch"
    rows = repo.batch(TARGETS_CSV, out, size=21, band="z")
    assert [r["status"] for r in rows] == ["ok"] * 27
    cli = run_cli("--repo", repo.root, "batch", TARGETS_CSV, "--size", "21", "--band", "z",
                  "--out", tmp_path / "cli")
    assert cli.returncode == 0, cli.stderr
    for tid, cutout in cutouts.items():
        with fits.open(out / f"{tid}_z.fits") as api_file, fits.open(tmp_path / "cli" / f"{tid}_z.fits") as cli_file:
            for plane in ("IMAGE", "MASK", "VARIANCE"):
                np.testing.assert_array_equal(cutout.planes[plane], api_file[plane].data)
                np.testing.assert_array_equal(cutout.planes[plane], cli_file[plane].data)


def test_ccddata_round_trip_keeps_wcs(sample_patch33, tmp_path):
    cutout = sample_patch33.cutout(*TARGET_11, 41, band="r")
    ccd = cutout.to_ccddata()
    path = tmp_path / "ccd.fits"
    ccd.write(path)
    back = CCDData.read(path)
    np.testing.assert_array_equal(back.data, cutout.image)
    np.testing.assert_array_equal(back.uncertainty.array, cutout.variance)
    assert back.unit == "nJy"
    pixels = np.array([[0, 0], [40, 40], [20.5, 3.25]])
    np.testing.assert_allclose(back.wcs.wcs_pix2world(pixels, 0), cutout.wcs.wcs_pix2world(pixels, 0), atol=1e-10)
    source_wcs = WCS(fits.getheader(cutout.source, "IMAGE"))
    x0, y0 = -fits.getheader(cutout.source, "IMAGE")["LTV1"], -fits.getheader(cutout.source, "IMAGE")["LTV2"]
    shifted = pixels + [cutout.xy0[0] - x0, cutout.xy0[1] - y0]
    np.testing.assert_allclose(back.wcs.wcs_pix2world(pixels, 0), source_wcs.wcs_pix2world(shifted, 0), atol=1e-10)
    nd = cutout.to_nddata()
    assert nd.mask.dtype == bool and nd.meta["xy0"] == cutout.xy0


def test_repr_png_is_north_up_east_left(tmp_path):
    """Blobs placed by the WCS north and east of the centre appear up and left in the picture."""
    header = fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 53.0, "CRVAL2": -27.5,
                          "CRPIX1": 100.5, "CRPIX2": 100.5, "CD1_1": -0.2 / 3600, "CD1_2": 0.0, "CD2_1": 0.0,
                          "CD2_2": 0.2 / 3600})
    wcs = WCS(header)
    yy, xx = np.mgrid[0:200, 0:200]
    image = np.random.default_rng(1).normal(0, 1, (200, 200)).astype("f4")
    step = 8 / 3600
    for ra, dec, flux in ((53.0, -27.5 + step, 500), (53.0 + step / np.cos(np.radians(27.5)), -27.5, 200)):
        x, y = wcs.wcs_world2pix(ra, dec, 0)
        image += flux * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8)
    path = tmp_path / "plain.fits"
    fits.PrimaryHDU(image, header).writeto(path)
    with open_image(path) as handle:
        cutout = handle.cutout(53.0, -27.5, 101)
    picture = np.asarray(Image.open(io.BytesIO(cutout._repr_png_())))
    assert picture.shape == (101, 101)
    # the blobs sit 40 px from the centre; picture row 0 is the top
    def level(row, col):
        return picture[row - 2:row + 3, col - 2:col + 3].mean()

    assert level(10, 50) > 200 and level(10, 50) > level(90, 50) + 60   # north is up
    assert level(50, 10) > 150 and level(50, 10) > level(50, 90) + 40   # east is left
    assert "<img" in cutout._repr_html_()


def test_display_grid_of_cutouts(sample_patch33):
    from cutout_cli.display import grid

    cutouts = [sample_patch33.cutout(*TARGET_11, 31, band="r"), None]
    picture = grid(cutouts, labels=["11", "missing"], panel_size=64)
    assert picture.mode == "RGB" and picture.size[0] >= 128


def test_display_works_without_matplotlib(sample_patch33, tmp_path):
    """A notebook without matplotlib: a cutout, its PNG, a grid and its file, with matplotlib unimportable."""
    code = f"""
import sys
sys.modules["matplotlib"] = None  # any import of matplotlib raises ImportError
from PIL import Image
from cutout_cli import Repository
from cutout_cli.display import grid, write_grid
repo = Repository({str(sample_patch33.root)!r})
cuts = [repo.cutout({TARGET_11[0]}, {TARGET_11[1]}, 31, band="r"), None]
picture = grid(cuts, ["11", "none"], panel_size=64, title="t", limits="zscale", scale="panel")
assert isinstance(picture, Image.Image) and picture.mode == "RGB", type(picture)
path = write_grid({str(tmp_path / "g.png")!r}, cuts, ["11", "none"], panel_size=64, title="t")
cuts[0].to_png({str(tmp_path / "c.png")!r})
assert "<img" in cuts[0]._repr_html_()
print(type(path).__name__, Image.open(path).size == picture.size)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["PosixPath", "True"]


def test_import_is_cheap():
    code = ("import sys, cutout_cli; from cutout_cli import Repository, Box; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'dask', 'fsspec', 'astropy', 'fitsio', 'PIL'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, cutout_cli.cli; print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'astropy', 'fitsio'}))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
