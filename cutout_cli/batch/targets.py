"""Target lists as compact columns: numpy arrays and packed strings, no object per row.

A target list of a million rows costs tens of bytes per row: coordinates in
float arrays, sizes and bands as indices into small tables of distinct values,
and the original text (id, ra, dec, kept for the manifest) packed into one
bytes buffer per column.  Rows count from 1 in file order (blank lines skipped).
"""

from __future__ import annotations

import bisect
import os
import re
import unicodedata
import zlib
from array import array

import numpy as np

from ..errors import CutoutError, InputError, python_spelling
from ..sky.parse import Size, parse_dec, parse_ra, parse_size
from .target_formats import FIELDS, open_target_list, resolve_columns, table_cells, text_cells

MAX_STEM = 80


class TextColumn:
    """Strings stored back to back in one buffer (UTF-8) with an offsets array."""

    def __init__(self):
        self._data = bytearray()
        self._offsets = array("I", [0])  # 4 bytes a row: text up to 4 GB

    def append(self, text: str) -> None:
        self._data += text.encode("utf-8", "surrogatepass")
        self._offsets.append(len(self._data))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> str:
        return self._data[self._offsets[index]:self._offsets[index + 1]].decode("utf-8", "surrogatepass")


class NumberTextColumn:
    """The original text of a numeric column, kept only where ``repr`` of the parsed value differs.

    Machine-written lists mostly round-trip (``53.206431515``) and then cost
    nothing per row; other cells (``53.20``, sexagesimal, unparsable text) are
    packed as in :class:`TextColumn`.  :attr:`values` (the parsed numbers) is
    set once the column is complete.
    """

    def __init__(self):
        self._rows = array("i")  # rows whose text is kept, increasing
        self._texts = TextColumn()
        self.values = None

    def append(self, row: int, text: str, value: float) -> None:
        if value != value or repr(value) != text:  # NaN: the text did not parse
            self._rows.append(row)
            self._texts.append(text)

    def __getitem__(self, row: int) -> str:
        kept = bisect.bisect_left(self._rows, row)
        if kept < len(self._rows) and self._rows[kept] == row:
            return self._texts[kept]
        return repr(float(self.values[row]))


class _Interned:
    """Distinct values (sizes, bands) and a per-row index into them."""

    def __init__(self):
        self.values: list = []
        self._index: dict = {}

    def code(self, key, make=lambda k: k) -> int:
        if key not in self._index:
            value = make(key)  # may raise: then nothing is recorded
            self._index[key] = len(self.values)
            self.values.append(value)
        return self._index[key]


class TargetTable:
    """The rows of a target list.

    Attributes
    ----------
    ids : TextColumn
        The original id text of each row.
    ra_text, dec_text : NumberTextColumn
        The original coordinate text of each row.
    ra, dec : numpy.ndarray
        Degrees (NaN where the row is in error).
    size_code, band_code : numpy.ndarray
        Indices into :attr:`sizes` (``Size``) and :attr:`bands` (str); -1 when missing.
    target : numpy.ndarray
        For each row, the input target it came from (a target with a band list
        ``g,r,i`` gives one row per band).
    errors : dict
        ``{row index: message}`` for rows that cannot be planned (options named in a message
        spelled by ``spell(parameter, value)``).
    """

    def __init__(self, source: str = "target list", *, spell=python_spelling):
        self.source = source
        self.spell = spell
        self.ids, self.ra_text, self.dec_text = TextColumn(), NumberTextColumn(), NumberTextColumn()
        self._ra, self._dec = array("d"), array("d")
        self._size, self._band, self._target = array("i"), array("i"), array("i")
        self.num_targets = 0
        self._sizes, self._bands = _Interned(), _Interned()
        self._default_size: tuple = (None, -1)
        self.errors: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def sizes(self) -> list[Size]:
        return self._sizes.values

    @property
    def bands(self) -> list[str]:
        return self._bands.values

    def freeze(self) -> TargetTable:
        """Turn the growing columns into numpy arrays (call once, after the last row)."""
        self.ra, self.dec = np.frombuffer(self._ra, dtype=float), np.frombuffer(self._dec, dtype=float)
        self.ra_text.values, self.dec_text.values = self.ra, self.dec
        self.size_code = np.frombuffer(self._size, dtype=np.int32)
        self.band_code = np.frombuffer(self._band, dtype=np.int32)
        self.target = np.frombuffer(self._target, dtype=np.int32)  # the input row (0-based) of each row
        return self

    def add(self, cells, *, default_size: Size | None, default_band: str | None) -> None:
        """Append a target from its ``(id, ra, dec, size, band)`` texts: one row per band when the band is
        a list (``g,r,i``; a band given twice counts once)."""
        id_text, ra_text, dec_text, size_text, band_text = cells
        named = (b.strip() for b in (band_text or default_band or "").split(","))
        bands = list(dict.fromkeys(b for b in named if b)) or [""]
        for band in bands:
            self._add_row(id_text, ra_text, dec_text, size_text or default_size, band)
        self.num_targets += 1

    def _add_row(self, id_text: str, ra_text: str, dec_text: str, size: str | Size | None, band: str) -> None:
        """Append one row, recording (not raising) its problems."""
        index = len(self.ids)
        self._target.append(self.num_targets)
        self.ids.append(id_text)
        ra = dec = float("nan")
        size_code = band_code = -1
        try:
            ra, dec = parse_ra(ra_text), parse_dec(dec_text)
            if isinstance(size, str):  # the row's own size
                size_code = self._sizes.code(size, parse_size)
            elif size is not None:  # the default, interned once
                if self._default_size[0] is not size:
                    self._default_size = (size, self._sizes.code(str(size), lambda _: size))
                size_code = self._default_size[1]
            else:
                raise InputError("no size", "give {} or a size column", options=[("size", None)])
            if not band:
                raise InputError("no band", "give {} or a band column", options=[("band", None)])
            band_code = self._bands.code(band)
        except CutoutError as err:
            self.errors[index] = err.describe(self.spell)
            ra = dec = float("nan")
        self.ra_text.append(index, ra_text, ra)
        self.dec_text.append(index, dec_text, dec)
        self._ra.append(ra)
        self._dec.append(dec)
        self._size.append(size_code)
        self._band.append(band_code)

    def rows_by_target(self) -> list[np.ndarray]:
        """The rows of each input target (one per band), target by target in list order."""
        order = np.argsort(self.target, kind="stable")
        starts = np.flatnonzero(np.diff(self.target[order], prepend=-1))
        return np.split(order, starts[1:])

    def band_of(self, index: int) -> str:
        code = int(self.band_code[index])
        return self.bands[code] if code >= 0 else ""

    def size_of(self, index: int) -> Size | None:
        code = int(self.size_code[index])
        return self.sizes[code] if code >= 0 else None


