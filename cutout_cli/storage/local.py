"""A local folder as a :class:`~cutout_cli.storage.base.Storage`: locations are file-system paths."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..errors import DataError, NotFoundError
from .base import Storage

__all__ = ["LocalStorage"]


class LocalStorage(Storage):
    """Files under the folder ``root`` (a path, made a string as :class:`pathlib.Path` spells it)."""

    def __init__(self, root):
        self.root = str(Path(root))

    def join(self, *parts: str) -> str:
        return str(Path(self.root, *parts))

    def read_bytes(self, location: str) -> bytes:
        try:
            with open(location, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise NotFoundError(f"{location} does not exist") from None
        except OSError as err:
            raise DataError(f"cannot read {location}: {err.strerror or err}") from None

    def exists(self, location: str) -> bool:
        return os.path.isfile(location)

    def glob(self, pattern: str) -> list[str]:
        return sorted(glob.glob(pattern))

    def is_folder(self) -> bool:
        return os.path.isdir(self.root)
