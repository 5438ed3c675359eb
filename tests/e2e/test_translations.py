"""The Chinese catalog of the pages translates every message, and the committed .mo files say
what their .po files say (.ci/setup compiles the .mo files at install time; the app only reads them)."""
from __future__ import annotations

import io

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from web.pages.i18n import TRANSLATIONS


def test_chinese_catalog_is_complete():
    with (TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert len(catalog) > 250
    assert untranslated == [] and fuzzy == []


def test_compiled_catalogs_match_their_sources():
    for po_path in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as po:
            source = {m.id: m.string for m in read_po(po) if m.id}
        compiled = read_mo(io.BytesIO(po_path.with_suffix(".mo").read_bytes()))
        assert {m.id: m.string for m in compiled if m.id and m.string} == \
            {k: v for k, v in source.items() if v}, po_path
