"""The OpenAPI document matches the routes the app really serves, and who may call them."""
from __future__ import annotations

import re

from jsonschema import Draft202012Validator

from web.openapi import OPERATIONS


def api_routes(app) -> dict[tuple[str, str], object]:
    """(method, OpenAPI path) -> view function, for every rule under /api."""
    routes = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes[(method.lower(), path)] = app.view_functions[rule.endpoint]
    return routes


def test_every_route_is_documented_and_every_documented_route_exists(client, app):
    document = client.get("/api/openapi.json").get_json()
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    served = set(api_routes(app))
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_documented_roles_are_the_roles_the_routes_admit(app):
    routes = api_routes(app)
    for method, path, _tag, _summary, roles, *_ in OPERATIONS:
        admitted = getattr(routes[(method, path)], "allowed_roles", None)
        assert (set(admitted) if admitted is not None else None) == (
            set(roles) if roles is not None else None), (method, path)


def test_document_is_well_formed(client):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    ids = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"] not in ids
            ids.add(operation["operationId"])
            names = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert names == set(re.findall(r"{([a-z_]+)}", path)), path
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                Draft202012Validator.check_schema(body["schema"])
            if operation.get("security") != []:
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
