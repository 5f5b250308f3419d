"""The service's parsing and geometry, in process: identifiers, SODA parameters, stencil boxes.

Truth: pixel centres tested one by one against the circle with the project's
great-circle distance (independent of the boundary sampling that
``enclosing_box`` does), and ``Repository.region_cutout`` (what ``cutout subset
--pos`` cuts) for the pixels.  The served requests are in tests/test_serve.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cutout_cli.serve.faults import Fault
from cutout_cli.serve.ids import format_id, parse_id
from cutout_cli.serve.limits import Limits
from cutout_cli.serve.soda import sky_request, soda_request
from cutout_cli.serve.work import Cutter
from cutout_cli.sky.sphere import angular_separation

from .conftest import TARGET_11

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)
bands = st.from_regex(r"[A-Za-z0-9_]{1,16}", fullmatch=True)


@given(names, st.integers(0, 10**8), st.one_of(st.integers(0, 10**5), st.tuples(st.integers(0, 999), st.integers(0, 999))),
       bands)
def test_data_ids_round_trip(dataset_type, tract, patch, band):
    patch_text = f"{patch[0]},{patch[1]}" if isinstance(patch, tuple) else str(patch)
    parsed = parse_id(f"{dataset_type}/{tract}/{patch_text}/{band}")
    assert (parsed.dataset_type, parsed.tract, parsed.patch, parsed.band) == (dataset_type, tract, patch, band)
    inside = parse_id(f"ivo://example.org/coadds?{dataset_type}/{tract}/{patch_text}/{band}")
    assert (inside.tract, inside.patch, inside.band) == (tract, patch, band)


@given(st.uuids())
def test_butler_ids_in_every_spelling(value):
    for text in (str(value), value.hex, str(value).upper(), f"ivo://org.rubinobs/usdac/dp1?repo=dp1&id={value}"):
        assert parse_id(text).dataset_id == str(value)


@given(st.text(max_size=80))
def test_any_text_is_an_id_of_safe_parts_or_a_usage_error(text):
    try:
        parsed = parse_id(text)
    except Fault as fault:
        assert (fault.code, fault.status) == ("UsageError", 400)
        return
    for part in (parsed.dataset_type, parsed.band):
        assert part is None or re.fullmatch(r"[A-Za-z0-9_]+", part)


def test_parameters_names_any_case_values_checked():
    request = soda_request([("id", "5063/33/r"), ("circle", " 53.3  -27.8 0.01 "), ("Other", "x")])
    assert request.pos == "CIRCLE 53.3 -27.8 0.01" and request.dataset.patch == 33
    assert soda_request([("ID", "5063/33/r"), ("POS", "RANGE 10 20 -Inf +Inf")]).pos == "RANGE 10 20 -90.0 90.0"
    assert soda_request([("ID", "5063/33/r"), ("POS", "")]).region is None  # empty: no stencil
    cases = {(("ID", "a/1/2/r"), ("ID", "1/2/r")): "MultiValuedParamNotSupported",
             (("ID", "1/2/r"), ("POS", "CIRCLE 1 2 0.1"), ("POLYGON", "1 2 3 4 5 6")): "MultiValuedParamNotSupported",
             (("ID", "1/2/r"), ("TIME", "55000 56000")): "UsageError",
             (("ID", "1/2/r"), ("RESPONSEFORMAT", "image/png")): "UsageError",
             (("POS", "CIRCLE 1 2 0.1"),): "UsageError",
             (("ID", "1/2/r"), ("POS", "CIRCLE 1 2 nan")): "UsageError",
             (("ID", "1/2/r"), ("POLYGON", " ".join(["1 2"] * 65))): "UsageError"}
    for params, code in cases.items():
        with pytest.raises(Fault) as raised:
            soda_request(list(params))
        assert raised.value.code == code and raised.value.status == 400


def test_sky_request_refuses_what_subset_refuses():
    assert sky_request({"ra": "03:33:16.51", "dec": "-27:50:39.5", "size": "60arcsec", "band": "r"}).ra == \
        pytest.approx(53.318792, abs=1e-5)
    for bad in ({"ra": 1, "dec": 2, "size": "-5", "band": "r"}, {"ra": 1, "dec": 95, "size": 5, "band": "r"},
                {"ra": 1, "dec": 2, "size": 5, "band": "../r"}, {"ra": 1, "dec": 2, "size": 5},
                {"ra": [1], "dec": 2, "size": 5, "band": "r"}, {"ra": 1, "dec": 2, "size": 5, "band": "r", "x": 1}):
        with pytest.raises(Fault):
            sky_request(bad)


@pytest.fixture(scope="module")
def cutter(small_repo):
    return Cutter(small_repo, Limits())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dx=st.floats(-150, 150), dy=st.floats(-150, 150), radius_arcsec=st.floats(0.3, 40))
def test_stencil_box_holds_exactly_the_pixels_in_the_circle(cutter, small_repo, dx, dy, radius_arcsec):
    ref = small_repo.query(band="r", ra=TARGET_11[0], dec=TARGET_11[1])[0]
    tract = small_repo.skymap.tract(ref.tract)
    cx, cy = ref.outer.center
    ra, dec = (float(v) for v in tract.pixel_to_sky(cx + dx, cy + dy))
    radius = radius_arcsec / 3600.0
    box = cutter._stencil_box(small_repo, ref, soda_request([("ID", "x/1/2/r"), ("CIRCLE", f"{ra} {dec} {radius}")]).region)
    ys, xs = np.mgrid[ref.outer.begin_y:ref.outer.end_y, ref.outer.begin_x:ref.outer.end_x]
    sky = tract.pixel_to_sky(xs.ravel().astype(float), ys.ravel().astype(float))
    inside = angular_separation(sky[0], sky[1], ra, dec) < radius * (1 - 1e-9)
    if box is None:
        assert not inside.any()
        return
    assert ref.outer.contains_box(box)
    held = (xs.ravel() >= box.begin_x) & (xs.ravel() < box.end_x) & (ys.ravel() >= box.begin_y) & (ys.ravel() < box.end_y)
    assert held[inside].all()
    radius_px = radius_arcsec / 0.2
    wholly_inside = abs(dx) + radius_px + 2 < ref.outer.width / 2 and abs(dy) + radius_px + 2 < ref.outer.height / 2
    if wholly_inside:  # no more than a pixel beyond the pixels inside, on each side (a clipped circle's box is
        # the whole circle's box clipped: it may be wider than the part inside)
        assert box.begin_x >= xs.ravel()[inside].min() - 1 and box.end_x <= xs.ravel()[inside].max() + 2
        assert box.begin_y >= ys.ravel()[inside].min() - 1 and box.end_y <= ys.ravel()[inside].max() + 2


def test_served_pixels_are_subset_pixels(cutter, small_repo):
    import io

    from astropy.io import fits

    home = next(r for r in small_repo.query(band="r", ra=TARGET_11[0], dec=TARGET_11[1]) if r.home)
    pos = f"CIRCLE {TARGET_11[0]} {TARGET_11[1]} 0.002"
    data, name = cutter.soda(soda_request([("ID", format_id(home)), ("POS", pos)]))
    expected = small_repo.region_cutout(pos, "r")
    with fits.open(io.BytesIO(data)) as served:
        for plane in ("IMAGE", "MASK", "VARIANCE"):
            np.testing.assert_array_equal(served[plane].data, expected.planes[plane])
        assert served[0].header["CUTX0"] == expected.bbox.begin_x and served[0].header["CUTW"] == expected.bbox.width
        assert served[0].header["SRCFILE"].startswith("<repository>/")
    assert name.endswith(".fits") and name.startswith(home.dataset_type)
