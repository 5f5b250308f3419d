"""Damaged coadds: reported when opened, and the same way by every path.

* **Truncated files.**  A real afw file (the HSC ``ExposureF`` of
  ``tests/data/afw``, uncompressed) and a tile-compressed coadd written by
  cutout are cut at points chosen from astropy's own offsets (``fileinfo``:
  inside a plane's data, inside a header, one byte short of the last HDU's
  data); opening must fail with a one-line DataError naming the file, the HDU
  and the byte counts astropy's header sizes give.  Files missing only the
  padding after their last HDU (no data lost) must still open and read true.
  Remotely (nginx on 127.0.0.1) the same files fail when the damaged HDU is
  first described, before any of its pixels is read.
* **Corrupt tiles.**  The IMAGE tiles of a coadd in a small repository are
  overwritten with bytes no RICE stream holds; ``cutout subset`` of the file,
  ``subset`` and ``batch`` from the repository, the library and a remote
  ``subset`` must all give the same message, naming the file, the plane and
  its HDU.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import re
import shutil
from pathlib import Path

import fitsio
import numpy as np
import pytest
from astropy.io import fits

from cutout_cli.cutouts.extract import extract
from cutout_cli.errors import DataError
from cutout_cli.fits.coadd import PLANES, CoaddFile
from cutout_cli.repository import Repository
from cutout_cli.writers.fits import compression_kwargs, write_exposure

from .conftest import TARGET_11, make_small_repo, run_cli

AFW_HSC = Path(__file__).parent / "data" / "afw" / "HSC-0908120-056-small.fits.gz"


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """``{"afw": HSC ExposureF (uncompressed), "rice": a RICE / GZIP_2 coadd written by cutout}``."""
    root = tmp_path_factory.mktemp("whole")
    with gzip.open(AFW_HSC) as src, open(root / "afw.fits", "wb") as dst:
        shutil.copyfileobj(src, dst)
    rng = np.random.default_rng(4)
    planes = {"IMAGE": rng.normal(10, 1, (200, 200)).astype("f4"),
              "MASK": rng.integers(0, 256, (200, 200)).astype("i4"),
              "VARIANCE": rng.uniform(1, 2, (200, 200)).astype("f4")}
    compress = {name: compression_kwargs("gzip" if name == "MASK" else "rice", (200, 200), 32) for name in planes}
    write_exposure(root / "rice.fits", [], [(name, array, []) for name, array in planes.items()], compress=compress)
    return {"afw": root / "afw.fits", "rice": root / "rice.fits"}


def layout(path) -> list[tuple[int, int, int, int]]:
    """``(header start, data start, data bytes, data bytes with padding)`` of each HDU, as astropy reads
    the headers (compressed HDUs as the binary tables they are stored as)."""
    with fits.open(path, disable_image_compression=True) as hdul:
        return [(h.fileinfo()["hdrLoc"], h.fileinfo()["datLoc"], h.size, h.fileinfo()["datSpan"]) for h in hdul]


def cut_points(path) -> dict:
    """``{label: (bytes kept, damaged HDU, the end its header declares, or None for a cut header)}``."""
    hdus = layout(path)
    last = len(hdus) - 1
    ends = [start + span for _, start, _, span in hdus]
    points = {
        "IMAGE data": (hdus[1][1] + 1000, 1, ends[1]),
        "MASK header": (hdus[2][0] + 1000, 2, None),
        "MASK data": (hdus[2][1] + 100, 2, ends[2]),
        "VARIANCE data": (hdus[3][1] + hdus[3][2] // 2, 3, ends[3]),
        "last data one byte short": (hdus[last][1] + hdus[last][2] - 1, last, ends[last]),
        "last padding one byte short": (ends[last] - 1, last, ends[last]),
    }
    assert hdus[last][2] < hdus[last][3]  # control: the last HDU has padding
    if last > 3:
        points["last header"] = (hdus[last][0] + 1000, last, None)
    return points


def truncated(path, keep: int, where) -> Path:
    where.write_bytes(path.read_bytes()[:keep])
    return where


@pytest.mark.parametrize("kind", ["afw", "rice"])
def test_a_truncated_file_is_refused_when_opened(sources, kind, tmp_path):
    for label, (keep, hdu, need) in cut_points(sources[kind]).items():
        path = truncated(sources[kind], keep, tmp_path / f"{label.replace(' ', '_')}.fits")
        with pytest.raises(DataError) as caught:
            CoaddFile(path)
        text = str(caught.value)
        assert "\n" not in text
        if need is None:
            assert text.startswith(f"{path} is truncated: the header of HDU {hdu} is cut short"), (label, text)
        else:
            assert re.match(rf"{re.escape(str(path))} is truncated: HDU {hdu}( \(\w+\))? ends at byte {need}, "
                            rf"the file has {keep}", text), (label, text)


def test_the_command_line_reports_a_truncated_file_in_one_line(sources, tmp_path):
    keep, _, need = cut_points(sources["afw"])["MASK data"]
    path = truncated(sources["afw"], keep, tmp_path / "short.fits")
    result = run_cli("subset", path, "--box", "110,110,10,10", "-o", tmp_path / "cut.fits")
    assert result.returncode == 5, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path} is truncated: HDU 2 (MASK) ends at byte {need}," in lines[0]
    assert not (tmp_path / "cut.fits").exists()


@pytest.mark.parametrize("kind", ["afw", "rice"])
def test_whole_files_and_extra_zero_blocks_read_true(sources, kind, tmp_path):
    padded = tmp_path / "padded.fits"
    padded.write_bytes(sources[kind].read_bytes() + bytes(2 * 2880))
    with fits.open(sources[kind]) as hdul:
        truth = [hdu.data for hdu in hdul[1:4]]
        for path in (sources[kind], padded):
            with CoaddFile(path) as coadd:
                for plane, pixels in zip(PLANES, truth):
                    np.testing.assert_array_equal(coadd.read(plane, coadd.bbox), pixels)


# -- remote -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nginx_damaged(sources, tmp_path_factory):
    from .remote_servers import nginx_serving

    pytest.importorskip("fsspec")
    with nginx_serving(tmp_path_factory, "damaged") as (root, server):
        for kind, path in sources.items():
            shutil.copy(path, root / f"{kind}.fits")
            for label, (keep, _, _) in cut_points(path).items():
                truncated(path, keep, root / f"{kind}-{label.replace(' ', '_')}.fits")
        yield server


@pytest.mark.parametrize("kind", ["afw", "rice"])
def test_a_truncated_remote_file_is_reported_before_its_pixels_are_read(sources, nginx_damaged, kind):
    with CoaddFile(f"{nginx_damaged.url}/{kind}.fits") as whole:  # control
        box = whole.bbox
        truth = extract(whole, box).planes
    with fits.open(sources[kind]) as hdul:
        np.testing.assert_array_equal(truth["VARIANCE"], hdul[3].data)
    url = f"{nginx_damaged.url}/{kind}-IMAGE_data.fits"
    with pytest.raises(DataError, match=rf"^{re.escape(url)} is truncated: HDU 1\b"):
        CoaddFile(url)
    url = f"{nginx_damaged.url}/{kind}-VARIANCE_data.fits"
    with CoaddFile(url) as coadd:
        np.testing.assert_array_equal(coadd.read("IMAGE", box), truth["IMAGE"])  # the intact part reads true
        with pytest.raises(DataError, match=rf"^{re.escape(url)} is truncated: HDU 3\b"):
            extract(coadd, box)
    url = f"{nginx_damaged.url}/{kind}-MASK_header.fits"
    with CoaddFile(url) as coadd:
        with pytest.raises(DataError, match=rf"^{re.escape(url)} is truncated: the header of HDU 2 is cut short"):
            extract(coadd, box)


# -- corrupt tiles ------------------------------------------------------------------------

def damage_tiles(path, hdu: int) -> int:
    """Overwrite every tile of compressed HDU ``hdu`` (all but its first and last 4 bytes) with 0xFF;
    tiles are located from the raw tile table (``1P`` descriptors: count, offset)."""
    with fitsio.FITS(str(path)) as f:
        info, header = f[hdu].get_info(), f[hdu].read_header()
    assert header["TTYPE1"] == "COMPRESSED_DATA" and header["TFORM1"].startswith("1P")
    row_bytes, rows = header["NAXIS1"], header["NAXIS2"]
    heap = info["data_start"] + header.get("THEAP", row_bytes * rows)
    damaged = 0
    with open(path, "r+b") as handle:
        for row in range(rows):
            handle.seek(info["data_start"] + row * row_bytes)
            count, offset = np.frombuffer(handle.read(8), ">i4")
            if count > 8:
                handle.seek(heap + int(offset) + 4)
                handle.write(b"\xff" * (int(count) - 8))
                damaged += 1
    return damaged


def reported(text: str) -> str:
    """The error line, with the file's path or URL replaced by ``<file>``."""
    line = next(line for line in text.splitlines() if "cannot read" in line)
    return re.sub(r"\S+\.fits", "<file>", line[line.index("cannot read"):])


