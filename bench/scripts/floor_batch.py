"""The batch floor: a bare single-process loop of fitsio section reads and 3-HDU writes.

Usage: ``python floor_batch.py PLAN.csv OUT_DIR SIZE [LIMIT]``

PLAN.csv comes from :func:`bench.data.make_targets` (home file and LOCAL box
corner of every target, computed beforehand).  Each coadd is opened once; per
target the IMAGE, MASK and VARIANCE boxes are read with fitsio and written as
a 3-HDU FITS file (IMAGE in the primary, MASK and VARIANCE extensions, no
extra header cards, no atomic rename).  Prints the number of files written.
"""

import csv
import os
import sys

import fitsio


def main(plan_path, out_dir, size, limit=None):
    with open(plan_path, newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    by_file = {}
    for row in rows:
        by_file.setdefault(row["path"], []).append(row)
    os.makedirs(out_dir, exist_ok=True)
    written = 0
    for path, targets in by_file.items():
        with fitsio.FITS(path) as fits:
            hdus = (fits["IMAGE"], fits["MASK"], fits["VARIANCE"])
            for row in targets:
                x0, y0 = int(row["x0"]), int(row["y0"])
                planes = [hdu[y0:y0 + size, x0:x0 + size] for hdu in hdus]
                with fitsio.FITS(os.path.join(out_dir, row["id"] + ".fits"), "rw", clobber=True) as out:
                    for name, array in zip(("IMAGE", "MASK", "VARIANCE"), planes):
                        out.write(array, extname=name)
                written += 1
    print(written)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
