"""Real servers on 127.0.0.1 for the remote-repository tests: nginx (HTTP) and moto (S3).

Both count what they serve, so tests can check requests and bytes:

* :class:`Nginx` runs the Debian ``nginx`` binary with a config file written
  here: it serves one directory with Range support (``/``), the same
  directory with Range support switched off (``/norange/``, ``max_ranges 0``)
  and without directory listings (``/nolist/``; elsewhere ``autoindex`` lists
  directories, for globbing), a location that always
  answers 403 (``/denied/``) and one that always answers 503 (``/broken/``).
  Its access log records method, status, bytes sent and the Range header of
  every request.
* :class:`S3Server` is moto's ``ThreadedMotoServer`` with a small WSGI layer
  in front that logs the same fields, checks the access key of signed
  requests (403 ``InvalidAccessKeyId`` for an unknown key; moto itself answers
  unsigned requests by the bucket's ACL, 403 ``AccessDenied`` unless
  public-read) and can fail the next requests with 503 to exercise retries.
* :func:`silent_server` accepts connections and never answers (timeouts);
  :func:`closed_port` is a port nobody listens on (connection refused).

Ports are random free ports; every server is stopped by its context manager.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "AKIDCUTOUTTEST"
SECRET_KEY = "cutout-test-secret"


@dataclass
class Request:
    method: str
    path: str
    status: int
    bytes_sent: int
    range: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port on 127.0.0.1 that refuses connections (nothing listens on it)."""
    return free_port()


@contextlib.contextmanager
def silent_server():
    """A TCP server that accepts connections and never answers: yields its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


NGINX_CONF = """\
worker_processes 1;
{user}
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format counting '$request_method $status $body_bytes_sent "$http_range" $request_uri';
    access_log {work}/access.log counting;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    types {{ application/json json; application/fits fits; text/csv csv; }}
    default_type application/octet-stream;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        autoindex on;
        location /norange/ {{ alias {root}/; max_ranges 0; autoindex on; }}
        location /nolist/ {{ alias {root}/; autoindex off; }}
        location /denied/ {{ return 403; }}
        location /broken/ {{ return 503; }}
    }}
}}
"""

_LOG_LINE = re.compile(r'^(\S+) (\d+) (\d+) "([^"]*)" (\S+)$')


@contextlib.contextmanager
def nginx_serving(tmp_path_factory, name: str):
    """``(root, server)``: a fresh folder and nginx serving it on 127.0.0.1 (files put there later are
    served too); the test is skipped where nginx is not installed."""
    import pytest

    if nginx_binary() is None:
        pytest.skip("nginx is not installed (.ci/run installs nginx-light)")
    root = tmp_path_factory.mktemp(f"served_{name}")
    with Nginx(root, tmp_path_factory.mktemp(f"nginx_{name}")) as server:
        yield root, server


class Nginx:
    """nginx serving ``root`` on a random port of 127.0.0.1 (use as a context manager)."""

    def __init__(self, root, work):
        self.root = Path(root).resolve()
        self.work = Path(work)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = None

    def __enter__(self):
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install nginx-light)")
        self.work.mkdir(parents=True, exist_ok=True)
        # as root the workers would run as 'nobody', who cannot read pytest's private temp dirs
        user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
        conf = self.work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, work=self.work, port=self.port, root=self.root))
        self._process = subprocess.Popen([binary, "-p", str(self.work), "-c", str(conf)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for_port(self.port, self._process)
        return self

    def __exit__(self, *exc):
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def requests(self) -> list[Request]:
        """Every request logged so far."""
        log = self.work / "access.log"
        out = []
        for line in (log.read_text().splitlines() if log.exists() else []):
            m = _LOG_LINE.match(line)
            if m:
                out.append(Request(m[1], m[5], int(m[2]), int(m[3]), "" if m[4] == "-" else m[4]))
        return out

    def settled(self) -> list[Request]:
        """Every request logged, once the log has stopped growing (nginx logs right after responding)."""
        return _settled(self.requests)

    def mark(self) -> int:
        """A position in the log: ``settled()[mark:]`` are the requests made after it."""
        return len(self.settled())


def _settled(fetch, quiet: float = 0.05) -> list[Request]:
    seen, stable_since = -1, time.monotonic()
    while True:
        found = fetch()
        if len(found) != seen:
            seen, stable_since = len(found), time.monotonic()
        elif time.monotonic() - stable_since > quiet:
            return found
        time.sleep(0.02)


def _wait_for_port(port: int, process=None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class S3Server:
    """moto's S3 in server mode on a random port, behind a counting / key-checking WSGI layer.

    Signed requests must use :data:`ACCESS_KEY`; buckets uploaded with
    ``public=True`` are public-read (moto serves unsigned reads of them).
    """

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[Request] = []
        self.fail_next = 0  # answer the next N requests with 503 SlowDown
        self._lock = threading.Lock()
        self._server = None

    def __enter__(self):
        from moto.server import ThreadedMotoServer

        outer = self

        class Counting(ThreadedMotoServer):
            def _server_entry(self):
                from werkzeug.serving import make_server

                from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                                           create_backend_app)

                class Quiet(MotoRequestHandler):
                    def log_request(self, *args, **kwargs):
                        pass

                app = outer._wrap(DomainDispatcherApplication(create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True, request_handler=Quiet)
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = Counting(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        return self

    def __exit__(self, *exc):
        self._server.stop()

    def client(self):
        """A boto3 client with the test credentials (to create buckets and upload)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def upload_tree(self, root, bucket: str, prefix: str, public: bool = False) -> None:
        """Upload every file under ``root`` to ``bucket/prefix/`` (public-read objects if ``public``)."""
        client = self.client()
        acl = {"ACL": "public-read"} if public else {}
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket, **acl)
        root = Path(root)
        for path in sorted(root.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root).as_posix()}",
                                   ExtraArgs=acl or None)

    def requests(self) -> list[Request]:
        with self._lock:
            return list(self.log)

    def settled(self) -> list[Request]:
        """Every request logged, once the log has stopped growing (a request is logged after its response)."""
        return _settled(self.requests)

    def mark(self) -> int:
        return len(self.settled())

    def _wrap(self, app):
        def counting_app(environ, start_response):
            method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
            record = Request(method, path, 0, 0, environ.get("HTTP_RANGE", ""))
            status_holder = {}

            def start(status, headers, exc_info=None):
                status_holder["status"] = int(status.split()[0])
                return start_response(status, headers, exc_info)

            refusal = self._refusal(environ, path)
            if refusal is not None:
                body = refusal[1].encode()
                start(refusal[0], [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
                chunks = [b"" if method == "HEAD" else body]
            else:
                chunks = app(environ, start)
            sent = 0
            try:
                for chunk in chunks:
                    sent += len(chunk)
                    yield chunk
            finally:
                if hasattr(chunks, "close"):
                    chunks.close()
                record.status, record.bytes_sent = status_holder.get("status", 0), sent
                with self._lock:
                    self.log.append(record)

        return counting_app

    def _refusal(self, environ, path):
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return "503 Slow Down", _s3_error("SlowDown", "Please reduce your request rate.")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not auth:
            return None  # moto answers unsigned requests by the bucket's ACL
        key_id = re.search(r"Credential=([^/]+)/", auth)
        if key_id is None or key_id.group(1) != ACCESS_KEY:
            return "403 Forbidden", _s3_error("InvalidAccessKeyId",
                                              "The AWS Access Key Id you provided does not exist in our records.")
        return None


def _s3_error(code: str, message: str) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>cutout-test</RequestId></Error>")
