"""Every constant that was measured on a machine rather than derived: read costs and thresholds.

They steer choices between equally correct ways of doing something (which
reader decodes a box, whether a plane goes to a second thread, whether a batch
task downloads a remote file), never a result.  They were fitted on the
project's 2-core machine with ``make bench`` (``bench/README.md`` says which
section refits which constant), and are good to some 15 %: enough to choose
between readers whose costs differ by more.  Refit them after a change to the
decoders, and say the new figures in the commit.
"""

from __future__ import annotations

__all__ = ["ROW_INFLATE_MIN_RATIO", "TILE_NS_PER_PIXEL", "TILE_CALL_US", "TILE_PIECE_US", "CFITSIO_CALL_US",
           "SECOND_THREAD_MIN_US_PER_TILE", "DOWNLOAD_THRESHOLD"]

#: Per (codec, quantised): nanoseconds per pixel to decompress a tile with cutout's decoder, to convert
#: one box pixel there, and for cfitsio per pixel of every tile it touches (decompressed and converted
#: whole).  Fitted over 50-1000 px boxes in 128 and 512 px tiles (``make bench``, section "reads").
TILE_NS_PER_PIXEL = {
    ("RICE_1", True): (7.0, 5.2, 8.8),
    ("RICE_1", False): (7.0, 1.5, 7.5),
    ("GZIP_2", True): (1.75, 8.0, 8.0),
    ("GZIP_2", False): (1.75, 6.4, 6.6),  # byte planes to put back together: masks
    ("GZIP_1", True): (1.5, 5.2, 6.0),
    ("GZIP_1", False): (1.5, 1.5, 4.0),
}
TILE_CALL_US = 60.0  # one read by cutout's decoder: the output array, the walk over the tiles
TILE_PIECE_US = 18.0  # per tile a box crosses there: fetching, slicing, converting its part
CFITSIO_CALL_US = 30.0  # one section read by cfitsio

#: One-row GZIP tiles are inflated with libdeflate (``fits/tiles/rows.py``) when their rows are on average at
#: least this fraction of their inflated size; below it, cfitsio.  Measured on lsst.images' 3400 px rows
#: (``make bench``, section "lsst_images"): float planes (0.9 of their size) read 1.9-2.1x faster with
#: libdeflate; masks (0.02) 1.05-1.2x slower, the cost per row then being Python's, not inflating's.
ROW_INFLATE_MIN_RATIO = 0.25

#: A plane is read on a second thread when decoding it is estimated to take this long (us) per tile: the
#: GIL changes hands around each tile, and waking a thread costs tens of us on a small virtual machine,
#: so with small tiles (128 px: 0.1 ms each) a second thread loses more than it gains.
SECOND_THREAD_MIN_US_PER_TILE = 300.0

#: ``batch --remote-read auto``: a task with at least this many targets to cut downloads its file and cuts
#: it locally; fewer use ranged reads.  Measured with ``bench/remote_threshold.py`` against nginx on
#: 127.0.0.1 with a full-size 3400 x 3400 RICE coadd (20 MB) and 50 x 50 px cutouts of three planes:
#: the two cost the same at 5-6 targets.
DOWNLOAD_THRESHOLD = 6
