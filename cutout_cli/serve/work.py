"""The cutouts a request asks for, done in worker processes: blocking code, no event loop here.

The cutting is mostly Python holding the GIL, so threads would share one core:
each worker is a process (:func:`worker_pool`) holding its own repository,
opened from the picklable locator of the one the service opened at start, and
its own :class:`Cutter`.  A request reaches it as ``call("soda", request)``;
errors come back as :class:`~.faults.Fault` (a library error's message with
the repository's location redacted).  Boxes are PARENT (tract) pixels, begin
inclusive, end exclusive.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import os
import signal
import threading
from functools import partial

from ..batch.stopping import start_worker
from ..cutouts.options import ReadOptions
from ..errors import CutoutError
from ..sky.regions import bounding_circle, enclosing_box, patch_polygon
from .faults import fault_of, usage
from .ids import format_id, resolve
from .limits import Limits
from .soda import QueryRequest, SkyRequest, SodaRequest

__all__ = ["Cutter", "call", "redactor", "worker_pool"]


def redactor(root):
    """A function replacing the repository's location (``root``, and its absolute path) in a text by
    ``<repository>``: clients see datasets, not the server's paths (messages, the SRCFILE card)."""
    root = str(root)
    roots = sorted({root, root if "://" in root else os.path.abspath(root)}, key=len, reverse=True)

    def redact(text: str) -> str:
        for each in roots:
            text = text.replace(each, "<repository>")
        return text
    return redact


#: what a first cutout imports (0.4 s): imported before the workers start, so no request pays for them
WARM_MODULES = ("astropy.wcs", "astropy.io.fits", "fitsio", "lsst.sphgeom", "cutout_cli.fits.coadd",
                "cutout_cli.fits.local", "cutout_cli.fits.tiles.plane", "cutout_cli.writers.fits")


def _import_warm_modules() -> None:
    for name in WARM_MODULES:
        importlib.import_module(name)


def worker_pool(locator, limits: Limits) -> cf.ProcessPoolExecutor:
    """``limits.concurrency`` worker processes, each with a :class:`Cutter` over ``locator.open()``;
    they ignore SIGINT and SIGTERM (the service stops them after the requests in flight) and die
    with the service."""
    # fork while the service has one thread (fast, modules already imported); spawn otherwise, as
    # forking a process with threads can deadlock the children
    method = "fork" if threading.active_count() == 1 else "spawn"
    _import_warm_modules()  # forked workers inherit them
    return cf.ProcessPoolExecutor(max_workers=limits.concurrency, mp_context=multiprocessing.get_context(method),
                                  initializer=start_worker,
                                  initargs=(os.getpid(), partial(_start_cutter, locator, limits)))


_CUTTER = None  # the worker process's own


def _start_cutter(locator, limits: Limits) -> None:
    global _CUTTER
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _import_warm_modules()  # spawned workers import them here
    _CUTTER = Cutter(locator.open(), limits)


def call(method: str, *args):
    """``Cutter.<method>(*args)`` in this worker; a library error comes back as a Fault."""
    try:
        return getattr(_CUTTER, method)(*args)
    except CutoutError as err:
        raise fault_of(err, _CUTTER.redact) from None


class Cutter:
    """Cutouts and queries over one repository, within ``limits``."""

    def __init__(self, repo, limits: Limits):
        self.repo = repo
        self.limits = limits
        self.options = ReadOptions(max_pixels=limits.pixels)
        self.redact = redactor(repo.root)

    def ping(self) -> bool:
        """Whether the worker is up (the service asks each before it listens)."""
        return True

    def soda(self, request: SodaRequest) -> tuple[bytes | None, str]:
        """The FITS cutout (afw layout, as ``cutout subset`` writes it) of a SODA request and its file
        name; None when the stencil holds no pixel of the dataset (SODA: 204)."""
        repo = self.repo
        ref = resolve(repo, request.dataset)
        name = f"{ref.dataset_type}_{ref.tract}_{ref.patch}_{ref.band}"
        box = ref.outer if request.region is None else self._stencil_box(repo, ref, request.region)
        if box is None:
            return None, name
        self.limits.check_pixels(box.width, box.height)
        cutout = repo.get(ref, box, options=self.options, provenance={"request": request.pos})
        return self._fits(cutout), f"{name}_{box.begin_x}_{box.begin_y}_{box.width}x{box.height}.fits"

    def _stencil_box(self, repo, ref, region):
        """The box of ``ref``'s pixels holding the region's part inside the dataset (SODA 3.3: a
        stencil beyond the dataset is reduced to it); None when they do not meet."""
        from lsst.sphgeom import CONTAINS, DISJOINT

        tract = repo.registry.skymap_for(ref.band).tract(ref.tract)
        relation = region.relate(patch_polygon(tract, tract.patch(ref.patch)))
        if relation & DISJOINT:
            return None
        if relation & CONTAINS:
            return ref.outer
        radius_px = bounding_circle(region)[2] * 3600.0 / tract.pixel_scale
        if radius_px > 4 * max(ref.outer.width, ref.outer.height):  # its boundary would be sampled at ~1/4 px
            raise usage("the region is much larger than the dataset and only partly over it: "
                        "give a region within a few dataset widths")
        box = enclosing_box(tract, region).intersection(ref.outer)
        return None if box.is_empty else box

    def sky(self, request: SkyRequest) -> tuple[bytes, str]:
        """What ``cutout subset --ra --dec --size --band`` writes, and its file name."""
        cutout = self.repo.cutout(request.ra, request.dec, request.size, request.band,
                                          dataset_type=request.dataset_type, options=self.options)
        return self._fits(cutout), f"cutout_{request.ra:.6f}_{request.dec:+.6f}_{request.band}.fits"

    def query(self, request: QueryRequest) -> list[dict]:
        """``cutout query``'s records, each with the ``id`` the SODA endpoint takes (paths left out)."""
        refs = self.repo.query(request.dataset_type, request.band, pos=request.pos)
        hidden = ("path", "uri")
        return [{"id": format_id(ref), **{k: v for k, v in ref.as_dict().items() if k not in hidden}} for ref in refs]

    def _fits(self, cutout) -> bytes:
        source = cutout.primary_header.get("SRCFILE")
        if source:
            cutout.primary_header = cutout.primary_header.updated({"SRCFILE": (self.redact(source), None)})
        data = cutout.fits_bytes()
        self.limits.check_bytes(len(data))
        return data
