"""``cutout bbox``: a patch's box, or the box of a position and size."""

from __future__ import annotations

import click

from ...cutouts.request import parse_patch, parse_sky_position
from ...errors import InputError
from ...sky.box import sky_box
from ...sky.parse import parse_size
from ..options import (box_record, dec_option, format_option, origin_option, patch_option, ra_option, size_option,
                       tract_option)
from ..output import echo_records
from ..state import pass_state


@click.command("bbox", context_settings={"max_content_width": 100})
@tract_option
@patch_option
@ra_option
@dec_option
@size_option
@click.option("--inner", is_flag=True, help="With --tract/--patch: the inner box instead of the outer (file) box.")
@origin_option
@format_option
@pass_state
def command(state, *, tract, patch, ra, dec, size, inner, origin, fmt):
    """Print a patch's box, or the cutout box for a position and size.

    With --tract/--patch: the patch's outer box (the extent of its coadd file,
    what getBBox() returns), or --inner.  With --ra/--dec/--size: the home
    tract and patch, the float pixel position center_x/center_y and the
    centred box (min = floor(c - n/2 + 1) per axis).  begin/min are inclusive,
    end is exclusive, max = end - 1 is inclusive.  PARENT pixels unless
    --origin local (relative to the patch's outer box).

    \b
    Examples:
      cutout bbox --tract 5063 --patch 14
      cutout bbox --tract 5063 --patch 4,1 --origin local --format json
      cutout bbox --ra 53.318792 --dec -27.844306 --size 60arcsec
    """
    skymap = state.repository().skymap
    if ra is not None or dec is not None:
        if tract is not None or patch is not None or inner:
            raise InputError("give either --tract/--patch or --ra/--dec/--size, not both")
        if size is None:
            raise InputError("give --size with --ra/--dec", "e.g. --size 60arcsec")
        ra_deg, dec_deg = parse_sky_position(ra, dec)
        home_tract, home_patch = skymap.find_home(ra_deg, dec_deg)
        box, cx, cy = sky_box(home_tract, ra_deg, dec_deg, parse_size(size))
        xy0 = (home_patch.outer.begin_x, home_patch.outer.begin_y)
        if origin == "local":
            cx, cy = cx - xy0[0], cy - xy0[1]
        record = {"tract": home_tract.id, "patch": home_patch.index, "patch_x": home_patch.x,
                  "patch_y": home_patch.y, "ra": ra_deg, "dec": dec_deg, "center_x": cx, "center_y": cy,
                  **box_record(box, origin, xy0)}
    else:
        if tract is None or patch is None:
            raise InputError("give --tract and --patch, or --ra/--dec/--size")
        if size is not None:
            raise InputError("--size goes with --ra/--dec")
        info = skymap.tract(tract).patch(parse_patch(patch))
        box = info.inner if inner else info.outer
        record = {"tract": info.tract, "patch": info.index, "patch_x": info.x, "patch_y": info.y,
                  "kind": "inner" if inner else "outer",
                  **box_record(box, origin, (info.outer.begin_x, info.outer.begin_y))}
    echo_records([record], fmt, single=True)
