"""Pictures are north up, east left for every WCS: standard, mirrored, quarter turns, any rotation.

Truth: plain FITS images written with astropy, with a known WCS and two
bright sources placed on the sky with astropy (one 7.5 arcsec north of the
centre, one 15 arcsec east).  The pictures are written by the real
``cutout`` program (a plain file, an indexed folder, a batch grid) and by the
library, read back with Pillow, and the sources found in them: the north
source must be straight above the picture's centre and the east source
straight left of it, at the distances the WCS gives.  Flips and quarter turns
must move pixels only (the picture is an exact turn of the plain rendering);
FITS cutouts keep the source's pixels whatever the WCS.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image
from scipy import ndimage

SCALE = 0.5 / 3600  # degrees per pixel
SHAPE = (141, 141)  # source images (height, width)
CRPIX = (71.0, 71.0)  # FITS 1-based: array pixel (70, 70) is the centre
DEC = -27.5
SIZE = "101,71"  # cutout width, height in pixels: not square, so a quarter turn shows
NORTH_ARCSEC, EAST_ARCSEC = 7.5, 15.0  # 15 and 30 pixels from the centre

# name: (rotation in degrees, mirrored); the CD matrix is SCALE * R(rotation) @ diag(1 if mirrored else -1, 1)
CASES = {
    "standard": (0.0, False),
    "mirrored": (0.0, True),
    "rotated90": (90.0, False),
    "rotated45": (45.0, False),
    "transposed": (270.0, True),
    "mirrored_rotated120": (120.0, True),
}
EXACT = ("standard", "mirrored", "rotated90", "transposed")
CUTOUT = Path(sys.executable).with_name("cutout")


def cd_matrix(rotation: float, mirrored: bool) -> np.ndarray:
    c, s = np.cos(np.radians(rotation)), np.sin(np.radians(rotation))
    return SCALE * np.array([[c, -s], [s, c]]) @ np.diag([1.0 if mirrored else -1.0, 1.0])


def case_centre(name: str) -> tuple[float, float]:
    return 150.0 + 0.1 * list(CASES).index(name), DEC


def case_header(name: str, band: str = "r") -> fits.Header:
    ra, dec = case_centre(name)
    cd = cd_matrix(*CASES[name])
    return fits.Header({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": ra, "CRVAL2": dec,
                        "CRPIX1": CRPIX[0], "CRPIX2": CRPIX[1], "CD1_1": cd[0, 0], "CD1_2": cd[0, 1],
                        "CD2_1": cd[1, 0], "CD2_2": cd[1, 1], "CUNIT1": "deg", "CUNIT2": "deg",
                        "RADESYS": "ICRS", "BAND": band})


def source_positions(name: str) -> dict:
    """Array pixel (x, y) of the north and east sources, from astropy alone."""
    ra, dec = case_centre(name)
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    wcs = WCS(case_header(name))
    places = {"north": centre.directional_offset_by(0 * u.deg, NORTH_ARCSEC * u.arcsec),
              "east": centre.directional_offset_by(90 * u.deg, EAST_ARCSEC * u.arcsec)}
    return {key: np.array(wcs.world_to_pixel(place), dtype=float) for key, place in places.items()}


def write_case(path: Path, name: str, band: str = "r", seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    image = np.random.default_rng(seed).normal(0.0, 1.0, SHAPE)
    for x, y in source_positions(name).values():
        image += 2000.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.5**2))
    image = image.astype("f4")
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(image, case_header(name, band)).writeto(path)
    return image


def run(*args):
    result = subprocess.run([str(CUTOUT), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def read_picture(path_or_image):
    """(grey levels as a float array, the PNG's text chunks)."""
    picture = path_or_image if isinstance(path_or_image, Image.Image) else Image.open(path_or_image)
    picture.load()
    text = dict(getattr(picture, "text", {}))
    return np.asarray(picture.convert("L"), dtype=float), text


def bright_spots(grey: np.ndarray, threshold: float = 250.0) -> list:
    """Centroids (column, row) of the connected regions at or above ``threshold`` (6 pixels or more)."""
    labels, count = ndimage.label(grey >= threshold)
    spots = []
    for index in range(1, count + 1):
        region = labels == index
        if region.sum() >= 6:
            rows, cols = np.nonzero(region)
            spots.append((cols.mean(), rows.mean()))
    return spots


def assert_north_up_east_left(grey: np.ndarray, name: str, scale: float = 1.0, tolerance: float = 2.0,
                              centre=None):
    """The north source straight above the centre, the east source straight left of it, at the WCS's
    distances (``scale`` picture pixels per array pixel)."""
    height, width = grey.shape
    cx, cy = centre if centre is not None else ((width - 1) / 2, (height - 1) / 2)
    array_centre = np.array([(SHAPE[1] - 1) / 2, (SHAPE[0] - 1) / 2])
    distance = {key: scale * float(np.hypot(*(xy - array_centre))) for key, xy in source_positions(name).items()}
    spots = bright_spots(grey)
    assert len(spots) == 2, f"{name}: {len(spots)} bright spots"
    spots.sort(key=lambda spot: np.hypot(spot[0] - cx, spot[1] - cy))  # north is the nearer one
    (north_col, north_row), (east_col, east_row) = spots
    tol = tolerance * max(scale, 1.0)
    assert abs(north_col - cx) < tol and abs((cy - north_row) - distance["north"]) < tol, (name, spots, (cx, cy))
    assert abs(east_row - cy) < tol and abs((cx - east_col) - distance["east"]) < tol, (name, spots, (cx, cy))


def exact_turns(plain: np.ndarray) -> list:
    """The eight flips and quarter turns of an array."""
    return [np.rot90(a, k) for a in (plain, plain[:, ::-1]) for k in range(4)]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """One plain FITS file per case; an indexed folder of them in two bands."""
    root = tmp_path_factory.mktemp("oriented")
    files, folder = {}, root / "folder"
    for seed, name in enumerate(CASES):
        files[name] = root / f"{name}.fits"
        write_case(files[name], name, seed=seed)
        write_case(folder / f"{name}_r.fits", name, "r", seed=seed)
        write_case(folder / f"{name}_z.fits", name, "z", seed=seed + 100)
    run("index", folder)
    return {"files": files, "folder": folder, "root": root}


# -- the real program ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_subset_png_of_a_plain_image_is_north_up_east_left(images, name, tmp_path):
    ra, dec = case_centre(name)
    out, fits_out = tmp_path / "cut.png", tmp_path / "cut.fits"
    run("subset", images["files"][name], "--ra", ra, "--dec", dec, "--size", SIZE, "--png", out, "-o", fits_out)
    grey, text = read_picture(out)
    assert_north_up_east_left(grey, name)
    assert text["orientation"].startswith("north up, east left")
    with fits.open(fits_out) as cut, fits.open(images["files"][name]) as source:
        # FITS pixels are never resampled, whatever the WCS
        np.testing.assert_array_equal(cut["IMAGE"].data, source[0].data[35:106, 20:121])
        plain = np.asarray(to_plain_picture(cut["IMAGE"].data))
    picture = np.asarray(Image.open(out))
    if name in EXACT:
        assert "resampled" not in text["orientation"]
        assert any(turn.shape == picture.shape and np.array_equal(turn, picture) for turn in exact_turns(plain)), \
            f"{name}: not an exact turn of the plain picture"
    else:
        assert "resampled" in text["orientation"]
        assert max(picture.shape) > max(plain.shape)  # rotated and enlarged to keep every pixel


def to_plain_picture(image):
    """The plain rendering (array row 0 at the bottom), which earlier tests pin down."""
    from cutout_cli.writers.png import to_pil

    return to_pil(image)


@pytest.mark.parametrize("name", ["mirrored", "rotated90", "rotated45"])
def test_indexed_folder_png_and_colour_picture(images, name, tmp_path):
    ra, dec = case_centre(name)
    png, rgb = tmp_path / "r.png", tmp_path / "rgb.png"
    run("--repo", images["folder"], "subset", "--ra", ra, "--dec", dec, "--size", SIZE, "--band", "r", "--png", png)
    assert_north_up_east_left(read_picture(png)[0], name)
    run("--repo", images["folder"], "subset", "--ra", ra, "--dec", dec, "--size", SIZE, "--band", "r,z",
        "-o", tmp_path / "c_{band}.fits", "--rgb", rgb)
    picture = Image.open(rgb)
    assert picture.mode == "RGB" and picture.text["orientation"].startswith("north up, east left")
    assert_north_up_east_left(read_picture(picture)[0], name)


def test_batch_grid_panels_and_pngs_are_north_up(images, tmp_path):
    names = list(CASES)
    targets = tmp_path / "targets.csv"
    with open(targets, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", "ra", "dec"])
        writer.writerows([name, *case_centre(name)] for name in names)
    for colour in (False, True):
        out, grid = tmp_path / f"out{colour}", tmp_path / f"grid{colour}.png"
        bands = ["--band", "r,z", "--rgb"] if colour else ["--band", "r", "--png"]
        run("--repo", images["folder"], "batch", targets, "--size", SIZE, *bands, "--out", out, "--grid", grid,
            "--format", "json")
        rows = list(csv.DictReader(open(out / "manifest.csv")))
        assert {row["status"] for row in rows} == {"ok"}, rows
        pictures = {name: out / (f"{name}_rgb.png" if colour else f"{name}_r.png") for name in names}
        for name in names:
            assert_north_up_east_left(read_picture(pictures[name])[0], name)
        _check_grid(grid, names, pictures)


def _check_grid(path, names, pictures):
    """Each panel of the sheet at ``path`` shows its picture (``pictures[name]``, as written alone)
    north up, east left."""
    from cutout_cli.writers.grid import grid_layout

    grey, text = read_picture(path)
    layout = grid_layout(len(names), title="x")  # the batch titles its grid
    assert "north up, east left" in text["orientation"]
    for index, name in enumerate(names):
        assert_in_panel(grey, layout, index, name, Image.open(pictures[name]).size)


def assert_in_panel(grey, layout, index, name, picture_size):
    """Panel ``index`` of a sheet is north up, east left; the picture (``picture_size``, as written
    alone) is scaled so that its longer side fills the panel."""
    left, top, right, bottom = layout.panel_box(index)
    scale = layout.panel_size / max(picture_size)
    assert_north_up_east_left(grey[top:bottom, left:right], name, scale=scale, tolerance=2.5,
                              centre=((right - left - 1) / 2, (bottom - top - 1) / 2))


# -- the library -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_library_pictures_are_north_up_east_left(images, name, tmp_path):
    from cutout_cli import open_image
    from cutout_cli.display import grid
    from cutout_cli.writers.rgb import write_colour

    ra, dec = case_centre(name)
    with open_image(images["files"][name]) as handle:
        cutout = handle.cutout(ra, dec, SIZE)
    cutout.to_png(tmp_path / "a.png")
    assert_north_up_east_left(read_picture(tmp_path / "a.png")[0], name)
    shown = Image.open(io.BytesIO(cutout._repr_png_()))
    assert shown.text["orientation"] == Image.open(tmp_path / "a.png").text["orientation"]
    assert f'width="{shown.size[0] * 2}"' in cutout._repr_html_()  # the turned picture's width, doubled
    assert_north_up_east_left(read_picture(shown)[0], name)
    write_colour(tmp_path / "c.png", [cutout.image, cutout.image], wcs=cutout.wcs)
    assert_north_up_east_left(read_picture(tmp_path / "c.png")[0], name)
    sheet = grid([cutout], labels=[name], panel_size=202)
    from cutout_cli.writers.grid import grid_layout

    assert_in_panel(read_picture(sheet)[0], grid_layout(1, panel_size=202), 0, name,
                    Image.open(tmp_path / "a.png").size)


# -- the transform itself, against astropy ---------------------------------------------------------
@pytest.mark.parametrize("mirrored", [False, True])
@pytest.mark.parametrize("rotation", list(range(-180, 180, 15)) + [44.0, 46.0, 89.9, 0.01])
def test_transform_puts_north_up_and_east_left(rotation, mirrored):
    """The exact part (applied to an index array) then the residual turn take astropy's north and east
    directions at the centre to straight up and straight left."""
    from cutout_cli.writers.orientation import orientation_from_wcs

    header = case_header("standard")
    cd = cd_matrix(rotation, mirrored)
    header.update({"CD1_1": cd[0, 0], "CD1_2": cd[0, 1], "CD2_1": cd[1, 0], "CD2_2": cd[1, 1]})
    wcs = WCS(header)
    shape = (71, 101)
    centre = np.array([50.0, 35.0])
    sky = wcs.pixel_to_world(*centre)
    directions = {}
    for key, angle in (("north", 0), ("east", 90)):
        x, y = wcs.world_to_pixel(sky.directional_offset_by(angle * u.deg, 0.5 * u.arcsec))
        directions[key] = np.array([x, y]) - centre
    orientation = orientation_from_wcs(wcs, shape)
    assert -45.0 - 1e-6 <= orientation.residual <= 45.0 + 1e-6
    # where the exact part sends the array's x and y unit steps, in picture (right, up) axes
    index = np.arange(np.prod(shape)).reshape(shape)
    moved = orientation.exact(index)
    def picture_place(x, y):
        row, col = np.argwhere(moved == index[y, x])[0]
        return np.array([col, -row], dtype=float)
    origin = picture_place(50, 35)
    step_x, step_y = picture_place(51, 35) - origin, picture_place(50, 36) - origin
    turn = np.radians(orientation.residual)
    rotate = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    for key, expected in (("north", 90.0), ("east", 180.0)):
        dx, dy = directions[key]
        up = rotate @ (dx * step_x + dy * step_y)
        angle = np.degrees(np.arctan2(up[1], up[0])) % 360
        assert abs(angle - expected) < 1e-4, (key, angle, orientation)
    # a turn is resampled only when it is a degree or more and moves a corner by half a pixel or more
    corner_shift = np.radians(abs(orientation.residual)) * np.hypot(*shape) / 2
    assert orientation.rotate == (abs(orientation.residual) >= 1.0 and corner_shift >= 0.5)


@pytest.mark.parametrize("tilt", [0.15, 0.6])
def test_a_coadd_tilt_under_a_degree_is_not_resampled(tilt):
    """North a fraction of a degree off vertical (a coadd far from its tract's centre): the picture is
    the plain one, same size, and its text says by how much north is off."""
    from cutout_cli.writers.orientation import orientation_from_wcs
    from cutout_cli.writers.png import oriented_picture

    header = case_header("standard")
    cd = cd_matrix(tilt, False)
    header.update({"CD1_1": cd[0, 0], "CD1_2": cd[0, 1], "CD2_1": cd[1, 0], "CD2_2": cd[1, 1]})
    shape = (300, 300)
    orientation = orientation_from_wcs(WCS(header), shape)
    assert abs(abs(orientation.residual) - tilt) < 0.02 and not orientation.rotate  # the centre is off CRPIX
    assert f"north is {abs(orientation.residual):.2f} deg" in orientation.describe()
    assert "not resampled" in orientation.describe()
    pixels = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    untilted = orientation_from_wcs(WCS(case_header("standard")), shape)
    assert not untilted.rotate
    np.testing.assert_array_equal(np.asarray(oriented_picture(pixels, orientation)),
                                  np.asarray(oriented_picture(pixels, untilted)))


def test_no_wcs_keeps_the_plain_view_and_says_so(tmp_path):
    from cutout_cli.writers.png import write_png

    image = np.random.default_rng(0).normal(0, 1, (20, 30))
    picture = Image.open(write_png(tmp_path / "a.png", image))
    assert picture.size == (30, 20) and "no usable WCS" in picture.text["orientation"]

