"""``cutout subset``: write one cutout as FITS and/or PNG."""

from __future__ import annotations

import click

from .common import (dataset_type_option, dec_option, diagnostic, echo_records, format_option, max_pixels_option,
                     origin_option, parse_patch, parse_planes, patch_option, ra_option, size_option, sky_position,
                     tract_option)


@click.command("subset", context_settings={"max_content_width": 100})
@click.argument("fits_file", required=False, type=click.Path(dir_okay=False))
@ra_option
@dec_option
@size_option
@click.option("--band", metavar="B", help="Band of the coadd (with a repository); several as g,r,i.")
@tract_option
@patch_option
@click.option("--box", "box_text", metavar="X0,Y0,W,H", help="Box corner and size in pixels (PARENT unless --origin local).")
@click.option("--pos", "pos", metavar="REGION",
              help='The box enclosing an IVOA POS region (degrees): "CIRCLE ra dec r", "POLYGON ...", "RANGE ...".')
@click.option("--mask-outside", is_flag=True, help="With --pos: pixels outside the region become NaN / NO_DATA.")
@origin_option
@dataset_type_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="FITS output (afw layout: IMAGE, MASK, VARIANCE).")
@click.option("--png", "png", type=click.Path(dir_okay=False), help="PNG output of the IMAGE plane, north up.")
@click.option("--rgb", type=click.Path(dir_okay=False),
              help="Colour PNG of two or three bands (--band g,r,i: bluest first; Lupton et al. asinh).")
@click.option("--planes", default="image,mask,variance", show_default=True, help="Planes to write, comma-separated.")
@click.option("--mode", type=click.Choice(["partial", "strict"]), default="partial", show_default=True,
              help="partial: pixels outside the data are NaN / NO_DATA; strict: such a box is an error.")
