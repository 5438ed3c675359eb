"""The owner's upload page shows validation warnings beside the result and still deploys."""
from __future__ import annotations

from tests.conftest import DATA
from tests.web.pages.conftest import table_rows, text_of

DMN12 = DATA / "dmn12"


def html_of(response) -> str:
    return response.get_data(as_text=True)


def files():
    return [(f"forms/{p.name}" if p.parent.name == "forms" else p.name, p.read_bytes())
            for p in sorted(DMN12.rglob("*")) if p.is_file()]


def test_the_upload_page_lists_warnings_and_deploys(browser):
    owner = browser("owner")
    checked = owner.upload("/processes/upload", files(), fields={"action": "validate"})
    assert checked.status_code == 200
    html = html_of(checked)
    assert "2 warning(s): these do not stop a deploy" in text_of(html)
    ranged, catch_all = table_rows(html, 'class="grid problems warnings"')
    assert ranged[:3] == ["age_band.dmn", "29", "row-484867957-3"]
    assert catch_all[:3] == ["age_band.dmn", "34", "row-484867957-7"]
    assert "SpiffWorkflow evaluates UNIQUE as first match" in catch_all[3]
    deployed = owner.upload("/processes/upload", files(), fields={"action": "deploy"})
    assert deployed.status_code == 200
    text = text_of(html_of(deployed))
    assert "Deployed." in text and "age_band v1" in text and "2 warning(s)" in text
