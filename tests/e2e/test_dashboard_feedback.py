"""The word cloud of what customers said (echarts-wordcloud) draws in the browser, and a click
on a word opens the feedback that says it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login, shot

pytestmark = pytest.mark.e2e


def test_the_word_cloud_draws_and_a_word_opens_its_feedback(page, desk):
    desk.file("O-1001", reason="快递太慢了，包装也破了")
    desk.file("O-1003", type="complaint", reason="客服态度太差，快递也慢")
    desk.advance(hours=1)
    login(page, "manager")
    page.goto("/dashboard")
    for chart in ("feedback-trend", "feedback-category", "wordcloud"):
        expect(page.locator(f"#chart-{chart}[data-rendered] canvas")).to_have_count(1)
    shot(page, "28-dashboard-feedback", full_page=True)
    page.locator("#feedback-terms a", has_text="快递").first.click()
    expect(page.locator("h1")).to_contain_text("快递")
    expect(page.locator("#feedback-rows tbody tr")).to_have_count(2)
