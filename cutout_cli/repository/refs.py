"""Dataset references: what a registry finds for a patch and band, and what a read needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sky.box import Box

__all__ = ["DatasetRef"]


@dataclass(frozen=True)
class DatasetRef:
    """One dataset of the repository: a coadd of one tract, patch and band.

    ``path`` is where its file is (a local path or a URL); ``outer`` is the
    patch's outer box in PARENT (tract) pixels: the extent of the coadd file.
    ``home`` marks the patch that findTract + findPatch give for the queried
    position.
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

    @property
    def data_id(self) -> dict:
        return {"tract": self.tract, "patch": self.patch, "band": self.band}

    def as_dict(self) -> dict:
        """Record with the stable JSON field names."""
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
        }
