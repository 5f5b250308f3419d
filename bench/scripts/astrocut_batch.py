"""astrocut's best case for a batch: ``fits_cut`` per target on its home file, IMAGE plane only.

Usage: ``python astrocut_batch.py PLAN.csv OUT_DIR SIZE [LIMIT]``

astrocut cuts one position per call, so targets are grouped by their home
coadd (from the plan, no footprint search) and each call gets that one file,
``extension=1`` (the IMAGE plane: astrocut cuts one plane per HDU it is
given) and a pre-built SkyCoord.  It writes one FITS file per target
(primary + the IMAGE cutout).  Prints the number of files written.
"""

import csv
import sys
import warnings


def main(plan_path, out_dir, size, limit=None):
    import numpy as np
    from astropy.coordinates import SkyCoord
    from astrocut import fits_cut

    with open(plan_path, newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    coords = SkyCoord(np.array([float(r["ra"]) for r in rows]), np.array([float(r["dec"]) for r in rows]),
                      unit="deg", frame="icrs")
    by_file = {}
    for i, row in enumerate(rows):
        by_file.setdefault(row["path"], []).append(i)
    written = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path, members in by_file.items():
            for i in members:
                fits_cut([path], coords[i], cutout_size=size, extension=1, single_outfile=True,
                         cutout_prefix=rows[i]["id"], output_dir=out_dir)
                written += 1
    print(written)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
