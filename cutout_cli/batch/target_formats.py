"""Target lists in the formats astronomers have: a header and rows of text cells, whatever the file.

:func:`open_target_list` turns a path (``-`` for standard input) into a
:class:`TargetList`: the column names and an iterator of rows, each a list of
text cells.  Plain delimited text (comma, tab, semicolon, ``|`` or blanks;
``#`` lines are comments; ``.gz`` inflated) goes through :mod:`csv`, the fast
path for lists of millions of rows.  Everything else goes through astropy's
unified ``Table.read``: ECSV (also when named ``.csv``), FITS tables, VOTable,
Parquet, HDF5, IPAC, ... chosen by the file's extension or content, or named by
``format_in``.  Cells of numeric columns are ``repr(float)``; angles with a unit
(hours, radians) are converted to degrees and sizes in angle units to arcsec.

:func:`resolve_columns` finds the id, ra, dec, size and band columns among
the header's names: exact names first, then :data:`ALIASES` (case-insensitive),
or the names given as ``id_col``/``ra_col``/``dec_col``.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

from ..errors import InputError

#: Accepted column names of each field, in order of preference (compared lower-cased).
ALIASES = {
    "id": ("id", "name", "objid", "objectid", "object_id", "obj_id", "source_id", "sourceid", "target",
           "targetid", "target_id", "target_name", "designation", "main_id", "object"),
    "ra": ("ra", "ra_deg", "radeg", "ra_icrs", "raj2000", "_raj2000", "ra_j2000", "ra2000", "alpha_j2000", "coord_ra",
           "ra_d", "ra(deg)"),
    "dec": ("dec", "dec_deg", "decdeg", "de_icrs", "dec_icrs", "dej2000", "_dej2000", "decj2000", "dec_j2000",
            "de2000", "dec2000", "delta_j2000", "coord_dec", "dec_d", "dec(deg)"),
    "size": ("size",),
    "band": ("band", "filter"),
}
FIELDS = tuple(ALIASES)
COLUMN_OPTIONS = {"id": "id_col", "ra": "ra_col", "dec": "dec_col"}

#: File name endings read by astropy, and the format it is given.
ASTROPY_FORMATS = {
    ".ecsv": "ascii.ecsv", ".fits": "fits", ".fit": "fits", ".fts": "fits", ".fits.gz": "fits",
    ".vot": "votable", ".votable": "votable", ".xml": "votable", ".vo": "votable",
    ".parquet": "parquet", ".pq": "parquet", ".hdf5": "hdf5", ".h5": "hdf5",
    ".ipac": "ascii.ipac", ".tbl": "ascii.ipac", ".ecsv.gz": "ascii.ecsv",
}
DELIMITERS = {"csv": ",", "tsv": "\t"}  # format_in names of the fast path
GZIP_MAGIC = b"\x1f\x8b"
MAX_FIELD = 16 * 1024 * 1024  # csv's default 128 kB would fail a whole list on one long line


@dataclass
class TargetList:
    """An opened target list: ``columns`` (names as written) and ``cells(indices)``, an iterator over the
    non-blank rows giving the stripped text of the columns at ``indices`` ("" for None or a short row)."""

    source: str
    columns: list[str]
    cells: Callable[[list[int | None]], Iterator[list[str]]]


def text_cells(rows, handle=None, source: str = "", *,
               comments: bool = False) -> Callable[[list[int | None]], Iterator[list[str]]]:
    """:attr:`TargetList.cells` over ``rows``, lists of text cells (read from ``handle``, closed at the end).

    Blank rows are skipped, and with ``comments`` (a text file) rows whose first cell starts with ``#``.
    """
    def cells(indices):
        with handle or contextlib.nullcontext():
            try:
                for row in rows:
                    if any(cell.strip() for cell in row) and not (comments and row[0].startswith("#")):
                        yield [row[i].strip() if i is not None and i < len(row) else "" for i in indices]
            except (csv.Error, UnicodeDecodeError, EOFError, OSError) as err:
                raise InputError(f"cannot read {source}: {err}", "check the file (cut short? not text?), or name "
                                 "its format with {}", options=[("format_in", None)]) from None
    return cells


def table_cells(table) -> Callable[[list[int | None]], Iterator[list[str]]]:
    """:attr:`TargetList.cells` over an astropy ``table`` (only the columns asked for are converted)."""
    def cells(indices):
        names = table.colnames
        texts = [_column_texts(table[names[i]], names[i]) if i is not None else [""] * len(table) for i in indices]
        return text_cells(zip(*texts))(range(len(indices)))
    return cells


def open_target_list(path, format_in: str | None = None) -> TargetList:
    """Open the target list at ``path`` (``"-"``: standard input) as a :class:`TargetList`.

    ``format_in`` names the format (``csv``, ``tsv`` or any astropy Table
    format such as ``ascii.ecsv``, ``fits``, ``votable``); by default it is
    chosen from the name's ending, then from the first bytes.
    """
    path = os.fspath(path)
    name = "standard input" if path == "-" else path
    source = f"target list {name}"
    fmt = (format_in or "").strip().lower() or _format_of_name(path)
    data = _read_stdin() if path == "-" else None
    gzipped = False
    if fmt is None or fmt in DELIMITERS:
        head, gzipped = _head(path, data, source)
        if fmt is None:
            fmt = _format_of_content(head)
    if fmt is None or fmt in DELIMITERS:
        return _open_delimited(path, data, source, DELIMITERS.get(fmt), gzipped)
    return _read_with_astropy(path if data is None else data, fmt, source)


def resolve_columns(columns: list[str], source: str, chosen: dict | None = None) -> list[int | None]:
    """The index in ``columns`` of each of :data:`FIELDS` (None when absent).

    ``chosen`` maps ``id``/``ra``/``dec`` to a column name given by the user
    (case-insensitive; it must exist).  Otherwise an exact name wins, then the
    first alias present; two different aliases of one field are refused.
    """
    lowered = [c.strip().lower() for c in columns]
    found = ", ".join(c.strip() for c in columns) or "none"
    index = []
    for field_name in FIELDS:
        wanted = (chosen or {}).get(field_name)
        if wanted:
            if wanted.strip().lower() not in lowered:
                raise InputError(f"{source} has no column {wanted!r} (found: {found})",
                                 "give {} one of the columns found", options=[(COLUMN_OPTIONS[field_name], None)])
            index.append(lowered.index(wanted.strip().lower()))
            continue
        present = [field_name] if field_name in lowered else [a for a in ALIASES[field_name] if a in lowered]
        if len(present) > 1 and field_name in COLUMN_OPTIONS:
            raise InputError(f"{source} has several {field_name} columns ({', '.join(present)})",
                             "choose one with {}", options=[(COLUMN_OPTIONS[field_name], None)])
        index.append(lowered.index(present[0]) if present else None)
    missing = [f for f, i in zip(FIELDS[:3], index) if i is None]
    if missing:
        raise InputError(f"{source} lacks column(s) {', '.join(missing)} (found: {found})",
                         "name the columns id,ra,dec (or an alias such as name, ra_deg, RAJ2000), or give "
                         + ", ".join("{}" for _ in missing),
                         options=[(COLUMN_OPTIONS[f], None) for f in missing])
    return index


# -- choosing the reader ---------------------------------------------------------
def _format_of_name(path: str) -> str | None:
    lowered = path.lower()
    for ending in sorted(ASTROPY_FORMATS, key=len, reverse=True):
        if lowered.endswith(ending):
            return ASTROPY_FORMATS[ending]
    return "tsv" if lowered.endswith((".tsv", ".tsv.gz", ".tab")) else None


def _format_of_content(head: bytes) -> str | None:
    """``fits``, ``votable`` or ``ascii.ecsv`` from a file's first bytes; None for delimited text."""
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml") or text.startswith(b"<VOTABLE"):
        return "votable"
    if text.upper().startswith(b"# %ECSV"):
        return "ascii.ecsv"
    return None


