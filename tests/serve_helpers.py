"""Helpers of tests/test_serve.py: real ``cutout serve`` processes on 127.0.0.1, raw sockets, FITS planes.

Every server is a real process (``sys.executable -m cutout_cli ... serve --port 0``) in its own
session; its port is read from the line it announces on stderr.  Nothing here imports the server.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PLANES = ("IMAGE", "MASK", "VARIANCE")
ANNOUNCE = re.compile(r"cutout serve: SODA sync at http://127\.0\.0\.1:(\d+)/sync")
#: a server with a body timeout the CLI does not offer (Limits.body_timeout is fixed at 10 s there)
LIBRARY_SERVER = """
import asyncio, sys
from cutout_cli.repository import open_repository
from cutout_cli.serve.app import make_app
from cutout_cli.serve.limits import Limits
from cutout_cli.serve.server import serve
app = make_app(open_repository(sys.argv[1]), Limits(body_timeout=float(sys.argv[2])))
asyncio.run(serve(app, "127.0.0.1", 0, announce=lambda text: print(text, file=sys.stderr, flush=True)))
"""


def wait_until(predicate, timeout: float, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


class Server:
    """A ``cutout serve`` process (or ``command`` given whole); ``base`` is its http://127.0.0.1:PORT."""

    def __init__(self, log_dir: Path, *args, env=None, command=None, wait=True):
        log_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.monotonic_ns()
        self._err = open(log_dir / f"serve.stderr.{stamp}", "w+")
        self._out = open(log_dir / f"serve.stdout.{stamp}", "w+")
        self.args = command or [sys.executable, "-m", "cutout_cli", *map(str, args)]
        self.process = subprocess.Popen(self.args, stdout=self._out, stderr=self._err, start_new_session=True,
                                        env={**os.environ, **(env or {})})
        self.port = None
        if wait:
            self.port = self.wait_for_port()

    def wait_for_port(self, timeout: float = 60) -> int | None:
        found = []

        def announced():
            match = ANNOUNCE.search(self.stderr)
            if match:
                found.append(int(match[1]))
            return bool(match) or self.process.poll() is not None

        wait_until(announced, timeout, 0.05)
        assert found, f"no announce line; {self.describe()}"
        return found[0]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        self._err.flush()
        with open(self._err.name) as handle:
            return handle.read()

    def describe(self) -> str:
        return f"`{' '.join(map(str, self.args[2:]))}` exit {self.process.poll()}; stderr: {self.stderr[-3000:]!r}"

    def terminate(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self):
        """Cleanup: SIGTERM, then SIGKILL of the group if it lingers; files closed."""
        try:
            if self.process.poll() is None:
                self.terminate(20)
        except subprocess.TimeoutExpired:
            pass
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self._err.close()
        self._out.close()


def library_server(log_dir: Path, repo_root, body_timeout: float) -> Server:
    return Server(log_dir, command=[sys.executable, "-c", LIBRARY_SERVER, str(repo_root), str(body_timeout)])


def connect(port: int, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Status, headers (lower-case names) and body of one HTTP/1.1 response read until the server closes
    or Content-Length bytes arrived."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", -1))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def planes(data: bytes) -> dict:
    """``{plane: array}`` of a FITS cutout's bytes (astropy), with ``"header"`` (IMAGE's) and ``"primary"``."""
    from astropy.io import fits

    with fits.open(io.BytesIO(data), memmap=False) as hdul:
        found = {name: np.array(hdul[name].data) for name in PLANES}
        found["header"] = hdul["IMAGE"].header.copy()
        found["primary"] = hdul[0].header.copy()
    return found


def fitsio_planes(data: bytes, tmp: Path) -> dict:
    """The same planes read with fitsio (cfitsio) from a file of ``data``."""
    import fitsio

    path = tmp / f"fitsio.{time.monotonic_ns()}.fits"
    path.write_bytes(data)
    with fitsio.FITS(str(path)) as f:
        return {name: f[name].read() for name in PLANES}


def box(found: dict) -> tuple:
    """(x0, y0, width, height) of a cutout: CUTX0/CUTY0/CUTW/CUTH, checked against LTV1/2 and the shape."""
    primary, header = found["primary"], found["header"]
    height, width = found["IMAGE"].shape
    assert (-header["LTV1"], -header["LTV2"]) == (primary["CUTX0"], primary["CUTY0"])
    assert (primary["CUTW"], primary["CUTH"]) == (width, height)
    return primary["CUTX0"], primary["CUTY0"], width, height


def sky_wcs(header) -> dict:
    keys = ("CTYPE1", "CTYPE2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CD1_1", "CD1_2", "CD2_1", "CD2_2")
    return {key: header.get(key) for key in keys}


def same_pixels(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[name], b[name], equal_nan=True) for name in PLANES)


def error_line(text: str, code: str) -> bool:
    """A SODA/DALI error document: one line starting with ``code:``, no traceback."""
    return text.startswith(f"{code}: ") and text.rstrip("\n").count("\n") == 0 and "Traceback" not in text
