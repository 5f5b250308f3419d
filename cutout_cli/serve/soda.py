"""The parameters of the SODA ``{sync}`` endpoint and of the JSON cutout endpoint, checked into requests.

SODA 1.0 (and DALI): parameter names are case-insensitive, values are not;
``ID`` names the dataset; the stencil is one of ``POS`` (``CIRCLE ra dec r``,
``RANGE ra1 ra2 dec1 dec2``, ``POLYGON ra1 dec1 ...``), ``CIRCLE`` (``ra dec r``)
or ``POLYGON`` (``ra1 dec1 ...``), degrees in ICRS; without one the whole dataset is
returned.  This service takes one ID and at most one stencil per request (a second
value of either is ``MultiValuedParamNotSupported``, as SODA 5.2 asks); ``BAND``,
``TIME`` and ``POL`` do not apply to its datasets (one band's 2-D image each) and are
a UsageError when given a value; other parameters are ignored (DALI).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..cutouts.request import parse_sky_position
from ..errors import CutoutError
from ..sky.parse import Point, Size, parse_pos, parse_size
from ..sky.regions import bounding_circle, parse_region
from .faults import Fault, fault_of, usage
from .ids import DatasetId, check_band, parse_id

__all__ = ["SodaRequest", "SkyRequest", "QueryRequest", "soda_request", "sky_request", "query_request", "MAX_VALUE_LENGTH", "MAX_POLYGON_VERTICES"]

MAX_VALUE_LENGTH = 4096
MAX_POLYGON_VERTICES = 64
FITS_FORMATS = ("application/fits", "image/fits", "fits")
NOT_APPLICABLE = ("BAND", "TIME", "POL")


@dataclass(frozen=True)
class SodaRequest:
    """One SODA cutout: the dataset, and the stencil (``pos``: its IVOA POS text, ``region``: its
    lsst.sphgeom region), both None for the whole dataset."""

    dataset: DatasetId
    pos: str | None = None
    region: object = None


@dataclass(frozen=True)
class SkyRequest:
    """What ``cutout subset --ra --dec --size --band`` cuts: degrees, a :class:`~cutout_cli.sky.parse.Size`."""

    ra: float
    dec: float
    size: Size
    band: str
    dataset_type: str | None = None


def _values(params) -> dict[str, list[str]]:
    """``{NAME: [non-empty values]}`` of ``(name, value)`` pairs, names upper-cased, length-checked."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        if len(value) > MAX_VALUE_LENGTH:
            raise usage(f"parameter {name} is longer than {MAX_VALUE_LENGTH} characters")
        if value.strip():
            values.setdefault(name.upper(), []).append(value.strip())
    return values


def _single(values: dict, name: str) -> str | None:
    found = values.get(name, [])
    if len(found) > 1:
        raise Fault("MultiValuedParamNotSupported", 400,
                    f"{len(found)} values of {name}: this service cuts one per request (send one request each)")
    return found[0] if found else None


def soda_request(params) -> SodaRequest:
    """The SODA request of ``params`` (``(name, value)`` pairs of the query string or form body)."""
    values = _values(params)
    for name in NOT_APPLICABLE:
        if name in values:
            raise usage(f"{name} does not apply here: each dataset is one band's 2-D image (leave out {name})")
    response_format = _single(values, "RESPONSEFORMAT")
    if response_format is not None and response_format.lower() not in FITS_FORMATS:
        raise usage(f"RESPONSEFORMAT {response_format!r} is not served: ask for application/fits")
    text = _single(values, "ID")
    if text is None:
        raise usage("ID is required: the dataset to cut (see /api/query for the datasets at a position)")
    stencils = [*values.get("POS", []), *(f"CIRCLE {v}" for v in values.get("CIRCLE", [])),
                *(f"POLYGON {v}" for v in values.get("POLYGON", []))]
    if len(stencils) > 1:
        raise Fault("MultiValuedParamNotSupported", 400,
                    f"{len(stencils)} stencils (POS, CIRCLE, POLYGON): this service cuts one per request")
    dataset = parse_id(text)
    if not stencils:
        return SodaRequest(dataset)
    pos = _open_range_closed(" ".join(stencils[0].split()))
    if pos.split()[0].upper() == "POLYGON" and len(pos.split()) > 1 + 2 * MAX_POLYGON_VERTICES:
        raise usage(f"the POLYGON has more than {MAX_POLYGON_VERTICES} vertices")
    try:
        return SodaRequest(dataset, pos, parse_region(pos))
    except CutoutError as err:
        raise fault_of(err) from None


