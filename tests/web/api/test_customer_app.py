"""The customer app's API (web/api/customer.py): orders with what each item allows, filing with
photos checked by content, a request as the app shows it, the pickup slot chosen from the
courier's offer, the return label, the message centre; only ever the customer's own."""
from __future__ import annotations

import io
import json
import os
from datetime import timedelta

import pytest
import segno
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from engine import clock, orders
from engine.jobs import outbox
from tests.conftest import ROOT
from tests.web.api.test_journey import upload_folder
from tests.web.conftest import complete_own_task, error_of, order_body, pay


def image(kind="PNG", size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, kind)
    return out.getvalue()


def file_with(caller, fields, photos=()):
    values = [("request", json.dumps(fields))]
    values += [("photos", FileStorage(io.BytesIO(content), filename=name))
               for name, content in photos]
    boundary, body = encode_multipart(MultiDict(values))
    return caller.post("/api/app/requests", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_orders_show_what_each_item_allows_now(auth, platform):
    with platform.sessions.begin() as session:      # delivered 20 days ago: return closed
        orders.upsert(session, "O-OLD", order_body("C001", "3c", [("CAM", 1, "900.00")],
                      delivered_at=(clock.now() - timedelta(days=20)).isoformat()))
    shown = {o["order_id"]: o for o in auth.as_("alice").get("/api/app/orders").get_json()["items"]}
    assert set(shown) == {"O-1001", "O-1003", "O-1004", "O-OLD"}          # bob's O-1002 is not
    [cam] = shown["O-OLD"]["items"]
    assert {k: (v["allowed"], v["why"]) for k, v in cam["actions"].items()} == {
        "return_refund": (False, "window_closed"), "exchange": (True, "in_window"),
        "repair": (True, "in_warranty"), "complaint": (True, "always")}
    filed = file_with(auth.as_("alice"), {"order_id": "O-OLD", "type": "return_refund"})
    assert filed.status_code == 409 and error_of(filed)["details"]["why"] == "window_closed"


def test_a_filing_with_photos_stores_them_and_audits_the_customer(auth):
    alice = auth.as_("alice")
    filed = file_with(alice, {"order_id": "O-1004", "type": "return_refund",
                              "items": [{"sku": "HAT", "quantity": 1}], "reason": "torn"},
                      [("hat.png", image()), ("IMG_2.jpg", image("JPEG"))])
    assert filed.status_code == 201, filed.get_json()
    body = filed.get_json()
    assert [(p["filename"], p["content_type"]) for p in body["photos"]] == [
        ("hat.png", "image/png"), ("IMG_2.jpg", "image/jpeg")]
    number = body["number"]
    page = alice.get(f"/api/app/requests/{number}").get_json()
    assert len(page["photos"]) == 2 and page["amount"] == "30.00"
    thumb = alice.get(f"/api/requests/{number}/photos/{page['photos'][0]['id']}?size=thumb")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.data)).size == (64, 48)          # never enlarged
    # customer service sees the photos; another customer does not find the request
    assert len(auth.as_("customer_service_1").get(
        f"/api/requests/{number}/photos").get_json()["items"]) == 2
    assert auth.as_("bob").get(f"/api/requests/{number}/photos").status_code == 404
    huge = alice.get(f"/api/requests/{number}/photos/99999999999999999999999")
    assert huge.status_code == 404 and error_of(huge)["code"] == "not_found"
    history = auth.as_("auditor").get(f"/api/instances/{body['instance_id']}/history").get_json()
    added = [e for e in history["items"] if e["kind"] == "attachment_added"]
    assert [e["actor"] for e in added] == ["alice", "alice"]


@pytest.mark.parametrize("photos, field, why", [
    ([("fake.jpg", b"<html>not an image</html>")], "photos[0]", "not_an_image"),
    ([("ok.png", image()), ("cut.png", image()[:60])], "photos[1]", "not_an_image"),
    ([(f"p{n}.png", image()) for n in range(7)], "photos", "too_many"),
])
def test_bad_photos_are_refused_by_name_and_nothing_is_filed(auth, photos, field, why):
    refused = file_with(auth.as_("alice"), {"order_id": "O-1001", "type": "return_refund"},
                        photos)
    assert refused.status_code == 422, refused.get_json()
    details = error_of(refused)["details"]
    assert (details["field"], details["why"]) == (field, why)
    assert auth.as_("alice").get("/api/requests").get_json()["total"] == 0


