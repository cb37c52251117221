"""Tracking numbers, lookup codes, vote tokens, staff passwords and sessions.

Secrets given to a resident are never stored: only an HMAC with the server's
key is, and checks compare in constant time. A lookup code and a vote token
made for a request with an Idempotency-Key are *derived* from that key, so a
retried request can hand the same codes back without the server ever keeping
them in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TRACKING_DIGITS = 12  # random, not sequential: ~40 bits, useless without the lookup code
LOOKUP_CODE_DIGITS = 8
VOTE_TOKEN_BYTES = 16  # 128 bits
SESSION_SECONDS = 12 * 3600


def new_tracking() -> str:
    first = secrets.choice("123456789")  # no leading zero: spreadsheets keep the number whole
    return first + "".join(secrets.choice("0123456789") for _ in range(TRACKING_DIGITS - 1))


def normalise_tracking(text: str) -> str:
    """Residents type '2611 4827 3391' or '2611-4827-3391'; keep the digits."""
    return "".join(ch for ch in text if ch.isdigit() and ch.isascii())


def format_tracking(tracking: str) -> str:
    return "-".join(tracking[i : i + 4] for i in range(0, len(tracking), 4))


@dataclass(frozen=True)
class Keys:
    """The server's secret, and everything derived from it."""

    secret: bytes

    def digest(self, purpose: str, value: str) -> str:
        return hmac.new(self.secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def matches(self, purpose: str, value: str, stored: str) -> bool:
        return hmac.compare_digest(self.digest(purpose, value), stored)

    def public_id(self, tracking: str) -> str:
        """The id on the public site: an HMAC, so it cannot be turned back into the tracking."""
        raw = hmac.new(self.secret, b"public\x00" + tracking.encode(), hashlib.sha256).digest()
        return base64.b32encode(raw).decode().lower()[:12]

    def resident_codes(self, idempotency_key: str | None) -> tuple[str, str]:
        """(lookup code, vote token) for a new case: random, or derived from the request key."""
        if idempotency_key is None:
            code = "".join(secrets.choice("0123456789") for _ in range(LOOKUP_CODE_DIGITS))
            return code, secrets.token_urlsafe(VOTE_TOKEN_BYTES)
        seed = hmac.new(self.secret, b"codes\x00" + idempotency_key.encode(), hashlib.sha256)
        raw = seed.digest()
        code = str(int.from_bytes(raw[:8], "big") % 10**LOOKUP_CODE_DIGITS).zfill(
            LOOKUP_CODE_DIGITS
        )
        token = base64.urlsafe_b64encode(raw[8 : 8 + VOTE_TOKEN_BYTES]).decode().rstrip("=")
        return code, token

    # Staff sessions: a signed, expiring bearer token; the staff record is re-read per request
    # so a disabled account stops working at once.
    def sign_session(self, username: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + SESSION_SECONDS)
        body = base64.urlsafe_b64encode(json.dumps([username, expires]).encode()).decode()
        return f"{body}.{self.digest('session', body)}"

    def open_session(self, token: str, now: float | None = None) -> str | None:
        body, _, signature = token.partition(".")
        if not body or not self.matches("session", body, signature):
            return None
        try:
            username, expires = json.loads(base64.urlsafe_b64decode(body.encode()))
        except (ValueError, TypeError):
            return None
        if (now if now is not None else time.time()) > expires:
            return None
        return str(username)


# Staff passwords: Argon2id (RFC 9106) with OWASP's minimum, m=19 MiB, t=2, p=1: one
# verification takes about 20 ms, so a login stays quick while an offline guess stays dear.
# The parameters travel inside each hash ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"), so
# raising them later leaves stored hashes valid; a login with the right password rehashes.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PARALLELISM = 1
# Hashes written before Argon2: scrypt with a per-password salt, "scrypt$<salt>$<hash>".
_LEGACY_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


@cache
def _hasher() -> PasswordHasher:
    # argon2 is imported on first use, not with this module: the API that answers
    # residents never signs anyone in and keeps its cold start light.
    import argon2

    return argon2.PasswordHasher(
        time_cost=ARGON2_TIME_COST,
        memory_cost=ARGON2_MEMORY_KIB,
        parallelism=ARGON2_PARALLELISM,
        type=argon2.Type.ID,
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (an Argon2 hash, or a legacy scrypt one)."""
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True for a hash made with other parameters (or another scheme) than today's."""
    if not stored.startswith("$argon2id$"):
        return True
    from argon2.exceptions import InvalidHashError

    try:
        return _hasher().check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, salt_hex, hash_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    derived = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_LEGACY_SCRYPT)
    return hmac.compare_digest(derived.hex(), hash_hex)
