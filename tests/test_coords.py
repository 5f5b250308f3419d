"""Parsing of positions and sizes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cutout_cli.sky.parse import Point, parse_dec, parse_int_box, parse_pos, parse_ra, parse_size
from cutout_cli.errors import InputError


@pytest.mark.parametrize("text, pixels", [
    ("300", (300, 300)), ("300px", (300, 300)), ("60arcsec", (300, 300)), ('60"', (300, 300)),
    ("1arcmin", (300, 300)), ("0.01deg", (180, 180)), ("50,80", (50, 80)), ("10arcsec,20", (50, 20)),
    ("1.5arcmin", (450, 450)),
])
def test_sizes_in_pixels_and_angles(text, pixels):
    assert parse_size(text).to_pixels(0.2) == pixels


def test_angular_size_rounds_not_truncates():
    # a pixel scale measured from a WCS sits a hair below nominal: int() would give 299
    assert parse_size("60arcsec").to_pixels(0.2000000000001) == (300, 300)
    assert parse_size("60arcsec").to_pixels(0.1999999999999) == (300, 300)


@pytest.mark.parametrize("bad", ["", "abc", "-5", "0", "1.5px", "5furlongs", "1,2,3", "nan", "inf"])
def test_bad_sizes(bad):
    with pytest.raises(InputError):
        parse_size(bad)


def test_size_too_small_in_pixels():
    with pytest.raises(InputError, match="pixels"):
        parse_size("0.01arcsec").to_pixels(0.2)


@pytest.mark.parametrize("text, degrees", [
    ("53.318792", 53.318792), ("03:33:16.51", 53.3187916667), ("03h33m16.51s", 53.3187916667),
    ("3 33 16.51", 53.3187916667), ("53d19m07.65s", 53.31879166667), ("-10", 350.0), ("360", 0.0),
])
def test_ra(text, degrees):
    assert parse_ra(text) == pytest.approx(degrees, abs=1e-9)


@pytest.mark.parametrize("text, degrees", [
    ("-27.844306", -27.844306), ("-27:50:39.5", -27.8443055556), ("-27d50m39.5s", -27.8443055556),
    ("+05:30:00", 5.5), ("-00:30:00", -0.5), ("90", 90.0),
])
def test_dec(text, degrees):
    assert parse_dec(text) == pytest.approx(degrees, abs=1e-9)


@pytest.mark.parametrize("bad", ["91", "-90.5", "nan", "inf", "north", "12:61:00"])
def test_bad_dec(bad):
    with pytest.raises(InputError):
        parse_dec(bad)


def test_positions_and_regions():
    assert parse_pos("53.1 -28.1") == Point(53.1, -28.1)
    ra, dec = parse_pos("03 33 16.51 -27 50 39.5").ra, parse_pos("03 33 16.51 -27 50 39.5").dec
    assert ra == pytest.approx(53.3187916667) and dec == pytest.approx(-27.8443055556)
    circle = parse_pos("CIRCLE 53.1 -28.1 0.05")
    assert type(circle).__name__ == "Circle" and circle.getOpeningAngle().asDegrees() == pytest.approx(0.05)
    with pytest.raises(InputError):
        parse_pos("CIRCLE 53.1 -28.1")


def test_int_box():
    assert parse_int_box("8800, 8800,300,200") == (8800, 8800, 300, 200)
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,5", "1.5,0,3,3"):
        with pytest.raises(InputError):
            parse_int_box(bad)


@given(st.floats(0, 359.999999), st.floats(-90, 90))
def test_decimal_round_trip(ra, dec):
    assert parse_ra(repr(ra)) == pytest.approx(ra % 360.0)
    assert parse_dec(repr(dec)) == dec


# -- RA hours must lie in [0, 24) (issue 17, item 5); truth from astropy's Angle --------------------

@pytest.mark.parametrize("text", ["03:33:16.51", "03h33m16.51s", "3 33 16.51", "3:33", "00:00:00", "23:59:59.999",
                                  "+03:33:16.51", "0h0m0.5s"])
def test_sexagesimal_ra_in_hours_agrees_with_astropy(text):
    from astropy.coordinates import Angle

    assert parse_ra(text) == pytest.approx(Angle(text.replace(" ", ":"), unit="hourangle").degree % 360.0, abs=1e-9)


@pytest.mark.parametrize("text", ["53d19m07.65s", "53d19m", "353d19m07.65s", "53°19'07.65\"", "-10d30m"])
def test_sexagesimal_degrees_marked_with_d_agree_with_astropy(text):
    from astropy.coordinates import Angle

    assert parse_ra(text) == pytest.approx(Angle(text).degree % 360.0, abs=1e-9)


@pytest.mark.parametrize("text, hours", [("25:00:00", 25.0), ("53:19:07.65", 53 + 19 / 60 + 7.65 / 3600),
                                         ("24:00:00", 24.0), ("24h00m00s", 24.0), ("-01:00:00", -1.0)])
def test_sexagesimal_ra_of_24_hours_or_more_is_an_error(text, hours):
    with pytest.raises(InputError) as caught:
        parse_ra(text)
    message = str(caught.value)
    assert f"is {hours:g} hours, outside [0, 24)" in message and "\n" not in message
    marked = "".join(f + m for f, m in zip(text.lstrip("+-").replace("h", ":").replace("m", ":").rstrip("s")
                                           .split(":"), "dms"))
    assert ("-" if text.startswith("-") else "") + marked in message  # how to give the same digits as degrees
    from astropy.coordinates import Angle

    assert parse_ra(marked) == pytest.approx(Angle(marked).degree % 360.0, abs=1e-9)  # and that spelling works


def test_command_line_rejects_ra_hours_of_24_or_more(small_repo):
    from .conftest import run_cli

    for text in ("25:00:00", "53:19:07.65"):
        result = run_cli("--repo", small_repo.root, "bbox", "--ra", text, "--dec", "-27:50:39.5", "--size", "9")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "outside [0, 24)" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    degrees = run_cli("--repo", small_repo.root, "bbox", "--ra", "53d19m07.65s", "--dec", "-27:50:39.5", "--size", "9",
                      "--format", "json")
    assert degrees.returncode == 0, degrees.stderr
    import json

    assert json.loads(degrees.stdout)["ra"] == pytest.approx(53.31879166667, abs=1e-9)
