"""Files written by Rubin's ``lsst-images`` package, read by cutout, checked against lsst.images' own reads.

The files are real: ``tests/lsst_images_files.py`` makes them with the package's public
constructors and writes them with its own writer, once per session, small (at most 1000 x 800 px).
Kinds: MaskedImage with GZIP_2, lossy16 and no compression; a VisitImage (TAN-SIP, visit mask planes,
NO_DATA bit 7); a CellCoadd (150 px cells, a missing cell, PSF per cell); a MaskedImage whose projection
has no FITS form (``astonly``), the same with a TAN ``fits_approximation`` (``fitsapprox``); and a
40-plane mask (two MASK HDUs).  Truth is ``lsst.images.serialization.read_archive(path, bbox=...)``:
pixels, every mask plane by name (``Mask.get``) and the exact sky projection
(``SkyProjection.pixel_to_sky`` / ``sky_to_pixel``).  cutout runs as the real program (subprocess) and
through its Python API.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from cutout_cli import Box, CoaddFile, ReadOptions, extract

from . import lsst_images_files as L
from .bad_input_cases import without_package
from .conftest import run_cli

KINDS = L.KINDS
WIGGLE = ("astonly", "fitsapprox")
DATA_MODEL = {"visit_image": "visit_image", "cell_coadd": "cell_coadd"}
MAX_MAS = 1.0
FORBIDDEN_PRIMARY = ("FMTVER", "INDXADDR", "INDXSIZE", "JSONADDR", "JSONSIZE", "DATAMODL")
BAD_NEW_NAMES = ("BAD", "SATURATED", "NO_DATA", "SUSPECT")


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def li_files(tmp_path_factory):
    """``{kind: path}`` of every kind, written once per session."""
    return L.write_files(tmp_path_factory.mktemp("lsst_images"))


@pytest.fixture(scope="session")
def li_out(tmp_path_factory):
    return tmp_path_factory.mktemp("lsst_images_out")


_CUTS: dict = {}


def cut(li_files, li_out, kind, *args, tag):
    """``(CompletedProcess, output path)`` of ``cutout subset <kind file> *args -o <out>``, run once per tag."""
    key = (kind, tag)
    if key not in _CUTS:
        out = li_out / f"{kind}_{tag}.fits"
        result = run_cli("subset", li_files[kind], *args, "-o", out, "--overwrite", "--format", "json")
        _CUTS[key] = (result, out)
    return _CUTS[key]


def image_box(kind):
    return L.BOXES[kind]


def inside_300(kind):
    """A 300 x 300 box inside the image of ``kind``."""
    x0, y0, _, _ = image_box(kind)
    return (x0 + 40, y0 + 25, 300, 300)


def target_box(li_files, kind, size=50):
    """lsst.images' own box for target 11: the exact centre, lsst.geom makeCenteredBox rounding."""
    t = L.full_truth(li_files[kind])
    cx, cy = (float(v) for v in t.sky_to_pixel(L.RA11, L.DEC11))
    return (math.floor(cx - size / 2 + 1), math.floor(cy - size / 2 + 1), size, size), (cx, cy)


def across_edge(kind):
    """A 80 x 60 box over the image's top-right corner (the NO_DATA corner), partly outside."""
    x0, y0, w, h = image_box(kind)
    return (x0 + w - 50, y0 + h - 30, 80, 60)


def cli_box(box):
    return ",".join(str(v) for v in box)


def sky_cut(li_files, li_out, kind, size=50):
    return cut(li_files, li_out, kind, "--ra", L.RA11, "--dec", L.DEC11, "--size", size, tag=f"sky{size}")


def box_cut(li_files, li_out, kind, box, tag):
    return cut(li_files, li_out, kind, "--box", cli_box(box), tag=tag)


def check_ok(result):
    assert result.returncode == 0, f"rc {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"


