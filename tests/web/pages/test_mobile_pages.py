"""The customer app's pages (/m/, web/pages/mobile.py) through a test client: sign in, the
orders with their actions, filing with photos, refusals in the user's language that change
nothing, a request's page and its answers, the label, the message centre, and who may enter."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.web.pages.conftest import Browser, select, text_of, texts


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def phone(app, world):
    """A signed-in customer's phone: phone('alice', lang='zh_CN')."""
    def _open(username="alice", lang="en"):
        page = Browser(app, lang)
        page.get("/m/login")
        signed = page.post("/m/login", {"username": username, "password": "correct horse battery"})
        assert signed.status_code == 302 and signed.headers["Location"] == "/m/"
        page.get("/m/")
        return page
    return _open


def test_staff_are_not_let_in_and_customers_are_sent_to_the_app(app, world, phone):
    staff = Browser(app)
    staff.get("/m/login")
    refused = staff.post("/m/login", {"username": "customer_service_1",
                                      "password": "correct horse battery"})
    assert refused.status_code == 401 and "for customers" in text_of(refused.get_data(as_text=True))
    anonymous = Browser(app).get("/m/")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/m/login")
    assert phone().get("/").headers["Location"] == "/m/"       # the staff pages' home


def test_orders_show_each_items_actions(phone):
    page = phone().get("/m/").get_data(as_text=True)
    assert texts(page, "h2") == ["Order O-1004", "Order O-1003", "Order O-1001"] or \
        set(texts(page, "h2")) == {"Order O-1001", "Order O-1003", "Order O-1004"}
    actions = [e["attrs"]["data-action"] for e in select(page, "a", "data-action")]
    assert set(actions) == {"return_refund", "exchange", "repair", "complaint"}
    assert "O-1002" not in page                                    # bob's order


def test_filing_with_a_photo_opens_the_requests_page(phone):
    alice = phone()
    alice.get("/m/orders/O-1004/file?type=return_refund&sku=HAT")
    filed = alice.upload("/m/orders/O-1004/file", [("hat.png", png())], field="photos", fields={
        "type": "return_refund", "sku": "HAT", "quantity-HAT": "1", "reason": "Wrong size",
        "text": "too small"})
    assert filed.status_code == 302, filed.get_data(as_text=True)
    page = alice.get(filed.headers["Location"]).get_data(as_text=True)
    assert "We received your request." in text_of(page)
    [thumb] = select(page, "img")
    assert alice.get(thumb["attrs"]["src"]).mimetype == "image/jpeg"
    assert select(page, "a", "href", f"{filed.headers['Location']}/label.png")
    huge = f"{filed.headers['Location']}/photos/99999999999999999999999"   # beyond a BIGINT
    assert alice.get(huge).status_code == 404


@pytest.mark.parametrize("lang, photo, fields, message", [
    ("en", ("x.jpg", b"GIF89a but not really"), {}, "Photo 1 is not a picture (JPEG, PNG or WebP)."),
    ("zh_CN", ("x.jpg", b"not an image"), {}, "第 1 张照片不是图片（JPEG、PNG 或 WebP）。"),
    ("en", ("a.png", png()), {"quantity-SOCKS": "5"},
     "The quantity must be from 1 to the quantity you ordered."),
    ("zh_CN", ("a.png", png()), {"quantity-SOCKS": "5"}, "数量须在 1 到您订购的数量之间。"),
    ("en", ("a.png", png()), {"quantity-SOCKS": "²"},     # a digit to str.isdigit: was a 500
     "The quantity must be from 1 to the quantity you ordered."),
    ("en", ("a.png", png()), {"sku": "BOOTS", "quantity-BOOTS": "1"},
     "That item is not in this order."),
    ("zh_CN", [(f"p{n}.png", png()) for n in range(7)], {}, "最多上传 6 张照片。"),
])
def test_bad_input_is_explained_in_the_users_language_and_files_nothing(phone, lang, photo,
                                                                        fields, message):
    alice = phone(lang=lang)
    alice.get("/m/orders/O-1004/file?type=return_refund&sku=SOCKS")
    photos = photo if isinstance(photo, list) else [photo]
    refused = alice.upload("/m/orders/O-1004/file", photos, field="photos", fields={
        "type": "return_refund", "sku": "SOCKS", "quantity-SOCKS": "1", "reason": "x", **fields})
    assert refused.status_code == 422
    assert texts(refused.get_data(as_text=True), "p", "role", "alert") == [message]
    assert "AS-" not in alice.get("/m/requests").get_data(as_text=True)


