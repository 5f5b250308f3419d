"""Files written by the LSST stack's afw, read as afw reads them, and their cutouts.

Fixtures are three real afw files from lsst/afw's ``tests/data`` (GPLv3, see
``tests/data/afw/README.md``): an HSC ``ExposureF`` and an ``ExposureF`` of
persistence version 2, both naming their planes by ``EXTTYPE`` only, and an
old ``MaskedImageF`` with IMAGE in the primary HDU; two of them store MASK as
uint16 with ``BZERO = 32768``.  Truth comes from astropy reading the HDUs
directly: which HDU holds which plane (its ``EXTTYPE``), the pixels, XY0
(``LTV``), the ``MP_*`` cards and the WCS.  The same files with ``EXTTYPE``
removed (written by astropy) must be read at afw's HDU positions; files that
only look alike (three float HDUs, HST-style names) must stay plain images.
Cutouts are made by the real ``cutout`` program and checked with astropy: no
structural or plane-identity keyword of the source reaches the wrong HDU.
Remote reads go through nginx on 127.0.0.1 (``remote_servers.py``).
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from cutout_cli.cutouts.extract import extract
from cutout_cli.cutouts.options import ReadOptions
from cutout_cli.fits.coadd import PLANES, CoaddFile
from cutout_cli.sky.box import Box
from cutout_cli.writers.fits import compression_kwargs, write_exposure

from .conftest import run_cli

DATA = Path(__file__).parent / "data" / "afw"
NAMES = ("HSC-0908120-056-small", "exposure-version-2", "parent")
IDENTITY = ("EXTNAME", "EXTTYPE", "EXTVER", "INHERIT")


@pytest.fixture(scope="module")
def afw(tmp_path_factory):
    """``{name: path}`` of the fixtures decompressed, and ``{name + ".gz": path}`` of the stored files."""
    root = tmp_path_factory.mktemp("afw")
    paths = {}
    for name in NAMES:
        gz = DATA / f"{name}.fits.gz"
        with gzip.open(gz) as src, open(root / f"{name}.fits", "wb") as dst:
            shutil.copyfileobj(src, dst)
        paths[name], paths[name + ".gz"] = root / f"{name}.fits", gz
    return paths


def truth(path) -> dict:
    """What astropy reads: ``{plane: (hdu index, pixels, header)}`` by each image HDU's ``EXTTYPE``."""
    out = {}
    with fits.open(path) as hdul:
        for index, hdu in enumerate(hdul):
            kind = str(hdu.header.get("EXTTYPE", "")).strip()
            if hdu.is_image and hdu.header.get("NAXIS", 0) and kind in PLANES and kind not in out:
                out[kind] = (index, np.array(hdu.data), hdu.header.copy())
    return out


def xy0_of(header) -> tuple[int, int]:
    return -int(header.get("LTV1", 0)), -int(header.get("LTV2", 0))


def mp_cards(header) -> dict:
    return {key[3:]: int(value) for key, value in header.items() if key.startswith("MP_")}


def strip_keywords(src, dst, keywords) -> None:
    """``src`` rewritten by astropy without ``keywords`` in any HDU (raw pixel bytes kept)."""
    with fits.open(src, do_not_scale_image_data=True) as hdul:
        for hdu in hdul:
            for key in keywords:
                hdu.header.remove(key, ignore_missing=True, remove_all=True)
        hdul.writeto(dst, output_verify="silentfix")


# -- plane discovery -------------------------------------------------------------------