def out_box(hdul):
    """PARENT ``(x0, y0, w, h)`` of an output file (primary CUTX0/CUTY0, else the IMAGE A WCS)."""
    primary, image = hdul[0].header, hdul["IMAGE"].header
    if "CUTX0" in primary:
        x0, y0 = int(primary["CUTX0"]), int(primary["CUTY0"])
    else:
        x0 = int(round(image["CRVAL1A"] - (image.get("CRPIX1A", 1.0) - 1)))
        y0 = int(round(image["CRVAL2A"] - (image.get("CRPIX2A", 1.0) - 1)))
    return (x0, y0, int(image["NAXIS1"]), int(image["NAXIS2"]))


def output_mask_planes(hdul):
    """``{name: boolean array}`` of every MASK HDU of an output, from its MSKN/MSKM cards."""
    planes = {}
    for hdu in hdul:
        if hdu.name != "MASK":
            continue
        data = np.asarray(hdu.data)
        for key in hdu.header:
            if key.startswith("MSKN"):
                value = int(hdu.header["MSKM" + key[4:]])
                planes[hdu.header[key]] = (data & value) != 0
    return planes


def inner_slices(box, inner):
    """Array slices of box ``inner`` within the array of box ``box`` (both PARENT ``(x0, y0, w, h)``)."""
    dx, dy = inner[0] - box[0], inner[1] - box[1]
    return slice(dy, dy + inner[3]), slice(dx, dx + inner[2])


