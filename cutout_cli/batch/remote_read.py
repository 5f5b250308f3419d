"""``remote_read``: how a batch task reads a coadd in remote storage.

``ranged`` cuts through the ranged plane reader of
:class:`~cutout_cli.fits.coadd.CoaddFile` (only the tiles under the boxes are
fetched); ``download`` copies the coadd to a scratch directory first
(atomically; removed when the task ends) and cuts it locally with fitsio;
``auto`` downloads when the task has at least
:func:`~cutout_cli.storage.remote.download_threshold` targets left to cut,
where ranged reads stop paying off (measured: README, "Remote repositories"),
and reads ranges otherwise, falling back on a download when the server
ignores Range requests (:class:`FallbackHandle`).  Local coadds are always
read in place.
"""

from __future__ import annotations

import contextlib
import os

from ..cutouts.handle import ImageHandle
from ..errors import OutputError
from ..storage.base import is_remote
from ..storage.failures import RangeNotSupportedError
from ..storage.members import is_member
from ..storage.remote import download, download_threshold

__all__ = ["DownloadedHandle", "FallbackHandle", "task_handle", "wants_download"]


def task_handle(task, provenance: dict, outputs):
    """The handle a task cuts from: the coadd itself, or a downloaded copy of it."""
    path = task.ref.path
    if not is_remote(path) or is_member(path):  # a member is read in place
        return ImageHandle(path, provenance, remote=outputs.remote)
    scratch = outputs.remote_reading.scratch_dir or outputs.out_dir
    if wants_download(task, outputs):
        return DownloadedHandle(path, provenance, outputs.remote, scratch)
    ranged = ImageHandle(path, provenance, remote=outputs.remote)
    if outputs.remote_reading.remote_read != "auto":
        return ranged
    return FallbackHandle(ranged, lambda: DownloadedHandle(path, provenance, outputs.remote, scratch))


def wants_download(task, outputs) -> bool:
    reading = outputs.remote_reading
    if reading.remote_read != "auto":
        return reading.remote_read == "download"
    threshold = reading.download_threshold or download_threshold()
    return _targets_to_cut(task, outputs, threshold) >= threshold


def _targets_to_cut(task, outputs, enough: int) -> int:
    """Targets of the task whose outputs are not finished yet (counting stops at ``enough``)."""
    count = 0
    for i in range(len(task.rows)):
        if not outputs.found(task, i).done:
            count += 1
            if count >= enough:
                break
    return count


class DownloadedHandle:
    """A handle on a remote coadd that downloads it on first use and cuts the local copy with fitsio.

    It serves what a task asks of an :class:`~cutout_cli.cutouts.handle.ImageHandle`
    (:meth:`expect`, :meth:`get`, :attr:`is_open`, :meth:`close`) through an
    ImageHandle on the copy, made once the copy exists.  The copy is written
    under a temporary name in ``scratch_dir`` and renamed when complete;
    :meth:`close` deletes it.  Cutouts record the URL as their source file.
    """

    def __init__(self, url: str, provenance: dict, remote, scratch_dir):
        self.path = str(url)
        self.provenance = {**(provenance or {}), "source": self.path}
        self.remote = remote
        self.scratch_dir = os.fspath(scratch_dir)
        self.local_path: str | None = None
        self._local: ImageHandle | None = None
        self._expected: tuple = ()

    def __repr__(self) -> str:
        return f"DownloadedHandle({self.path!r}, {'downloaded' if self.local_path else 'not downloaded'})"

    @property
    def local(self) -> ImageHandle:
        """The handle on the downloaded copy (downloaded on first use)."""
        if self._local is None:
            try:
                os.makedirs(self.scratch_dir, exist_ok=True)
            except OSError as err:
                raise OutputError(f"cannot create scratch directory {self.scratch_dir}: {err.strerror}") from None
            self.local_path = download(self.path, self.scratch_dir, self.remote)
            self._local = ImageHandle(self.local_path, self.provenance)
            if self._expected:
                self._local.expect(*self._expected)
        return self._local

    @property
    def is_open(self) -> bool:
        return self._local is not None and self._local.is_open

    @property
    def opens(self) -> int:
        return self._local.opens if self._local is not None else 0

    def expect(self, boxes, planes) -> None:
        """Announce the boxes a task will read (applied to the copy once it exists)."""
        self._expected = (list(boxes), tuple(planes))
        if self._local is not None:
            self._local.expect(*self._expected)

    def get(self, bbox=None, **options):
        """:meth:`ImageHandle.get <cutout_cli.cutouts.handle.ImageHandle.get>` on the copy."""
        return self.local.get(bbox, **options)

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None
        if self.local_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.local_path)
            self.local_path = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FallbackHandle:
    """``auto`` reading of a remote coadd: ranged reads through ``ranged`` (an ImageHandle), and a
    download (``download()`` makes the :class:`DownloadedHandle`) once the server turns out to ignore
    Range requests, for this and every later box of the task."""

    def __init__(self, ranged: ImageHandle, download):
        self.current = ranged
        self._download = download
        self._expected: tuple = ()
        self.fell_back = False

    @property
    def is_open(self) -> bool:
        return self.current.is_open

    @property
    def opens(self) -> int:
        return self.current.opens

    def expect(self, boxes, planes) -> None:
        self._expected = (list(boxes), tuple(planes))
        self.current.expect(*self._expected)

    def get(self, bbox=None, **options):
        try:
            return self.current.get(bbox, **options)
        except RangeNotSupportedError:
            if self.fell_back:
                raise
        self.current.close()
        self.current, self.fell_back = self._download(), True
        if self._expected:
            self.current.expect(*self._expected)
        return self.current.get(bbox, **options)

    def close(self) -> None:
        self.current.close()
