"""Errors the tool reports to users, each with a documented exit code.

Every failure a user can cause is raised as a :class:`CutoutError` subclass whose
message names the problem and, where there is one, the fix.  The CLI prints it as
one line on stderr and exits with the class's ``exit_code``:

====  ===================================================================
code  meaning
====  ===================================================================
0     success
1     ``batch`` finished, but at least one row failed (see the manifest)
2     usage error: a bad option, argument or input value
3     not found: nothing covers the request (no tract, patch or dataset;
      a box outside the data in strict mode)
4     output refused or failed: file exists without ``--overwrite``,
      directory not writable, disk full, another batch writing into ``--out``
5     bad repository or file: malformed ``repo.json`` or skymap, unreadable
      or corrupt FITS, missing image planes or WCS; unreachable Dask scheduler;
      an HTTP server that ignores Range requests
6     access denied by remote storage (missing or wrong credentials, no permission)
7     remote storage unavailable: endpoint unreachable, timeout, or server
      errors, after bounded retries with backoff
70    internal error (a bug: please report it with the ``-v`` traceback)
====  ===================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_OUTPUT = 4
EXIT_DATA = 5
EXIT_ACCESS = 6
EXIT_UNAVAILABLE = 7
EXIT_INTERNAL = 70


class CutoutError(Exception):
    """Base class of user-facing errors; ``str(err)`` is the one-line message."""

    exit_code = EXIT_DATA

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(CutoutError, ValueError):
    """A value given by the user cannot be understood or is out of range."""

    exit_code = EXIT_USAGE


class NotFoundError(CutoutError, LookupError):
    """Nothing in the repository covers the request."""

    exit_code = EXIT_NOT_FOUND


class OutputError(CutoutError, OSError):
    """An output cannot be written (exists, not writable, disk full)."""

    exit_code = EXIT_OUTPUT


class DataError(CutoutError):
    """A repository description or data file is malformed or unreadable."""

    exit_code = EXIT_DATA


class RemoteError(CutoutError):
    """Remote storage (S3, HTTP) refused or failed a request; fatal for a whole batch."""


class AccessDeniedError(RemoteError):
    """Remote storage denied access (credentials missing or wrong, no permission)."""

    exit_code = EXIT_ACCESS


class UnavailableError(RemoteError):
    """Remote storage cannot be reached: unreachable endpoint, timeout, server errors (after retries)."""

    exit_code = EXIT_UNAVAILABLE
