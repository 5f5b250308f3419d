"""Atomic output files: a name only ever shows a complete file.

Files whose bytes are at hand (cutouts, PNGs) are written with
:func:`write_atomically`: on Linux the file is written unnamed (``O_TMPFILE``)
and linked under its name once complete, so a killed process leaves nothing
behind and two writers never replace each other's file.  Writers that need a
path (cfitsio) use :func:`atomic_path`: a hidden temporary name, then a rename.
Either way an existing file is only replaced when the caller says so.  Files
are not fsync'd (batches write thousands): after a crash of the machine, as
opposed to the process, a name may show what the file system had not yet
written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

from ..errors import NoSpaceError, OutputError

_O_TMPFILE = getattr(os, "O_TMPFILE", 0)

#: The hint of an existing output (``{}``: the ``overwrite`` option).
OVERWRITE_HINT = "pass {} to replace it"


def exists_error(path) -> OutputError:
    """The error of an output that exists and may not be replaced."""
    return OutputError(f"{path} exists", OVERWRITE_HINT, options=[("overwrite", True)])


#: errors after which no further output can be written either: a batch stops on them
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def write_error(path, err: OSError) -> OutputError:
    """The error of a failed write of ``path`` (:class:`NoSpaceError` when the disk is full)."""
    kind = NoSpaceError if err.errno in _NO_SPACE else OutputError
    return kind(f"cannot write {path}: {err.strerror or err}")


def check_writable(path, overwrite: bool) -> Path:
    """Refuse an existing ``path`` unless ``overwrite``; create its parent directory."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise exists_error(path)
    if path.is_dir():
        raise OutputError(f"{path} is a directory", "give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create directory {path.parent}: {err.strerror}") from None
    return path


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = False, suffix: str = ".tmp"):
    """Yield a temporary path beside ``path`` (ending with ``suffix``, for writers that go by the
    extension); on success rename it to ``path``.

    On any exception the temporary file is removed and the final name is left
    untouched.  ``OSError`` is reported as :class:`OutputError`.
    """
    path = check_writable(path, overwrite)
    # a fresh unique name, not created here: writers such as cfitsio refuse an existing file
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
    try:
        yield tmp
        if not overwrite and path.exists():
            raise exists_error(path)
        os.replace(tmp, path)
    except OutputError:
        raise
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_atomically(path, chunks, overwrite: bool = False) -> None:
    """Write the byte strings ``chunks`` to ``path``; the name appears only once the file is complete.

    A new file is written unnamed and linked in (half the directory updates of
    a temporary name + rename, which matters to parallel batch workers sharing
    one directory); replacing a file (``overwrite``), or a system without
    ``O_TMPFILE``, goes through :func:`atomic_path`.  Errors are
    :class:`OutputError`.
    """
    if not overwrite and _link_new_file(os.fspath(path), chunks):
        return
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as handle:
            handle.writelines(chunks)


def _link_new_file(path: str, chunks) -> bool:
    """Write an unnamed file in ``path``'s directory and link it as ``path``; False when this system
    (or file system, or a missing directory) does not allow it and nothing was written."""
    if not _O_TMPFILE:
        return False
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), _O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError:
        return False
    try:
        # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N names an unnamed file without privileges
        proc_fds = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        os.close(fd)
        return False
    try:
        with open(fd, "wb", closefd=False) as handle:
            handle.writelines(chunks)
        os.link(str(fd), path, src_dir_fd=proc_fds, follow_symlinks=True)
    except FileExistsError:
        raise exists_error(path) from None
    except OSError as err:
        raise write_error(path, err) from None
    finally:
        os.close(proc_fds)
        os.close(fd)
    return True
