"""engine/config.py: where the secret key comes from and which keys it refuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import config

GOOD = "k" * 16 + "-a-key-nobody-published"


def settings(**env) -> config.Settings:
    return config.from_env({"AFTERSALES_DATABASE_URL": "sqlite:////srv/as/db.sqlite", **env})


def test_the_key_file_lives_beside_a_sqlite_database_or_where_it_is_named():
    assert config.secret_key_path(settings()) == Path("/srv/as/secret_key")
    assert config.secret_key_path(settings(AFTERSALES_SECRET_KEY_FILE="/etc/as.key")) == \
        Path("/etc/as.key")
    postgres = settings(AFTERSALES_DATABASE_URL="postgresql://u@db/as")
    assert config.secret_key_path(postgres) == config.DEFAULT_DB_PATH.parent / "secret_key"


@pytest.mark.parametrize("key", ["dev-only-change-me", "DEV-ONLY-CHANGE-ME", "changeme",
                                 config.TEST_SECRET_KEY, "x" * 31])
def test_published_and_short_keys_are_refused(key):
    with pytest.raises(config.InsecureSecretKey, match="AFTERSALES_SECRET_KEY"):
        config.secret_key(settings(AFTERSALES_SECRET_KEY=key))
    assert config.secret_key(settings(AFTERSALES_SECRET_KEY=key), testing=True) == key


def test_the_environment_wins_over_the_file(tmp_path):
    (tmp_path / "secret_key").write_text("f" * 40 + "\n")
    from_file = settings(AFTERSALES_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite")
    assert config.secret_key(from_file) == "f" * 40
    assert config.secret_key(from_file.with_(secret_key=GOOD)) == GOOD


def test_ensure_replaces_a_published_key_in_the_file(tmp_path):
    s = settings(AFTERSALES_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite")
    (tmp_path / "secret_key").write_text("dev-only-change-me\n")
    assert config.ensure_secret_key(s) == tmp_path / "secret_key"
    assert len(config.secret_key(s)) >= config.MIN_SECRET_KEY
    assert config.ensure_secret_key(s) is None


@pytest.mark.parametrize("value, expected", [("1", True), ("yes", True), ("0", False),
                                             ("auto", None)])
def test_secure_cookies_setting(value, expected):
    assert settings(AFTERSALES_SECURE_COOKIES=value).secure_cookies is expected
    assert settings(AFTERSALES_TRUSTED_PROXIES="2").trusted_proxies == 2


def test_a_misspelt_secure_cookies_setting_is_refused():
    with pytest.raises(ValueError, match="AFTERSALES_SECURE_COOKIES"):
        settings(AFTERSALES_SECURE_COOKIES="sometimes")
