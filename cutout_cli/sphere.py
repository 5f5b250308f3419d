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


def distance_to_arc(ra, dec, ra1, dec1, ra2, dec2) -> float:
    """Angular distance (deg) from a point to the shorter great-circle arc between two points."""
    p, a, b = (_unit_vectors(r, d) for r, d in ((ra, dec), (ra1, dec1), (ra2, dec2)))
    normal = np.cross(a, b)
    norm = np.linalg.norm(normal)
    if norm > 0:
        normal = normal / norm
        # foot of the perpendicular from p on the great circle, then check it is between a and b
        foot = p - np.dot(p, normal) * normal
        if np.dot(np.cross(a, foot), normal) >= 0 and np.dot(np.cross(foot, b), normal) >= 0:
            return float(np.degrees(math.asin(min(1.0, abs(float(np.dot(p, normal)))))))
    return float(min(angular_separation(ra, dec, ra1, dec1), angular_separation(ra, dec, ra2, dec2)))
