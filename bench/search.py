"""Search latency with many requests: p50/p95 of engine.search.search (the top bar's search) by
request number, order, customer id, customer name and phone.

The database is filled directly with bulk inserts: n `service_request` rows, each from its own
`shop_order` (a quarter of the customers have a phone with the order's contact), for n / 4
customers with accounts and display names. Each search is one read transaction on a durable
SQLite file, as a page or API request makes it, by a customer-service clerk (who reads every
request, so the lookups alone are timed, not the reach of a clerk elsewhere).

Usage: python -m bench.search --n 100000
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import insert

from bench.common import SIMPLE_DATA, percentile, platform
from engine import clock, search
from engine.access import Actor
from engine.models import ServiceRequest, ShopOrder, User

KINDS = ("number", "order", "customer", "name", "phone")
CLERK = Actor("customer_service_1", "staff", "customer_service")


def populate(p, n: int, seed: int = 7) -> list[dict]:
    """n requests of n / 4 customers, in chunks of 5,000 rows; returns each request's keys."""
    rng = random.Random(seed)
    now = clock.now()
    customers = max(1, n // 4)
    keys, chunk = [], 5000
    with p.engine.begin() as conn:
        conn.execute(insert(User.__table__), [
            dict(id=c + 1, username=f"cust{c:06d}", password_hash="-", role="customer",
                 display_name=f"客户{c:06d}", customer_id=f"C{c:06d}", active=True,
                 created_at=now) for c in range(customers)])
        for start in range(0, n, chunk):
            requests, orders = [], []
            for i in range(start, min(n, start + chunk)):
                c = rng.randrange(customers)
                opened = now - timedelta(minutes=rng.randint(0, 60 * 24 * 60))
                number, order_id = f"AS-{opened:%Y%m%d}-{i:06d}", f"O-{i:07d}"
                phone = f"+86 139 {c // 10000:04d} {c % 10000:04d}" if c % 4 == 0 else None
                amount = Decimal(rng.randint(1000, 500000)) / 100
                orders.append(dict(order_id=order_id, customer_id=f"C{c:06d}", category="3c",
                                   paid_amount=amount, currency="CNY", channel="app", items=[],
                                   paid_at=opened, contact={"phone": phone} if phone else None))
                requests.append(dict(id=i + 1, number=number, order_id=order_id,
                                     customer_id=f"C{c:06d}", customer_tier="normal",
                                     type="return_refund", category="3c", amount=amount,
                                     reason="does not fit", items=[], priority=3,
                                     status="open", opened_at=opened))
                keys.append({"number": number, "order": order_id, "customer": f"C{c:06d}",
                             "name": f"客户{c:06d}",
                             "phone": phone.replace(" ", "")[3:] if phone else None})
            conn.execute(insert(ShopOrder.__table__), orders)
            conn.execute(insert(ServiceRequest.__table__), requests)
    return keys


def measure(n: int, queries: int = 500, seed: int = 11) -> dict:
    """{"n", "queries", "fill_s", "p50_ms", "p95_ms", "max_ms", "by_kind": {kind: p95_ms},
    "found"} for searches by each kind of key, in turn."""
    rng = random.Random(seed)
    with platform(durable=True) as p:
        p.deploy(SIMPLE_DATA, keep=("one_step.bpmn",))
        t0 = time.perf_counter()
        keys = populate(p, n)
        fill_s = time.perf_counter() - t0
        with_phone = [k for k in keys if k["phone"]]
        latencies: list[float] = []
        by_kind: dict[str, list[float]] = {kind: [] for kind in KINDS}
        found = 0
        for q in range(queries + len(KINDS)):
            kind = KINDS[q % len(KINDS)]
            key = rng.choice(with_phone if kind == "phone" else keys)[kind]
            t = time.perf_counter()
            with p.sessions() as session:
                result = search.search(session, CLERK, key)
            elapsed = (time.perf_counter() - t) * 1000
            if q >= len(KINDS):          # the first round warms the caches
                latencies.append(elapsed)
                by_kind[kind].append(elapsed)
                found += bool(result["items"])
        assert found == queries, f"{queries - found} searches found nothing"
    return {"n": n, "queries": queries, "fill_s": fill_s, "found": found,
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "max_ms": max(latencies),
            "by_kind": {kind: percentile(values, 95) for kind, values in by_kind.items()}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="requests")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args(argv)
    r = measure(args.n, args.queries)
    kinds = ", ".join(f"{kind} {ms:.2f}" for kind, ms in r["by_kind"].items())
    print(f"{r['n']:,} requests (filled in {r['fill_s']:.1f} s), {r['queries']} searches: "
          f"p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms, max {r['max_ms']:.2f} ms "
          f"(p95 by key: {kinds})")


if __name__ == "__main__":
    main()
