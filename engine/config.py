"""Settings of the platform, read from the environment in this one place.

The engine receives a `Settings` value; nothing else reads os.environ.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = ROOT / "instance" / "aftersales.sqlite"

DEPARTMENTS = ("customer_service", "cs_supervisor", "management", "finance",
               "logistics", "warehouse", "repair", "qa", "operations")

# Which departments a supervisor of a department also oversees.
SUPERVISES = {
    "cs_supervisor": ("customer_service", "cs_supervisor"),
    "management": DEPARTMENTS,
}


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    bpmn_dir: Path = ROOT / "bpmn"
    secret_key: str = "dev-only-change-me"
    attachments_dir: Path | None = None        # None: attachments are stored in the database
    max_attachment_bytes: int = 5 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024    # BPMN/DMN uploads
    max_request_bytes: int = 1 * 1024 * 1024   # JSON bodies
    script_time_limit: float = 1.0             # seconds per script or expression
    outbox_max_attempts: int = 5
    payment_adapter: str = "ledger"            # "ledger" (built-in) or "http"
    payment_http_url: str | None = None
    orders_http_url: str | None = None         # the shop's order API, asked for unknown orders
    orders_http_timeout: float = 5.0           # seconds
    timezone: str = "Asia/Shanghai"
    work_start_hour: int = 9
    work_end_hour: int = 18
    holidays: tuple[str, ...] = field(default_factory=tuple)   # ISO dates
    at_risk_fraction: float = 0.8              # a task is "at risk" after 80% of its SLA
    surge_window_minutes: int = 60
    surge_multiple: float = 3.0
    surge_min_count: int = 5
    retention_days: int = 365
    archive_dir: Path = ROOT / "instance" / "archive"
    token_ttl_hours: int = 12

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def from_env(environ=None) -> Settings:
    """Settings from AFTERSALES_* environment variables; anything unset keeps its default."""
    env = os.environ if environ is None else environ
    s = Settings()
    changes: dict = {}
    if env.get("AFTERSALES_DATABASE_URL"):
        changes["database_url"] = env["AFTERSALES_DATABASE_URL"]
    if env.get("AFTERSALES_BPMN_DIR"):
        changes["bpmn_dir"] = Path(env["AFTERSALES_BPMN_DIR"])
    if env.get("AFTERSALES_SECRET_KEY"):
        changes["secret_key"] = env["AFTERSALES_SECRET_KEY"]
    if env.get("AFTERSALES_ATTACHMENTS_DIR"):
        changes["attachments_dir"] = Path(env["AFTERSALES_ATTACHMENTS_DIR"])
    if env.get("AFTERSALES_PAYMENT_HTTP_URL"):
        changes["payment_adapter"] = "http"
        changes["payment_http_url"] = env["AFTERSALES_PAYMENT_HTTP_URL"]
    if env.get("AFTERSALES_ORDERS_HTTP_URL"):
        changes["orders_http_url"] = env["AFTERSALES_ORDERS_HTTP_URL"]
    if env.get("AFTERSALES_HOLIDAYS"):
        changes["holidays"] = tuple(d.strip() for d in env["AFTERSALES_HOLIDAYS"].split(",") if d.strip())
    if env.get("AFTERSALES_ARCHIVE_DIR"):
        changes["archive_dir"] = Path(env["AFTERSALES_ARCHIVE_DIR"])
    if env.get("AFTERSALES_RETENTION_DAYS"):
        changes["retention_days"] = int(env["AFTERSALES_RETENTION_DAYS"])
    if env.get("AFTERSALES_TIMEZONE"):
        changes["timezone"] = env["AFTERSALES_TIMEZONE"]
    return replace(s, **changes)
