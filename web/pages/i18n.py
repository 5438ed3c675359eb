"""Languages of the pages: Simplified Chinese first, English second.

The locale comes from `?lang=` (remembered in a cookie), then the cookie, then the browser's
Accept-Language, then zh_CN. Catalogs live in web/translations: the .po files are the source
(in git), the .mo files are compiled from them at install time (`.ci/setup` runs
`pybabel compile -d web/translations`) and only read here, so starting the app writes nothing
into the checkout. Babel spells zh_CN with its script, so the Chinese catalog's folder is
zh_Hans_CN (the name Flask-Babel looks up). Also here: the names of departments, statuses and
event kinds, and the filters that format times, money and bilingual BPMN names.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from flask import request
from flask_babel import Babel, format_currency, format_datetime, get_locale
from flask_babel import lazy_gettext as _l

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
COOKIE = "lang"
COMPILE_COMMAND = "pybabel compile -d web/translations"
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")

babel = Babel()
log = logging.getLogger(__name__)


def init_app(app, timezone: str) -> None:
    for mo_path in missing_catalogs(TRANSLATIONS):
        log.warning("%s is missing: its pages show English until `%s` runs",
                    mo_path, COMPILE_COMMAND)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", timezone)
    babel.init_app(app, default_locale=DEFAULT_LOCALE, default_timezone=timezone,
                   default_translation_directories=str(TRANSLATIONS),
                   locale_selector=select_locale)
    app.jinja_env.filters.update(when=when, money=money, label=label, bpmn_name=bpmn_name,
                                 pretty=pretty)
    app.jinja_env.globals.update(LOCALES=LOCALES, lang=current, with_lang=with_lang)


def current() -> str:
    """The page's language as one of LOCALES."""
    return "zh_CN" if get_locale().language == "zh" else "en"


def select_locale() -> str:
    asked = request.args.get(COOKIE) or request.cookies.get(COOKIE)
    if asked in LOCALES:
        return asked
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
    if best is None:
        return DEFAULT_LOCALE
    return "en" if best == "en" else "zh_CN"


def with_lang(code: str) -> str:
    """The current page's URL with `?lang=code` (after a form post: the home page's)."""
    if request.method != "GET":
        return "/?" + urlencode({COOKIE: code})
    args = request.args.to_dict(flat=False)
    args[COOKIE] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


def remember_locale(response):
    """after_request: keep a `?lang=` choice in a cookie for a year."""
    if COOKIE not in request.args:      # a MultiDict's miss costs an exception: most requests
        return response
    asked = request.args[COOKIE]
    if asked in LOCALES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax")
    return response


def missing_catalogs(directory: Path = TRANSLATIONS) -> list[Path]:
    """The compiled catalogs (messages.mo) that are missing beside their messages.po.

    Only missing ones: an installed copy's file times say nothing about which file is newer.
    """
    return [po_path.with_suffix(".mo")
            for po_path in sorted(directory.glob("*/LC_MESSAGES/messages.po"))
            if not po_path.with_suffix(".mo").exists()]


# ------------------------------------------------------------------ filters

# ISO style in every language, with the offset of the zone it is shown in (2026-12-02 17:30
# +08:00): a date like "12/2/26, 1:00 PM" said neither the order nor the zone.
WHEN_PATTERNS = {"short": "yyyy-MM-dd HH:mm xxx", "medium": "yyyy-MM-dd HH:mm:ss xxx",
                 "date": "yyyy-MM-dd"}


def when(value, fmt: str = "short") -> str:
    """A UTC datetime (or ISO string) in the platform's time zone, ISO style with its offset."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_datetime(value, WHEN_PATTERNS.get(fmt, fmt))


def money(amount, currency: str = "CNY") -> str:
    """An amount in the user's language, from its Decimal (never a float: 0.1 + 0.2)."""
    if amount is None:
        return "–"
    return format_currency(Decimal(str(amount)), currency)


def pretty(value) -> str:
    """JSON for people: indented, Chinese left readable."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def bpmn_name(name: str | None) -> str:
    """The part of a bilingual BPMN name ("Approve refund 审批退款") for the user's language."""
    if not name:
        return ""
    match = _CJK.search(name)
    cut = name.rfind(" ", 0, match.start()) if match else -1
    if cut <= 0:
        return name
    english, chinese = name[:cut].strip(), name[cut:].strip()
    return chinese if current() == "zh_CN" else english


LABELS = {
    # departments
    "customer_service": _l("Customer service"), "cs_supervisor": _l("CS supervisors"),
    "management": _l("Management"), "finance": _l("Finance"), "logistics": _l("Logistics"),
    "warehouse": _l("Warehouse"), "repair": _l("Repair"), "qa": _l("Quality assurance"),
    "operations": _l("Operations"), "procurement": _l("Procurement"),
    # roles
    "staff": _l("Staff"), "supervisor": _l("Supervisor"), "process_owner": _l("Process owner"),
    "auditor": _l("Auditor"), "admin": _l("Administrator"),
    # SLA
    "on_time": _l("On time"), "at_risk": _l("At risk"), "breached": _l("Breached"),
    # instance and request status
    "running": _l("Running"), "waiting": _l("Waiting"), "completed": _l("Completed"),
    "suspended": _l("Suspended"), "error": _l("Error"), "cancelled": _l("Cancelled"),
    "open": _l("Open"), "in_progress": _l("In progress"), "resolved": _l("Resolved"),
    "closed": _l("Closed"), "on_hold": _l("On hold"),
    # request types and categories
    "return_refund": _l("Return / refund"), "exchange": _l("Exchange"),
    "complaint": _l("Complaint"), "fresh": _l("Fresh food"), "3c": _l("Electronics"),
    "apparel": _l("Apparel"), "appliance": _l("Appliances"), "other": _l("Other"),
    # audit event kinds
    "started": _l("Started"), "task_claimed": _l("Task claimed"),
    "task_released": _l("Task released"), "task_reassigned": _l("Task reassigned"),
    "task_completed": _l("Task completed"), "message_delivered": _l("Message received"),
    "timer_fired": _l("Timer fired"), "retried": _l("Retried"), "resumed": _l("Resumed"),
    "migrated": _l("Migrated"), "sla_at_risk": _l("SLA at risk"),
    "sla_breached": _l("SLA breached"), "comment_added": _l("Comment added"),
    "sla_escalated": _l("SLA escalated"),
    "sla_tier_raised": _l("SLA ran out: handed to a higher tier"),
    "attachment_added": _l("File added"), "incident": _l("Incident"),
    "incident_skipped": _l("Incident skipped"),
    "signal_received": _l("Signal received"),
}


def label(value) -> str:
    if value is None:
        return "–"
    return str(LABELS.get(value, value))
