"""Integer box rules of docs/conventions.md, section 1 (lsst.geom conventions)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutout_cli.sky.box import Box, centered_begin, round_half_up

coord = st.integers(-100_000, 100_000)
extent = st.integers(1, 5000)
center = st.floats(-1e5, 1e5, allow_nan=False)


def test_corner_size_spans_half_open_range():
    box = Box.from_corner_size(10, 20, 5, 7)
    assert (box.begin_x, box.end_x, box.min_x, box.max_x) == (10, 15, 10, 14)
    assert (box.begin_y, box.end_y, box.min_y, box.max_y) == (20, 27, 20, 26)
    assert box.shape == (7, 5)


def test_min_max_is_inclusive_on_both_ends():
    box = Box.from_min_max(10, 20, 14, 26)
    assert (box.width, box.height) == (5, 7)
    assert box == Box.from_corner_size(10, 20, 5, 7)


def test_round_half_up():
    assert [round_half_up(v) for v in (0.5, 1.5, -0.5, -1.5, 2.4999, -0.50001)] == [1, 2, 0, -1, 2, -1]


@pytest.mark.parametrize("c, n, begin", [
    (10.0, 5, 8), (10.0, 4, 9), (10.3, 4, 9), (10.6, 4, 9), (10.6, 5, 9), (10.5, 4, 9), (10.49, 5, 8),
])
def test_centered_rule_odd_and_even(c, n, begin):
    assert centered_begin(c, n) == begin == math.floor(c - n / 2 + 1)


def test_centered_even_size_differs_from_notebook_recipe():
    # the recipe floor(c + 0.5) - n // 2 is biased by a pixel for even n
    c, n = 10.0, 4
    box = Box.centered(c, c, n, n)
    assert box.begin_x == 9 and (box.begin_x + box.end_x - 1) / 2 == 10.5
    assert math.floor(c + 0.5) - n // 2 == 8


def test_float_bounds_expand():
    box = Box.from_float_bounds(-0.4, 0.6, 9.4, 9.6)
    assert (box.min_x, box.min_y, box.max_x, box.max_y) == (0, 1, 9, 10)


def test_parent_local_round_trip_and_slices():
    box = Box.from_corner_size(8900, 8950, 50, 30)
    local = box.to_local((8800, 8800))
    assert (local.begin_x, local.begin_y) == (100, 150)
    assert local.to_parent((8800, 8800)) == box
    assert box.slices((8800, 8800)) == (slice(150, 180), slice(100, 150))


def test_intersection_and_containment():
    a, b = Box(0, 0, 10, 10), Box(5, -5, 10, 10)
    assert a.intersection(b) == Box(5, 0, 5, 5)
    assert a.intersection(Box(20, 20, 3, 3)).is_empty
    assert a.contains_box(Box(2, 2, 3, 3)) and not a.contains_box(b)


def test_negative_dimensions_rejected():
    with pytest.raises(ValueError):
        Box(0, 0, -1, 3)


@given(center, center, extent, extent)
def test_centered_box_centre_within_half_a_pixel(cx, cy, w, h):
    box = Box.centered(cx, cy, w, h)
    bx, by = box.center
    assert abs(bx - cx) <= 0.5 + 1e-9 and abs(by - cy) <= 0.5 + 1e-9
    assert (box.width, box.height) == (w, h)


@given(coord, coord, extent, extent)
def test_min_max_round_trip(x, y, w, h):
    box = Box.from_corner_size(x, y, w, h)
    assert Box.from_min_max(box.min_x, box.min_y, box.max_x, box.max_y) == box


@given(coord, coord, extent, extent, coord, coord)
def test_local_parent_inverse(x, y, w, h, x0, y0):
    box = Box(x, y, w, h)
    assert box.to_local((x0, y0)).to_parent((x0, y0)) == box


@given(coord, coord, extent, extent, coord, coord, extent, extent)
def test_intersection_is_commutative_and_contained(x1, y1, w1, h1, x2, y2, w2, h2):
    a, b = Box(x1, y1, w1, h1), Box(x2, y2, w2, h2)
    ab, ba = a.intersection(b), b.intersection(a)
    assert ab.is_empty == ba.is_empty
    if not ab.is_empty:
        assert ab == ba and a.contains_box(ab) and b.contains_box(ab)
