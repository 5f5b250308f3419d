"""``single_file``: every cutout of a batch in one multi-extension FITS file.

Layout: an empty primary HDU; for each written target its planes as image
HDUs with ``EXTNAME`` = IMAGE / MASK / VARIANCE and ``EXTVER`` = the target's
row number in the list (so ``hdul["IMAGE", 12]`` is row 12's image), each with
the full cutout header (WCS, XY0, mask planes); last, a ``MANIFEST`` binary
table (the manifest columns plus ``row`` and ``hdu``, the index of the row's
first HDU, -1 when it has none).  Written to a temporary name and renamed
when complete, replacing the file of an earlier run.
"""

from __future__ import annotations

import numpy as np

from ..writers.atomic import atomic_path
from ..writers.fits import plane_header
from .manifest import COLUMNS, manifest_records


class SingleFileWriter:
    """Appends cutouts to one FITS file; :meth:`finish` adds the manifest table and publishes it.

    As a context manager, a block left by an exception before :meth:`finish`
    discards the file (the final name is left untouched).
    """

    def __init__(self, path, overwrite: bool = True):
        import fitsio

        self.path = path
        self._context = atomic_path(path, overwrite)
        tmp = self._context.__enter__()
        self._fits = fitsio.FITS(tmp, "rw", clobber=True)
        self._fits.write(None, header=[{"name": "ORIGIN", "value": "cutout batch --single-file"}])
        self._hdus = 1
        self._open = True
        self.first_hdu: dict[int, int] = {}

    def add(self, row: int, cutout) -> None:
        self.first_hdu[row] = self._hdus
        for name, array, header in cutout.hdus():  # a split mask's parts are told apart by MASKHDU
            header = plane_header(name, header)
            records = [r for r in header.records() if r["name"] != "EXTVER"]
            self._fits.write(array, header=records, extname=name, extver=row + 1)
            self._hdus += 1

    def finish(self, plan, path_of, request: dict | None = None) -> None:
        records = list(manifest_records(plan, path_of, request))
        columns = {name: np.array([str(r[name]).encode("utf-8") for r in records]) for name in COLUMNS}
        columns["row"] = np.arange(1, len(records) + 1, dtype=np.int64)
        columns["hdu"] = np.array([self.first_hdu.get(i, -1) for i in range(len(records))], dtype=np.int64)
        names = ["row", *COLUMNS, "hdu"]
        self._fits.write([columns[n] for n in names], names=names, extname="MANIFEST")
        self._fits.close()
        self._open = False
        self._context.__exit__(None, None, None)

    def abort(self, error: BaseException) -> None:
        """Close and discard the unfinished file (nothing once :meth:`finish` ran)."""
        if not self._open:
            return
        self._open = False
        self._fits.close()
        self._context.__exit__(type(error), error, error.__traceback__)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if self._open:
            self.abort(error if error is not None else RuntimeError("the single file was not finished"))
