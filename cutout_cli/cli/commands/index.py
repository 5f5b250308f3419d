"""``cutout index``: make any folder of FITS images a repository."""

from __future__ import annotations

import click

from ..options import format_option
from ..output import diagnostic, echo_records


@click.command("index", context_settings={"max_content_width": 100})
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=True, dir_okay=True))
@click.option("--band-key", metavar="KEY",
              help="Header keyword holding the band [default: the first of BAND, FILTER, FILTNAM].")
@click.option("--pattern", "patterns", metavar="GLOB", multiple=True,
              help="File names to index, case-insensitive; repeatable [default: *.fits and *.fits.fz].")
@click.option("--update", is_flag=True,
              help="Read only new and changed files (size or modification time); drop removed ones.")
@format_option
def command(*, folder, band_key, patterns, update, fmt):
    """Index the FITS images under DIR so that query, subset and batch work on it.

    Reads each image's headers once and records its sky footprint in
    DIR/.cutout-index.sqlite (written atomically).  Then use --repo DIR:
    every image is a tract (its id) with one patch, 0, in PARENT pixels (the
    array's for plain FITS, XY0 for afw files); the home image of a position
    is the one holding it whose centre is nearest.  --band B selects images
    whose band keyword is B; --band any takes every image, whatever its band
    (images without a band keyword have band '').  Files without a 2-D image
    or a celestial RA/Dec WCS, and unreadable ones, are skipped and listed on
    stderr.  Exits 3 when no image can be indexed, 2 when DIR is missing.

    \b
    Examples:
      cutout index images
      cutout index images --update --format json
      cutout --repo images query --pos "150.1 2.2"
      cutout --repo images subset --ra 150.1 --dec 2.2 --size 30arcsec --band any -o small.fits
    """
    from ...repository.collection import build_index

    summary = build_index(folder, band_key=band_key, patterns=patterns, update=update, report=diagnostic)
    echo_records([summary.as_dict()], fmt, single=True)
    diagnostic(f"indexed {summary.images} image(s) ({summary.new} new, {summary.changed} changed, "
               f"{summary.unchanged} unchanged, {summary.removed} removed), {summary.skipped} file(s) skipped; "
               f"index {summary.index}")
