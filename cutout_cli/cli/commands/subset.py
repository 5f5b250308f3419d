"""``cutout subset``: write one cutout (or one per band) as FITS and/or PNG, and colour pictures."""

from __future__ import annotations

import click

from ...cutouts.options import ReadOptions
from ...cutouts.request import request_from_options
from ...errors import InputError
from ...sky.wcs_fit import MAX_ERROR_MAS
from ...writers.atomic import check_writable
from ...writers.lsst_images import OUTPUT_FORMATS
from ...writers.outputs import COMPRESSIONS, STDOUT
from ...writers.paths import per_band
from ..options import (dataset_type_option, dec_option, format_option, max_pixels_option, origin_option, parse_bands,
                       parse_planes, patch_option, picture_options, picture_scale, planes_option, ra_option,
                       size_option, tract_option)
from ..output import diagnostic, render
from ..state import pass_state

PARTIAL_NOTE = "note: the box extends beyond the data; missing pixels are NaN (IMAGE, VARIANCE) and NO_DATA (MASK)"


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
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True),
              help="FITS output (afw layout: IMAGE, MASK, VARIANCE): .fits, .fits.fz (tile-compressed), "
                   ".fits.gz (gzip), or - for standard output.")
@click.option("--output-format", "output_format", type=click.Choice(OUTPUT_FORMATS), default="afw", show_default=True,
              help="FITS layout of -o: afw's, or lsst-images (the source's lsst.images type; needs lsst-images).")
@click.option("--compress", type=click.Choice(COMPRESSIONS),
              help="Compression of -o (default: as its name says). Lossless: float planes GZIP_2 unquantized, "
                   "MASK RICE_1 (rice) or GZIP_2 (gzip).")
@click.option("--png", "png", type=click.Path(dir_okay=False, allow_dash=True),
              help="Picture of the IMAGE plane, north up: .png, .jpg/.jpeg (JPEG), or - for standard output.")
@click.option("--rgb", type=click.Path(dir_okay=False, allow_dash=True),
              help="Colour PNG of two or three bands (--band g,r,i: bluest first; Lupton et al. asinh).")
@planes_option
@click.option("--mode", type=click.Choice(["partial", "strict"]), default="partial", show_default=True,
              help="partial: pixels outside the data are NaN / NO_DATA; strict: such a box is an error.")
@picture_options
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@max_pixels_option
@format_option
@pass_state
def command(state, *, fits_file, ra, dec, size, band, tract, patch, box_text, pos, mask_outside, origin, dataset_type,
            output, output_format, compress, png, rgb, planes, mode, overwrite, max_pixels, fmt, **picture):
    """Cut one box out of a coadd (or of FITS_FILE) and write it.

    The box is either centred on --ra/--dec with --size (tract and patch
    resolved with findTract + findPatch unless --tract/--patch are given), or
    --box X0,Y0,W,H of --tract/--patch (PARENT pixels unless --origin local).
    A box that does not fit in one patch is assembled from the patches of
    its tract (inner regions, same pixel grid, never resampled); give
    --tract without --patch to cut any box of a tract that way.
    Pixels are copied unresampled; the FITS output keeps the sky WCS, XY0
    (LTV1/2 and the A WCS) and the mask planes of the source (MP_*, MSKN/MSKM).
    An existing output is never replaced without --overwrite.  With several
    bands (--band g,r,i) one cutout per band is written: '{band}' in -o/--png
    is replaced by the band, else _<band> is added before the extension.
    The name says the format: .fits plain, .fits.fz tile-compressed
    (lossless), .fits.gz gzipped, .png or .jpg pictures, - standard output
    (then the records go to stderr).

    \b
    Examples:
      cutout subset --ra 53.318792 --dec -27.844306 --size 60arcsec --band r -o agn11.fits --png agn11.png
      cutout subset --tract 5063 --patch 33 --band r --box 11200,9100,300,300 -o box.fits
      cutout subset --ra 53.318792 --dec -27.844306 --size 60arcsec --band r -o agn11.fits.fz --png agn11.jpg
      cutout subset image.fits --ra 150.1 --dec 2.2 --size 30arcsec -o small.fits
      cutout subset --pos "CIRCLE 53.318792 -27.844306 0.005" --band r --mask-outside -o circle.fits
      cutout subset --ra 53.318792 --dec -27.844306 --size 40arcsec --band r,z -o 'agn11_{band}.fits' --rgb agn11_rgb.png
    """
    from ...cutouts.handle import open_image  # fitsio, numpy: not for --help
    from ...writers.rgb import write_colour

    if not output and not png and not rgb:
        raise InputError("nothing to write", "give -o OUT.fits, --png OUT.png and/or --rgb OUT.png")
    options = ReadOptions(planes=parse_planes(planes), mode=mode, max_pixels=max_pixels)
    scale = picture_scale(**picture)
    bands = parse_bands(band)
    paths = _output_paths(output, png, rgb, bands, overwrite=overwrite, compress=compress)
    request = request_from_options(ra=ra, dec=dec, size=size, tract=tract, patch=patch, box=box_text, pos=pos,
                                   mask_outside=mask_outside, origin=origin, band=band, image=fits_file is not None)
    if fits_file:
        with open_image(fits_file, remote=state.remote_options()) as image:
            cutouts = [request.from_image(image, options=options)]
    else:
        repo = state.repository()
        cutouts = [request.from_repository(repo, b, dataset_type=dataset_type, options=options) for b in bands]
    writer = {"format": output_format, "remote": state.remote_options(), "overwrite": overwrite, "compress": compress}
    records = [_write(cutout, fits_path, png_path, scale=scale, writer=writer, centred=request.centred,
                      from_file=bool(fits_file)) for cutout, (fits_path, png_path) in zip(cutouts, paths)]
    if rgb:
        write_colour(rgb, [cutout.display_plane() for cutout in cutouts], overwrite=overwrite, wcs=cutouts[0].wcs)
        records = [{**record, "rgb": rgb} for record in records]
    # a list, one record per cutout, whatever the number of bands; on stderr when stdout holds a file
    (diagnostic if STDOUT in (output, png, rgb) else click.echo)(render(records, fmt))
    if not all(cutout.provenance["complete"] for cutout in cutouts):
        diagnostic(PARTIAL_NOTE)
    for note in {note for cutout in cutouts if (note := _wcs_note(cutout))}:
        diagnostic(note)


