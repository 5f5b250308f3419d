"""Helpers of tests/test_unattended.py: real ``cutout`` processes, their process groups, and checks of
the files a batch leaves (whole FITS, whole PNG, no temporaries, untouched outputs).

Nothing here calls the batch code: the batch is always a real process started with
``sys.executable -m cutout_cli``; processes are found through ``/proc``.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .conftest import TARGET_11, make_small_repo

MANIFEST_COLUMNS = ["id", "ra", "dec", "tract", "patch", "band", "size", "planes", "mode", "stretch", "status",
                    "path", "message"]
PLANES = ("IMAGE", "MASK", "VARIANCE")


# -- repositories and target lists -----------------------------------------------------------

def four_patch_repo(root: Path, bands=("r", "z")):
    """The small skymap (240 x 240 px coadds) with the 2 x 2 patches next to TARGET_11's home."""
    repo = make_small_repo(root, [TARGET_11], bands=bands)
    tract, home = repo.skymap.find_home(*TARGET_11)
    positions = []
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        patch = tract.patch((home.x + dx, home.y + dy))
        ra, dec = tract.pixel_to_sky(patch.inner.begin_x + 100.0, patch.inner.begin_y + 100.0)
        positions.append((float(ra), float(dec)))
    return make_small_repo(root, positions, bands=bands)


def patch_centred_targets(repo, n, *, seed=0, prefix="t", start=0, margin=30):
    """``n`` targets over the four patches, each at least ``margin`` px inside a patch's inner box
    (so a box of up to 2 x margin px lies in one coadd: no assembly, no NaN edge)."""
    rng = np.random.default_rng(seed)
    tract, home = repo.skymap.find_home(*TARGET_11)
    patches = [tract.patch((home.x + dx, home.y + dy)) for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1))]
    which = rng.integers(0, len(patches), n)
    width = patches[0].inner.end_x - patches[0].inner.begin_x
    x = np.array([patches[i].inner.begin_x for i in which]) + rng.uniform(margin, width - margin, n)
    y = np.array([patches[i].inner.begin_y for i in which]) + rng.uniform(margin, width - margin, n)
    ra, dec = tract.pixel_to_sky(x, y)
    return [{"id": f"{prefix}{start + i:04d}", "ra": f"{float(r):.7f}", "dec": f"{float(d):.7f}"}
            for i, (r, d) in enumerate(zip(np.atleast_1d(ra), np.atleast_1d(dec)))]


