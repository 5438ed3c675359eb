"""A supervisor's overdue board: tasks past their SLA across the departments they oversee,
reassigned in bulk to a colleague without reloading the page."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import login, shot

pytestmark = pytest.mark.e2e


def test_overdue_board_and_bulk_reassign(page, desk):
    numbers = [desk.file(order_id).number for order_id in ("O-1001", "O-1002")]
    desk.advance(days=3)                       # far past the 4 business hours to approve

    login(page, "manager")
    expect(page).to_have_url("/inbox")
    page.click("nav.mainnav >> text=超时看板")
    expect(page).to_have_url("/overdue")
    page.wait_for_load_state()      # board.js, at the end of the page, ticks the rows
    board = page.locator("#board")
    for number in numbers:
        expect(board.locator("tr", has_text=number).locator(".badge.sla-breached")).to_have_text("已超时")
    expect(page.locator("#n-breached")).to_have_text("2")

    page.locator("table.grid .tick-all").first.check()
    expect(page.locator("#ticked")).to_have_text("已勾选 2 个")
    page.select_option("select[name=assignee]", "fin_1")
    page.evaluate("window.__sameDocument = true")
    page.click("#reassign-form button[type=submit]")
    expect(board.locator(".alert.success")).to_have_text("已将 2 个任务改派给 fin_1。")
    for number in numbers:
        expect(board.locator("tr", has_text=number).locator(".assignee")).to_have_text("fin_1")
    assert page.evaluate("window.__sameDocument") is True
    shot(page, "05-overdue-board-reassigned")

    # Nothing ticked: the board says so and nothing changes.
    page.click("#reassign-form button[type=submit]")
    expect(board.locator(".alert.error")).to_have_text("请至少勾选一个任务。")
    expect(page.locator("#n-breached")).to_have_text("2")
