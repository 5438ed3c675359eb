"""The KPI dashboard (web/pages/dashboard.py) and the files the pages' scripts load
(web/pages/assets.py): a definition's BPMN and the vendored front-end packages."""
from __future__ import annotations

import json

import pytest

from tests.web.pages.conftest import Browser, advance, select, table_rows, text_of, texts

TODAY = "from=2026-11-23&to=2026-11-23"


def html_of(response) -> str:
    return response.get_data(as_text=True)


def kpis_of(html: str) -> dict[str, str]:
    """The figure cards: {label: value}."""
    start = html.index('id="kpi-cards"')
    cards = html[start:html.index("<section", start)]
    values = texts(cards, "div", "class", "value")
    labels = texts(cards, "div", "class", "label")
    return dict(zip(labels, values))


def figures_of(html: str) -> dict:
    return json.loads(texts(html, "script", "id", "kpi-data")[0])


# ------------------------------------------------------------------ dashboard

def test_dashboard_opens_for_supervisors_owners_and_auditors(browser):
    assert texts(html_of(browser("auditor").get("/dashboard")), "h1") == ["Service KPIs"]
    # The full page is slow (the trend computes the KPIs once per bucket); a 422 for a bad
    # filter shows that the role check let these users in.
    for user in ("cs_lead", "ops_head", "owner", "admin"):
        assert browser(user).get("/dashboard?from=garbage").status_code == 422, user
    assert browser("customer_service_1").get("/dashboard?from=garbage").status_code == 403


def test_dashboard_counts_the_requests_of_the_range(browser, desk):
    desk.file()
    desk.file("bob", order_id="O-1002", type="complaint")
    page = browser("ops_head")
    html = html_of(page.get(f"/dashboard?{TODAY}"))
    figures = kpis_of(html)
    assert figures["Requests opened"] == "2"
    assert figures["Open tasks overdue: 0 of 2"] == "0.0%"
    assert figures_of(html)["figures"]["overall"]["requests"] == 2
    [start] = select(html, "input", "name", "from")
    [end] = select(html, "input", "name", "to")
    assert (start["attrs"]["value"], end["attrs"]["value"]) == ("2026-11-23", "2026-11-23")


def test_by_default_the_range_is_the_last_30_days_up_to_now(browser, desk):
    desk.file()
    advance(minutes=1)          # the range ends now: a request filed this instant is not in it
    html = html_of(browser("ops_head").get("/dashboard"))
    assert [i["attrs"]["value"] for i in select(html, "input", "type", "date")] == [
        "2026-10-24", "2026-11-23"]
    assert kpis_of(html)["Requests opened"] == "1"


def test_dashboard_filters_by_category_and_department(browser, desk):
    desk.file()                                                  # 3c, customer_service
    desk.file("bob", order_id="O-1002", type="complaint")        # apparel, customer_service
    page = browser("ops_head")
    apparel = html_of(page.get(f"/dashboard?{TODAY}&category=apparel"))
    assert kpis_of(apparel)["Requests opened"] == "1"
    start = apparel.index('<select name="category">')
    chosen = [o["attrs"]["value"] for o in select(apparel[start:apparel.index("</select>", start)], "option")
              if "selected" in o["attrs"]]
    assert chosen == ["apparel"]
    repair = html_of(page.get(f"/dashboard?{TODAY}&department=repair"))
    assert kpis_of(repair)["Requests opened"] == "0"


def test_heatmap_shows_where_the_time_goes(browser, desk):
    desk.file()
    advance(hours=2)
    html = html_of(browser("owner").get(f"/dashboard?{TODAY}"))
    assert "Where the time goes: aftersales_request" in text_of(html)
    rows = table_rows(html, 'id="slowest"')
    assert rows[0] == ["Review request", "2.0 h", "1"]
    heat = json.loads(texts(html, "script", "class", "diagram-data")[0])
    assert heat["heat"] == {"review": 1.0}


def test_heatmap_of_an_unknown_process(browser, world):
    html = html_of(browser("owner").get("/dashboard?process=no_such_process"))
    assert "This process is not deployed." in text_of(html)


@pytest.mark.parametrize("query, message", [
    ("from=garbage", "'from' must be an ISO-8601 date or time"),
    ("to=9999-12-31", "'to' must be an ISO-8601 date or time within the years 1 to 9999"),
    ("from=2026-11-23&to=2026-11-01", "'from' must be before 'to'"),
    ("category=spaceships", "category must be one of"),
    ("department=marketing", "department must be one of"),
])
def test_dashboard_refuses_bad_filters_with_422(browser, world, query, message):
    response = browser("auditor").get(f"/dashboard?{query}")
    assert response.status_code == 422
    assert message in text_of(html_of(response))


# ------------------------------------------------------------------ a definition's BPMN

def test_definition_bpmn_json_for_the_signed_in(browser, world):
    response = browser("customer_service_1").get("/definitions/1/bpmn.json?sha=whatever")
    assert response.status_code == 200 and response.mimetype == "application/json"
    files = response.get_json()
    assert list(files) == ["aftersales_request.bpmn"]
    assert '<bpmn:process id="aftersales_request"' in files["aftersales_request.bpmn"]
    assert "private" in response.headers["Cache-Control"]
    assert "max-age=86400" in response.headers["Cache-Control"]


def test_the_diagram_payload_of_a_page_points_at_the_bpmn_json(browser, desk):
    desk.file()
    page = browser("customer_service_1")
    payload = json.loads(texts(html_of(page.get("/inbox")), "script", "class", "diagram-data")[0])
    assert payload["files_url"].startswith("/definitions/1/bpmn.json?sha=")
    assert payload["marks"]["review"] == "ready"
    assert page.get(payload["files_url"]).status_code == 200


def test_an_unknown_definition_is_404(browser, world):
    response = browser("auditor").get("/definitions/999/bpmn.json")
    assert response.status_code == 404
    assert "definition 999 does not exist" in text_of(html_of(response))


# ------------------------------------------------------------------ vendored packages

@pytest.mark.parametrize("package, filename, mimetype", [
    ("bpmn-js", "bpmn-navigated-viewer.production.min.js", "text/javascript"),
    ("bpmn-js", "assets/bpmn-js.css", "text/css"),
    ("echarts", "echarts.min.js", "text/javascript"),
])
def test_vendor_files_are_served_to_anyone_and_cached(app, package, filename, mimetype):
    response = Browser(app).get(f"/assets/vendor/{package}/{filename}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert "max-age=86400" in response.headers["Cache-Control"]
    assert len(response.data) > 1000


def test_every_vendor_file_a_page_links_is_there(browser, desk):
    desk.file()
    html = html_of(browser("customer_service_1").get("/inbox"))
    links = [e["attrs"].get("href") or e["attrs"].get("src") for e in select(html, "link")
             + select(html, "script")]
    vendored = [link for link in links if link and link.startswith("/assets/vendor/")]
    assert len(vendored) == 3
    page = browser()
    for link in vendored:
        assert page.get(link).status_code == 200, link


@pytest.mark.parametrize("path, message", [
    ("/assets/vendor/left-pad/index.js", "left-pad is not installed"),
    ("/assets/vendor/bpmn-js/no-such-file.js", "The requested URL was not found"),
    ("/assets/vendor/bpmn-js/../package.json", "The requested URL was not found"),
])
def test_unknown_vendor_files_are_404(app, path, message):
    response = Browser(app).get(path)
    assert response.status_code == 404
    assert message in text_of(html_of(response))


def test_the_pages_own_static_files(app):
    response = Browser(app).get("/assets/app/css/app.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
