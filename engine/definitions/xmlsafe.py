"""Hardened XML parsing for uploaded BPMN and DMN files.

This module owns the one door through which uploaded XML becomes an lxml tree.
Every refusal is an `XmlRefused` naming the file, the line where known, and
the reason in words a process owner can act on. It refuses:

* files over a size limit (checked before any parsing);
* anything that is not UTF-8: a byte-order mark or an XML declaration naming
  another encoding, NUL bytes, or bytes that do not decode;
* any DOCTYPE at all, so no entity can be declared: no external entity can
  read a local file or a URL (XXE) and no nested entity can blow up memory
  ("billion laughs"); and XInclude elements, which could pull in files later;
* nesting deeper than a limit;
* anything the parser itself finds malformed.

The parser never reads files or the network: it resolves no entities, loads
no DTD and keeps libxml2's own size limits on (``huge_tree=False``).
"""
from __future__ import annotations

import codecs
import re

from lxml import etree

__all__ = ["XmlRefused", "parse_xml"]

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_DEPTH = 200
_LIBXML2_MAX_DEPTH = 256  # libxml2's own limit without huge_tree

_UTF8_NAMES = {"utf-8", "utf8", "us-ascii", "ascii"}
_OTHER_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_XML_DECL = re.compile(rb"<\?xml\b[^>]*?\bencoding\s*=\s*[\"']([^\"']*)[\"']")
_PROLOG_SKIP = ((b"<?", b"?>"), (b"<!--", b"-->"))
_XINCLUDE = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")


class XmlRefused(ValueError):
    """An uploaded XML file was refused; `line` is None when not known."""

    def __init__(self, filename: str, line: int | None, message: str):
        super().__init__(f"{filename}:{line if line is not None else '?'}: {message}")
        self.filename = filename
        self.line = line
        self.message = message


def _new_parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not safe to share between threads.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False,
        dtd_validation=False, huge_tree=False, remove_comments=False,
        remove_pis=False, encoding="utf-8",
    )


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _check_encoding(data: bytes, filename: str) -> bytes:
    """Return `data` without a UTF-8 BOM, or refuse anything that is not UTF-8."""
    for bom, name in _OTHER_BOMS:
        if data.startswith(bom):
            raise XmlRefused(filename, 1, f"file is {name} encoded; only UTF-8 is accepted, "
                                          "save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    declaration = _XML_DECL.match(data.lstrip()[:400])
    if declaration:
        declared = declaration.group(1).decode("ascii", "replace")
        if declared.strip().lower() not in _UTF8_NAMES:
            raise XmlRefused(filename, 1, f"file declares encoding {declared!r}; only UTF-8 is "
                                          "accepted, save it as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise XmlRefused(filename, _line_at(data, nul),
                         "file contains NUL bytes (UTF-16 or binary?); only UTF-8 is accepted")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlRefused(filename, _line_at(data, exc.start),
                         f"file is not valid UTF-8 (byte 0x{data[exc.start]:02X}); "
                         "only UTF-8 is accepted, save it as UTF-8") from None
    return data


def _refuse_doctype(data: bytes, filename: str) -> None:
    """Walk the prolog (declaration, PIs, comments, blanks) and refuse a DOCTYPE in it."""
    pos, size = 0, len(data)
    while pos < size:
        if data[pos:pos + 1].isspace():
            pos += 1
            continue
        for opener, closer in _PROLOG_SKIP:
            if data.startswith(opener, pos):
                end = data.find(closer, pos + len(opener))
                pos = size if end < 0 else end + len(closer)
                break
        else:
            if data[pos:pos + 9].upper() == b"<!DOCTYPE":
                declares = b"<!ENTITY" in data[pos:].upper()
                reason = ("declares entities (external entities can read local files, "
                          "nested ones exhaust memory)" if declares else "is not allowed")
                raise XmlRefused(filename, _line_at(data, pos),
                                 f"DOCTYPE refused: a DOCTYPE {reason}; remove it")
            return


def _check_depth(root: etree._Element, filename: str, max_depth: int) -> None:
    depth = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > max_depth:
            raise XmlRefused(filename, element.sourceline,
                             f"elements are nested deeper than {max_depth} levels")


def _refuse_xinclude(root: etree._Element, filename: str) -> None:
    # Nothing here runs XInclude, but a later consumer calling tree.xinclude() would read files.
    for namespace in _XINCLUDE:
        for element in root.iter(f"{{{namespace}}}*"):
            raise XmlRefused(filename, element.sourceline, "XInclude is not allowed (it can pull "
                                                           "in local files); remove it")


def parse_xml(data: bytes, filename: str, max_bytes: int = DEFAULT_MAX_BYTES,
              max_depth: int = DEFAULT_MAX_DEPTH) -> etree._ElementTree:
    """Parse uploaded XML safely and return its element tree.

    Raises `XmlRefused` (and nothing else) when the file is too large, not
    UTF-8, carries a DOCTYPE or XInclude, nests too deeply or is not
    well-formed XML.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise XmlRefused(filename, None, f"expected the file's bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise XmlRefused(filename, None, f"file is {len(data):,} bytes, over the limit of "
                                         f"{max_bytes:,} bytes")
    if not data.strip():
        raise XmlRefused(filename, 1, "file is empty")
    data = _check_encoding(data, filename)
    _refuse_doctype(data, filename)
    try:
        root = etree.fromstring(data, _new_parser())
    except etree.XMLSyntaxError as exc:
        message = exc.msg or str(exc)
        if "Excessive depth" in message:
            limit = min(max_depth, _LIBXML2_MAX_DEPTH)
            raise XmlRefused(filename, exc.lineno,
                             f"elements are nested deeper than {limit} levels") from None
        raise XmlRefused(filename, exc.lineno, f"not well-formed XML: {message}") from None
    except Exception as exc:  # lxml raises a few other types on odd input
        raise XmlRefused(filename, None, f"could not parse XML: {type(exc).__name__}: {exc}") \
            from None
    if root is None:
        raise XmlRefused(filename, 1, "file holds no XML element")
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRefused(filename, 1, "DOCTYPE refused: a DOCTYPE is not allowed; remove it")
    _check_depth(root, filename, max_depth)
    _refuse_xinclude(root, filename)
    return tree
