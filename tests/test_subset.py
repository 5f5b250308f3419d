"""`cutout subset` against independent truth: astropy full reads, astropy WCS, Cutout2D."""

from pathlib import Path
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from cutout_cli.sky.box import Box

from .conftest import TARGET_11, run_cli

PLANES = ("IMAGE", "MASK", "VARIANCE")


def _source_path(repo, band="r", position=TARGET_11):
    patch = repo.home(*position)
    return Path(repo.expected_path(None, patch, band)), patch


def _assert_matches_source(cut_path, src_path):
    """Every plane equals the same PARENT box of a full astropy read; WCS agrees to 1e-9 deg."""
    with fits.open(src_path) as src, fits.open(cut_path) as cut:
        assert [h.name for h in cut] == ["PRIMARY", *PLANES]
        x0s, y0s = -int(src["IMAGE"].header["LTV1"]), -int(src["IMAGE"].header["LTV2"])
        for plane in PLANES:
            h = cut[plane].header
            bx, by = int(h["CRVAL1A"]), int(h["CRVAL2A"])
            assert (h["LTV1"], h["LTV2"]) == (-bx, -by)
            assert (h["CTYPE1A"], h["CUNIT1A"], h["EXTTYPE"]) == ("LINEAR", "PIXEL", plane)
            ny, nx = cut[plane].data.shape
            truth = src[plane].data[by - y0s:by - y0s + ny, bx - x0s:bx - x0s + nx]
            assert (cut[plane].data.dtype.kind, cut[plane].data.dtype.itemsize) == (truth.dtype.kind, truth.dtype.itemsize)
            np.testing.assert_array_equal(cut[plane].data, truth)
        assert cut["MASK"].header["MP_DETECTED_NEGATIVE"] == 6
        assert cut["IMAGE"].header["BUNIT"] == "nJy"
        cut_wcs, src_wcs = WCS(cut["IMAGE"].header), WCS(src["IMAGE"].header)
        yy, xx = np.mgrid[0:ny, 0:nx]
        ra_c, dec_c = cut_wcs.wcs_pix2world(xx.ravel(), yy.ravel(), 0)
        ra_s, dec_s = src_wcs.wcs_pix2world(xx.ravel() + bx - x0s, yy.ravel() + by - y0s, 0)
        assert np.max(np.abs(ra_c - ra_s)) < 1e-9 and np.max(np.abs(dec_c - dec_s)) < 1e-9
        return bx, by, nx, ny


@pytest.mark.parametrize("size, pixels", [("31", 31), ("30", 30), ("6arcsec", 30), ("0.1arcmin", 30), ("0.0025deg", 45)])
def test_sky_subset_equals_full_read(small_repo, tmp_path, size, pixels):
    src, patch = _source_path(small_repo)
    out = tmp_path / "cut.fits"
    result = run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1],
                     "--size", size, "--band", "r", "-o", out, "--format", "json")
    assert result.returncode == 0, result.stderr
    bx, by, nx, ny = _assert_matches_source(out, src)
    assert (nx, ny) == (pixels, pixels)
    tract = small_repo.skymap.tract(patch.tract)
    cx, cy = (float(v) for v in tract.sky_to_pixel(*TARGET_11))
    assert Box(bx, by, nx, ny) == Box.centered(cx, cy, pixels, pixels)
    with fits.open(out) as cut:
        primary = cut[0].header
        assert (primary["TRACT"], primary["PATCH"], primary["BAND"]) == (patch.tract, patch.index, "r")
        assert (primary["CUTX0"], primary["CUTY0"], primary["CUTW"], primary["CUTH"]) == (bx, by, nx, ny)


def test_odd_box_matches_astropy_cutout2d(small_repo, tmp_path):
    src, _ = _source_path(small_repo)
    out = tmp_path / "cut.fits"
    assert run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1],
                   "--size", "41", "--band", "r", "-o", out).returncode == 0
    with fits.open(src) as s, fits.open(out) as c:
        x0, y0 = -s["IMAGE"].header["LTV1"], -s["IMAGE"].header["LTV2"]
        bx, by = c["IMAGE"].header["CRVAL1A"], c["IMAGE"].header["CRVAL2A"]
        ref = Cutout2D(s["IMAGE"].data, (bx - x0 + 20, by - y0 + 20), (41, 41), wcs=WCS(s["IMAGE"].header), mode="strict")
        np.testing.assert_array_equal(ref.data, c["IMAGE"].data)
        probe = np.array([[0.0, 0.0], [40.0, 40.0], [13.2, 27.9]])
        np.testing.assert_allclose(ref.wcs.wcs_pix2world(probe, 0), WCS(c["IMAGE"].header).wcs_pix2world(probe, 0),
                                   atol=1e-9, rtol=0)