def assert_same(actual, expected, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.dtype.kind == "f":
        same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    else:
        same = actual == expected
    assert same.all(), f"{what}: {int((~same).sum())} of {same.size} pixels differ"


def sep_mas(ra1, dec1, ra2, dec2):
    """Great-circle separation (mas), small-angle form."""
    dra = (np.asarray(ra1) - np.asarray(ra2) + 180.0) % 360.0 - 180.0
    return np.hypot(dra * np.cos(np.radians(dec2)), np.asarray(dec1) - np.asarray(dec2)) * 3.6e6


def sample_points(box):
    """Local pixel positions: 4 corners, centre and a 10 x 10 grid."""
    _, _, w, h = box
    xs = [0, w - 1, w - 1, 0, (w - 1) / 2]
    ys = [0, 0, h - 1, h - 1, (h - 1) / 2]
    gx, gy = np.meshgrid(np.linspace(0, w - 1, 10), np.linspace(0, h - 1, 10))
    return np.concatenate([xs, gx.ravel()]), np.concatenate([ys, gy.ravel()])




# -- 0. the fixture files are what lsst_images_files says -------------------------------------------
def test_fixture_files_are_as_described(li_files):
    """Sanity of the generator: compression, MASK HDUs, header WCS present/absent/approximate."""
    expect_compression = {"masked_gzip2": ("GZIP_2", "GZIP_2"), "masked_lossy16": ("RICE_1", "GZIP_2"),
                          "masked_uncompressed": (None, None), "visit_image": ("RICE_1", "GZIP_2"),
                          "cell_coadd": ("GZIP_2", "GZIP_2")}
    for kind, (image_alg, mask_alg) in expect_compression.items():
        with fits.open(li_files[kind], disable_image_compression=True) as hdul:
            assert hdul["IMAGE"].header.get("ZCMPTYPE") == image_alg, kind
            assert hdul["MASK"].header.get("ZCMPTYPE") == mask_alg, kind
            if kind == "cell_coadd":
                assert (hdul["IMAGE"].header["ZTILE1"], hdul["IMAGE"].header["ZTILE2"]) == (150, 150)
    with fits.open(li_files["mask40"]) as hdul:
        assert [h.ver for h in hdul if h.name == "MASK"] == [1, 2]
    with fits.open(li_files["astonly"]) as hdul:
        assert "CTYPE1" not in hdul["IMAGE"].header and hdul["IMAGE"].header["CTYPE1A"] == "LINEAR"
    box = (11294, 9145, 50, 50)
    t = L.truth(li_files["fitsapprox"], box)
    assert t.obj.sky_projection.fits_approximation is not None
    with fits.open(li_files["fitsapprox"]) as hdul:
        header_wcs = WCS(hdul["IMAGE"].header)
    x0, y0 = L.BOXES["fitsapprox"][:2]
    lx, ly = sample_points(box)
    ra, dec = header_wcs.all_pix2world(lx + box[0] - x0, ly + box[1] - y0, 0)
    assert float(sep_mas(ra, dec, *t.sky(lx + box[0], ly + box[1])).max()) > 20.0
    for kind in KINDS:
        t = L.full_truth(li_files[kind])
        assert t.type_name == L.TYPES.get(kind, "MaskedImage")
        x, y = t.sky_to_pixel(L.RA11, L.DEC11)
        bx, by, bw, bh = L.BOXES[kind]
        assert bx + 30 < x < bx + bw - 30 and by + 30 < y < by + bh - 30, kind
        assert t.schema.index("NO_DATA") == L.NO_DATA_BIT[kind]
        assert t.mask_planes["NO_DATA"].any()


# -- 1. data model ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_data_model(li_files, kind):
    with CoaddFile(li_files[kind]) as coadd:
        assert coadd.data_model == DATA_MODEL.get(kind, "masked_image")


def test_data_model_none_for_other_files(tmp_path):
    path = tmp_path / "plain.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((20, 30), np.float32))]).writeto(path)
    with CoaddFile(path) as coadd:
        assert coadd.data_model is None


# -- 2. mask planes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_mask_plane_bits(li_files, kind):
    """{name: bit} from the MSKN/MSKM cards of every MASK HDU = lsst.images' schema order."""
    schema = L.truth(li_files[kind], (image_box(kind)[0], image_box(kind)[1], 2, 2)).schema
    expected = {name: n for n, name in enumerate(schema)}
    with CoaddFile(li_files[kind]) as coadd:
        assert coadd.mask_planes == expected
        cutout = extract(coadd, Box.from_corner_size(*target_box(li_files, kind)[0][:2], 20, 20))
        assert cutout.mask_planes == expected
        assert cutout.mask.dtype == (np.int64 if len(schema) > 31 else np.int32)


@pytest.mark.parametrize("where", ["inside", "across_edge"])
@pytest.mark.parametrize("kind", KINDS)
def test_mask_plane_pixels(li_files, kind, where):
    """Every plane's pixels, by bit, equal lsst.images' plane, inside the image and across its edge."""
    box = inside_300(kind) if where == "inside" else across_edge(kind)
    inner = L.intersect(box, image_box(kind))
    t = L.truth(li_files[kind], inner)
    with CoaddFile(li_files[kind]) as coadd:
        cutout = extract(coadd, Box.from_corner_size(*box), ReadOptions(mode="partial"))
    mask = np.asarray(cutout.mask)
    assert mask.shape == (box[3], box[2])
    sl = inner_slices(box, inner)
    for name in t.schema:
        bit = cutout.mask_planes[name]
        assert_same(((mask[sl] >> bit) & 1) != 0, t.mask_planes[name], f"{kind} plane {name}")
    assert_same(cutout.image[sl], t.image, f"{kind} IMAGE")
    assert_same(cutout.variance[sl], t.variance, f"{kind} VARIANCE")


def test_mask40_high_planes_set(li_files):
    """Plane P35 (MASK EXTVER 2, bit 4 there) is bit 35 of the cutout's int64 mask."""
    box = (11300, 9150, 20, 20)
    with CoaddFile(li_files["mask40"]) as coadd:
        cutout = extract(coadd, Box.from_corner_size(*box))
    assert cutout.mask_planes["P35"] == 35
    assert ((np.asarray(cutout.mask) >> 35) & 1).all()
    assert_same(((np.asarray(cutout.mask) >> 35) & 1) != 0, L.truth(li_files["mask40"], box).mask_planes["P35"], "P35")


# -- 3. NO_DATA by name --------------------------------------------------------------------------------
def outside_part(box, kind):
    """Boolean array (box shape): pixels outside the image of ``kind``."""
    x0, y0, w, h = box
    ix0, iy0, iw, ih = image_box(kind)
    yy, xx = np.mgrid[y0:y0 + h, x0:x0 + w]
    return (xx < ix0) | (xx >= ix0 + iw) | (yy < iy0) | (yy >= iy0 + ih)


@pytest.mark.parametrize("kind", KINDS)
def test_partial_fill_api(li_files, kind):
    box = across_edge(kind)
    with CoaddFile(li_files[kind]) as coadd:
        cutout = extract(coadd, Box.from_corner_size(*box), ReadOptions(mode="partial"))
    outside = outside_part(box, kind)
    assert outside.any() and not outside.all()
    assert (np.asarray(cutout.mask)[outside] == 1 << L.NO_DATA_BIT[kind]).all()
    assert np.isnan(cutout.image[outside]).all() and np.isnan(cutout.variance[outside]).all()
    assert cutout.no_data_value == 1 << L.NO_DATA_BIT[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_partial_fill_cli(li_files, li_out, kind):
    box = across_edge(kind)
    result, out = cut(li_files, li_out, kind, "--box", cli_box(box), "--mode", "partial", tag="edge")
    check_ok(result)
    outside = outside_part(box, kind)
    with fits.open(out) as hdul:
        assert out_box(hdul) == box
        masks = [np.asarray(h.data).astype(np.int64) for h in hdul if h.name == "MASK"]
        assert (masks[0][outside] == 1 << L.NO_DATA_BIT[kind]).all()
        for more in masks[1:]:
            assert (more[outside] == 0).all()
        assert np.isnan(hdul["IMAGE"].data[outside]).all()
        assert np.isnan(hdul["VARIANCE"].data[outside]).all()
        planes = output_mask_planes(hdul)
        image, variance = np.asarray(hdul["IMAGE"].data), np.asarray(hdul["VARIANCE"].data)
    inner = L.intersect(box, image_box(kind))
    t = L.truth(li_files[kind], inner)
    sl = inner_slices(box, inner)
    assert_same(image[sl], t.image, f"{kind} IMAGE inside")
    assert_same(variance[sl], t.variance, f"{kind} VARIANCE inside")
    for name in t.schema:
        assert_same(planes[name][sl], t.mask_planes[name], f"{kind} plane {name} inside")


@pytest.mark.parametrize("kind", KINDS)
def test_mask_outside_sets_no_data(li_files, li_out, kind):
    """``--pos CIRCLE --mask-outside``: NO_DATA (the file's bit) outside the circle, the source inside."""
    radius = 0.002
    result, out = cut(li_files, li_out, kind, "--pos", f"CIRCLE {L.RA11} {L.DEC11} {radius}", "--mask-outside",
                      tag="circle")
    check_ok(result)
    with fits.open(out) as hdul:
        box = out_box(hdul)
        mask = np.asarray(hdul["MASK"].data)
        image = np.asarray(hdul["IMAGE"].data)
    inner = L.intersect(box, image_box(kind))
    assert inner == box, "the circle lies inside every image"
    t = L.truth(li_files[kind], box)
    yy, xx = np.mgrid[box[1]:box[1] + box[3], box[0]:box[0] + box[2]]
    ra, dec = t.sky(xx.ravel(), yy.ravel())
    dist = sep_mas(ra, dec, L.RA11, L.DEC11).reshape(xx.shape) / 3.6e6
    no_data = 1 << L.NO_DATA_BIT[kind]
    far, near = dist > radius + 0.5 / 3600, dist < radius - 0.5 / 3600
    assert far.any() and near.any()
    assert ((mask[far] & no_data) != 0).all()
    assert np.isnan(image[far]).all()
    source_mask = sum((t.mask_planes[n].astype(np.int64) << b) for b, n in enumerate(t.schema) if b < 31)
    assert (mask[near] == source_mask[near]).all()
    assert_same(image[near], t.image[near], "IMAGE inside the circle")


# -- 4. names afw <-> lsst.images ---------------------------------------------------------------------
def test_legacy_names_table():
    from cutout_cli.fits import mask_schema

    assert mask_schema.LEGACY_NAMES == {"SAT": "SATURATED", "INTRP": "INTERPOLATED", "CR": "COSMIC_RAY",
                                        "EDGE": "DETECTION_EDGE", "UNMASKEDNAN": "UNMASKED_NAN"}


@pytest.mark.parametrize("kind", KINDS)
def test_bad_pixels_by_new_names(li_files, kind):
    """bad_pixels() and to_nddata().mask flag SATURATED and NO_DATA (afw's SAT, NO_DATA)."""
    box = image_box(kind)
    t = L.truth(li_files[kind], box)
    expected = np.zeros((box[3], box[2]), bool)
    for name in BAD_NEW_NAMES:
        if name in t.mask_planes:
            expected |= t.mask_planes[name]
    assert t.mask_planes["NO_DATA"].any()
    if "SATURATED" in t.mask_planes and kind != "mask40":
        assert t.mask_planes["SATURATED"].any()
    with CoaddFile(li_files[kind]) as coadd:
        cutout = extract(coadd, Box.from_corner_size(*box))
    assert_same(cutout.bad_pixels(), expected, f"{kind} bad_pixels")
    assert_same(np.asarray(cutout.to_nddata().mask), expected, f"{kind} to_nddata().mask")
    if "SATURATED" in t.mask_planes:
        assert_same(cutout.bad_pixels(("SAT",)), t.mask_planes["SATURATED"], "SAT -> SATURATED")
        assert_same(cutout.bad_pixels(("INTRP",)), t.mask_planes["INTERPOLATED"], "INTRP -> INTERPOLATED")


# -- 5. output files ------------------------------------------------------------------------------------
def output_for(li_files, li_out, kind, size):
    """``(result, out path, PARENT box)``: 50 px = the target-11 sky box, 300 px = a --box inside."""
    if size == 50:
        result, out = sky_cut(li_files, li_out, kind)
        box = target_box(li_files, kind)[0]
    else:
        box = inside_300(kind)
        result, out = box_cut(li_files, li_out, kind, box, "box300")
    return result, out, box


@pytest.mark.parametrize("size", [50, 300])
@pytest.mark.parametrize("kind", KINDS)
def test_output_pixels(li_files, li_out, kind, size):
    result, out, box = output_for(li_files, li_out, kind, size)
    check_ok(result)
    t = L.truth(li_files[kind], box)
    with fits.open(out) as hdul:
        assert out_box(hdul) == box
        assert_same(hdul["IMAGE"].data, t.image, f"{kind} IMAGE")
        assert_same(hdul["VARIANCE"].data, t.variance, f"{kind} VARIANCE")
        planes = output_mask_planes(hdul)
    assert sorted(planes) == sorted(t.schema)
    for name in t.schema:
        assert_same(planes[name], t.mask_planes[name], f"{kind} plane {name}")


@pytest.mark.parametrize("kind", KINDS)
def test_output_primary_has_no_container_cards(li_files, li_out, kind):
    result, out, _ = output_for(li_files, li_out, kind, 50)
    check_ok(result)
    with fits.open(out) as hdul:
        primary = hdul[0].header
        present = [key for key in FORBIDDEN_PRIMARY if key in primary]
        present += [key for key in primary if key.upper().startswith("LSST BUTLER")]
        assert present == []
        assert [h.name for h in hdul if h.name in ("JSON", "INDEX")] == []


def test_output_mask40_two_mask_hdus(li_files, li_out):
    result, out, box = output_for(li_files, li_out, "mask40", 300)
    check_ok(result)
    schema = L.mask40_schema()
    names = [p.name for p in schema]
    with fits.open(out) as hdul:
        masks = [h for h in hdul if h.name == "MASK"]
        assert [h.ver for h in masks] == [1, 2]
        for extver, hdu in enumerate(masks, start=1):
            chunk = names[31 * (extver - 1):31 * extver]
            header = hdu.header
            got = {header[k]: int(header["MSKM" + k[4:]]) for k in header if k.startswith("MSKN")}
            assert got == {name: 1 << n for n, name in enumerate(chunk)}
            for name in chunk:
                assert f"MP_{name}" in header, f"MASK EXTVER {extver} has no MP_{name}"
            assert hdu.data.dtype.kind == "i" and hdu.data.dtype.itemsize == 4
    # P35 rows of the truth are in the second MASK HDU
    t = L.truth(li_files["mask40"], box)
    assert t.mask_planes["P35"].any()


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "mask40"])
def test_output_read_by_lsst_images_from_hdu_list(li_files, li_out, kind):
    """``MaskedImage.from_hdu_list`` (the dax_images_cutout reader) reads the output: bbox, planes, pixels.

    (It refuses files with several MASK HDUs by design, so the 40-plane output is not read this way.)
    """
    from lsst.images import MaskedImage

    result, out, box = output_for(li_files, li_out, kind, 50)
    check_ok(result)
    t = L.truth(li_files[kind], box)
    with fits.open(out) as hdul:
        obj = MaskedImage.from_hdu_list(hdul)
        assert obj.bbox == L.lsst_box(box)
        assert [p.name for p in obj.mask.schema if p is not None] == t.schema
        assert_same(obj.image.array, t.image, "IMAGE")
        assert_same(obj.variance.array, t.variance, "VARIANCE")
        for name in t.schema:
            assert_same(obj.mask.get(name), t.mask_planes[name], f"plane {name}")


