"""The business calendar page (web/pages/calendar.py): what staff and supervisors read about the
working time every SLA counts in, in Chinese first and in English."""
from __future__ import annotations

import pytest

from tests.web.pages.conftest import _BYTECODE, table_rows, text_of
from web import create_app


@pytest.fixture
def app(db_url, tmp_path):
    """The pages' app with a Christmas holiday and a make-up Sunday (the clock: 2026-11-23)."""
    app = create_app({"database_url": db_url, "archive_dir": tmp_path / "archive",
                      "holidays": ("2026-12-25", "2027-06-01"), "extra_workdays": ("2026-12-27",),
                      "TESTING": True, "SQL_DURABLE": False})
    app.jinja_env.bytecode_cache = _BYTECODE
    yield app
    app.extensions["aftersales"].engine.dispose()


def test_staff_read_the_working_hours_and_the_coming_holidays(browser):
    page = browser("customer_service_1").get("/calendar")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = text_of(html)
    assert "Asia/Shanghai" in text and "09:00–18:00" in text
    assert "Monday、Tuesday、Wednesday、Thursday、Friday" in text
    assert "2026-11-23 – 2027-02-28" in text
    assert table_rows(html, 'id="special-days"') == [
        ["2026-12-25", "Friday", "Holiday (no working hours)"],
        ["2026-12-27", "Sunday", "Make-up workday (working hours)"]]
    assert 'href="/calendar"' in html                # in the main navigation


def test_in_chinese_first_and_further_ahead_on_request(browser):
    page = browser("cs_lead", lang=None).get("/calendar?months=7")
    text = text_of(page.get_data(as_text=True))
    assert "工作日历" in text and "节假日（不计工作时间）" in text and "调休上班（计工作时间）" in text
    assert "2027-06-01 星期二" in text                 # seven months ahead


def test_only_signed_in_staff_see_it(browser):
    assert browser().get("/calendar").status_code == 302
    bad = browser("customer_service_1").get("/calendar?months=0")
    assert bad.status_code == 422
