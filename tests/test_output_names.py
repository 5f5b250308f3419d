"""Outputs are written as their names say (cutout_cli/writers/outputs.py, docs/outputs.md).

``.fits`` plain, ``.fits.fz`` tile-compressed (lossless), ``.fits.gz`` one gzip stream, ``-`` standard
output; ``.png``/``.jpg`` pictures; anything else refused before any work.  Real processes, files read
back by astropy and fitsio.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from .conftest import TARGET_8, TARGET_11, run_cli
from .conftest import small_repo as small_repository


@pytest.fixture(scope="module")
def small_repo(small_repository):
    """The small repository's root folder (conftest's small_repo, bands r and z)."""
    return small_repository.root

RA, DEC = TARGET_11
PLANES = ("IMAGE", "MASK", "VARIANCE")


def cut(repo, *args, size=30):
    """``cutout subset`` of target 11 in band r (``args``: the outputs); the CompletedProcess."""
    return run_cli("--repo", repo, "subset", "--ra", RA, "--dec", DEC, "--size", size, "--band", "r", *args)


def cut_bytes(repo, *args, size=30):
    """As :func:`cut`, with stdout kept as bytes."""
    command = [sys.executable, "-m", "cutout_cli", "--repo", str(repo), "subset", "--ra", str(RA), "--dec", str(DEC),
               "--size", str(size), "--band", "r", *map(str, args)]
    return subprocess.run(command, capture_output=True, timeout=300)


def planes_of(path) -> dict:
    """Each plane read by astropy and by fitsio: {name: (astropy array, fitsio array)}."""
    import fitsio
    from astropy.io import fits

    with fits.open(path) as hdul:
        astropy_planes = {name: np.array(hdul[name].data) for name in PLANES}
    return {name: (astropy_planes[name], fitsio.read(str(path), ext=name)) for name in PLANES}


def same_bits(a, b) -> bool:
    """Whether two arrays hold the same values bit for bit (NaN payloads, -0 and infinities included)."""
    a, b = np.asarray(a), np.asarray(b)
    native = a.dtype.newbyteorder("=")
    return a.shape == b.shape and np.array_equal(a.astype(native).view(f"u{native.itemsize}"),
                                                 b.astype(native).view(f"u{native.itemsize}"))


def undated(data: bytes) -> bytes:
    """FITS bytes with the value of each ``DATE`` card (the time of writing) blanked."""
    cards = [data[k:k + 80] for k in range(0, len(data), 80)]
    return b"".join(b"DATE    =" + b" " * 71 if card.startswith(b"DATE    =") else card for card in cards)


def record_of(text: str) -> dict:
    """The one record of a ``--format json`` subset output (a list), ignoring what follows it."""
    records, _ = json.JSONDecoder().raw_decode(text.strip())
    assert len(records) == 1
    return records[0]


# -- FITS ---------------------------------------------------------------------


def test_fits_gz_is_the_plain_file_gzipped(small_repo, tmp_path):
    """A .fits.gz is what gunzip expects: one gzip stream of exactly the plain .fits bytes."""
    plain, packed = tmp_path / "a.fits", tmp_path / "a.fits.gz"
    assert cut(small_repo, "-o", plain).returncode == 0
    done = cut(small_repo, "-o", packed, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert undated(gzip.decompress(packed.read_bytes())) == undated(plain.read_bytes())
    assert record_of(done.stdout)["fits_compression"] == "gzip"
    for name, (by_astropy, by_fitsio) in planes_of(packed).items():
        reference = planes_of(plain)[name][0]
        assert same_bits(by_astropy, reference) and same_bits(by_fitsio, reference)


@pytest.mark.parametrize("name, compress, mask_codec", [("a.fits.fz", None, "RICE_1"), ("a.fz", "gzip", "GZIP_2"),
                                                        ("b.fits", "rice", "RICE_1"), ("c.fits", "gzip", "GZIP_2")])
def test_tile_compressed_cutout_reads_back_bit_for_bit(small_repo, tmp_path, name, compress, mask_codec):
    """.fz names and --compress tile-compress every plane, losslessly: float planes GZIP_2 (never
    quantized, so a partial box's NaN survive), MASK as asked; astropy and fitsio read the plain file's
    pixels, and a cutout of the compressed cutout equals the same cutout of the plain one."""
    from astropy.io import fits

    size = 300  # over the 240 px coadd: NaN and NO_DATA fill the rest
    plain, packed = tmp_path / "plain.fits", tmp_path / name
    assert cut(small_repo, "-o", plain, size=size).returncode == 0
    done = cut(small_repo, "-o", packed, "--format", "json", *(["--compress", compress] if compress else []), size=size)
    assert done.returncode == 0, done.stderr
    with fits.open(packed, disable_image_compression=True) as raw:
        codecs = {hdu.header["EXTNAME"]: hdu.header["ZCMPTYPE"] for hdu in raw[1:]}
        assert all("ZSCALE" not in hdu.columns.names for hdu in raw[1:])  # no quantization
    assert codecs == {"IMAGE": "GZIP_2", "MASK": mask_codec, "VARIANCE": "GZIP_2"}
    assert record_of(done.stdout)["fits_compression"] == f"IMAGE GZIP_2, MASK {mask_codec}, VARIANCE GZIP_2"
    reference = planes_of(plain)
    assert np.isnan(reference["IMAGE"][0]).any()
    for plane, (by_astropy, by_fitsio) in planes_of(packed).items():
        assert same_bits(by_astropy, reference[plane][0]) and same_bits(by_fitsio, reference[plane][0])
    with fits.open(plain) as a, fits.open(packed) as b:
        for plane in ("PRIMARY", *PLANES):
            assert sorted(a[plane].header.items()) == sorted(b[plane].header.items()) or plane == "PRIMARY"
        dated = {key for key, _ in set(a["PRIMARY"].header.items()) ^ set(b["PRIMARY"].header.items())}
        assert dated <= {"DATE"}
    x0, y0 = fits.getheader(plain, "IMAGE")["CRVAL1A"], fits.getheader(plain, "IMAGE")["CRVAL2A"]
    box = f"{x0 + 17},{y0 + 23},41,37"
    for source in (plain, packed):
        assert run_cli("subset", source, "--box", box, "-o", tmp_path / f"{source.name}.sub.fits").returncode == 0
    again, direct = planes_of(tmp_path / f"{packed.name}.sub.fits"), planes_of(tmp_path / "plain.fits.sub.fits")
    assert all(same_bits(again[p][0], direct[p][0]) for p in PLANES)


finite_or_not = arrays(np.uint32, st.tuples(st.integers(1, 40), st.integers(1, 40)))


@settings(max_examples=40, deadline=None)
@given(bits=finite_or_not, seed=st.integers(0, 2**32 - 1), scheme=st.sampled_from(["rice", "gzip"]),
       name=st.sampled_from(["x.fits.fz", "x.fits.gz", "x.fits"]))
def test_any_float_bits_survive_compression(bits, seed, scheme, name):
    """Any float32 bit pattern (NaN payloads, +-inf, -0, subnormals) and any int32 mask is read back by
    astropy and fitsio exactly as written, whatever the file's compression."""
    from cutout_cli.writers.fits import write_fits

    rng = np.random.default_rng(seed)
    image = bits.view(np.float32)
    image.flat[rng.integers(0, image.size, 3)] = [np.inf, -np.inf, np.nan]
    mask = rng.integers(-2**31, 2**31 - 1, size=image.shape, dtype=np.int32)
    variance = rng.permutation(image.ravel()).reshape(image.shape)
    planes = [("IMAGE", image, []), ("MASK", mask, []), ("VARIANCE", variance, [])]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        write_fits(path, [], planes, compress=None if name == "x.fits.gz" else scheme)
        read = planes_of(path)
        for plane, array, _ in planes:
            assert same_bits(read[plane][0], array) and same_bits(read[plane][1], array), plane


@pytest.mark.parametrize("name", ["a.fits.gz", "a.fits.fz"])
def test_failed_compressed_write_leaves_no_file(small_repo, tmp_path, name):
    """A write that fails (files may not grow past 20 kB) leaves neither the file nor a temporary."""
    import resource
    import signal

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    command = [sys.executable, "-m", "cutout_cli", "--repo", str(small_repo), "subset", "--ra", str(RA), "--dec",
               str(DEC), "--size", "200", "--band", "r", "-o", str(tmp_path / name)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=small_disk)
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# -- standard output ----------------------------------------------------------------------


def test_fits_to_stdout_is_the_file(small_repo, tmp_path):
    """``-o -`` writes the FITS bytes (and nothing else) to stdout; the record goes to stderr."""
    from astropy.io import fits

    to_file = tmp_path / "a.fits"
    assert cut(small_repo, "-o", to_file).returncode == 0
    done = cut_bytes(small_repo, "-o", "-", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert undated(done.stdout) == undated(to_file.read_bytes())
    record = record_of(done.stderr.decode())
    assert record["fits"] == "-" and record["fits_compression"] == "none"
    (tmp_path / "piped.fits").write_bytes(done.stdout)
    with fits.open(tmp_path / "piped.fits") as hdul:
        assert [hdu.name for hdu in hdul] == ["PRIMARY", *PLANES]
    quiet = cut_bytes(small_repo, "-o", "-", "--compress", "gzip", "-q")
    assert quiet.returncode == 0 and quiet.stderr == b""
    (tmp_path / "piped.fz").write_bytes(quiet.stdout)
    piped, reference = planes_of(tmp_path / "piped.fz"), planes_of(to_file)
    assert all(same_bits(piped[p][0], reference[p][0]) and same_bits(piped[p][1], reference[p][0]) for p in PLANES)


def test_picture_to_stdout(small_repo, tmp_path):
    """``--png -`` writes the PNG to stdout: the bytes of the same picture written to a file."""
    assert cut(small_repo, "--png", tmp_path / "a.png").returncode == 0
    done = cut_bytes(small_repo, "--png", "-", "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == (tmp_path / "a.png").read_bytes()


@pytest.mark.parametrize("bands, args, message", [
    ("r", ("-o", "-", "--png", "-"), "-o and --png both name standard output"),
    ("r,z", ("-o", "-"), "-o - writes one file to standard output, not one per band (2 bands)"),
    ("r,z", ("--png", "-"), "--png - writes one file to standard output, not one per band (2 bands)"),
])
def test_stdout_holds_one_file(small_repo, tmp_path, bands, args, message):
    done = run_cli("--repo", small_repo, "subset", "--ra", RA, "--dec", DEC, "--size", 20, "--band", bands, *args,
                   cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""
    assert list(tmp_path.iterdir()) == []


# -- pictures ------------------------------------------------------------------------------


def test_jpeg_by_name(small_repo, tmp_path):
    """--png/--rgb NAME.jpg or .jpeg write JPEG (the orientation text in its comment), .png PNG; both of
    the same picture size."""
    from PIL import Image

    done = run_cli("--repo", small_repo, "subset", "--ra", RA, "--dec", DEC, "--size", 30, "--band", "r,z",
                   "--png", tmp_path / "a_{band}.jpg", "--rgb", tmp_path / "c.JPEG")
    assert done.returncode == 0, done.stderr
    assert cut(small_repo, "--png", tmp_path / "a.png").returncode == 0
    with Image.open(tmp_path / "a.png") as png:
        assert png.format == "PNG"
        for name, mode in (("a_r.jpg", "L"), ("a_z.jpg", "L"), ("c.JPEG", "RGB")):
            with Image.open(tmp_path / name) as jpeg:
                assert (jpeg.format, jpeg.mode, jpeg.size) == ("JPEG", mode, png.size)
                assert jpeg.info["comment"].decode().startswith("north up, east left")


def test_batch_grid_by_name(small_repo, tmp_path):
    """batch --grid NAME.jpg writes a JPEG grid; an unknown picture extension is refused before any work."""
    from PIL import Image

    targets = tmp_path / "targets.csv"
    targets.write_text(f"id,ra,dec\n11,{RA},{DEC}\n8,{TARGET_8[0]},{TARGET_8[1]}\n")
    refused = run_cli("--repo", small_repo, "batch", targets, "--size", 20, "--band", "r", "--out", tmp_path / "no",
                      "--grid", tmp_path / "grid.tif")
    assert refused.returncode == 2 and "cannot write a .tif picture" in refused.stderr
    assert not (tmp_path / "no").exists()
    done = run_cli("--repo", small_repo, "batch", targets, "--size", 20, "--band", "r,r", "--out", tmp_path / "run",
                   "--grid", tmp_path / "grid.jpg", "-q")
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "grid.jpg") as grid:
        assert grid.format == "JPEG"
    rows = (tmp_path / "run" / "manifest.csv").read_text().splitlines()
    assert len(rows) == 3  # --band r,r: one row per target
    assert sorted(p.name for p in (tmp_path / "run").glob("*.fits")) == ["11_r.fits", "8_r.fits"]


# -- refused names -------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (("-o", "out.txt"), "cannot tell which file to write from the name out.txt (name it .fits, .fits.fz"),
    (("-o", "out.fits.bz2"), "cannot tell which file to write"),
    (("--png", "out.tif"), "cannot write a .tif picture (out.tif) (name it .png, .jpg or .jpeg)"),
    (("--png", "ok.png", "--rgb", "out.gif"), "cannot write a .gif picture"),
    (("-o", "out.fits.fz", "--compress", "none"), "names a tile-compressed file (.fz) but compression is none"),
    (("-o", "out.fits.gz", "--compress", "rice"), "the whole file is one gzip stream, not rice"),
    (("--png", "ok.png", "--compress", "gzip"), "--compress applies to the FITS output"),
    (("-o", "out.fits.gz", "--output-format", "lsst-images"), "lsst.images files are written plain"),
])
def test_unsupported_names_are_refused(small_repo, tmp_path, args, message):
    """Refused: exit 2, one line naming the problem and the fix, nothing written."""
    band = ("r,z",) if "--rgb" in args else ("r",)
    done = run_cli("--repo", small_repo, "subset", "--ra", RA, "--dec", DEC, "--size", 20, "--band", *band, *args,
                   cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# -- bands, inputs -------------------------------------------------------------------------------


def test_a_band_given_twice_counts_once(small_repo, tmp_path):
    """--band r,z,r cuts r and z once each, in the order first given."""
    done = run_cli("--repo", small_repo, "subset", "--ra", RA, "--dec", DEC, "--size", 20, "--band", "r,z,r",
                   "-o", tmp_path / "a.fits", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert [record["band"] for record in json.loads(done.stdout)] == ["r", "z"]
    assert sorted(os.listdir(tmp_path)) == ["a_r.fits", "a_z.fits"]


def test_missing_fits_file_and_file_as_repo(small_repo, tmp_path):
    """A FITS_FILE that does not exist: not found (3), one line.  A FITS file given as --repo: said to be
    a file, with the subset command that cuts it."""
    missing = run_cli("subset", tmp_path / "nope.fits", "--box", "0,0,5,5", "-o", tmp_path / "x.fits")
    assert missing.returncode == 3 and "does not exist" in missing.stderr and "FITSIO" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    coadd = next(Path(small_repo).rglob("*.fits"))
    as_repo = run_cli("--repo", coadd, "query", "--band", "r", "--pos", f"{RA} {DEC}")
    assert as_repo.returncode == 5
    assert f"{coadd} is a file, not a repository" in as_repo.stderr and f"cutout subset {coadd}" in as_repo.stderr