@pytest.fixture(scope="module")
def damaged_repo(tmp_path_factory):
    repo = make_small_repo(tmp_path_factory.mktemp("damaged") / "repo", [TARGET_11], bands=("r",), tile=32)
    tract, patch = repo.skymap.find_home(*TARGET_11)
    path = Path(repo.expected_path(None, patch, "r"))
    assert damage_tiles(path, 1) > 1
    return repo, path, patch


def test_corrupt_tiles_are_reported_alike_by_every_path(damaged_repo, tmp_path, request):
    repo, path, patch = damaged_repo
    ra, dec = TARGET_11
    x, y = patch.outer.begin_x + 100, patch.outer.begin_y + 100
    messages = {}
    result = run_cli("subset", path, "--box", f"{x},{y},20,20", "-o", tmp_path / "a.fits")
    assert result.returncode == 5, result.stderr
    messages["subset FILE"] = reported(result.stderr)
    result = run_cli("--repo", repo.root, "subset", "--ra", ra, "--dec", dec, "--size", "20", "--band", "r",
                     "-o", tmp_path / "b.fits")
    assert result.returncode == 5, result.stderr
    messages["subset --repo"] = reported(result.stderr)
    targets = tmp_path / "targets.csv"
    targets.write_text(f"id,ra,dec\n1,{ra},{dec}\n")
    result = run_cli("--repo", repo.root, "batch", targets, "--size", "20", "--band", "r", "--out", tmp_path / "out")
    assert result.returncode == 1, result.stderr
    with open(tmp_path / "out" / "manifest.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["status"] == "error"
    messages["batch"] = reported(row["message"])
    with pytest.raises(DataError) as caught:
        Repository(repo.root).cutout(ra, dec, "20", "r")
    messages["library"] = reported(str(caught.value))
    big = big_tiled_file(tmp_path / "big.fits")
    with CoaddFile(big) as coadd:  # control: the two boxes below go to cfitsio and to cutout's decoder
        reader = coadd.plane_reader("IMAGE")
        assert not reader.cost(slice(0, 512), slice(0, 512)).ours_is_cheaper
        assert reader.cost(slice(10, 12), slice(10, 12)).ours_is_cheaper
    for box in ("0,0,512,512", "10,10,2,2"):
        result = run_cli("subset", big, "--box", box, "-o", tmp_path / f"{box.replace(',', '_')}.fits")
        assert result.returncode == 5, result.stderr
        messages[f"subset FILE --box {box}"] = reported(result.stderr)
    nginx = remote_repo(request, repo.root)
    if nginx is not None:
        result = run_cli("--repo", f"{nginx.url}/repo", "subset", "--ra", ra, "--dec", dec, "--size", "20",
                         "--band", "r", "-o", tmp_path / "c.fits")
        assert result.returncode == 5, result.stderr
        messages["remote subset"] = reported(result.stderr)
    expected = ("cannot read IMAGE pixels of <file> (HDU 1): the stored data are damaged "
                "(the file may be truncated or corrupt: copy or download it again)")
    assert messages == {key: expected for key in messages}


def big_tiled_file(path) -> Path:
    """A 512 x 512 RICE coadd in 128 px tiles, its IMAGE tiles damaged: a box of a few pixels is read by
    cutout's decoder (part of one tile), the whole plane by cfitsio."""
    rng = np.random.default_rng(6)
    planes = {"IMAGE": rng.normal(10, 1, (512, 512)).astype("f4"), "MASK": np.zeros((512, 512), "i4"),
              "VARIANCE": np.ones((512, 512), "f4")}
    write_exposure(path, [], [(name, array, []) for name, array in planes.items()],
                   compress={name: compression_kwargs("rice" if name != "MASK" else "gzip", (512, 512), 128)
                             for name in planes})
    assert damage_tiles(path, 1) == 16
    return path


def remote_repo(request, root):
    """nginx serving ``root`` as ``/repo`` for the rest of the test, or None without nginx."""
    from .remote_servers import Nginx, nginx_binary

    if importlib.util.find_spec("fsspec") is None or nginx_binary() is None:
        return None
    served = Path(request.getfixturevalue("tmp_path")) / "served"
    served.mkdir()
    (served / "repo").symlink_to(root)
    server = Nginx(served, served.parent / "nginx").__enter__()
    request.addfinalizer(lambda: server.__exit__(None, None, None))
    return server
