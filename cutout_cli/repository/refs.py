"""Dataset references: what a registry finds for a patch and band, and what a read needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sky.box import Box
from ..storage.members import uri_of

__all__ = ["DatasetRef"]


@dataclass(frozen=True)
class DatasetRef:
    """One dataset of the repository: a coadd of one tract, patch and band.

    ``path`` is where its file is (a local path, a URL, or a zip member
    ``ARCHIVE#zip-path=MEMBER``); ``outer`` is the patch's outer box in
    PARENT (tract) pixels: the extent of the coadd file.  ``home`` marks the
    patch that findTract + findPatch give for the queried position.
    ``dataset_id`` (a UUID) and ``run`` are the Butler's, for datasets of a
    Butler source (None otherwise).
    """

    dataset_type: str
    tract: int
    patch: int
    patch_x: int
    patch_y: int
    band: str
    path: str
    outer: Box
    home: bool = field(default=False, compare=False)
    dataset_id: str | None = None
    run: str | None = None

    @property
    def uri(self) -> str:
        """The file's URI as the Butler's ``getURI`` spells it (``file://`` for a local path)."""
        return uri_of(self.path)

    @property
    def data_id(self) -> dict:
        return {"tract": self.tract, "patch": self.patch, "band": self.band}

    def provenance(self, skymap: str) -> dict:
        """Dataset-id keywords recorded in a cutout's primary header (the Butler's id and run when known)."""
        record = {"dataset_type": self.dataset_type, "tract": self.tract, "patch": self.patch, "band": self.band,
                  "skymap": skymap}
        if self.dataset_id is not None:
            record.update(dataset_id=self.dataset_id, run=self.run)
        return record

    def as_dict(self) -> dict:
        """Record with the stable JSON field names (``dataset_id``, ``run`` and ``uri`` for Butler datasets)."""
        butler = {"dataset_id": self.dataset_id, "run": self.run, "uri": self.uri} if self.dataset_id else {}
        return {
            "dataset_type": self.dataset_type,
            "tract": self.tract,
            "patch": self.patch,
            "patch_x": self.patch_x,
            "patch_y": self.patch_y,
            "band": self.band,
            "home": self.home,
            "path": self.path,
            **self.outer.as_dict(),
            **butler,
        }