def test_parent_and_local_boxes_give_the_same_pixels(small_repo, tmp_path):
    src, patch = _source_path(small_repo)
    x0, y0 = patch.outer.begin_x, patch.outer.begin_y
    parent, local = tmp_path / "parent.fits", tmp_path / "local.fits"
    common = ("--repo", small_repo.root, "subset", "--tract", patch.tract, "--patch", patch.index, "--band", "r")
    assert run_cli(*common, "--box", f"{x0 + 30},{y0 + 40},25,16", "-o", parent).returncode == 0
    assert run_cli(*common, "--box", "30,40,25,16", "--origin", "local", "-o", local).returncode == 0
    assert _assert_matches_source(parent, src) == (x0 + 30, y0 + 40, 25, 16)
    with fits.open(parent) as a, fits.open(local) as b:
        for plane in PLANES:
            np.testing.assert_array_equal(a[plane].data, b[plane].data)
    # the same patch by x,y pair
    pair = tmp_path / "pair.fits"
    assert run_cli("--repo", small_repo.root, "subset", "--tract", patch.tract, "--patch", f"{patch.x},{patch.y}",
                   "--band", "r", "--box", "30,40,25,16", "--origin", "local", "-o", pair).returncode == 0


def test_box_partly_outside_partial_and_strict(small_repo, tmp_path):
    src, patch = _source_path(small_repo)
    o = patch.outer
    box = f"{o.end_x - 10},{o.end_y - 6},20,12"  # 10 x 6 px inside, the rest beyond the upper-right corner
    common = ("--repo", small_repo.root, "subset", "--tract", patch.tract, "--patch", patch.index, "--band", "r",
              "--box", box)
    out = tmp_path / "partial.fits"
    result = run_cli(*common, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "beyond the data" in result.stderr
    with fits.open(out) as c, fits.open(src) as s:
        image, mask, variance = c["IMAGE"].data, c["MASK"].data, c["VARIANCE"].data
        assert image.shape == (12, 20)
        np.testing.assert_array_equal(image[:6, :10], s["IMAGE"].data[-6:, -10:])
        np.testing.assert_array_equal(mask[:6, :10], s["MASK"].data[-6:, -10:])
        outside = np.ones((12, 20), bool)
        outside[:6, :10] = False
        assert np.isnan(image[outside]).all() and np.isnan(variance[outside]).all()
        assert (mask[outside] == 1 << 8).all()  # NO_DATA bit from MP_NO_DATA
        assert not np.isnan(image[~outside]).any()
        assert c[0].header["CUTFULL"] is False
    strict = tmp_path / "strict.fits"
    result = run_cli(*common, "--mode", "strict", "-o", strict)
    assert result.returncode == 3 and "not wholly inside" in result.stderr
    assert "Traceback" not in result.stderr and not strict.exists()
    assert list(tmp_path.glob(".*tmp")) == []


def test_box_wholly_outside_is_an_error(small_repo, tmp_path):
    _, patch = _source_path(small_repo)
    result = run_cli("--repo", small_repo.root, "subset", "--tract", patch.tract, "--patch", patch.index,
                     "--band", "r", "--box", "0,0,10,10", "--origin", "local", "-o", tmp_path / "ok.fits")
    assert result.returncode == 0
    result = run_cli("--repo", small_repo.root, "subset", "--tract", patch.tract, "--patch", patch.index,
                     "--band", "r", "--box", "-500,-500,10,10", "--origin", "local", "-o", tmp_path / "out.fits")
    assert result.returncode == 3 and "wholly outside" in result.stderr


def test_existing_output_is_never_clobbered(small_repo, tmp_path):
    out = tmp_path / "cut.fits"
    out.write_bytes(b"earlier result")
    args = ("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "20",
            "--band", "r", "-o", out, "--png", tmp_path / "cut.png")
    result = run_cli(*args)
    assert result.returncode == 4 and "--overwrite" in result.stderr
    assert out.read_bytes() == b"earlier result" and not (tmp_path / "cut.png").exists()
    assert run_cli(*args, "--overwrite").returncode == 0
    with fits.open(out) as c:
        assert c["IMAGE"].data.shape == (20, 20)
    from PIL import Image

    with Image.open(tmp_path / "cut.png") as picture:
        assert picture.size == (20, 20)


def test_planes_option(small_repo, tmp_path):
    out = tmp_path / "image_only.fits"
    assert run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "20",
                   "--band", "r", "--planes", "image", "-o", out).returncode == 0
    with fits.open(out) as c:
        assert [h.name for h in c] == ["PRIMARY", "IMAGE"]
    bad = run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1], "--size", "20",
                  "--band", "r", "--planes", "image,psf", "-o", tmp_path / "x.fits")
    assert bad.returncode == 2 and "PSF" in bad.stderr