# -- 6. sky -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [50, 300])
@pytest.mark.parametrize("kind", KINDS)
def test_output_wcs_matches_exact_projection(li_files, li_out, kind, size):
    result, out, box = output_for(li_files, li_out, kind, size)
    check_ok(result)
    with fits.open(out) as hdul:
        header = hdul["IMAGE"].header
        assert out_box(hdul) == box
        wcs = WCS(header)
    assert wcs.has_celestial, f"{kind}: the output IMAGE header has no celestial WCS"
    lx, ly = sample_points(box)
    ra, dec = wcs.all_pix2world(lx, ly, 0)
    t = L.truth(li_files[kind], box)
    era, edec = t.sky(lx + box[0], ly + box[1])
    worst = float(sep_mas(ra, dec, era, edec).max())
    assert worst < MAX_MAS, f"{kind}: output WCS is {worst:.3f} mas off lsst.images' projection"
    if kind in WIGGLE:
        assert header["CTYPE1"] == "RA---TAN-SIP" and header["CTYPE2"] == "DEC--TAN-SIP"
        assert 0 <= float(header["WCSFITMX"]) < MAX_MAS
        assert int(header["WCSFITOR"]) == int(header["A_ORDER"])


@pytest.mark.parametrize("kind", KINDS)
def test_api_wcs_matches_exact_projection(li_files, kind):
    """``Cutout.wcs`` of a 50 px box (the target-11 box) agrees with the exact projection."""
    box = target_box(li_files, kind)[0]
    with CoaddFile(li_files[kind]) as coadd:
        cutout = extract(coadd, Box.from_corner_size(*box))
    lx, ly = sample_points(box)
    ra, dec = cutout.wcs.all_pix2world(lx, ly, 0)
    era, edec = L.truth(li_files[kind], box).sky(lx + box[0], ly + box[1])
    assert float(sep_mas(ra, dec, era, edec).max()) < MAX_MAS


