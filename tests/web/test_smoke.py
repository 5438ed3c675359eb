from tests.web.conftest import file_request, open_tasks


def test_smoke(auth):
    filed = file_request(auth)
    assert filed["number"].startswith("AS-")
    tasks = open_tasks(auth)
    assert [t["bpmn_id"] for t in tasks] == ["review"]
