"""Where ranged reads stop paying off: the ``batch --remote-read auto`` threshold.

Serves the full-size sample coadd (tract 5063, patch 33, band r: 3400 x 3400,
RICE, 128 x 128 tiles, 20 MB) with nginx on 127.0.0.1 and times one batch
task of k targets (50 x 50 px, all three planes) both ways:

* ranged: open the remote file (astropy over fsspec) and cut the k boxes;
* download: copy the file to a scratch directory, open it with fitsio, cut
  the k boxes, delete the copy.

Writing the cutouts costs the same either way and is left out.  Each point is
the median of ``--repeat`` runs; a straight line is fitted to each mode and
the crossover k printed.  Usage::

    python -m bench.remote_threshold                 # needs nginx (apt-get install nginx-light)
    python -m bench.remote_threshold --repeat 7 --ks 1,2,4,8,16,32,64,128
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REL = "deep_coadd/5063/33/r/deep_coadd_5063_33_r_lsst_cells_v1.fits"


def sample_root(work: Path) -> Path:
    """A repository holding patch 33 band r: the bundled sample if generated, else made in ``work``."""
    if (ROOT / "sample_repo" / REL).exists():
        return ROOT / "sample_repo"
    from cutout_cli._sample.generate import generate_repository

    root = work / "sample"
    shutil.copytree(ROOT / "sample_repo", root, ignore=shutil.ignore_patterns("deep_coadd"))
    generate_repository(root, patches=(33,), bands=("r",), jobs=1, progress=False)
    return root


def boxes(k: int, seed: int):
    from cutout_cli.sky.box import Box

    rng = np.random.default_rng(seed)
    corners = rng.integers(8800, 8800 + 3400 - 50, size=(k, 2))
    return [Box(int(x), int(y), 50, 50) for x, y in corners]


def ranged(url, targets, options) -> float:
    from cutout_cli.cutouts.extract import extract
    from cutout_cli.fits.coadd import CoaddFile

    start = time.perf_counter()
    with CoaddFile(url, remote=options) as coadd:
        for box in targets:
            extract(coadd, box)
    return time.perf_counter() - start


def download(url, targets, options, scratch) -> float:
    from cutout_cli.batch.remote_read import DownloadedHandle

    start = time.perf_counter()
    with DownloadedHandle(url, {}, options, scratch) as handle:
        for box in targets:
            handle.get(box)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ks", default="1,2,4,8,16,24,32,48,64,96,128")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]

    sys.path.insert(0, str(ROOT))
    from tests.remote_servers import Nginx

    from cutout_cli.storage.remote import RemoteOptions

    options = RemoteOptions.from_env()
    with tempfile.TemporaryDirectory(prefix="cutout-threshold-") as tmp:
        work = Path(tmp)
        root = sample_root(work)
        scratch = work / "scratch"
        scratch.mkdir()
        with Nginx(root, work / "nginx") as server:
            url = f"{server.url}/{REL}"
            ranged(url, boxes(2, 0), options)  # warm up: imports, the HTTP session
            download(url, boxes(2, 0), options, scratch)
            rows = []
            for k in ks:
                r, d = [], []
                for seed in range(args.repeat):  # interleaved, the same boxes both ways
                    r.append(ranged(url, boxes(k, seed), options))
                    d.append(download(url, boxes(k, seed), options, scratch))
                rows.append({"k": k, "ranged_s": statistics.median(r), "download_s": statistics.median(d)})
                print(f"k={k:4d}  ranged {rows[-1]['ranged_s'] * 1000:8.1f} ms   "
                      f"download {rows[-1]['download_s'] * 1000:8.1f} ms", flush=True)
    k = np.array([row["k"] for row in rows], float)
    fit_r = np.polyfit(k, [row["ranged_s"] for row in rows], 1)
    fit_d = np.polyfit(k, [row["download_s"] for row in rows], 1)
    crossover = (fit_d[1] - fit_r[1]) / (fit_r[0] - fit_d[0]) if fit_r[0] > fit_d[0] else float("inf")
    print(f"ranged:   {fit_r[1] * 1000:.1f} ms + {fit_r[0] * 1000:.2f} ms per target")
    print(f"download: {fit_d[1] * 1000:.1f} ms + {fit_d[0] * 1000:.2f} ms per target")
    print(f"crossover: {crossover:.1f} targets per coadd file")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "ranged_fit": list(fit_r), "download_fit": list(fit_d),
                                               "crossover": crossover}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
