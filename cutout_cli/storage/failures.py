"""What went wrong with a remote request, and the one-line error a user gets for it.

Every library on the way (fsspec, aiohttp, s3fs, botocore) raises its own
exception types, often wrapped in one another.  :func:`classify` looks through
the chain of causes and names one *kind* of failure:

=============  =====================================================  ==========
kind           what                                                   transient
=============  =====================================================  ==========
missing        the object does not exist (HTTP 404/410, NoSuchKey)     no
denied         credentials missing or wrong, no permission (401/403)   no
norange        an HTTP server that answers Range requests whole        no
timeout        no answer within the timeout                           yes
unreachable    connection refused, dropped, DNS failure               yes
server         HTTP 408/425/429/5xx, S3 SlowDown and the like          yes
other          anything else                                          no
=============  =====================================================  ==========

:func:`user_error` turns a kind into a :class:`~cutout_cli.errors.CutoutError`
with its exit code.  Library modules are looked up in ``sys.modules`` only:
classifying never imports them.
"""

from __future__ import annotations

import sys

from ..errors import AccessDeniedError, CutoutError, DataError, NotFoundError, UnavailableError, first_line

__all__ = ["TRANSIENT", "RangeNotSupportedError", "classify", "user_error"]

TRANSIENT = ("timeout", "unreachable", "server")
_PRECEDENCE = ("denied", "norange", "timeout", "unreachable", "server", "missing")
_S3_CODES = {
    "denied": ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "InvalidToken",
               "ExpiredToken", "AccountProblem"),
    "missing": ("NoSuchKey", "NoSuchBucket", "NotFound"),
    "server": ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
               "ServiceUnavailable"),
}


class RangeNotSupportedError(DataError):
    """The HTTP server answers byte-range requests with the whole file."""


def classify(err: BaseException) -> tuple[str, str]:
    """``(kind, detail)`` of a remote failure (see the module docstring for the kinds).

    Looks through the chain of causes (fsspec wraps errors); the most telling
    kind found wins (denied over missing, and so on).
    """
    chain, seen = [], set()
    while err is not None and id(err) not in seen and len(chain) < 8:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or err.__context__
    found = [_classify_one(e) for e in chain]
    for kind in _PRECEDENCE:
        for k, detail in found:
            if k == kind:
                return k, detail
    return "other", first_line(chain[0])


def _classify_one(err: BaseException) -> tuple[str, str]:
    for classifier in (_by_http_status, _by_botocore, _by_aiohttp, _by_builtin):
        found = classifier(err)
        if found is not None:
            return found
    return "other", first_line(err)


def _by_http_status(err: BaseException) -> tuple[str, str] | None:
    status = _status_of(err)
    if status is None:
        return None
    if status in (401, 403):
        return "denied", f"HTTP {status}"
    if status in (404, 410):
        return "missing", f"HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        return "server", f"HTTP {status}"
    return None


def _status_of(err) -> int | None:
    status = getattr(err, "status", None)  # aiohttp.ClientResponseError
    if isinstance(status, int) and 100 <= status < 600 and type(err).__module__.startswith("aiohttp"):
        return status
    response = getattr(err, "response", None)  # botocore ClientError
    if isinstance(response, dict):
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(code, int):
            return code
    return None


def _by_botocore(err: BaseException) -> tuple[str, str] | None:
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is None:
        return None
    if isinstance(err, botocore.ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        return next(((kind, code) for kind, codes in _S3_CODES.items() if code in codes), None)
    if not isinstance(err, botocore.BotoCoreError):
        return None
    if isinstance(err, (botocore.NoCredentialsError, botocore.PartialCredentialsError,
                        botocore.CredentialRetrievalError, botocore.ProfileNotFound)):
        return "denied", first_line(err)
    if isinstance(err, (botocore.ConnectTimeoutError, botocore.ReadTimeoutError)):
        return "timeout", "timed out"
    if isinstance(err, botocore.SSLError):
        return "other", first_line(err)  # a certificate problem is no transient failure
    if isinstance(err, (botocore.EndpointConnectionError, botocore.HTTPClientError)):
        return "unreachable", first_line(err)
    return None


def _by_aiohttp(err: BaseException) -> tuple[str, str] | None:
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None or not isinstance(err, aiohttp.ClientError):
        return None
    if isinstance(err, aiohttp.ServerTimeoutError):
        return "timeout", "timed out"
    if isinstance(err, aiohttp.ClientSSLError):
        return "other", first_line(err)
    if isinstance(err, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        return "unreachable", first_line(err)
    return None


def _by_builtin(err: BaseException) -> tuple[str, str] | None:
    if isinstance(err, ValueError) and "range requests" in str(err):
        return "norange", "the server ignores Range requests"
    if isinstance(err, PermissionError):
        return "denied", first_line(err)
    if isinstance(err, FileNotFoundError):
        return "missing", ""
    if isinstance(err, TimeoutError) or type(err).__name__ == "FSTimeoutError":
        return "timeout", "timed out"
    if isinstance(err, ConnectionError):
        return "unreachable", first_line(err)
    return None


def user_error(kind: str, detail: str, url: str, what: str, attempts: int, *, timeout: float,
               endpoint: str | None = None) -> CutoutError:
    """The error a user reads for a failure of ``kind`` after ``attempts`` tries to ``what`` ``url``.

    ``timeout`` is the one that applied (seconds); ``endpoint`` the S3 endpoint
    given (default: the URL's origin).
    """
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    s3 = url[:5].lower() == "s3://"
    if kind == "missing":
        return NotFoundError(f"{url} does not exist", "check {} and the repository layout", options=[("root", None)])
    if kind == "denied":
        hint = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or use {} for a public bucket"
                if s3 else "check that the server allows reading this path")
        return AccessDeniedError(f"access denied to {url}" + (f" ({detail})" if detail else ""), hint,
                                 options=[("anon", True)] if s3 else ())
    if kind == "norange":
        return RangeNotSupportedError(f"the server of {url} ignores HTTP Range requests, so a cutout would need "
                                      "the whole file", "serve the repository with Range support (nginx, Apache and "
                                      "S3 have it), or let a batch download the files: {}",
                                      options=[("remote_read", "download")])
    endpoint = endpoint if s3 and endpoint else _origin(url)
    if kind == "timeout":
        return UnavailableError(f"timed out ({timeout:g} s) trying to {what} {url}{tries}",
                                "the endpoint is slow or unreachable; retry later, or raise $CUTOUT_REMOTE_TIMEOUT")
    if kind == "unreachable":
        return UnavailableError(f"cannot reach {endpoint} to {what} {url}{tries}: {detail}",
                                "check the URL, {} and the network", options=[("endpoint_url", None)])
    if kind == "server":
        return UnavailableError(f"server error ({detail}) trying to {what} {url}{tries}", "retry later")
    return DataError(f"cannot {what} {url}: {detail}")


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
