"""Options and helpers shared by the command modules (light imports only)."""

from __future__ import annotations

import click

from ..coords import parse_dec, parse_ra
from ..errors import InputError
from ..geometry import DEFAULT_MAX_PIXELS
from ..render import FORMATS

format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                             help="Output format of the records printed on stdout.")
origin_option = click.option("--origin", type=click.Choice(["parent", "local"]), default="parent", show_default=True,
                             help="PARENT: tract pixels (include the patch XY0); LOCAL: pixels from the patch's first pixel.")
ra_option = click.option("--ra", metavar="RA", help="Right ascension: degrees, or hours as 03:33:20.6.")
dec_option = click.option("--dec", metavar="DEC", help="Declination: degrees, or -27:49:10.")
size_option = click.option("--size", metavar="SIZE", help="Cutout size: 300, 300px, 60arcsec, 1arcmin, 0.01deg or W,H.")
tract_option = click.option("--tract", type=int, help="Tract id.")
patch_option = click.option("--patch", metavar="P", help="Patch: sequential index (14) or x,y (4,1).")
max_pixels_option = click.option("--max-pixels", type=click.IntRange(1), default=DEFAULT_MAX_PIXELS, show_default=True,
                                 help="Refuse cutouts larger than this many pixels per plane.")
dataset_type_option = click.option("--dataset-type", metavar="NAME", help="Dataset type (default deep_coadd).")


def echo_records(records: list[dict], fmt: str, single: bool = False) -> None:
    from ..render import render

    text = render(records, fmt, single=single)
    if text:
        click.echo(text)


def diagnostic(message: str) -> None:
    """A progress or diagnostic line on stderr (silenced by -q)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or not ctx.find_root().obj.get("quiet"):
        click.echo(message, err=True)


def sky_position(ra, dec) -> tuple[float, float]:
    """Parse --ra/--dec, both required together."""
    if ra is None or dec is None:
        raise InputError("give both --ra and --dec")
    return parse_ra(ra), parse_dec(dec)


def parse_patch(text: str) -> int | tuple[int, int]:
    """A patch as a sequential index (``14``) or an ``x,y`` pair (``4,1``)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        if len(parts) == 1:
            return int(parts[0])
        if len(parts) == 2:
            return int(parts[0]), int(parts[1])
    except ValueError:
        pass
    raise InputError(f"cannot read patch {text!r}", "give a sequential index like 14 or x,y like 4,1")


def box_record(box, origin: str, xy0: tuple[int, int]) -> dict:
    """Box fields in the requested origin (LOCAL subtracts the image's XY0)."""
    shown = box.to_local(xy0) if origin == "local" else box
    return {"origin": origin, **shown.as_dict()}


def parse_planes(text: str) -> tuple[str, ...]:
    """``image,mask,variance`` -> ``("IMAGE", "MASK", "VARIANCE")`` (order kept, duplicates dropped)."""
    from ..reader import PLANES

    names = [p.strip().upper() for p in text.split(",") if p.strip()]
    unknown = [n for n in names if n not in PLANES]
    if not names or unknown:
        raise InputError(f"unknown plane(s) {', '.join(unknown) or '(none)'}", "choose from image, mask, variance")
    return tuple(dict.fromkeys(names))