@pytest.mark.parametrize("kind", KINDS)
def test_sky_box_choice_is_lsst_images_own(li_files, li_out, kind):
    result, out = sky_cut(li_files, li_out, kind)
    check_ok(result)
    expected, (cx, cy) = target_box(li_files, kind)
    (record,) = json.loads(result.stdout)  # subset prints a list, one record per cutout
    assert (record["begin_x"], record["begin_y"], record["width"], record["height"]) == expected
    with fits.open(out) as hdul:
        assert out_box(hdul) == expected


# -- 7. without starlink-pyast --------------------------------------------------------------------------
def without_pyast(tmp: Path) -> dict:
    """Environment under which ``import starlink`` fails (a sitecustomize that refuses the import)."""
    return without_package(tmp, "starlink")


def test_refusal_really_hides_pyast(tmp_path):
    import subprocess

    env = {**__import__("os").environ, **without_pyast(tmp_path)}
    result = subprocess.run([sys.executable, "-c", "import starlink.Ast"], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "starlink" in result.stderr


@pytest.mark.parametrize("kind", WIGGLE)
def test_sky_request_without_pyast_exits_5(li_files, tmp_path, kind):
    result = run_cli("subset", li_files[kind], "--ra", L.RA11, "--dec", L.DEC11, "--size", 50,
                     "-o", tmp_path / "out.fits", env=without_pyast(tmp_path))
    assert result.returncode == 5, f"rc {result.returncode}\n{result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "starlink-pyast" in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.fits").exists()


