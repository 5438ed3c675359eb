"""Signing in and out (web/pages/auth.py), the home page, role checks and the CSRF check."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.web.conftest import PASSWORD
from tests.web.pages.conftest import Browser, select, text_of, texts


def alert_of(response) -> list[str]:
    return texts(response.get_data(as_text=True), "div", "role", "alert")


# ------------------------------------------------------------------ home and login

def test_home_sends_anonymous_visitors_to_the_login_page(app, world):
    response = Browser(app).get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


START_PAGES = {"customer_service_1": "/inbox", "cs_lead": "/inbox", "admin": "/inbox",
               "owner": "/processes", "auditor": "/audit"}


def test_login_goes_home_and_home_sends_each_role_to_its_start_page(app, world):
    for user, start in START_PAGES.items():
        page = Browser(app)
        login_page = page.get("/login")
        assert login_page.status_code == 200
        assert select(login_page.get_data(as_text=True), "input", "name", "csrf_token")
        signed_in = page.login(user)
        assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/", user
        home = page.get("/")
        assert home.status_code == 302 and home.headers["Location"] == start, user
        landed = page.get(start)
        assert landed.status_code == 200, user
        assert user in texts(landed.get_data(as_text=True), "span", "class", "whoami")[0]


def test_wrong_password_is_401_with_the_message_and_the_username_kept(app, world):
    page = Browser(app)
    response = page.login("customer_service_1", "not the password")
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert alert_of(response) == ["Wrong username or password."]
    [username] = select(html, "input", "name", "username")
    assert username["attrs"]["value"] == "customer_service_1"
    assert page.get("/inbox").status_code == 302            # still not signed in


def test_unknown_user_gets_the_same_message(app, world):
    response = Browser(app).login("nobody_here", PASSWORD)
    assert response.status_code == 401 and alert_of(response) == ["Wrong username or password."]


def test_customers_and_machine_accounts_are_refused(app, world):
    for user in ("alice", "courier", "payment"):
        page = Browser(app)
        response = page.login(user)
        assert response.status_code == 401, user
        assert alert_of(response) == [
            "These pages are for staff, supervisors, process owners and auditors."]
        assert page.get("/").headers["Location"] == "/login"    # no session was opened


def test_next_is_followed_when_it_is_a_local_path(app, world):
    page = Browser(app)
    login_page = page.get("/login?next=/audit?q=AS")
    [form] = select(login_page.get_data(as_text=True), "form", "method", "post")
    assert parse_qs(urlsplit(form["attrs"]["action"]).query) == {"next": ["/audit?q=AS"]}
    response = page.post(form["attrs"]["action"], {"username": "auditor", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/audit?q=AS"


def test_next_pointing_elsewhere_is_dropped(app, world):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example",
                   "evil.example", "/%5C/evil.example", "javascript:alert(1)"):
        response = Browser(app).login("auditor", next=target)
        assert response.status_code == 302 and response.headers["Location"] == "/", target


def test_a_protected_page_sends_anonymous_visitors_to_login_and_back(app, world):
    page = Browser(app)
    refused = page.get("/audit?q=AS-2026")
    assert refused.status_code == 302
    location = urlsplit(refused.headers["Location"])
    assert location.path == "/login"
    [target] = parse_qs(location.query)["next"]
    assert target == "/audit?q=AS-2026"
    page.get(refused.headers["Location"])
    back = page.post(refused.headers["Location"], {"username": "auditor", "password": PASSWORD})
    assert back.status_code == 302 and back.headers["Location"] == target


def test_without_a_query_next_ends_in_a_bare_question_mark_and_still_works(app, world):
    """request.full_path always has the '?'; the round trip still lands on the page."""
    page = Browser(app)
    refused = page.get("/inbox")
    assert refused.headers["Location"] == "/login?next=/inbox?"
    page.get(refused.headers["Location"])
    back = page.post(refused.headers["Location"],
                     {"username": "customer_service_1", "password": PASSWORD})
    assert back.status_code == 302 and urlsplit(back.headers["Location"]).path == "/inbox"
    assert page.get(back.headers["Location"]).status_code == 200


def test_login_form_without_its_csrf_token_is_400(app, world):
    page = Browser(app)
    page.get("/login")
    response = page.post("/login", {"username": "auditor", "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "CSRF token missing or invalid" in text_of(response.get_data(as_text=True))
    assert page.get("/audit").status_code == 302             # not signed in


def test_a_first_post_without_any_session_is_400(app, world):
    response = Browser(app).post("/login", {"username": "auditor", "password": PASSWORD})
    assert response.status_code == 400


def test_signing_in_changes_the_csrf_token(app, world):
    page = Browser(app)
    page.get("/login")
    before = page.token
    page.login("auditor")
    page.get("/audit")
    assert page.token and page.token != before


# ------------------------------------------------------------------ logout

def test_logout_ends_the_session(browser):
    page = browser("customer_service_1")
    response = page.logout()
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    again = page.get("/inbox")
    assert again.status_code == 302 and again.headers["Location"].startswith("/login?next=")


def test_logout_needs_the_csrf_token_and_a_post(browser):
    page = browser("customer_service_1")
    assert page.post("/logout", csrf="forged").status_code == 400
    assert page.get("/logout").status_code == 405
    assert page.get("/inbox").status_code == 200               # still signed in


def test_the_sign_out_form_carries_the_sessions_token(browser):
    page = browser("auditor")
    html = page.get("/audit").get_data(as_text=True)
    [form] = select(html, "form", "action", "/logout")
    [token] = select(html, "input", "name", "csrf_token")
    assert token["attrs"]["value"] == page.token
    assert form["text"] == "Sign out"
    assert page.post("/logout", {"csrf_token": token["attrs"]["value"]}, csrf=False).status_code == 302


# ------------------------------------------------------------------ roles

@pytest.mark.parametrize("user, paths", [
    ("auditor", ["/inbox", "/inbox/list", "/tasks/some-task", "/processes", "/overdue"]),
    ("owner", ["/inbox", "/audit", "/overdue", "/attachments/1"]),
    ("customer_service_1", ["/processes", "/processes/upload", "/processes/x/migrate",
                            "/audit", "/audit/instances/1/history.csv", "/overdue",
                            "/dashboard"]),
    ("cs_lead", ["/processes", "/audit"]),
])
def test_pages_of_other_roles_are_403(browser, user, paths):
    page = browser(user)
    for path in paths:
        response = page.get(path)
        assert response.status_code == 403, path
        assert texts(response.get_data(as_text=True), "h1") == ["Not allowed"]


def test_staff_are_refused_the_owners_post_too(browser, world):
    page = browser("customer_service_1")
    assert page.post("/processes/upload", {"action": "deploy"}).status_code == 403
    assert page.post("/processes/aftersales_request/migrate", {"from": "1", "to": "1"}).status_code == 403


def test_admins_pass_everywhere(browser, desk):
    desk.file()
    page = browser("admin")
    for path in ("/inbox", "/overdue", "/processes", "/audit", "/dashboard",
                 "/processes/upload", "/audit/instances/1"):
        assert page.get(path).status_code == 200, path


def test_anonymous_visitors_are_sent_to_login(app, world):
    page = Browser(app)
    for path in ("/inbox", "/inbox/list", "/tasks/some-task", "/overdue", "/processes",
                 "/processes/aftersales_request", "/processes/upload", "/audit",
                 "/audit/instances/1", "/audit/instances/1/history.csv", "/dashboard",
                 "/definitions/1/bpmn.json", "/attachments/1"):
        response = page.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == f"/login?next={path}?"


def test_nav_shows_only_the_pages_of_the_role(browser):
    def nav(user, start):
        html = browser(user).get(start).get_data(as_text=True)
        begin = html.index('<nav class="mainnav">')
        return [a["attrs"]["href"] for a in select(html[begin:html.index("</nav>", begin)], "a")]
    assert nav("customer_service_1", "/inbox") == ["/inbox", "/calendar"]
    assert nav("cs_lead", "/inbox") == ["/inbox", "/overdue", "/supervise/whatif", "/dashboard",
                                        "/calendar"]
    assert nav("owner", "/processes") == ["/dashboard", "/processes", "/calendar"]
    assert nav("auditor", "/audit") == ["/dashboard", "/calendar", "/audit"]
    assert nav("admin", "/inbox") == ["/inbox", "/overdue", "/supervise/whatif", "/dashboard",
                                      "/processes", "/calendar", "/audit"]


# ------------------------------------------------------------------ language

def test_pages_are_chinese_by_default_and_english_on_request(app, world):
    page = Browser(app, lang=None)
    chinese = page.get("/login")
    html = chinese.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and texts(html, "h1") == ["登录"]
    english = page.get("/login?lang=en")
    assert texts(english.get_data(as_text=True), "h1") == ["Sign in"]
    assert "lang=en" in english.headers.get("Set-Cookie", "")
    assert texts(page.get("/login").get_data(as_text=True), "h1") == ["Sign in"]   # remembered
    wrong = page.login("auditor", "nope")
    assert alert_of(wrong) == ["Wrong username or password."]
    assert alert_of(Browser(app, lang="zh_CN").login("auditor", "nope")) == ["用户名或密码错误。"]