def read_targets(source, size: Size | None = None, band: str | None = None, *, spell=python_spelling,
                 columns: dict | None = None, format_in: str | None = None) -> TargetTable:
    """A :class:`TargetTable` from a target list: a path (``"-"``: standard input), an astropy Table or an
    iterable of mappings.

    Files are read as :func:`~.target_formats.open_target_list` says (CSV,
    ECSV, FITS, VOTable, ...; ``format_in`` names the format).  Columns id, ra,
    dec are required, found by name or alias (:data:`~.target_formats.ALIASES`,
    case-insensitive) or named in ``columns`` (``{"ra": "RA_ICRS"}``); ``size``
    and ``band`` are optional and override ``size`` and ``band``.  Problems
    with one row are recorded on the table (options named in their messages
    spelled by ``spell``); problems with the list itself (missing file or
    columns, no rows) raise :class:`InputError`.
    """
    table = TargetTable("target list", spell=spell)
    if isinstance(source, (str, os.PathLike)):
        opened = open_target_list(source, format_in)
        table.source = opened.source
        return _fill(opened.columns, opened.cells, size, band, table, columns)
    if hasattr(source, "colnames"):  # an astropy Table: units are honoured as for a file
        return _fill(list(source.colnames), table_cells(source), size, band, table, columns)
    rows = [{str(k).strip(): "" if v is None else str(v) for k, v in dict(r).items()} for r in source]
    names = list(dict.fromkeys(k for r in rows for k in r))
    return _fill(names, text_cells([r.get(c, "") for c in names] for r in rows), size, band, table, columns)


def _fill(names: list[str], select, size, band, table: TargetTable, columns: dict | None) -> TargetTable:
    """Add the rows of ``select`` (a :attr:`~.target_formats.TargetList.cells`) to ``table``."""
    source = table.source
    index = resolve_columns(names, source, columns)
    if size is None and index[FIELDS.index("size")] is None:  # every row would fail: before any work
        raise InputError(f"no cutout size: {source} has no size column", "give {} or add a size column",
                         options=[("size", None)])
    for cells in select(index):
        table.add(cells, default_size=size, default_band=band)
    if not len(table):
        raise InputError(f"{source} has no data rows")
    return table.freeze()


# -- file names ----------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def safe_stem(text: str, fallback: str) -> str:
    """A file-name stem from a target id: ASCII letters, digits and ``._+-`` only, at most 80 characters.

    Names reserved on Windows get the fallback prefix; an id with nothing
    usable becomes the fallback (``row<N>``).
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    stem = _UNSAFE.sub("_", ascii_text).strip("._")[:MAX_STEM]
    if not stem or stem.lower().split(".")[0] in _RESERVED:
        stem = f"{fallback}_{stem}" if stem else fallback
    return stem


class StemNamer:
    """Unique file stems without holding every stem in memory.

    A 32-bit hash of each row's (lower-cased) stem and band (both are in the
    file name) is kept; rows whose hash occurs more than once get their row
    number appended.
    """

    def __init__(self, table: TargetTable):
        self.table = table
        hashes = np.fromiter((zlib.crc32(f"{self._base(i)}_{table.band_of(i)}".lower().encode())
                              for i in range(len(table))), dtype=np.uint32, count=len(table))
        values, counts = np.unique(hashes, return_counts=True)
        self._clash = np.isin(hashes, values[counts > 1])

    def _base(self, index: int) -> str:
        return safe_stem(self.table.ids[index], f"row{index + 1}")

    def __call__(self, index: int) -> str:
        stem = self._base(index)
        return f"{stem}_row{index + 1}" if self._clash[index] else stem
