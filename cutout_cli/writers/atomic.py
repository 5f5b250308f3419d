"""Atomic output files: write to a hidden temporary name, then rename.

A killed or failed write never leaves a partial file under the final name, and
an existing file is only replaced when the caller says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ..errors import OutputError


def check_writable(path, overwrite: bool) -> Path:
    """Refuse an existing ``path`` unless ``overwrite``; create its parent directory."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists", "pass --overwrite to replace it")
    if path.is_dir():
        raise OutputError(f"{path} is a directory", "give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create directory {path.parent}: {err.strerror}") from None
    return path


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = False):
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    On any exception the temporary file is removed and the final name is left
    untouched.  ``OSError`` is reported as :class:`OutputError`.
    """
    path = check_writable(path, overwrite)
    # a fresh unique name, not created here: writers such as cfitsio refuse an existing file
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        if not overwrite and path.exists():
            raise OutputError(f"{path} exists", "pass --overwrite to replace it")
        os.replace(tmp, path)
    except OutputError:
        raise
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
