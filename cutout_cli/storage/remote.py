"""Remote storage: ``s3://`` and ``http(s)://`` through fsspec, with retries and clear errors.

Used for repositories and files given as URLs (``--repo s3://bucket/prefix``,
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
reported as one :class:`~cutout_cli.errors.CutoutError`
(:mod:`~cutout_cli.storage.failures` says which).
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import dataclass, field

from ..calibration import DOWNLOAD_THRESHOLD
from ..errors import AccessDeniedError, CutoutError, DataError, InputError, UnavailableError
from .base import Storage, join
from .failures import TRANSIENT, classify, user_error

__all__ = ["RemoteOptions", "RemoteStorage", "REMOTE_READ_MODES", "download_threshold", "call", "open_file",
           "download"]

DEFAULT_TIMEOUT = 30.0  # seconds, per connection attempt and per read
DEFAULT_RETRIES = 3  # retries after the first attempt, for transient failures
BACKOFF = 0.25  # seconds before the first retry; doubled each time (plus up to 25 % jitter)
REMOTE_READ_MODES = ("auto", "ranged", "download")
#: seconds for which a size seen by :func:`exists` answers :func:`open_file`'s own size lookup (one
#: request fewer per cold file); longer would risk a size that changed meanwhile
SIZE_MEMORY = 30.0
DEFAULT_CACHE_MAX_BYTES = 256 * 1024 * 1024


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
    cache_dir : str, optional
        A folder for the headers and tile tables of remote files (``--cache-dir``,
        ``$CUTOUT_CACHE_DIR``; :mod:`~cutout_cli.storage.header_cache`): a second
        read of a file fetches only its tiles.  Default: no cache.
    cache_max_bytes : int
        The cache's size bound (``$CUTOUT_CACHE_MAX_MB``, default 256 MiB).
    """

    anon: bool = False
    endpoint_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff: float = field(default=BACKOFF, compare=False)
    # not compared: the same filesystem (and its open connections) serves runs with and without a cache
    cache_dir: str | None = field(default=None, compare=False)
    cache_max_bytes: int = field(default=DEFAULT_CACHE_MAX_BYTES, compare=False)

    @classmethod
    def from_env(cls, anon: bool | None = None, endpoint_url: str | None = None,
                 cache_dir: str | None = None) -> RemoteOptions:
        """Options from arguments, falling back to the environment."""
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        cache_mb = _env_number("CUTOUT_CACHE_MAX_MB", DEFAULT_CACHE_MAX_BYTES / 2**20, float, 0.0)
        return cls(anon=bool(anon), endpoint_url=endpoint,
                   timeout=_env_number("CUTOUT_REMOTE_TIMEOUT", DEFAULT_TIMEOUT, float, 0.001),
                   retries=_env_number("CUTOUT_REMOTE_RETRIES", DEFAULT_RETRIES, int, 0),
                   cache_dir=cache_dir or os.environ.get("CUTOUT_CACHE_DIR") or None,
                   cache_max_bytes=int(cache_mb * 2**20))

    def header_cache(self):
        """The :class:`~.header_cache.HeaderCache` of :attr:`cache_dir` (None without one)."""
        if not self.cache_dir:
            return None
        from .header_cache import HeaderCache

        return HeaderCache(self.cache_dir, self.cache_max_bytes)


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
    """Targets per task from which ``--remote-read auto`` downloads (``$CUTOUT_DOWNLOAD_THRESHOLD``, default
    :data:`cutout_cli.calibration.DOWNLOAD_THRESHOLD`)."""
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
        except Exception as err:  # every library raises its own types: classified in failures.py
            kind, detail = classify(err)
            if kind in TRANSIENT and attempt < options.retries:
                time.sleep(delay * (1.0 + 0.25 * random.random()))
                delay *= 2
                continue
            raise user_error(kind, detail, url, what, attempt + 1, timeout=options.timeout,
                             endpoint=options.endpoint_url) from None
    raise AssertionError("unreachable")  # pragma: no cover


# -- operations -------------------------------------------------------------------------

_SIZES: dict[str, tuple[int, str | None, float]] = {}  # url -> (size, version, when): what exists() saw


def version_of(info: dict) -> str | None:
    """The version of an object from its fsspec info: the ``ETag``, else its last modification time (None
    when the server gives neither)."""
    for key in ("ETag", "etag", "LastModified", "Last-Modified", "last_modified", "mtime"):
        if info.get(key):
            return f"{key}={info[key]}"
    return None


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
        is_file = info.get("type", "file") == "file"
        if is_file and info.get("size") is not None and info.get("partial", True):  # ranged reads allowed
            _SIZES[url] = (int(info["size"]), version_of(info), time.monotonic())
        return is_file

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
                                "queries without {} and templates with '*' need directory listings "
                                "(nginx: autoindex on)", options=[("band", None)]) from None
    if s3:
        return sorted(f"s3://{path}" for path in found)
    return sorted(found)


def open_file(url: str, options: RemoteOptions):
    """A random-access fsspec file with no read cache (every read is one ranged request), and the
    object's version (:func:`version_of`, or None).  The size lookup (HEAD), skipped when :func:`exists`
    just made it, is where a missing object or denied access shows."""
    fs = filesystem(url, options)
    known = _SIZES.pop(url, None)
    size = version = None
    if known and time.monotonic() - known[2] < SIZE_MEMORY:
        size, version = known[0], known[1]
    elif url[:5].lower() != "s3://":  # fsspec's HTTP open keeps its HEAD's answer to itself: ask here
        info = call(lambda: fs.info(_fs_path(url)), url, options, "open")
        ranged = info.get("size") is not None and info.get("partial", True)
        size, version = (int(info["size"]) if ranged else None), version_of(info)
    opened = {"size": size} if size is not None else {}
    handle = call(lambda: fs.open(_fs_path(url), "rb", cache_type="none", **opened), url, options, "open")
    if getattr(handle, "size", None) is None:
        handle.close()
        raise DataError(f"the server of {url} does not report its size", "serve it with a Content-Length")
    if size is None and version is None:  # an S3 file opened without a size has looked itself up
        version = version_of(getattr(handle, "_details", None) or {})
    return handle, version


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
                        "give a writable {} with room for the file", options=[("scratch_dir", None)]) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
    return final


class RemoteStorage(Storage):
    """A repository in object storage or on a web server: ``root`` is an ``s3://`` or ``http(s)://`` URL.

    Locations are URLs; listing an HTTP folder needs directory listings
    (nginx ``autoindex on``).  ``remote`` holds the credentials, endpoint,
    timeout and retries.
    """

    def __init__(self, root: str, remote: RemoteOptions | None = None):
        self.root = root.rstrip("/")
        self.remote = remote or RemoteOptions.from_env()

    def join(self, *parts: str) -> str:
        location = self.root
        for part in parts:
            location = join(location, part)
        return location

    def read_bytes(self, location: str) -> bytes:
        fs = filesystem(location, self.remote)
        return call(lambda: fs.cat_file(_fs_path(location)), location, self.remote)

    def exists(self, location: str) -> bool:
        return exists(location, self.remote)

    def glob(self, pattern: str) -> list[str]:
        return glob(pattern, self.remote)

    def is_folder(self) -> bool:
        return True  # object stores have no folders to check; a missing root shows as missing files
