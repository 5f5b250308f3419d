"""Remote reads through a wide-area link: no cache, a cold and a warm header cache (``--cache-dir``).

nginx on 127.0.0.1 serves the full-size sample coadd (tract 5063, patch 33, band r) behind
``tests/latency_proxy.py`` (a one-way delay of RTT/2 each way, 100 Mbit/s); a 50 x 50 px box on
demo target 11 (over two tiles) is cut with the IMAGE plane, then all three, at 0, 20 and 100 ms
RTT.  Each figure is the median of ``--repeat`` opens (3) and the requests the proxy carried::

    python -m bench.remote_cache                 # needs nginx (apt-get install nginx-light)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from .remote_threshold import REL, sample_root

TARGET_11 = (53.318792, -27.844306)
RTTS = (0.0, 0.02, 0.1)


def cut_once(url, box, planes, cache_dir, proxy) -> tuple[float, int]:
    """Seconds and requests of one open and cutout."""
    from cutout_cli.cutouts.extract import extract
    from cutout_cli.cutouts.options import ReadOptions
    from cutout_cli.fits.coadd import open_image_file
    from cutout_cli.storage.remote import RemoteOptions

    proxy.reset()
    start = time.perf_counter()
    with open_image_file(url, RemoteOptions.from_env(cache_dir=cache_dir)) as image:
        extract(image, box, ReadOptions(planes))
    return time.perf_counter() - start, proxy.reset().requests


def measure(url, box, planes, proxy, repeat: int) -> dict:
    """``{case: (median seconds, median requests)}`` for no cache, a cold cache and a warm one."""
    warm_dir = tempfile.mkdtemp(prefix="cutout-cache-")
    cut_once(url, box, planes, warm_dir, proxy)  # fills the warm cache
    cases = {"no cache": lambda: None, "cold cache": lambda: tempfile.mkdtemp(prefix="cutout-cache-"),
             "warm cache": lambda: warm_dir}
    found = {}
    for name, cache_dir in cases.items():
        runs = [cut_once(url, box, planes, cache_dir(), proxy) for _ in range(repeat)]
        found[name] = (statistics.median(t for t, _ in runs), statistics.median(n for _, n in runs))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from cutout_cli.repository import Repository
    from cutout_cli.sky.box import Box
    from tests.latency_proxy import MBIT, LatencyProxy
    from tests.remote_servers import Nginx

    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        root = sample_root(work)
        tract = Repository(root).skymap.find_tract(*TARGET_11)
        box = Box.centered(*(float(v) for v in tract.sky_to_pixel(*TARGET_11)), 50, 50)
        served = work / "served"
        served.mkdir()
        (served / "c.fits").symlink_to(root / REL)
        with Nginx(served, work / "nginx") as nginx, LatencyProxy(nginx.port) as proxy:
            print("| cutout | RTT | no cache | cold cache | warm cache |\n|---|---|---|---|---|")
            for planes in (("IMAGE",), ("IMAGE", "MASK", "VARIANCE")):
                for rtt in RTTS:
                    proxy.configure(rtt=rtt, bandwidth=100 * MBIT)
                    found = measure(f"{proxy.url}/c.fits", box, planes, proxy, args.repeat)
                    cells = [f"{t:.3f} s, {n:g} requests" for t, n in found.values()]
                    label = "IMAGE" if len(planes) == 1 else "three planes"
                    print(f"| {label} | {rtt * 1000:.0f} ms | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
