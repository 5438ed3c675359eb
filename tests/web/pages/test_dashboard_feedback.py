"""What customers said, on the dashboard (engine/feedback_dashboard.py, web/pages/dashboard.py)
and the feedback page its words open (web/pages/feedback.py)."""
from __future__ import annotations

import json

from engine import clock
from engine.models import Alert
from tests.web.conftest import file_request
from tests.web.pages.conftest import select, table_rows, texts

TODAY = "from=2026-11-23&to=2026-11-23"


def test_classes_words_and_surges_are_on_the_dashboard_and_a_word_opens_its_feedback(
        auth, browser, platform):
    file_request(auth, "alice", order_id="O-1001", reason="屏幕有坏点，质量太差")
    file_request(auth, "bob", order_id="O-1002", type="complaint", reason="客服态度太差，质量也差")
    with platform.sessions.begin() as session:
        session.add(Alert(kind="complaint_surge", key="apparel", opened_at=clock.now(), count=7,
                          details={"count": 7, "baseline": 1.5, "threshold": 5}))
    html = browser("ops_head").get(f"/dashboard?{TODAY}").get_data(as_text=True)
    data = json.loads(texts(html, "script", "id", "feedback-data")[0])
    assert {name: sum(n) for name, n in data["trend"]["series"].items()} == {"质量问题": 2,
                                                                            "客服态度差": 1}
    assert data["by_category"] == {"3c": {"质量问题": 1}, "apparel": {"客服态度差": 1, "质量问题": 1}}
    assert ["质量", 2] in data["terms"]
    assert "echarts-wordcloud.min.js" in html
    [surge] = table_rows(html, 'id="surge-alerts"')
    assert surge[1:3] == ["7", "1.5"] and surge[4:] == ["open", "not yet"]
    [link] = [a["attrs"]["href"] for a in select(html, "a") if a["text"] == "质量"]
    page = browser("cs_lead").get(link)
    rows = table_rows(page.get_data(as_text=True), 'id="feedback-rows"')
    assert sorted(row[4] for row in rows) == ["客服态度太差，质量也差", "屏幕有坏点，质量太差"]
    assert rows[0][3] == "质量问题、客服态度差"     # in the taxonomy's order


def test_the_feedback_page_is_for_those_who_read_every_request(browser):
    assert browser("finance_1").get(f"/feedback?q=x&{TODAY}").status_code == 403
    assert browser("auditor").get(f"/feedback?q=x&{TODAY}").status_code == 200
