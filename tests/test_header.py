"""The FITS card formatter and the light Header agree with astropy's own parser."""

import math
import warnings

import pytest
from astropy.io import fits
from hypothesis import given
from hypothesis import strategies as st

from cutout_cli.fits.header import Header, format_card

names = st.sampled_from(["CRPIX1", "LTV1", "CRVAL1A", "A", "TARGETID", "BUNIT", "MP_DETECTED_NEGATIVE", "REQRA"])
values = st.one_of(
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
)
comments = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


def _parse(card_bytes: bytes) -> fits.Card:
    assert len(card_bytes) % 80 == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any verify problem fails the test
        header = fits.Header.fromstring(card_bytes.decode("ascii") + "END".ljust(80))
        return header.cards[0]


def _read_with_cfitsio(card_bytes: bytes, name: str):
    """The card's value as cfitsio reads it from a real file."""
    import os
    import tempfile

    import fitsio

    structure = b"".join(c.ljust(80) for c in (b"SIMPLE  =                    T", b"BITPIX  =                    8",
                                                b"NAXIS   =                    0"))
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "card.fits")
        with open(path, "wb") as handle:
            handle.write((structure + card_bytes + b"END".ljust(80)).ljust(2880, b" "))
        return fitsio.read_header(path)[name]


@given(names, values, comments)
def test_cards_round_trip_through_astropy(name, value, comment):
    card_bytes = format_card(name, value, comment)
    card = _parse(card_bytes)
    assert card.keyword == name
    if isinstance(value, float):
        assert card.value == value or math.isclose(card.value, value, rel_tol=1e-15)
    elif isinstance(value, str) and "'" in value:
        # astropy misreads a doubled quote followed by '/' or a space ("'/" reads as "'"); cfitsio does not
        assert _read_with_cfitsio(card_bytes, name).rstrip() == value.rstrip()
    elif isinstance(value, str):
        assert card.value == value.rstrip()
    else:
        assert card.value == value and type(card.value) is type(value)


def test_a_doubled_quote_before_a_slash_is_written_as_the_standard_says():
    card = format_card("REQUEST", "'/", "")
    assert card.startswith(b"REQUEST = '''/")
    assert _read_with_cfitsio(card, "REQUEST") == "'/"


def test_types_are_not_confused_by_the_cache():
    assert _parse(format_card("INHERIT", True)).value is True
    assert _parse(format_card("INHERIT", 1)).value == 1 and _parse(format_card("INHERIT", 1)).value is not True
    assert isinstance(_parse(format_card("INHERIT", 1.0)).value, float)


@pytest.mark.parametrize("value", [1e-05, -5.555555555555556e-05, 1e300, 0.0, -0.0, 123456789.125, 2.0**-1074])
def test_float_formats(value):
    assert _parse(format_card("CD1_1", value)).value == value


def test_header_updates_and_astropy_view():
    header = Header([("CRPIX1", 10.0, "ref"), ("MP_NO_DATA", 8, ""), ("COMMENT", "hello", "")])
    updated = header.updated({"CRPIX1": (4.0, None), "LTV1": (-6, "origin")})
    assert header["CRPIX1"] == 10.0 and updated["CRPIX1"] == 4.0 and updated.names()[-1] == "LTV1"
    view = updated.to_astropy()
    assert view["CRPIX1"] == 4.0 and view.comments["CRPIX1"] == "ref" and view["MP_NO_DATA"] == 8
    assert "HIERARCH MP_NO_DATA" in view.tostring() and view["COMMENT"][0] == "hello"
