"""Skymap geometry against docs/conventions.md, section 2, and astropy's own WCS."""

import csv

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from hypothesis import given, settings
from hypothesis import strategies as st

from cutout_cli.errors import DataError, NotFoundError
from cutout_cli import load_skymap
from cutout_cli.sky.skymap import ExplicitSkyMap, Tract, skymap_from_dict

from .conftest import TARGETS_CSV


@pytest.fixture(scope="module")
def cells():
    return load_skymap("lsst_cells_v1")


# ra, dec, tract, (x, y), index, pixel x, pixel y  (docs/conventions.md, section 2.9)
VECTORS = [
    (53.194833, -28.146306, 5063, (4, 1), 14, 13296.28, 3736.19),
    (52.819542, -27.724889, 5063, (6, 3), 36, 19269.46, 11318.24),
    (52.812667, -27.921833, 5063, (6, 2), 26, 19371.15, 7772.88),
]


@pytest.mark.parametrize("ra, dec, tract_id, xy, index, px, py", VECTORS)
def test_reference_vectors(cells, ra, dec, tract_id, xy, index, px, py):
    tract, patch = cells.find_home(ra, dec)
    assert tract.id == tract_id
    assert (patch.x, patch.y) == xy and patch.index == index
    x, y = tract.sky_to_pixel(ra, dec)
    assert round(float(x), 2) == px and round(float(y), 2) == py


def test_rings_layout(cells):
    assert cells.num_tracts == 18938
    assert cells.ring_indices(5063) == (41, 32) and cells.ring_nums[41] == 217
    ra, dec = (a[5063] for a in cells.tract_centers)
    assert ra == pytest.approx(53.08755760368663, abs=1e-12) and dec == pytest.approx(-27.520661157024797, abs=1e-12)
    tract = cells.tract(5063)
    assert (tract.bbox.width, tract.bbox.height) == (30000, 30000) and tract.num_patches == (10, 10)
    assert tract.wcs_header["CRPIX1"] == 15000 and tract.wcs_header["CRPIX2"] == 15000
    assert tract.wcs_header["CD1_1"] == pytest.approx(-0.2 / 3600) and tract.wcs_header["CD2_2"] == pytest.approx(0.2 / 3600)
    assert cells.tract(0).wcs_header["CRVAL2"] == -90 and cells.tract(18937).wcs_header["CRVAL2"] == 90


def test_every_tract_is_the_same_size(cells):
    for tract_id in (0, 1, 217, 5063, 9000, 18936, 18937):
        assert cells.tract(tract_id).bbox.width == 30000


def test_patch_boxes_and_index(cells):
    tract = cells.tract(5063)
    p = tract.patch((3, 3))
    assert p.index == 33 and (p.inner.begin_x, p.inner.end_x) == (9000, 12000)
    assert (p.outer.begin_x, p.outer.begin_y, p.outer.width) == (8800, 8800, 3400)
    assert tract.image_wcs_header((8800, 8800))["CRPIX1"] == 6200
    edge = tract.patch(0)
    assert (edge.outer.begin_x, edge.outer.begin_y) == (-200, -200)  # not clipped to the tract
    assert tract.patch(99).outer.end_x == 30200
    for i in range(100):
        assert tract.patch(i).index == i and tract.patch_index(i % 10, i // 10) == i
    with pytest.raises(NotFoundError):
        tract.patch(100)


def test_hsc_preset_clips_outer_boxes():
    hsc = load_skymap("hsc_rings_v1")
    tract = hsc.tract(9813)
    assert tract.num_patches == (9, 9) and tract.patch_inner_dimensions == (4000, 4000)
    assert tract.patch(0).outer.begin_x == 0 and tract.patch(1).outer.begin_x == 3900
    assert tract.pixel_scale == pytest.approx(0.168)


def test_demo_targets_home_patches_and_overlaps(cells):
    with open(TARGETS_CSV) as handle:
        rows = list(csv.DictReader(handle))
    homes = {cells.find_home(float(r["ra"]), float(r["dec"]))[1].index for r in rows}
    assert homes == {14, 15, 23, 24, 26, 33, 36, 43}
    multi = {r["id"]: {p.tract for p in cells.patches_overlapping(float(r["ra"]), float(r["dec"]))} for r in rows}
    overlapping = {k: v for k, v in multi.items() if len(v) > 1}
    assert set(overlapping) == {"15", "39"}
    assert set().union(*overlapping.values()) <= {5063, 4848, 4849}


def test_tract_wcs_agrees_with_astropy_skycoord(cells):
    tract = cells.tract(5063)
    wcs = WCS(tract.wcs_header)
    coord = SkyCoord(53.194833, -28.146306, unit="deg")
    x, y = coord.to_pixel(wcs, origin=0)
    assert (float(x), float(y)) == pytest.approx(tuple(map(float, tract.sky_to_pixel(53.194833, -28.146306))))


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 359.9999), st.floats(-89.9, 89.9))
def test_find_tract_vectorised_matches_scalar_and_home_is_overlapping(ra, dec):
    cells = load_skymap("lsst_cells_v1")
    tract = cells.find_tract(ra, dec)
    assert int(cells.find_tract_ids(np.array([ra]), np.array([dec]))[0]) == tract.id
    home = tract.find_patch(ra, dec)
    assert (home.tract, home.index) in {(p.tract, p.index) for p in cells.patches_overlapping(ra, dec)}


def test_circle_query_grows_with_radius(cells):
    point = cells.patches_overlapping(53.194833, -28.146306)
    circle = cells.patches_overlapping(53.194833, -28.146306, radius=0.2)
    assert set((p.tract, p.index) for p in point) < set((p.tract, p.index) for p in circle)
    # every patch whose centre lies within the radius must be listed
    for tract_id in {p.tract for p in circle}:
        tract = cells.tract(tract_id)
        for patch in tract.patches():
            cx, cy = patch.outer.center
            ra, dec = tract.pixel_to_sky(cx, cy)
            sep = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(53.194833, -28.146306, unit="deg")).deg
            if sep < 0.2:
                assert (tract_id, patch.index) in {(p.tract, p.index) for p in circle}


def test_explicit_skymap_matches_rings_tract(cells):
    rings_tract = cells.tract(5063)
    explicit = skymap_from_dict({"type": "explicit", "name": "one", "tracts": [{
        "id": 5063, "wcs": rings_tract.wcs_header, "bbox": [0, 0, 30000, 30000],
        "patch_inner_dimensions": [3000, 3000], "patch_border": 200}]})
    assert isinstance(explicit, ExplicitSkyMap)
    for ra, dec, tract_id, xy, index, px, py in VECTORS:
        tract, patch = explicit.find_home(ra, dec)
        assert (tract.id, patch.index) == (tract_id, index)
    with pytest.raises(NotFoundError):
        explicit.find_home(200.0, 10.0)


@pytest.mark.parametrize("spec", [{"type": "hexagons"}, {"type": "rings"}, {"preset": "nope"}, {"type": "explicit", "tracts": []}])
def test_bad_skymap_descriptions(spec):
    with pytest.raises(DataError):
        skymap_from_dict(spec)


def test_tract_from_explicit_header_is_a_tract(cells):
    assert isinstance(cells.tract(5063), Tract)
