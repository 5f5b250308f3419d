"""The box-read floor under another interpreter (e.g. a fitsio built differently).

Usage: ``BENCH_ALT_PYTHON=/other/python make bench``; the suite then runs
``/other/python floor_reads.py FILES.json`` (needs only numpy and fitsio).
Reads the same boxes as :mod:`bench.reads` (same seeds, warm page cache, one
warm-up read) and prints ``{"fitsio": ..., "cfitsio": ..., "results":
{variant: {size: [seconds, ...]}}}`` as JSON.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import fitsio  # noqa: E402

from bench import config  # noqa: E402
from bench.data import box_positions, warm_page_cache  # noqa: E402


def main(files_json):
    files = json.loads(Path(files_json).read_text())
    results = {}
    for vi, variant in enumerate(config.VARIANTS):
        path = files[variant.name]
        warm_page_cache(path)
        fits = fitsio.FITS(path)
        hdus = [fits[config.EXTENSIONS[p]] for p in config.PLANES]
        results[variant.name] = {}
        for size in config.BOX_SIZES:
            positions = box_positions(config.READ_REPS + 1, size, (3400, 3400), seed=1000 * vi + size)
            samples = []
            for i, (x0, y0) in enumerate(positions):
                start = time.perf_counter()
                for hdu in hdus:
                    hdu[y0:y0 + size, x0:x0 + size]
                if i:  # the first position is the warm-up
                    samples.append(time.perf_counter() - start)
            results[variant.name][str(size)] = samples
        fits.close()
    print(json.dumps({"fitsio": fitsio.__version__, "cfitsio": fitsio.cfitsio_version(),
                      "location": fitsio.__file__, "results": results}))


if __name__ == "__main__":
    main(sys.argv[1])