def test_box_request_without_pyast_works(li_files, tmp_path):
    box = (11294, 9145, 50, 50)
    result = run_cli("subset", li_files["astonly"], "--box", cli_box(box), "-o", tmp_path / "out.fits",
                     env=without_pyast(tmp_path))
    check_ok(result)
    t = L.truth(li_files["astonly"], box)
    with fits.open(tmp_path / "out.fits") as hdul:
        assert out_box(hdul) == box
        assert_same(hdul["IMAGE"].data, t.image, "IMAGE")


# -- 8. --output-format lsst-images -------------------------------------------------------------------
CELL_2X2_BOX = (11220, 9120, 60, 60)  # crosses the cell boundaries x = 11250 and y = 9150


def lsst_output(li_files, li_out, kind, box=None):
    if box is None:
        return cut(li_files, li_out, kind, "--ra", L.RA11, "--dec", L.DEC11, "--size", 50,
                   "--output-format", "lsst-images", tag="li50"), target_box(li_files, kind)[0]
    return cut(li_files, li_out, kind, "--box", cli_box(box), "--output-format", "lsst-images",
               tag="li_box"), box


@pytest.mark.parametrize("kind", KINDS)
def test_output_format_lsst_images(li_files, li_out, kind):
    (result, out), box = lsst_output(li_files, li_out, kind)
    check_ok(result)
    t = L.truth(li_files[kind], box)
    got = L.read(out)
    assert type(got).__name__ == t.type_name == L.TYPES.get(kind, "MaskedImage")
    assert got.bbox == L.lsst_box(box)
    assert_same(got.image.array, t.image, "IMAGE")
    assert_same(got.variance.array, t.variance, "VARIANCE")
    assert [p.name for p in got.mask.schema if p is not None] == t.schema
    for name in t.schema:
        assert_same(got.mask.get(name), t.mask_planes[name], f"plane {name}")
    lx, ly = sample_points(box)
    gra, gdec = (np.asarray(v) for v in (lambda c: (c.ra.deg, c.dec.deg))(
        got.sky_projection.pixel_to_sky(x=lx + box[0], y=ly + box[1])))
    era, edec = t.sky(lx + box[0], ly + box[1])
    assert float(sep_mas(gra, gdec, era, edec).max()) < MAX_MAS


