"""Files inside zip archives, as the Butler names them: ``ARCHIVE.zip#zip-path=MEMBER``.

``butler retrieve-artifacts --zip`` (and ``butler ingest-zip``) store each
file as a member of a zip archive, uncompressed, so that its bytes can be
read in place: a member is a window ``[offset, offset + size)`` of the
archive.  :func:`open_member` finds that window from the archive's central
directory and the member's local header (a few small reads at the end and
at the member, ranged ones remotely) and returns a
:class:`~cutout_cli.storage.ranged.RangeReader` over it, which the FITS
reader reads like any file.
"""

from __future__ import annotations

import struct
import urllib.parse
import zipfile

from ..errors import DataError, NotFoundError
from .base import is_remote
from .ranged import RangeReader

__all__ = ["MEMBER_MARK", "is_member", "split_member", "member_location", "open_member", "open_range_reader",
           "read_member", "uri_of"]

MEMBER_MARK = "#zip-path="
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # a zip local file header (30 bytes)


def is_member(location) -> bool:
    """Whether ``location`` names a member of a zip archive."""
    return isinstance(location, str) and MEMBER_MARK in location


def split_member(location: str) -> tuple[str, str]:
    """``(archive, member)`` of ``ARCHIVE#zip-path=MEMBER``."""
    archive, _, member = location.partition(MEMBER_MARK)
    return archive, member


def member_location(archive: str, member: str) -> str:
    """The location of ``member`` of ``archive`` (the Butler's spelling)."""
    return f"{archive}{MEMBER_MARK}{member}"


def uri_of(location: str) -> str:
    """The URI the Butler's ``getURI`` gives for a location (``file://`` for a local path)."""
    if is_remote(location):
        return location
    base, mark, member = location.partition(MEMBER_MARK)
    return f"file://{urllib.parse.quote(base)}{mark}{member}"


def open_range_reader(location: str, remote=None) -> RangeReader:
    """A :class:`RangeReader` over a remote file, or over a zip member (local or remote)."""
    if not is_member(location):
        return RangeReader(location, remote)
    archive, member = split_member(location)
    return open_member(archive, member, remote)


def _archive_reader(archive: str, remote) -> RangeReader:
    if is_remote(archive):
        from .remote import RemoteOptions

        return RangeReader(archive, remote or RemoteOptions.from_env())
    return RangeReader.local(archive)


def open_member(archive: str, member: str, remote=None) -> RangeReader:
    """A reader over the bytes of ``member``, stored uncompressed in the zip ``archive`` (a path or URL)."""
    reader = _archive_reader(archive, remote)
    try:
        info = _member_info(reader, archive, member)
        if info.compress_type != zipfile.ZIP_STORED:
            raise DataError(f"{member} is compressed in {archive}, so it cannot be read in place",
                            f"extract it (unzip {archive} {member}) and read the extracted file")
        reader.set_window(_data_offset(reader, archive, info), info.file_size)
    except BaseException:
        reader.close()
        raise
    return reader


def read_member(archive: str, member: str, remote=None) -> bytes:
    """The whole (decompressed) content of a small member, such as an archive's index."""
    reader = _archive_reader(archive, remote)
    try:
        with _zip(reader, archive) as handle:
            try:
                return handle.read(member)
            except KeyError:
                raise NotFoundError(f"{archive} has no member {member}") from None
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise DataError(f"cannot read {member} of {archive}: {err}") from None
    finally:
        reader.close()


def _zip(reader: RangeReader, archive: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(reader)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"{archive} is not a readable zip archive: {err}", "check the file (unzip -t)") from None


def _member_info(reader: RangeReader, archive: str, member: str) -> zipfile.ZipInfo:
    handle = _zip(reader, archive)
    try:
        return handle.getinfo(member)
    except KeyError:
        raise NotFoundError(f"{archive} has no member {member}", "check the archive (unzip -l)") from None


def _data_offset(reader: RangeReader, archive: str, info: zipfile.ZipInfo) -> int:
    """Where the member's bytes begin: after its local header, whose name and extra field lengths
    may differ from the central directory's."""
    raw = reader.peek_range(info.header_offset, info.header_offset + _LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
        raise DataError(f"{archive}: the local header of {info.filename} is damaged", "check the file (unzip -t)")
    fields = _LOCAL_HEADER.unpack(raw)
    return info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