def _wcs_note(cutout) -> str | None:
    """A note when the cutout's sky WCS is not within 1 mas of the source's exact projection."""
    header = next(iter(cutout.headers.values()))
    if header.get("WCSAPPRX"):
        return ("note: the sky WCS is the source's FITS approximation of its projection (the exact one needs "
                "starlink-pyast: pip install 'cutout-cli[lsst-images]')")
    error = header.get("WCSFITMX")
    if error is not None and error > MAX_ERROR_MAS:
        return f"note: the sky WCS fitted to the source's exact projection is off by up to {error:.3g} mas"
    return None


def _output_paths(output, png, rgb, bands, *, overwrite: bool, compress: str | None) -> list[tuple]:
    """The (FITS, PNG) paths of each band, each checked: its format known from its name
    (writers.outputs), writable; as is the colour picture's.  At most one output goes to stdout."""
    from ...writers.outputs import fits_output, picture_format
    from ...writers.rgb import check_colour_bands

    if rgb:
        check_colour_bands(len(bands))
    if compress and not output:
        raise InputError("--compress applies to the FITS output", "give -o OUT.fits.fz, or leave out --compress")
    _check_stdout(output, png, rgb, bands)
    paths = [(per_band(output, b, len(bands)), per_band(png, b, len(bands))) for b in bands]
    for fits_path, png_path in paths:
        if fits_path:
            fits_output(fits_path, compress)
        if png_path:
            picture_format(png_path)
    if rgb:
        picture_format(rgb)
    for path in [p for pair in paths for p in pair] + [rgb]:
        if path and path != STDOUT:
            check_writable(path, overwrite)
    return paths


def _check_stdout(output, png, rgb, bands) -> None:
    """Standard output (-) holds one file: one of -o, --png, --rgb, of one band."""
    named = [flag for flag, path in (("-o", output), ("--png", png), ("--rgb", rgb)) if path == STDOUT]
    if len(named) > 1:
        raise InputError(f"{' and '.join(named)} both name standard output (-)", "send one of them to a file")
    if named and named[0] != "--rgb" and len(bands) > 1:
        raise InputError(f"{named[0]} - writes one file to standard output, not one per band ({len(bands)} bands)",
                         "give a file name with {band}, e.g. 'out_{band}.fits', or a single --band")


def _write(cutout, fits_path, png_path, *, scale: dict, writer: dict, centred: bool, from_file: bool) -> dict:
    """Write one cutout's files (``writer``: :meth:`Cutout.writeto`'s options, ``scale``: the picture's
    stretch, limits and softening); its record (dataset, files, centre, box, completeness)."""
    compression = cutout.writeto(fits_path, **writer) if fits_path else ""
    if png_path:
        cutout.to_png(png_path, overwrite=writer["overwrite"], **scale)
    provenance = cutout.provenance
    record = {} if from_file else {key: provenance[key] for key in ("tract", "patch", "band")}
    if "source_ids" in provenance:
        record["sources"] = ";".join(provenance["source_ids"])
    record.update({"fits": fits_path or "", "fits_compression": compression, "png": png_path or ""})
    if centred:
        record.update({"center_x": provenance["center_x"], "center_y": provenance["center_y"]})
    return {**record, **cutout.bbox.as_dict(), "complete": provenance["complete"]}
