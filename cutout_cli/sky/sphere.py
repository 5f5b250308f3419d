"""Spherical geometry helpers (pure numpy; angles in degrees)."""

from __future__ import annotations

import math

import numpy as np


def _unit_vectors(ra_deg, dec_deg):
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    cos_dec = np.cos(dec)
    return np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=-1)


def angular_separation(ra1, dec1, ra2, dec2):
    """Great-circle distance in degrees (vectorised, numerically stable for small angles)."""
    v1, v2 = _unit_vectors(ra1, dec1), _unit_vectors(ra2, dec2)
    cross = np.linalg.norm(np.cross(v1, v2), axis=-1)
    dot = np.sum(v1 * v2, axis=-1)
    return np.degrees(np.arctan2(cross, dot))


def offset_point(ra_deg: float, dec_deg: float, bearing_deg: float, distance_deg: float) -> tuple[float, float]:
    """Point reached from (ra, dec) along a great circle; bearing from north through east.

    Works at the poles too: there the local (east, north) basis is the one of
    the meridian ``ra``, as lsst.geom ``SpherePoint.offset`` does.
    """
    ra, dec = math.radians(ra_deg), math.radians(dec_deg)
    b, d = math.radians(bearing_deg), math.radians(distance_deg)
    here = np.array([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])
    east = np.array([-math.sin(ra), math.cos(ra), 0.0])
    north = np.array([-math.sin(dec) * math.cos(ra), -math.sin(dec) * math.sin(ra), math.cos(dec)])
    there = math.cos(d) * here + math.sin(d) * (math.cos(b) * north + math.sin(b) * east)
    return math.degrees(math.atan2(there[1], there[0])) % 360.0, math.degrees(math.asin(max(-1.0, min(1.0, there[2]))))
