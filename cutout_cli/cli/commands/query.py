"""``cutout query``: which datasets cover a position or region."""

from __future__ import annotations

import click

from ...errors import InputError, NotFoundError
from ..options import dec_option, format_option, parse_bands, ra_option
from ..output import diagnostic, echo_records
from ..state import pass_state


@click.command("query", context_settings={"max_content_width": 100})
@click.argument("dataset_type", required=False)
@click.option("--band", metavar="B", help="Band (e.g. r), or bands as r,z; default: every band present.")
@click.option("--pos", "pos", metavar="POS",
              help='"RA DEC" (degrees or sexagesimal, quoted), or an IVOA POS region in degrees: "CIRCLE ra dec r", '
                   '"POLYGON ra1 dec1 ra2 dec2 ra3 dec3 ...", "RANGE ra1 ra2 dec1 dec2".')
@ra_option
@dec_option
@format_option
@pass_state
def command(state, *, dataset_type, band, pos, ra, dec, fmt):
    """List the datasets whose patch (outer) region overlaps POS (or --ra/--dec).

    Ordered by tract, patch, then band; the one home patch (findTract +
    findPatch) is marked home=true.  Boxes are the patch outer boxes in
    PARENT pixels.  Exits 3 when no dataset covers the position.

    \b
    Examples:
      cutout query --band r --pos "53.318792 -27.844306"
      cutout query --band r,z --ra 53.318792 --dec -27.844306
      cutout query deep_coadd --pos "03:33:16.51 -27:50:39.5" --format json
      cutout query --band r --pos "CIRCLE 53.32 -27.84 0.05" --format csv
      cutout query --pos "RANGE 53.30 53.34 -27.86 -27.82"
    """
    if (pos is None) == (ra is None and dec is None):
        raise InputError("give --pos, or --ra and --dec", 'e.g. --pos "53.3 -27.8" or --ra 53.3 --dec -27.8')
    if pos is None and (ra is None or dec is None):
        raise InputError("give both --ra and --dec")
    # --band "" selects the images without a band (a collection's); only a list is split
    bands = parse_bands(band) if band and "," in band else band
    repo = state.repository()
    refs = repo.query(dataset_type, bands, ra=ra, dec=dec, pos=pos)
    if not refs:
        where = pos if pos is not None else f"{ra} {dec}"
        what = f"{dataset_type or repo.default_dataset_type()}" + (f" in band {band}" if band else "")
        raise NotFoundError(f"no {what} covers {where}", "check the position, the band and --repo")
    echo_records([r.as_dict() for r in refs], fmt)
    diagnostic(f"{len(refs)} dataset(s)")
