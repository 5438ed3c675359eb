"""web/pages/i18n.py: the pages read compiled catalogs and never write into the checkout."""
from __future__ import annotations

import os
import shutil

from web import create_app
from web.pages import i18n


def snapshot(folder) -> dict:
    return {path: (path.stat().st_mtime_ns, path.read_bytes())
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_creating_the_app_leaves_the_catalogs_as_they_are(db_url):
    mo_files = sorted(i18n.TRANSLATIONS.glob("*/LC_MESSAGES/messages.mo"))
    assert len(mo_files) == 2, "compile the catalogs first: " + i18n.COMPILE_COMMAND
    times = {mo: mo.stat() for mo in mo_files}
    try:
        # Older than their .po files: an app that compiled stale catalogs at start would now.
        for mo in mo_files:
            po_time = mo.with_suffix(".po").stat().st_mtime_ns
            os.utime(mo, ns=(times[mo].st_atime_ns, po_time - 10**9))
        before = snapshot(i18n.TRANSLATIONS)
        app = create_app({"database_url": db_url, "TESTING": True, "SQL_DURABLE": False})
        page = app.test_client().get("/login?lang=zh_CN")
        app.extensions["aftersales"].engine.dispose()
        assert snapshot(i18n.TRANSLATIONS) == before
    finally:
        for mo in mo_files:
            os.utime(mo, ns=(times[mo].st_atime_ns, times[mo].st_mtime_ns))
    assert page.status_code == 200 and "登录" in page.get_data(as_text=True)


def test_a_missing_catalog_is_named_in_the_log_and_not_written(db_url, tmp_path, monkeypatch,
                                                               caplog):
    folder = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS, folder)
    missing = folder / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo"
    missing.unlink()
    monkeypatch.setattr(i18n, "TRANSLATIONS", folder)
    app = create_app({"database_url": db_url, "TESTING": True, "SQL_DURABLE": False})
    app.extensions["aftersales"].engine.dispose()
    assert f"{missing} is missing" in caplog.text and i18n.COMPILE_COMMAND in caplog.text
    assert not missing.exists()


def test_an_engine_refusal_on_any_page_is_said_in_the_readers_language(browser):
    """By its kind (EngineError.code), with the engine's own words as the detail."""
    page = browser("customer_service_1")
    zh = page.get("/tasks/no-such-task?lang=zh")
    assert zh.status_code == 404
    text = zh.get_data(as_text=True)
    assert "您要找的内容不存在或已不存在。" in text and "详情：" in text
    en = page.get("/tasks/no-such-task?lang=en").get_data(as_text=True)
    assert "What you asked for does not exist" in en and "Details:" in en
