"""axe-core on every staff page (issue 19, item 6): each page, as the role that works in it,
with a request under way so that lists and panes have content, has no serious or critical
violation, in Chinese at 1440 px and at 390 px. Photographs in test-artifacts/screenshots/."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import checked, login

pytestmark = pytest.mark.e2e

# (who, path, screenshot name); {task}, {instance}, {number} are the filed request's.
PAGES = [
    ("fin_1", "/inbox", "inbox"),
    ("fin_1", "/tasks/{task}", "task"),
    ("fin_1", "/search?q={number}", "search"),
    ("fin_1", "/calendar", "calendar"),
    ("cs_1", "/requests/new?customer_id=C-1001", "file-for-caller"),
    ("manager", "/overdue", "overdue"),
    ("manager", "/supervise/instances/{instance}", "supervise"),
    ("manager", "/incidents", "incidents"),
    ("manager", "/dashboard", "dashboard"),
    ("owner", "/processes", "processes"),
    ("owner", "/processes/aftersales_request", "process"),
    ("owner", "/processes/upload", "upload"),
    ("auditor", "/audit", "audit"),
    ("auditor", "/audit/instances/{instance}", "audit-instance"),
]


@pytest.mark.parametrize("width", [1440, 390])
def test_every_page_passes_axe(page, desk, width):
    filed = desk.file()
    [(task_id, _)] = [(t, d) for t, d in _tasks(desk, filed.number)]
    page.set_viewport_size({"width": width, "height": 900})
    signed_in, failed = None, []
    for who, path, name in PAGES:
        if who != signed_in:
            page.context.clear_cookies()
            login(page, who)
            signed_in = who
        page.goto(path.format(task=task_id, instance=filed.instance_id, number=filed.number))
        page.wait_for_load_state("networkidle")
        try:
            checked(page, f"19-axe-{name}-{width}")
        except AssertionError as violations:       # every page's, not only the first's
            failed.append(str(violations).split("\n")[0])
    assert failed == [], "\n".join(failed)


def _tasks(desk, number):
    from sqlalchemy import select

    from engine.models import HumanTask
    with desk.sessions() as session:
        return [(t.task_id, t.department) for t in session.scalars(
            select(HumanTask).where(HumanTask.business_key == number))]
