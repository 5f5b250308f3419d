"""``cutout subset``: write one cutout as FITS and/or PNG."""

from __future__ import annotations

import click

from .common import (dataset_type_option, dec_option, diagnostic, echo_records, format_option, max_pixels_option,
                     origin_option,
                     parse_patch, parse_planes, patch_option, ra_option, size_option, sky_position, tract_option)


@click.command("subset", context_settings={"max_content_width": 100})
@click.argument("fits_file", required=False, type=click.Path(dir_okay=False))
@ra_option
@dec_option
@size_option
@click.option("--band", metavar="B", help="Band of the coadd (with a repository).")
@tract_option
@patch_option
@click.option("--box", "box_text", metavar="X0,Y0,W,H", help="Box corner and size in pixels (PARENT unless --origin local).")
@origin_option
@dataset_type_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="FITS output (afw layout: IMAGE, MASK, VARIANCE).")
@click.option("--png", "png", type=click.Path(dir_okay=False), help="PNG output of the IMAGE plane, north up.")
@click.option("--planes", default="image,mask,variance", show_default=True, help="Planes to write, comma-separated.")
@click.option("--mode", type=click.Choice(["partial", "strict"]), default="partial", show_default=True,
              help="partial: pixels outside the data are NaN / NO_DATA; strict: such a box is an error.")
@click.option("--stretch", type=click.Choice(["asinh", "linear", "sqrt", "log"]), default="asinh", show_default=True,
              help="PNG stretch (limits from zscale).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@max_pixels_option
@format_option
@click.pass_context
def command(ctx, fits_file, ra, dec, size, band, tract, patch, box_text, origin, dataset_type, output, png, planes,
            mode, stretch, overwrite, max_pixels, fmt):
    """Cut one box out of a coadd (or of FITS_FILE) and write it.

    The box is either centred on --ra/--dec with --size (tract and patch
    resolved with findTract + findPatch unless --tract/--patch are given), or
    --box X0,Y0,W,H of --tract/--patch (PARENT pixels unless --origin local).
    A box that does not fit in one patch is assembled from the patches of
    its tract (inner regions, same pixel grid, never resampled); give
    --tract without --patch to cut any box of a tract that way.
    Pixels are copied unresampled; the FITS output keeps the sky WCS, XY0
    (LTV1/2 and the A WCS) and the MP_* mask planes of the source.
    An existing output is never replaced without --overwrite.

    \b
    Examples:
      cutout subset --ra 53.318792 --dec -27.844306 --size 60arcsec --band r -o agn11.fits --png agn11.png
      cutout subset --tract 5063 --patch 33 --band r --box 11200,9100,300,300 -o box.fits
      cutout subset image.fits --ra 150.1 --dec 2.2 --size 30arcsec -o small.fits
    """
    from ..coords import parse_int_box, parse_size
    from ..errors import InputError
    from ..geometry import Box
    from ..writers.atomic import check_writable

    if not output and not png:
        raise InputError("nothing to write", "give -o OUT.fits and/or --png OUT.png")
    plane_list = parse_planes(planes)
    for path in (output, png):
        if path:
            check_writable(path, overwrite)
    has_sky = ra is not None or dec is not None
    if has_sky == (box_text is not None):
        raise InputError("give either --ra/--dec/--size or --box X0,Y0,W,H")
    if has_sky and size is None:
        raise InputError("give --size with --ra/--dec", "e.g. --size 60arcsec")
    if has_sky and origin == "local":
        raise InputError("--origin applies to --box only")
    if has_sky:
        ra_deg, dec_deg = sky_position(ra, dec)
        parsed_size = parse_size(size)
    else:
        box = Box.from_corner_size(*parse_int_box(box_text))

    if fits_file:
        from ..handle import open_image

        if tract is not None or patch is not None or band is not None:
            raise InputError("--tract/--patch/--band select a coadd in a repository; not with FITS_FILE")
        from ..cli import remote_options

        with open_image(fits_file, remote_options(ctx)) as image:
            cutout = (image.cutout(ra_deg, dec_deg, parsed_size, plane_list, mode, max_pixels=max_pixels) if has_sky
                      else image.get(box, origin, plane_list, mode, max_pixels=max_pixels))
        record = {}
    else:
        from ..cli import open_repository

        repo = open_repository(ctx)
        if band is None:
            raise InputError("give --band", "e.g. --band r")
        patch_id = parse_patch(patch) if patch is not None else None
        if has_sky:
            cutout = repo.cutout(ra_deg, dec_deg, parsed_size, band, dataset_type, plane_list, mode, tract, patch_id,
                                 max_pixels)
        else:
            if tract is None:
                raise InputError("give --tract (and --patch) with --box", "or use --ra/--dec/--size")
            if patch is None:  # a tract box, assembled from the patches it needs
                if origin == "local":
                    raise InputError("--origin local needs --patch")
                cutout = repo.get_box(tract, box, band, dataset_type, plane_list, mode, max_pixels)
            else:
                cutout = repo.get(repo.ref(dataset_type, tract, patch_id, band), box, origin, plane_list, mode,
                                  max_pixels=max_pixels)
        record = {key: cutout.provenance[key] for key in ("tract", "patch", "band")}
        if "source_ids" in cutout.provenance:
            record["sources"] = ";".join(cutout.provenance["source_ids"])

    if output:
        cutout.writeto(output, overwrite=overwrite)
    if png:
        cutout.to_png(png, stretch=stretch, overwrite=overwrite)
    record.update({"fits": output or "", "png": png or ""})
    if has_sky:
        record.update({"center_x": cutout.provenance["center_x"], "center_y": cutout.provenance["center_y"]})
    record.update({**cutout.bbox.as_dict(), "complete": cutout.provenance["complete"]})
    echo_records([record], fmt, single=True)
    if not cutout.provenance["complete"]:
        diagnostic("note: the box extends beyond the data; missing pixels are NaN (IMAGE, VARIANCE) and NO_DATA (MASK)")
