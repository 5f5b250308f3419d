"""``cutout index``: read every image's header once and write the index, atomically."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import CutoutError, InputError, NotFoundError, OutputError
from .index import connect_readonly
from .records import ImageRecord, describe_image
from .schema import COLUMNS, DEFAULT_BAND_KEYS, DEFAULT_PATTERNS, INDEX_FORMAT, INDEX_NAME, INDEX_VERSION, SCHEMA

@dataclass
class IndexSummary:
    """What :func:`build_index` did."""

    folder: str
    index: str
    images: int
    new: int
    changed: int
    unchanged: int
    removed: int
    skipped: int
    bands: list

    def as_dict(self) -> dict:
        return {"folder": self.folder, "index": self.index, "images": self.images, "new": self.new,
                "changed": self.changed, "unchanged": self.unchanged, "removed": self.removed,
                "skipped": self.skipped, "bands": ",".join(b or "''" for b in self.bands)}


def build_index(folder, band_key: str | None = None, patterns=None, update: bool = False,
                report=None) -> IndexSummary:
    """Index every FITS image under ``folder`` into ``folder/.cutout-index.sqlite``.

    Parameters
    ----------
    folder : path-like
        The folder, walked recursively (hidden files and folders, and symbolic
        links to folders, are not followed).
    band_key : str, optional
        Header keyword holding the band; default the first of BAND, FILTER, FILTNAM.
    patterns : sequence of str, optional
        File-name patterns, case-insensitive (default ``*.fits``, ``*.fits.fz``);
        a pattern with a ``/`` matches the path relative to ``folder``.
    update : bool
        Keep the rows (and ids) of files whose size and modification time did
        not change; read only new and changed files, drop removed ones.  The
        band key and patterns default to those of the existing index.
    report : callable, optional
        ``report(message)`` for each file skipped (no 2-D image, no celestial
        WCS, unreadable): such files are not an error for the whole run.

    Raises
    ------
    InputError
        ``folder`` does not exist or is not a folder (exit 2).
    NotFoundError
        No image with a celestial WCS was found (exit 3); nothing is written.
    OutputError
        The index cannot be written (exit 4).
    """
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{folder} does not exist", "give a folder of FITS images")
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder", "give the folder holding the FITS images")
    report = report or (lambda message: None)
    index_path = folder / INDEX_NAME
    previous = _Previous.read(index_path if update and index_path.is_file() else None)
    band_keys = (band_key.strip().upper(),) if band_key else previous.band_keys
    patterns = tuple(patterns or ()) or previous.patterns
    reread = previous.exists and (band_keys != previous.band_keys or patterns != previous.patterns)
    if reread:
        report("note: the band key or patterns changed: every file is read again")
    images, skipped, counts = _read_images(folder, previous, band_keys, patterns, reread=reread, report=report)
    if not images:
        raise _nothing_indexed(folder, patterns, skipped)
    records, next_id = _numbered(images, int(previous.meta.get("next_id", 0)))
    present = {r.path for r in records} | {s[0] for s in skipped}
    removed = sum(1 for path in previous.images if path not in present)
    meta = {"format": INDEX_FORMAT, "version": str(INDEX_VERSION), "band_keys": json.dumps(list(band_keys)),
            "patterns": json.dumps(list(patterns)), "next_id": str(next_id),
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tool": _tool_version()}
    _write_index(index_path, meta, records, skipped)
    return IndexSummary(str(folder), str(index_path), len(records), counts["new"], counts["changed"],
                        counts["unchanged"], removed, len(skipped), sorted({r.band for r in records}))


def _nothing_indexed(folder: Path, patterns, skipped) -> NotFoundError:
    listed = ", ".join(patterns)
    if skipped:
        return NotFoundError(f"no FITS image with a celestial WCS in {folder}",
                             f"{len(skipped)} file(s) matching {listed} skipped")
    return NotFoundError(f"no FITS image with a celestial WCS in {folder}",
                         "no file matches " + listed.replace("{", "{{").replace("}", "}}") + "; see {}",
                         options=[("patterns", None)])


@dataclass(frozen=True)
class _Previous:
    """What the existing index says (nothing when there is none or no ``--update``)."""

    exists: bool = False
    meta: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)  # path -> ImageRecord
    skipped: dict = field(default_factory=dict)  # path -> (reason, size, mtime_ns)

    @classmethod
    def read(cls, path: Path | None) -> _Previous:
        previous = _read_previous(path) if path is not None else None
        if not previous:
            return cls()
        return cls(True, previous["meta"], {r.path: r for r in previous["images"]}, previous["skipped"])

    @property
    def band_keys(self) -> tuple:
        return tuple(json.loads(self.meta.get("band_keys", "[]"))) or DEFAULT_BAND_KEYS

    @property
    def patterns(self) -> tuple:
        return tuple(json.loads(self.meta.get("patterns", "[]"))) or DEFAULT_PATTERNS


def _read_images(folder: Path, previous: _Previous, band_keys, patterns, *, reread: bool, report):
    """Describe every matching file (or carry its unchanged row over): ``(images, skipped, counts)``."""
    images, skipped = [], []
    counts = {"new": 0, "changed": 0, "unchanged": 0}
    carried_skips = 0
    for rel, size, mtime_ns, problem in _scan(folder, patterns):
        if problem:
            report(f"skipped {rel}: {problem}")
            continue
        old = previous.images.get(rel)
        if old is not None and (old.size, old.mtime_ns) == (size, mtime_ns) and not reread:
            images.append(old)
            counts["unchanged"] += 1
            continue
        if rel in previous.skipped and previous.skipped[rel][1:] == (size, mtime_ns) and not reread:
            skipped.append((rel, *previous.skipped[rel]))
            carried_skips += 1
            continue
        try:
            values = describe_image(folder / rel, band_keys)
        except Exception as err:  # noqa: BLE001 - any unreadable file is skipped, never fatal
            reason = _reason(err, folder / rel)
            report(f"skipped {rel}: {reason}")
            skipped.append((rel, reason, size, mtime_ns))
            continue
        counts["changed" if old is not None else "new"] += 1
        images.append((rel, values, size, mtime_ns, old.id if old is not None else None))
    if carried_skips:
        report(f"skipped {carried_skips} unchanged file(s) that could not be indexed before "
               "(listed in the index's 'skipped' table)")
    return images, skipped, counts


def _numbered(images: list, next_id: int) -> tuple[list[ImageRecord], int]:
    """Records for the images, new ones numbered from ``next_id`` (ids are kept across updates)."""
    records = []
    for item in images:
        if isinstance(item, ImageRecord):
            records.append(item)
            continue
        rel, values, size, mtime_ns, image_id = item
        if image_id is None:
            image_id, next_id = next_id, next_id + 1
        records.append(ImageRecord(id=image_id, path=rel, size=size, mtime_ns=mtime_ns, **values))
    return records, max(next_id, max(r.id for r in records) + 1)


def _reason(err: BaseException, path) -> str:
    text = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
    if not isinstance(err, CutoutError):
        text = f"{type(err).__name__}: {text}"
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text.replace(f"{path} ", "", 1)


def _scan(folder: Path, patterns) -> list[tuple[str, int, int, str]]:
    """``(relative path, size, mtime_ns, problem)`` of matching files, sorted by path."""
    lowered = [p.lower() for p in patterns]
    found = []

    def unreadable(err: OSError):
        rel = os.path.relpath(err.filename or str(folder), folder).replace(os.sep, "/")
        found.append((rel + "/", 0, 0, f"cannot list the folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if not any(fnmatch.fnmatchcase((rel if "/" in p else name).lower(), p) for p in lowered):
                continue
            try:
                st = os.stat(full)
            except OSError as err:
                found.append((rel, 0, 0, f"cannot read it: {err.strerror}"))
                continue
            if os.path.isfile(full):
                found.append((rel, st.st_size, st.st_mtime_ns, ""))
    return sorted(found)


def _tool_version() -> str:
    from ... import __version__

    return f"cutout {__version__}"


def _read_previous(path: Path) -> dict | None:
    """The rows of an existing index (for ``--update``); None when it cannot be read."""
    import sqlite3

    try:
        with contextlib.closing(connect_readonly(path)) as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
            if meta.get("format") != INDEX_FORMAT or int(meta.get("version", 0)) != INDEX_VERSION:
                return None
            images = [ImageRecord.from_row(row) for row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM images")]
            skipped = {p: (reason, size, mtime) for p, reason, size, mtime in
                       conn.execute("SELECT path, reason, size, mtime_ns FROM skipped")}
    except (sqlite3.Error, ValueError, TypeError, json.JSONDecodeError):
        return None
    return {"meta": meta, "images": images, "skipped": skipped}


def _write_index(path: Path, meta: dict, records: list[ImageRecord], skipped: list) -> None:
    """Write the index to a temporary file beside ``path``, then rename it into place."""
    import sqlite3

    _remove_stale_temporaries(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with contextlib.closing(sqlite3.connect(tmp)) as conn:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.executescript(SCHEMA)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            conn.executemany(f"INSERT INTO images VALUES ({', '.join('?' * len(COLUMNS))})",
                             (r.as_row() for r in sorted(records, key=lambda r: r.id)))
            conn.executemany("INSERT INTO skipped VALUES (?, ?, ?, ?)", skipped)
            conn.commit()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (sqlite3.Error, OSError) as err:
        raise OutputError(f"cannot write the image index {path}: {getattr(err, 'strerror', None) or err}",
                          "the folder must be writable") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _remove_stale_temporaries(path: Path, age: float = 3600.0) -> None:
    """Temporary index files left by a killed run (older than ``age`` seconds)."""
    for leftover in path.parent.glob(f"{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > age:
                leftover.unlink()
