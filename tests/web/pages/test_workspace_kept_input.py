"""Never lose typed work (issue 19, item 3), as the inbox's script meets the server: a refused
completion answers a sentence saying what to do (in the user's language) and marks the answer
so that the script keeps the form; a refused CSRF token is renewed; "complete and next" opens
the next task of the list. tests/e2e/test_workspace.py drives the same in chromium."""
from __future__ import annotations

from tests.web.pages.conftest import CSRF_META, select, texts


def html_of(response) -> str:
    return response.get_data(as_text=True)


def version_of(html: str) -> str:
    [field] = select(html, "input", "name", "version")
    return field["attrs"]["value"]


def test_a_stale_version_keeps_the_form_and_says_what_to_do(browser, desk):
    task = desk.task_of(desk.file("alice")["number"])
    page = browser("customer_service_1")
    version = version_of(html_of(page.get(f"/tasks/{task['task_id']}")))
    page.post(f"/tasks/{task['task_id']}/claim", fetch=True)        # the version moves on
    refused = page.post(f"/tasks/{task['task_id']}/complete",
                        {"approved": "true", "version": version}, fetch=True)
    assert refused.status_code == 409 and refused.headers["X-Keep-Input"] == "1"
    assert texts(html_of(refused), "div", "role", "alert") == [
        "The request changed while you were working on it. Your input is kept: look at the "
        "case again and submit once more."]
    current = refused.headers["X-Task-Version"]
    assert int(current) > int(version)
    done = page.post(f"/tasks/{task['task_id']}/complete",
                     {"approved": "true", "version": current}, fetch=True)
    assert done.status_code == 200


def test_the_refusal_is_said_in_chinese_with_the_colleagues_name(browser, desk):
    task = desk.task_of(desk.file("alice")["number"])
    browser("customer_service_2").post(f"/tasks/{task['task_id']}/claim")
    page = browser("customer_service_1", lang="zh_CN")
    page.get(f"/tasks/{task['task_id']}")
    refused = page.post(f"/tasks/{task['task_id']}/complete", {"approved": "true"}, fetch=True)
    assert refused.status_code == 409 and refused.headers["X-Keep-Input"] == "1"
    [said] = texts(html_of(refused), "div", "role", "alert")
    assert said.startswith("customer_service_2 已认领此任务") and "您的输入已保留" in said


def test_an_empty_comment_keeps_the_pane_and_says_how_long_a_comment_is(browser, desk):
    task = desk.task_of(desk.file("alice")["number"])
    page = browser("customer_service_1")
    page.get(f"/tasks/{task['task_id']}")
    refused = page.post(f"/tasks/{task['task_id']}/comments", {"body": "  "}, fetch=True)
    assert refused.status_code == 422 and refused.headers["X-Keep-Input"] == "1"
    assert texts(html_of(refused), "div", "role", "alert") == ["A comment is 1 to 5000 characters."]


def test_a_sign_in_in_another_tab_renews_the_token_instead_of_failing(browser, desk):
    """Signing in again (another tab, same cookies) starts a new session with a new token: the
    old page's post is refused and marked, the script asks for the session's token and sends
    the form again, which then goes through."""
    task = desk.task_of(desk.file("alice")["number"])
    page = browser("customer_service_1")
    old = CSRF_META.search(html_of(page.get(f"/tasks/{task['task_id']}"))).group(1)
    page.login("customer_service_1")                     # the other tab
    refused = page.post(f"/tasks/{task['task_id']}/claim", csrf=old, fetch=True)
    assert refused.status_code == 400 and refused.headers["X-CSRF-Refused"] == "1"
    assert desk.task_of(task["request_number"])["claimed_by"] is None

    renewed = page.get("/session/csrf")
    token = renewed.get_json()["token"]
    assert renewed.status_code == 200 and token != old
    assert page.post(f"/tasks/{task['task_id']}/claim", csrf=token, fetch=True).status_code == 200
    assert desk.task_of(task["request_number"])["claimed_by"] == "customer_service_1"


def test_a_signed_out_user_gets_no_token_but_a_sentence(browser, app):
    anonymous = browser(lang="zh_CN")
    refused = anonymous.get("/session/csrf")
    assert refused.status_code == 401
    assert refused.get_json() == {"message": "您已退出登录。您的输入已保留：请在另一个标签页重新登录，然后在此再次提交。"}


def test_complete_and_next_opens_the_next_task_of_the_list(browser, desk):
    first = desk.task_of(desk.file("alice", order_id="O-1001")["number"])
    second = desk.task_of(desk.file("bob", order_id="O-1002", type="complaint")["number"])
    third = desk.task_of(desk.file("alice", order_id="O-1004", type="return_refund",
                                   items=[{"sku": "HAT", "quantity": 1}])["number"])
    browser("customer_service_2").post(f"/tasks/{second['task_id']}/claim")   # taken
    page = browser("customer_service_1")
    page.get(f"/tasks/{first['task_id']}")
    done = page.post(f"/tasks/{first['task_id']}/complete",
                     {"approved": "true", "then": "next", "list": "sort=due"}, fetch=True)
    assert done.status_code == 200 and done.headers["X-Task-Id"] == third["task_id"]
    [pane] = select(html_of(done), "article", "class", "task-detail")
    assert pane["attrs"]["data-task-id"] == third["task_id"]
    assert texts(html_of(done), "div", "role", "status") == ["Task completed. The request has moved on."]


def test_complete_and_next_with_nothing_left_says_done(browser, desk):
    only = desk.task_of(desk.file("alice")["number"])
    page = browser("customer_service_1")
    page.get(f"/tasks/{only['task_id']}")
    done = page.post(f"/tasks/{only['task_id']}/complete", {"approved": "true", "then": "next"},
                     fetch=True)
    assert done.status_code == 200 and "X-Task-Id" not in done.headers
    assert select(html_of(done), "article") == []