@pytest.mark.parametrize("name", [*NAMES, *(n + ".gz" for n in NAMES)])
def test_afw_files_give_their_three_planes_as_astropy_reads_them(afw, name):
    expected = truth(afw[name])
    assert set(expected) == set(PLANES)  # control: the fixture is what the README says
    with CoaddFile(afw[name]) as coadd:
        assert tuple(coadd.planes) == PLANES
        for plane, (index, pixels, header) in expected.items():
            assert coadd.hdu_index(plane) == index
            data = coadd.read(plane, coadd.bbox)
            np.testing.assert_array_equal(data, pixels)
            if plane == "MASK":
                assert data.dtype == np.int32  # afw's MaskPixel, whatever the file stores (uint16 + BZERO)
        image_header = expected["IMAGE"][2]
        assert coadd.xy0 == xy0_of(image_header)
        assert coadd.mask_planes == dict(sorted(mp_cards(expected["MASK"][2]).items(), key=lambda kv: kv[1]))
        assert coadd.no_data_value == 1 << mp_cards(expected["MASK"][2]).get("NO_DATA", 8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(image_header, naxis=2)
        ra, dec = wcs.all_pix2world([3.0, 7.5], [2.0, 8.25], 0)
        x, y = coadd.sky_to_pixel(ra, dec)
        np.testing.assert_allclose(x, np.array([3.0, 7.5]) + coadd.xy0[0], atol=1e-6)
        np.testing.assert_allclose(y, np.array([2.0, 8.25]) + coadd.xy0[1], atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_without_exttype_the_planes_are_at_afws_positions(afw, name, tmp_path):
    """afw reads the image at the primary HDU, or HDU 1 when the primary is empty, then MASK and VARIANCE."""
    expected = truth(afw[name])
    stripped = tmp_path / "stripped.fits"
    strip_keywords(afw[name], stripped, ("EXTTYPE", "EXTNAME"))
    with fits.open(stripped) as hdul:
        assert not any("EXTTYPE" in hdu.header or "EXTNAME" in hdu.header for hdu in hdul)
    with CoaddFile(stripped) as coadd:
        assert tuple(coadd.planes) == PLANES
        for plane, (index, pixels, _) in expected.items():
            assert coadd.hdu_index(plane) == index
            np.testing.assert_array_equal(coadd.read(plane, coadd.bbox), pixels)


def test_files_that_only_look_like_afw_stay_plain_images(tmp_path):
    rng = np.random.default_rng(1)
    floats = tmp_path / "three_floats.fits"  # a camera's chips: one type, no names
    fits.HDUList([fits.PrimaryHDU(), *(fits.ImageHDU(rng.normal(size=(20, 30)).astype("f4")) for _ in range(3))]
                 ).writeto(floats)
    hst = tmp_path / "sci_err_dq.fits"  # named, but not afw's names
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(rng.normal(size=(20, 30)).astype("f4"), name="SCI"),
                  fits.ImageHDU(np.zeros((20, 30), "i2"), name="DQ"),
                  fits.ImageHDU(np.ones((20, 30), "f4"), name="ERR")]).writeto(hst)
    for path in (floats, hst):
        with CoaddFile(path) as coadd:
            assert tuple(coadd.planes) == ("IMAGE",) and coadd.hdu_index("IMAGE") == 1


def test_files_cutout_writes_are_found_by_extname(tmp_path):
    rng = np.random.default_rng(2)
    planes = {"IMAGE": rng.normal(size=(40, 50)).astype("f4"), "MASK": rng.integers(0, 99, (40, 50)).astype("i4"),
              "VARIANCE": rng.uniform(1, 2, (40, 50)).astype("f4")}
    for kind in ("none", "gzip"):
        path = tmp_path / f"{kind}.fits"
        write_exposure(path, [{"name": "EXTTYPE", "value": "IMAGE"}],  # a stray EXTTYPE on the empty primary
                       [(name, array, []) for name, array in planes.items()],
                       compress={name: compression_kwargs(kind, (40, 50), 16) for name in planes})
        with CoaddFile(path) as coadd:
            assert tuple(coadd.planes) == PLANES
            assert [coadd.hdu_index(p) for p in PLANES] == [1, 2, 3]
            for name, array in planes.items():
                np.testing.assert_array_equal(coadd.read(name, coadd.bbox), array)


