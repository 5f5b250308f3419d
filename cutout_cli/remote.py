"""Remote storage: ``s3://`` and ``http(s)://`` through fsspec, with retries and clear errors.

Used for repositories given as URLs (``--repo s3://bucket/prefix``,
``--repo https://host/path``).  S3 goes through s3fs (credentials the standard
AWS way: environment variables, profiles, instance roles; ``anon=True`` for
public buckets; a custom endpoint for S3-compatible stores), HTTP through
fsspec's aiohttp-based filesystem.

This module imports only the standard library at import time: fsspec, s3fs
and aiohttp are imported when the first remote filesystem is made, so local
use never pays for them (they come with ``pip install 'cutout-cli[remote]'``).

Every remote call goes through :func:`call`: transient failures (timeouts,
refused or dropped connections, HTTP 429/5xx, S3 SlowDown) are retried with
exponential backoff and jitter, a bounded number of times; the failure is then
reported as one :class:`~cutout_cli.errors.CutoutError`:

* missing object -> :class:`~cutout_cli.errors.NotFoundError` (exit 3)
* server that ignores Range requests -> :class:`RangeNotSupportedError` (exit 5)
* access denied, missing or wrong credentials -> :class:`~cutout_cli.errors.AccessDeniedError` (exit 6)
* unreachable endpoint, timeout, server errors after the retries ->
  :class:`~cutout_cli.errors.UnavailableError` (exit 7)
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass, field

from .errors import AccessDeniedError, CutoutError, DataError, InputError, NotFoundError, UnavailableError

SCHEMES = ("s3://", "http://", "https://")
DEFAULT_TIMEOUT = 30.0  # seconds, per connection attempt and per read
DEFAULT_RETRIES = 3  # retries after the first attempt, for transient failures
BACKOFF = 0.25  # seconds before the first retry; doubled each time (plus up to 25 % jitter)
# `batch --remote-read auto`: a task with at least this many targets to cut downloads its
# coadd and cuts locally; fewer use ranged reads.  Measured with bench/remote_threshold.py on a
# 2-core machine against nginx on 127.0.0.1, full-size 3400 x 3400 RICE coadd (20 MB), 50 x 50 px
# cutouts of three planes: the two cost the same at 5-6 targets (README, "Remote repositories").
DOWNLOAD_THRESHOLD = 6
REMOTE_READ_MODES = ("auto", "ranged", "download")

_TRANSIENT = ("timeout", "unreachable", "server")


class RangeNotSupportedError(DataError):
    """The HTTP server answers byte-range requests with the whole file."""


def is_remote(path) -> bool:
    """Whether ``path`` is an ``s3://``, ``http://`` or ``https://`` URL (a string test, no imports)."""
    return isinstance(path, str) and path[:8].lower().startswith(SCHEMES)


def join(root: str, relative: str) -> str:
    """``root/relative`` for a URL root."""
    return f"{root.rstrip('/')}/{relative.lstrip('/')}"


@dataclass(frozen=True)
class RemoteOptions:
    """How to reach remote storage; small and picklable, so batch workers get the same.

    Parameters
    ----------
    anon : bool
        Unsigned S3 requests (public buckets); otherwise credentials come from
        the standard AWS chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
        ``AWS_PROFILE``, config files, instance roles).
    endpoint_url : str, optional
        S3-compatible endpoint (default ``$AWS_ENDPOINT_URL_S3``, then ``$AWS_ENDPOINT_URL``).
    timeout : float
        Seconds to connect and between bytes of a response (``$CUTOUT_REMOTE_TIMEOUT``, default 30).
    retries : int
        Retries of a transient failure (``$CUTOUT_REMOTE_RETRIES``, default 3), with
        exponential backoff from 0.25 s.
    """

    anon: bool = False
    endpoint_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff: float = field(default=BACKOFF, compare=False)

    @classmethod
    def from_env(cls, anon: bool | None = None, endpoint_url: str | None = None) -> RemoteOptions:
        """Options from arguments, falling back to the environment."""
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        return cls(anon=bool(anon), endpoint_url=endpoint,
                   timeout=_env_number("CUTOUT_REMOTE_TIMEOUT", DEFAULT_TIMEOUT, float, 0.001),
                   retries=_env_number("CUTOUT_REMOTE_RETRIES", DEFAULT_RETRIES, int, 0))


def _env_number(name: str, default, kind, minimum):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise InputError(f"${name} must be a number, got {text!r}") from None
    if value < minimum:
        raise InputError(f"${name} must be at least {minimum}, got {text!r}")
    return value


def download_threshold() -> int:
    """Targets per task from which ``--remote-read auto`` downloads (``$CUTOUT_DOWNLOAD_THRESHOLD``)."""
    return _env_number("CUTOUT_DOWNLOAD_THRESHOLD", DOWNLOAD_THRESHOLD, int, 1)


# -- filesystems --------------------------------------------------------------------

_FILESYSTEMS: dict = {}