def test_a_photo_over_the_limit_is_refused(auth, platform):
    platform.settings = platform.settings.with_(max_attachment_bytes=2000)
    out = io.BytesIO()
    Image.frombytes("RGB", (100, 100), os.urandom(30000)).save(out, "PNG")   # noise: no shrink
    big = out.getvalue()
    assert len(big) > 2000
    refused = file_with(auth.as_("alice"), {"order_id": "O-1001", "type": "return_refund"},
                        [("big.png", big)])
    assert refused.status_code == 422
    assert error_of(refused)["details"]["why"] == "too_large"


def test_bad_filing_fields_are_named(auth):
    refused = file_with(auth.as_("alice"), {"order_id": "O-1004", "type": "return_refund",
                                            "items": [{"sku": "SOCKS", "quantity": 9}]},
                        [("a.png", image())])
    assert refused.status_code == 422
    assert error_of(refused)["details"]["field"] == "items[0].quantity"
    assert auth.as_("alice").get("/api/requests").get_json()["total"] == 0


@pytest.mark.parametrize("text, words", [("{", "is not valid JSON"),
                                         ("[" * 100_000 + "]" * 100_000, "nested more than")])
def test_a_request_field_that_is_no_json_is_refused_by_name(auth, text, words):
    """100,000 brackets make the parser's RecursionError (was a 500)."""
    boundary, body = encode_multipart(MultiDict([("request", text)]))
    refused = auth.as_("alice").post("/api/app/requests", data=body,
                                     content_type=f"multipart/form-data; boundary={boundary}")
    assert refused.status_code == 400, refused.get_json()
    error = error_of(refused)
    assert error["details"]["field"] == "request" and words in error["message"]
    assert auth.as_("alice").get("/api/requests").get_json()["total"] == 0


