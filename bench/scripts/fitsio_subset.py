"""Whole-process baseline: one box of the three planes with fitsio, written as a 3-HDU FITS file.

Usage: ``python fitsio_subset.py COADD.fits X0 Y0 W H OUT.fits`` (LOCAL pixels, 0-based).
The minimal script a user could write instead of ``cutout subset``: no WCS
update, no provenance, no atomic write.
"""

import sys

import fitsio


def main(path, x0, y0, width, height, out):
    with fitsio.FITS(path) as fits:
        planes = [(name, fits[name][y0:y0 + height, x0:x0 + width]) for name in ("IMAGE", "MASK", "VARIANCE")]
    with fitsio.FITS(out, "rw", clobber=True) as dest:
        for name, array in planes:
            dest.write(array, extname=name)


if __name__ == "__main__":
    main(sys.argv[1], *(int(v) for v in sys.argv[2:6]), sys.argv[6])