def test_an_answer_the_process_does_not_wait_for_is_refused_on_the_page(phone):
    alice = phone()
    alice.get("/m/orders/O-1001/file?type=return_refund")
    filed = alice.post("/m/orders/O-1001/file", {"type": "return_refund", "sku": "SKU-O-1001",
                                                 "quantity-SKU-O-1001": "1", "reason": "x"})
    number = filed.headers["Location"].rsplit("/", 1)[1]
    alice.get(f"/m/requests/{number}")
    refused = alice.post(f"/m/requests/{number}/answer/rating", {"score": "5"})
    assert refused.status_code == 409
    assert texts(refused.get_data(as_text=True), "p", "role", "alert") == [
        "This request is not waiting for that answer now."]
    superscript = alice.post(f"/m/requests/{number}/answer/rating", {"score": "⁵"})  # was a 500
    assert superscript.status_code == 422
    assert texts(superscript.get_data(as_text=True), "p", "role", "alert") == [
        "Please choose 1 to 5 stars."]


def test_another_customers_request_is_not_found(phone):
    alice = phone()
    alice.get("/m/orders/O-1001/file")
    filed = alice.post("/m/orders/O-1001/file", {"type": "return_refund", "sku": "SKU-O-1001",
                                                 "quantity-SKU-O-1001": "1", "reason": "x"})
    ref = filed.headers["Location"]
    bob = phone("bob")
    assert bob.get(ref).status_code == 404
    assert bob.get(f"{ref}/label.png").status_code == 404
    assert bob.get(f"{ref}/events").status_code == 404
    assert bob.get("/m/orders/O-1001/file").status_code == 404


def test_the_message_centre_shows_the_notifications_in_chinese_first(phone):
    alice = phone(lang="zh_CN")
    alice.get("/m/orders/O-1001/file")
    alice.post("/m/orders/O-1001/file", {"type": "complaint", "sku": "SKU-O-1001",
                                         "quantity-SKU-O-1001": "1", "reason": "x"})
    page = alice.get("/m/messages").get_data(as_text=True)
    assert any(t.endswith("已通过审核") for t in texts(page, "h2"))


def test_refusals_outside_the_engine_are_pages_of_the_app_too(app, phone):
    staff = Browser(app)
    staff.login("customer_service_1")
    refused = staff.get("/m/")
    assert refused.status_code == 403
    assert texts(refused.get_data(as_text=True), "p", "role", "alert") == [
        "This app is for customers; staff sign in at the desk."]
    missing = phone().get("/m/requests/AS-20991231-0001")
    assert missing.status_code == 404 and "m/static/app.css" in missing.get_data(as_text=True)


def _complaint_page(alice) -> str:
    """The address of the page of a complaint `alice` files from O-1001."""
    alice.get("/m/orders/O-1001/file")
    return alice.post("/m/orders/O-1001/file", {"type": "complaint", "sku": "SKU-O-1001",
                                                "quantity-SKU-O-1001": "1", "reason": "x"}
                      ).headers["Location"]


def test_a_server_of_one_thread_gives_the_phone_no_stream(phone):
    alice = phone()
    ref = _complaint_page(alice)
    from web.pages import mobile
    alice.threaded = False     # gunicorn's sync worker
    refused = alice.get(f"{ref}/events")
    assert refused.status_code == 200
    assert refused.get_data(as_text=True) == f"retry: {mobile.BUSY_RETRY_MS}\n\n"


def test_live_updates_keep_threads_for_everyone_else(phone, monkeypatch):
    from web.pages import mobile
    alice = phone()
    ref = _complaint_page(alice)
    monkeypatch.setattr(mobile, "STREAM_SECONDS", 0)
    opened = [alice.client.get(f"{ref}/events", buffered=False) for _ in range(mobile.MAX_STREAMS)]
    busy = alice.get(f"{ref}/events")
    assert busy.get_data(as_text=True) == f"retry: {mobile.BUSY_RETRY_MS}\n\n"
    for response in reversed(opened):        # contexts of streams end in the order they began
        assert response.get_data(as_text=True) == "retry: 1000\n\n"     # read to its end
        response.close()
    again = alice.client.get(f"{ref}/events")
    assert again.get_data(as_text=True) == "retry: 1000\n\n"          # the slots came back
