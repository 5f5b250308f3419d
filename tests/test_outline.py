"""fits_outline against files fitsio writes: whole, with a card the fast parser leaves to cfitsio, cut short."""

import fitsio
import numpy as np

from cutout_cli.fits.outline import fits_outline


def _write(path):
    with fitsio.FITS(str(path), "rw", clobber=True) as f:
        f.write(None, header=[{"name": "TARGETID", "value": "x"}])
        f.write(np.zeros((4, 4), "f4"), extname="IMAGE")
        f.write(np.zeros((4, 4), "i4"), extname="MASK")
    return path


def test_whole_file(tmp_path):
    primary, extnames = fits_outline(str(_write(tmp_path / "a.fits")))
    assert primary["TARGETID"] == "x" and extnames == ["IMAGE", "MASK"]


def test_a_header_left_to_cfitsio_is_outlined_by_it(tmp_path):
    path = _write(tmp_path / "a.fits")
    raw = bytearray(path.read_bytes())
    end = next(j for j in range(0, 2880, 80) if raw[j:j + 80] == b"END".ljust(80))
    raw[end:end + 160] = b"COMPLX  = (1.0, 2.0)".ljust(80) + b"END".ljust(80)  # a complex value: fitsio's to read
    path.write_bytes(bytes(raw))
    primary, extnames = fits_outline(str(path))
    assert primary["TARGETID"] == "x" and "COMPLX" in primary and extnames == ["IMAGE", "MASK"]
    path.write_bytes(bytes(raw[:-100]))
    assert fits_outline(str(path)) is None


def test_cut_short_or_padded_or_missing(tmp_path):
    path = _write(tmp_path / "a.fits")
    whole = path.read_bytes()
    for data in (whole[:-1], whole[:-2880], whole + b"\0" * 2880, b""):
        path.write_bytes(data)
        assert fits_outline(str(path)) is None, len(data)
    assert fits_outline(str(tmp_path / "none.fits")) is None
