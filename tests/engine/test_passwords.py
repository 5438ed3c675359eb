"""engine/passwords.py: hashes in werkzeug's format, checked both ways against werkzeug itself."""
from __future__ import annotations

import pytest
from werkzeug.security import SALT_CHARS, check_password_hash, generate_password_hash

from engine import passwords

PASSWORD = "s3cret-pass 密码"
# (what the caller asks for, the method written into the hash); pbkdf2's default 1,000,000
# iterations is werkzeug's too, but too slow to spend in every test run.
METHODS = [("scrypt", "scrypt:32768:8:1"), ("scrypt:1024:8:1", "scrypt:1024:8:1"),
           ("pbkdf2:sha256:1000", "pbkdf2:sha256:1000"),
           ("pbkdf2:sha512:2000", "pbkdf2:sha512:2000")]


@pytest.mark.parametrize("method, written", METHODS)
def test_werkzeug_accepts_our_hashes(method, written):
    stored = passwords.hash_password(PASSWORD, method)
    spelled, salt, digest = stored.split("$")
    assert spelled == written
    assert len(salt) == 16 and set(salt) <= set(SALT_CHARS)
    assert PASSWORD not in stored
    assert check_password_hash(stored, PASSWORD)
    assert not check_password_hash(stored, PASSWORD + "x")


@pytest.mark.parametrize("method", [m for m, _ in METHODS])
def test_we_accept_werkzeugs_hashes(method):
    stored = generate_password_hash(PASSWORD, method=method)
    assert passwords.check_password(stored, PASSWORD)
    assert not passwords.check_password(stored, PASSWORD + "x")
    assert not passwords.check_password(stored, "")


def test_same_password_gets_a_new_salt_each_time():
    first, second = (passwords.hash_password(PASSWORD, "pbkdf2:sha256:1000") for _ in range(2))
    assert first != second
    assert passwords.check_password(first, PASSWORD) and passwords.check_password(second, PASSWORD)


def test_bare_pbkdf2_takes_werkzeugs_defaults():
    theirs = generate_password_hash(PASSWORD, method="pbkdf2")
    ours = passwords.hash_password(PASSWORD, "pbkdf2")
    assert ours.split("$")[0] == theirs.split("$")[0] == "pbkdf2:sha256:1000000"
    assert passwords.check_password(theirs, PASSWORD)


@pytest.mark.parametrize("stored", ["", "no-dollars", "plain$salt", "md5$salt$abcdef",
                                    "scrypt:1:2$salt$abcdef", "pbkdf2:nohash:10$salt$abcdef",
                                    "pbkdf2:sha256:many$salt$abcdef"])
def test_a_malformed_stored_hash_matches_nothing(stored):
    assert passwords.check_password(stored, PASSWORD) is False


def test_an_unknown_method_is_refused_when_hashing():
    with pytest.raises(ValueError, match="unknown password hash method 'md5'"):
        passwords.hash_password(PASSWORD, "md5")
