"""An exact sky projection given as a Starlink AST mapping, evaluated with starlink-pyast.

lsst.images stores the projection of its images as an AST mapping in AST's
native text: PARENT pixel ``(x, y)`` (0-based, pixel centres on integers) to
ICRS ``(ra, dec)`` in radians.  Not every such mapping has a FITS form (a
distortion AST can describe but FITS cannot), so cutout evaluates the mapping
itself and, for a cutout's header, fits a FITS WCS to it over the cutout's
pixels (:mod:`cutout_cli.sky.wcs_fit`).

AST is the optional ``starlink-pyast`` package (``pip install
'cutout-cli[lsst-images]'``); :class:`AstProjection` raises
:class:`~cutout_cli.errors.DataError` naming it when it is missing.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError, first_line

__all__ = ["AstProjection", "PYAST_HINT", "have_pyast"]

#: The fix named by every error about a missing starlink-pyast.
PYAST_HINT = "install starlink-pyast: pip install 'cutout-cli[lsst-images]'"


def have_pyast() -> bool:
    """Whether starlink-pyast can be imported."""
    try:
        import starlink.Ast  # noqa: F401
    except ImportError:
        return False
    return True


class _Lines:
    """The source object AST's ``Channel`` reads text from, one line per call."""

    def __init__(self, text: str):
        self._lines = text.splitlines()
        self._next = 0

    def astsource(self):
        if self._next >= len(self._lines):
            return None
        self._next += 1
        return self._lines[self._next - 1]


class AstProjection:
    """PARENT pixels <-> ICRS degrees through an AST mapping (module docstring).

    ``what`` names the file in error messages.
    """

    def __init__(self, text: str, what: str):
        try:
            import starlink.Ast as Ast
        except ImportError:
            raise DataError(f"{what}: its exact sky projection (an AST mapping) needs starlink-pyast, "
                            "which is not installed", PYAST_HINT) from None
        self.what = what
        try:
            mapping = Ast.Channel(_Lines(text)).read()
        except Exception as err:  # pyast raises Ast.AstError subclasses, and others on odd text
            raise DataError(f"{what}: cannot read its sky projection: {first_line(err)}") from None
        if mapping is None or not isinstance(mapping, Ast.Mapping) or mapping.Nin != 2 or mapping.Nout != 2:
            raise DataError(f"{what}: its sky projection is not a 2-D mapping")
        self._mapping = mapping.simplify() if hasattr(mapping, "simplify") else mapping

    def pixel_to_sky(self, x, y):
        """ICRS ``(ra, dec)`` in degrees (RA in [0, 360)) of PARENT pixel(s) ``(x, y)``."""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        out = self._tran(np.vstack([x.ravel(), y.ravel()]), True)
        ra = np.degrees(out[0]) % 360.0
        return ra.reshape(x.shape), np.degrees(out[1]).reshape(x.shape)

    def sky_to_pixel(self, ra, dec):
        """Float PARENT pixel(s) ``(x, y)`` of ICRS position(s) in degrees (NaN where the projection
        has no pixel)."""
        ra, dec = np.broadcast_arrays(np.asarray(ra, dtype=float), np.asarray(dec, dtype=float))
        sky = np.vstack([np.radians(ra.ravel()), np.radians(dec.ravel())])
        if self._mapping.TranInverse:
            out = self._tran(sky, False)
        else:
            out = self._newton(sky)
        return out[0].reshape(ra.shape), out[1].reshape(ra.shape)

    def pixel_scale(self, x: float, y: float) -> float:
        """Arcsec per pixel at PARENT ``(x, y)``: the square root of the area of one pixel there."""
        ra, dec = self.pixel_to_sky([x, x + 1.0, x], [y, y, y + 1.0])
        east = np.array([(ra[1] - ra[0] + 180) % 360 - 180, (ra[2] - ra[0] + 180) % 360 - 180])
        east *= math.cos(math.radians(dec[0]))
        north = np.array([dec[1] - dec[0], dec[2] - dec[0]])
        return math.sqrt(abs(east[0] * north[1] - east[1] * north[0])) * 3600.0

    def _tran(self, points: np.ndarray, forward: bool) -> np.ndarray:
        try:
            out = np.asarray(self._mapping.tran(points, forward), dtype=float)
        except Exception as err:
            raise DataError(f"{self.what}: cannot evaluate its sky projection: {first_line(err)}") from None
        out[out == -1.7976931348623157e308] = np.nan  # AST__BAD: no value there
        return out

    def _newton(self, sky: np.ndarray, steps: int = 50) -> np.ndarray:
        """Pixels of ICRS radians for a mapping without an inverse: Newton's method on the forward one,
        with numerical derivatives, from pixel (0, 0) (a few steps for smooth projections)."""
        target = sky
        pixel = np.zeros_like(sky)
        for _ in range(steps):
            here = self._tran(pixel, True)
            dx = self._tran(pixel + [[0.5], [0.0]], True) - here
            dy = self._tran(pixel + [[0.0], [0.5]], True) - here
            error = target - here
            error[0] = (error[0] + math.pi) % (2 * math.pi) - math.pi
            for d in (dx, dy):
                d[0] = (d[0] + math.pi) % (2 * math.pi) - math.pi
            det = dx[0] * dy[1] - dx[1] * dy[0]
            step_x = 0.5 * (error[0] * dy[1] - error[1] * dy[0]) / det
            step_y = 0.5 * (dx[0] * error[1] - dx[1] * error[0]) / det
            pixel = pixel + np.vstack([step_x, step_y])
            if np.nanmax(np.abs(np.concatenate([step_x, step_y])), initial=0.0) < 1e-10:
                break
        return pixel
