"""IVOA POS regions (lsst-sphgeom) against independent computations, circle masks, the HSC preset."""

import json

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

from cutout_cli.sky.regions import overlapping_patches, parse_region
from cutout_cli import load_skymap

from .conftest import TARGET_11, run_cli


@pytest.fixture(scope="module")
def cells():
    return load_skymap("lsst_cells_v1")


def outer_samples(tract, patch, step=2):
    """Sky positions of points every ``step`` pixels along the patch's outer polygon (pixel edges)."""
    o = patch.outer
    xs = np.append(np.arange(o.begin_x - 0.5, o.end_x - 0.5, step), o.end_x - 0.5)
    ys = np.append(np.arange(o.begin_y - 0.5, o.end_y - 0.5, step), o.end_y - 0.5)
    px = np.concatenate([xs, xs, np.full_like(ys, xs[0]), np.full_like(ys, xs[-1])])
    py = np.concatenate([np.full_like(xs, ys[0]), np.full_like(xs, ys[-1]), ys, ys])
    ra, dec = WCS(tract.wcs_header).wcs_pix2world(px, py, 0)
    return SkyCoord(ra * u.deg, dec * u.deg)


def holds(tract, patch, ra, dec) -> bool:
    x, y = WCS(tract.wcs_header).wcs_world2pix(ra, dec, 0)
    o = patch.outer
    return bool(o.begin_x - 0.5 <= x <= o.end_x - 0.5 and o.begin_y - 0.5 <= y <= o.end_y - 0.5)


def nearby_patches(cells, ra, dec, reach_deg):
    return [(cells.tract(t), p) for t in cells.candidate_tract_ids(ra, dec, reach_deg)
            for p in cells.tract(t).patches_overlapping(ra, dec, reach_deg)]


@pytest.mark.parametrize("ra, dec, radius", [(53.3, -27.85, 0.05), (53.19, -28.15, 0.21), (52.81, -27.72, 0.013),
                                             (53.6, -28.6, 0.3)])
def test_circle_query_matches_astropy_separations(cells, ra, dec, radius):
    region = parse_region(f"CIRCLE {ra} {dec} {radius}")
    found = {(p.tract, p.index) for p in overlapping_patches(cells, region)}
    centre = SkyCoord(ra * u.deg, dec * u.deg)
    checked = 0
    for tract, patch in nearby_patches(cells, ra, dec, radius + 0.3):
        # the distance from the centre to the patch: 0 inside, else to its boundary
        nearest = 0.0 if holds(tract, patch, ra, dec) else outer_samples(tract, patch).separation(centre).deg.min()
        if abs(nearest - radius) < 1 / 3600:  # closer than the sampling can decide
            continue
        assert ((tract.id, patch.index) in found) == (nearest <= radius), (tract.id, patch.index, nearest)
        checked += 1
    assert checked > 10 and found


