"""Password hashes in werkzeug's format, written and checked with the standard library alone.

A stored hash reads `method$salt$hexdigest`, where the method is `scrypt:N:r:p` or
`pbkdf2:<hash>:<iterations>` and the salt is 16 letters or digits: the strings that
`werkzeug.security.generate_password_hash` writes. Hashes stored while the engine still used
werkzeug therefore keep verifying, and werkzeug accepts ours; the engine itself needs no web
library to log a user in.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import string

SALT_CHARS = string.ascii_letters + string.digits
SALT_LENGTH = 16
DEFAULT_METHOD = "scrypt"
SCRYPT_DEFAULTS = (2**15, 8, 1)            # N, r, p: werkzeug's defaults
PBKDF2_DEFAULTS = ("sha256", 1_000_000)    # hash, iterations: werkzeug's defaults


def hash_password(password: str, method: str = DEFAULT_METHOD) -> str:
    """A new salted hash of `password` as `method$salt$hexdigest`.

    `method` is "scrypt" or "scrypt:N:r:p", "pbkdf2", "pbkdf2:<hash>" or
    "pbkdf2:<hash>:<iterations>"; left-out parameters take werkzeug's defaults and are written
    out in the result. Raises ValueError for any other method.
    """
    salt = "".join(secrets.choice(SALT_CHARS) for _ in range(SALT_LENGTH))
    digest, full_method = _derive(method, salt, password)
    return f"{full_method}${salt}${digest}"


def check_password(stored: str, password: str) -> bool:
    """Whether `password` matches the `stored` hash; False also when `stored` is not a hash in
    this format (or names a method this module does not know)."""
    try:
        method, salt, digest = stored.split("$", 2)
        expected, _ = _derive(method, salt, password)
    except ValueError:
        return False
    return hmac.compare_digest(expected, digest)


def _derive(method: str, salt: str, password: str) -> tuple[str, str]:
    """The hex digest of `password` with `salt`, and the method with every parameter spelled."""
    name, *args = method.split(":")
    if name == "scrypt":
        if args and len(args) != 3:
            raise ValueError("scrypt takes 3 parameters: scrypt:N:r:p")
        n, r, p = map(int, args) if args else SCRYPT_DEFAULTS
        # hashlib's default memory limit (32 MiB) is just too small for N=2**15, r=8.
        digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p,
                                maxmem=132 * n * r * p)
        return digest.hex(), f"scrypt:{n}:{r}:{p}"
    if name == "pbkdf2":
        if len(args) > 2:
            raise ValueError("pbkdf2 takes at most 2 parameters: pbkdf2:<hash>:<iterations>")
        hash_name = args[0] if args else PBKDF2_DEFAULTS[0]
        iterations = int(args[1]) if len(args) == 2 else PBKDF2_DEFAULTS[1]
        digest = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt.encode(), iterations)
        return digest.hex(), f"pbkdf2:{hash_name}:{iterations}"
    raise ValueError(f"unknown password hash method '{name}'")
