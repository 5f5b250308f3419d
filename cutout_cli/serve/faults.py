"""Errors of the service as SODA 1.0 / DALI error documents (``text/plain``, starting with the error code).

SODA section 5.2 names the codes: ``Error`` (general), ``AuthenticationError``,
``AuthorizationError``, ``ServiceUnavailable`` (transient: retry), ``UsageError``
(permanent: a retry is pointless) and ``MultiValuedParamNotSupported``.  The
HTTP status says the same to clients that read only it (pyvo raises
``DALServiceError`` with the status and the text).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AccessDeniedError, CutoutError, InputError, NotFoundError, RemoteError, UnavailableError

__all__ = ["Fault", "fault_of", "http_spelling", "usage", "busy"]


def http_spelling(parameter: str, value=None) -> str:
    """How a web client gives a parameter a hint names: ``size=60arcsec``, ``band``."""
    return parameter if value is None else f"{parameter}={value}"


@dataclass
class Fault(Exception):
    """One error answer: the SODA error code, the HTTP status, one line of text, and for transient
    errors the seconds after which to retry."""

    code: str
    status: int
    message: str
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __reduce__(self):  # back from a worker process whole (Exception pickles only its args)
        return Fault, (self.code, self.status, self.message, self.retry_after)

    def headers(self) -> dict:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def usage(message: str, status: int = 400) -> Fault:
    """A request that cannot succeed as it is (``UsageError``)."""
    return Fault("UsageError", status, message)


def busy(message: str, retry_after: int) -> Fault:
    """A transient refusal (``ServiceUnavailable``, 503) with a ``Retry-After``."""
    return Fault("ServiceUnavailable", 503, message, retry_after)


def fault_of(err: CutoutError, redact=lambda text: text) -> Fault:
    """The answer to a library error; ``redact`` removes what a client must not see (server paths)."""
    text = redact(err.describe(http_spelling))
    if isinstance(err, NotFoundError):
        return Fault("UsageError", 404, text)
    if isinstance(err, InputError):
        return Fault("UsageError", 400, text)
    if isinstance(err, AccessDeniedError):
        return Fault("Error", 502, text)
    if isinstance(err, (UnavailableError, RemoteError)):
        return Fault("ServiceUnavailable", 503, text, retry_after=5)
    return Fault("Error", 500, text)  # DataError (a bad file of the repository), OutputError
