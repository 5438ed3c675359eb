"""Search for everyone inside: one box that finds after-sales requests by request number,
order, customer (id, user name or display name) or the customer's phone, as the top bar of
every staff page asks it (GET /api/search, the pages' /search).

Each kind of key is one lookup on an index, so a search costs the same at 100 requests as at
100,000 (bench/search.py): the request number is unique, orders and customers are indexed on
service_request, names on user_account, and phones by an expression index on the shop order's
contact (migration 0014), written here and there as the same SQL text so that the database
uses it (SQLite matches an index expression only when it is written alike). What the searcher
may read is engine.service_requests' rule (list_requests, visible): a clerk outside customer
service finds only requests with work of theirs.
"""
from __future__ import annotations

import re

from sqlalchemy import literal_column, or_, select
from sqlalchemy.orm import Session

from engine import service_requests
from engine.access import Actor
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.models import ShopOrder, User

# Everyone inside who reads requests (customers find their own in their app).
SEARCHERS = ("staff", "supervisor", "auditor", "admin")
MAX_QUERY = 100
MAX_RESULTS = 20
# The customer's phone as stored with their orders, without spaces and dashes: the indexed
# expression of ix_shop_order_phone (engine/migrations/versions/0014_staff_workspace.py).
PHONE_SQL = {
    "sqlite": "replace(replace(json_extract(contact, '$.phone'), ' ', ''), '-', '')",
    "postgresql": "replace(replace(contact ->> 'phone', ' ', ''), '-', '')",
}
_PHONE = re.compile(r"\+?[0-9][0-9 -]{4,24}")
_COUNTRY = "+86"        # numbers typed without a country code are Chinese mobiles


def search(session: Session, actor: Actor, text) -> dict:
    """{"query", "items": requests as service_requests.request_json (newest first, at most
    MAX_RESULTS), "matched": {number: how it matched ("number", "order", "customer",
    "phone")}}. Raises InvalidInput (field "q") for an empty or overlong query."""
    query = _query(text)
    found: dict[str, dict] = {}
    matched: dict[str, str] = {}

    def take(rows, how):
        for row in rows:
            if row["number"] not in found:
                found[row["number"]], matched[row["number"]] = row, how

    take(_by_number(session, actor, query), "number")
    take(_listed(session, actor, "order_id", [query]), "order")
    take(_listed(session, actor, "customer_id", [query, *_customers_named(session, query)]),
         "customer")
    take(_listed(session, actor, "customer_id", _customers_with_phone(session, query)), "phone")
    items = sorted(found.values(), key=lambda r: (r["opened_at"], r["id"]), reverse=True)
    items = items[:MAX_RESULTS]
    return {"query": query, "items": items,
            "matched": {r["number"]: matched[r["number"]] for r in items}}


def phone_keys(text: str) -> list[str]:
    """The stored forms (PHONE_SQL) a typed phone number may have: its digits with a leading
    +, and, typed without a country code, with +86; [] for text that is no phone number."""
    if not _PHONE.fullmatch(text):
        return []
    digits = re.sub(r"[ -]", "", text)
    if digits.startswith("+"):
        return [digits]
    return [digits, _COUNTRY + digits]


def _query(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("type a request number, an order, a customer or a phone", field="q")
    query = " ".join(text.split())
    if len(query) > MAX_QUERY:
        raise InvalidInput(f"a search is at most {MAX_QUERY} characters", field="q")
    return query


def _by_number(session: Session, actor: Actor, query: str) -> list[dict]:
    if not query.upper().startswith("AS-"):
        return []
    try:
        found = service_requests.visible(session, actor, query.upper())
    except (NotFound, Forbidden):
        return []
    return [service_requests.request_json(found, internal=actor.role != "customer")]


def _listed(session: Session, actor: Actor, name: str, values) -> list[dict]:
    rows: list[dict] = []
    for value in dict.fromkeys(values):
        rows += service_requests.list_requests(session, actor, {name: value}, page=1,
                                               per_page=MAX_RESULTS)[0]
    return rows


def _customers_named(session: Session, query: str) -> list[str]:
    return list(session.scalars(select(User.customer_id).where(
        User.role == "customer", User.customer_id.is_not(None),
        or_(User.username == query, User.display_name == query)).limit(MAX_RESULTS)))


def _customers_with_phone(session: Session, query: str) -> list[str]:
    keys = phone_keys(query)
    if not keys:
        return []
    phone = literal_column(PHONE_SQL[session.get_bind().dialect.name])
    return list(session.scalars(select(ShopOrder.customer_id).where(phone.in_(keys))
                                .distinct().limit(MAX_RESULTS)))
