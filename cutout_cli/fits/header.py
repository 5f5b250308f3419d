"""A light FITS header: ordered cards ``(name, value, comment)``.

Cutouts copy a source plane's header and change a handful of keywords, many
thousands of times per batch; this class makes that a list copy.  Names are
upper case, without the ``HIERARCH`` prefix (it is added back on output for
names longer than 8 characters).  ``COMMENT`` and ``HISTORY`` cards keep
their text as the value.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

__all__ = ["Header", "ReadOnlyHeader", "format_card", "pad", "is_structural", "CARD", "BLOCK"]

# Keywords describing the stored HDU (structure, tile compression, checksums),
# never the image itself: dropped when a header is read for reuse.
_STRUCTURAL = re.compile(
    r"^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTEND|TFIELDS|THEAP|T(TYPE|FORM|UNIT|DIM|NULL|SCAL|ZERO)\d+"
    r"|ZIMAGE|ZSIMPLE|ZTENSION|ZEXTEND|ZBLOCKED|ZPCOUNT|ZGCOUNT|ZBITPIX|ZNAXIS\d*|ZTILE\d+|ZCMPTYPE|ZNAME\d+|ZVAL\d+"
    r"|ZMASKCMP|ZQUANTIZ|ZDITHER0|ZBLANK|ZTHEAP|ZHECKSUM|ZDATASUM|CHECKSUM|DATASUM|BSCALE|BZERO|BLANK|END)$"
)
_COMMENTARY = ("COMMENT", "HISTORY", "")
# the primary (unlettered) celestial WCS of an image: FITS WCS papers I-III, SIP; not the A WCS, not LTV
_CELESTIAL_WCS = re.compile(r"^((WCSAXES|WCSNAME|LONPOLE|LATPOLE|RADESYS|EQUINOX|MJDREF|(CRPIX|CRVAL|CTYPE|CUNIT|CDELT"
                            r"|CROTA|CRDER|CSYER)\d+|(CD|PC|PV|PS)\d+_\d+)|RADECSYS|(A|B|AP|BP)_(ORDER|DMAX|\d+_\d+))$")
CARD = 80  # bytes of one header card
BLOCK = 2880  # bytes of one FITS block: headers and data are padded to whole blocks


class Header:
    """Ordered FITS cards with dict-like access by name (first card of a name)."""

    __slots__ = ("cards",)

    def __init__(self, cards=()):
        self.cards = [(str(n).upper(), v, c or "") for n, v, c in cards]

    @classmethod
    def from_fitsio(cls, header, keep_structure: bool = False) -> Header:
        """From a fitsio header, without structural, compression and boilerplate cards."""
        cards = []
        for record in header.records():
            name = (record.get("name") or "").upper()
            if name.startswith("HIERARCH "):
                name = name[len("HIERARCH "):]
            cards.append((name, record.get("value"), record.get("comment") or ""))
        return cls(cards) if keep_structure else cls(cards).content()

    def without_celestial_wcs(self) -> Header:
        """A copy without the primary (unlettered) celestial WCS: ``CRPIX1``, ``PC1_2``, ``A_2_0``...; the
        alternate ``A`` WCS and LTV stay."""
        return Header._from_cards([card for card in self.cards if not _CELESTIAL_WCS.match(card[0])])

    def content(self) -> Header:
        """These cards without the structural, compression and boilerplate ones (what :meth:`from_fitsio`
        keeps of a header)."""
        return Header._from_cards([card for card in self.cards if not _STRUCTURAL.match(card[0])
                                   and not (card[0] == "COMMENT" and _is_boilerplate("COMMENT", {"value": card[1]}))])

    @classmethod
    def from_astropy(cls, header) -> Header:
        """From an ``astropy.io.fits.Header``, as :meth:`from_fitsio` would give it (no structural,
        compression or boilerplate cards; COMMENT and HISTORY keep their text as the value)."""
        from astropy.io.fits import Undefined

        cards = []
        for card in header.cards:
            name = card.keyword.upper()
            if _STRUCTURAL.match(name) or _is_boilerplate(name, {"value": card.value}):
                continue
            value = card.value
            if name in _COMMENTARY:
                cards.append((name, str(value), str(value)))
            else:
                cards.append((name, None if value is None or isinstance(value, Undefined) else value,
                              card.comment or ""))
        return cls._from_cards(cards)

    @classmethod
    def from_records(cls, records) -> Header:
        """From fitsio-style dicts ``{"name", "value", "comment"}``."""
        return cls((r["name"], r.get("value"), r.get("comment", "")) for r in records)

    @classmethod
    def _from_cards(cls, cards: list) -> Header:
        """A header holding ``cards`` (a list of ``(NAME, value, comment)`` already normalised) as they are."""
        new = cls.__new__(cls)
        new.cards = cards
        return new

    def copy(self) -> Header:
        return Header._from_cards(list(self.cards))

    def __contains__(self, name: str) -> bool:
        name = name.upper()
        return any(n == name for n, _, _ in self.cards)

    def get(self, name: str, default=None):
        name = name.upper()
        for n, value, _ in self.cards:
            if n == name:
                return value
        return default

    def __getitem__(self, name: str):
        value = self.get(name, _MISSING)
        if value is _MISSING:
            raise KeyError(name)
        return value

    def set(self, name: str, value, comment: str | None = None) -> None:
        """Replace the first card named ``name`` (keeping its comment unless given), or append one."""
        name = name.upper()
        for i, (n, _, old_comment) in enumerate(self.cards):
            if n == name:
                self.cards[i] = (name, value, old_comment if comment is None else comment)
                return
        self.cards.append((name, value, comment or ""))

    def updated(self, updates: dict) -> Header:
        """A copy with ``{name: (value, comment)}`` applied in one pass (comment None keeps the old one)."""
        pending = {name.upper(): change for name, change in updates.items()}
        cards = []
        for name, value, comment in self.cards:
            if name in pending:
                value, new_comment = pending.pop(name)
                comment = comment if new_comment is None else new_comment
            cards.append((name, value, comment))
        cards.extend((name, value, comment or "") for name, (value, comment) in pending.items())
        return Header._from_cards(cards)

    def __setitem__(self, name: str, value) -> None:
        self.set(name, value)

    def names(self) -> list[str]:
        return [n for n, _, _ in self.cards]

    def __len__(self) -> int:
        return len(self.cards)

    def __repr__(self) -> str:
        return f"Header({len(self.cards)} cards)"

    def records(self) -> list[dict]:
        """fitsio-style records, for fitsio writes."""
        return [{"name": n, "value": v, "comment": c} for n, v, c in self.cards]

    def to_astropy(self):
        """An ``astropy.io.fits.Header`` with the same cards (HIERARCH for long names)."""
        from astropy.io import fits

        return fits.Header.fromstring(b"".join(format_card(*card) for card in self.cards).decode("ascii"))

    def encode(self, structural=()) -> bytes:
        """The header as FITS bytes: ``structural`` cards first, then these, END, padding."""
        body = b"".join(format_card(*card) for card in (*structural, *self.cards))
        return pad(body + b"END".ljust(CARD), b" ")


_MISSING = object()


class ReadOnlyHeader(Header):
    """A header that cannot be changed in place: what an open file's headers are, since they are kept for
    the next open of the same file (:mod:`cutout_cli.fits.layouts`); :meth:`copy` gives a changeable one."""

    __slots__ = ()

    def set(self, name: str, value, comment: str | None = None) -> None:
        raise TypeError("an open file's header is read-only: change a copy (header.copy())")

    __setitem__ = set

    @classmethod
    def of(cls, header: Header) -> ReadOnlyHeader:
        frozen = cls.__new__(cls)
        frozen.cards = tuple(header.cards)
        return frozen


def is_structural(name: str) -> bool:
    """Whether keyword ``name`` describes how an HDU is stored (its structure, tile compression,
    scaling, checksums) rather than the image: such cards are never copied from one HDU to another."""
    return _STRUCTURAL.match(name.upper()) is not None


def _is_boilerplate(name: str, record) -> bool:
    """The FITS-standard COMMENT lines that cfitsio writes into every new primary."""
    if name != "COMMENT":
        return False
    text = str(record.get("value") or record.get("card_string") or "")
    return "Flexible Image Transport System" in text or "Astrophysics', volume 376" in text


@lru_cache(maxsize=8192, typed=True)  # typed: 1, 1.0 and True format differently
def format_card(name: str, value, comment: str = "") -> bytes:
    """One keyword as FITS card bytes (80 per card; long strings use CONTINUE cards).

    Plain keywords (name <= 8 characters; an int, float, bool or string that
    fits on the card) are formatted here in the fixed format of the FITS
    standard; anything else (HIERARCH names, long strings, commentary cards,
    non-finite numbers) by astropy's ``Card``.  Results are cached.
    """
    if isinstance(value, str):
        value = value.encode("ascii", "replace").decode("ascii")
    text = _fixed_format(name, value)
    if text is None:
        return _astropy_card(name, value, comment)
    if comment:
        text = f"{text} / {comment.encode('ascii', 'replace').decode('ascii')}"
    return text[:CARD].ljust(CARD).encode("ascii")


def _fixed_format(name: str, value) -> str | None:
    """``NAME    = value`` in the FITS fixed format (``HIERARCH NAME = value`` for long
    names), or None when it needs astropy."""
    if name in _COMMENTARY or not name.isascii() or " " in name or "=" in name:
        return None
    text = _value_text(value)
    if text is None:
        return None
    if len(name) > 8:
        card = f"HIERARCH {name} = {text}"
    elif text.startswith("'"):
        card = f"{name:<8}= {text:<20}"
    else:
        # longer than the fixed format's 20 columns: free format keeps every digit (astropy, cfitsio round)
        card = f"{name:<8}= {text:>20}"
    return card if len(card) <= CARD else None


def _value_text(value) -> str | None:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        number = repr(value).upper()
        if "E" in number:
            mantissa, exponent = number.split("E")
            return f"{mantissa if '.' in mantissa else mantissa + '.0'}E{int(exponent):+03d}"
        return number if "." in number else number + "."
    if isinstance(value, str) and value.isprintable():
        return "'" + value.replace("'", "''").ljust(8) + "'"
    return None


def _astropy_card(name: str, value, comment: str) -> bytes:
    from astropy.io.fits import Card
    from astropy.io.fits.verify import VerifyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        if name in _COMMENTARY:
            card = Card(name, "" if value is None else str(value))
        else:
            card = Card(name, value, comment)
        return card.image.encode("ascii")


def pad(data: bytes, fill: bytes) -> bytes:
    """``data`` padded with ``fill`` to a whole number of 2880-byte blocks."""
    remainder = len(data) % BLOCK
    return data if remainder == 0 else data + fill * (BLOCK - remainder)
