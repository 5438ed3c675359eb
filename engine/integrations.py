"""The contract of each external operation, and which adapter carries it out.

A service task asks for an operation (engine/runtime/services.py); the outbox (engine/jobs/
outbox.py) hands it to the operation's adapter after commit. Each operation has one contract:
what is sent (the task's parameters, the request number and the idempotency key), and how its
result comes back — in the adapter's answer (synchronous) or later as a callback message from the
other side (asynchronous: the call is accepted, the result arrives through POST /api/messages).
Either way the result is the same message (`result`), with one message id per call
(`result_id`), so the instance hears it once whichever side answers first, and a result that
already arrived makes the outbox row done without calling anyone.

Per operation the adapter is chosen by setting (`Settings.adapters`, AFTERSALES_ADAPTERS):
`builtin` (the demo's, in process), `http` (a real provider at the operation's URL), or `off`
(nothing is called: another system acts on its own and calls back with the result).
"""
from __future__ import annotations

from dataclasses import dataclass

from engine.errors import InvalidInput

ADAPTER_KINDS = ("builtin", "http", "off")


@dataclass(frozen=True)
class Contract:
    """What an operation sends and which message carries its result (None: no result)."""

    operation: str
    result: str | None
    description: str


CONTRACTS = {c.operation: c for c in (
    Contract("payment.refund", "refund_result",
             "refund the approved amount of the request's items: {amount}"),
    Contract("payment.clawback", "clawback_result",
             "claw back an amount refunded for goods that did not come back: {amount}"),
    Contract("courier.book_pickup", "pickup_booked",
             "book a pickup slot at the customer's address: {address}; the result names the "
             "slot {slot_start, slot_end} and the booking"),
    Contract("shipping.ship", None, "ship the repaired or replacement item back: {address}"),
    Contract("notify.customer", None, "tell the customer of a milestone: {template}"),
    Contract("notify.staff", None, "tell a department of new, at-risk or breached work: "
                                   "{template, department}"),
)}
RESULT_MESSAGES = {c.result: c for c in CONTRACTS.values() if c.result}


def contract(operation: str) -> Contract | None:
    return CONTRACTS.get(operation)


def result_id(operation: str, idempotency_key: str) -> str:
    """The message id of the result of call `idempotency_key`, the same on every path (the
    adapter's answer, the other side's callback). Payments keep their own (engine.payments)."""
    if operation.startswith("payment."):
        return f"payment:{idempotency_key}"
    return f"result:{idempotency_key}"


def callback_id(name: str, payload: dict, message_id: str | None) -> str | None:
    """The message id a callback is deduplicated by: its own, else, for the result of a
    contract that names its call (`payload.idempotency_key`), that call's result id."""
    if message_id is not None:
        return message_id
    found = RESULT_MESSAGES.get(name)
    key = payload.get("idempotency_key") if isinstance(payload, dict) else None
    if found is None or not isinstance(key, str) or not key:
        return None
    return result_id(found.operation, key)


def parse_adapters(text: str) -> dict[str, str]:
    """`AFTERSALES_ADAPTERS`: "operation=kind,..." (e.g. "courier.book_pickup=off,
    payment.refund=http"); a family names all its operations ("payment=http"). Raises
    ValueError naming the bad part."""
    chosen: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, kind = (s.strip() for s in part.partition("="))
        operations = [op for op in CONTRACTS if op == name or op.split(".")[0] == name]
        if not operations:
            raise ValueError(f"AFTERSALES_ADAPTERS: unknown operation {name!r} (known: "
                             f"{', '.join(CONTRACTS)})")
        if kind not in ADAPTER_KINDS:
            raise ValueError(f"AFTERSALES_ADAPTERS: {name} must be one of "
                             f"{', '.join(ADAPTER_KINDS)}, not {kind!r}")
        chosen.update(dict.fromkeys(operations, kind))
    return chosen


def adapter_kind(settings, operation: str) -> str:
    """builtin, http or off for `operation` under `settings`."""
    chosen = dict(getattr(settings, "adapters", ()) or ())
    if operation in chosen:
        return chosen[operation]
    if operation.startswith("payment.") and getattr(settings, "payment_adapter", None) == "http":
        return "http"
    return "builtin"


def http_url(settings, operation: str) -> str:
    """The URL the http adapter of `operation` posts to. Raises InvalidInput when none is set."""
    family = operation.split(".")[0]
    url = (dict(getattr(settings, "http_urls", ()) or ()).get(family)
           or (settings.payment_http_url if family == "payment" else None))
    if not url:
        raise InvalidInput(f"{operation} is set to the http adapter but no URL is configured "
                           f"(AFTERSALES_HTTP_URLS={family}=https://...)", field=operation)
    return url
