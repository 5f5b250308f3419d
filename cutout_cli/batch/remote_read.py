"""``--remote-read``: how a batch task reads a coadd in remote storage.

``ranged`` cuts through :class:`~cutout_cli.remote_reader.RemoteCoaddFile`
(only the tiles under the boxes are fetched); ``download`` copies the coadd
to a scratch directory first (atomically; removed when the task ends) and
cuts it locally with fitsio; ``auto`` downloads when the task has at least
:func:`~cutout_cli.remote.download_threshold` targets left to cut, where
ranged reads stop paying off (measured: README, "Remote repositories").
Local coadds are always read in place.
"""

from __future__ import annotations

import contextlib
import os

from ..errors import OutputError
from ..handle import ImageHandle
from ..reader import CoaddFile
from ..remote import REMOTE_READ_MODES, download, download_threshold, is_remote


def task_handle(task, provenance: dict, outputs) -> ImageHandle:
    """The handle a task cuts from: the coadd itself, or a downloaded copy of it."""
    path = task.ref.path
    if is_remote(path) and wants_download(task, outputs):
        return DownloadedHandle(path, provenance, outputs.remote, outputs.scratch_dir or outputs.out_dir)
    return ImageHandle(path, provenance, remote=outputs.remote)


def wants_download(task, outputs) -> bool:
    mode = outputs.remote_read
    if mode not in REMOTE_READ_MODES:
        raise ValueError(f"unknown remote-read mode {mode!r}")
    if mode != "auto":
        return mode == "download"
    threshold = outputs.download_threshold or download_threshold()
    return _targets_to_cut(task, outputs, threshold) >= threshold


def _targets_to_cut(task, outputs, enough: int) -> int:
    """Targets of the task whose outputs are not finished yet (counting stops at ``enough``)."""
    count = 0
    for stem, band in zip(task.stems, task.bands):
        if not outputs.is_done(stem, band):
            count += 1
            if count >= enough:
                break
    return count


class DownloadedHandle(ImageHandle):
    """A handle that downloads its remote coadd on first use and cuts the local copy with fitsio.

    The copy is written under a temporary name in ``scratch_dir`` and renamed
    when complete; :meth:`close` deletes it.  Cutouts record the URL as
    their source file.
    """

    def __init__(self, url: str, provenance: dict, remote, scratch_dir: str):
        super().__init__(url, {**provenance, "source": url}, remote=remote)
        self.scratch_dir = os.fspath(scratch_dir)
        self.local_path: str | None = None

    @property
    def file(self) -> CoaddFile:
        if self._file is None:
            if self.local_path is None:
                try:
                    os.makedirs(self.scratch_dir, exist_ok=True)
                except OSError as err:
                    raise OutputError(f"cannot create scratch directory {self.scratch_dir}: {err.strerror}") from None
                self.local_path = download(self.path, self.scratch_dir, self.remote)
            self._file = self._prepared(CoaddFile(self.local_path))
            self.opens += 1
        return self._file

    def close(self) -> None:
        super().close()
        if self.local_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.local_path)
            self.local_path = None