# -- cutouts of afw files ----------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_cutouts_of_afw_files_put_every_keyword_in_its_place(afw, name, tmp_path):
    expected = truth(afw[name])
    x0, y0 = xy0_of(expected["IMAGE"][2])
    bx, by, w, h = x0 + 3, y0 + 2, 6, 5
    out = tmp_path / "cut.fits"
    result = run_cli("subset", afw[name], "--box", f"{bx},{by},{w},{h}", "-o", out)
    assert result.returncode == 0, result.stderr
    with fits.open(out, checksum=True) as cut:
        primary = cut[0].header
        assert cut[0].header["NAXIS"] == 0
        assert not [key for key in (*IDENTITY, "AR_HDU", "WCS_ID", "PSF_ID", "ZIMAGE") if key in primary]
        if expected["IMAGE"][0] == 0:  # the old layout: the source primary's WCS is the IMAGE plane's
            assert not [key for key in ("CRPIX1", "CTYPE1", "CD1_1", "LTV1", "CRVAL1A") if key in primary]
        for plane, (_, pixels, source_header) in expected.items():
            typed = [i for i, hdu in enumerate(cut) if str(hdu.header.get("EXTTYPE", "")).strip() == plane]
            assert typed == [PLANES.index(plane) + 1]  # a reader going by EXTTYPE finds the pixels, once
            hdu = cut[plane]
            np.testing.assert_array_equal(hdu.data, pixels[by - y0:by - y0 + h, bx - x0:bx - x0 + w])
            assert (hdu.header["LTV1"], hdu.header["LTV2"]) == (-bx, -by)
            assert not [key for key in ("ZIMAGE", "ZBITPIX", "CHECKSUM", "BZERO") if key in hdu.header]
        assert mp_cards(cut["MASK"].header) == mp_cards(expected["MASK"][2])
        assert cut["MASK"].data.dtype.kind == "i"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source_wcs, cut_wcs = WCS(expected["IMAGE"][2], naxis=2), WCS(cut["IMAGE"].header, naxis=2)
        np.testing.assert_allclose(cut_wcs.all_pix2world([[0.0, 0.0], [4.0, 3.0]], 0),
                                   source_wcs.all_pix2world([[bx - x0, by - y0], [bx - x0 + 4, by - y0 + 3]], 0),
                                   rtol=0, atol=1e-10)
    with CoaddFile(out) as again:  # and cutout reads its own cutout back
        assert [again.hdu_index(p) for p in PLANES] == [1, 2, 3]


def test_identity_and_archive_keywords_of_a_source_stay_out_of_the_cutout(tmp_path):
    """A current-layout source (planes by EXTNAME) whose primary says EXTTYPE = 'IMAGE' and points into
    archive tables, and whose planes carry EXTVER: the cutout's HDUs carry none of it."""
    rng = np.random.default_rng(3)
    path = tmp_path / "source.fits"
    primary = [fits.PrimaryHDU()]
    primary[0].header.update({"EXTTYPE": "IMAGE", "EXTNAME": "PRIMARY", "INHERIT": True, "AR_HDU": 5, "PSF_ID": 3,
                              "ARCHIVE_ID_FOO": 4, "FOO_ID": 4, "FILTER": "r"})
    planes = [fits.ImageHDU(rng.normal(size=(30, 40)).astype("f4"), name="IMAGE"),
              fits.ImageHDU(rng.integers(0, 9, (30, 40)).astype("i4"), name="MASK"),
              fits.ImageHDU(rng.uniform(1, 2, (30, 40)).astype("f4"), name="VARIANCE")]
    for hdu in planes:
        hdu.header.update({"EXTTYPE": hdu.name, "EXTVER": 7, "HDUNAME": "X"})
    fits.HDUList(primary + planes).writeto(path)
    out = tmp_path / "cut.fits"
    result = run_cli("subset", path, "--box", "5,6,10,8", "-o", out)
    assert result.returncode == 0, result.stderr
    with fits.open(out) as cut:
        assert cut[0].header["FILTER"] == "r"  # the metadata stays
        assert not [key for key in (*IDENTITY, "AR_HDU", "PSF_ID", "ARCHIVE_ID_FOO", "FOO_ID")
                    if key in cut[0].header]
        for index, plane in enumerate(PLANES, 1):
            header = cut[index].header
            assert (header["EXTNAME"], header["EXTTYPE"]) == (plane, plane)
            assert "EXTVER" not in header and "HDUNAME" not in header
            np.testing.assert_array_equal(cut[index].data, planes[index - 1].data[6:14, 5:15])


