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
129   ``batch`` stopped by SIGHUP, 130 by SIGINT (Ctrl-C), 143 by SIGTERM
      (128 + the signal's number; the manifest records what was done)
====  ===================================================================
"""

from __future__ import annotations

__all__ = ["CutoutError", "InputError", "NotFoundError", "OutputError", "NoSpaceError", "DataError", "RemoteError",
           "AccessDeniedError", "UnavailableError", "first_line", "python_spelling"]

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_OUTPUT = 4
EXIT_DATA = 5
EXIT_ACCESS = 6
EXIT_UNAVAILABLE = 7
EXIT_INTERNAL = 70


def python_spelling(parameter: str, value=None) -> str:
    """How a notebook user gives a parameter: ``overwrite=True``, ``mode='partial'``, ``max_pixels``."""
    return parameter if value is None else f"{parameter}={value!r}"


class CutoutError(Exception):
    """Base class of user-facing errors; ``str(err)`` is the one-line message.

    A hint that names a parameter of the library holds ``{}`` placeholders and
    ``options`` lists the ``(parameter, value)`` pairs that fill them: ``str(err)``
    spells them as a Python caller writes them (``overwrite=True``), and the
    command line as its flags (``--overwrite``; see :meth:`describe`).
    """

    exit_code = EXIT_DATA

    def __init__(self, message: str, hint: str | None = None, *, options=()):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.options = tuple(options)

    def describe(self, spell=python_spelling) -> str:
        """The one-line message, with each option of the hint spelled by ``spell(parameter, value)``."""
        hint = self.hint
        if hint and self.options:
            hint = hint.format(*(spell(name, value) for name, value in self.options))
        return f"{self.message} ({hint})" if hint else self.message

    def __str__(self) -> str:
        return self.describe()


class InputError(CutoutError, ValueError):
    """A value given by the user cannot be understood or is out of range."""

    exit_code = EXIT_USAGE


class NotFoundError(CutoutError, LookupError):
    """Nothing in the repository covers the request."""

    exit_code = EXIT_NOT_FOUND


class OutputError(CutoutError, OSError):
    """An output cannot be written (exists, not writable, disk full)."""

    exit_code = EXIT_OUTPUT


class NoSpaceError(OutputError):
    """The file system is full, a quota is reached or the file-size limit: a batch stops at once."""


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


def first_line(err: BaseException) -> str:
    """The first line of an exception's text, or its type name when it has none."""
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