def _read_stdin() -> bytes:
    data = sys.stdin.buffer.read()
    return gzip.decompress(data) if data.startswith(GZIP_MAGIC) else data


def _head(path: str, data: bytes | None, source: str) -> tuple[bytes, bool]:
    """The first bytes of the list (inflated), and whether the file is gzipped."""
    if data is not None:
        return data[:512], False
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
        if head.startswith(GZIP_MAGIC):
            with gzip.open(path, "rb") as handle:
                return handle.read(512), True
        return head, False
    except FileNotFoundError:
        raise InputError(f"{source} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{source} is a directory", "give a file of targets (CSV, ECSV, FITS, VOTable, ...)") from None
    except (OSError, EOFError) as err:
        raise InputError(f"cannot read {source}: {getattr(err, 'strerror', None) or err}") from None


# -- delimited text: the fast path -----------------------------------------------
def _open_delimited(path: str, data: bytes | None, source: str, delimiter: str | None,
                    gzipped: bool) -> TargetList:
    if data is not None:
        handle = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    elif gzipped:
        handle = gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    else:
        handle = open(path, newline="", encoding="utf-8-sig")
    try:
        first = next((line for line in handle if not line.startswith("#")), None)
    except (UnicodeDecodeError, OSError, EOFError) as err:
        handle.close()
        raise InputError(f"cannot read {source}: {err}") from None
    if first is None or not first.strip():
        handle.close()
        raise InputError(f"{source} is empty", "the first line names the columns: id,ra,dec")
    delimiter = delimiter or _delimiter_of(first)
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD))
    if delimiter == " ":  # columns separated by runs of blanks
        header, rows = first.split(), (line.split() for line in handle)
    else:
        header, rows = next(csv.reader([first], delimiter=delimiter)), csv.reader(handle, delimiter=delimiter)
    return TargetList(source, [c.strip() for c in header], text_cells(rows, handle, source, comments=True))