def write_targets(path: Path, rows, fieldnames=None, append=False) -> Path:
    fieldnames = fieldnames or list(rows[0])
    new = not append or not Path(path).exists()
    with open(path, "a" if append else "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        if new:
            writer.writeheader()
        writer.writerows(rows)
    return Path(path)


# -- running the real program ------------------------------------------------------------------

def cli_command(*args) -> list[str]:
    return [sys.executable, "-m", "cutout_cli", *map(str, args)]


def run(*args, timeout=180, preexec_fn=None, env=None):
    """Run ``cutout ARGS`` to the end; a CompletedProcess (text)."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec_fn, env={**os.environ, **(env or {})}, start_new_session=True)


def describe(result) -> str:
    """The command, exit code and stderr of a finished run, for assertion messages."""
    args = result.args if isinstance(result.args, list) else [result.args]
    shown = " ".join(str(a) for a in args[2:])
    return f"`{shown}` exited {result.returncode}; stderr: {result.stderr.strip()[-2000:]!r}"


class Started:
    """``cutout ARGS`` started in its own session (its pid is its process group id); stdout and stderr go
    to files so that a full pipe never blocks it."""

    def __init__(self, log_dir: Path, *args):
        log_dir.mkdir(parents=True, exist_ok=True)
        self._out = open(log_dir / f"stdout.{time.monotonic_ns()}", "w+")
        self._err = open(log_dir / f"stderr.{time.monotonic_ns()}", "w+")
        self.args = cli_command(*args)
        self.process = subprocess.Popen(self.args, stdout=self._out, stderr=self._err, start_new_session=True)
        self.pid = self.process.pid

    @property
    def returncode(self):
        return self.process.returncode

    def poll(self):
        return self.process.poll()

    def wait(self, timeout=None):
        return self.process.wait(timeout)

    @property
    def stderr(self) -> str:
        self._err.flush()
        self._err.seek(0)
        return self._err.read()

    def describe(self) -> str:
        return f"`{' '.join(self.args[2:])}` exit {self.returncode}; stderr: {self.stderr.strip()[-2000:]!r}"

    def kill_group(self):
        """SIGKILL whatever is left of the group (cleanup) and reap the main process.  While the main
        process is not reaped its pid, hence the group id, cannot be reused; once reaped, the group is
        signalled only if /proc still shows members of it."""
        if self.process.returncode is None or group_members(self.pid):
            with _suppress_lookup():
                os.killpg(self.pid, signal.SIGKILL)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            pass
        self._out.close()
        self._err.close()


class _suppress_lookup:
    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError))


# -- processes through /proc ---------------------------------------------------------------------

def children(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            if child not in out:
                out.append(child)
                todo.append(child)
    return out


def _stat(pid: int):
    """(state, pgrp) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _stat(int(name))
            if stat is not None and stat[1] == pgid and stat[0] not in ("Z", "X"):
                out.append(int(name))
    return out


def wait_until(predicate, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(step)


def wait_for_workers(started: Started, count: int, timeout: float = 60) -> list[int]:
    """The main process's children once it has ``count`` of them."""
    found = []

    def enough():
        found[:] = children(started.pid)
        return len(found) >= count or started.poll() is not None

    wait_until(enough, timeout)
    return list(found)


def count_outputs(out: Path, suffix=".fits") -> int:
    try:
        return sum(1 for name in os.listdir(out) if name.endswith(suffix) and not name.startswith("."))
    except OSError:
        return 0


# -- checks of files ----------------------------------------------------------------------------

def fits_problem(path: Path, planes=PLANES) -> str | None:
    """Why ``path`` is not a whole FITS cutout holding ``planes`` (None when it is): opened and every
    HDU read with fitsio and with astropy (warnings, e.g. of truncation, are failures)."""
    import fitsio
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        return f"{path.name} does not exist"
    if path.stat().st_size % 2880:
        return f"{path.name}: {path.stat().st_size} bytes, not a whole number of 2880-byte FITS blocks"
    try:
        with fitsio.FITS(str(path)) as f:
            names = [hdu.get_extname() for hdu in f]
            for hdu in f:
                if hdu.has_data():
                    hdu.read()
    except Exception as err:  # noqa: BLE001 - any failure is the answer
        return f"{path.name}: fitsio: {type(err).__name__}: {err}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with fits.open(path, memmap=False) as hdul:
                hdul.verify("exception")
                for hdu in hdul:
                    _ = hdu.data
                astropy_names = [h.name for h in hdul]
                size = path.stat().st_size
                last = hdul[-1]
                end = last._data_offset + last._data_size
                if end > size:
                    return f"{path.name}: astropy: ends at {end} bytes, file has {size}"
    except Exception as err:  # noqa: BLE001
        return f"{path.name}: astropy: {type(err).__name__}: {err}"
    missing = [p for p in planes if p not in names or p not in astropy_names]
    if missing:
        return f"{path.name}: no {'/'.join(missing)} HDU (has {names})"
    return None


def png_problem(path: Path) -> str | None:
    from PIL import Image

    path = Path(path)
    if not path.exists():
        return f"{path.name} does not exist"
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.load()
    except Exception as err:  # noqa: BLE001
        return f"{path.name}: PIL: {type(err).__name__}: {err}"
    return None


def image_shape(path: Path):
    from astropy.io import fits

    with fits.open(path) as hdul:
        return hdul["IMAGE"].data.shape


def hdu_offsets(path: Path) -> dict:
    """{EXTNAME: the byte offset of the HDU's header}."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        return {hdu.name: hdul.fileinfo(i)["hdrLoc"] for i, hdu in enumerate(hdul)}


def hdu_names(path: Path) -> list[str]:
    from astropy.io import fits

    with fits.open(path) as hdul:
        return [h.name for h in hdul[1:]]


def png_size(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def identity(path: Path):
    """(st_ino, st_mtime_ns): an atomic rewrite (a new inode) changes it."""
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def snapshot(directory: Path, suffixes=(".fits", ".png")) -> dict:
    """{name: identity} of the visible outputs of ``directory``."""
    return {p.name: identity(p) for p in sorted(Path(directory).iterdir())
            if not p.name.startswith(".") and p.suffix in suffixes}


def leftovers(*directories) -> list[str]:
    """Temporary files (``*.tmp``, hidden or not) in the directories."""
    out = []
    for directory in directories:
        if Path(directory).is_dir():
            out += [os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".tmp")]
    return out


def read_manifest(out: Path) -> list[dict]:
    with open(Path(out) / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def manifest_header(out: Path) -> list[str]:
    with open(Path(out) / "manifest.csv", newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def one_line(stderr: str) -> bool:
    return len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


# -- a range-less HTTP server ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PlainHTTPServer:
    """``python -m http.server`` (no Range support) serving ``root`` on 127.0.0.1, as a context manager."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                         str(self.port), "--directory", str(self.root)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"http.server exited with {self.process.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("http.server did not start listening")

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
