"""Options and parsing helpers shared by the command modules (light imports only: ``cutout --help``
imports every command module)."""

from __future__ import annotations

import math

import click

from ..errors import InputError
from ..sky.box import DEFAULT_MAX_PIXELS
from .output import FORMATS

format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                             help="Output format of the records printed on stdout.")
origin_option = click.option("--origin", type=click.Choice(["parent", "local"]), default="parent", show_default=True,
                             help="PARENT: tract pixels (include the patch XY0); LOCAL: pixels from the patch's first pixel.")
ra_option = click.option("--ra", metavar="RA", help="Right ascension: degrees (53.3, 53d19m07.65s), or hours in [0, 24) as 03:33:20.6.")
dec_option = click.option("--dec", metavar="DEC", help="Declination: degrees, or -27:49:10.")
size_option = click.option("--size", metavar="SIZE", help="Cutout size: 300, 300px, 60arcsec, 1arcmin, 0.01deg or W,H.")
tract_option = click.option("--tract", type=int, help="Tract id.")
patch_option = click.option("--patch", metavar="P", help="Patch: sequential index (14) or x,y (4,1).")
max_pixels_option = click.option("--max-pixels", type=click.IntRange(1), default=DEFAULT_MAX_PIXELS, show_default=True,
                                 help="Refuse cutouts larger than this many pixels per plane.")
dataset_type_option = click.option("--dataset-type", metavar="NAME", help="Dataset type (default deep_coadd).")
planes_option = click.option("--planes", default="image,mask,variance", show_default=True,
                             help="Planes to write, comma-separated.")


def picture_options(command):
    """--stretch, --limits, --vmin/--vmax and --softening: how pictures map pixel values to grey
    (read together by :func:`picture_scale`)."""
    decorators = [
        click.option("--stretch", type=click.Choice(["asinh", "linear", "sqrt", "log"]), default="asinh",
                     show_default=True, help="Picture curve between the limits."),
        click.option("--limits", metavar="L", help="Picture limits (black, white): sky (default: the sky level "
                     "minus 2 noise sigmas to the 99.9th percentile), zscale, minmax, P% (99.5%), LO,HI% "
                     "(1,99.8%), or VMIN,VMAX in image units."),
        click.option("--vmin", type=float, help="Black at this value (image units; with --vmax)."),
        click.option("--vmax", type=float, help="White at this value (image units; with --vmin)."),
        click.option("--softening", type=float, metavar="A",
                     help="asinh softening in (0, 1], a fraction of the range (smaller: faint parts brighter) "
                          "[default: 3 sky noise sigmas with sky limits, else 0.1]."),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def picture_scale(stretch: str, limits: str | None, vmin: float | None, vmax: float | None,
                  softening: float | None) -> dict:
    """The ``stretch``, ``limits`` and ``softening`` keywords of the picture writers from the options of
    :func:`picture_options`; InputError (exit 2) for a bad or contradictory combination."""
    from ..writers.png import DEFAULT_LIMITS, check_picture_scale  # numpy: not for --help

    if (vmin is None) != (vmax is None):
        raise InputError(f"--{'vmin' if vmax is None else 'vmax'} needs its partner",
                         "give both --vmin and --vmax, or --limits")
    if vmin is not None:
        if limits:
            raise InputError("--limits and --vmin/--vmax both set the limits", "give one of them")
        for name, value in (("--vmin", vmin), ("--vmax", vmax)):
            if not math.isfinite(value):
                raise InputError(f"{name} {value:g} is not a finite number", f"give {name} in image units")
        if not vmin < vmax:
            raise InputError(f"--vmin {vmin:g} is not below --vmax {vmax:g}", "give --vmin < --vmax")
        limits = (vmin, vmax)
    given = limits
    if limits and "%" not in limits and "," in limits:
        try:
            limits = tuple(float(v) for v in limits.split(","))
        except ValueError:
            pass  # refused below
    scale = {"stretch": stretch, "limits": limits or DEFAULT_LIMITS, "softening": softening}
    try:
        check_picture_scale(**scale)
    except InputError as err:
        if err.message.startswith("bad limits"):
            raise InputError(f"bad --limits {given!r}", "give sky, zscale, minmax, P% (99.5%), LO,HI% (1,99.8%) "
                             "or VMIN,VMAX with VMIN < VMAX") from None
        raise InputError(err.message.replace("bad asinh softening", "bad --softening"), err.hint) from None
    return scale


def parse_planes(text: str) -> tuple[str, ...]:
    """``image,mask,variance`` -> ``("IMAGE", "MASK", "VARIANCE")`` (order kept, duplicates dropped;
    the names are checked by :class:`~cutout_cli.cutouts.options.ReadOptions`)."""
    return tuple(dict.fromkeys(p.strip().upper() for p in text.split(",") if p.strip()))


def parse_bands(text: str | None) -> list[str | None]:
    """``g,r,i`` -> ``["g", "r", "i"]``; no band: ``[None]`` (one cutout, of a FITS file).  A band given
    twice counts once, in the order first given (``r,z,r`` -> ``["r", "z"]``)."""
    if text is None:
        return [None]
    bands = list(dict.fromkeys(b.strip() for b in text.split(",") if b.strip()))
    if not bands:
        raise InputError(f"cannot read bands {text!r}", "give --band r, or --band g,r,i for several")
    return bands


def box_record(box, origin: str, xy0: tuple[int, int]) -> dict:
    """Box fields in the requested origin (LOCAL subtracts the image's XY0)."""
    shown = box.to_local(xy0) if origin == "local" else box
    return {"origin": origin, **shown.as_dict()}