def test_plain_fits_file_with_any_celestial_wcs(tmp_path):
    rng = np.random.default_rng(3)
    data = rng.normal(size=(300, 400)).astype("f4")
    header = fits.Header()
    header.update({"CTYPE1": "RA---SIN", "CTYPE2": "DEC--SIN", "CRVAL1": 150.1, "CRVAL2": 2.2, "CRPIX1": 180.5,
                   "CRPIX2": 140.5, "CDELT1": -1e-4, "CDELT2": 1e-4, "PC1_1": 0.8660254, "PC1_2": -0.5,
                   "PC2_1": 0.5, "PC2_2": 0.8660254, "CUNIT1": "deg", "CUNIT2": "deg"})
    src = tmp_path / "plain.fits"
    fits.PrimaryHDU(data, header).writeto(src)
    out = tmp_path / "cut.fits"
    result = run_cli("subset", src, "--ra", "150.1", "--dec", "2.21", "--size", "2.5arcsec", "-o", out)
    assert result.returncode == 0, result.stderr
    with fits.open(out) as c:
        assert [h.name for h in c] == ["PRIMARY", "IMAGE"]
        bx, by = c["IMAGE"].header["CRVAL1A"], c["IMAGE"].header["CRVAL2A"]
        np.testing.assert_array_equal(c["IMAGE"].data, data[by:by + 7, bx:bx + 7])
        src_wcs, cut_wcs = WCS(header), WCS(c["IMAGE"].header)
        x, y = src_wcs.wcs_world2pix(150.1, 2.21, 0)
        assert Box(bx, by, 7, 7) == Box.centered(float(x), float(y), 7, 7)
        probe = np.array([[0.0, 0.0], [6.0, 3.0]])
        np.testing.assert_allclose(cut_wcs.wcs_pix2world(probe, 0), src_wcs.wcs_pix2world(probe + [bx, by], 0),
                                   atol=1e-9, rtol=0)


def test_missing_dataset_names_expected_path(small_repo, tmp_path):
    result = run_cli("--repo", small_repo.root, "subset", "--ra", TARGET_11[0], "--dec", TARGET_11[1],
                     "--size", "20", "--band", "i", "-o", tmp_path / "x.fits")
    assert result.returncode == 3
    assert "expected" in result.stderr and "deep_coadd_" in result.stderr and "bands present for this patch: r, z" in result.stderr


@pytest.mark.parametrize("options, text", [
    ({"band": "r"}, "give one of a sky position, a box or a region (ra/dec/size, box X0,Y0,W,H or pos REGION)"),
    ({"ra": "1", "dec": "2", "box": "1,2,3,4", "band": "r"}, "give one of a sky position"),
    ({"ra": "1", "dec": "2", "band": "r"}, "a sky position needs a size (e.g. size='60arcsec')"),
    ({"ra": "1", "size": "9", "band": "r"}, "a sky position needs both coordinates (give ra and dec)"),
    ({"ra": "1", "dec": "2", "size": "9", "band": "r", "mask_outside": True}, "give mask_outside=True with pos"),
    ({"ra": "1", "dec": "2", "size": "9", "band": "r", "origin": "local"}, "leave out origin='local'"),
    ({"ra": "1", "dec": "2", "size": "9"}, "a repository cutout needs a band"),
    ({"box": "1,2,3,4", "band": "r"}, "give tract (and patch) with box"),
    ({"box": "1,2,3,4", "tract": 5063, "band": "r", "origin": "local"}, "give patch with origin='local'"),
    ({"pos": "CIRCLE 1 2 0.1", "tract": 5063, "band": "r"}, "leave out tract/patch"),
    ({"ra": "1", "dec": "2", "size": "9", "band": "r", "image": True}, "leave out tract/patch/band with a FITS file"),
    ({"box": "1,2,3,4", "tract": 5063, "patch": "a,b", "band": "r"}, "cannot read patch 'a,b'"),
])
def test_request_rules_name_the_parameters(options, text):
    from cutout_cli.cutouts.request import request_from_options
    from cutout_cli.errors import InputError

    with pytest.raises(InputError) as info:
        request_from_options(**options)
    assert text in str(info.value)


def test_requests_from_options():
    from cutout_cli.cutouts.request import BoxRequest, RegionRequest, SkyRequest, request_from_options
    from cutout_cli.sky.parse import parse_size

    from cutout_cli.sky.parse import parse_dec, parse_ra

    assert request_from_options(ra="03:33:16.51", dec="-27:50:39.5", size="60arcsec", band="r") == \
        SkyRequest(parse_ra("03:33:16.51"), parse_dec("-27:50:39.5"), parse_size("60arcsec"))
    assert request_from_options(box="1,2,3,4", tract=5063, patch="4,1", origin="local", band="r") == \
        BoxRequest(Box(1, 2, 3, 4), 5063, (4, 1), "local")
    assert request_from_options(pos="CIRCLE 1 2 0.1", mask_outside=True, image=True) == \
        RegionRequest("CIRCLE 1 2 0.1", True)
