"""The supervisors' proposed changes (web/pages/supervisor.py): the last what-if an owner ran on
a draft, from the navigation, cut to the requests and work of the supervisor's departments,
read only. Staff and owners are refused."""
from __future__ import annotations

import pytest

from tests.web.api.test_drafts import stricter
from tests.web.api.test_owner import simple_history
from tests.web.pages.conftest import select, table_rows, text_of
from tests.web.pages.test_draft_pages import call, editor_config


@pytest.fixture
def tried(browser, platform):
    """simple v1 with a finished large refund, and an owner's draft refusing refunds above
    1,000 tried on the last 30 days from the draft's what-if page; the draft's id."""
    simple_history(platform)
    owner = browser("owner")
    created = owner.post("/drafts", {"process_key": "simple", "title": "Stricter refunds"})
    path = created.headers["Location"]
    files = editor_config(owner.get(path).get_data(as_text=True))["files"]
    assert call(owner, f"{path}/save", {"files": stricter(files), "base_revision": 1}
                ).status_code == 200
    report = owner.post(f"{path}/whatif", {"days": "30"})
    assert report.status_code == 200
    assert "Proposed changes" in text_of(report.get_data(as_text=True))  # where it is read
    return int(path.rsplit("/", 1)[1])


def test_a_supervisor_reads_the_proposed_change_from_the_navigation(browser, tried):
    lead = browser("ops_head")
    home = lead.get("/overdue").get_data(as_text=True)
    [link] = [a for a in select(home, "a") if a["text"] == "Proposed changes"]
    listing = lead.get(link["attrs"]["href"]).get_data(as_text=True)
    [row] = select(listing, "tr", "data-draft-id", str(tried))
    assert "Stricter refunds" in row["text"] and "revision 2" in row["text"]
    assert [texts["text"] for texts in select(listing, "td", "class", "diverging")] == ["1"]

    page = lead.get(f"/supervise/whatif/{tried}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert select(html, "div", "id", "n-diverging")[0]["text"] == "1"
    assert table_rows(html, 'class="grid departments"') == [["0", "1"]]   # finance: one fewer
    assert select(html, "tr", "data-department", "finance")
    [item] = select(html, "tr", "data-number", "AS-LARGE")
    assert "Another path" in item["text"] and "Confirm refund" in item["text"]
    # Read only: nothing on the page changes or deploys the draft.
    assert [f["attrs"]["action"] for f in select(html, "form")
            if f["attrs"].get("method") == "post"] == ["/logout"]
    assert "/drafts/" not in html


def test_customer_service_sees_its_request_but_not_finances_work(browser, tried):
    html = browser("cs_lead").get(f"/supervise/whatif/{tried}").get_data(as_text=True)
    [item] = select(html, "tr", "data-number", "AS-LARGE")
    assert "Confirm refund" not in item["text"]
    assert not select(html, "tr", "data-department", "finance")
    assert "No department would see a different amount of work." in text_of(html)


def test_staff_and_owners_do_not_read_the_supervisors_pages(browser, tried):
    for user in ("customer_service_1", "owner"):
        page = browser(user)
        assert page.get("/supervise/whatif").status_code == 403
        assert page.get(f"/supervise/whatif/{tried}").status_code == 403
        assert "Proposed changes" not in text_of(page.get("/calendar").get_data(as_text=True))
    assert browser("ops_head").get("/supervise/whatif/999999").status_code == 404
