"""Settings of the platform, read from the environment in this one place, and the secret key.

The engine receives a `Settings` value; nothing else reads os.environ. The secret key that signs
the pages' session cookies comes from AFTERSALES_SECRET_KEY or from the key file that
`aftersales init` writes beside the database (`secret_key_path`); `secret_key` refuses a missing
key and the keys that were ever published, so a server never runs with a key others know.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.engine import make_url

from engine import business_time, integrations

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_PATH = ROOT / "instance" / "aftersales.sqlite"

DEPARTMENTS = ("customer_service", "cs_supervisor", "management", "finance",
               "logistics", "warehouse", "repair", "qa", "operations", "procurement")

# Which departments a supervisor of a department also oversees.
SUPERVISES = {
    "cs_supervisor": ("customer_service", "cs_supervisor"),
    "management": DEPARTMENTS,
}


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    bpmn_dir: Path = ROOT / "bpmn"
    secret_key: str | None = None              # None: read from the key file
    secret_key_file: Path | None = None        # None: `secret_key` beside the SQLite database
    attachments_dir: Path | None = None        # None: attachments are stored in the database
    max_attachment_bytes: int = 5 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024    # BPMN/DMN uploads
    max_request_bytes: int = 1 * 1024 * 1024   # JSON bodies
    script_time_limit: float = 1.0             # seconds per script or expression
    script_workers: int = 2                    # script worker processes per server process
    script_memory_mb: int = 512                # address space of each script worker
    outbox_max_attempts: int = 5
    outbox_batch: int = 100                    # due outbox rows claimed at a time
    outbox_concurrency: int = 16               # provider calls in flight per dispatcher
    outbox_timeout: float = 10.0               # seconds per step of one provider call
    adapters: dict = field(default_factory=dict)   # operation -> builtin/http/off (integrations)
    http_urls: dict = field(default_factory=dict)  # family (courier, shipping...) -> provider URL
    message_buffer_ttl: str = "PT0S"           # early messages kept without x-buffer-ttl: none
    payment_adapter: str = "ledger"            # "ledger" (built-in) or "http"
    payment_http_url: str | None = None
    orders_http_url: str | None = None         # the shop's order API, asked for unknown orders
    return_address: str | None = None          # where customers send goods back (customer app)
    orders_http_timeout: float = 5.0           # seconds
    outgoing_secret: str | None = None         # signs calls to providers; None: the key file's
    smtp_host: str | None = None               # customer emails and staff digests (notifications)
    smtp_port: int = 587
    smtp_security: str = "starttls"            # starttls, ssl or none
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "aftersales@localhost"
    smtp_cafile: Path | None = None            # a private CA the SMTP server's certificate is from
    sms_http_url: str | None = None            # an SMS gateway: POST JSON, signed
    wechat_http_url: str | None = None         # WeChat-style template messages: POST JSON, signed
    notify_timeout: float = 10.0               # seconds per SMTP or gateway call
    timezone: str = "Asia/Shanghai"
    work_start_hour: int = 9
    work_end_hour: int = 18
    holidays: tuple[str, ...] = field(default_factory=tuple)   # ISO dates
    extra_workdays: tuple[str, ...] = field(default_factory=tuple)  # make-up workdays (调休)
    calendar_file: Path | None = None          # more holidays and workdays (business_time)
    at_risk_fraction: float = 0.8              # a task is "at risk" after 80% of its SLA
    surge_window_minutes: int = 60
    surge_multiple: float = 3.0
    surge_min_count: int = 5
    # The quality watch (engine/jobs/procurement.py): a SKU whose problem rate over the last
    # quality_window_days reaches quality_rate_percent, with quality_min_problems problems at
    # least, gets one supplier-quality review for procurement per window.
    quality_rate_percent: int = 5
    quality_window_days: int = 30
    quality_min_problems: int = 3
    retention_days: int = 365
    archive_dir: Path = ROOT / "instance" / "archive"
    # The global audit log's signed checkpoints (engine/history/checkpoints.py): the folder they
    # are appended to, outside the database (None: `audit/` beside the secret key file), the
    # Ed25519 private key file (None: `audit_signing_key` beside the secret key file), a witness
    # that receives each one by POST, and how often the scheduler signs one.
    audit_dir: Path | None = None
    audit_key_file: Path | None = None
    audit_witness_url: str | None = None
    audit_checkpoint_seconds: int = 60
    token_ttl_hours: int = 12
    session_ttl_hours: int = 12                # a page sign-in lasts a working day
    secure_cookies: bool | None = None         # None: Secure when the request came over HTTPS
    trusted_proxies: int = 0                   # proxies whose X-Forwarded-For/-Proto count
    login_account_failures: int = 5            # failed logins of one account before a lockout
    login_address_failures: int = 20           # failed logins from one address before a lockout
    login_window_minutes: int = 15             # failures older than this are forgotten
    login_lockout_minutes: int = 15

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
    if env.get("AFTERSALES_SECRET_KEY_FILE"):
        changes["secret_key_file"] = Path(env["AFTERSALES_SECRET_KEY_FILE"])
    if env.get("AFTERSALES_SECURE_COOKIES"):
        changes["secure_cookies"] = _flag(env["AFTERSALES_SECURE_COOKIES"],
                                          "AFTERSALES_SECURE_COOKIES")
    if env.get("AFTERSALES_TRUSTED_PROXIES"):
        changes["trusted_proxies"] = int(env["AFTERSALES_TRUSTED_PROXIES"])
    if env.get("AFTERSALES_ATTACHMENTS_DIR"):
        changes["attachments_dir"] = Path(env["AFTERSALES_ATTACHMENTS_DIR"])
    if env.get("AFTERSALES_PAYMENT_HTTP_URL"):
        changes["payment_adapter"] = "http"
        changes["payment_http_url"] = env["AFTERSALES_PAYMENT_HTTP_URL"]
    if env.get("AFTERSALES_ADAPTERS"):
        changes["adapters"] = integrations.parse_adapters(env["AFTERSALES_ADAPTERS"])
    if env.get("AFTERSALES_HTTP_URLS"):
        changes["http_urls"] = _pairs(env["AFTERSALES_HTTP_URLS"], "AFTERSALES_HTTP_URLS")
    if env.get("AFTERSALES_MESSAGE_BUFFER_TTL"):
        changes["message_buffer_ttl"] = _duration(env["AFTERSALES_MESSAGE_BUFFER_TTL"],
                                                  "AFTERSALES_MESSAGE_BUFFER_TTL")
    if env.get("AFTERSALES_ORDERS_HTTP_URL"):
        changes["orders_http_url"] = env["AFTERSALES_ORDERS_HTTP_URL"]
    if env.get("AFTERSALES_RETURN_ADDRESS"):
        changes["return_address"] = env["AFTERSALES_RETURN_ADDRESS"].strip()[:300]
    if env.get("AFTERSALES_HOLIDAYS"):
        changes["holidays"] = tuple(d.strip() for d in env["AFTERSALES_HOLIDAYS"].split(",") if d.strip())
    if env.get("AFTERSALES_EXTRA_WORKDAYS"):
        changes["extra_workdays"] = tuple(d.strip() for d in env["AFTERSALES_EXTRA_WORKDAYS"]
                                          .split(",") if d.strip())
    if env.get("AFTERSALES_CALENDAR_FILE"):
        changes["calendar_file"] = Path(env["AFTERSALES_CALENDAR_FILE"])
    if env.get("AFTERSALES_SCRIPT_WORKERS"):
        changes["script_workers"] = _bounded(env["AFTERSALES_SCRIPT_WORKERS"],
                                             "AFTERSALES_SCRIPT_WORKERS", 1, 64)
    if env.get("AFTERSALES_SCRIPT_MEMORY_MB"):
        changes["script_memory_mb"] = _bounded(env["AFTERSALES_SCRIPT_MEMORY_MB"],
                                               "AFTERSALES_SCRIPT_MEMORY_MB", 128, 65536)
    for name, low, high in OUTBOX_BOUNDS + QUALITY_BOUNDS:
        if env.get(f"AFTERSALES_{name.upper()}"):
            changes[name] = _bounded(env[f"AFTERSALES_{name.upper()}"],
                                     f"AFTERSALES_{name.upper()}", low, high)
    if env.get("AFTERSALES_ARCHIVE_DIR"):
        changes["archive_dir"] = Path(env["AFTERSALES_ARCHIVE_DIR"])
    if env.get("AFTERSALES_AUDIT_DIR"):
        changes["audit_dir"] = Path(env["AFTERSALES_AUDIT_DIR"])
    if env.get("AFTERSALES_AUDIT_KEY_FILE"):
        changes["audit_key_file"] = Path(env["AFTERSALES_AUDIT_KEY_FILE"])
    if env.get("AFTERSALES_AUDIT_WITNESS_URL"):
        changes["audit_witness_url"] = env["AFTERSALES_AUDIT_WITNESS_URL"]
    if env.get("AFTERSALES_AUDIT_CHECKPOINT_SECONDS"):
        changes["audit_checkpoint_seconds"] = _bounded(
            env["AFTERSALES_AUDIT_CHECKPOINT_SECONDS"], "AFTERSALES_AUDIT_CHECKPOINT_SECONDS",
            5, 86400)
    if env.get("AFTERSALES_RETENTION_DAYS"):
        changes["retention_days"] = int(env["AFTERSALES_RETENTION_DAYS"])
    if env.get("AFTERSALES_TIMEZONE"):
        changes["timezone"] = env["AFTERSALES_TIMEZONE"]
    changes.update(_notification_settings(env))
    return replace(s, **changes)


def _notification_settings(env) -> dict:
    """The SMTP server, the SMS and WeChat gateways and the outgoing secret from
    AFTERSALES_SMTP_HOST, _SMTP_PORT, _SMTP_SECURITY, _SMTP_USER, _SMTP_PASSWORD, _SMTP_FROM,
    _SMTP_CAFILE, _SMS_HTTP_URL, _WECHAT_HTTP_URL and _OUTGOING_SECRET."""
    changes: dict = {}
    for name in ("smtp_host", "smtp_user", "smtp_password", "smtp_from", "sms_http_url",
                 "wechat_http_url", "outgoing_secret"):
        if env.get(f"AFTERSALES_{name.upper()}"):
            changes[name] = env[f"AFTERSALES_{name.upper()}"]
    if env.get("AFTERSALES_SMTP_CAFILE"):
        changes["smtp_cafile"] = Path(env["AFTERSALES_SMTP_CAFILE"])
    if env.get("AFTERSALES_SMTP_PORT"):
        changes["smtp_port"] = _bounded(env["AFTERSALES_SMTP_PORT"], "AFTERSALES_SMTP_PORT",
                                        1, 65535)
    if env.get("AFTERSALES_SMTP_SECURITY"):
        security = env["AFTERSALES_SMTP_SECURITY"].strip().lower()
        if security not in SMTP_SECURITY:
            raise ValueError("AFTERSALES_SMTP_SECURITY must be one of "
                             f"{', '.join(SMTP_SECURITY)}, not {security!r}")
        changes["smtp_security"] = security
    return changes


SMTP_SECURITY = ("starttls", "ssl", "none")
# The outbox dispatcher's AFTERSALES_OUTBOX_BATCH, _CONCURRENCY and _TIMEOUT (whole seconds):
# bounded, so that a typo cannot open thousands of connections or hold a lease for hours.
OUTBOX_BOUNDS = (("outbox_batch", 1, 1000), ("outbox_concurrency", 1, 128),
                 ("outbox_timeout", 1, 300))
# AFTERSALES_QUALITY_RATE_PERCENT, _QUALITY_WINDOW_DAYS and _QUALITY_MIN_PROBLEMS.
QUALITY_BOUNDS = (("quality_rate_percent", 1, 100), ("quality_window_days", 1, 366),
                  ("quality_min_problems", 1, 10000))


def _bounded(value: str, name: str, low: int, high: int) -> int:
    """A whole number setting within [low, high]."""
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return number


def _duration(value: str, name: str) -> str:
    """An ISO-8601 duration setting such as 'P3D' or 'PT0S'; raises ValueError naming it."""
    try:
        business_time.parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    return value.strip().upper()


def _pairs(value: str, name: str) -> dict[str, str]:
    """"key=value,key=value" as a dict; raises ValueError naming the setting."""
    out = {}
    for part in (p.strip() for p in value.split(",") if p.strip()):
        key, sep, item = (s.strip() for s in part.partition("="))
        if not sep or not key or not item:
            raise ValueError(f"{name} must be key=value pairs separated by commas, not {part!r}")
        out[key] = item
    return out


def _flag(value: str, name: str) -> bool | None:
    """A yes/no setting: 1/true/yes, 0/false/no, or auto (None)."""
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    if word == "auto":
        return None
    raise ValueError(f"{name} must be 1, 0 or auto, not {value!r}")


# ------------------------------------------------------------------ the secret key

SECRET_KEY_FILE = "secret_key"
MIN_SECRET_KEY = 32
# Keys that are, or were, written in public (this repository's old default among them) or that
# a guesser tries first: a server signing cookies with one of them can be signed into by anyone.
KNOWN_SECRET_KEYS = frozenset({
    "dev-only-change-me", "change-me", "changeme", "change-this", "secret", "secret-key",
    "dev", "development", "test", "testing", "default", "aftersales", "please-change-me"})
# What the TESTING config signs with when no key is set; known, so it is refused elsewhere.
TEST_SECRET_KEY = "test-only-secret-key-known-to-everyone-000"
KNOWN_SECRET_KEYS |= {TEST_SECRET_KEY}


class InsecureSecretKey(Exception):
    """The secret key is missing, too short or known; the message says how to set one."""


def secret_key_path(settings: Settings) -> Path:
    """Where the key file is: AFTERSALES_SECRET_KEY_FILE, else `secret_key` in the folder of a
    SQLite database file, else instance/secret_key (PostgreSQL has no folder of its own)."""
    if settings.secret_key_file is not None:
        return settings.secret_key_file
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database).parent / SECRET_KEY_FILE
    return DEFAULT_DB_PATH.parent / SECRET_KEY_FILE


def secret_key(settings: Settings, *, testing: bool = False) -> str:
    """The key that signs session cookies: AFTERSALES_SECRET_KEY, else the key file's.

    Raises InsecureSecretKey when there is none or it is shorter than MIN_SECRET_KEY or known,
    unless `testing` (then a missing or known key is the test key or kept as it is).
    """
    key = settings.secret_key
    if key is None:
        path = secret_key_path(settings)
        key = path.read_text(encoding="utf-8").strip() if path.is_file() else None
    problem = _weakness(key)
    if problem is None:
        return key
    if testing:
        return key or TEST_SECRET_KEY
    raise InsecureSecretKey(
        f"refusing to start: {problem}. Run `aftersales init` to write a new random key to "
        f"{secret_key_path(settings)} (mode 0600), or set AFTERSALES_SECRET_KEY to a random "
        f"string of at least {MIN_SECRET_KEY} characters (e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`); every process of one "
        "installation needs the same key")


def _weakness(key: str | None) -> str | None:
    if not key:
        return "no secret key is set"
    if key in KNOWN_SECRET_KEYS or key.lower() in KNOWN_SECRET_KEYS:
        return "the secret key is a published one that anybody can sign cookies with"
    if len(key) < MIN_SECRET_KEY:
        return f"the secret key is shorter than {MIN_SECRET_KEY} characters"
    return None


def ensure_secret_key(settings: Settings) -> Path | None:
    """Write a new random key file (mode 0600) unless AFTERSALES_SECRET_KEY is set or the file
    exists; returns the path written, or None. A known or short key in the file is replaced."""
    if settings.secret_key is not None:
        return None
    path = secret_key_path(settings)
    if path.is_file() and _weakness(path.read_text(encoding="utf-8").strip()) is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    # Created 0600 from the start (no moment when others may read it), then moved into place.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(48) + "\n")
    os.replace(temporary, path)
    return path


# ------------------------------------------------------------------ the outgoing secret

OUTGOING_SECRET_FILE = "outgoing_secret"


def outgoing_secret(settings: Settings) -> str | None:
    """The secret the platform signs its calls to providers with (engine/signatures.py):
    AFTERSALES_OUTGOING_SECRET, else the `outgoing_secret` file beside the secret key file
    (`aftersales init` writes it); None when neither is there."""
    if settings.outgoing_secret:
        return settings.outgoing_secret
    path = secret_key_path(settings).with_name(OUTGOING_SECRET_FILE)
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    return text or None


def ensure_outgoing_secret(settings: Settings) -> Path | None:
    """Write a new random outgoing secret file (mode 0600) unless one is set or written;
    returns the path written, or None. Give its content to each provider that checks it."""
    if outgoing_secret(settings) is not None:
        return None
    path = secret_key_path(settings).with_name(OUTGOING_SECRET_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    return path


# ------------------------------------------------------------------ the audit signing key

AUDIT_KEY_FILE = "audit_signing_key"


def audit_folder(settings: Settings) -> Path:
    """The checkpoint folder: AFTERSALES_AUDIT_DIR, else `audit/` beside the secret key file."""
    if settings.audit_dir is not None:
        return settings.audit_dir
    return secret_key_path(settings).with_name("audit")


def audit_key_path(settings: Settings) -> Path:
    """Where the Ed25519 key that signs audit checkpoints is: AFTERSALES_AUDIT_KEY_FILE, else
    `audit_signing_key` beside the secret key file. Never in the database."""
    if settings.audit_key_file is not None:
        return settings.audit_key_file
    return secret_key_path(settings).with_name(AUDIT_KEY_FILE)
