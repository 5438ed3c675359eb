"""The inbox's rows show the service tier each request needs (engine/task_context.py)."""
from __future__ import annotations

from engine import orders
from engine.definitions import catalog
from engine.definitions.bundle import Bundle
from tests.conftest import ROOT
from tests.web.conftest import file_request, order_body
from tests.web.pages.conftest import texts


def test_a_3c_repair_row_says_it_needs_an_expert(auth, browser, platform):
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
        orders.upsert(session, "O-4001", order_body("C002", "3c", (("PHONE-1", 1, "1999.00"),)))
    file_request(auth, "bob", order_id="O-4001", type="repair")
    file_request(auth, "alice", order_id="O-1003", type="repair")
    html = browser("repair_1").get("/inbox").get_data(as_text=True)
    assert sorted(texts(html, "span", "class", "service-tier")) == ["L1", "expert"]


def test_the_inbox_filters_by_tier(auth, browser, platform):
    with platform.sessions.begin() as session:
        catalog.deploy(session, Bundle.from_folder(ROOT / "bpmn"), "owner")
        orders.upsert(session, "O-4001", order_body("C002", "3c", (("PHONE-1", 1, "1999.00"),)))
    expert = file_request(auth, "bob", order_id="O-4001", type="repair")["number"]
    file_request(auth, "alice", order_id="O-1003", type="repair")
    page = browser("repair_1")
    html = page.get("/inbox?tier=expert").get_data(as_text=True)
    assert texts(html, "span", "class", "service-tier") == ["expert"]
    assert set(texts(html, "span", "class", "reqno")) == {expert}   # the row and the pane
    assert '<option value="expert" selected' in html
    listed = page.get("/inbox/list?tier=L1").get_data(as_text=True)
    assert texts(listed, "span", "class", "service-tier") == ["L1"]
