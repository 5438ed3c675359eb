"""The owner's upload page takes one process file or one DMN file (issue 16, item 3): validate
says which processes a deploy would version and which stay, deploy says which it versioned."""
from __future__ import annotations

from tests.conftest import ROOT
from tests.web.pages.conftest import table_rows, texts

PRODUCT = ROOT / "bpmn"


def _product_files(with_schemas: bool) -> list[tuple[str, bytes]]:
    files = [(p.name, p.read_bytes()) for p in sorted(PRODUCT.glob("*.bpmn"))]
    files += [(p.name, p.read_bytes()) for p in sorted(PRODUCT.glob("*.dmn"))]
    files += [(p.name, p.read_bytes()) for p in sorted((PRODUCT / "forms").glob("*.json"))]
    if with_schemas:   # as a browser sends a chosen folder: with the folder in the name
        files += [(f"messages/{p.name}", p.read_bytes())
                  for p in sorted((PRODUCT / "messages").glob("*.json"))]
    return files


def test_one_dmn_file_validates_and_deploys_only_its_users(browser, world):
    owner = browser("owner")
    refused = owner.upload("/processes/upload", _product_files(False), fields={"action": "deploy"})
    assert refused.status_code == 422     # the message schemas were not chosen
    problems = table_rows(refused.get_data(as_text=True), 'class="grid problems"')
    assert problems and all("has no schema" in p[3] for p in problems)
    assert owner.upload("/processes/upload", _product_files(True),
                        fields={"action": "deploy"}).status_code == 200

    edited = (PRODUCT / "routing.dmn").read_bytes().replace(b'name="Route request',
                                                            b'name="Route a request')
    checked = owner.upload("/processes/upload", [("routing.dmn", edited)],
                           fields={"action": "validate"}, fetch=True)
    assert checked.status_code == 200
    assert texts(checked.get_data(as_text=True), "p", "class", "would-version") == [
        "Deploying creates a new version of: aftersales_request."]
    deployed = owner.upload("/processes/upload", [("routing.dmn", edited)],
                            fields={"action": "deploy"}, fetch=True)
    assert deployed.status_code == 200
    assert texts(deployed.get_data(as_text=True), "ul", "class", "versioned") == [
        "aftersales_request v3"]
    again = owner.upload("/processes/upload", [("routing.dmn", edited)],
                         fields={"action": "deploy"}, fetch=True).get_data(as_text=True)
    assert texts(again, "ul", "class", "versioned") == []
    assert texts(again, "ul", "class", "unchanged") == [
        "aftersales_request v3 (unchanged: identical content was already deployed)"]
