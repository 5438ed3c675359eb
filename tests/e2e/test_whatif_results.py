"""A supervisor reads a proposed change in Debian's chromium (issue 19, item 5): the owner's
draft of refund_first asks a second approver above 300 CNY instead of 2,000 and was tried on
the last 30 days; the manager opens 拟议变更 from the navigation and sees which request of theirs
would have gone another way (last week's 399 CNY refund), finance's extra task and the money
refunded on it, read only, in Chinese and in English. axe-core finds no serious or critical
violation; photographs in test-artifacts/screenshots/."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import checked, login
from tests.e2e.test_editor import refunded_last_week
from tests.web.pages.test_demo_history_pages import tried_by_the_owner

pytestmark = pytest.mark.e2e


def test_the_manager_reads_what_a_proposed_change_does_to_their_requests(page, desk):
    finished = refunded_last_week(desk)
    desk.advance(days=2)
    tried_by_the_owner(desk.sessions, desk.runtime)

    login(page, "manager")
    page.click("nav.mainnav >> text=拟议变更")
    row = page.locator("table.whatif-results tbody tr", has_text="复核门槛 300 元")
    expect(row.locator(".diverging")).to_have_text("1")
    checked(page, "19-supervisor-proposed-changes")
    row.locator("a").click()

    expect(page.locator("h1")).to_have_text("拟议变更：复核门槛 300 元")
    expect(page.locator("#n-diverging")).to_have_text("1")
    expect(page.locator("#money-diverging")).to_contain_text("399.00")
    request = page.locator("table.whatif-items tr.diverges", has_text=finished)
    expect(request).to_contain_text("approve_refund")
    expect(request).to_contain_text("草稿在此处走另一条路径")
    expect(request.locator(".work .more")).to_have_count(1)
    expect(page.locator('table.tasks tr[data-task="second_approval"] td.num').first).to_have_text("1")
    expect(page.locator('table.departments tr[data-department="finance"]')).to_contain_text("财务")
    expect(page.locator("main form")).to_have_count(0)          # read only: nothing to change
    checked(page, "19-supervisor-whatif-result")

    page.click(".langs >> text=English")
    expect(page.locator("h1")).to_have_text("Proposed change: 复核门槛 300 元")
    expect(page.locator('table.departments tr[data-department="finance"]')).to_contain_text("Finance")
    checked(page, "19-supervisor-whatif-result-en")