def test_output_format_lsst_images_cell_psfs(li_files, li_out):
    """A box over parts of 2 x 2 cells: the output CellCoadd has those 4 cells' PSFs, as lsst.images reads."""
    (result, out), box = lsst_output(li_files, li_out, "cell_coadd", CELL_2X2_BOX)
    check_ok(result)
    expected = L.read(li_files["cell_coadd"], box)
    got = L.read(out)
    assert type(got).__name__ == "CellCoadd"
    assert got.bbox == L.lsst_box(box)
    assert got.psf.bounds == expected.psf.bounds
    cells = list(expected.psf.bounds.cell_indices())
    assert len(cells) == 4
    assert list(got.psf.bounds.cell_indices()) == cells
    for cell in cells:
        assert_same(got.psf[cell].array, expected.psf[cell].array, f"PSF of cell {cell}")
    assert got.band == expected.band == "r"
    assert_same(got.image.array, expected.image.array, "IMAGE")


# -- 9. index -------------------------------------------------------------------------------------------
def test_index_keeps_astonly(li_files, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(li_files["astonly"], folder / "astonly.fits")
    result = run_cli("index", folder, "--format", "json")
    check_ok(result)
    record = json.loads(result.stdout)
    assert record["images"] == 1 and record["skipped"] == 0, result.stderr
    assert "skipped astonly" not in result.stderr


# -- 10. the same files over HTTP -------------------------------------------------------------------
@pytest.mark.parametrize("output_format", ["afw", "lsst-images"])
def test_remote_http_same_as_local(li_files, tmp_path_factory, tmp_path, output_format):
    """A remote file (nginx on 127.0.0.1, ranged reads) gives the same cutout as the local one: pixels,
    every MASK HDU and the sky WCS (the JSON tree read remotely too), in either output format."""
    from .remote_servers import nginx_serving

    kinds = ("fitsapprox", "mask40", "cell_coadd") if output_format == "afw" else ("cell_coadd", "visit_image")
    with nginx_serving(tmp_path_factory, f"lsst_images_{output_format.replace('-', '_')}") as (root, server):
        for kind in kinds:
            shutil.copy(li_files[kind], root / f"{kind}.fits")
            outputs = []
            for source in (li_files[kind], f"{server.url}/{kind}.fits"):
                out = tmp_path / f"{kind}_{len(outputs)}.fits"
                check_ok(run_cli("subset", source, "--ra", L.RA11, "--dec", L.DEC11, "--size", 40, "-o", out,
                                 "--output-format", output_format))
                outputs.append(out)
            with fits.open(outputs[0]) as local, fits.open(outputs[1]) as remote:
                assert [(h.name, h.ver) for h in local] == [(h.name, h.ver) for h in remote], kind
                for a, b in zip(local, remote):
                    if a.data is not None and a.is_image:
                        assert_same(b.data, a.data, f"{kind} {a.name}")
                    if a.name == "IMAGE":
                        wcs_cards = [k for k in a.header if k.startswith(("CRPIX", "CRVAL", "CD", "A_", "B_", "WCSFIT"))]
                        assert wcs_cards and all(a.header[k] == b.header[k] for k in wcs_cards), kind
            if output_format == "lsst-images":
                local_obj, remote_obj = (L.read(path) for path in outputs)
                assert local_obj.bbox == remote_obj.bbox


def test_output_format_lsst_images_keeps_what_the_cut_did(li_files, tmp_path):
    """--mask-outside holds in lsst.images output (the cutout's own pixels are written); a cutout of fewer
    planes is refused (exit 2) before anything is written."""
    path, region = li_files["masked_gzip2"], f"CIRCLE {L.RA11} {L.DEC11} 0.002"
    outs = {}
    for fmt in ("afw", "lsst-images"):
        outs[fmt] = tmp_path / f"{fmt}.fits"
        check_ok(run_cli("subset", path, "--pos", region, "--mask-outside", "-o", outs[fmt], "--output-format", fmt))
    with fits.open(outs["afw"]) as hdul:
        afw_no_data = (hdul["MASK"].data & (1 << L.NO_DATA_BIT["masked_gzip2"])) != 0
    obj = L.read(outs["lsst-images"])
    assert afw_no_data.sum() > 100
    assert_same(obj.mask.get("NO_DATA"), afw_no_data, "NO_DATA outside the circle")
    assert np.isnan(obj.image.array[afw_no_data]).all()
    refused = run_cli("subset", path, "--pos", region, "--planes", "image", "-o", tmp_path / "x.fits",
                      "--output-format", "lsst-images")
    assert refused.returncode == 2 and "whole objects" in refused.stderr and not (tmp_path / "x.fits").exists()