def _delimiter_of(header: str) -> str:
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    if counts[best]:
        return best
    return " " if len(header.split()) > 1 else ","


# -- astropy's readers -------------------------------------------------------------
def _read_with_astropy(path_or_data, fmt: str, source: str) -> TargetList:
    import warnings

    from astropy.io import registry
    from astropy.table import Table

    known = sorted(set(registry.get_formats(Table, "Read")["Format"]))
    if fmt not in known:
        shown = ", ".join(f for f in known if f not in DELIMITERS and ("." not in f or f in ("ascii.ecsv", "ascii.ipac")))
        raise InputError(f"unknown target list format {fmt!r}", f"give {{}} csv, tsv or one of {shown}",
                         options=[("format_in", None)])
    if isinstance(path_or_data, bytes):
        path_or_data = io.BytesIO(path_or_data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unit and VOTable-schema warnings: the values are what count
            table = Table.read(path_or_data, format=fmt)
    except FileNotFoundError:
        raise InputError(f"{source} does not exist") from None
    except ImportError as err:
        raise InputError(f"cannot read {source} as {fmt}: {err}", "install the package named, or convert the list "
                         "to CSV") from None
    except Exception as err:  # astropy's readers raise many kinds for a file that is not of the format
        message = (str(err).splitlines() or [type(err).__name__])[0].split(". If ")[0]  # astropy's first sentence
        raise InputError(f"cannot read {source} as {fmt}: {message}",
                         "check the file, or name its format with {}", options=[("format_in", None)]) from None
    return TargetList(source, list(table.colnames), table_cells(table))


def _column_texts(column, name: str) -> list[str]:
    """The text of each cell (masked cells empty; vector columns, never a target field, empty)."""
    import astropy.units as u
    import numpy as np

    if column.ndim > 1:
        return [""] * len(column)
    values, mask = np.asarray(np.ma.getdata(column)), np.ma.getmaskarray(column)  # plain values: no unit
    unit = getattr(column, "unit", None)
    suffix = ""
    if unit is not None and values.dtype.kind in "fiu" and unit.is_equivalent(u.deg):
        is_size = name.strip().lower() == "size"  # a size in angle units is written with its unit, not as pixels
        values, suffix = (values * unit).to_value(u.arcsec if is_size else u.deg), "arcsec" if is_size else ""
    if values.dtype.kind == "f":
        texts = [f"{v!r}{suffix}" for v in values.astype(float).tolist()]
    elif values.dtype.kind == "S":
        texts = [v.decode("utf-8", "replace").strip() for v in values.tolist()]
    else:
        texts = [f"{str(v).strip()}{suffix}" for v in values.tolist()]
    for i in np.flatnonzero(mask):
        texts[i] = ""
    return texts