def test_source_checksums_and_compression_never_reach_the_cutout(afw, tmp_path):
    """An fpacked copy of the HSC file with checksums: the cutout's HDUs carry none of them."""
    packed = tmp_path / "packed.fits"
    with fits.open(afw["HSC-0908120-056-small"]) as hdul:
        hdus = [fits.PrimaryHDU(header=hdul[0].header)]
        for hdu in hdul[1:4]:
            hdus.append(fits.CompImageHDU(hdu.data, header=hdu.header, compression_type="GZIP_2"))
        fits.HDUList(hdus).writeto(packed, checksum=True)
    with fits.open(packed, disable_image_compression=True) as hdul:
        assert "CHECKSUM" in hdul[0].header and "ZIMAGE" in hdul[1].header  # control: they are there to leak
    out = tmp_path / "cut.fits"
    result = run_cli("subset", packed, "--box", "110,120,9,7", "-o", out)
    assert result.returncode == 0, result.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a stale CHECKSUM/DATASUM would warn when verified
        with fits.open(out, checksum=True) as cut:
            for hdu in cut:
                assert not [key for key in hdu.header if key.startswith("Z") or key in ("CHECKSUM", "DATASUM")]
            source_mask = truth(afw["HSC-0908120-056-small"])["MASK"][1]
            np.testing.assert_array_equal(cut["MASK"].data, source_mask[20:27, 10:19])


# -- remote reading ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def nginx_afw(afw, tmp_path_factory):
    from .remote_servers import nginx_serving

    pytest.importorskip("fsspec")
    with nginx_serving(tmp_path_factory, "afw") as (root, server):
        for name in NAMES:
            shutil.copy(afw[name], root / f"{name}.fits")
            strip_keywords(afw[name], root / f"{name}-bare.fits", ("EXTTYPE", "EXTNAME"))
        yield server


@pytest.mark.parametrize("suffix", ["", "-bare"])
@pytest.mark.parametrize("name", NAMES)
def test_remote_afw_files_give_the_same_planes(afw, nginx_afw, name, suffix):
    expected = truth(afw[name])
    with CoaddFile(f"{nginx_afw.url}/{name}{suffix}.fits") as coadd:
        assert tuple(coadd.planes) == PLANES
        box = Box(coadd.xy0[0] + 1, coadd.xy0[1] + 2, 7, 6)
        cutout = extract(coadd, box)
        for plane, (index, pixels, _) in expected.items():
            assert coadd.hdu_index(plane) == index
            np.testing.assert_array_equal(cutout.planes[plane], pixels[2:8, 1:8])


def test_a_remote_image_cutout_of_an_exttype_file_reads_no_other_plane_header(afw, nginx_afw):
    """EXTTYPE is in the header read anyway: finding IMAGE by it reads neither MASK's nor VARIANCE's header."""
    with fits.open(afw["HSC-0908120-056-small"]) as hdul:
        others = [(hdul[i].fileinfo()["hdrLoc"], hdul[i].fileinfo()["datLoc"]) for i in (2, 3)]
    mark = nginx_afw.mark()
    with CoaddFile(f"{nginx_afw.url}/HSC-0908120-056-small.fits") as coadd:
        cutout = extract(coadd, Box(120, 110, 20, 20), ReadOptions(("IMAGE",)))
    np.testing.assert_array_equal(cutout.planes["IMAGE"], truth(afw["HSC-0908120-056-small"])["IMAGE"][1][10:30, 20:40])
    ranges = [r.range for r in nginx_afw.settled()[mark:] if r.path.endswith("HSC-0908120-056-small.fits") and r.range]
    assert ranges and all(r.startswith("bytes=") for r in ranges)
    for text in ranges:
        start, end = (int(v) for v in text[len("bytes="):].split("-"))  # end inclusive
        assert not any(start < hdr_end and end >= hdr_start for hdr_start, hdr_end in others), text