def filesystem(url: str, options: RemoteOptions):
    """The fsspec filesystem for ``url`` (one per protocol and options, per process)."""
    protocol = "s3" if url[:5].lower() == "s3://" else "http"
    # credentials are read when the filesystem is made: a change of them in the environment makes a new one
    key = (protocol, options, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_PROFILE"))
    if key not in _FILESYSTEMS:
        _FILESYSTEMS[key] = _make_s3(options) if protocol == "s3" else _make_http(options)
    return _FILESYSTEMS[key]


def _missing_extra(err: ImportError):
    return InputError(f"remote repositories need the optional dependencies ({err.name} is missing)",
                      "pip install 'cutout-cli[remote]'")


def _make_s3(options: RemoteOptions):
    try:
        import s3fs
    except ImportError as err:
        raise _missing_extra(err) from None
    config = {"connect_timeout": options.timeout, "read_timeout": options.timeout,
              "retries": {"total_max_attempts": 1}}  # retries are ours (call), bounded and with backoff
    fs = s3fs.S3FileSystem(anon=options.anon, endpoint_url=options.endpoint_url, config_kwargs=config,
                           skip_instance_cache=True)
    fs.retries = 1  # s3fs's own retry loop: one attempt
    return fs


def _make_http(options: RemoteOptions):
    try:
        import aiohttp
        from fsspec.implementations.http import HTTPFileSystem
    except ImportError as err:
        raise _missing_extra(err) from None
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=options.timeout, sock_read=options.timeout)
    return HTTPFileSystem(client_kwargs={"timeout": timeout}, skip_instance_cache=True)


def _fs_path(url: str) -> str:
    """The path the filesystem wants: s3fs drops the scheme, HTTP keeps the URL."""
    return url[5:] if url[:5].lower() == "s3://" else url


# -- calls with retries and error translation --------------------------------------------

def call(fn, url: str, options: RemoteOptions, what: str = "read"):
    """``fn()`` with retries of transient failures; any failure becomes a one-line CutoutError."""
    delay = options.backoff
    for attempt in range(options.retries + 1):
        try:
            return fn()
        except CutoutError:
            raise
        except Exception as err:  # every library raises its own types: classified below
            kind, detail = classify(err)
            if kind in _TRANSIENT and attempt < options.retries:
                time.sleep(delay * (1.0 + 0.25 * random.random()))
                delay *= 2
                continue
            raise _user_error(kind, detail, url, what, attempt + 1, options) from None
    raise AssertionError("unreachable")  # pragma: no cover


def classify(err: BaseException) -> tuple[str, str]:
    """``(kind, detail)`` of a remote failure: kind is missing, denied, norange, timeout,
    unreachable, server or other.  Looks through the chain of causes (fsspec wraps errors)."""
    chain, seen = [], set()
    while err is not None and id(err) not in seen and len(chain) < 8:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or err.__context__
    found = [_classify_one(e) for e in chain]
    for kind in ("denied", "norange", "timeout", "unreachable", "server", "missing"):
        for k, detail in found:
            if k == kind:
                return k, detail
    return "other", _first_line(chain[0])


def _classify_one(err: BaseException) -> tuple[str, str]:
    name = type(err).__name__
    status = _status_of(err)
    if status is not None:
        if status in (401, 403):
            return "denied", f"HTTP {status}"
        if status in (404, 410):
            return "missing", f"HTTP {status}"
        if status in (408, 425, 429) or status >= 500:
            return "server", f"HTTP {status}"
    aiohttp, botocore = sys.modules.get("aiohttp"), sys.modules.get("botocore.exceptions")
    if botocore is not None and isinstance(err, botocore.BotoCoreError):
        if isinstance(err, (botocore.NoCredentialsError, botocore.PartialCredentialsError,
                            botocore.CredentialRetrievalError, botocore.ProfileNotFound)):
            return "denied", _first_line(err)
        if isinstance(err, (botocore.ConnectTimeoutError, botocore.ReadTimeoutError)):
            return "timeout", "timed out"
        if isinstance(err, botocore.SSLError):
            return "other", _first_line(err)  # a certificate problem is no transient failure
        if isinstance(err, (botocore.EndpointConnectionError, botocore.HTTPClientError)):
            return "unreachable", _first_line(err)
    if botocore is not None and isinstance(err, botocore.ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled",
                    "InvalidToken", "ExpiredToken", "AccountProblem"):
            return "denied", code
        if code in ("NoSuchKey", "NoSuchBucket", "NotFound"):
            return "missing", code
        if code in ("SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
                    "ServiceUnavailable"):
            return "server", code
    if aiohttp is not None and isinstance(err, aiohttp.ClientError):
        if isinstance(err, aiohttp.ServerTimeoutError):
            return "timeout", "timed out"
        if isinstance(err, aiohttp.ClientSSLError):
            return "other", _first_line(err)
        if isinstance(err, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
            return "unreachable", _first_line(err)
    if isinstance(err, ValueError) and "range requests" in str(err):
        return "norange", "the server ignores Range requests"
    if isinstance(err, PermissionError):
        return "denied", _first_line(err)
    if isinstance(err, FileNotFoundError):
        return "missing", ""
    if isinstance(err, TimeoutError) or name == "FSTimeoutError":
        return "timeout", "timed out"
    if isinstance(err, ConnectionError):
        return "unreachable", _first_line(err)
    return "other", _first_line(err)


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


def _user_error(kind: str, detail: str, url: str, what: str, attempts: int, options: RemoteOptions) -> CutoutError:
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    s3 = url[:5].lower() == "s3://"
    if kind == "missing":
        return NotFoundError(f"{url} does not exist", "check --repo and the repository layout")
    if kind == "denied":
        hint = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or use --anon for a public bucket"
                if s3 else "check that the server allows reading this path")
        return AccessDeniedError(f"access denied to {url}" + (f" ({detail})" if detail else ""), hint)
    if kind == "norange":
        return RangeNotSupportedError(f"the server of {url} ignores HTTP Range requests, so a cutout would need "
                                      "the whole file", "serve the repository with Range support (nginx, Apache and "
                                      "S3 have it), or use 'cutout batch --remote-read download'")
    endpoint = options.endpoint_url if s3 and options.endpoint_url else _origin(url)
    if kind == "timeout":
        return UnavailableError(f"timed out ({options.timeout:g} s) trying to {what} {url}{tries}",
                                "the endpoint is slow or unreachable; retry later, or raise $CUTOUT_REMOTE_TIMEOUT")
    if kind == "unreachable":
        return UnavailableError(f"cannot reach {endpoint} to {what} {url}{tries}: {detail}",
                                "check the URL, --endpoint-url and the network")
    if kind == "server":
        return UnavailableError(f"server error ({detail}) trying to {what} {url}{tries}", "retry later")
    return DataError(f"cannot {what} {url}: {detail}")


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# -- operations -------------------------------------------------------------------------