def test_the_return_label_is_a_qr_code_of_the_request_number(auth):
    filed = file_with(auth.as_("alice"), {"order_id": "O-1001", "type": "return_refund"})
    number = filed.get_json()["number"]
    png = auth.as_("alice").get(f"/api/requests/{number}/label.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    label = Image.open(io.BytesIO(png.data)).convert("L")
    expected = segno.make_qr(number, error="m")
    assert _decoded_matrix(label, expected) == [list(row) for row in expected.matrix]
    pdf = auth.as_("alice").get(f"/api/requests/{number}/label.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert auth.as_("bob").get(f"/api/requests/{number}/label.png").status_code == 404
    assert auth.as_("customer_service_1").get(f"/api/requests/{number}/label.png").status_code == 403


def _decoded_matrix(label, qr) -> list[list[int]]:
    """The dark (1) and light (0) modules read back from the label at the QR code's place."""
    from engine import return_labels
    size = qr.symbol_size(scale=1, border=0)[0]
    scale = (return_labels.WIDTH - 2 * return_labels.MARGIN) // qr.symbol_size(
        scale=1, border=return_labels.QR_BORDER)[0]
    width = qr.symbol_size(scale=scale, border=return_labels.QR_BORDER)[0]
    left = (return_labels.WIDTH - width) // 2 + return_labels.QR_BORDER * scale
    top = return_labels.QR_TOP + return_labels.QR_BORDER * scale
    return [[int(label.getpixel((left + x * scale + scale // 2, top + y * scale + scale // 2)) < 128)
             for x in range(size)] for y in range(size)]


def test_a_complaint_has_no_return_label(auth):
    filed = file_with(auth.as_("alice"), {"order_id": "O-1001", "type": "complaint",
                                          "reason": "rude"})
    number = filed.get_json()["number"]
    refused = auth.as_("alice").get(f"/api/requests/{number}/label.png")
    assert refused.status_code == 409 and error_of(refused)["details"]["why"] == "no_return"


def test_the_message_centre_lists_the_customers_notifications_in_their_words(auth):
    number = file_with(auth.as_("alice"), {"order_id": "O-1001", "type": "return_refund"}
                       ).get_json()["number"]
    file_with(auth.as_("bob"), {"order_id": "O-1002", "type": "return_refund"})
    zh = auth.as_("alice").get("/api/app/messages").get_json()["items"]
    assert [(m["request_no"], m["template"]) for m in zh] == [(number, "request_accepted")]
    assert zh[0]["subject"] == f"售后单 {number} 已通过审核"
    en = auth.as_("alice").get("/api/app/messages?lang=en").get_json()["items"]
    assert en[0]["subject"] == f"Request {number} accepted"
    assert auth.as_("alice").get("/api/app/messages?lang=fr").status_code == 422


def test_app_routes_are_for_customers(auth):
    assert auth.as_("customer_service_1").get("/api/app/orders").status_code == 403
    assert auth.as_("auditor").get("/api/app/messages").status_code == 403


def test_the_customer_chooses_an_offered_pickup_slot_and_the_courier_books_no_other(auth, platform):
    assert upload_folder(auth.as_("owner"), ROOT / "bpmn").status_code == 201
    bob = auth.as_("bob")
    number = file_with(bob, {"order_id": "O-1002", "type": "return_refund", "pickup": True}
                       ).get_json()["number"]
    assert bob.post(f"/api/requests/{number}/pickup-slot",
                    json={"slot_start": "2026-11-24T09:00:00+08:00"}).status_code == 409
    complete_own_task(auth, "finance_1", {"refund_approved": True, "refund_amount": 120.0,
                                          "refund_note": "ok"})
    assert pay(auth, number).status_code == 200
    complete_own_task(auth, "logistics_1", {"pickup_address": "上海市徐汇区",
                                            "contact_phone": "13800000000"})
    page = bob.get(f"/api/app/requests/{number}").get_json()
    assert page["awaiting"] == ["pickup-slot"]
    offered = bob.get(f"/api/requests/{number}/pickup-slots").get_json()["items"]
    assert offered == page["offered"] and len(offered) == 6
    assert offered[0] == {"slot_start": "2026-11-24T09:00:00+08:00",
                          "slot_end": "2026-11-24T12:00:00+08:00"}
    wrong = bob.post(f"/api/requests/{number}/pickup-slot",
                     json={"slot_start": "2026-11-24T03:00:00+08:00"})
    assert wrong.status_code == 422 and error_of(wrong)["details"]["field"] == "slot_start"
    chosen = bob.post(f"/api/requests/{number}/pickup-slot", json=offered[3])
    assert chosen.status_code == 422                    # slot_end is not a field of the answer
    chosen = bob.post(f"/api/requests/{number}/pickup-slot",
                      json={"slot_start": offered[3]["slot_start"]})
    assert chosen.status_code == 200, chosen.get_json()
    after = bob.get(f"/api/app/requests/{number}").get_json()
    assert after["pickup"]["slot_start"] == offered[3]["slot_start"]
    assert after["awaiting"] == [] and after["progress"]["deadline"] is not None
    outbox.dispatch_due(platform.sessions, platform.runtime)    # the booking call comes due
    later = bob.get(f"/api/app/requests/{number}").get_json()
    assert later["pickup"]["slot_start"] == offered[3]["slot_start"]
    assert [e["event"] for e in later["timeline"]].count("pickup_scheduled") == 1
    history = auth.as_("auditor").get(f"/api/instances/{instance_of(auth, number)}"
                                      "/history?per_page=100").get_json()["items"]
    assert [e["actor"] for e in history if e["kind"] == "message_delivered"
            and e["payload"].get("name") == "pickup_booked"] == ["bob"]


def instance_of(auth, number) -> int:
    return auth.as_("customer_service_1").get(f"/api/requests/{number}").get_json()["instance_id"]


def test_the_return_address_is_shown_while_the_shipment_is_awaited(auth, platform):
    platform.settings = platform.settings.with_(return_address="上海市青浦区华新镇 售后仓")
    number = file_with(auth.as_("alice"), {"order_id": "O-1001", "type": "return_refund"}
                       ).get_json()["number"]
    assert auth.as_("alice").get(f"/api/app/requests/{number}").get_json()["return_address"] is None
    complete_own_task(auth, "customer_service_1", {"approved": True, "note": "ok"})
    page = auth.as_("alice").get(f"/api/app/requests/{number}").get_json()
    assert page["awaiting"] == ["shipped"] and page["return_address"] == "上海市青浦区华新镇 售后仓"
