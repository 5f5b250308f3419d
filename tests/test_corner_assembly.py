"""Assembly around a patch corner, for all 16 arrangements of present and absent patch files.

Each of the four patch files around one corner of the small skymap holds its
own sequential patch index in every IMAGE pixel (inner box and border alike),
its own mask bit in MASK, and in VARIANCE a code of the tract pixel position
(the same in every file).  So the IMAGE of an assembled cutout says, pixel by
pixel, which file the pixel came from, and VARIANCE says it was not shifted.

The expected source of each pixel is computed here, independently of
``cutout_cli.cutouts.assemble``, from the patch grid alone:

* the owner of pixel (x, y) is the patch ``(x // 200, y // 200)`` (inner
  patches are 200 x 200 px and tile the tract from pixel 0);
* a present owner gives the pixel;
* an absent owner's pixel comes from a present file whose outer box (inner
  grown by the 20 px border) holds it: edge-adjacent neighbours before the
  diagonal one, then the lower patch index;
* else it is NaN / NO_DATA.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from cutout_cli.errors import NotFoundError
from cutout_cli.repository import Repository
from cutout_cli.sky.box import Box
from cutout_cli._sample.headers import plane_headers
from cutout_cli.writers.fits import write_exposure

from .conftest import SMALL_SKYMAP, TARGET_11, empty_small_repo, run_cli

INNER, BORDER = SMALL_SKYMAP["patch_inner_dimensions"][0], SMALL_SKYMAP["patch_border"]
MASK_BIT_NAMES = ("BAD", "SAT", "INTRP", "CR")  # one mask plane per corner position
ARRANGEMENTS = list(itertools.product((False, True), repeat=4))  # present flags of the 4 patches


def _position_code(xs, ys):
    """VARIANCE value of tract pixel (x, y): exact in float32 for the pixels of these tests."""
    return ((xs % 4096) + 4096.0 * (ys % 4096)).astype("f4")


def _write_patch(path: Path, tract, patch, bit: int) -> None:
    outer = patch.outer
    ys, xs = np.mgrid[outer.begin_y:outer.end_y, outer.begin_x:outer.end_x]
    headers = plane_headers(tract, patch)
    planes = [("IMAGE", np.full(outer.shape, patch.index, "f4"), headers["IMAGE"]),
              ("MASK", np.full(outer.shape, 1 << bit, "i4"), headers["MASK"]),
              ("VARIANCE", _position_code(xs, ys), headers["VARIANCE"])]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_exposure(path, [{"name": "TRACT", "value": tract.id}], planes, overwrite=True)


@pytest.fixture(scope="module")
def corner(tmp_path_factory):
    """The four patch files around the upper-right corner of TARGET_11's home patch, written once."""
    store = tmp_path_factory.mktemp("corner_store")
    repo = empty_small_repo(store)
    tract, home = repo.skymap.find_home(*TARGET_11)
    patches = [tract.patch((home.x + dx, home.y + dy)) for dy in (0, 1) for dx in (0, 1)]  # SW, SE, NW, NE
    for patch in patches:  # the geometry the rule below assumes
        assert patch.inner == Box(patch.x * INNER, patch.y * INNER, INNER, INNER)
        assert patch.outer == patch.inner.grown(BORDER)
    files = {}
    for position, patch in enumerate(patches):
        path = Path(repo.expected_path(None, patch, "r"))
        _write_patch(path, tract, patch, bit=position)
        files[patch.index] = path
    corner_x, corner_y = (home.x + 1) * INNER, (home.y + 1) * INNER
    # 60 px on each side: pixels only the owner holds, pixels in one or two borders, and the corner's
    box = Box(corner_x - 60, corner_y - 60, 120, 120)
    return store, tract, patches, files, box


def _repo_with(root: Path, store: Path, files: dict, present: set) -> Repository:
    root.mkdir()
    shutil.copy(store / "repo.json", root / "repo.json")
    shutil.copytree(store / "skymaps", root / "skymaps")
    for index, path in files.items():
        if index in present:
            target = root / path.relative_to(store)
            target.parent.mkdir(parents=True)
            target.symlink_to(path)
    return Repository(root)