def read_bytes(url: str, options: RemoteOptions) -> bytes:
    """The whole object at ``url`` (small files: repo.json, skymaps)."""
    fs = filesystem(url, options)
    return call(lambda: fs.cat_file(_fs_path(url)), url, options)


def exists(url: str, options: RemoteOptions) -> bool:
    """Whether the object at ``url`` exists (missing -> False; other failures raise)."""
    fs = filesystem(url, options)

    def check():
        try:
            info = fs.info(_fs_path(url))
        except FileNotFoundError as err:
            kind, _ = classify(err)
            if kind != "missing":  # fsspec's HTTP info reports any failure as FileNotFoundError
                raise
            return False
        return info.get("type", "file") == "file"

    return call(check, url, options, "look up")


def glob(pattern: str, options: RemoteOptions) -> list[str]:
    """URLs matching a ``*`` pattern (S3 listing; HTTP needs directory listings, e.g. nginx autoindex)."""
    fs = filesystem(pattern, options)
    s3 = pattern[:5].lower() == "s3://"
    try:
        found = call(lambda: fs.glob(_fs_path(pattern)), pattern, options, "list")
    except AccessDeniedError as err:
        if s3:
            raise
        raise AccessDeniedError(f"the server refuses to list {pattern} ({err.message})",
                                "queries without --band and templates with '*' need directory listings "
                                "(nginx: autoindex on)") from None
    if s3:
        return sorted(f"s3://{path}" for path in found)
    return sorted(found)


def open_file(url: str, options: RemoteOptions):
    """A random-access fsspec file with no read cache (every read is one ranged request)
    and its size; the size lookup (HEAD) is where a missing object or denied access shows."""
    fs = filesystem(url, options)
    handle = call(lambda: fs.open(_fs_path(url), "rb", cache_type="none"), url, options, "open")
    if getattr(handle, "size", None) is None:
        handle.close()
        raise DataError(f"the server of {url} does not report its size", "serve it with a Content-Length")
    return handle


def download(url: str, directory: str, options: RemoteOptions) -> str:
    """Copy the object at ``url`` into ``directory``; returns the local path.

    Written under a temporary name and renamed when complete and of the
    expected size, so a partial download is never used; the name is hidden
    and ends in ``.tmp`` so that a batch's stale-temporary cleanup removes it
    after a killed run.
    """
    import secrets

    fs = filesystem(url, options)
    name = url.rstrip("/").rsplit("/", 1)[-1]
    token = f"{os.getpid()}.{secrets.token_hex(4)}"
    part = os.path.join(directory, f".{name}.{token}.part.tmp")
    final = os.path.join(directory, f".{name}.{token}.tmp")
    try:
        size = call(lambda: fs.info(_fs_path(url)).get("size"), url, options, "look up")
        call(lambda: fs.get_file(_fs_path(url), part), url, options, "download")
        if size is not None and os.path.getsize(part) != size:
            raise UnavailableError(f"download of {url} was cut short ({os.path.getsize(part)} of {size} bytes)",
                                   "retry later")
        os.replace(part, final)
    except OSError as err:
        raise DataError(f"cannot write the download of {url} into {directory}: {err.strerror or err}",
                        "give a writable --scratch-dir with room for the coadd") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
    return final
