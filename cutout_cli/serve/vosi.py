"""The VOSI documents a SODA service must have: capabilities (SODA 1.0 section 2.5) and availability."""

from __future__ import annotations

from xml.sax.saxutils import escape

__all__ = ["capabilities", "availability", "SODA_SYNC"]

SODA_SYNC = "ivo://ivoa.net/std/SODA#sync-1.0"
_CAPABILITIES = (("ivo://ivoa.net/std/VOSI#capabilities", "capabilities", ""),
                 ("ivo://ivoa.net/std/VOSI#availability", "availability", ""),
                 (SODA_SYNC, "sync", ' role="std"'))


def capabilities(base_url: str) -> str:
    """The capabilities document, access URLs under ``base_url`` (no trailing slash)."""
    entries = "".join(
        f'  <capability standardID="{standard}">\n'
        f'    <interface xsi:type="vs:ParamHTTP"{role} version="1.0">\n'
        f'      <accessURL use="full">{escape(base_url)}/{path}</accessURL>\n'
        f'    </interface>\n'
        f'  </capability>\n' for standard, path, role in _CAPABILITIES)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0"\n'
            '    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"\n'
            '    xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1">\n'
            f'{entries}</vosi:capabilities>\n')


def availability(available: bool, note: str) -> str:
    """The availability document (VOSI 1.1)."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">\n'
            f'  <vosi:available>{"true" if available else "false"}</vosi:available>\n'
            f'  <vosi:note>{escape(note)}</vosi:note>\n'
            '</vosi:availability>\n')