def expected_sources(box: Box, patches, present: set) -> np.ndarray:
    """Per pixel of ``box``: the patch index the rule says it comes from, or -1 (no file holds it)."""
    ys, xs = np.mgrid[box.begin_y:box.end_y, box.begin_x:box.end_x]
    owner_x, owner_y = xs // INNER, ys // INNER
    result = np.full(box.shape, -1, np.int64)
    by_grid = {(p.x, p.y): p for p in patches}
    for (ox, oy), owner in by_grid.items():
        owned = (owner_x == ox) & (owner_y == oy)
        if owner.index in present:
            result[owned] = owner.index
            continue
        candidates = sorted((abs(p.x - ox) + abs(p.y - oy), p.index, p) for p in patches
                            if p.index in present and p is not owner)
        for _, index, p in reversed(candidates):  # the most preferred written last
            holds = ((xs >= p.x * INNER - BORDER) & (xs < (p.x + 1) * INNER + BORDER)
                     & (ys >= p.y * INNER - BORDER) & (ys < (p.y + 1) * INNER + BORDER))
            result[owned & holds] = index
    return result


def _label(arrangement):
    return "".join(name if flag else "-" for name, flag in zip(("SW", "SE", "NW", "NE"), arrangement))


@pytest.mark.parametrize("arrangement", ARRANGEMENTS, ids=[_label(a) for a in ARRANGEMENTS])
def test_every_pixel_comes_from_the_file_the_rule_names(arrangement, corner, tmp_path):
    store, tract, patches, files, box = corner
    present = {p.index for p, flag in zip(patches, arrangement) if flag}
    repo = _repo_with(tmp_path / "repo", store, files, present)
    if not present:
        with pytest.raises(NotFoundError, match="covers box"):
            repo.get_box(tract.id, box, "r")
        return
    expected = expected_sources(box, patches, present)
    held = expected >= 0
    cutout = repo.get_box(tract.id, box, "r")
    image, mask, variance = cutout.image, cutout.mask, cutout.variance
    got = np.where(np.isnan(image), -1, image).astype(np.int64)
    wrong = got != expected
    assert not wrong.any(), f"{wrong.sum()} pixels from the wrong file, first at (row, col) {np.argwhere(wrong)[0]}"
    ys, xs = np.mgrid[box.begin_y:box.end_y, box.begin_x:box.end_x]
    np.testing.assert_array_equal(variance[held], _position_code(xs, ys)[held])
    assert np.isnan(variance[~held]).all()
    bit_of = {p.index: cutout.mask_planes[MASK_BIT_NAMES[i]] for i, p in enumerate(patches)}
    expected_mask = np.full(box.shape, 1 << cutout.mask_planes["NO_DATA"], np.int64)
    for index, bit in bit_of.items():
        expected_mask[expected == index] = 1 << bit
    np.testing.assert_array_equal(mask, expected_mask)
    assert cutout.provenance["complete"] is bool(held.all())
    used = {int(i) for i in np.unique(expected[held])}
    assert sorted(cutout.provenance["sources"]) == sorted(str(Path(repo.expected_path(None, tract.patch(i), "r")))
                                                           for i in used)
    assert cutout.primary_header["NSOURCE"] == len(used)
    if not held.all():
        with pytest.raises(NotFoundError, match="not wholly covered"):
            repo.get_box(tract.id, box, "r", mode="strict")


def test_the_issue_case_through_the_command_line(corner, tmp_path):
    """One patch of the corner absent (the north-east one): the file written by ``cutout subset`` holds,
    pixel for pixel, what the rule says, read back with astropy."""
    store, tract, patches, files, box = corner
    present = {p.index for p in patches[:3]}
    repo = _repo_with(tmp_path / "repo", store, files, present)
    out = tmp_path / "corner.fits"
    result = run_cli("--repo", repo.root, "subset", "--tract", tract.id, "--band", "r", "--box",
                     f"{box.begin_x},{box.begin_y},{box.width},{box.height}", "-o", out)
    assert result.returncode == 0, result.stderr
    expected = expected_sources(box, patches, present)
    with fits.open(out) as cut:
        image = cut["IMAGE"].data
        assert cut[0].header["NSOURCE"] == 3 and cut[0].header["CUTFULL"] is False
    np.testing.assert_array_equal(np.where(np.isnan(image), -1, image).astype(np.int64), expected)
    # the 200 x 200 blocks of the issue: the inner pixels of present patches near the absent one are theirs
    for patch in patches[:3]:
        region = patch.inner.intersection(box)
        rows, cols = region.slices((box.begin_x, box.begin_y))
        assert (image[rows, cols] == patch.index).all()
