"""Closures and resolution (engine.definitions.dependencies, engine.definitions.resolution):
what each process needs, and what an upload that leaves something out takes from the
deployed versions."""
from __future__ import annotations

from engine.definitions import catalog, dependencies
from engine.definitions.bundle import Bundle
from tests.conftest import ROOT

PRODUCT = ROOT / "bpmn"


def _product() -> Bundle:
    return Bundle.from_folder(PRODUCT)


def test_each_closure_holds_only_the_files_its_process_and_callees_need():
    index = dependencies.index(_product().files)
    closure = index.closure("return_goods")
    assert closure.files == {"return_goods.bpmn", "onsite_pickup.bpmn"}
    assert closure.messages == {"return_shipped", "pickup_booked", "picked_up"}
    assert "inspect_goods.json" in closure.forms and not closure.decisions
    assert index.closure("aftersales_request").decisions == {"route_request", "four_eyes_threshold"}
    assert index.closure("surge_alert").files == {"surge_alert.bpmn"}
    assert index.closure("nowhere").missing_processes == {"nowhere"}


def test_a_deployed_file_named_like_another_upload_file_is_kept_beside_it(sessions):
    with sessions.begin() as session:
        catalog.deploy(session, _product(), "owner")
    product = _product()
    # An unrelated process in a file called return_goods.bpmn, and refund_first calling the
    # deployed return_goods (which lives in a file of that same name).
    other = (PRODUCT / "surge_alert.bpmn").read_bytes()
    upload = Bundle({"refund_first.bpmn": product.files["refund_first.bpmn"],
                     "return_goods.bpmn": other}, dict(product.forms))
    with sessions() as session:
        planned = catalog.plan(session, upload)
    assert planned.errors == []
    [refund_first] = [p for p in planned.processes if p.process_key == "refund_first"]
    assert "return_goods.return_goods-v1.bpmn" in refund_first.sources
    assert "return_goods.bpmn" not in refund_first.sources


def test_forms_are_taken_from_the_process_that_uses_them_only(sessions):
    with sessions.begin() as session:
        catalog.deploy(session, _product(), "owner")
    product = _product()
    renamed = product.files["repair.bpmn"].replace(b'process id="repair"',
                                                   b'process id="repair_copy"').replace(
        b'processRef="repair"', b'processRef="repair_copy"')
    with sessions() as session:
        # repair_copy is not deployed: its forms are not taken from repair's version.
        alone = catalog.plan(session, Bundle({"repair_copy.bpmn": renamed}))
        # repair is: its forms come from its newest version.
        own = catalog.plan(session, Bundle({"repair.bpmn": product.files["repair.bpmn"]}))
    assert alone.errors and all("forms/ folder" in p.message for p in alone.errors)
    assert own.errors == [] and [(p.process_key, p.changed) for p in own.processes] == [
        ("repair", False)]