def _separating_axis_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Two convex polygons (N x 2 vertex arrays) overlap unless an edge normal separates them."""
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            pa, pb = a @ normal, b @ normal
            if pa.max() < pb.min() or pb.max() < pa.min():
                return False
    return True


@pytest.mark.parametrize("vertices", [
    [(53.0, -28.2), (53.4, -28.2), (53.4, -27.8)],
    [(53.25, -27.9), (53.35, -27.9), (53.35, -27.8), (53.25, -27.8)],
    [(52.5, -28.9), (53.9, -28.4), (53.0, -27.0)],
])
def test_polygon_query_matches_separating_axes_in_the_tangent_plane(cells, vertices):
    """Great circles are straight lines under TAN: polygon vs patch box overlap is exact in tract pixels."""
    region = parse_region("POLYGON " + " ".join(f"{r} {d}" for r, d in vertices))
    found = {(p.tract, p.index) for p in overlapping_patches(cells, region)}
    ra, dec = np.mean([v[0] for v in vertices]), np.mean([v[1] for v in vertices])
    for tract, patch in nearby_patches(cells, ra, dec, 1.6):
        wcs = WCS(tract.wcs_header)
        poly = np.array(wcs.wcs_world2pix([v[0] for v in vertices], [v[1] for v in vertices], 0)).T
        o = patch.outer
        box = np.array([[o.begin_x - 0.5, o.begin_y - 0.5], [o.end_x - 0.5, o.begin_y - 0.5],
                        [o.end_x - 0.5, o.end_y - 0.5], [o.begin_x - 0.5, o.end_y - 0.5]])
        assert ((tract.id, patch.index) in found) == _separating_axis_overlap(poly, box), (tract.id, patch.index)
    assert found


@pytest.mark.parametrize("ra1, ra2, dec1, dec2", [(53.30, 53.34, -27.86, -27.82), (52.9, 53.5, -28.3, -28.25)])
def test_range_query_matches_sampled_coordinates(cells, ra1, ra2, dec1, dec2):
    region = parse_region(f"RANGE {ra1} {ra2} {dec1} {dec2}")
    found = {(p.tract, p.index) for p in overlapping_patches(cells, region)}
    ra, dec = (ra1 + ra2) / 2, (dec1 + dec2) / 2
    tol = 1 / 3600
    for tract, patch in nearby_patches(cells, ra, dec, 0.5):
        samples = outer_samples(tract, patch)
        r, d = samples.ra.deg, samples.dec.deg
        inside = (r >= ra1) & (r <= ra2) & (d >= dec1) & (d <= dec2)
        near = (r >= ra1 - tol) & (r <= ra2 + tol) & (d >= dec1 - tol) & (d <= dec2 + tol)
        if near.any() and not inside.any():
            continue  # too close to the edge for sampling to decide
        # overlap: the boundaries cross, or one holds the other (a range corner in the patch)
        truth = bool(inside.any()) or holds(tract, patch, ra1, dec1)
        assert ((tract.id, patch.index) in found) == truth, (tract.id, patch.index)
    assert found


@pytest.mark.parametrize("bad", ["CIRCLE 1 2", "CIRCLE 1 2 -1", "RANGE 1 2 3", "POLYGON 1 2 3 4", "RANGE 1 2 50 40",
                                 "POLYGON 1 2 3 x 5 6", "SQUARE 1 2 3"])
def test_bad_regions_are_usage_errors(bad):
    result = run_cli("query", "--pos", bad)
    assert result.returncode == 2 and result.stderr.startswith("cutout: error:") and "Traceback" not in result.stderr


def test_subset_circle_masks_exactly_the_pixels_outside(sample_patch33, tmp_path):
    ra, dec = TARGET_11
    radius = 0.004
    out = tmp_path / "circle.fits"
    result = run_cli("--repo", sample_patch33.root, "subset", "--pos", f"CIRCLE {ra} {dec} {radius}", "--band", "r",
                     "--mask-outside", "-o", out)
    assert result.returncode == 0, result.stderr
    with fits.open(out) as cut:
        image, mask = cut["IMAGE"].data, cut["MASK"].data
        wcs = WCS(cut["IMAGE"].header)
    n = round(2 * radius * 3600 / 0.2)
    assert abs(image.shape[0] - n) <= 2 and abs(image.shape[1] - n) <= 2  # the enclosing box
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    sky = SkyCoord(*wcs.wcs_pix2world(xx.ravel(), yy.ravel(), 0), unit="deg")
    separation = sky.separation(SkyCoord(ra * u.deg, dec * u.deg)).deg.reshape(image.shape)
    clear = np.abs(separation - radius) > 1e-9
    outside = separation > radius
    assert np.isnan(image[outside & clear]).all() and not np.isnan(image[~outside & clear]).any()
    assert (mask[outside & clear] & (1 << 8)).all()
    assert outside.any() and (~outside).any()


def test_region_query_through_the_cli(sample_patch33):
    result = run_cli("--repo", sample_patch33.root, "query", "--band", "r", "--pos",
                     "RANGE 53.30 53.34 -27.86 -27.82", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert [(r["patch"], r["home"]) for r in json.loads(result.stdout)] == [(33, True)]  # 23 holds no data here


# -- HSC-SSP ----------------------------------------------------------------------------
@pytest.mark.parametrize("ra, dec, tract", [
    (150.116667, 2.205833, 9813),   # COSMOS, the HSC-SSP Deep/UltraDeep COSMOS tract
    (34.5, -5.1, 8523),             # XMM-LSS / SXDS
    (216.0, 0.5, 9615),             # GAMA15H (Wide)
])
def test_hsc_rings_v1_tracts(ra, dec, tract):
    hsc = load_skymap("hsc_rings_v1")
    found, patch = hsc.find_home(ra, dec)
    assert found.id == tract
    assert found.num_patches == (9, 9) and found.pixel_scale == pytest.approx(0.168)
    assert patch.outer.contains_box(patch.inner) and found.bbox.contains_box(patch.outer)  # legacy: clipped


def test_documented_hsc_repo_json(tmp_path):
    """docs/examples/hsc-ssp-repo.json with a (cropped) HSC-I calexp coadd at COSMOS."""
    import dataclasses
    import shutil
    from pathlib import Path

    from cutout_cli.sky.box import Box
    from cutout_cli.repository import Repository

    from .conftest import write_random_coadd

    shutil.copy(Path(__file__).resolve().parents[1] / "docs" / "examples" / "hsc-ssp-repo.json", tmp_path / "repo.json")
    repo = Repository(tmp_path)
    ra, dec = 150.116667, 2.205833
    tract, patch = repo.skymap.find_home(ra, dec)
    x, y = (float(v) for v in tract.sky_to_pixel(ra, dec))
    crop = Box(int(x) - 150, int(y) - 150, 300, 300)  # a piece of the patch, with its own XY0
    path = tmp_path / f"deepCoadd-results/HSC-I/{tract.id}/{patch.x},{patch.y}/calexp-HSC-I-{tract.id}-{patch.x},{patch.y}.fits"
    path.parent.mkdir(parents=True)
    write_random_coadd(path, tract, dataclasses.replace(patch, outer=crop), seed=9, compression="none")
    refs = repo.query("deepCoadd_calexp", "HSC-I", ra, dec)
    assert [(r.tract, r.patch, r.home, Path(r.path)) for r in refs if r.home] == [(9813, patch.index, True, path)]
    result = run_cli("--repo", tmp_path, "subset", "--dataset-type", "deepCoadd_calexp", "--ra", ra, "--dec", dec,
                     "--size", "10arcsec", "--band", "HSC-I", "-o", tmp_path / "cosmos.fits", "--format", "json")
    assert result.returncode == 0, result.stderr
    with fits.open(tmp_path / "cosmos.fits") as cut, fits.open(path) as source:
        assert cut["IMAGE"].data.shape == (60, 60)  # 10 arcsec at 0.168"/px, rounded
        x0, y0 = cut["IMAGE"].header["CRVAL1A"], cut["IMAGE"].header["CRVAL2A"]
        np.testing.assert_array_equal(cut["IMAGE"].data,
                                      source["IMAGE"].data[y0 - crop.begin_y:y0 - crop.begin_y + 60,
                                                           x0 - crop.begin_x:x0 - crop.begin_x + 60])