@click.option("--stretch", type=click.Choice(["asinh", "linear", "sqrt", "log"]), default="asinh", show_default=True,
              help="PNG stretch (limits from zscale).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@max_pixels_option
@format_option
@click.pass_context
def command(ctx, fits_file, ra, dec, size, band, tract, patch, box_text, pos, mask_outside, origin, dataset_type, output,
            png, rgb, planes, mode, stretch, overwrite, max_pixels, fmt):
    """Cut one box out of a coadd (or of FITS_FILE) and write it.

    The box is either centred on --ra/--dec with --size (tract and patch
    resolved with findTract + findPatch unless --tract/--patch are given), or
    --box X0,Y0,W,H of --tract/--patch (PARENT pixels unless --origin local).
    A box that does not fit in one patch is assembled from the patches of
    its tract (inner regions, same pixel grid, never resampled); give
    --tract without --patch to cut any box of a tract that way.
    Pixels are copied unresampled; the FITS output keeps the sky WCS, XY0
    (LTV1/2 and the A WCS) and the MP_* mask planes of the source.
    An existing output is never replaced without --overwrite.  With several
    bands (--band g,r,i) one cutout per band is written: '{band}' in -o/--png
    is replaced by the band, else _<band> is added before the extension.

    \b
    Examples:
      cutout subset --ra 53.318792 --dec -27.844306 --size 60arcsec --band r -o agn11.fits --png agn11.png
      cutout subset --tract 5063 --patch 33 --band r --box 11200,9100,300,300 -o box.fits
      cutout subset image.fits --ra 150.1 --dec 2.2 --size 30arcsec -o small.fits
      cutout subset --pos "CIRCLE 53.318792 -27.844306 0.005" --band r --mask-outside -o circle.fits
      cutout subset --ra 53.318792 --dec -27.844306 --size 40arcsec --band r,z -o 'agn11_{band}.fits' --rgb agn11_rgb.png
    """
    from ..coords import parse_int_box, parse_size
    from ..errors import InputError
    from ..geometry import Box
    from ..writers.atomic import check_writable

    if not output and not png and not rgb:
        raise InputError("nothing to write", "give -o OUT.fits, --png OUT.png and/or --rgb OUT.png")
    plane_list = parse_planes(planes)
    bands = [b.strip() for b in band.split(",") if b.strip()] if band else [None]
    if rgb and not 2 <= len(bands) <= 3:
        raise InputError("--rgb needs two or three bands, bluest first", "e.g. --band g,r,i")
    outputs = [(b, per_band(output, b, len(bands)), per_band(png, b, len(bands))) for b in bands]
    for path in [p for _, fits_path, png_path in outputs for p in (fits_path, png_path)] + [rgb]:
        if path:
            check_writable(path, overwrite)
    has_sky = ra is not None or dec is not None
    if sum((has_sky, box_text is not None, pos is not None)) != 1:
        raise InputError("give one of --ra/--dec/--size, --box X0,Y0,W,H or --pos REGION")
    if mask_outside and pos is None:
        raise InputError("--mask-outside goes with --pos")
    if has_sky and size is None:
        raise InputError("give --size with --ra/--dec", "e.g. --size 60arcsec")
    if has_sky and origin == "local":
        raise InputError("--origin applies to --box only")
    if has_sky:
        ra_deg, dec_deg = sky_position(ra, dec)
        parsed_size = parse_size(size)
    elif box_text is not None:
        box = Box.from_corner_size(*parse_int_box(box_text))

    if fits_file:
        from ..handle import open_image

        if tract is not None or patch is not None or band is not None:
            raise InputError("--tract/--patch/--band select a coadd in a repository; not with FITS_FILE")
        from ..cli import remote_options

        with open_image(fits_file, remote_options(ctx)) as image:
            if pos is not None:
                cutout = image.region_cutout(pos, plane_list, mode, mask_outside, max_pixels=max_pixels)
            elif has_sky:
                cutout = image.cutout(ra_deg, dec_deg, parsed_size, plane_list, mode, max_pixels=max_pixels)
            else:
                cutout = image.get(box, origin, plane_list, mode, max_pixels=max_pixels)
        results = [(None, cutout, {})]
    else:
        from ..cli import open_repository

        repo = open_repository(ctx)
        if band is None:
            raise InputError("give --band", "e.g. --band r, or --band g,r,i for several")
        patch_id = parse_patch(patch) if patch is not None else None
        if pos is not None and (tract is not None or patch is not None):
            raise InputError("--pos finds its own tract and patch; leave out --tract/--patch")
        if box_text is not None and tract is None:
            raise InputError("give --tract (and --patch) with --box", "or use --ra/--dec/--size")
        if box_text is not None and patch is None and origin == "local":
            raise InputError("--origin local needs --patch")
        results = []
        for one_band in bands:
            if pos is not None:
                cutout = repo.region_cutout(pos, one_band, dataset_type, plane_list, mode, mask_outside, max_pixels)
            elif has_sky:
                cutout = repo.cutout(ra_deg, dec_deg, parsed_size, one_band, dataset_type, plane_list, mode, tract,
                                     patch_id, max_pixels)
            elif patch is None:  # a tract box, assembled from the patches it needs
                cutout = repo.get_box(tract, box, one_band, dataset_type, plane_list, mode, max_pixels)
            else:
                cutout = repo.get(repo.ref(dataset_type, tract, patch_id, one_band), box, origin, plane_list, mode,
                                  max_pixels=max_pixels)
            record = {key: cutout.provenance[key] for key in ("tract", "patch", "band")}
            if "source_ids" in cutout.provenance:
                record["sources"] = ";".join(cutout.provenance["source_ids"])
            results.append((one_band, cutout, record))

    records = []
    for (one_band, fits_path, png_path), (_, cutout, record) in zip(outputs, results):
        if fits_path:
            cutout.writeto(fits_path, overwrite=overwrite)
        if png_path:
            cutout.to_png(png_path, stretch=stretch, overwrite=overwrite)
        record.update({"fits": fits_path or "", "png": png_path or ""})
        if has_sky:
            record.update({"center_x": cutout.provenance["center_x"], "center_y": cutout.provenance["center_y"]})
        record.update({**cutout.bbox.as_dict(), "complete": cutout.provenance["complete"]})
        records.append(record)
    if rgb:
        from ..writers.rgb import write_rgb

        images = [cutout._display_plane() for _, cutout, _ in results]
        write_rgb(rgb, *(images if len(images) == 3 else (images[0], (images[0] + images[1]) / 2, images[1])),
                  overwrite=overwrite)
        for record in records:
            record["rgb"] = rgb
    cutout = results[-1][1]
    echo_records(records, fmt, single=True)
    if not all(cutout.provenance["complete"] for _, cutout, _ in results):
        diagnostic("note: the box extends beyond the data; missing pixels are NaN (IMAGE, VARIANCE) and NO_DATA (MASK)")


def per_band(path: str | None, band: str | None, count: int) -> str | None:
    """The output path of one band: ``{band}`` replaced, else ``_<band>`` before the extension when several."""
    if not path or band is None:
        return path
    if "{band}" in path:
        return path.replace("{band}", band)
    if count == 1:
        return path
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}_{band}.{suffix}" if dot and "/" not in suffix else f"{path}_{band}"