#: the largest region /api/query answers for (its bounding circle's radius, degrees): a few tracts
MAX_QUERY_RADIUS_DEG = 3.0


@dataclass(frozen=True)
class QueryRequest:
    """What ``cutout query --pos`` asks: a position or an IVOA POS region, optional band and dataset type."""

    pos: str
    band: str | None = None
    dataset_type: str | None = None


def query_request(params: dict) -> QueryRequest:
    """The ``/api/query`` request: ``pos`` (``"RA DEC"`` or a POS region, at most 3 degrees in radius), or
    ``ra`` and ``dec``; optional ``band`` and ``dataset_type``."""
    pos = params.get("pos") or (f"{params['ra']} {params['dec']}" if params.get("ra") and params.get("dec") else None)
    if not pos:
        raise usage('give pos ("RA DEC" or an IVOA POS region), or ra and dec')
    if len(pos) > MAX_VALUE_LENGTH:
        raise usage(f"pos is longer than {MAX_VALUE_LENGTH} characters")
    pos = _open_range_closed(" ".join(pos.split()))
    try:
        shape = parse_pos(pos)
    except CutoutError as err:
        raise fault_of(err) from None
    if not isinstance(shape, Point) and bounding_circle(shape)[2] > MAX_QUERY_RADIUS_DEG:
        raise usage(f"the region is larger than this service searches (a radius of {MAX_QUERY_RADIUS_DEG:g} "
                    "degrees): ask for a smaller one")
    band = params.get("band") or None
    return QueryRequest(pos, band if band is None else check_band(band), params.get("dataset_type") or None)


def _open_range_closed(pos: str) -> str:
    """A RANGE with open limits (DALI: ``-Inf``/``+Inf``) closed at the sphere's: RA 0 and 360, Dec -90
    and 90 (``RANGE 10 20 -Inf +Inf``: every Dec between RA 10 and 20)."""
    words = pos.split()
    if words[0].upper() != "RANGE" or len(words) != 5:
        return pos
    limits = ((0.0, 360.0), (0.0, 360.0), (-90.0, 90.0), (-90.0, 90.0))
    closed = [repr(low if word.lower() == "-inf" else high) if word.lower() in ("-inf", "+inf", "inf") else word
              for word, (low, high) in zip(words[1:], limits)]
    return " ".join(["RANGE", *closed])


def sky_request(params: dict) -> SkyRequest:
    """The JSON endpoint's request: ``ra``, ``dec`` (degrees or sexagesimal), ``size`` (``60arcsec``,
    ``0.5arcmin``, ``101`` pixels), ``band``, optional ``dataset_type``."""
    unknown = sorted(set(params) - {"ra", "dec", "size", "band", "dataset_type"})
    if unknown:
        raise usage(f"unknown parameter(s) {', '.join(unknown)}: give ra, dec, size, band (and dataset_type)")
    for name in ("ra", "dec", "size", "band"):
        if params.get(name) in (None, ""):
            raise usage(f"{name} is required (ra, dec, size, band; e.g. ra=53.318792&dec=-27.844306&size=60arcsec&band=r)")
    if any(not isinstance(value, (str, int, float)) or isinstance(value, bool) for value in params.values()):
        raise usage("each parameter is one number or string")
    band, dataset_type = check_band(str(params["band"])), params.get("dataset_type")
    try:
        ra, dec = parse_sky_position(params["ra"], params["dec"])
        size = parse_size(str(params["size"]))
    except CutoutError as err:
        raise fault_of(err) from None
    return SkyRequest(ra, dec, size, band, None if dataset_type in (None, "") else str(dataset_type))
