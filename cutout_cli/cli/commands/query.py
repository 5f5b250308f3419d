"""``cutout query``: which datasets cover a position or region."""

from __future__ import annotations

import click

from ...errors import NotFoundError
from ..options import format_option
from ..output import diagnostic, echo_records
from ..state import pass_state


@click.command("query", context_settings={"max_content_width": 100})
@click.argument("dataset_type", required=False)
@click.option("--band", metavar="B", help="Band (e.g. r); default: every band present.")
@click.option("--pos", "pos", metavar="POS", required=True,
              help='"RA DEC" (degrees or sexagesimal), or an IVOA POS region in degrees: "CIRCLE ra dec r", '
                   '"POLYGON ra1 dec1 ra2 dec2 ra3 dec3 ...", "RANGE ra1 ra2 dec1 dec2".')
@format_option
@pass_state
def command(state, *, dataset_type, band, pos, fmt):
    """List the datasets whose patch (outer) region overlaps POS.

    Ordered by tract then patch; the one home patch (findTract + findPatch) is
    marked home=yes.  Boxes are the patch outer boxes in PARENT pixels.
    Exits 3 when no dataset covers POS.

    \b
    Examples:
      cutout query --band r --pos "53.318792 -27.844306"
      cutout query deep_coadd --pos "03:33:16.51 -27:50:39.5" --format json
      cutout query --band r --pos "CIRCLE 53.32 -27.84 0.05" --format csv
      cutout query --pos "RANGE 53.30 53.34 -27.86 -27.82"
    """
    repo = state.repository()
    refs = repo.query(dataset_type, band, pos=pos)
    if not refs:
        what = f"{dataset_type or repo.default_dataset_type()}" + (f" in band {band}" if band else "")
        raise NotFoundError(f"no {what} covers {pos}", "check the position, the band and --repo")
    echo_records([r.as_dict() for r in refs], fmt)
    diagnostic(f"{len(refs)} dataset(s)")
